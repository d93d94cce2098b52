"""Search and suggest latency at 1k, 10k and 100k terms, and the time to load them.

For each size a synthetic glossary (bench/synthetic.py) is loaded through the normal loader
into a fresh SQLite file (and, with --postgres, a fresh PostgreSQL schema); then a fixed mix of
realistic queries (full names, aliases, word prefixes, typos, pairs of words from bodies) is
sent to GET /api/v1/search and prefixes to GET /api/v1/suggest of a live server (uvicorn, one
worker, response cache off, so every request does the full work) over keep-alive HTTP: the
latency a client on the same machine gets, HTTP included. Results are appended to
bench/RESULTS.md.

With --baseline REV the code of git revision REV is measured side by side: its own database,
loaded by its own loader, served by its own server; loads run one after the other, the queries
go to both servers in turn (alternating which goes first), so that load from other work on the
machine falls on both alike.

    .venv/bin/python bench/bench_search.py [--sizes 1000 10000 100000] [--postgres]
        [--baseline main]
"""

import argparse
import datetime
import os
import pickle
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import checkout, free_port, machine_line, publish, run_script, start_uvicorn
from synthetic import content_words, synthetic_glossary

from kb.content import Glossary

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get(
    "KB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Run in the code version's own directory (it comes first on sys.path): schema, then a timed load.
_LOAD = """
import pickle, sys, time
from kb import loader
from kb import db
with open(sys.argv[2], "rb") as file:
    glossary = pickle.load(file)
engine = db.make_engine(sys.argv[1])
# Versions before the Alembic migrations made their schema with create_schema.
(getattr(db, "migrate", None) or db.create_schema)(engine)
start = time.perf_counter()
loader.load(engine, glossary)
print(time.perf_counter() - start)
"""


def queries(glossary: Glossary, count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    mix = []
    for i in range(count):
        term = rng.choice(glossary.terms)
        word = rng.choice(term.name.split())
        kind = i % 5
        if kind == 0:
            mix.append(term.name)
        elif kind == 1:
            mix.append(rng.choice(term.aliases) if term.aliases else term.slug)
        elif kind == 2:
            mix.append(word[: rng.randint(3, 5)])
        elif kind == 3 and len(word) > 3:
            j = rng.randrange(len(word) - 1)
            mix.append(word[:j] + word[j + 1] + word[j] + word[j + 2 :])
        else:
            mix.append(" ".join(rng.sample(content_words(term.body), 2)))
    return mix


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(client: httpx.Client, path: str, params: dict[str, str]) -> float:
    start = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, response.text
    return elapsed


def load(code: Path, url: str, glossary_file: Path) -> float:
    """Seconds that ``code``'s loader takes to load the glossary into a fresh ``url``."""
    return float(run_script(code, _LOAD, url, str(glossary_file))[-1])


@contextmanager
def servers(code_urls: list[tuple[Path, str]]) -> Iterator[list[httpx.Client]]:
    """A uvicorn server per (code, database), response cache off, and a keep-alive client each."""
    started, clients = [], []
    try:
        for code, url in code_urls:
            port = free_port()
            env = {
                "KB_DATABASE_URL": url,
                "KB_CACHE_SIZE": "0",
                "PYTHONPATH": str(code),
                # Lexical search, as measured before search by meaning existed: with the model
                # each server would embed every query and, in the background, all 100k terms
                # (search p50 43-57 ms in a run that had the model, from 4-9 ms without).
                "KB_MODEL_DIR": str(Path(tempfile.gettempdir()) / "kb-bench-no-model"),
            }
            app = ["kb.app:create_app", "--factory"]
            started.append(start_uvicorn(app, env, port, "/api/v1/health", cwd=code))
            clients.append(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60))
        yield clients
    finally:
        for client in clients:
            client.close()
        for server in started:
            server.terminate()
            server.wait()


def measure(
    codes: list[Path], urls: list[str], glossary: Glossary, glossary_file: Path, n_queries: int
) -> list[dict[str, float]]:
    """Load and query each code version on its own database (``urls``, in the same order)."""
    results: list[dict[str, float]] = [
        {"load_s": load(c, u, glossary_file)} for c, u in zip(codes, urls, strict=True)
    ]
    mix = queries(glossary, n_queries)
    prefixes = [q[:3] for q in mix]
    with servers(list(zip(codes, urls, strict=True))) as clients:
        for client in clients:  # warm up: connections, caches of the fuzzy index
            for q in mix[:20]:
                timed(client, "/api/v1/search", {"q": q})
        for path, name, params in (
            ("/api/v1/search", "search", [{"q": q} for q in mix]),
            ("/api/v1/suggest", "suggest", [{"q": p} for p in prefixes]),
        ):
            latencies: list[list[float]] = [[] for _ in clients]
            for i, p in enumerate(params):
                order = list(range(len(clients)))[:: 1 if i % 2 == 0 else -1]
                for k in order:
                    latencies[k].append(timed(clients[k], path, p))
            for result, values in zip(results, latencies, strict=True):
                result[f"{name}_p50"] = statistics.median(values)
                result[f"{name}_p99"] = percentile(values, 0.99)
    return results


def postgres_schema_url() -> tuple[str, str]:
    schema = f"kb_bench_{uuid.uuid4().hex[:8]}"
    libpq = make_url(POSTGRES).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(POSTGRES).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_schema(schema: str) -> None:
    libpq = make_url(POSTGRES).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--postgres", action="store_true", help="also measure PostgreSQL")
    parser.add_argument("--baseline", help="git revision to measure side by side")
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    options = parser.parse_args()

    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        codes, labels = [ROOT], ["this"]
        if options.baseline:
            codes.insert(0, checkout(options.baseline, Path(tmp) / "baseline"))
            labels.insert(0, options.baseline)
        for size in options.sizes:
            start = time.perf_counter()
            glossary = synthetic_glossary(size)
            made = time.perf_counter() - start
            print(
                f"{size} terms generated in {made:.1f} s ({len(glossary.links)} links)", flush=True
            )
            glossary_file = Path(tmp) / "glossary.pickle"
            glossary_file.write_bytes(pickle.dumps(glossary))
            sqlite = [f"sqlite:///{tmp}/{i}-{size}.sqlite3" for i in range(len(codes))]
            results = measure(codes, sqlite, glossary, glossary_file, options.queries)
            rows += [("SQLite", size, label, r) for label, r in zip(labels, results, strict=True)]
            print(rows[-len(codes) :], flush=True)
            for url in sqlite:
                Path(url.removeprefix("sqlite:///")).unlink()
            if options.postgres:
                schemas = [postgres_schema_url() for _ in codes]
                try:
                    urls = [url for url, _ in schemas]
                    results = measure(codes, urls, glossary, glossary_file, options.queries)
                    rows += [
                        ("PostgreSQL", size, label, r)
                        for label, r in zip(labels, results, strict=True)
                    ]
                finally:
                    for _, schema in schemas:
                        drop_schema(schema)
                print(rows[-len(codes) :], flush=True)
    load_after = os.getloadavg()

    lines = [
        f"## Search at scale, {datetime.date.today().isoformat()}",
        "",
        machine_line(),
        f"- versions: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"sqlalchemy {version('sqlalchemy')}, fastapi {version('fastapi')}, "
        f"uvicorn {version('uvicorn')}, httpx {version('httpx')}",
        f"- {options.queries} queries per size, a fixed mix of full names, aliases, 3-5 letter "
        "prefixes, one-transposition typos and word pairs from bodies; over keep-alive HTTP to a "
        "live uvicorn server (one worker, response cache off, no sentence encoder: lexical "
        "search); load = loader.load of the "
        "generated glossary into a fresh database (atomic, search index included; on "
        "PostgreSQL this code builds fresh tables and swaps them in, see kb/swap.py)",
        f"- load average (1/5/15 min) before {'/'.join(f'{x:.1f}' for x in load_before)}, "
        f"after {'/'.join(f'{x:.1f}' for x in load_after)}"
        + (
            f"; `{options.baseline}` and this code measured side by side"
            if options.baseline
            else ""
        ),
        "",
        "| backend | terms | code | load s | search p50 ms | search p99 ms | suggest p50 ms | "
        "suggest p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for backend, size, label, r in rows:
        lines.append(
            f"| {backend} | {size:,} | {label} | {r['load_s']:.1f} | {r['search_p50']:.1f} | "
            f"{r['search_p99']:.1f} | {r['suggest_p50']:.2f} | {r['suggest_p99']:.2f} |"
        )
    report = "\n".join(lines) + "\n"
    publish(report, write=not options.no_write)


if __name__ == "__main__":
    main()
