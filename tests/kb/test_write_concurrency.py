"""Writes from several processes at once: no lost update, and no stale cache anywhere.

Two real servers (``kb serve``) share one database, as two workers or two replicas would.
"""

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kb.auth import new_key
from tests.kb.live import serving

KEY, DIGEST = new_key()
AUTH = {"Authorization": f"Bearer {KEY}"}
# A day: any server that sees a write made through the other did not wait for the TTL.
ENV = {"KB_API_KEYS": json.dumps({"alice": DIGEST}), "KB_CACHE_TTL": "86400"}


@pytest.fixture
def two_servers(data_dir: Path, database_url: str) -> Iterator[tuple[str, str]]:
    with (
        serving(data_dir, database_url, env=ENV) as first,
        serving(data_dir, database_url, env=ENV) as second,
    ):
        yield first, second


def test_simultaneous_patches_of_one_version_let_exactly_one_win(
    two_servers: tuple[str, str],
) -> None:
    url = "/api/v1/terms/adamw"
    tag = httpx.get(two_servers[0] + url).headers["etag"]
    editors = 16
    start = threading.Barrier(editors)
    statuses: dict[int, int] = {}

    def patch(n: int) -> None:
        root = two_servers[n % 2]
        start.wait()
        response = httpx.patch(
            root + url,
            json={"summary": f"Edit number {n}."},
            headers={**AUTH, "If-Match": tag},
            timeout=60,
        )
        statuses[n] = response.status_code

    threads = [threading.Thread(target=patch, args=(n,)) for n in range(editors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for n, status in statuses.items() if status == 200]
    assert len(winners) == 1, statuses
    assert sorted(statuses.values()) == [200] + [412] * (editors - 1)
    for root in two_servers:
        term = httpx.get(root + url).json()
        assert (term["version"], term["summary"]) == (2, f"Edit number {winners[0]}.")
    history = httpx.get(two_servers[1] + url + "/history").json()["items"]
    assert [(h["version"], h["actor"]) for h in history] == [(2, "alice"), (1, "load")]


def test_a_write_through_one_server_is_read_at_once_through_the_other(
    two_servers: tuple[str, str],
) -> None:
    writer, reader = two_servers
    url = "/api/v1/terms/momentum"
    for n in range(8):
        before = httpx.get(reader + url)  # cached by the reader from now on
        assert httpx.get(reader + url).headers["etag"] == before.headers["etag"]
        written = httpx.patch(
            writer + url,
            json={"summary": f"Velocity, take {n}."},
            headers={**AUTH, "If-Match": before.headers["etag"]},
        )
        assert written.status_code == 200, written.text
        after = httpx.get(reader + url)
        assert after.json()["summary"] == f"Velocity, take {n}."
        assert after.headers["etag"] == written.headers["etag"]
        found = httpx.get(reader + "/api/v1/search", params={"q": f"take {n}"}).json()
        assert [item["slug"] for item in found["items"]] == ["momentum"]
