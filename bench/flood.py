"""Load for bench_serve.py, run as a process of its own: demo floods and mixed reads.

``--demo-clients`` clients post default demo runs with fresh seeds (nothing is cached; a 503
refusal is honoured for 50 ms, then the client presses again); ``--read-clients`` clients GET a
mix of JSON lookups, searches and pages, every ``--hostile-every``th read one that no cache can
hold (the graph page under a made-up Host, a wide search never sent before). Each client keeps
one connection. After ``--seconds``
it prints one JSON object: response counts by kind and status, transport errors, and the
percentiles (ms) of the reads' latencies, the ones no cache can hold apart.

    .venv/bin/python bench/flood.py --base http://127.0.0.1:8000 --demo-clients 16 --seconds 10
"""

import argparse
import asyncio
import itertools
import json
import statistics
import time
from collections import Counter

import httpx

READS = [
    "/api/v1/terms/adam-optimizer",
    "/api/v1/terms/BN",
    "/api/v1/terms/adam-optimizer/related",
    "/api/v1/search?q=gradient",
    "/api/v1/search?q=attention+heads&limit=50",
    "/api/v1/suggest?q=ba",
    "/api/v1/categories",
    "/api/v1/graph/path?from=adam-optimizer&to=backpropagation",
    "/terms/adam-optimizer",
    "/terms/batch-normalization",
    "/search?q=normalization",
    "/graph",
    "/",
    "/terms/no-such-term",
]


class Tally:
    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.read_ms: list[float] = []
        self.hostile_ms: list[float] = []
        self.seeds = itertools.count(1_000)


async def demo_client(base: str, terms: list[str], stop: float, tally: Tally, i: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for term in itertools.cycle(terms[i % len(terms) :] + terms[: i % len(terms)]):
            if time.monotonic() >= stop:
                return
            try:
                response = await client.post(
                    f"/api/v1/terms/{term}/demo", json={"seed": next(tally.seeds)}
                )
            except httpx.HTTPError as exc:
                tally.errors[f"demo {type(exc).__name__}"] += 1
                continue
            tally.statuses[f"demo {response.status_code}"] += 1
            if response.status_code == 503:
                await asyncio.sleep(0.05)


def hostile(n: int) -> tuple[str, dict[str, str]]:
    """A request whose cache key no one has sent before: the graph page under a made-up Host,
    or a wide search with a new word in it."""
    if n % 2:
        return "/graph", {"Host": f"h{n}.flood.example"}
    return f"/api/v1/search?q=adam+optimizer+{n}&limit=100", {}


async def read_client(base: str, stop: float, tally: Tally, i: int, hostile_every: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        reads = itertools.cycle(READS[i % len(READS) :] + READS[: i % len(READS)])
        for n in itertools.count(i * 1_000_000):
            if time.monotonic() >= stop:
                return
            path, headers, times = next(reads), {}, tally.read_ms
            if hostile_every and n % hostile_every == 0:
                (path, headers), times = hostile(n // hostile_every), tally.hostile_ms
            start = time.perf_counter()
            try:
                response = await client.get(path, headers=headers)
            except httpx.HTTPError as exc:
                tally.errors[f"read {type(exc).__name__}"] += 1
                continue
            times.append((time.perf_counter() - start) * 1e3)
            tally.statuses[f"read {response.status_code}"] += 1


async def flood(
    base: str, demo_clients: int, read_clients: int, seconds: float, hostile_every: int
) -> Tally:
    tally = Tally()
    catalogue = httpx.get(f"{base}/api/v1/demos", timeout=60).json()["items"]
    terms = [item["term"] for item in catalogue]
    stop = time.monotonic() + seconds
    await asyncio.gather(
        *(demo_client(base, terms, stop, tally, i) for i in range(demo_clients)),
        *(read_client(base, stop, tally, i, hostile_every) for i in range(read_clients)),
    )
    return tally


def percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    if not ordered:
        return {}
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[int(0.99 * (len(ordered) - 1))],
        "max": ordered[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--demo-clients", type=int, default=16)
    parser.add_argument("--read-clients", type=int, default=0)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument(
        "--hostile-every",
        type=int,
        default=0,
        help="make every Nth read one that no cache holds (a made-up Host, a new search)",
    )
    options = parser.parse_args()
    tally = asyncio.run(
        flood(
            options.base,
            options.demo_clients,
            options.read_clients,
            options.seconds,
            options.hostile_every,
        )
    )
    summary = {
        "statuses": dict(sorted(tally.statuses.items())),
        "errors": dict(tally.errors),
        "read_ms": percentiles(tally.read_ms),
        "hostile_ms": percentiles(tally.hostile_ms),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
