"""Throughput of GET /api/v1/terms/adam-optimizer against a bare FastAPI route, same run.

All are served by uvicorn with one worker and no access log, on this machine's loopback, and
loaded in turn by wrk (Debian package ``wrk``) for several interleaved rounds, so that machine
noise hits every side alike. kb runs with the HTTP protocol ``kb serve`` uses (httptools with
the request head bounded, kb/server.py) and, for comparison, with uvicorn's plain httptools and
with h11 (which bounds heads at 16 KiB by itself); the bare route with uvicorn's default. The
result (medians, spread, ratios) is appended to bench/RESULTS.md with the machine, the versions
and the date.

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
from _common import free_port, machine_line, publish, start_uvicorn

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/v1/terms/adam-optimizer"
KB_SERVE_HTTP = "kb.server:BoundedHttpToolsProtocol"


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
    parser.add_argument(
        "--before",
        type=Path,
        help="another checkout of this repository (e.g. a worktree of main): its kb joins the "
        "run as 'kb before', served with uvicorn's plain httptools",
    )
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench_api needs wrk: apt-get install wrk")

    with tempfile.TemporaryDirectory() as tmp:
        kb_env = {
            "KB_DATA_DIR": str(ROOT / "data"),
            "KB_DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
        }
        app = ["kb.app:create_app", "--factory"]
        kb_port = free_port()
        servers = {"kb": start_uvicorn([*app, "--http", KB_SERVE_HTTP], kb_env, kb_port, PATH)}
        ports = {"kb": kb_port}
        payload = Path(tmp) / "payload.json"
        payload.write_text(httpx.get(f"http://127.0.0.1:{kb_port}{PATH}").text)
        bare_env = {"BENCH_PAYLOAD": str(payload)}
        bare = ["bare_app:app", "--app-dir", str(ROOT / "bench")]
        others = [
            ("kb-httptools", [*app, "--http", "httptools"], kb_env, ROOT),
            ("kb-h11", [*app, "--http", "h11"], kb_env, ROOT),
            ("bare", bare, bare_env, ROOT),
        ]
        if options.before is not None:
            before_env = {**kb_env, "KB_DATABASE_URL": f"sqlite:///{tmp}/before.sqlite3"}
            others.append(("before", [*app, "--http", "httptools"], before_env, options.before))
        for name, args, env, cwd in others:
            ports[name] = free_port()
            servers[name] = start_uvicorn(args, env, ports[name], PATH, cwd=cwd)
        try:
            size = len(payload.read_bytes())
            assert json.loads(httpx.get(f"http://127.0.0.1:{ports['bare']}{PATH}").text) == (
                json.loads(payload.read_text())
            )
            for port in ports.values():  # warm up every side
                wrk(port, 1, options.connections)
            rates: dict[str, list[float]] = {name: [] for name in ports}
            for _ in range(options.rounds):
                for name, port in ports.items():
                    rates[name].append(wrk(port, options.seconds, options.connections))
        finally:
            for server in servers.values():
                server.terminate()
            for server in servers.values():
                server.wait()

    def row(name: str, label: str) -> str:
        ours, peer = rates[name], rates["bare"]
        ratio = statistics.median(ours) / statistics.median(peer)
        ratios = sorted(o / p for o, p in zip(ours, peer, strict=True))
        return (
            f"| {label} | {statistics.median(ours):.0f} | {min(ours):.0f} | {max(ours):.0f} | "
            f"**{ratio:.2f}** ({ratios[0]:.2f} to {ratios[-1]:.2f}) |"
        )

    peer = rates["bare"]
    bounded = [k / h for k, h in zip(rates["kb"], rates["kb-httptools"], strict=True)]
    extra = []
    if "before" in rates:
        extra.append(row("before", f"kb before ({options.before}), plain httptools"))
    report = "\n".join(
        [
            f"## API lookup throughput, {datetime.date.today().isoformat()}",
            "",
            machine_line(),
            f"- versions: Python {platform.python_version()}, fastapi {version('fastapi')}, "
            f"starlette {version('starlette')}, uvicorn {version('uvicorn')}, "
            f"httptools {version('httptools')}, h11 {version('h11')}, "
            f"pydantic {version('pydantic')}, sqlalchemy {version('sqlalchemy')}",
            f"- load: wrk -t1 -c{options.connections}, {options.rounds} interleaved rounds of "
            f"{options.seconds} s per side, one uvicorn worker each, no access log",
            f"- response: GET {PATH}, {size} bytes of JSON",
            "",
            "| server | median req/s | min | max | ratio to bare (per-round range) |",
            "|---|---|---|---|---|",
            row("kb", "kb (cached, ETag), as `kb serve` runs it: httptools, head bounded"),
            row("kb-httptools", "kb, uvicorn's plain httptools (no head limit)"),
            row("kb-h11", "kb, uvicorn's h11 (16 KiB head limit)"),
            *extra,
            f"| bare FastAPI route returning the dict | {statistics.median(peer):.0f} | "
            f"{min(peer):.0f} | {max(peer):.0f} | 1 |",
            "",
            f"**cost of the head limit: kb bounded / kb plain httptools, round by round: median "
            f"{statistics.median(bounded):.2f}** ({min(bounded):.2f} to {max(bounded):.2f})",
            "",
        ]
    )
    publish(report, write=not options.no_write)


if __name__ == "__main__":
    main()
