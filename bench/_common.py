"""Shared helpers for the benchmarks in this folder.

* :func:`scrub_blas_env` re-executes the benchmark without ``OPENBLAS_CORETYPE`` and
  ``OPENBLAS_L2_SIZE`` (set on some machines here, they make a current NumPy pick a slower kernel);
  only the benchmark's own process is affected, never the tests or CI.
* :func:`interleaved` times several contenders in turn, repeat after repeat, so that noise from
  other work on the machine hits every side alike; :class:`Spread` summarises the repeats.
* :func:`machine_line`, :func:`environment_lines` and :func:`append_results` write the report
  header (machine, versions, BLAS kernel, threads, date) and append it to ``bench/RESULTS.md``.
* :func:`free_port` and :func:`start_uvicorn` serve an app on loopback for the HTTP benchmarks;
  :func:`checkout` gives the files of another revision, to serve that version side by side,
  and :func:`run_script` runs a script in it.
* :func:`run_named` is the command line of a file of named benchmarks (bench_classical.py).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import socket
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"

BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_SCRUBBED = "BENCH_SCRUBBED_BLAS_ENV"


def scrub_blas_env() -> None:
    """Re-execute this process without the OpenBLAS overrides in :data:`BLAS_ENV`, if set.

    OpenBLAS reads them once, when the library is loaded, so the benchmark restarts itself (with
    the same interpreter and arguments) before any timing; what was removed is recorded in the
    environment of the new process and shows in :func:`environment_lines`.
    """
    found = {name: os.environ[name] for name in BLAS_ENV if name in os.environ}
    if not found:
        return
    env = {name: value for name, value in os.environ.items() if name not in BLAS_ENV}
    env[_SCRUBBED] = " ".join(f"{name}={value}" for name, value in found.items())
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_line() -> str:
    return (
        f"- machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}"
    )


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def pin_threads(threads: int) -> Any:
    """Limit torch (intra-op) and every BLAS / OpenMP pool loaded so far to ``threads``.

    Import torch, NumPy and scikit-learn first.  Returns the threadpoolctl limiter; call
    ``restore_original_limits()`` on it to undo.
    """
    from threadpoolctl import threadpool_limits

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    return threadpool_limits(limits=threads)


def blas_description() -> str:
    """The BLAS and OpenMP libraries loaded in this process, with kernel and thread count."""
    from threadpoolctl import threadpool_info

    parts = []
    for info in threadpool_info():
        name = Path(info.get("filepath", "?")).name
        if info.get("user_api") == "blas":
            parts.append(
                f"{info.get('internal_api')} {info.get('version')} kernel "
                f"{info.get('architecture')} ({name}, {info.get('num_threads')} threads)"
            )
        else:
            parts.append(f"{info.get('internal_api')} ({name}, {info.get('num_threads')} threads)")
    return "; ".join(parts) or "none loaded"


def environment_lines(title: str, packages: Iterable[str], threads: int) -> list[str]:
    """The report header: title with date, machine, versions, BLAS kernel and threads."""
    versions = ", ".join(f"{name} {package_version(name)}" for name in packages)
    scrubbed = os.environ.get(_SCRUBBED)
    blas_env = (
        f"unset for this run (were {scrubbed})" if scrubbed else f"{' and '.join(BLAS_ENV)} not set"
    )
    torch_threads = ""
    if "torch" in sys.modules:
        torch_threads = f", torch.get_num_threads() = {sys.modules['torch'].get_num_threads()}"
    return [
        f"## {title}, {datetime.date.today().isoformat()}",
        "",
        machine_line(),
        f"- versions: Python {platform.python_version()}, {versions}",
        f"- threads: {threads} for every side (threadpoolctl limit{torch_threads})",
        f"- BLAS / OpenMP: {blas_description()}",
        f"- environment: {blas_env}",
    ]


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_uvicorn(
    app: list[str],
    env: dict[str, str],
    port: int,
    ready_path: str,
    timeout: float = 120,
    cwd: Path = ROOT,
    access_log: bool = False,
) -> subprocess.Popen[bytes]:
    """uvicorn serving ``app`` (its command-line arguments) with one worker and no access log
    (unless ``access_log``: then it goes nowhere, as formatted as ever), returned once
    ``ready_path`` answers 2xx. ``python -m`` imports from ``cwd`` first: another checkout of
    the code there serves that version."""
    command = [sys.executable, "-m", "uvicorn", *app, "--port", str(port), "--workers", "1"]
    if access_log:
        server = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=cwd, stdout=subprocess.DEVNULL
        )
    else:
        command += ["--no-access-log", "--log-level", "warning"]
        server = subprocess.Popen(command, env={**os.environ, **env}, cwd=cwd)
    return wait_ready(server, port, ready_path, timeout, " ".join(app))


def start_kb_serve(
    env: dict[str, str], port: int, ready_path: str, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    """``kb serve`` as an operator runs it (its access log goes nowhere), once it answers;
    ``python -m`` imports from ``cwd`` first: another checkout there serves that version."""
    command = [sys.executable, "-m", "kb", "serve", "--port", str(port)]
    server = subprocess.Popen(
        command, env={**os.environ, **env}, cwd=cwd, stdout=subprocess.DEVNULL
    )
    return wait_ready(server, port, ready_path, 300, "kb serve")


def wait_ready(
    server: subprocess.Popen[bytes], port: int, ready_path: str, timeout: float, app: str
) -> subprocess.Popen[bytes]:
    """``server`` once ``ready_path`` answers 2xx; killed, and the run ended, if it does not
    within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).raise_for_status()
            return server
        except httpx.HTTPError:
            if server.poll() is not None:
                raise SystemExit(f"server {app} exited with {server.returncode}") from None
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"server {app} did not start in {timeout:.0f} s")


def checkout(revision: str, into: Path) -> Path:
    """The files of ``revision`` (git archive), to run that version of the code."""
    archive = subprocess.run(
        ["git", "archive", revision], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_script(code: Path, script: str, *args: str) -> list[str]:
    """Run ``script`` (``python -c``) with ``code``'s version of the project first on its path;
    the words it printed."""
    run = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code)},
        check=True,
        capture_output=True,
        text=True,
    )
    return run.stdout.split()


def append_results(report: str) -> None:
    with RESULTS.open("a") as results:
        results.write(report + "\n")


def publish(report: str, *, write: bool) -> None:
    """Print ``report`` and, if ``write``, append it to bench/RESULTS.md."""
    print(report)
    if write:
        append_results(report)


# -- timing -----------------------------------------------------------------------------------


@dataclass
class Spread:
    """Median and range (min to max) of repeated measurements."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def fmt(self, scale: float = 1.0, digits: int = 2) -> str:
        """``median (low to high)`` after multiplying by ``scale``."""
        return (
            f"{self.median * scale:.{digits}f} "
            f"({self.low * scale:.{digits}f} to {self.high * scale:.{digits}f})"
        )


@dataclass
class Timings:
    """Seconds per call and the value of the last call of each repeat, by contender."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    results: dict[str, list[Any]] = field(default_factory=dict)

    def spread(self, name: str) -> Spread:
        return Spread(self.seconds[name])

    def ratio(self, name: str, peer: str) -> tuple[float, float, float]:
        """name / peer, repeat by repeat (the two ran back to back): median, lowest, highest."""
        paired = [a / b for a, b in zip(self.seconds[name], self.seconds[peer], strict=True)]
        return statistics.median(paired), min(paired), max(paired)


def interleaved(
    contenders: Mapping[str, Callable[[], Any]],
    *,
    repeats: int,
    number: int = 1,
    warmup: int = 1,
    keep_results: bool = False,
) -> Timings:
    """Time each contender ``number`` calls at a time, all of them in turn, ``repeats`` times.

    The order rotates from repeat to repeat, so no contender always runs first (or right after
    the same neighbour).  Garbage collection is off while a contender runs, as in ``timeit``.
    With ``keep_results`` the value of each repeat's last call is kept (for small results such
    as an accuracy); otherwise it is dropped at once, so that large outputs do not pile up and
    change what later allocations cost.
    """
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    timings = Timings({name: [] for name in names}, {name: [] for name in names})
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            call = contenders[name]
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                for _ in range(number):
                    result = call()
                elapsed = time.perf_counter() - start
            finally:
                gc.enable()
            timings.seconds[name].append(elapsed / number)
            if keep_results:
                timings.results[name].append(result)
            del result
    return timings


def run_named(
    description: str, benchmarks: Mapping[str, tuple[Callable[[int, int], str], int]]
) -> None:
    """Parse ``NAME... [--threads N] [--repeats N] [--no-write]`` and run the named benchmarks
    (``benchmarks`` maps a name to its function of (threads, repeats) and default repeats), each
    report printed and, unless ``--no-write``, appended to RESULTS.md."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("benchmarks", nargs="+", choices=[*benchmarks, "all"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, help="override each benchmark's default")
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    options = parser.parse_args()
    names = list(benchmarks) if "all" in options.benchmarks else options.benchmarks
    limiter = pin_threads(options.threads)
    try:
        for name in names:
            function, repeats = benchmarks[name]
            report = function(options.threads, options.repeats or repeats)
            print(report, flush=True)
            if not options.no_write:
                append_results(report)
    finally:
        limiter.restore_original_limits()
