"""Search by meaning (kb.semantic, /search?mode=, /terms/{slug}/similar), SQLite and PostgreSQL."""

import json
import logging
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from kb import loader
from kb.app import create_app
from kb.cli import app as cli
from kb.client import KBClient
from kb.config import Settings
from kb.content import read_glossary
from kb.semantic import MODEL_ID, SemanticIndex, fuse, term_texts
from tests.kb.glossary_factory import TERMS, reload


@pytest.fixture
def semantic(settings: Settings, model_dir: Path) -> Iterator[TestClient]:
    """The API with the model, its term vectors computed."""
    with TestClient(create_app(settings.model_copy(update={"model_dir": model_dir}))) as client:
        assert index_of(client).wait_idle(120)
        yield client


def index_of(client: TestClient) -> SemanticIndex:
    index: SemanticIndex = client.app.state.semantic  # type: ignore[attr-defined]
    return index


def slugs(client: TestClient, q: str, **params: str | int) -> list[str]:
    answer = client.get("/api/v1/search", params={"q": q, **params})
    assert answer.status_code == 200, answer.text
    return [item["slug"] for item in answer.json()["items"]]


def test_without_a_model_search_is_lexical_and_says_so(client: TestClient) -> None:
    health = client.get("/api/v1/health").json()["semantic_search"]
    assert health["state"] == "off" and "kb model fetch" in health["detail"]
    answer = client.get("/api/v1/search", params={"q": "momentum"}).json()
    assert answer["mode"] == "lexical"
    for mode in ("semantic", "hybrid"):
        answer = client.get("/api/v1/search", params={"q": "momentum", "mode": mode}).json()
        assert answer["mode"] == "lexical" and answer["items"][0]["slug"] == "momentum"
    similar = client.get("/api/v1/terms/adam/similar")
    assert similar.status_code == 404 and "kb model fetch" in similar.json()["detail"]


def test_the_log_says_semantic_search_is_off(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kb.semantic")
    with TestClient(create_app(settings)):
        pass
    assert any("semantic search is off" in r.getMessage() for r in caplog.records)


def test_an_unknown_mode_is_refused(client: TestClient) -> None:
    answer = client.get("/api/v1/search", params={"q": "adam", "mode": "vibes"})
    assert answer.status_code == 422
    assert "hybrid" in answer.text and "lexical" in answer.text


def test_with_the_model_hybrid_is_the_default(semantic: TestClient) -> None:
    health = semantic.get("/api/v1/health").json()["semantic_search"]
    assert health == {"state": "ready", "detail": "7 of 7 terms have vectors"}
    answer = semantic.get("/api/v1/search", params={"q": "velocity of past gradients"}).json()
    assert answer["mode"] == "hybrid"
    assert answer["items"][0]["slug"] == "momentum"


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_a_description_finds_its_term_by_meaning(semantic: TestClient, mode: str) -> None:
    found = slugs(semantic, "normalize layer inputs using statistics of the minibatch", mode=mode)
    assert found[0] == "batch-normalization"
    found = slugs(semantic, "chain rule applied to compute derivatives of each layer", mode=mode)
    assert found[0] == "backpropagation"


@pytest.mark.parametrize("mode", ["lexical", "semantic", "hybrid"])
@pytest.mark.parametrize(("q", "slug"), [("gd", "gradient-descent"), ("Heavy-Ball", "momentum")])
def test_an_exact_name_or_alias_comes_first(
    semantic: TestClient, mode: str, q: str, slug: str
) -> None:
    assert slugs(semantic, q, mode=mode)[0] == slug


def test_filters_and_paging_apply_to_meaning(semantic: TestClient) -> None:
    q = "adaptive per-parameter step sizes"
    found = slugs(
        semantic, "gradients and normalised activations", mode="semantic", category="fundamentals"
    )
    assert found and set(found) <= {"batch-normalization", "backpropagation"}
    assert set(slugs(semantic, q, mode="semantic", category="optimization")) >= {"adam-optimizer"}
    assert "adamw" not in slugs(semantic, q, mode="hybrid", kind="concept")
    everything = slugs(semantic, q, mode="hybrid", limit=100)
    assert slugs(semantic, q, mode="hybrid", limit=2, offset=1) == everything[1:3]
    answer = semantic.get("/api/v1/search", params={"q": q, "mode": "semantic"}).json()
    assert answer["total"] == len(answer["items"]) and answer["mode"] == "semantic"
    scores = [item["score"] for item in answer["items"]]
    assert scores == sorted(scores, reverse=True)


def test_similar_terms_leave_out_the_term_and_its_links(semantic: TestClient) -> None:
    answer = semantic.get("/api/v1/terms/Adam/similar", params={"limit": 10})
    assert answer.status_code == 200
    body = answer.json()
    assert body["term"] == "adam-optimizer"
    found = [item["slug"] for item in body["items"]]
    # Adam is linked to momentum, rmsprop and adamw: the three other terms are left.
    assert set(found) == {"gradient-descent", "batch-normalization", "backpropagation"}
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert semantic.get("/api/v1/terms/nope/similar").status_code == 404
    assert semantic.get("/api/v1/terms/adam/similar", params={"limit": 0}).status_code == 422


def test_a_reload_recomputes_only_what_changed(
    semantic: TestClient, database_url: str, data_dir: Path
) -> None:
    index = index_of(semantic)
    before = index.computed
    terms = deepcopy(TERMS)
    terms["rmsprop"]["summary"] = "Keeps a moving average of squared gradients per weight."
    reload(database_url, data_dir, terms)
    semantic.get("/api/v1/health")  # a request notices the new data version
    assert index.wait_idle(60)
    assert index.computed == before + 1
    with index._engine.connect() as connection:
        digests = connection.execute(text("SELECT DISTINCT digest FROM term_vector")).all()
        assert len(digests) == len(TERMS)  # the old record's vectors were dropped
    q = "moving average of squared gradients"
    assert slugs(semantic, q, mode="semantic")[0] == "rmsprop"


def test_term_texts_are_names_summary_then_paragraphs() -> None:
    body = "First paragraph, long enough to count as prose.\n\n$$x$$\n\nShort.\n\n" + (
        "Second [paragraph](https://example.org) with *emphasis* and more words."
    )
    texts = term_texts("Adam optimizer", ["Adam"], "An optimizer.", "$$x$$\n\n" + body)
    assert texts == [
        "Adam optimizer (Adam): An optimizer.",
        "Adam optimizer: First paragraph, long enough to count as prose.",
    ]
    assert MODEL_ID


def test_fuse_adds_a_lexical_bonus_to_the_cosine() -> None:
    cosines = {"a": 0.5, "b": 0.6, "c": 0.2, "d": 0.1}
    fused = dict(fuse(cosines, ["c", "a", "e"], weight=0.2, c=1.0, floor=0.3))
    # c and a and e get 0.2, 0.1 and 0.2/3 on top of their cosines; d is below the floor.
    assert fused == pytest.approx({"a": 0.6, "b": 0.6, "c": 0.4, "e": 0.2 / 3})
    assert [item for item, _ in fuse(cosines, [], 0.0, 1.0, 0.3)] == ["b", "a"]


def test_the_client_and_the_web_page_search_by_meaning(semantic: TestClient) -> None:
    q = "velocity of past gradients"
    with KBClient("http://testserver", http=semantic) as kb:
        assert kb.search(q).mode == "hybrid"
        page = kb.search(q, mode="semantic", limit=1)
        assert page.mode == "semantic" and page.items[0].slug == "momentum"
        assert kb.search(q, mode="lexical").mode == "lexical"
    html = semantic.get("/search", params={"q": q}).text
    assert "Ranked by words and by meaning." in html
    assert html.index('href="/terms/momentum"') < html.index('href="/terms/adam-optimizer"')


def test_kb_search_takes_a_mode(semantic: TestClient, database_url: str, model_dir: Path) -> None:
    # The server (the fixture) has computed the vectors; kb search reads them.
    env = {"KB_DATABASE_URL": database_url}
    runner = CliRunner()
    result = runner.invoke(cli, ["search", "--mode", "lexical", "momentum", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mode"] == "lexical"
    # The tests' environment has no model: the answer is lexical, and says so.
    result = runner.invoke(cli, ["search", "--mode", "semantic", "momentum", "--json"], env=env)
    assert result.exit_code == 0 and json.loads(result.stdout)["mode"] == "lexical"
    with_model = env | {"KB_MODEL_DIR": str(model_dir)}
    result = runner.invoke(cli, ["search", "velocity of past gradients", "--json"], env=with_model)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["mode"] == "hybrid" and answer["items"][0]["slug"] == "momentum"


def test_new_vectors_drop_the_cached_answers(
    engine: Engine, data_dir: Path, model_dir: Path
) -> None:
    loader.load(engine, read_glossary(data_dir))
    dropped: list[int] = []
    index = SemanticIndex(engine, model_dir, on_change=lambda: dropped.append(1))
    index.start(compute=False)  # reads what is stored: nothing yet
    assert len(index.matrix.term_ids) == 0 and len(dropped) == 1
    index.refresh()
    assert len(index.matrix.term_ids) == len(TERMS) and len(dropped) == 2
    index.refresh()  # nothing new: the cache stays
    assert index.computed == len(TERMS) and len(dropped) == 2
