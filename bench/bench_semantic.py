"""Search by meaning: the NumPy encoder against torch, and search quality, latency and memory.

    .venv/bin/python bench/bench_semantic.py            # encoder, then search (SQLite)
    .venv/bin/python bench/bench_semantic.py --postgres # search on PostgreSQL as well

Encoder: ``reference.bert.BertEncoder`` (float32) against ``transformers``' BertModel with the
same masked mean pooling and L2 norm, one thread each, on one short query (interleaved repeats)
and on the texts the index embeds for the whole glossary (each side once). Search: data/
loaded into a fresh database, the term vectors computed as the server does (timed), then the
regression set tests/kb/search_queries.py in the lexical, semantic and hybrid modes (top-1,
top-3), the latency of uncached hybrid searches (p50, p99, in-process through the ASGI app) and
the process's memory. Appends the report to bench/RESULTS.md unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    ROOT,
    append_results,
    environment_lines,
    interleaved,
    pin_threads,
    scrub_blas_env,
)
from fastapi.testclient import TestClient

sys.path.insert(0, str(ROOT))
from kb.app import create_app
from kb.config import Settings
from kb.content import read_glossary
from kb.semantic import SemanticIndex, term_texts
from reference.bert import BertEncoder
from tests.kb.search_queries import QUERIES, top_k

PACKAGES = ("numpy", "torch", "transformers", "threadpoolctl")
QUERY = "accumulate squared gradients to adapt per-parameter learning rates"


def _peer(model: Any, encoder: BertEncoder, texts: list[str], batch: int) -> np.ndarray:
    import torch

    out = []
    for start in range(0, len(texts), batch):
        encoded = [encoder.tokenizer.encode(t) for t in texts[start : start + batch]]
        ids = torch.zeros(len(encoded), max(map(len, encoded)), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, tokens in enumerate(encoded):
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = 1
        with torch.no_grad():
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask[..., None].float()
        pooled = (hidden * m).sum(1) / m.sum(1)
        out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    return np.concatenate(out)


def bench_encoder(model_dir: Path, repeats: int) -> list[str]:
    # Imported only now: the search benchmark, run first, measures a worker's memory without.
    import torch
    from transformers import BertModel

    torch.set_num_threads(1)
    encoder = BertEncoder.from_dir(model_dir)
    model = BertModel.from_pretrained(str(model_dir)).eval()
    timings = interleaved(
        {
            "reference": lambda: encoder.embed([QUERY]),
            "torch": lambda: _peer(model, encoder, [QUERY], 1),
        },
        repeats=repeats,
        number=10,
        warmup=2,
    )
    glossary = read_glossary(ROOT / "data")
    texts = [
        t
        for term in glossary.terms
        for t in term_texts(term.name, term.aliases, term.summary, term.body)
    ]
    start = time.perf_counter()
    ours = encoder.embed(texts, batch_size=32)
    ours_s = time.perf_counter() - start
    order = sorted(range(len(texts)), key=lambda i: len(encoder.tokenizer.encode(texts[i])))
    start = time.perf_counter()
    theirs = _peer(model, encoder, [texts[i] for i in order], 32)
    torch_s = time.perf_counter() - start
    cosine = float(np.min(np.sum(ours[order] * theirs, axis=1)))
    ratio = timings.ratio("reference", "torch")
    tokens = sum(len(encoder.tokenizer.encode(t)) for t in texts)
    return [
        f"- one query ({len(encoder.tokenizer.encode(QUERY))} tokens), float32, {repeats} "
        "interleaved repeats of 10 calls:",
        "",
        "| encoder | ms per query | ratio reference / torch |",
        "|---|---|---|",
        f"| reference.bert | {timings.spread('reference').fmt(1e3, 2)} | "
        f"{ratio[0]:.2f} ({ratio[1]:.2f} to {ratio[2]:.2f}) |",
        f"| torch BertModel + pooling | {timings.spread('torch').fmt(1e3, 2)} | 1 |",
        "",
        f"- the glossary's {len(texts)} term texts ({len(glossary.terms)} terms, {tokens} tokens),"
        f" batches of 32 sorted by length, once each: reference {ours_s:.1f} s, torch"
        f" {torch_s:.1f} s (ratio {ours_s / torch_s:.2f}); least cosine between the two"
        f" {cosine:.6f}",
    ]


def bench_search(database_url: str, model_dir: Path, backend: str) -> list[str]:
    settings = Settings(
        database_url=database_url, data_dir=ROOT / "data", cache_size=0, model_dir=model_dir
    )
    start = time.perf_counter()
    with TestClient(create_app(settings)) as client:
        index: SemanticIndex = client.app.state.semantic  # type: ignore[attr-defined]
        if not index.wait_idle(3600):
            raise SystemExit("term vectors were not computed within an hour")
        vectors_s = time.perf_counter() - start
        rows = []
        for mode in ("lexical", "semantic", "hybrid"):
            found = []
            for q, _ in QUERIES:
                answer = client.get("/api/v1/search", params={"q": q, "mode": mode, "limit": 3})
                found.append([item["slug"] for item in answer.json()["items"]])
            rows.append(f"| {mode} | {top_k(found, 1):.1%} | {top_k(found, 3):.1%} |")
        latencies = []
        for round_ in range(3):
            for q, _ in QUERIES:
                query = f"{q} {round_}" if round_ else q  # a new query vector every round
                t = time.perf_counter()
                client.get("/api/v1/search", params={"q": query})
                latencies.append(time.perf_counter() - t)
        p50 = statistics.median(latencies) * 1e3
        p99 = float(np.percentile(latencies, 99)) * 1e3
        matrix = index.matrix
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    encoder = index.encoder
    assert encoder is not None
    arrays = [encoder.word_embeddings, encoder.position_embeddings, *encoder.embed_ln]
    arrays += [a for layer in encoder.layers for a in vars(layer).values()]
    weights = sum(a.nbytes for a in arrays)
    return [
        f"- {backend}: {len(matrix.term_ids)} terms, {len(matrix.vectors)} vectors; computing"
        f" them all after the load took {vectors_s:.0f} s (start-up and load included)",
        "",
        f"| mode ({len(QUERIES)} queries of tests/kb/search_queries.py) | top-1 | top-3 |",
        "|---|---|---|",
        *rows,
        "",
        f"- uncached hybrid searches (a new query each, so each embeds its query), in-process"
        f" through the ASGI app: p50 {p50:.1f} ms, p99 {p99:.1f} ms over {len(latencies)}",
        f"- memory: the vectors' matrix {matrix.vectors.nbytes / 2**20:.1f} MiB; the encoder's"
        f" weights {weights / 2**20:.0f} MiB; peak RSS of this process so far {rss:.0f} MiB"
        " (a worker's: the app, the encoder, the vectors and computing them; torch is not"
        " loaded yet)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="search on PostgreSQL too")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    options = parser.parse_args()
    limiter = pin_threads(1)  # BLAS; torch is pinned when it is imported
    model_dir = Settings().model_dir
    lines = environment_lines(
        "Search by meaning: reference.bert vs torch, search quality", PACKAGES, 1
    )
    lines += ["- the machine was shared with other sessions' work and busy throughout", ""]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            lines += bench_search(f"sqlite:///{tmp}/kb.sqlite3", model_dir, "SQLite")
        if options.postgres:
            lines += ["", *bench_search(_postgres_schema(), model_dir, "PostgreSQL")]
        lines += ["", *bench_encoder(model_dir, options.repeats)]
    finally:
        limiter.restore_original_limits()
    report = "\n".join([*lines, ""])
    print(report, flush=True)
    if not options.no_write:
        append_results(report)


def _postgres_schema() -> str:
    """A fresh schema on the test server (dropped at the next run's start)."""
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench_semantic CASCADE")
        conn.execute("CREATE SCHEMA bench_semantic")
    return (
        "postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dbench_semantic"
    )


if __name__ == "__main__":
    scrub_blas_env()
    main()
