"""A server's memory under requests no cache should keep: this checkout against another one
(the code before a change, say), side by side in one run.

Each side is a ``kb serve`` over SQLite and this checkout's data/, sent ``--requests`` GETs in
turn: the graph page under a made-up Host each time (pages embed the host) and a wide search
never sent before. Its resident memory is read from /proc before and after. The result is
appended to bench/RESULTS.md with the machine, the versions and the date.

    git archive main | tar -x -C /tmp/before
    .venv/bin/python bench/bench_cache_memory.py --against /tmp/before [--requests 1000]
"""

import argparse
import datetime
import platform
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import httpx
from _common import free_port, machine_line, publish, start_kb_serve
from bench_serve import rss_mib

ROOT = Path(__file__).resolve().parent.parent
READY = "/api/v1/health"


def side(checkout: Path, requests: int, cache_mb: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "KB_DATA_DIR": str(ROOT / "data"),
            "KB_DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "PYTHONDONTWRITEBYTECODE": "1",
            "KB_CACHE_MB": str(cache_mb),
        }
        port = free_port()
        server = start_kb_serve(env, port, READY, cwd=checkout)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
                client.get("/graph")  # the first render's one-off allocations, on both sides
                client.get("/api/v1/search", params={"q": "adam", "limit": 100})
                before = rss_mib(server.pid)
                start = time.monotonic()
                for i in range(requests):
                    if i % 2:
                        host = f"h{i}.example"
                        page = client.get("/graph", headers={"Host": host})
                        assert page.status_code == 200 and f"http://{host}/" in page.text
                    else:
                        q = f"adam optimizer {i}"
                        found = client.get("/api/v1/search", params={"q": q, "limit": 100})
                        assert found.status_code == 200 and found.json()["items"]
                elapsed = time.monotonic() - start
                after = rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait()
    return {"before": before, "after": after, "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", type=Path, required=True, help="the other checkout")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument(
        "--cache-mb", type=float, default=16, help="KB_CACHE_MB (code before it ignores it)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    options = parser.parse_args()
    sides = {"this checkout": ROOT, f"{options.against}": options.against}
    found = {name: side(path, options.requests, options.cache_mb) for name, path in sides.items()}
    rows = [
        f"| {name} | {m['before']:.0f} | {m['after']:.0f} | {m['after'] - m['before']:.0f} "
        f"| {1e3 * m['seconds'] / options.requests:.0f} |"
        for name, m in found.items()
    ]
    ours, theirs = (m["after"] - m["before"] for m in found.values())
    report = "\n".join(
        [
            f"## Memory under requests no cache should keep, {datetime.date.today().isoformat()}",
            "",
            machine_line(),
            f"- versions: Python {platform.python_version()}, fastapi {version('fastapi')}, "
            f"uvicorn {version('uvicorn')}",
            f"- `kb serve` (KB_CACHE_MB={options.cache_mb:g} where it exists, so that the run "
            "meets the bound) over SQLite and data/, sent "
            f"{options.requests} GETs one after another: half the graph page under a made-up "
            "Host each, half a wide search (limit 100) never sent before; resident memory "
            "(MiB) after one of each and after them all",
            "",
            "| code | RSS before | RSS after | growth | ms per request |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"**growth: {ours:.0f} MiB here against {theirs:.0f} MiB**",
            "",
        ]
    )
    publish(report, write=not options.no_write)


if __name__ == "__main__":
    main()
