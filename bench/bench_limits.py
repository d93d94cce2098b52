"""What oversized requests cost a running ``kb serve``: memory, and the other clients' wait.

Two loads, each against ``kb serve`` (one worker, SQLite, the glossary in data/) on loopback,
bounded in bytes and time:

* bodies: three connections at once each POST a 200 MiB body to /api/v1/terms, without a key
  and then with one, streamed in 1 MiB pieces until the server answers or stops reading; the
  server's resident memory is sampled every 10 ms (its peak above the idle server is reported);
* header: one connection sends a 32 MiB header while another client GETs a term over and over;
  reported: how long until the server answered or closed the first connection, and the other
  client's slowest and median answers meanwhile.

With ``--before PATH`` (another checkout, e.g. an export of main) the same loads run against
that code too, served by its own ``kb serve``. The report is appended to bench/RESULTS.md.

    .venv/bin/python bench/bench_limits.py [--before /tmp/kb-main] [--no-write]
"""

import argparse
import datetime
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _common import ROOT, free_port, machine_line, publish

from kb.auth import new_key

MiB = 1 << 20
TERM = "/api/v1/terms/adamw"


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def start(cwd: Path, tmp: Path, digest: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "KB_DATA_DIR": str(ROOT / "data"),
        "KB_DATABASE_URL": f"sqlite:///{tmp / 'kb.sqlite3'}",
        "KB_API_KEYS": json.dumps({"bench": digest}),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "kb", "serve", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{TERM}", timeout=2).status_code == 200:
                return server, port
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.kill()
    raise SystemExit(f"kb serve in {cwd} did not start")


def post_body(port: int, size: int, headers: str, results: list[str]) -> None:
    """POST ``size`` bytes; record the status line (or how the connection ended)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        head = (
            f"POST /api/v1/terms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n{headers}\r\n"
        )
        sock.sendall(head.encode())
        chunk, sent = b" " * MiB, 0
        try:
            while sent < size and not select.select([sock], [], [], 0)[0]:
                sock.sendall(chunk[: size - sent])
                sent += len(chunk)
        except OSError:
            pass  # the server stopped reading; as HTTP clients do, read its answer anyway
        results.append(f"{first_line(sock)} after {sent / MiB:.0f} MiB sent")


def first_line(sock: socket.socket) -> str:
    """The status line waiting on ``sock``, or how the connection ended."""
    try:
        return sock.recv(200).split(b"\r\n", 1)[0].decode() or "closed"
    except OSError as exc:
        return f"no answer ({type(exc).__name__})"


def body_load(pid: int, port: int, headers: str) -> tuple[float, list[str]]:
    """Peak RSS above the idle server (MiB) during three 200 MiB POSTs at once."""
    idle = rss(pid)
    peak, done = idle, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    results: list[str] = []
    clients = [
        threading.Thread(target=post_body, args=(port, 200 * MiB, headers, results))
        for _ in range(3)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    time.sleep(0.5)  # the server may still be parsing what it took in
    done.set()
    sampler.join()
    return (peak - idle) / MiB, results


def header_load(port: int, size: int) -> tuple[float, str, float, float]:
    """Seconds until a ``size``-byte header is refused (or read), and the other client's
    slowest and median answer (ms) meanwhile."""
    latencies: list[float] = []
    stop = threading.Event()

    def reader() -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                began = time.perf_counter()
                client.get(f"http://127.0.0.1:{port}{TERM}").raise_for_status()
                latencies.append(time.perf_counter() - began)

    other = threading.Thread(target=reader)
    other.start()
    time.sleep(0.5)
    began = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk, sent = b"a" * MiB, 0
        try:
            while sent < size and not select.select([sock], [], [], 0)[0]:
                sock.sendall(chunk)
                sent += len(chunk)
            if sent >= size:
                sock.sendall(b"\r\n\r\n")
        except OSError:
            pass
        answer = first_line(sock)
    took = time.perf_counter() - began
    time.sleep(0.5)
    stop.set()
    other.join()
    return (
        took,
        f"{answer} after {sent / MiB:.0f} MiB sent",
        max(latencies) * 1e3,
        (statistics.median(latencies) * 1e3),
    )


def measure(name: str, cwd: Path, key: str, digest: str) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        server, port = start(cwd, Path(tmp), digest)
        try:
            rows = []
            for label, headers in [
                ("no key", ""),
                ("valid key", f"Authorization: Bearer {key}\r\n"),
            ]:
                grew, results = body_load(server.pid, port, headers)
                rows.append(
                    f"| {name} | 3 x 200 MiB POST /terms, {label} | peak RSS +{grew:.0f} MiB | "
                    f"{'; '.join(sorted(set(results)))} |"
                )
            took, answer, slowest, median = header_load(port, 32 * MiB)
            rows.append(
                f"| {name} | 32 MiB header | answered in {took:.2f} s: {answer} | other client "
                f"meanwhile: slowest {slowest:.0f} ms, median {median:.1f} ms |"
            )
            return rows
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="another checkout to measure as 'before'")
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    options = parser.parse_args()
    key, digest = new_key()
    rows = []
    if options.before is not None:
        rows += measure("before", options.before, key, digest)
    rows += measure("this code", ROOT, key, digest)
    report = "\n".join(
        [
            f"## Oversized requests against kb serve, {datetime.date.today().isoformat()}",
            "",
            machine_line(),
            "- kb serve, one worker, SQLite, data/; loopback; the machine was shared and busy",
            "",
            "| code | load | server | answers |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )
    publish(report, write=not options.no_write)


if __name__ == "__main__":
    main()
