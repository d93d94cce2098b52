"""kb.swap: a whole load on PostgreSQL builds fresh tables and swaps them in. The schema after
it is the migrations' to the last name, readers never fail or see a mix, and nothing is left
behind by a load that failed."""

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from kb import loader, repository, search, swap
from kb.content import read_glossary
from kb.db import make_engine, migrate
from tests.kb.glossary_factory import TERMS, glossary_without, write_glossary

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

_CATALOG = {
    "tables": "SELECT c.relname, c.relkind, pg_get_expr(c.relpartbound, c.oid),"
    " CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END FROM pg_class c"
    " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')",
    "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default"
    " FROM information_schema.columns WHERE table_schema = current_schema()",
    "indexes": "SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x"
    " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
    " WHERE t.relnamespace = current_schema()::regnamespace",
    "attached indexes": "SELECT c.relname, p.relname FROM pg_inherits h"
    " JOIN pg_class c ON c.oid = h.inhrelid JOIN pg_class p ON p.oid = h.inhparent"
    " WHERE c.relnamespace = current_schema()::regnamespace",
    "constraints": "SELECT t.relname, c.conname, c.contype, pg_get_constraintdef(c.oid),"
    " c.conparentid <> 0 FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid"
    " WHERE t.relnamespace = current_schema()::regnamespace",
    "sequences": "SELECT s.relname, t.relname, d.refobjsubid FROM pg_depend d"
    " JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
    " JOIN pg_class t ON t.oid = d.refobjid WHERE s.relnamespace = current_schema()::regnamespace",
}


def catalog(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """The schema as PostgreSQL's catalog describes it: every name and definition."""
    with engine.connect() as connection:
        return {
            part: sorted(tuple(row) for row in connection.execute(text(query)))
            for part, query in _CATALOG.items()
        }


def _fresh_tables(engine: Engine) -> list[str]:
    return [row[0] for row in catalog(engine)["tables"] if row[0].startswith(swap.PREFIX)]


def test_a_load_leaves_the_schema_the_migrations_made(
    engine: Engine, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrated = catalog(engine)
    assert ("term_search_1", "r", "FOR VALUES WITH (modulus 2, remainder 1)", None) in migrated[
        "tables"
    ]
    monkeypatch.setattr(loader, "INCREMENTAL_SHARE", 0.0)  # every load replaces everything
    glossary = read_glossary(data_dir)
    assert loader.load(engine, glossary)
    assert catalog(engine) == migrated
    # Again, over content (the live tables of the first load are now the ones replaced).
    assert loader.load(engine, glossary, discard_edits=True)
    assert catalog(engine) == migrated
    with Session(engine) as session:
        assert repository.count_terms(session) == len(TERMS)
        assert search.full_text(session, ["momentum"]).hits[0].slug == "momentum"
        # The term ids' sequence went with the table: new terms carry on after the loaded ones.
        next_id = session.execute(text("SELECT nextval('term_id_seq')")).scalar_one()
        assert next_id == len(TERMS) + 1


def test_a_failed_build_leaves_the_content_and_no_fresh_tables(
    engine: Engine, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader.load(engine, read_glossary(data_dir))
    before = catalog(engine)
    calls = []
    real_run = swap._run

    def fail_at_the_third_index(engine: Engine, statement: str) -> None:
        if statement.startswith("CREATE") and "INDEX" in statement:
            calls.append(statement)
            if len(calls) == 3:
                raise RuntimeError("disk on fire")
        real_run(engine, statement)

    monkeypatch.setattr(swap, "_run", fail_at_the_third_index)
    monkeypatch.setattr(loader, "INCREMENTAL_SHARE", 0.0)
    root = write_glossary(data_dir.parent / "new", glossary_without("rmsprop"))
    with pytest.raises(RuntimeError, match="disk on fire"):
        loader.load(engine, read_glossary(root))
    assert calls
    assert _fresh_tables(engine) == []
    assert catalog(engine) == before
    with Session(engine) as session:
        assert repository.find_term(session, "rmsprop") is not None


def test_leftovers_of_a_killed_load_are_dropped_by_the_next(engine: Engine, data_dir: Path) -> None:
    loader.load(engine, read_glossary(data_dir))
    with engine.begin() as connection:  # what a load killed while building leaves
        connection.execute(text(f"CREATE TABLE {swap.fresh('term')} (LIKE term)"))
        connection.execute(text(f"CREATE TABLE {swap.fresh('stray')} (id int)"))
    root = write_glossary(data_dir.parent / "new", glossary_without("rmsprop", "adamw"))
    assert loader.load(engine, read_glossary(root))
    assert _fresh_tables(engine) == []


def test_readers_never_fail_or_see_a_mix_while_loads_swap(
    engine: Engine, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Readers run the same statements again and again (psycopg prepares them after five), in
    # transactions of several statements, while whole loads replace the tables under them.
    small = read_glossary(write_glossary(tmp_path / "small", glossary_without("rmsprop", "adamw")))
    full = read_glossary(data_dir)
    loader.load(engine, full)
    reader_engine = make_engine(engine.url.render_as_string(hide_password=False))
    migrate(reader_engine)
    seen: set[tuple[int, int]] = set()
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                with Session(reader_engine) as session:
                    terms = repository.count_terms(session)
                    found = search.full_text(session, ["optimizer"], match_all=False).total
                    seen.add((terms, found))
            except BaseException as exc:  # any failure is the finding
                errors.append(exc)
                return

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    monkeypatch.setattr(loader, "INCREMENTAL_SHARE", 0.0)
    try:
        for glossary in (small, full, small):
            loader.load(engine, glossary, discard_edits=True)
    finally:
        done.set()
        for reader in readers:
            reader.join()
        reader_engine.dispose()
    assert errors == []
    # Each count is a whole load's, never one half-way through.
    assert {terms for terms, _ in seen} <= {len(small.terms), len(full.terms)}
    assert len(seen) > 1
