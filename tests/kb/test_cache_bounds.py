"""The caches stay within their byte bounds (issue 16), whatever the clients send.

A response cache keyed by what clients send could be grown without limit: by distinct Host
headers on pages that embed the host, or by distinct wide searches. Here the bounds hold, the
accounting matches the memory really held, and what is served stays right.
"""

import gc
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kb.app import create_app
from kb.cache import Rendered, ResponseCache, footprint
from kb.config import MIB, Settings
from kb.lru import BoundedLRU
from kb.web import pages

BOUND_MB = 0.25


def test_the_byte_bound_drops_the_least_recently_used() -> None:
    lru: BoundedLRU[str] = BoundedLRU(max_entries=100, max_bytes=100)
    for key in "abc":
        lru.put(key, key.upper(), 30)
    assert lru.get("a") == "A"  # now the most recently used
    lru.put("d", "D", 30)
    assert (lru.get("b"), lru.get("a"), lru.get("c"), lru.get("d")) == (None, "A", "C", "D")
    assert (len(lru), lru.nbytes) == (3, 90)
    lru.put("c", "C2", 50)  # a new size replaces the old one's
    assert (lru.get("a"), lru.get("c"), lru.nbytes) == (None, "C2", 80)
    lru.put("huge", "H", 101)  # larger than the whole bound: not kept, nothing dropped
    assert (lru.get("huge"), len(lru), lru.nbytes) == (None, 2, 80)
    lru.clear()
    assert (len(lru), lru.nbytes) == (0, 0)


@pytest.mark.parametrize(("max_entries", "max_bytes"), [(2, None), (2, 10**6), (0, 10**6)])
def test_the_entry_bound_holds_too(max_entries: int, max_bytes: int | None) -> None:
    lru: BoundedLRU[int] = BoundedLRU(max_entries=max_entries, max_bytes=max_bytes)
    for i in range(5):
        lru.put(i, i, 10)
    assert len(lru) == max_entries
    assert [lru.get(i) for i in range(5)][5 - max_entries :] == list(range(5 - max_entries, 5))


@pytest.mark.parametrize(("body_size", "word"), [(0, "wide"), (200, "größer"), (5000, "広い🙂")])
def test_the_counted_size_covers_the_memory_really_held(body_size: int, word: str) -> None:
    """The weights are honest, whatever the characters in the keys: tracemalloc sees no more
    than the entries are counted as."""
    lru: BoundedLRU[Rendered] = BoundedLRU(max_entries=10**6, max_bytes=None)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(2000):
            key = ("search", f"{word} query number {i}" * 20, word, 100, 0, None, ("a", "b"))
            rendered = Rendered.of_bytes(b"x" * body_size + str(i).encode())
            lru.put(key, rendered, footprint(key, rendered))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 0.5 * lru.nbytes < held <= lru.nbytes


@pytest.fixture
def bounded_client(database_url: str, data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url, data_dir=data_dir, cache_ttl=3600, cache_mb=BOUND_MB
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _cache(client: TestClient) -> ResponseCache:
    cache: ResponseCache = client.app.state.cache  # type: ignore[attr-defined]
    return cache


def test_made_up_hosts_get_right_pages_but_no_cache_entries(
    bounded_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    pages._warn_uncached.cache_clear()
    cache = _cache(bounded_client)
    for path in ("/graph", "/", "/terms/adam-optimizer", "/sitemap.xml"):
        bounded_client.get(path, headers={"Host": "localhost"})
        kept = len(cache)
        for i in range(40):
            host = f"h{i}.attacker.example"
            page = bounded_client.get(path, headers={"Host": host})
            assert page.status_code == 200
            assert f"http://{host}/" in page.text  # its links are to the host it was asked by
        # Other ports of an allowed host, and Host headers that are not host names, neither.
        for host in ("localhost:81", "localhost:8000", "localhost/x", "LOCALHOST:1", "a b"):
            assert bounded_client.get(path, headers={"Host": host}).status_code == 200
        assert len(cache) == kept, path
        assert "http://localhost/" in bounded_client.get(path, headers={"Host": "localhost"}).text
    # The operator hears of it once, not once per request.
    warnings = [r for r in caplog.records if "KB_ALLOWED_HOSTS" in r.getMessage()]
    assert len(warnings) == 1


def test_allowed_hosts_have_cached_pages_of_their_own(bounded_client: TestClient) -> None:
    cache = _cache(bounded_client)
    before = len(cache)
    # The test client's connections reach port 80 (its scope's "server").
    for host in ("localhost", "LocalHost:80", "127.0.0.1", "[::1]:80"):
        page = bounded_client.get("/graph", headers={"Host": host})
        assert f"http://{host.lower()}/" in page.text
    assert len(cache) == before + 4  # "localhost" and "localhost:80" are two roots


def test_a_public_url_makes_every_host_share_one_entry(database_url: str, data_dir: Path) -> None:
    settings = Settings(
        database_url=database_url, data_dir=data_dir, public_url="https://kb.example.org"
    )
    with TestClient(create_app(settings)) as client:
        client.get("/graph")
        kept = len(_cache(client))
        for i in range(20):
            page = client.get("/graph", headers={"Host": f"h{i}.example"})
            assert "https://kb.example.org/graph" in page.text and f"h{i}." not in page.text
        assert len(_cache(client)) == kept


def test_many_wide_searches_stay_within_the_bound_and_stay_right(
    bounded_client: TestClient,
) -> None:
    cache = _cache(bounded_client)
    reference = bounded_client.get("/api/v1/search", params={"q": "adam", "limit": 100}).json()
    for i in range(300):
        # Distinct queries that all match the same terms: wide, and each its own entry.
        q = "adam " + "x" * (i % 7) + f" {'optimizer ' * (i % 3)}" + "·" * i
        found = bounded_client.get("/api/v1/search", params={"q": q, "limit": 100})
        assert found.status_code == 200
        assert cache.size_bytes <= BOUND_MB * MIB
    assert len(cache) < 300
    again = bounded_client.get("/api/v1/search", params={"q": "adam", "limit": 100}).json()
    assert again == reference
