"""Shared fixtures (tests/kb, tests/web): database tests run on SQLite and on PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432 (override with KB_TEST_POSTGRES_URL). It is never
skipped: if it cannot be reached the tests fail. Each test gets a schema of its own, dropped
afterwards.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine, make_url

from kb import encoder_files
from kb.app import create_app
from kb.config import Settings
from kb.db import make_engine, migrate
from tests.kb.glossary_factory import write_glossary

# The sentence encoder's files, where `kb model fetch` puts them (KB_MODEL_DIR is honoured);
# every other Settings() of the tests sees no model, so that semantic search is off unless a
# test asks for it with the ``model_dir`` fixture.
MODEL_DIR = Settings().model_dir
os.environ["KB_MODEL_DIR"] = "/nonexistent/kb-tests-have-no-model"

POSTGRES_URL = os.environ.get(
    "KB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kb.sqlite3'}"
        return
    schema = f"kb_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_glossary(tmp_path / "data")


@pytest.fixture
def settings(database_url: str, data_dir: Path) -> Settings:
    # No model: semantic search is off unless a test asks for it (tests/kb/test_semantic*.py).
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        cache_ttl=0,
        model_dir=data_dir.parent / "no-model",
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The real sentence encoder's files, fetched once (as `kb model fetch` does) and verified."""
    encoder_files.fetch(MODEL_DIR)
    return MODEL_DIR
