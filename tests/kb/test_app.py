"""create_app: start-up loading, reloading on changed data, refusing invalid data."""

import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from kb.app import create_app
from kb.config import Settings
from kb.content import ContentError, data_version
from tests.kb.glossary_factory import TERMS, glossary_with, glossary_without, write_glossary
from tests.kb.live import free_port


def health(settings: Settings) -> dict[str, object]:
    with TestClient(create_app(settings)) as client:
        body: dict[str, object] = client.get("/api/v1/health").json()
        return body


def test_first_start_loads_then_later_starts_reload_only_changes(
    database_url: str, tmp_path: Path
) -> None:
    root = write_glossary(tmp_path / "data")
    settings = Settings(database_url=database_url, data_dir=root)
    assert health(settings)["terms"] == len(TERMS)
    assert health(settings)["data_version"] == data_version(root)
    write_glossary(root, glossary_without("rmsprop"))
    after = health(settings)
    assert after["terms"] == len(TERMS) - 1
    assert after["data_version"] == data_version(root)


def test_start_without_data_serves_an_empty_glossary(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/health").json()["terms"] == 0
        assert client.get("/api/v1/health").json()["data_version"] is None
        assert client.get("/api/v1/terms").json() == {
            "items": [],
            "total": 0,
            "limit": 20,
            "offset": 0,
        }


def test_start_with_invalid_data_fails_and_keeps_the_old_content(
    database_url: str, tmp_path: Path
) -> None:
    root = write_glossary(tmp_path / "data")
    settings = Settings(database_url=database_url, data_dir=root)
    before = health(settings)
    write_glossary(root, glossary_with(adamw={**TERMS["adamw"], "category": "nowhere"}))
    with (
        pytest.raises(ContentError, match="unknown category 'nowhere'"),
        TestClient(create_app(settings)),
    ):
        pass
    assert health(Settings(database_url=database_url)) == before


def test_openapi_documents_every_route() -> None:
    schema = create_app(Settings(database_url="sqlite://")).openapi()
    assert set(schema["paths"]) == {
        "/api/v1/terms",
        "/api/v1/terms/{slug}",
        "/api/v1/terms/{slug}/related",
        "/api/v1/terms/{slug}/history",
        "/api/v1/terms/{slug}/similar",
        "/api/v1/categories",
        "/api/v1/categories/{slug}",
        "/api/v1/search",
        "/api/v1/suggest",
        "/api/v1/graph",
        "/api/v1/graph/path",
        "/api/v1/demos",
        "/api/v1/terms/{slug}/demo",
        "/api/v1/terms/{slug}/demo/plot.svg",
        "/api/v1/health",
        "/api/v1/export/{format}",
    }
    assert {"404", "503"} <= set(schema["paths"]["/api/v1/terms/{slug}"]["get"]["responses"])
    term = schema["paths"]["/api/v1/terms/{slug}"]
    assert set(term) == {"get", "put", "patch", "delete"}
    for method in ("put", "patch", "delete"):
        assert term[method]["security"] == [{"HTTPBearer": []}]
        assert {"401", "404", "409", "412", "428"} <= set(term[method]["responses"])


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/terms", "GET, POST"),
        ("POST", "/api/v1/terms/adamw", "GET, PUT, PATCH, DELETE"),
        ("DELETE", "/api/v1/health", "GET"),
    ],
)
def test_405_names_every_method_of_the_path(method: str, path: str, allowed: str) -> None:
    with TestClient(create_app(Settings(database_url="sqlite://"))) as client:
        response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json() == {"detail": "Method Not Allowed"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unexpected_error_is_one_logged_500_on_a_connection_that_stays_usable(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    # A real server: only it keeps (or drops) connections. Its log goes through the root
    # logger (log_config=None), where caplog sees it.
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            failed = http.get("/api/v1/boom")
            assert failed.status_code == 500
            assert failed.json() == {"detail": "internal server error"}
            assert http.get("/api/v1/health").status_code == 200  # the same connection
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    tracebacks = [record for record in caplog.records if record.exc_info]
    assert [record.getMessage() for record in tracebacks] == ["unhandled error on GET /api/v1/boom"]
