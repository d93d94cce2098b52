"""GET /api/v1/health."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kb.content import data_version
from kb.db import make_engine
from tests.kb.glossary_factory import TERMS


def test_health_reports_backend_terms_and_version(
    client: TestClient, database_url: str, data_dir: Path
) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "terms": len(TERMS),
        "database": "sqlite" if database_url.startswith("sqlite") else "postgresql",
        "data_version": data_version(data_dir),
        "semantic_search": {
            "state": "off",
            "detail": f"no model in {data_dir.parent / 'no-model'}: run `kb model fetch`",
        },
    }


@pytest.mark.parametrize(
    "unreachable",
    ["sqlite:////nonexistent-dir/kb.sqlite3", "postgresql+psycopg://postgres@127.0.0.1:1/test"],
)
def test_health_is_503_when_the_database_is_gone(client: TestClient, unreachable: str) -> None:
    client.app.state.engine = make_engine(unreachable)  # type: ignore[attr-defined]
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert "database" in response.json()["detail"]
