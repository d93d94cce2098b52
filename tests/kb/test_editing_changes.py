"""A write rewrites only the parts of a term that changed (kb.editing.replace_term): what it
leaves in the database is what loading the edited files gives, part by part."""

from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from kb import editing, history, loader, repository
from kb.content import read_glossary
from kb.schemas import TermIn
from kb.search import full_text, tokens
from tests.kb.glossary_factory import TERMS, write_glossary

_QUERIES = ["adam", "velocity", "inertia", "decay", "flywheel", "gradient", "normalization"]

# Per table, the rows of every term in slugs instead of ids (a load renumbers terms).
_SNAPSHOT = {
    "alias": "SELECT t.slug, a.position, a.name FROM alias a JOIN term t ON t.id = a.term_id",
    "lookup_key": "SELECT k.key, t.slug, k.label, k.source FROM lookup_key k"
    " JOIN term t ON t.id = k.term_id",
    "reference": "SELECT t.slug, r.position, r.title FROM reference r"
    " JOIN term t ON t.id = r.term_id",
    "link_entry": "SELECT t.slug, e.position, o.slug, e.relation FROM link_entry e"
    " JOIN term t ON t.id = e.term_id JOIN term o ON o.id = e.target_id",
    "link": "SELECT s.slug, t.slug, l.relation FROM link l JOIN term s ON s.id = l.source_id"
    " JOIN term t ON t.id = l.target_id",
    "term": "SELECT t.slug, t.name, t.sort_name, c.slug, t.summary, t.body, t.digest FROM term t"
    " JOIN category c ON c.id = t.category_id",
}


def _snapshot(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        tables = {
            name: sorted(tuple(row) for row in session.execute(text(sql)).all())
            for name, sql in _SNAPSHOT.items()
        }
        found = {q: [h.slug for h in full_text(session, tokens(q)).hits] for q in _QUERIES}
    return {**tables, "search": found}


PATCHES: list[dict[str, Any]] = [
    {"summary": "Keeps inertia, like a flywheel."},
    {"body": "Inertia helps; so does a flywheel."},
    {"name": "Momentum method"},
    {"aliases": ["flywheel", "heavy ball"]},
    {"aliases": []},
    {"category": "fundamentals"},
    {"related": [{"term": "backpropagation", "relation": "related"}]},
    {"related": []},
    {"references": []},
    {"summary": "Inertia.", "aliases": ["flywheel"], "related": []},
]


@pytest.mark.parametrize("patch", PATCHES)
def test_a_write_leaves_what_loading_the_edited_file_gives(
    engine: Engine, data_dir: Path, tmp_path: Path, patch: dict[str, Any]
) -> None:
    loader.load(engine, read_glossary(data_dir))
    with editing.write_session(engine) as session:
        row = repository.find_term(session, "momentum")
        assert row is not None
        old = repository.term_source(session, row)
        new = TermIn.model_validate({**history.record_of(old), **patch})
        editing.replace_term(session, row, new, row.version, "test", old)
        session.commit()
    written = _snapshot(engine)

    edited = deepcopy(TERMS)
    edited["momentum"] = {**edited["momentum"], **patch}
    loader.load(
        engine, read_glossary(write_glossary(tmp_path / "edited", edited)), discard_edits=True
    )
    assert written == _snapshot(engine)
