"""A live ``kb serve`` under load from other processes: read latency during a demo flood, read
throughput and CPU per request against the bare FastAPI route, and a bounded soak.

``kb serve`` runs as an operator runs it (one worker, its access log on, sent nowhere) over
SQLite and the bundled glossary. Every load comes from processes of its own: wrk (Debian
package ``wrk``) for the reads, bench/flood.py for the demo flood and the soak's mixed reads.

* latency: rounds alternate between wrk alone (``--connections``, GET of one term) and wrk while
  ``--flood-clients`` clients post demo runs with fresh seeds (the goal: read p99 < 50 ms);
* throughput: wrk with 32 connections on ``kb serve`` and on bench/bare_app.py (uvicorn, access
  log on too) in interleaved rounds; CPU per request from each server's /proc times;
* soak (``--soak-seconds``, 0 skips it): a demo flood and mixed reads (JSON, search, pages,
  404s) together; errors, the server's memory each second, read latency.

The result is appended to bench/RESULTS.md with the machine, the versions and the date.

    .venv/bin/python bench/bench_serve.py [--rounds 3] [--seconds 5] [--soak-seconds 120]
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
from _common import free_port, machine_line, publish, start_kb_serve, start_uvicorn
from bench_demos import READ, wrk_latency

ROOT = Path(__file__).resolve().parent.parent
FLOOD = Path(__file__).resolve().parent / "flood.py"
TICKS = os.sysconf("SC_CLK_TCK")
HOSTILE_EVERY = 10


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def start_flood(
    base: str, seconds: float, demo_clients: int, nice: int, read_clients: int = 0
) -> Any:
    """bench/flood.py, at ``nice``: clients elsewhere would not take the server's CPU. One read
    in ``HOSTILE_EVERY`` is one no cache can hold (a made-up Host, a new wide search)."""
    command = ["nice", "-n", str(nice), sys.executable, str(FLOOD), "--base", base]
    command += ["--seconds", str(seconds), "--hostile-every", str(HOSTILE_EVERY)]
    command += ["--demo-clients", str(demo_clients), "--read-clients", str(read_clients)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def flood_result(process: Any) -> dict[str, Any]:
    out, _ = process.communicate(timeout=300)
    if process.returncode != 0:
        raise SystemExit(f"the flood failed ({process.returncode})")
    result: dict[str, Any] = json.loads(out)
    return result


def measured(pid: int, run: Callable[[], dict[str, float]]) -> dict[str, float]:
    """``run``'s wrk figures, with the server's CPU seconds per request during it."""
    cpu, wall = cpu_seconds(pid), time.monotonic()
    figures = run()
    cores = (cpu_seconds(pid) - cpu) / (time.monotonic() - wall)
    return figures | {"cpu_ms": 1e3 * cores / figures["rps"]}


def latency_rounds(
    port: int, pid: int, options: argparse.Namespace
) -> tuple[list[dict[str, float]], list[dict[str, float]], Counter[str]]:
    base = f"http://127.0.0.1:{port}"
    alone, flooded, statuses = [], [], Counter[str]()
    for _ in range(options.rounds):
        alone.append(measured(pid, lambda: wrk_latency(port, options.seconds, options.connections)))
        flood = start_flood(base, options.seconds + 2.0, options.flood_clients, options.nice)
        time.sleep(1.5)  # let the flood fill every worker slot
        flooded.append(
            measured(pid, lambda: wrk_latency(port, options.seconds, options.connections))
        )
        summary = flood_result(flood)
        statuses.update(summary["statuses"])
        statuses.update(summary["errors"])
    return alone, flooded, statuses


def throughput_rounds(
    ports: dict[str, tuple[int, int]], options: argparse.Namespace
) -> dict[str, list[dict[str, float]]]:
    found: dict[str, list[dict[str, float]]] = {name: [] for name in ports}
    for port, _ in ports.values():
        wrk_latency(port, 1, 32)  # warm up
    for r in range(options.rounds):
        names = list(ports)[r % 2 :] + list(ports)[: r % 2]
        for name in names:
            port, pid = ports[name]
            found[name].append(measured(pid, partial(wrk_latency, port, options.seconds, 32)))
    return found


def soak(port: int, pid: int, seconds: float, clients: int, nice: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    memory: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            memory.append(rss_mib(pid))

    start_rss = rss_mib(pid)
    sampler = threading.Thread(target=sample)
    sampler.start()
    # The readers in a process of their own, not niced: their latencies are the API's.
    flood = start_flood(base, seconds, clients, nice)
    readers = start_flood(base, seconds, 0, 0, read_clients=8)
    try:
        demos, reads = flood_result(flood), flood_result(readers)
    finally:
        done.set()
        sampler.join()
    summary = {
        "statuses": demos["statuses"] | reads["statuses"],
        "errors": demos["errors"] | reads["errors"],
        "read_ms": reads["read_ms"],
        "hostile_ms": reads["hostile_ms"],
    }
    quarter = max(len(memory) // 4, 1)
    return summary | {
        "rss_start": start_rss,
        "rss_first_quarter": statistics.median(memory[:quarter]),
        "rss_last_quarter": statistics.median(memory[-quarter:]),
        "rss_max": max(memory),
        "health": httpx.get(f"{base}/api/v1/health", timeout=10).status_code,
    }


def _median(rounds: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def _row(name: str, rounds: list[dict[str, float]]) -> str:
    worst = max(r["p99"] for r in rounds)
    return (
        f"| {name} | {_median(rounds, 'p50'):.2f} | {_median(rounds, 'p99'):.2f} | {worst:.2f} "
        f"| {_median(rounds, 'rps'):.0f} | {_median(rounds, 'cpu_ms'):.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--flood-clients", type=int, default=16)
    parser.add_argument("--soak-seconds", type=float, default=120)
    parser.add_argument(
        "--cache-mb",
        type=float,
        default=8,
        help="KB_CACHE_MB of the server: small, so that the soak fills it and meets the bound",
    )
    parser.add_argument(
        "--nice", type=int, default=10, help="niceness of the flood process (0: as the server)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench_serve needs wrk: apt-get install wrk")

    concurrency = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "KB_DATA_DIR": str(ROOT / "data"),
            "KB_DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "KB_DEMO_CONCURRENCY": str(concurrency),
            "KB_CACHE_MB": str(options.cache_mb),
        }
        kb_port, bare_port = free_port(), free_port()
        kb = start_kb_serve(env, kb_port, READ)
        payload = Path(tmp) / "payload.json"
        payload.write_text(httpx.get(f"http://127.0.0.1:{kb_port}{READ}").text)
        bare = start_uvicorn(
            ["bare_app:app", "--app-dir", str(ROOT / "bench")],
            {"BENCH_PAYLOAD": str(payload)},
            bare_port,
            READ,
            access_log=True,
        )
        try:
            rss_ready = rss_mib(kb.pid)
            ports = {"kb serve": (kb_port, kb.pid), "bare": (bare_port, bare.pid)}
            throughput = throughput_rounds(ports, options)
            alone, flooded, statuses = latency_rounds(kb_port, kb.pid, options)
            soaked = (
                soak(kb_port, kb.pid, options.soak_seconds, options.flood_clients, options.nice)
                if options.soak_seconds > 0
                else None
            )
        finally:
            for server in (kb, bare):
                server.terminate()
                server.wait()

    ours, peer = throughput["kb serve"], throughput["bare"]
    ratio = _median(ours, "rps") / _median(peer, "rps")
    cpu_ratio = _median(ours, "cpu_ms") / _median(peer, "cpu_ms")
    header = "| reads | p50 ms | p99 ms (median of rounds) | worst p99 ms | req/s | CPU ms/req |"
    lines = [
        f"## A live kb serve under load, {datetime.date.today().isoformat()}",
        "",
        machine_line(),
        f"- versions: Python {platform.python_version()}, fastapi {version('fastapi')}, "
        f"starlette {version('starlette')}, uvicorn {version('uvicorn')}, "
        f"numpy {version('numpy')}, matplotlib {version('matplotlib')}",
        f"- `kb serve` (one worker, access log on, sent nowhere), SQLite, the bundled glossary, "
        f"KB_DEMO_CONCURRENCY={concurrency}, KB_CACHE_MB={options.cache_mb:g} (so that the soak "
        f"fills the cache); {rss_ready:.0f} MiB resident once ready",
        f"- load average at the end: {os.getloadavg()[0]:.1f} (the machine was shared and busy)",
        "",
        f"### Reads during a {options.flood_clients}-client demo flood from another process",
        "",
        f"wrk -t1 -c{options.connections} --latency on GET {READ}, {options.rounds} "
        f"alternating rounds of {options.seconds} s; the flood: bench/flood.py (at nice "
        f"{options.nice}, as clients elsewhere would not take the server's CPU) posting default "
        f"runs of every demo with fresh seeds; its responses over the flooded rounds: "
        f"{dict(sorted(statuses.items()))} (503 = refused at once, every worker busy)",
        "",
        header,
        "|---|---|---|---|---|---|",
        _row("alone", alone),
        _row("during the demo flood", flooded),
        "",
        f"**read p99 during the demo flood: {_median(flooded, 'p99'):.1f} ms** (goal < 50 ms)",
        "",
        "### Read throughput against the bare FastAPI route",
        "",
        f"wrk -t1 -c32 --latency, {options.rounds} interleaved rounds of {options.seconds} s "
        "per server, both with uvicorn's access log on; CPU is the server process's user + "
        "system time over the round, per request",
        "",
        header,
        "|---|---|---|---|---|---|",
        _row("kb serve, GET of a term", ours),
        _row("bare FastAPI route (bench/bare_app.py)", peer),
        "",
        f"**kb / bare: {ratio:.2f}x the requests per second, {cpu_ratio:.2f}x the CPU per "
        "request**",
        "",
    ]
    if soaked is not None:
        errors = {
            status: count
            for status, count in (soaked["statuses"] | soaked["errors"]).items()
            if status.split()[-1] != "503"
            and not status.split()[-1].startswith(("2", "3"))
            and status != "read 404"
        }
        lines += [
            f"### Soak: {options.soak_seconds:.0f} s of a demo flood and mixed reads",
            "",
            f"bench/flood.py with {options.flood_clients} demo clients (at nice {options.nice}) "
            "and, in another process, 8 read clients cycling through JSON lookups, searches, "
            "a path, pages (term, search, graph, home) and a 404 page, one read in "
            f"{HOSTILE_EVERY} made so that no cache can hold it (the graph page under a made-up "
            "Host, a wide search never sent before: the byte bounds must hold the memory); "
            "latencies as the Python clients saw them (their own scheduling "
            "included)",
            "",
            f"- responses: {soaked['statuses']}; transport errors: {soaked['errors'] or 'none'}",
            f"- errors (5xx other than the demo runner's 503 refusals, transport errors): "
            f"{errors or 'none'}; /health afterwards: {soaked['health']}",
            f"- server memory (RSS, MiB): {soaked['rss_start']:.0f} at the start, "
            f"{soaked['rss_first_quarter']:.0f} (median of the first quarter), "
            f"{soaked['rss_last_quarter']:.0f} (last quarter), {soaked['rss_max']:.0f} at most",
            f"- read latency: p50 {soaked['read_ms']['p50']:.1f} ms, p99 "
            f"{soaked['read_ms']['p99']:.1f} ms, max {soaked['read_ms']['max']:.1f} ms; the "
            f"reads no cache holds: p50 {soaked['hostile_ms']['p50']:.1f} ms, p99 "
            f"{soaked['hostile_ms']['p99']:.1f} ms, max {soaked['hostile_ms']['max']:.1f} ms",
            "",
        ]
    report = "\n".join(lines)
    publish(report, write=not options.no_write)


if __name__ == "__main__":
    main()
