"""Settings, read from the environment with the ``KB_`` prefix (or passed to ``create_app``)."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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


@lru_cache
def get_settings() -> Settings:
    return Settings()
