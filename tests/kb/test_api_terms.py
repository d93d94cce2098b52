"""GET /api/v1/terms, /terms/{slug} and /terms/{slug}/related."""

import pytest
from fastapi.testclient import TestClient

from tests.kb.glossary_factory import TERMS

API = "/api/v1"


def test_list_is_alphabetical_and_paginated(client: TestClient) -> None:
    body = client.get(f"{API}/terms").json()
    names = [item["name"] for item in body["items"]]
    assert names == sorted((t["name"] for t in TERMS.values()), key=str.casefold)
    assert body["total"] == len(TERMS)
    assert (body["limit"], body["offset"]) == (20, 0)
    assert set(body["items"][0]) == {"slug", "name", "summary", "category", "kind"}


@pytest.mark.parametrize(
    ("limit", "offset", "expected"),
    [
        (1, 0, ["adam-optimizer"]),
        (2, 1, ["adamw", "backpropagation"]),
        (3, 6, ["rmsprop"]),
        (5, 7, []),
        (100, 0, None),
    ],
)
def test_pagination_edges(
    client: TestClient, limit: int, offset: int, expected: list[str] | None
) -> None:
    body = client.get(f"{API}/terms", params={"limit": limit, "offset": offset}).json()
    slugs = [item["slug"] for item in body["items"]]
    assert slugs == (expected if expected is not None else slugs)
    assert len(slugs) == min(limit, max(0, len(TERMS) - offset))
    assert body["total"] == len(TERMS)


def test_filters(client: TestClient) -> None:
    def slugs(**params: str) -> list[str]:
        return [i["slug"] for i in client.get(f"{API}/terms", params=params).json()["items"]]

    assert slugs(category="fundamentals") == ["backpropagation", "batch-normalization"]
    assert slugs(kind="concept") == ["backpropagation"]
    assert slugs(letter="a") == slugs(letter="A") == ["adam-optimizer", "adamw"]
    assert slugs(category="optimization", letter="g") == ["gradient-descent"]
    assert slugs(category="empty") == []
    assert slugs(letter="z") == []


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"kind": "theory"}, "kind"),
        ({"letter": "ab"}, "letter"),
        ({"letter": "-"}, "letter"),
    ],
)
def test_out_of_range_parameters_get_422_naming_them(
    client: TestClient, params: dict[str, object], parameter: str
) -> None:
    response = client.get(f"{API}/terms", params=params)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", parameter]
    assert error["msg"]


def test_unknown_category_filter_is_404_listing_the_known_ones(client: TestClient) -> None:
    response = client.get(f"{API}/terms", params={"category": "optimisation"})
    assert response.status_code == 404
    body = response.json()
    assert "'category'" in body["detail"]
    assert "optimization" in body["detail"] and "fundamentals" in body["detail"]
    assert body["suggestions"] == ["optimization"]


def test_full_record(client: TestClient) -> None:
    response = client.get(f"{API}/terms/adam-optimizer")
    assert response.status_code == 200
    term = response.json()
    source = TERMS["adam-optimizer"]
    assert term["slug"] == "adam-optimizer"
    assert term["name"] == source["name"]
    assert term["aliases"] == source["aliases"]
    assert term["summary"] == source["summary"]
    assert term["body"] == source["body"]
    assert term["category"] == {"slug": "optimization", "name": "Optimization"}
    assert term["kind"] == "algorithm"
    assert term["references"] == [{"doi": None, **ref} for ref in source["references"]]
    assert [(r["slug"], r["relation"]) for r in term["related"]] == [
        ("adamw", "has-variant"),
        ("momentum", "uses"),
        ("rmsprop", "uses"),
    ]
    assert term["related"][1]["summary"] == TERMS["momentum"]["summary"]
    assert term["demo"] == {"slug": "adam-optimizer", "href": "/api/v1/terms/adam-optimizer/demo"}
    assert term["links"] == {
        "self": "/api/v1/terms/adam-optimizer",
        "related": "/api/v1/terms/adam-optimizer/related",
        "demo": "/api/v1/terms/adam-optimizer/demo",
    }


def test_term_without_demo_has_null_demo(client: TestClient) -> None:
    term = client.get(f"{API}/terms/momentum").json()
    assert term["demo"] is None and term["links"]["demo"] is None


def test_links_read_from_both_ends_with_inverse_names(client: TestClient) -> None:
    related = {
        r["slug"]: r["relation"]
        for r in client.get(f"{API}/terms/gradient-descent").json()["related"]
    }
    assert related == {
        "momentum": "has-variant",
        "rmsprop": "has-variant",
        "batch-normalization": "contrasts-with",
        "backpropagation": "uses",
    }
    adamw = client.get(f"{API}/terms/adamw").json()["related"]
    assert [(r["slug"], r["relation"]) for r in adamw] == [("adam-optimizer", "variant-of")]


@pytest.mark.parametrize(
    "name",
    [
        "BN", "bn", "batch norm", "Batch%20Norm", "BATCH-NORMALIZATION", "Batch normalization",
        # spaces, hyphens, underscores, apostrophes and a plural "s" do not count
        "batchnorm", "batch_norm", "Batch-Normalizations", "batch%E2%80%99norm", "BNs",
    ],
)  # fmt: skip
def test_lookup_by_alias_name_or_slug_in_any_case(client: TestClient, name: str) -> None:
    response = client.get(f"{API}/terms/{name}")
    assert response.status_code == 200
    assert response.json()["slug"] == "batch-normalization"


def test_unknown_term_is_404_with_suggestions(client: TestClient) -> None:
    response = client.get(f"{API}/terms/adma")
    assert response.status_code == 404
    body = response.json()
    assert "adma" in body["detail"]
    assert body["suggestions"][0] == "adam-optimizer"


def test_unknown_term_far_from_everything_has_no_suggestions(client: TestClient) -> None:
    body = client.get(f"{API}/terms/zzzzzzzzzzzzzzzz").json()
    assert body["suggestions"] == []


def test_overlong_slug_is_422(client: TestClient) -> None:
    response = client.get(f"{API}/terms/{'a' * 201}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "slug"]


def test_related_endpoint(client: TestClient) -> None:
    body = client.get(f"{API}/terms/Adam/related").json()
    assert body["term"] == "adam-optimizer"
    assert body["relation"] is None
    assert [r["slug"] for r in body["items"]] == ["adamw", "momentum", "rmsprop"]


def test_related_filtered_by_relation(client: TestClient) -> None:
    body = client.get(f"{API}/terms/gradient-descent/related", params={"relation": "has-variant"})
    assert [r["slug"] for r in body.json()["items"]] == ["momentum", "rmsprop"]
    none = client.get(f"{API}/terms/adamw/related", params={"relation": "uses"}).json()
    assert none["items"] == []


def test_related_rejects_unknown_relation_and_term(client: TestClient) -> None:
    bad = client.get(f"{API}/terms/adamw/related", params={"relation": "cousin-of"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "relation"]
    missing = client.get(f"{API}/terms/adamz/related")
    assert missing.status_code == 404
    assert "adamw" in missing.json()["suggestions"]
