"""Engine and session factory for the embedded SQLite file or a PostgreSQL server."""

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlmodel import Session, create_engine

from kb import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from kb.outage import Limits, limit_postgres

Backend = Literal["sqlite", "postgresql"]


def backend_of(engine: Engine) -> Backend:
    name = engine.dialect.name
    if name not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {name!r}: use sqlite:/// or postgresql+psycopg://")
    return "sqlite" if name == "sqlite" else "postgresql"


# Per connection: WAL lets readers run while a load writes; NORMAL is durable enough with WAL
# and much faster. (The busy timeout, which makes concurrent writers wait instead of failing at
# once, is the driver's ``timeout``.)
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA cache_size=-2000",  # SQLite's default: 2 MiB
)
# What a bulk load changes, and gives back when its connection returns to the pool.
_SQLITE_BULK_PRAGMAS = ("PRAGMA foreign_keys=OFF", "PRAGMA cache_size=-262144")


def _execute_all(dbapi_connection: Any, statements: Sequence[str]) -> None:
    cursor = dbapi_connection.cursor()
    for statement in statements:
        cursor.execute(statement)
    cursor.close()


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own implicit BEGIN is switched off: SQLAlchemy's "begin" event emits it (below).
    dbapi_connection.isolation_level = None
    _execute_all(dbapi_connection, _SQLITE_PRAGMAS)


WRITE_LOCK = {"kb_write_lock": True}
"""Execution options for a session that writes: on SQLite its transaction takes the write lock
at BEGIN, so two loaders queue instead of one failing with a stale snapshot."""

BULK_LOAD = {**WRITE_LOCK, "kb_bulk_load": True}
"""Execution options for the session of a load, which replaces all content with a glossary
validated as a whole. On SQLite its transaction also skips the foreign-key checks and has a
256 MiB page cache: at 100k terms the checks cost about 6 s and a 2 MiB cache spills dirty pages
again and again, about 7 s more. The connection gets its usual settings back when it returns to
the pool."""


def _begin_sqlite(conn: Any) -> None:
    options = conn.get_execution_options()
    if options.get("kb_bulk_load"):
        # Before BEGIN: inside a transaction, SQLite ignores a change of foreign_keys.
        for statement in _SQLITE_BULK_PRAGMAS:
            conn.exec_driver_sql(statement)
        conn.info["kb_bulk_load"] = True
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("kb_write_lock") else "BEGIN")


def _end_bulk_load(dbapi_connection: Any, record: Any) -> None:
    # The pool has rolled back or the load committed: no transaction is open here.
    if record.info.pop("kb_bulk_load", False) and dbapi_connection is not None:
        _execute_all(dbapi_connection, _SQLITE_PRAGMAS)


def insert_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert ``rows``, tuples of plain values in ``columns`` order, through the driver: COPY on
    PostgreSQL, one prepared statement on SQLite. At 100k terms SQLAlchemy's per-row parameter
    handling took longer than the inserts themselves."""
    if isinstance(rows, Sequence) and not rows:
        return
    session.flush()  # rows it holds may be what these refer to
    copy_rows(session.connection(), table, columns, rows)


def copy_rows(
    connection: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """``insert_rows`` on a connection."""
    driver = connection.connection.driver_connection
    assert driver is not None  # the connection is open
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        with driver.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" * len(columns))
        driver.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


# Without limits (loads, migrations, the command line): a writer waits this long for SQLite's
# lock, and SQLAlchemy's default wait for a pooled connection.
_UNLIMITED_BUSY_S = 10.0
_UNLIMITED_POOL_S = 30.0


def in_memory(url: str | URL) -> bool:
    """Whether ``url`` is an in-memory SQLite database (gone with its engine)."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def make_engine(url: str, limits: Limits | None = None) -> Engine:
    """An engine for ``url``. With ``limits`` (a server's engine) every wait for the database
    is bounded and an unreachable PostgreSQL server fails requests at once (``kb.outage``);
    without, a long load or migration is never cut short."""
    parsed = make_url(url)
    pool_s = _UNLIMITED_POOL_S if limits is None else limits.pool_s
    if parsed.get_backend_name() == "sqlite":
        busy_s = _UNLIMITED_BUSY_S if limits is None else limits.busy_s
        # An in-memory database lives in one connection, which its pool never waits for.
        pool = {} if in_memory(parsed) else {"pool_timeout": pool_s}
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": busy_s}, **pool
        )
        event.listen(engine, "connect", _tune_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        event.listen(engine, "checkin", _end_bulk_load)
    elif parsed.get_backend_name() == "postgresql":
        engine = create_engine(
            url, pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=pool_s
        )
        if limits is not None:
            limit_postgres(engine, limits)
    else:
        raise ValueError(
            f"KB_DATABASE_URL {url!r}: unsupported database; use sqlite:///PATH "
            "or postgresql+psycopg://USER@HOST/DB"
        )
    return engine


# The revision that describes the schema databases created before migrations existed have.
_FIRST_REVISION = "0001"
# Any fixed numbers: the keys of the PostgreSQL advisory locks that serialise migrations and
# writers (loads and edits).
_MIGRATION_LOCK_KEY = 7_411_202
WRITER_LOCK_KEY = 7_411_201


def lock_schema(executor: Connection | Session, key: int) -> None:
    """Take the PostgreSQL advisory lock ``key`` until the transaction ends, for this schema
    only: knowledge bases in other schemas of the same database (the tests', a benchmark's)
    must not wait for each other's loads."""
    executor.execute(
        text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"), {"key": key}
    )


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
            lock_schema(connection, _MIGRATION_LOCK_KEY)
        config = alembic_config(connection)
        context = MigrationContext.configure(connection)
        if context.get_current_revision() is None and inspect(connection).has_table("term"):
            command.stamp(config, _FIRST_REVISION)
        command.upgrade(config, revision)
