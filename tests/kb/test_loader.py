"""kb.loader: all or nothing, idempotent, and safe against a crash or a kill mid-load."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from kb import loader, repository
from kb.content import ContentError, read_glossary
from kb.db import WRITER_LOCK_KEY, lock_schema, make_engine, migrate
from kb.models import Alias, Category, Link, LookupKey, Reference, Term
from tests.kb.glossary_factory import TERMS, glossary_with, glossary_without, write_glossary

TABLES = (Category, Term, Alias, LookupKey, Link, Reference)


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every content table, ids left out, in a stable order."""
    with Session(engine) as session:
        slug_of = dict(session.exec(select(Term.id, Term.slug)).all())
        terms = session.exec(select(Term).order_by(col(Term.slug))).all()
        links = session.exec(select(Link)).all()
        refs = session.exec(select(Reference)).all()
        return {
            "categories": [
                (c.slug, c.name, c.description, c.position)
                for c in session.exec(select(Category).order_by(col(Category.slug)))
            ],
            "terms": [(t.slug, t.name, t.kind, t.summary, t.body, t.demo) for t in terms],
            "aliases": sorted(
                (slug_of[a.term_id], a.position, a.name) for a in session.exec(select(Alias))
            ),
            "keys": sorted((k.key, slug_of[k.term_id]) for k in session.exec(select(LookupKey))),
            "links": sorted(
                (slug_of[x.source_id], x.relation, slug_of[x.target_id]) for x in links
            ),
            "references": sorted((slug_of[r.term_id], r.position, r.title) for r in refs),
            "version": [(repository.data_version(session),)],
        }


def test_load_writes_everything(engine: Engine, data_dir: Path) -> None:
    assert loader.load(engine, read_glossary(data_dir))
    state = snapshot(engine)
    assert [t[0] for t in state["terms"]] == sorted(TERMS)
    assert ("batch-normalization", 0, "BN") in state["aliases"]
    assert ("bn", "batch-normalization") in state["keys"]
    assert ("adamoptimizer", "adam-optimizer") in state["keys"]  # slug and name: one key
    assert ("adamw", "variant-of", "adam-optimizer") in state["links"]
    assert len(state["links"]) == 8
    assert state["version"] == [(read_glossary(data_dir).version,)]


def test_loading_twice_gives_the_same_state(engine: Engine, data_dir: Path) -> None:
    loader.load(engine, read_glossary(data_dir))
    first = snapshot(engine)
    loader.load(engine, read_glossary(data_dir))
    assert snapshot(engine) == first
    assert not loader.load(engine, read_glossary(data_dir), only_if_changed=True)
    assert not loader.sync(engine, data_dir)


def test_reload_replaces_removed_and_changed_terms(engine: Engine, tmp_path: Path) -> None:
    root = write_glossary(tmp_path / "data")
    loader.load(engine, read_glossary(root))
    changed = glossary_without("rmsprop")
    changed["momentum"]["aliases"] = ["inertia"]
    assert loader.sync(engine, write_glossary(root, changed))
    state = snapshot(engine)
    assert "rmsprop" not in [t[0] for t in state["terms"]]
    assert ("momentum", 0, "inertia") in state["aliases"]
    assert ("heavy ball", "momentum") not in state["keys"]
    assert not any("rmsprop" in link for link in state["links"])


def test_rejected_load_leaves_previous_content_untouched(engine: Engine, tmp_path: Path) -> None:
    root = write_glossary(tmp_path / "data")
    loader.load(engine, read_glossary(root))
    before = snapshot(engine)
    write_glossary(root, glossary_with(adamw={**TERMS["adamw"], "category": "nowhere"}))
    with pytest.raises(ContentError):
        loader.sync(engine, root)
    assert snapshot(engine) == before


def test_failure_mid_load_rolls_back(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_glossary(tmp_path / "data")
    loader.load(engine, read_glossary(root))
    before = snapshot(engine)
    real_insert = loader._insert

    def insert_then_fail(session: Session, glossary: object, versions: object) -> None:
        real_insert(session, glossary, versions)  # type: ignore[arg-type]
        session.flush()
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(loader, "_insert", insert_then_fail)
    write_glossary(root, glossary_without("rmsprop"))
    with pytest.raises(RuntimeError, match="disk on fire"):
        loader.sync(engine, root)
    assert snapshot(engine) == before


def _connection_settings(engine: Engine) -> set[tuple[int, int]]:
    """(foreign_keys, cache_size) of every connection the pool holds, checked out at once."""
    pool_size = engine.pool.size()  # type: ignore[attr-defined]
    connections = [engine.connect() for _ in range(pool_size)]
    try:
        return {
            (
                c.exec_driver_sql("PRAGMA foreign_keys").scalar_one(),
                c.exec_driver_sql("PRAGMA cache_size").scalar_one(),
            )
            for c in connections
        }
    finally:
        for c in connections:
            c.close()


def test_a_load_gives_its_connection_the_usual_settings_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A load on SQLite runs without foreign-key checks and with a large page cache
    # (kb.db.BULK_LOAD); no later reader or editor may inherit either, whether the load
    # committed or failed.
    sqlite_engine = make_engine(f"sqlite:///{tmp_path / 'kb.sqlite3'}")
    migrate(sqlite_engine)
    usual = _connection_settings(sqlite_engine)
    assert usual == {(1, -2000)}
    root = write_glossary(tmp_path / "data")
    loader.load(sqlite_engine, read_glossary(root))
    assert _connection_settings(sqlite_engine) == usual

    def fail(session: Session, glossary: object, versions: object) -> None:
        assert session.connection().exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 0
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(loader, "_insert", fail)
    monkeypatch.setattr(loader, "INCREMENTAL_SHARE", 0.0)  # a load of everything
    with pytest.raises(RuntimeError, match="disk on fire"):
        loader.load(sqlite_engine, read_glossary(root))
    assert _connection_settings(sqlite_engine) == usual
    sqlite_engine.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_writers_of_other_schemas_do_not_wait_for_each_other(
    engine: Engine, data_dir: Path
) -> None:
    # The writers' advisory lock is per schema: a long load in another schema of the same
    # database (another test's, a benchmark's) must not hold this one up; the same schema's
    # writer must.
    with engine.connect() as connection, connection.begin():
        connection.exec_driver_sql("SET LOCAL search_path = pg_catalog")  # another schema
        lock_schema(connection, WRITER_LOCK_KEY)
        with Session(engine) as session:
            session.execute(text("SET LOCAL lock_timeout = '5s'"))
            repository.lock_for_write(session)  # would wait (and fail after 5 s) if shared
            session.rollback()
        with Session(engine) as session:
            taken_by_other = session.execute(
                text("SELECT pg_try_advisory_xact_lock(:key, hashtext('pg_catalog'))"),
                {"key": WRITER_LOCK_KEY},
            ).scalar_one()
            assert taken_by_other is False
    assert loader.load(engine, read_glossary(data_dir))


KILLED_LOADER = """
import sys, time
from pathlib import Path
from kb import loader
from kb.content import read_glossary
from kb.db import make_engine

real_insert = loader._insert
def insert_and_hang(session, glossary, versions):
    real_insert(session, glossary, versions)
    session.flush()
    Path(sys.argv[3]).write_text("inserted")
    time.sleep(60)
loader._insert = insert_and_hang
loader.load(make_engine(sys.argv[1]), read_glossary(Path(sys.argv[2])))
"""


def test_kill_mid_load_leaves_previous_content(engine: Engine, tmp_path: Path) -> None:
    root = write_glossary(tmp_path / "data")
    loader.load(engine, read_glossary(root))
    before = snapshot(engine)
    new_root = write_glossary(tmp_path / "new", glossary_without("rmsprop", "adamw"))
    marker = tmp_path / "inserted"
    url = engine.url.render_as_string(hide_password=False)
    child = subprocess.Popen([sys.executable, "-c", KILLED_LOADER, url, str(new_root), str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "the loader died before it was killed"
            assert time.monotonic() < deadline, "the loader never reached the middle of its load"
            time.sleep(0.05)
        # Readers still see the old content while the load is in flight...
        assert snapshot(engine) == before
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    # ...and after the kill; the next load then goes through.
    assert snapshot(engine) == before
    assert loader.sync(engine, new_root)
    assert "rmsprop" not in [t[0] for t in snapshot(engine)["terms"]]
