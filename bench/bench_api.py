"""Throughput of GET /api/v1/terms/adam-optimizer against a bare FastAPI route, same run.

Both are served by uvicorn with one worker and no access log, on this machine's loopback, and
loaded in turn by wrk (Debian package ``wrk``) for several interleaved rounds, so that machine
noise hits both sides alike. The result (medians, spread, ratio) is appended to
bench/RESULTS.md with the machine, the versions and the date.

    .venv/bin/python bench/bench_api.py [--rounds 5] [--seconds 5] [--connections 32]
"""

import argparse
import datetime
import json
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path

import httpx
from _common import append_results, free_port, machine_line, start_uvicorn

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/v1/terms/adam-optimizer"


def wrk(port: int, seconds: int, connections: int) -> float:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}{PATH}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"errors during the run:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench_api needs wrk: apt-get install wrk")

    with tempfile.TemporaryDirectory() as tmp:
        kb_env = {
            "KB_DATA_DIR": str(ROOT / "data"),
            "KB_DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
        }
        kb_port, bare_port = free_port(), free_port()
        kb = start_uvicorn(["kb.app:create_app", "--factory"], kb_env, kb_port, PATH)
        payload = Path(tmp) / "payload.json"
        payload.write_text(httpx.get(f"http://127.0.0.1:{kb_port}{PATH}").text)
        bare_env = {"BENCH_PAYLOAD": str(payload)}
        bare = start_uvicorn(
            ["bare_app:app", "--app-dir", str(ROOT / "bench")], bare_env, bare_port, PATH
        )
        try:
            size = len(payload.read_bytes())
            assert json.loads(httpx.get(f"http://127.0.0.1:{bare_port}{PATH}").text) == (
                json.loads(payload.read_text())
            )
            wrk(kb_port, 1, options.connections)  # warm up both
            wrk(bare_port, 1, options.connections)
            ours, peer = [], []
            for _ in range(options.rounds):
                ours.append(wrk(kb_port, options.seconds, options.connections))
                peer.append(wrk(bare_port, options.seconds, options.connections))
        finally:
            kb.terminate()
            bare.terminate()
            kb.wait()
            bare.wait()

    ratio = statistics.median(ours) / statistics.median(peer)
    ratios = sorted(o / p for o, p in zip(ours, peer, strict=True))
    report = "\n".join(
        [
            f"## API lookup throughput, {datetime.date.today().isoformat()}",
            "",
            machine_line(),
            f"- versions: Python {platform.python_version()}, fastapi {version('fastapi')}, "
            f"starlette {version('starlette')}, uvicorn {version('uvicorn')}, "
            f"pydantic {version('pydantic')}, sqlalchemy {version('sqlalchemy')}",
            f"- load: wrk -t1 -c{options.connections}, {options.rounds} interleaved rounds of "
            f"{options.seconds} s per side, one uvicorn worker each, no access log",
            f"- response: GET {PATH}, {size} bytes of JSON",
            "",
            "| server | median req/s | min | max |",
            "|---|---|---|---|",
            f"| kb (cached, ETag) | {statistics.median(ours):.0f} | {min(ours):.0f} | "
            f"{max(ours):.0f} |",
            f"| bare FastAPI route returning the dict | {statistics.median(peer):.0f} | "
            f"{min(peer):.0f} | {max(peer):.0f} |",
            "",
            f"**ratio kb / bare: {ratio:.2f}** (per-round ratios {ratios[0]:.2f} to "
            f"{ratios[-1]:.2f}; goal >= 0.8)",
            "",
        ]
    )
    print(report)
    if not options.no_write:
        append_results(report)


if __name__ == "__main__":
    main()
