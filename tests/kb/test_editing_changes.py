"""A write rewrites only the parts of a term that changed (kb.editing.replace_term): what it
leaves in the database is what loading the edited files gives, part by part."""

from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from kb import editing, history, loader, repository
from kb.content import read_glossary
from kb.schemas import TermIn
from tests.kb.glossary_factory import TERMS, write_glossary
from tests.kb.snapshots import snapshot

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
    written = snapshot(engine)

    edited = deepcopy(TERMS)
    edited["momentum"] = {**edited["momentum"], **patch}
    loader.load(
        engine, read_glossary(write_glossary(tmp_path / "edited", edited)), discard_edits=True
    )
    assert written == snapshot(engine)
