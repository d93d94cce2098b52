"""The term graph: neighbourhoods to depth 3, shortest chains, the whole graph."""

import itertools
import random
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from kb import graph, loader, repository
from kb.app import create_app
from kb.config import Settings
from kb.content import read_glossary
from tests.kb.glossary_factory import TERMS, write_glossary

API = "/api/v1"


def related(client: TestClient, slug: str, **params: object) -> list[dict[str, Any]]:
    response = client.get(f"{API}/terms/{slug}/related", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_depth_one_is_the_direct_links(client: TestClient) -> None:
    items = related(client, "adam-optimizer")
    assert [(i["slug"], i["relation"], i["distance"]) for i in items] == [
        ("adamw", "has-variant", 1),
        ("momentum", "uses", 1),
        ("rmsprop", "uses", 1),
    ]
    assert items[1]["path"] == [
        {"source": "adam-optimizer", "relation": "uses", "target": "momentum"}
    ]


def test_deeper_neighbourhood_with_paths(client: TestClient) -> None:
    items = {i["slug"]: i for i in related(client, "adamw", depth=3)}
    assert "adamw" not in items
    assert {slug: i["distance"] for slug, i in items.items()} == {
        "adam-optimizer": 1,
        "momentum": 2,
        "rmsprop": 2,
        "gradient-descent": 3,
    }
    assert items["gradient-descent"]["path"] == [
        {"source": "adamw", "relation": "variant-of", "target": "adam-optimizer"},
        {"source": "adam-optimizer", "relation": "uses", "target": "momentum"},
        {"source": "momentum", "relation": "variant-of", "target": "gradient-descent"},
    ]
    assert items["gradient-descent"]["relation"] == "variant-of"


def test_each_term_once_at_its_shortest_distance(client: TestClient) -> None:
    items = related(client, "gradient-descent", depth=3)
    slugs = [i["slug"] for i in items]
    assert len(slugs) == len(set(slugs)) == len(TERMS) - 1
    distances = [i["distance"] for i in items]
    assert distances == sorted(distances)
    assert {i["slug"]: i["distance"] for i in items}["adam-optimizer"] == 2


def test_relation_filter_applies_to_every_step(client: TestClient) -> None:
    items = related(client, "adamw", depth=3, relation="variant-of")
    assert [i["slug"] for i in items] == ["adam-optimizer"]
    deeper = related(client, "rmsprop", depth=2, relation="variant-of")
    assert [i["slug"] for i in deeper] == ["gradient-descent"]


@pytest.mark.parametrize("depth", [0, 4, "two"])
def test_depth_out_of_range_is_422(client: TestClient, depth: object) -> None:
    response = client.get(f"{API}/terms/adamw/related", params={"depth": depth})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "depth"]


def path(client: TestClient, source: str, target: str) -> dict[str, Any]:
    response = client.get(f"{API}/graph/path", params={"from": source, "to": target})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_chain(body: dict[str, Any]) -> None:
    steps = body["steps"]
    assert body["length"] == len(steps)
    if steps:
        assert steps[0]["source"] == body["source"]
        assert steps[-1]["target"] == body["target"]
    for before, after in itertools.pairwise(steps):
        assert before["target"] == after["source"]


def test_shortest_path_with_aliases(client: TestClient) -> None:
    body = path(client, "AdamW", "backprop")
    assert (body["source"], body["target"], body["length"]) == ("adamw", "backpropagation", 4)
    assert_chain(body)
    assert body["steps"][0] == {
        "source": "adamw",
        "relation": "variant-of",
        "target": "adam-optimizer",
    }
    assert body["steps"][-1] == {
        "source": "gradient-descent",
        "relation": "uses",
        "target": "backpropagation",
    }


def test_path_reads_links_in_the_walking_direction(client: TestClient) -> None:
    body = path(client, "backpropagation", "batch-normalization")
    assert body["steps"] == [
        {"source": "backpropagation", "relation": "related", "target": "batch-normalization"}
    ]
    body = path(client, "gradient-descent", "momentum")
    assert body["steps"][0]["relation"] == "has-variant"


def test_path_to_itself_is_empty(client: TestClient) -> None:
    assert path(client, "bn", "batch-normalization") == {
        "source": "batch-normalization",
        "target": "batch-normalization",
        "length": 0,
        "steps": [],
    }


def test_path_with_unknown_term_is_404(client: TestClient) -> None:
    response = client.get(f"{API}/graph/path", params={"from": "adma", "to": "adamw"})
    assert response.status_code == 404
    assert "adam-optimizer" in response.json()["suggestions"]
    missing = client.get(f"{API}/graph/path", params={"from": "adamw"})
    assert missing.status_code == 422


def test_no_path_between_separate_parts_is_404(database_url: str, tmp_path: Path) -> None:
    terms = {**TERMS, "island": {**TERMS["gradient-descent"], "name": "Island", "aliases": []}}
    root = write_glossary(tmp_path / "data", terms)
    with TestClient(create_app(Settings(database_url=database_url, data_dir=root))) as client:
        response = client.get(f"{API}/graph/path", params={"from": "island", "to": "adamw"})
        assert response.status_code == 404
        assert "separate parts" in response.json()["detail"]
        assert related(client, "island", depth=3) == []


def test_whole_graph_and_one_category(client: TestClient) -> None:
    body = client.get(f"{API}/graph").json()
    assert len(body["nodes"]) == len(TERMS)
    assert len(body["edges"]) == 8
    assert {"source": "adamw", "relation": "variant-of", "target": "adam-optimizer"} in body[
        "edges"
    ]
    part = client.get(f"{API}/graph", params={"category": "fundamentals"}).json()
    assert {n["slug"] for n in part["nodes"]} == {"backpropagation", "batch-normalization"}
    assert part["edges"] == [
        {"source": "backpropagation", "relation": "related", "target": "batch-normalization"}
    ]
    assert client.get(f"{API}/graph", params={"category": "nope"}).status_code == 404


def random_glossary(size: int, links: int, seed: int) -> dict[str, dict[str, Any]]:
    rng = random.Random(seed)
    slugs = [f"t{i:03d}" for i in range(size)]
    terms: dict[str, dict[str, Any]] = {
        s: {
            "name": f"Term {s}",
            "category": "optimization",
            "kind": "concept",
            "summary": "s",
            "body": "b",
            "related": [],
        }
        for s in slugs
    }
    pairs: set[frozenset[str]] = set()
    while len(pairs) < links:
        a, b = rng.sample(slugs, 2)
        if frozenset((a, b)) not in pairs:
            pairs.add(frozenset((a, b)))
            terms[a]["related"].append({"term": b, "relation": rng.choice(["uses", "related"])})
    return terms


def bfs_lengths(terms: dict[str, dict[str, Any]], start: str) -> dict[str, int]:
    adjacency: dict[str, set[str]] = {s: set() for s in terms}
    for s, fields in terms.items():
        for link in fields["related"]:
            adjacency[s].add(link["term"])
            adjacency[link["term"]].add(s)
    lengths, queue = {start: 0}, deque([start])
    while queue:
        node = queue.popleft()
        for other in adjacency[node]:
            if other not in lengths:
                lengths[other] = lengths[node] + 1
                queue.append(other)
    return lengths


def test_shortest_path_matches_a_plain_bfs(engine: Engine, tmp_path: Path) -> None:
    terms = random_glossary(size=80, links=100, seed=7)
    loader.load(engine, read_glossary(write_glossary(tmp_path / "data", terms)))
    rng = random.Random(3)
    with Session(engine) as session:
        for _ in range(40):
            a, b = rng.sample(sorted(terms), 2)
            expected = bfs_lengths(terms, a).get(b)
            start, end = repository.find_term(session, a), repository.find_term(session, b)
            assert start is not None and end is not None
            steps = graph.shortest_path(session, start, end)
            assert (None if steps is None else len(steps)) == expected
            if steps:
                assert steps[0].source == a and steps[-1].target == b
                for step in steps:  # every step is a real link, named as seen from its source
                    source = repository.find_term(session, step.source)
                    assert source is not None and source.id is not None
                    seen = repository.related_terms(session, source.id)
                    assert (step.target, step.relation) in {(r.slug, r.relation) for r in seen}
                reached = graph.neighbourhood(session, start, 3)
                within = {r.term_id for r in reached}
                assert (end.id in within) == (expected <= 3)
