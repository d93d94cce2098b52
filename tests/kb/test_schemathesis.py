"""Property-based tests over the whole OpenAPI schema, on both databases.

Schemathesis generates requests from the schema (valid and invalid ones); every response must
be documented, match its schema and never be a 5xx.
"""

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from kb.app import create_app
from kb.auth import new_key
from kb.config import Settings

# Only the schema is read from this app; requests go to ``live_app`` below.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(Settings(database_url="sqlite://"))
)


KEY, DIGEST = new_key()


@pytest.fixture
def live_app(settings: Settings) -> Iterator[FastAPI]:
    # With a valid key, generated writes get past authentication to validation and the rules.
    app = create_app(settings.model_copy(update={"api_keys": {"schemathesis": DIGEST}}))
    with TestClient(app):  # runs the lifespan: engine, cache, data load
        yield app


@schema.parametrize()
@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case, live_app: FastAPI) -> None:
    # A write that fits the schema may still name an unknown category or term, or a version
    # that is not current: 422, 412 and 428 depend on the data, which the schema cannot say.
    writes = case.method.upper() in {"POST", "PUT", "PATCH", "DELETE"} and "/demo" not in case.path
    case.call_and_validate(
        app=live_app,
        headers={"Authorization": f"Bearer {KEY}"},
        excluded_checks=[positive_data_acceptance] if writes else [],
    )
