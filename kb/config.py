"""Settings, read from the environment with the ``KB_`` prefix (or passed to ``create_app``)."""

import os
import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kb.encoder_files import default_model_dir


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KB_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///kb.sqlite3",
        description="SQLAlchemy URL: the embedded SQLite file by default, or postgresql+psycopg://...",
    )
    data_dir: Path | None = Field(
        default=None,
        description="Glossary files to load on start when the database is empty or out of date.",
    )
    cache_ttl: float = Field(
        default=1.0,
        ge=0,
        description="Seconds a cached response is served before the data version is re-checked.",
    )
    cache_size: int = Field(
        default=10_000, ge=0, description="Most responses kept in the in-process read cache."
    )
    demo_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="Wall-clock limit of one demo run; its worker process is killed after it.",
    )
    demo_concurrency: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="Most demo runs at once per API process (default: the CPU count).",
    )
    demo_cache_size: int = Field(
        default=128, ge=0, description="Most recent demo results (and plots) kept in memory."
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="The site's public root URL (https://glossary.example.org) for the canonical "
        "links, sitemap and JSON-LD of the web pages; unset: the URL each request came to.",
    )
    demo_memory_mb: int = Field(
        default=1024,
        ge=64,
        description="Heap a demo worker may allocate beyond what it starts with, in MiB.",
    )

    model_dir: Path = Field(
        default_factory=default_model_dir,
        description="The sentence encoder's files (`kb model fetch` puts them there); without"
        " them semantic search is off.",
    )

    api_keys: dict[str, str] = Field(
        default_factory=dict,
        description="JSON object: API key name -> SHA-256 hex digest of the key (`kb keys new`)."
        " Writes need one of these keys; without any, the API is read-only.",
    )

    @field_validator("api_keys")
    @classmethod
    def _digests(cls, keys: dict[str, str]) -> dict[str, str]:
        for name, digest in keys.items():
            if not name.strip() or len(name) > 80:
                raise ValueError(f"key name {name!r} must be 1 to 80 characters")
            if re.fullmatch(r"[0-9a-f]{64}", digest) is None:
                raise ValueError(
                    f"the entry for {name!r} must be the key's SHA-256 digest in lowercase hex"
                    " (64 characters), not the key itself: `kb keys new` prints it"
                )
        return keys


@lru_cache
def get_settings() -> Settings:
    return Settings()
