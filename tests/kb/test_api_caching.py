"""ETags, conditional GETs and the in-process response cache."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from kb import loader
from kb.app import create_app
from kb.config import Settings
from kb.content import read_glossary
from kb.db import make_engine
from tests.kb.glossary_factory import TERMS, reload, write_glossary

GETS = [
    "/api/v1/terms",
    "/api/v1/terms?category=optimization&limit=2&offset=1",
    "/api/v1/terms/adam-optimizer",
    "/api/v1/terms/BN",
    "/api/v1/terms/adam-optimizer/related",
    "/api/v1/terms/adam-optimizer/related?relation=uses",
    "/api/v1/categories",
    "/api/v1/categories/optimization",
    "/api/v1/health",
]


@pytest.mark.parametrize("url", GETS)
def test_every_get_has_an_etag_and_answers_304(client: TestClient, url: str) -> None:
    first = client.get(url)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    for header in (etag, f"W/{etag}", f'"stale", {etag}', "*"):
        again = client.get(url, headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag
    changed = client.get(url, headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200
    assert changed.json() == first.json()


def test_errors_carry_no_etag(client: TestClient) -> None:
    assert "etag" not in client.get("/api/v1/terms/nope").headers


def test_alias_and_slug_share_the_etag(client: TestClient) -> None:
    by_alias = client.get("/api/v1/terms/BN").headers["etag"]
    assert client.get("/api/v1/terms/batch-normalization").headers["etag"] == by_alias


def test_a_reload_changes_content_and_etag(
    client: TestClient, settings: Settings, data_dir: Path
) -> None:
    before = client.get("/api/v1/terms/adamw")
    terms = {**TERMS, "adamw": {**TERMS["adamw"], "summary": "Adam, decay decoupled."}}
    reload(settings.database_url, data_dir, terms)
    after = client.get("/api/v1/terms/adamw", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.json()["summary"] == "Adam, decay decoupled."
    assert after.headers["etag"] != before.headers["etag"]


class StatementCounter:
    """Counts the queries an engine runs (SQLite's explicit BEGIN is not a query)."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, _conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if not statement.startswith("BEGIN"):
            self.count += 1


@pytest.fixture
def cached_client(database_url: str, data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, data_dir=data_dir, cache_ttl=3600)
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_cached_lookup_costs_no_database_round_trip(cached_client: TestClient) -> None:
    counter = StatementCounter(cached_client.app.state.engine)  # type: ignore[attr-defined]
    first = cached_client.get("/api/v1/terms/adam-optimizer").json()
    assert counter.count > 0
    counter.count = 0
    for name in ("adam-optimizer", "Adam-Optimizer", "adam-optimizer"):
        assert cached_client.get(f"/api/v1/terms/{name}").json() == first
    assert counter.count == 0


def test_with_zero_ttl_each_hit_only_rechecks_the_version(client: TestClient) -> None:
    counter = StatementCounter(client.app.state.engine)  # type: ignore[attr-defined]
    client.get("/api/v1/terms/adam-optimizer")
    counter.count = 0
    client.get("/api/v1/terms/adam-optimizer")
    assert counter.count == 1


def test_a_load_through_another_engine_is_seen_before_the_ttl(
    cached_client: TestClient, settings: Settings
) -> None:
    """Another process's change is noticed by the watch (kb.watch), not by waiting out the
    TTL (an hour here)."""
    cached_client.get("/api/v1/terms/adamw")
    terms = {**TERMS, "adamw": {**TERMS["adamw"], "summary": "Changed."}}
    engine = make_engine(settings.database_url)
    loader.load(engine, read_glossary(write_glossary(settings.data_dir or Path(), terms)))
    engine.dispose()
    assert cached_client.get("/api/v1/terms/adamw").json()["summary"] == "Changed."
