"""A real server for tests that need one: ``kb serve`` (uvicorn) on a free port."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(
    data_dir: Path,
    database_url: str,
    timeout_s: float = 60,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
) -> Iterator[str]:
    """``kb serve`` on ``data_dir`` until the block ends; yields its root URL. Its output goes
    to ``log_path`` if given."""
    with live_server(data_dir, database_url, timeout_s, env, log_path) as server:
        yield server.root


@dataclass
class Server:
    root: str
    process: "subprocess.Popen[bytes]"
    log: IO[bytes]

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.root.removeprefix("http://").split(":")
        return host, int(port)

    def output(self) -> str:
        """What the server has logged so far (read without moving the file's shared offset)."""
        fd = self.log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def rss_bytes(self) -> int:
        """The server's resident memory (Linux)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no VmRSS for process {self.process.pid}")


@contextmanager
def live_server(
    data_dir: Path,
    database_url: str,
    timeout_s: float = 60,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
) -> Iterator[Server]:
    """``kb serve`` as :func:`serving` runs it, with its process and its log."""
    port = free_port()
    env = {
        **os.environ,
        "KB_DATA_DIR": str(data_dir),
        "KB_DATABASE_URL": database_url,
        **(env or {}),
    }
    env.pop("KB_URL", None)
    root = f"http://127.0.0.1:{port}"
    # A file, not a pipe: a pipe nobody reads fills up with access logs and blocks the server.
    with open(log_path, "w+b") if log_path else tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "kb", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(root, server, log, timeout_s)
            yield Server(root, server, log)
        finally:
            server.terminate()
            server.wait(timeout=10)


def _wait_until_up(
    root: str, server: "subprocess.Popen[bytes]", log: IO[bytes], timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{root}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.poll() is not None:
            log.seek(0)
            raise AssertionError(log.read().decode(errors="replace"))
        assert time.monotonic() < deadline, f"the server did not come up in {timeout_s} s"
        time.sleep(0.2)
