"""What a demo worker process does: run one job, send back plain data, exit.

The API process never calls ``main``; the runner starts it in a fresh process for every run,
so that a run past its time limit can simply be killed.
"""

import contextlib
import json
import os
import resource
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.demos.base import DemoOutput, DemoParams, finish

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NICENESS = 10
"""Workers yield the CPU to the API process, so that reads stay fast under demo load."""


@dataclass(frozen=True)
class Job:
    """One run: module-level functions (pickled by name) and validated parameters."""

    run: Callable[[Any], DemoOutput]
    params: DemoParams
    plot: "Callable[[Any, DemoOutput], Figure] | None" = None
    memory_mb: int | None = None


def _data_segment_bytes() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _restrict(memory_mb: int | None) -> None:
    """Lower the priority and cap the heap, so that one run cannot starve the machine."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    current = _data_segment_bytes()
    if memory_mb is not None and current is not None:
        limit = current + memory_mb * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def execute(job: Job) -> dict[str, Any]:
    """Run the job here. ``body`` is the JSON of ``metrics`` and ``series``; tests also read
    those as objects."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            started = time.perf_counter()
            output = job.run(job.params)
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            metrics, series = finish(output)
            body = json.dumps(
                {"metrics": metrics, "series": series}, allow_nan=False, separators=(",", ":")
            ).encode()
            svg = None
            if job.plot is not None:
                from kb.demos.plots import to_svg

                svg = to_svg(job.plot(job.params, output))
    except (Exception, MemoryError, RecursionError) as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
    return {
        "ok": True,
        "metrics": metrics,
        "series": series,
        "body": body,
        "references": None if output.references is None else list(output.references),
        "elapsed_ms": round(elapsed_ms, 3),
        "svg": svg,
    }


def main(connection: Connection, job: Job) -> None:
    """The worker process's entry point."""
    _restrict(job.memory_mb)
    result = execute(job)
    # Only their JSON text crosses over: encoding thousands of numbers is the worker's job, not
    # the API process's, which splices the text into its response.
    result.pop("metrics", None)
    result.pop("series", None)
    try:
        connection.send(result)
    finally:
        connection.close()


def ready(params: DemoParams) -> DemoOutput:
    """A job that does nothing: the runner's warm-up, proving that workers start."""
    return DemoOutput(metrics={"ready": 1})
