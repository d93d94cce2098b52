"""Settings, read from the environment with the ``KB_`` prefix (or passed to ``create_app``)."""

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kb.encoder_files import default_model_dir
from kb.outage import Limits


def _time_limit(default: float, least: float, description: str) -> Any:
    """A database time limit's field: seconds, from ``least`` to ten minutes."""
    return Field(default=default, ge=least, le=600, description=description)


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
    db_connect_timeout_s: int = _time_limit(
        2, 2, "PostgreSQL: seconds to wait for a new connection (libpq's minimum is 2)."
    )
    db_statement_timeout_s: float = _time_limit(
        1.5,
        0.01,
        "PostgreSQL: longest a statement of a request may run (statement_timeout); a server"
        " that does not answer at all is given up 0.5 s later.",
    )
    db_busy_timeout_s: float = _time_limit(
        1.5, 0, "SQLite: longest a write waits for another connection's write lock."
    )
    db_pool_timeout_s: float = _time_limit(
        1.0, 0.01, "Longest a request waits for a free connection of the pool."
    )
    cache_mb: float = Field(
        default=64,
        ge=0,
        description="Most MiB of responses kept in each worker's read cache (0 disables it).",
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
    demo_cache_mb: float = Field(
        default=16,
        ge=0,
        description="Most MiB of recent demo results and plots kept per API process.",
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="The site's public root URL (https://glossary.example.org) for the canonical "
        "links, sitemap and JSON-LD of the web pages; unset: the URL each request came to.",
    )
    allowed_hosts: list[str] = Field(
        default=["localhost", "127.0.0.1", "::1"],
        description="Without KB_PUBLIC_URL: the host names (JSON list) whose pages are cached "
        "with links to that host, when a request reaches the server's own port by one of them. "
        "Pages asked for by any other Host are built afresh each time and never cached, so "
        "that made-up Host headers cannot fill the cache.",
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

    def database_limits(self) -> Limits:
        """The time limits of the server's database connections."""
        return Limits(
            connect_s=self.db_connect_timeout_s,
            statement_s=self.db_statement_timeout_s,
            busy_s=self.db_busy_timeout_s,
            pool_s=self.db_pool_timeout_s,
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

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if re.fullmatch(r"[A-Za-z0-9.:\-]{1,253}", host) is None:
                raise ValueError(
                    f"{host!r} is not a host name or IP address (give names such as "
                    '"glossary.example.org" or "::1", without scheme or port)'
                )
        return [host.lower() for host in hosts]


MIB = 1 << 20


@lru_cache
def get_settings() -> Settings:
    return Settings()
