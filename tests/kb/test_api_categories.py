"""GET /api/v1/categories and /categories/{slug}."""

from fastapi.testclient import TestClient

from tests.kb.glossary_factory import CATEGORIES

API = "/api/v1"


def test_categories_in_file_order_with_term_counts(client: TestClient) -> None:
    items = client.get(f"{API}/categories").json()["items"]
    assert [c["slug"] for c in items] == [c["slug"] for c in CATEGORIES]
    assert {c["slug"]: c["term_count"] for c in items} == {
        "optimization": 5,
        "fundamentals": 2,
        "empty": 0,
    }
    assert items[0]["description"] == CATEGORIES[0]["description"]


def test_category_with_its_terms(client: TestClient) -> None:
    body = client.get(f"{API}/categories/Fundamentals").json()
    assert body["slug"] == "fundamentals"
    assert body["term_count"] == 2
    assert [t["slug"] for t in body["terms"]] == ["backpropagation", "batch-normalization"]
    assert body["terms"][0]["category"] == "fundamentals"


def test_empty_category(client: TestClient) -> None:
    body = client.get(f"{API}/categories/empty").json()
    assert (body["term_count"], body["terms"]) == (0, [])


def test_unknown_category_is_404_with_suggestions(client: TestClient) -> None:
    response = client.get(f"{API}/categories/optimisation")
    assert response.status_code == 404
    assert response.json()["suggestions"] == ["optimization"]
    assert "optimisation" in response.json()["detail"]
