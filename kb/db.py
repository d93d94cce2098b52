"""Engine and session factory for the embedded SQLite file or a PostgreSQL server."""

from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import create_engine

from kb import models  # noqa: F401  (registers the tables on SQLModel.metadata)

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


# The revision that describes the schema databases created before migrations existed have.
_FIRST_REVISION = "0001"
# Any fixed number: the key of the PostgreSQL advisory lock that serialises migrations.
_MIGRATION_LOCK_KEY = 7_411_202


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "kb:migrations")
    config.attributes["connection"] = connection
    return config


def schema_revision(engine: Engine) -> str | None:
    """The migration the database is at (None: empty, or made before migrations existed)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the latest by default); a no-op when it is there.

    Several processes may start at once: they take turns (SQLite's write lock, an advisory
    lock on PostgreSQL) and all but the first find nothing left to do.
    """
    with engine.connect().execution_options(**WRITE_LOCK) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        config = alembic_config(connection)
        context = MigrationContext.configure(connection)
        if context.get_current_revision() is None and inspect(connection).has_table("term"):
            command.stamp(config, _FIRST_REVISION)
        command.upgrade(config, revision)
