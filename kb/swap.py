"""PostgreSQL: replace all content by building fresh tables beside the live ones, then swapping.

Written row by row into the live tables, a load of 100k terms took 75-160 s: every row went
through four GIN indexes and the foreign-key triggers, and the search vectors were computed one
after another inside the load's transaction. Here the new content goes into fresh tables
(``kb_new_<table>``, no indexes) by COPY; the search vectors are computed by several connections
at once; then every index and constraint the live tables have is built in bulk, several at a
time. Until then the live tables are untouched and readers see them. ``put_in_place`` then,
inside the load's transaction, drops the live tables and renames the fresh ones (and their
indexes, constraints and sequences) to their names: readers wait for that commit only, and see
the new content after it.

The fresh tables are committed as they are built (other connections build them), so a failed
load drops them, and a killed one leaves them behind for the next load, which drops them first.
The load's transaction holds the writers' lock from before ``build`` to the swap's commit, so no
edit can slip in between and no other load can touch the fresh tables.

Which indexes and constraints to build is read from the catalog (the live tables as the
migrations made them), so a migration that adds one needs no change here; a test compares the
schema after a load with a freshly migrated one.
"""

import os
import random
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from kb import search
from kb.db import copy_rows

TABLES = (
    "category", "term", "alias", "lookup_key", "reference", "link_entry", "link", "term_search",
)  # fmt: skip
"""The content tables a load replaces (with their partitions, if any)."""
PREFIX = "kb_new_"
WORKERS = max(2, min(os.cpu_count() or 2, 8))
"""Connections that compute search vectors and build indexes at once (the server's CPUs are
best; this machine's count is the guess)."""
_SLICES = 2 * WORKERS

_INDEX_DEF = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ (USING .*)$")
_REFERENCES = re.compile(r"REFERENCES (?:\w+\.)?(\w+)\(")


def fresh(name: str) -> str:
    """The name of a fresh table, index or constraint while it is being built."""
    return PREFIX + name


@dataclass(frozen=True)
class _Table:
    name: str
    create: str  # the statement that makes the fresh one, empty


@dataclass(frozen=True)
class _Index:
    table: str
    name: str
    create: str  # for the fresh table, named fresh(name)
    constraint: str | None  # the primary key or unique constraint it backs, if any
    definition: str | None  # that constraint's
    partitioned: bool  # an index of a partitioned table, over its partitions' indexes


@dataclass(frozen=True)
class _Constraint:
    table: str
    name: str
    definition: str  # for the fresh tables
    inherited: bool  # a partition's copy of its table's foreign key


@dataclass(frozen=True)
class _Sequence:
    name: str
    table: str
    column: str


@dataclass(frozen=True)
class Schema:
    """The live content tables as the catalog describes them, beyond their columns."""

    tables: tuple[_Table, ...]  # partitioned tables before their partitions
    indexes: tuple[_Index, ...]
    foreign_keys: tuple[_Constraint, ...]
    sequences: tuple[_Sequence, ...]


_LIKE = (
    "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE"
    " INCLUDING COMPRESSION"
)


def read_schema(executor: Session | Connection) -> Schema:
    """The tables (``TABLES`` and their partitions), indexes, constraints and owned sequences
    of the content in the current schema."""
    rows = executor.execute(
        text(
            "SELECT c.relname, c.relkind = 'p', p.relname, pg_get_expr(c.relpartbound, c.oid),"
            " CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END"
            " FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid"
            " LEFT JOIN pg_class p ON p.oid = i.inhparent"
            " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')"
            " AND (c.relname = ANY(:tables) OR p.relname = ANY(:tables))"
            " ORDER BY p.relname IS NOT NULL, c.relname"
        ),
        {"tables": list(TABLES)},
    ).all()
    tables = []
    for name, partitioned, parent, bound, key in rows:
        if parent is not None:
            create = f"CREATE TABLE {fresh(name)} PARTITION OF {fresh(parent)} {bound}"
        else:
            create = f"CREATE TABLE {fresh(name)} (LIKE {name} {_LIKE})"
            if partitioned:
                create += f" PARTITION BY {key}"
        tables.append(_Table(name, create))
    names = [table.name for table in tables]
    indexes = []
    for table, name, definition, partitioned, constraint, constraint_definition in executor.execute(
        text(
            "SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid), i.relkind = 'I',"
            " c.conname, pg_get_constraintdef(c.oid)"
            " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " JOIN pg_class t ON t.oid = x.indrelid"
            " LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.contype IN ('p', 'u')"
            " WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(:names)"
        ),
        {"names": names},
    ):
        match = _INDEX_DEF.match(definition)
        if match is None:
            raise RuntimeError(f"cannot rebuild index {name} of {table}: {definition}")
        unique, method = match.groups()
        create = f"CREATE {unique or ''}INDEX {fresh(name)} ON {fresh(table)} {method}"
        indexes.append(_Index(table, name, create, constraint, constraint_definition, partitioned))
    # The largest first: the GIN indexes of the search entries take most of the time.
    indexes.sort(key=lambda i: (not i.table.startswith("term_search"), "gin" not in i.create))
    foreign_keys = [
        _Constraint(
            table,
            name,
            _REFERENCES.sub(lambda m: f"REFERENCES {_content_table(m[1])}(", definition),
            inherited,
        )
        for table, name, definition, inherited in executor.execute(
            text(
                "SELECT t.relname, c.conname, pg_get_constraintdef(c.oid), c.conparentid <> 0"
                " FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid"
                " WHERE c.contype = 'f' AND t.relnamespace = current_schema()::regnamespace"
                " AND t.relname = ANY(:names)"
            ),
            {"names": names},
        )
    ]
    sequences = [
        _Sequence(*row)
        for row in executor.execute(
            text(
                "SELECT s.relname, t.relname, a.attname FROM pg_depend d"
                " JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
                " JOIN pg_class t ON t.oid = d.refobjid"
                " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
                " WHERE d.deptype IN ('a', 'i')"
                " AND t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(:names)"
            ),
            {"names": names},
        )
    ]
    return Schema(tuple(tables), tuple(indexes), tuple(foreign_keys), tuple(sequences))


def _content_table(table: str) -> str:
    if table not in TABLES:
        raise RuntimeError(f"a content table refers to {table}, which a load does not replace")
    return fresh(table)


def engine_of(session: Session) -> Engine:
    engine = session.get_bind()
    assert isinstance(engine, Engine)  # a load's session is bound to its engine
    return engine


def discard(engine: Engine) -> None:
    """Drop the fresh tables a failed or killed load left behind."""
    with _building(engine) as connection:
        _drop_fresh(connection)


def _drop_fresh(connection: Connection) -> None:
    stale = connection.execute(
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            " AND starts_with(tablename, :prefix)"
        ),
        {"prefix": PREFIX},
    ).scalars()
    names = ", ".join(stale)
    if names:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {names} CASCADE")


def _building(engine: Engine) -> Connection:
    """A connection of ``engine`` that commits every statement on its own."""
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def _run(engine: Engine, statement: str) -> None:
    with _building(engine) as connection:
        connection.exec_driver_sql(statement)


def _in_parallel(engine: Engine, statements: Iterable[str]) -> None:
    """Run ``statements`` on ``WORKERS`` connections at once, each committed on its own."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for _ in pool.map(partial(_run, engine), statements):  # re-raises a worker's error
            pass


def build(
    session: Session, rows: Mapping[str, tuple[Sequence[str], Iterable[Sequence[Any]]]]
) -> None:
    """Fill a fresh copy of every content table with ``rows`` (table -> columns, rows; the
    search entries are computed here) and give it the indexes and constraints of the live one.
    ``session`` is the load's, holding the writers' lock; the live tables are not touched."""
    engine = engine_of(session)
    schema = read_schema(session)
    with _building(engine) as connection, ThreadPoolExecutor(max_workers=WORKERS) as pool:
        _drop_fresh(connection)
        for table in schema.tables:
            connection.exec_driver_sql(table.create)
        for name in ("category", "alias"):
            copy_rows(connection, fresh(name), *rows[name])
        for index in schema.indexes:
            if index.table == "alias":  # the search entries look each term's aliases up
                connection.exec_driver_sql(index.create)
        # The terms in slices: other connections compute a slice's search entries while the
        # next one is copied in, and the other tables after them.
        columns, term_rows = rows["term"]
        terms = list(term_rows)
        assert columns[0] == "id"
        size = -(-len(terms) // _SLICES)
        entries = []
        for start in range(0, len(terms), size):
            part = terms[start : start + size]
            copy_rows(connection, fresh("term"), columns, part)
            where = f"t.id BETWEEN {part[0][0]} AND {part[-1][0]}"
            statement = search.postgres_index_statement(PREFIX, where)
            entries.append(pool.submit(_run, engine, statement))
        for name, (columns, values) in rows.items():
            if name not in ("category", "alias", "term"):
                copy_rows(connection, fresh(name), columns, values)
        for future in entries:
            future.result()
    leaves = [i for i in schema.indexes if not i.partitioned]
    _in_parallel(engine, [i.create for i in leaves if i.table != "alias"])
    _in_parallel(
        engine,
        [
            f"ALTER TABLE {fresh(i.table)} ADD CONSTRAINT {fresh(i.constraint)}"
            f" {'PRIMARY KEY' if i.definition.startswith('PRIMARY') else 'UNIQUE'}"
            f" USING INDEX {fresh(i.name)}"
            for i in leaves
            if i.constraint is not None and i.definition is not None
        ],
    )
    # A partitioned table's indexes and keys take in its partitions' (quick, one by one).
    for index in schema.indexes:
        if index.partitioned:
            _run(
                engine,
                index.create
                if index.constraint is None
                else f"ALTER TABLE {fresh(index.table)} ADD CONSTRAINT {fresh(index.constraint)}"
                f" {index.definition}",
            )
    # Foreign keys after the keys they refer to; each checks its rows in one join. A
    # partitioned table's gives its partitions theirs.
    _in_parallel(
        engine,
        [
            f"ALTER TABLE {fresh(k.table)} ADD CONSTRAINT {fresh(k.name)} {k.definition}"
            for k in schema.foreign_keys
            if not k.inherited
        ],
    )
    _in_parallel(engine, [f"ANALYZE {fresh(table)}" for table in TABLES])


_LOCK_WAIT = "100ms"
_LOCK_ATTEMPTS = 100
_LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock wait past lock_timeout


def _lock_content(session: Session) -> None:
    """Take every content table from its readers, without deadlocking with one.

    A reader's transaction that read one table and then asks for another can wait for this
    one while this one waits for it: PostgreSQL would break that after a second by failing
    one of them. Instead this gives up after a short wait, lets the readers through (a
    savepoint gives back the tables it got) and tries again; new readers queue behind it
    meanwhile, so it does not starve."""
    session.execute(text(f"SET LOCAL lock_timeout = '{_LOCK_WAIT}'"))
    for attempt in range(_LOCK_ATTEMPTS):
        savepoint = session.begin_nested()
        try:
            session.execute(text(f"LOCK TABLE {', '.join(TABLES)} IN ACCESS EXCLUSIVE MODE"))
        except OperationalError as exc:
            savepoint.rollback()
            if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
            continue
        savepoint.commit()
        session.execute(text("SET LOCAL lock_timeout = DEFAULT"))
        return
    raise RuntimeError(
        f"readers held the content tables through {_LOCK_ATTEMPTS} attempts to swap them"
    )


def put_in_place(session: Session) -> None:
    """Inside the load's transaction: the fresh tables take the live ones' places and names.
    Readers wait for this transaction's commit from here on; it takes milliseconds."""
    schema = read_schema(session)
    _lock_content(session)
    statements = [
        f"ALTER SEQUENCE {s.name} OWNED BY {fresh(s.table)}.{s.column}" for s in schema.sequences
    ]
    statements.append(f"DROP TABLE {', '.join(TABLES)}")
    statements += [f"ALTER TABLE {fresh(t.name)} RENAME TO {t.name}" for t in schema.tables]
    statements += [
        f"ALTER INDEX {fresh(i.name)} RENAME TO {i.name}"
        if i.constraint is None
        else f"ALTER TABLE {i.table} RENAME CONSTRAINT {fresh(i.constraint)} TO {i.constraint}"
        for i in schema.indexes
    ]
    statements += [
        f"ALTER TABLE {k.table} RENAME CONSTRAINT {fresh(k.name)} TO {k.name}"
        for k in schema.foreign_keys
    ]
    for statement in statements:
        session.execute(text(statement))
