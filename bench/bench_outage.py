"""Time to an answer while the database is out, this code against another checkout (main).

A server (uvicorn, one worker, the real glossary) reaches PostgreSQL through a TCP proxy of
this benchmark's own, which is frozen (forwards nothing, keeps sockets open: a frozen host or a
partition) or stopped (closes everything, refuses connections) and then resumed; the shared
PostgreSQL server itself is never touched. SQLite: a PATCH while another process holds the
write lock. Every request is cut off by the client after ``--cap`` seconds.

    .venv/bin/python bench/bench_outage.py [--baseline /work/main] [--postgres URL] [--cap 10]
"""

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from _common import append_results, free_port, machine_line, start_uvicorn
from sqlalchemy.engine import make_url

from kb.auth import new_key

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' proxy, shared rather than copied
from tests.kb.tcp_proxy import Proxy  # noqa: E402

API = "/api/v1"
UNCACHED = ["momentum", "dropout", "rmsprop", "adagrad", "batch-size", "weight-decay"]


class Timed:
    """A request's status (or 'timeout', or the transport error) and seconds."""

    def __init__(self, http: httpx.Client, method: str, path: str, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            self.status = str(http.request(method, path, **kwargs).status_code)
        except httpx.TimeoutException:
            self.status = "timeout"
        except httpx.TransportError as exc:  # the old code dropped the connection after a 500
            self.status = f"{type(exc).__name__}"
        self.seconds = time.perf_counter() - started

    def __str__(self) -> str:
        return f"{self.status} in {self.seconds:.2f} s"


@contextmanager
def serving(code: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    app = ["kb.app:create_app", "--factory"]
    server = start_uvicorn(app, env, port, f"{API}/health", cwd=code)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def recovery(http: httpx.Client, cap: float) -> str:
    started = time.perf_counter()
    while time.perf_counter() - started < 6 * cap:
        try:
            if http.get(f"{API}/health").status_code == 200:
                return f"{time.perf_counter() - started:.2f} s"
        except httpx.TimeoutException:
            pass
        time.sleep(0.1)
    return f"> {6 * cap:.0f} s"


def postgres_rows(code: Path, label: str, postgres: str, cap: float) -> list[str]:
    schema = f"kb_bench_outage_{uuid.uuid4().hex[:8]}"
    libpq = make_url(postgres).set(drivername="postgresql").render_as_string(hide_password=False)
    rows = []
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = make_url(postgres).update_query_dict({"options": f"-csearch_path={schema}"})
        for outage in ("freeze", "stop"):
            with Proxy(url.port or 5432, url.host or "127.0.0.1") as proxy:
                env = {
                    "KB_DATA_DIR": str(ROOT / "data"),
                    "KB_DATABASE_URL": url.set(port=proxy.port).render_as_string(False),
                }
                with serving(code, env) as root, httpx.Client(base_url=root, timeout=cap) as http:
                    http.get(f"{API}/terms/adamw").raise_for_status()
                    time.sleep(1.2)  # past KB_CACHE_TTL: the next read asks for the version
                    getattr(proxy, outage)()
                    first = Timed(http, "GET", f"{API}/terms/{UNCACHED[0]}")
                    rest = [Timed(http, "GET", f"{API}/terms/{slug}") for slug in UNCACHED[1:]]
                    health = Timed(http, "GET", f"{API}/health")
                    cached = Timed(http, "GET", f"{API}/terms/adamw")
                    static = Timed(http, "GET", "/static/site.css")
                    proxy.resume()
                    back = recovery(http, cap)
                later = statistics.median(r.seconds for r in rest)
                statuses = "/".join(sorted({r.status for r in rest}))
                rows.append(
                    f"| PostgreSQL | {label} | {outage} | {first} | {statuses} in {later:.3f} s"
                    f" | {health} | {cached} | {static} | {back} |"
                )
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return rows


def burst_row(code: Path, label: str, postgres: str, cap: float, clients: int = 64) -> str:
    """Many requests needing the database at the moment it freezes; meanwhile a static file
    and the demo list (which need no database)."""
    schema = f"kb_bench_outage_{uuid.uuid4().hex[:8]}"
    libpq = make_url(postgres).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = make_url(postgres).update_query_dict({"options": f"-csearch_path={schema}"})
        with Proxy(url.port or 5432, url.host or "127.0.0.1") as proxy:
            env = {
                "KB_DATA_DIR": str(ROOT / "data"),
                "KB_DATABASE_URL": url.set(port=proxy.port).render_as_string(False),
            }
            with serving(code, env) as root, httpx.Client(base_url=root, timeout=cap) as http:
                proxy.freeze()
                paths = [f"{API}/terms/{UNCACHED[n % len(UNCACHED)]}" for n in range(clients)]

                def get(path: str) -> Timed:
                    with httpx.Client(base_url=root, timeout=cap) as own:
                        return Timed(own, "GET", path)

                with ThreadPoolExecutor(clients) as pool:
                    pending = pool.map(get, paths)
                    time.sleep(0.3)
                    static = Timed(http, "GET", "/static/site.css")
                    listing = Timed(http, "GET", f"{API}/demos")
                    burst = list(pending)
                proxy.resume()
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    seconds = [r.seconds for r in burst]
    statuses = "/".join(sorted({r.status for r in burst}))
    return (
        f"| PostgreSQL | {label} | freeze under {clients} concurrent uncached GETs | {statuses}"
        f" | {statistics.median(seconds):.2f} s | {max(seconds):.2f} s | {static} | {listing} |"
    )


_HOLD_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
"""


def sqlite_row(code: Path, label: str, cap: float) -> str:
    key, digest = new_key()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kb.sqlite3"
        env = {
            "KB_DATA_DIR": str(ROOT / "data"),
            "KB_DATABASE_URL": f"sqlite:///{path}",
            "KB_API_KEYS": json.dumps({"bench": digest}),
        }
        with serving(code, env) as root, httpx.Client(base_url=root, timeout=cap) as http:
            url = f"{API}/terms/adamw"
            headers = {"Authorization": f"Bearer {key}", "If-Match": http.get(url).headers["etag"]}
            holder = subprocess.Popen(
                [sys.executable, "-c", _HOLD_LOCK, str(path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            write = Timed(http, "PATCH", url, json={"summary": "Locked out."}, headers=headers)
            read = Timed(http, "GET", f"{API}/terms/{UNCACHED[0]}")
            holder.communicate("", timeout=10)
    return f"| SQLite | {label} | write lock held by another process | {write} | {read} |"


def measure(codes: list[tuple[str, Path]], postgres: str, cap: float) -> str:
    pg_rows: list[str] = []
    burst_rows: list[str] = []
    lite_rows: list[str] = []
    for label, code in codes:
        pg_rows += postgres_rows(code, label, postgres, cap)
        burst_rows.append(burst_row(code, label, postgres, cap))
        lite_rows.append(sqlite_row(code, label, cap))
    header = [
        f"\n## Database outages: time to an answer ({datetime.date.today()}, bench_outage.py)\n",
        machine_line(),
        "- uvicorn, one worker, the real glossary, default settings (KB_CACHE_TTL 1 s); the"
        " database out after one GET of /terms/adamw and 1.2 s; every request cut off by the"
        f" client after {cap:g} s; the machine was shared and busy",
        "- PostgreSQL through a proxy of the benchmark's own: freeze = nothing forwarded,"
        " sockets kept open (a frozen host, a partition); stop = connections closed and"
        " refused. Recovery: from resuming the proxy to the first /health 200.",
        "- requests one at a time, in the order of the columns: the first one meets the outage",
        "",
        "| database | code | outage | first uncached GET | next 5 uncached GETs (median)"
        " | /health | cached GET | static file | recovery |",
        "|---|---|---|---|---|---|---|---|---|",
        *pg_rows,
        "",
        "| database | code | outage | statuses | median | slowest | static file meanwhile"
        " | demo list meanwhile |",
        "|---|---|---|---|---|---|---|---|",
        *burst_rows,
        "",
        "| database | code | outage | PATCH | uncached GET meanwhile |",
        "|---|---|---|---|---|",
        *lite_rows,
    ]
    return "\n".join(header)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to compare (main)")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--cap", type=float, default=12.0, help="client timeout, seconds")
    args = parser.parse_args()
    codes = [("this", ROOT)]
    if args.baseline is not None:
        codes.insert(0, ("main", args.baseline.resolve()))
    report = measure(codes, args.postgres, args.cap)
    print(report)
    append_results(report)


if __name__ == "__main__":
    main()
