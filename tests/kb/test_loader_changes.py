"""A load that changes a few terms rewrites just those (kb.loader._load_changes), and leaves
what a load of everything leaves."""

from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from kb import loader
from kb.content import read_glossary
from kb.models import Term
from tests.kb.glossary_factory import TERMS, write_glossary
from tests.kb.snapshots import snapshot


def _ids(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {slug: i for slug, i in session.exec(select(Term.slug, Term.id)) if i}


def _edited() -> dict[str, dict[str, Any]]:
    terms = deepcopy(TERMS)
    terms["momentum"]["summary"] = "Keeps inertia, like a flywheel."
    terms["momentum"]["aliases"] = ["flywheel"]
    del terms["backpropagation"]
    terms["batch-normalization"]["related"] = []  # it linked to backpropagation
    terms["nesterov"] = {
        "name": "Nesterov momentum",
        "category": "optimization",
        "kind": "algorithm",
        "summary": "Looks ahead before the momentum step.",
        "related": [{"term": "momentum", "relation": "variant-of"}],
        "body": "Evaluates the gradient at the look-ahead point.",
    }
    terms["rmsprop"]["related"] = [{"term": "nesterov", "relation": "related"}]
    return terms


@pytest.mark.parametrize("share", [1.0, 0.0])
def test_a_few_changes_load_as_everything_would(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, share: float
) -> None:
    """share 1.0: every load takes the incremental path; 0.0: never (the oracle)."""
    monkeypatch.setattr(loader, "INCREMENTAL_SHARE", share)
    loader.load(engine, read_glossary(write_glossary(tmp_path / "a")))
    before = _ids(engine)
    loader.load(engine, read_glossary(write_glossary(tmp_path / "b", _edited())))
    after = _ids(engine)
    if share:  # unchanged terms keep their rows
        assert all(after[slug] == before[slug] for slug in after if slug in before)
    else:
        assert after != {slug: before.get(slug) for slug in after}
    loaded = snapshot(engine)
    # Versions as every load gives them: kept where the record is unchanged.
    versions = {row[0]: row[-1] for row in loaded["term"]}
    edited = {"momentum", "rmsprop", "batch-normalization"}
    assert versions == {slug: 2 if slug in edited else 1 for slug in _edited()}
    # The same files loaded whole (again, so versions move on): the same rows and answers.
    monkeypatch.setattr(loader, "INCREMENTAL_SHARE", 0.0)
    loader.load(engine, read_glossary(write_glossary(tmp_path / "a")))
    loader.load(engine, read_glossary(write_glossary(tmp_path / "b", _edited())))
    whole = snapshot(engine)
    for content in (loaded, whole):
        content["term"] = [row[:-1] for row in content["term"]]
    assert whole == loaded
