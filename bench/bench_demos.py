"""Read latency with and without demo load, in the same run; and each demo's default run time.

One uvicorn worker serves the bundled glossary. wrk (Debian package ``wrk``) measures the
latency of GET /api/v1/terms/adam-optimizer with a few connections, in rounds that alternate
between the API alone and the API while demo requests keep every demo worker busy (more
clients than workers, each posting default runs with fresh seeds, so nothing is cached and
some are refused with 503). Alternating rounds let machine noise hit both sides alike. The
result is appended to bench/RESULTS.md with the machine, the versions and the date.

    .venv/bin/python bench/bench_demos.py [--rounds 3] [--seconds 5] [--connections 4]
"""

import argparse
import datetime
import itertools
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import httpx
from _common import free_port, machine_line, publish, start_uvicorn

ROOT = Path(__file__).resolve().parent.parent
READ = "/api/v1/terms/adam-optimizer"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk_latency(port: int, seconds: int, connections: int) -> dict[str, float]:
    """p50 and p99 latency in ms and requests per second, from ``wrk --latency``."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    url = f"http://127.0.0.1:{port}{READ}"
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"errors during the run:\n{out}")
    result = {}
    for label, key in (("50%", "p50"), ("99%", "p99")):
        match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if match is None:
            raise SystemExit(f"cannot read wrk's output:\n{out}")
        result[key] = float(match.group(1)) * _UNITS[match.group(2)]
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rate is not None
    result["rps"] = float(rate.group(1))
    return result


class DemoLoad:
    """Clients that post default demo runs with fresh seeds until stopped."""

    def __init__(self, base: str, clients: int, terms: list[str]) -> None:
        self.base, self.terms = base, terms
        self.counts: Counter[int] = Counter()
        self._stop = threading.Event()
        self._seeds = itertools.count(1_000)
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, args=(i,)) for i in range(clients)]

    def _loop(self, index: int) -> None:
        with httpx.Client(base_url=self.base, timeout=60) as client:
            for term in itertools.cycle(self.terms[index:] + self.terms[:index]):
                if self._stop.is_set():
                    return
                with self._lock:
                    seed = next(self._seeds)
                status = client.post(f"/api/v1/terms/{term}/demo", json={"seed": seed}).status_code
                with self._lock:
                    self.counts[status] += 1
                if status == 503:
                    time.sleep(0.05)  # honour the refusal briefly, then press again

    def __enter__(self) -> "DemoLoad":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def default_run_times(base: str, terms: dict[str, str], repeats: int) -> dict[str, float]:
    """Median compute time (elapsed_ms, measured in the worker) of each demo's defaults."""
    times = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        for slug, term in terms.items():
            samples = []
            for seed in range(repeats):
                response = client.post(f"/api/v1/terms/{term}/demo", json={"seed": 10 + seed})
                response.raise_for_status()
                samples.append(response.json()["elapsed_ms"])
            times[slug] = statistics.median(samples)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench_demos needs wrk: apt-get install wrk")

    concurrency = os.cpu_count() or 1
    clients = 2 * concurrency + 2
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "KB_DATA_DIR": str(ROOT / "data"),
            "KB_DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "KB_DEMO_CONCURRENCY": str(concurrency),
        }
        port = free_port()
        server = start_uvicorn(["kb.app:create_app", "--factory"], env, port, READ)
        base = f"http://127.0.0.1:{port}"
        try:
            catalogue = httpx.get(f"{base}/api/v1/demos").json()["items"]
            terms = {item["slug"]: item["term"] for item in catalogue}
            run_times = default_run_times(base, terms, repeats=3)
            wrk_latency(port, 1, options.connections)  # warm up
            alone, loaded, statuses = [], [], Counter[int]()
            for _ in range(options.rounds):
                alone.append(wrk_latency(port, options.seconds, options.connections))
                with DemoLoad(base, clients, list(terms.values())) as load:
                    time.sleep(1.0)  # let the load fill every worker slot
                    loaded.append(wrk_latency(port, options.seconds, options.connections))
                statuses += load.counts
        finally:
            server.terminate()
            server.wait()

    def row(name: str, rounds: list[dict[str, float]]) -> str:
        p50 = statistics.median(r["p50"] for r in rounds)
        p99 = statistics.median(r["p99"] for r in rounds)
        rps = statistics.median(r["rps"] for r in rounds)
        worst = max(r["p99"] for r in rounds)
        return f"| {name} | {p50:.2f} | {p99:.2f} | {worst:.2f} | {rps:.0f} |"

    loaded_p99 = statistics.median(r["p99"] for r in loaded)
    runs = sum(count for status, count in statuses.items() if status == 200)
    report = "\n".join(
        [
            f"## Read latency under demo load, {datetime.date.today().isoformat()}",
            "",
            machine_line(),
            f"- versions: Python {platform.python_version()}, fastapi {version('fastapi')}, "
            f"starlette {version('starlette')}, uvicorn {version('uvicorn')}, "
            f"numpy {version('numpy')}, matplotlib {version('matplotlib')}",
            f"- reads: wrk -t1 -c{options.connections} --latency on GET {READ}, "
            f"{options.rounds} alternating rounds of {options.seconds} s per condition, one "
            "uvicorn worker, no access log",
            f"- demo load: {clients} clients posting default runs of all {len(terms)} demos "
            f"with fresh seeds, KB_DEMO_CONCURRENCY={concurrency}; responses over the loaded "
            f"rounds: {dict(sorted(statuses.items()))} ({runs} runs done, 503 = refused "
            "because every worker was busy)",
            "",
            "| reads | p50 ms | p99 ms (median of rounds) | worst p99 ms | req/s |",
            "|---|---|---|---|---|",
            row("alone", alone),
            row("while demos saturate the runner", loaded),
            "",
            f"**read p99 under demo load: {loaded_p99:.1f} ms** (goal < 50 ms)",
            "",
            "Compute time of each demo's default run (elapsed_ms in its worker, median of 3, "
            "API otherwise idle):",
            "",
            "| demo | ms |",
            "|---|---|",
            *[f"| {slug} | {ms:.0f} |" for slug, ms in run_times.items()],
            "",
        ]
    )
    publish(report, write=not options.no_write)


if __name__ == "__main__":
    main()
