"""Engine and session factory for the embedded SQLite file or a PostgreSQL server."""

from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel, create_engine

from kb import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from kb.search import create_search_schema

Backend = Literal["sqlite", "postgresql"]


def backend_of(engine: Engine) -> Backend:
    name = engine.dialect.name
    if name not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {name!r}: use sqlite:/// or postgresql+psycopg://")
    return "sqlite" if name == "sqlite" else "postgresql"


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own implicit BEGIN is switched off: SQLAlchemy's "begin" event emits it (below).
    dbapi_connection.isolation_level = None
    # WAL lets readers run while a load writes; NORMAL is durable enough with WAL and much
    # faster; the busy timeout makes concurrent writers wait instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


WRITE_LOCK = {"kb_write_lock": True}
"""Execution options for a session that writes: on SQLite its transaction takes the write lock
at BEGIN, so two loaders queue instead of one failing with a stale snapshot."""


def _begin_sqlite(conn: Any) -> None:
    immediate = conn.get_execution_options().get("kb_write_lock", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _tune_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
    elif parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    else:
        raise ValueError(
            f"KB_DATABASE_URL {url!r}: unsupported database; use sqlite:///PATH "
            "or postgresql+psycopg://USER@HOST/DB"
        )
    return engine


def create_schema(engine: Engine) -> None:
    """The tables of ``kb.models`` and the backend's search index; safe to call again."""
    with engine.begin() as connection:
        SQLModel.metadata.create_all(connection)
        create_search_schema(connection)
