"""A database that stops answering under a running server (``kb serve``): fast 503s with
``Retry-After``, cached reads still served (with ``Age``), one log line per failure, and
recovery by itself.

PostgreSQL is reached through a test-owned TCP proxy (``tests.kb.tcp_proxy``) that is frozen
(nothing forwarded, sockets open: a frozen host) or stopped (connections closed and refused),
never the shared server itself. SQLite is locked by another process.

Every request has a client timeout of a few seconds: a server that hangs fails the test.
"""

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from kb.app import create_app
from kb.auth import new_key
from kb.config import Settings
from kb.db import make_engine
from kb.outage import unavailable_cause
from tests.kb.glossary_factory import TERMS
from tests.kb.live import serving
from tests.kb.tcp_proxy import Proxy

API = "/api/v1"
# The server answers within about 2 s (the default time limits); this leaves room for a busy
# machine, and is far below the minutes a request hung for before.
CLIENT_TIMEOUT_S = 6.0
KEY, DIGEST = new_key()
AUTH = {"Authorization": f"Bearer {KEY}"}
UNAVAILABLE_LOG = "database unavailable on"


def _assert_unavailable(response: httpx.Response, page: bool = False) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    if page:
        assert response.headers["content-type"].startswith("text/html")
        assert "<h1>Temporarily unavailable</h1>" in response.text
    else:
        assert "database is unavailable" in response.json()["detail"]


def _wait_for_health(http: httpx.Client, timeout_s: float = 20) -> int:
    """Ask /health until it answers 200; the number of 503s before that."""
    deadline = time.monotonic() + timeout_s
    failures = 0
    while (response := http.get(f"{API}/health")).status_code != 200:
        _assert_unavailable(response)
        failures += 1
        assert time.monotonic() < deadline, "the server did not recover"
        time.sleep(0.2)
    return failures


def _log_lines(log_path: Path) -> list[str]:
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text
    return [line for line in text.splitlines() if UNAVAILABLE_LOG in line]


@pytest.fixture
def proxied_url(database_url: str) -> Iterator[tuple[Proxy, str]]:
    url = make_url(database_url)
    with Proxy(url.port or 5432, url.host or "127.0.0.1") as proxy:
        yield proxy, url.set(port=proxy.port).render_as_string(hide_password=False)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("outage", ["freeze", "stop"])
def test_a_postgresql_outage_answers_503_serves_the_cache_and_recovers(
    outage: str, proxied_url: tuple[Proxy, str], data_dir: Path, tmp_path: Path
) -> None:
    proxy, url = proxied_url
    log_path = tmp_path / "server.log"
    # A TTL of 0: every request asks whether the data changed, so the cache meets the outage.
    env = {"KB_CACHE_TTL": "0"}
    with (
        serving(data_dir, url, env=env, log_path=log_path) as root,
        httpx.Client(base_url=root, timeout=CLIENT_TIMEOUT_S) as http,
    ):
        cached = {path: http.get(path) for path in (f"{API}/terms/adamw", "/terms/adamw")}
        assert all(r.status_code == 200 and "age" not in r.headers for r in cached.values())

        getattr(proxy, outage)()
        for path, before in cached.items():
            during = http.get(path)
            assert during.status_code == 200
            assert during.content == before.content
            assert int(during.headers["age"]) >= 0
        _assert_unavailable(http.get(f"{API}/health"))
        _assert_unavailable(http.get(f"{API}/terms/momentum"))
        _assert_unavailable(http.get("/terms/momentum"), page=True)
        failures = 3
        missing = http.get("/nothing/here")  # a 404 page, without the closest terms it has not
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")

        # Many requests that need the database at once leave the server free for the rest.
        uncached = [slug for slug in TERMS if slug != "adamw"]
        paths = [f"{API}/terms/{slug}?n={n}" for n in range(4) for slug in uncached]
        with ThreadPoolExecutor(16) as pool:
            burst = list(pool.map(http.get, paths))
        assert {r.status_code for r in burst} == {503}
        failures += len(burst)
        assert http.get("/static/site.css").status_code == 200
        assert http.get(f"{API}/demos").status_code == 200
        assert len(_log_lines(log_path)) == failures

        proxy.resume()
        failures += _wait_for_health(http)
        assert http.get(f"{API}/terms/momentum").status_code == 200
        after = http.get(f"{API}/terms/adamw")
        assert after.status_code == 200
        assert "age" not in after.headers
    assert len(_log_lines(log_path)) == failures


_HOLD_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
connection.execute("ROLLBACK")
"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sqlite_writer_locked_out_by_another_process_gets_503_at_once(
    database_url: str, data_dir: Path, tmp_path: Path
) -> None:
    log_path = tmp_path / "server.log"
    env = {"KB_API_KEYS": json.dumps({"alice": DIGEST})}
    path = make_url(database_url).database
    assert path is not None
    with (
        serving(data_dir, database_url, env=env, log_path=log_path) as root,
        httpx.Client(base_url=root, timeout=CLIENT_TIMEOUT_S) as http,
    ):
        url = f"{API}/terms/adamw"
        tag = http.get(url).headers["etag"]
        change = {"summary": "Decoupled."}
        headers = {**AUTH, "If-Match": tag}
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLD_LOCK, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "locked"
            _assert_unavailable(http.patch(url, json=change, headers=headers))
            assert http.get(url).status_code == 200  # readers are not locked out
        finally:
            holder.communicate("", timeout=10)
        assert http.patch(url, json=change, headers=headers).status_code == 200
    (line,) = _log_lines(log_path)
    assert "database is locked" in line


def _read_only(database_url: str) -> str:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///file:{url.database}?mode=ro&uri=true"
    options = f"{url.query['options']} -cdefault_transaction_read_only=on"
    return url.update_query_dict({"options": options}).render_as_string(hide_password=False)


def test_a_write_to_a_read_only_database_is_a_503(settings: Settings, database_url: str) -> None:
    settings = settings.model_copy(update={"api_keys": {"alice": DIGEST}})
    with TestClient(create_app(settings)) as client:
        url = f"{API}/terms/adamw"
        headers = {**AUTH, "If-Match": client.get(url).headers["etag"]}
        app: Any = client.app
        app.state.engine = make_engine(_read_only(database_url), settings.database_limits())
        try:
            _assert_unavailable(client.patch(url, json={"summary": "Read only."}, headers=headers))
        finally:
            app.state.engine.dispose()
        assert client.get(url).status_code == 200


def test_only_failures_of_the_database_count_as_unavailable() -> None:
    locked = OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))
    assert unavailable_cause(locked) == "database is locked"
    bug = ProgrammingError("SELECT", {}, sqlite3.ProgrammingError("wrong number of bindings"))
    assert unavailable_cause(bug) is None
    assert unavailable_cause(ValueError("not the database")) is None
