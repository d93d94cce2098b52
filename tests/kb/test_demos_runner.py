"""The demo runner's safety: time limit with a kill, refusal under saturation, NaN, crashes.

These use demos defined for tests (tests/kb/demo_fixtures.py) on an SQLite glossary; the
database plays no part in what is tested. Nothing here measures time except through the
time limit itself.
"""

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kb.app import create_app
from kb.config import Settings
from kb.demos.runner import Runner
from tests.kb.demo_fixtures import DEMO_OF_TERM, registered_test_demos
from tests.kb.glossary_factory import TERMS, write_glossary

API = "/api/v1"


def _strict_json(text: str) -> Any:
    def reject(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=reject)


@contextmanager
def demo_client(tmp_path: Path, **settings: Any) -> Iterator[TestClient]:
    terms = {slug: dict(fields) for slug, fields in TERMS.items()}
    for slug, demo in DEMO_OF_TERM.items():
        terms[slug]["demo"] = demo
    data = write_glossary(tmp_path / "data", terms)
    config = Settings(
        database_url=f"sqlite:///{tmp_path / 'kb.sqlite3'}", data_dir=data, cache_ttl=0, **settings
    )
    with registered_test_demos(), TestClient(create_app(config)) as client:
        yield client


def runner(client: TestClient) -> Runner:
    found: Runner = client.app.state.demo_runner  # type: ignore[attr-defined]
    return found


def wait_until(condition: Any, what: str, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def test_a_run_past_the_time_limit_is_killed_and_answered_504(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    with demo_client(tmp_path, demo_timeout_s=0.5) as client:
        response = client.post(f"{API}/terms/momentum/demo", json={"pid_file": str(pid_file)})
        assert response.status_code == 504
        detail = response.json()["detail"]
        assert "0.5 s" in detail and "stopped" in detail
        pid = int(pid_file.read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the worker is gone, not merely abandoned
        assert runner(client).active == 0
        # The API and the runner keep working.
        assert client.get(f"{API}/terms/momentum").status_code == 200
        again = client.post(f"{API}/terms/gradient-descent/demo", json={"seed": 7})
        assert again.status_code == 200
        assert again.json()["metrics"]["answer"] == 42


def test_a_full_runner_answers_503_at_once_and_reads_go_on(tmp_path: Path) -> None:
    with demo_client(tmp_path, demo_timeout_s=3.0, demo_concurrency=1) as client:
        results: list[httpx.Response] = []
        slow = threading.Thread(
            target=lambda: results.append(client.post(f"{API}/terms/momentum/demo", json={}))
        )
        slow.start()
        wait_until(lambda: runner(client).active == 1, "the slow demo to start")

        refused = client.post(f"{API}/terms/gradient-descent/demo", json={})
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert "busy" in refused.json()["detail"]
        assert client.get(f"{API}/demos").status_code == 200
        for slug in ("adam-optimizer", "momentum", "BN"):
            assert client.get(f"{API}/terms/{slug}").status_code == 200
        assert client.get(f"{API}/terms/momentum/demo").status_code == 200

        slow.join()
        assert results[0].status_code == 504
        assert client.post(f"{API}/terms/gradient-descent/demo", json={}).status_code == 200


def test_identical_requests_share_one_run(tmp_path: Path) -> None:
    with demo_client(tmp_path, demo_timeout_s=1.0, demo_concurrency=1) as client:
        results: list[int] = []

        def post() -> None:
            results.append(client.post(f"{API}/terms/momentum/demo", json={}).status_code)

        threads = [threading.Thread(target=post) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # One worker slot, three identical requests: they share the run (all time out),
        # none is refused for want of a slot.
        assert results == [504, 504, 504]


def test_nan_and_infinity_become_null_and_mark_the_run_diverged(tmp_path: Path) -> None:
    with demo_client(tmp_path) as client:
        response = client.post(f"{API}/terms/rmsprop/demo", json={})
        assert response.status_code == 200
        body = _strict_json(response.text)
        assert body["metrics"] == {
            "nan": None, "inf": None, "minus_inf": None, "fine": 1.5, "diverged": 1
        }  # fmt: skip
        assert body["series"] == {
            "values": [1.0, None, None, 2.0],
            "pairs": [[0.0, 1.0], [1.0, None], [None, 3.0]],
        }
        plot = client.get(body["plot"])
        assert plot.status_code == 200 and plot.headers["content-type"] == "image/svg+xml"


def test_a_worker_that_dies_gives_500_and_the_api_goes_on(tmp_path: Path) -> None:
    with demo_client(tmp_path) as client:
        response = client.post(f"{API}/terms/backpropagation/demo", json={})
        assert response.status_code == 500
        assert "exit code 3" in response.json()["detail"]
        assert runner(client).active == 0
        assert client.post(f"{API}/terms/gradient-descent/demo", json={}).status_code == 200


def test_a_worker_cannot_take_more_memory_than_allowed(tmp_path: Path) -> None:
    with demo_client(tmp_path, demo_memory_mb=64) as client:
        refused = client.post(f"{API}/terms/adamw/demo", json={"megabytes": 1024})
        assert refused.status_code == 500
        assert "MemoryError" in refused.json()["detail"]
        allowed = client.post(f"{API}/terms/adamw/demo", json={"megabytes": 16})
        assert allowed.status_code == 200


def test_results_are_cached_by_parameters_and_seed(tmp_path: Path) -> None:
    with demo_client(tmp_path, demo_cache_size=1) as client:
        first = client.post(f"{API}/terms/gradient-descent/demo", json={"seed": 1}).json()
        again = client.post(f"{API}/terms/gradient-descent/demo", json={"seed": 1}).json()
        other = client.post(f"{API}/terms/gradient-descent/demo", json={"seed": 2}).json()
        evicted = client.post(f"{API}/terms/gradient-descent/demo", json={"seed": 1}).json()
        assert (first["cached"], again["cached"], other["cached"]) == (False, True, False)
        assert again["metrics"] == first["metrics"] and again["elapsed_ms"] == first["elapsed_ms"]
        assert other["metrics"]["seed"] == 2
        assert evicted["cached"] is False  # a cache of one entry forgot it


@pytest.mark.anyio
async def test_the_lifespan_kills_runs_in_progress(tmp_path: Path) -> None:
    # The app's lifespan is entered directly and requests go through the ASGI transport, all on
    # one event loop. (Leaving a TestClient while a request is in flight can deadlock: its abort
    # closes the response stream from the test's thread, and the loop never wakes up.)
    pid_file = tmp_path / "worker.pid"
    terms = {slug: dict(fields) for slug, fields in TERMS.items()}
    terms["momentum"]["demo"] = DEMO_OF_TERM["momentum"]
    data = write_glossary(tmp_path / "data", terms)
    config = Settings(
        database_url=f"sqlite:///{tmp_path / 'kb.sqlite3'}", data_dir=data, demo_timeout_s=60.0
    )
    app = create_app(config)
    transport = httpx.ASGITransport(app)
    with registered_test_demos():
        async with httpx.AsyncClient(transport=transport, base_url="http://kb") as http:
            async with app.router.lifespan_context(app):
                slow = asyncio.create_task(
                    http.post(f"{API}/terms/momentum/demo", json={"pid_file": str(pid_file)})
                )
                for _ in range(3000):
                    if pid_file.exists() and pid_file.read_text() != "":
                        break
                    await asyncio.sleep(0.01)
                else:
                    raise AssertionError("the worker did not start within 30 s")
            # The lifespan has ended: the run in progress was stopped, and its caller told so.
            response = await asyncio.wait_for(slow, 30.0)
    assert response.status_code == 500
    assert "died without a result" in response.json()["detail"]
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_kept_results_stay_within_their_byte_bound(tmp_path: Path) -> None:
    bound = 2000 / 2**20  # MiB: room for two of these results (825 bytes each), not three
    with demo_client(tmp_path, demo_cache_mb=bound) as client:
        for seed in (1, 2, 3):
            first = client.post(f"{API}/terms/gradient-descent/demo", json={"seed": seed})
            assert first.json()["cached"] is False
            assert 0 < runner(client).cache_bytes <= bound * 2**20
        for seed, cached in ((3, True), (2, True), (1, False)):
            again = client.post(f"{API}/terms/gradient-descent/demo", json={"seed": seed})
            assert again.json()["cached"] is cached, seed
            assert again.json()["metrics"]["seed"] == seed
