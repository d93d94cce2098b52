"""Latency of PATCH /api/v1/terms/{slug} against the least a versioned write can do, same run.

kb's write checks the key, validates the record with kb check's rules, rewrites the term's
aliases, lookup keys and links, re-indexes it for search, records a revision and moves the
data version on, all in one transaction. The peer (bare_writes.py) runs only the conditional
UPDATE that every safe write needs. Both are uvicorn with one worker on the same database,
called one request at a time over keep-alive HTTP, in interleaved rounds.

With --baseline REV the code of git revision REV runs too, on a database of its own, in the
same interleaved rounds.

    .venv/bin/python bench/bench_writes.py [--rounds 5] [--writes 100] [--postgres URL]
        [--baseline main]
"""

import argparse
import datetime
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib.metadata import version
from pathlib import Path

import httpx
import psycopg
from _common import checkout, free_port, machine_line, publish, start_uvicorn
from sqlalchemy.engine import make_url

from kb.auth import new_key

ROOT = Path(__file__).resolve().parent.parent


def latencies(client: httpx.Client, url: str, headers: dict[str, str], writes: int) -> list[float]:
    """Seconds per PATCH, each sent with the ETag (version) of the previous answer."""
    tag = client.get(url).headers.get("etag") or f'"{client.get(url).json()["version"]}"'
    seconds = []
    for n in range(writes):
        started = time.perf_counter()
        response = client.patch(
            url, json={"summary": f"Write number {n}."}, headers={**headers, "If-Match": tag}
        )
        seconds.append(time.perf_counter() - started)
        response.raise_for_status()
        tag = response.headers.get("etag") or f'"{response.json()["version"]}"'
    return seconds


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def run(kbs: list[tuple[str, Path, str]], label: str, rounds: int, writes: int) -> list[str]:
    """Rows of the report for ``kbs`` (name, code, database URL: each version of kb on a
    database of its own) and the bare peer, which shares the last one's database."""
    key, digest = new_key()
    servers, urls = [], []
    try:
        for _, code, database_url in kbs:
            kb_env = {
                "KB_DATA_DIR": str(ROOT / "data"),
                "KB_DATABASE_URL": database_url,
                "KB_API_KEYS": json.dumps({"bench": digest}),
                "PYTHONPATH": str(code),
                # Semantic search off: at start each server would compute every term's
                # vectors in the background, taking CPU and SQLite's write lock from the writes
                # being measured (a PATCH does not wait for them).
                "KB_MODEL_DIR": str(Path(tempfile.gettempdir()) / "kb-bench-no-model"),
            }
            port = free_port()
            app = ["kb.app:create_app", "--factory"]
            servers.append(start_uvicorn(app, kb_env, port, "/api/v1/health", cwd=code))
            urls.append((f"http://127.0.0.1:{port}/api/v1/terms/adamw", True))
        bare_port = free_port()
        servers.append(
            start_uvicorn(
                ["bare_writes:app", "--app-dir", str(ROOT / "bench")],
                {"KB_DATABASE_URL": kbs[-1][2]},
                bare_port,
                "/terms/adamw",
            )
        )
        urls.append((f"http://127.0.0.1:{bare_port}/terms/momentum", False))
        seconds: list[list[float]] = [[] for _ in urls]
        with httpx.Client(timeout=30) as client:
            auth = {"Authorization": f"Bearer {key}"}
            for url, kb in urls:  # warm up every server
                latencies(client, url, auth if kb else {}, 10)
            for _ in range(rounds):
                for (url, kb), times in zip(urls, seconds, strict=True):
                    times += latencies(client, url, auth if kb else {}, writes)
    finally:
        for server in servers:
            server.terminate()
            server.wait()
    ms = 1000
    peer = seconds[-1]
    rows = []
    for (name, _, _), ours in zip(kbs, seconds[:-1], strict=True):
        ratio = statistics.median(ours) / statistics.median(peer)
        rows.append(
            f"| {label} | kb PATCH ({name}) | {statistics.median(ours) * ms:.1f} |"
            f" {percentile(ours, 99) * ms:.1f} | **{ratio:.1f}** |"
        )
    rows.append(
        f"| {label} | bare conditional UPDATE | {statistics.median(peer) * ms:.1f} |"
        f" {percentile(peer, 99) * ms:.1f} | 1 |"
    )
    return rows


@contextmanager
def postgres_schema(url: str, schema: str = "kb_bench_writes") -> Iterator[str]:
    """``url`` with a schema of its own for the run, dropped afterwards."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        options = {"options": f"-csearch_path={schema}"}
        yield make_url(url).update_query_dict(options).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="also measure on this PostgreSQL database (in a schema of its own); '' to skip",
    )
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--baseline", help="git revision to measure side by side")
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        codes = [("this", ROOT)]
        if options.baseline:
            codes.insert(0, (options.baseline, checkout(options.baseline, Path(tmp) / "base")))
        files = [(n, c, f"sqlite:///{tmp}/{i}.sqlite3") for i, (n, c) in enumerate(codes)]
        rows += run(files, "SQLite", options.rounds, options.writes)
        if options.postgres:
            schemas = [
                (n, c, stack.enter_context(postgres_schema(options.postgres, f"kb_bench_w{i}")))
                for i, (n, c) in enumerate(codes)
            ]
            rows += run(schemas, "PostgreSQL", options.rounds, options.writes)
    report = "\n".join(
        [
            f"## API write latency, {datetime.date.today().isoformat()}",
            "",
            machine_line(),
            f"- versions: Python {platform.python_version()}, fastapi {version('fastapi')}, "
            f"uvicorn {version('uvicorn')}, sqlalchemy {version('sqlalchemy')}",
            f"- {options.rounds} interleaved rounds of {options.writes} sequential PATCHes per"
            " side (each with the previous answer's ETag), one uvicorn worker each, keep-alive,"
            " the real data/ glossary",
            "",
            "| database | server | p50 ms | p99 ms | p50 / bare |",
            "|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    publish(report, write=not options.no_write)


if __name__ == "__main__":
    main()
