"""Search and suggest latency at 1k, 10k and 100k terms, and the time to load them.

For each size a synthetic glossary (bench/synthetic.py) is loaded through the normal loader
into a fresh SQLite file (and, with --postgres, a fresh PostgreSQL schema); then a fixed mix of
realistic queries (full names, aliases, word prefixes, typos, pairs of words from bodies) is
sent to GET /api/v1/search and prefixes to GET /api/v1/suggest, in process through the ASGI
app with its response cache off, so every request does the full work. Results are appended to
bench/RESULTS.md.

    .venv/bin/python bench/bench_search.py [--sizes 1000 10000 100000] [--postgres]
"""

import argparse
import datetime
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from importlib.metadata import version
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_results, machine_line
from synthetic import content_words, synthetic_glossary

from kb import loader
from kb.app import create_app
from kb.config import Settings
from kb.content import Glossary
from kb.db import make_engine, migrate

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get(
    "KB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


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


def timed(client: TestClient, path: str, params: list[dict[str, str]]) -> list[float]:
    latencies = []
    for p in params:
        start = time.perf_counter()
        response = client.get(path, params=p)
        latencies.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text
    return latencies


def measure(url: str, glossary: Glossary, n_queries: int) -> dict[str, float]:
    engine = make_engine(url)
    migrate(engine)
    start = time.perf_counter()
    loader.load(engine, glossary)
    load_s = time.perf_counter() - start
    engine.dispose()
    mix = queries(glossary, n_queries)
    prefixes = [q[:3] for q in mix]
    settings = Settings(database_url=url, cache_size=0)
    with TestClient(create_app(settings)) as client:
        timed(client, "/api/v1/search", [{"q": q} for q in mix[:20]])  # warm up
        search = timed(client, "/api/v1/search", [{"q": q} for q in mix])
        suggest = timed(client, "/api/v1/suggest", [{"q": p} for p in prefixes])
    return {
        "load_s": load_s,
        "search_p50": statistics.median(search),
        "search_p99": percentile(search, 0.99),
        "suggest_p50": statistics.median(suggest),
        "suggest_p99": percentile(suggest, 0.99),
    }


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
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    options = parser.parse_args()

    rows = []
    for size in options.sizes:
        start = time.perf_counter()
        glossary = synthetic_glossary(size)
        made = time.perf_counter() - start
        print(f"{size} terms generated in {made:.1f} s ({len(glossary.links)} links)", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            result = measure(f"sqlite:///{tmp}/bench.sqlite3", glossary, options.queries)
        rows.append(("SQLite", size, result))
        print(rows[-1], flush=True)
        if options.postgres:
            url, schema = postgres_schema_url()
            try:
                rows.append(("PostgreSQL", size, measure(url, glossary, options.queries)))
            finally:
                drop_schema(schema)
            print(rows[-1], flush=True)

    lines = [
        f"## Search at scale, {datetime.date.today().isoformat()}",
        "",
        machine_line(),
        f"- versions: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"sqlalchemy {version('sqlalchemy')}, fastapi {version('fastapi')}",
        f"- {options.queries} queries per size, a fixed mix of full names, aliases, 3-5 letter "
        "prefixes, one-transposition typos and word pairs from bodies; through the ASGI app in "
        "process, response cache off; load = loader.load of the generated glossary (one "
        "transaction, search index included)",
        "",
        "| backend | terms | load s | search p50 ms | search p99 ms | suggest p50 ms | "
        "suggest p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend, size, r in rows:
        lines.append(
            f"| {backend} | {size:,} | {r['load_s']:.1f} | {r['search_p50']:.1f} | "
            f"{r['search_p99']:.1f} | {r['suggest_p50']:.2f} | {r['suggest_p99']:.2f} |"
        )
    report = "\n".join(lines) + "\n"
    print(report)
    if not options.no_write:
        append_results(report)


if __name__ == "__main__":
    main()
