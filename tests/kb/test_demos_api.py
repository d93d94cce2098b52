"""GET /api/v1/demos, GET/POST /api/v1/terms/{slug}/demo and its plot.svg.

The small test glossary (both databases) has one term with a demo, adam-optimizer; the bundled
glossary in data/ (SQLite only) reaches every demo through its terms.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb.app import create_app
from kb.config import Settings
from kb.demos import registry

API = "/api/v1"
DATA = Path(__file__).resolve().parents[2] / "data"


def _strict_json(text: str) -> Any:
    def reject(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=reject)


# --- describing demos ----------------------------------------------------------------------


def test_catalogue_lists_every_demo_with_its_parameters(client: TestClient) -> None:
    response = client.get(f"{API}/demos")
    assert response.status_code == 200
    items = {item["slug"]: item for item in response.json()["items"]}
    assert set(items) == set(registry.DEMOS)
    adam = items["adam-optimizer"]
    assert adam["term"] == "adam-optimizer" and "rmsprop" in adam["terms"]
    steps = adam["parameters"]["properties"]["steps"]
    assert (steps["default"], steps["minimum"], steps["unit"]) == (500, 1, "steps")
    assert adam["links"] == {
        "self": f"{API}/terms/adam-optimizer/demo",
        "plot": f"{API}/terms/adam-optimizer/demo/plot.svg",
        "term": f"{API}/terms/adam-optimizer",
    }
    etag = response.headers["etag"]
    assert client.get(f"{API}/demos", headers={"If-None-Match": etag}).status_code == 304


def test_a_terms_demo_shows_the_source_it_runs(client: TestClient) -> None:
    response = client.get(f"{API}/terms/ADAM/demo")
    assert response.status_code == 200
    body = response.json()
    assert (body["slug"], body["term"]) == ("adam-optimizer", "adam-optimizer")
    assert body["parameters"]["additionalProperties"] is False
    sources = {source["reference"]: source for source in body["sources"]}
    adam = sources["reference.optim:Adam"]
    assert adam["source"].startswith("class Adam(Optimizer):")
    assert (adam["module"], adam["function"]) == ("reference.optim", "Adam")
    assert adam["equations"] == f"{API}/terms/adam-optimizer"
    assert sources["reference.optim:SGD"]["term"] == "stochastic-gradient-descent"


def test_a_term_without_a_demo_says_which_terms_have_one(client: TestClient) -> None:
    for method in ("GET", "POST"):
        response = client.request(method, f"{API}/terms/momentum/demo")
        assert response.status_code == 404
        detail = response.json()["detail"]
        assert "'momentum' has no demo" in detail and "adam-optimizer" in detail
        assert response.json()["suggestions"] == ["adam-optimizer"]
    missing = client.get(f"{API}/terms/adma/demo")
    assert missing.status_code == 404
    assert "adam-optimizer" in missing.json()["suggestions"]
    assert client.get(f"{API}/terms/momentum/demo/plot.svg").status_code == 404


# --- running demos ---------------------------------------------------------------------------


def test_a_run_returns_params_metrics_series_and_a_plot_link(client: TestClient) -> None:
    response = client.post(
        f"{API}/terms/adam/demo", json={"steps": 60, "optimizers": ["adam", "sgd"], "seed": 3}
    )
    assert response.status_code == 200
    body = _strict_json(response.text)
    assert (body["demo"], body["term"], body["seed"], body["cached"]) == (
        "adam-optimizer", "adam-optimizer", 3, False
    )  # fmt: skip
    assert body["params"]["steps"] == 60 and body["params"]["problem"] == "rosenbrock"
    assert body["params"]["adam_lr"] == 0.05  # the default for the problem, filled in
    assert "seed" not in body["params"]
    assert body["reference"] == ["reference.optim:Adam", "reference.optim:SGD"]
    assert body["metrics"]["diverged"] == 0 and "adam.final_loss" in body["metrics"]
    assert not [name for name in body["metrics"] if "time" in name or name.endswith("_ms")]
    assert len(body["series"]["loss/adam"]) == 61 and body["series"]["path/sgd"][0] == [-1.2, 1]
    assert body["elapsed_ms"] > 0
    assert body["plot"].startswith(f"{API}/terms/adam-optimizer/demo/plot.svg?")

    again = client.post(
        f"{API}/terms/Adam/demo", json={"optimizers": ["adam", "sgd"], "seed": 3, "steps": 60}
    ).json()
    assert again["cached"] is True
    assert (again["metrics"], again["series"]) == (body["metrics"], body["series"])


def test_no_body_runs_the_defaults(client: TestClient) -> None:
    response = client.post(f"{API}/terms/adam-optimizer/demo")
    assert response.status_code == 200
    assert response.json()["params"]["steps"] == 500
    assert response.json()["plot"].endswith(
        "plot.svg?adam_lr=0.05&sgd_lr=0.001&momentum_lr=0.001&rmsprop_lr=0.01&adagrad_lr=0.5"
    )


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"bogus": 1}, ["body", "bogus"], "Extra inputs are not permitted"),
        ({"steps": 0}, ["body", "steps"], "greater than or equal to 1"),
        ({"steps": "many"}, ["body", "steps"], "valid integer"),
        ({"optimizers": ["adam", "adam"]}, ["body", "optimizers"], "twice"),
        ({"optimizers": ["lion"]}, ["body", "optimizers", 0], "Input should be"),
        ({"sgd_lr": -1}, ["body", "sgd_lr"], "greater than 0"),
        (
            {"steps": 10_000, "optimizers": ["adam", "sgd", "rmsprop", "adagrad"]},
            ["body", "steps"],
            "lower steps to at most",
        ),
        ([1, 2], ["body"], "JSON object"),
    ],
)
def test_invalid_or_too_costly_parameters_are_422(
    client: TestClient, body: Any, loc: list[Any], words: str
) -> None:
    response = client.post(f"{API}/terms/adam-optimizer/demo", json=body)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert errors[0]["loc"] == loc
    assert words in errors[0]["msg"]


def test_malformed_and_oversized_bodies_are_refused(client: TestClient) -> None:
    url = f"{API}/terms/adam-optimizer/demo"
    headers = {"Content-Type": "application/json"}
    malformed = client.post(url, content=b"{steps: 1", headers=headers)
    assert malformed.status_code == 422 and "invalid JSON" in malformed.json()["detail"][0]["msg"]
    huge = client.post(url, content=b" " * (2 << 20), headers=headers)
    assert huge.status_code == 413 and "at most" in huge.json()["detail"]


def test_the_plot_is_svg_and_cacheable(client: TestClient) -> None:
    run = client.post(f"{API}/terms/adam/demo", json={"steps": 30, "problem": "quadratic"}).json()
    response = client.get(run["plot"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.content.startswith(b"<?xml") and b"<svg" in response.content
    assert "max-age" in response.headers["cache-control"]
    etag = response.headers["etag"]
    assert client.get(run["plot"], headers={"If-None-Match": etag}).status_code == 304
    again = client.get(run["plot"])
    assert (again.content, again.headers["etag"]) == (response.content, etag)


@pytest.mark.parametrize(
    ("query", "loc"),
    [("steps=0", ["query", "steps"]), ("colour=red", ["query", "colour"])],
)
def test_plot_parameters_are_validated(client: TestClient, query: str, loc: list[str]) -> None:
    response = client.get(f"{API}/terms/adam-optimizer/demo/plot.svg?{query}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_other_methods_are_405_listing_the_allowed_ones(client: TestClient) -> None:
    response = client.request("OPTIONS", f"{API}/terms/adam-optimizer/demo")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert client.delete(f"{API}/terms/adam-optimizer/demo/plot.svg").headers["allow"] == "GET"


def test_openapi_documents_the_demo_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    run = paths["/api/v1/terms/{slug}/demo"]["post"]
    assert {"200", "404", "413", "422", "503", "504"} <= set(run["responses"])
    plot = paths["/api/v1/terms/{slug}/demo/plot.svg"]["get"]["responses"]
    assert list(plot["200"]["content"]) == ["image/svg+xml"]
    assert list(plot["404"]["content"]) == ["application/json"]


# --- every demo, through the bundled glossary ------------------------------------------------


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    database = tmp_path_factory.mktemp("bundled") / "kb.sqlite3"
    settings = Settings(database_url=f"sqlite:///{database}", data_dir=DATA, cache_ttl=0)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("slug", sorted(registry.DEMOS))
def test_every_demo_runs_and_plots_through_its_term(bundled: TestClient, slug: str) -> None:
    demo = registry.DEMOS[slug]
    response = bundled.post(f"{API}/terms/{demo.terms[0]}/demo", json={})
    if demo.needs_model:  # the tests' server has no model (tests/conftest.py)
        assert response.status_code == 503, response.text
        assert "kb model fetch" in response.json()["detail"]
        plot = bundled.get(f"{API}/terms/{demo.terms[0]}/demo/plot.svg")
        assert plot.status_code == 503 and "kb model fetch" in plot.json()["detail"]
        return
    assert response.status_code == 200, response.text
    body = _strict_json(response.text)
    assert body["demo"] == slug and body["metrics"]["diverged"] == 0
    plot = bundled.get(body["plot"])
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/svg+xml"


def test_every_term_of_a_demo_leads_to_it(bundled: TestClient) -> None:
    for demo in registry.DEMOS.values():
        for term in demo.terms:
            response = bundled.get(f"{API}/terms/{term}/demo")
            assert response.status_code == 200, term
            assert response.json()["slug"] == demo.slug
            assert all(source["source"] for source in response.json()["sources"])
    detail = bundled.get(f"{API}/terms/epoch/demo").json()["detail"]
    assert "'epoch' has no demo" in detail and "batch-normalization" in detail
