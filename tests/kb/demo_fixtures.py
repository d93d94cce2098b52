"""Demos that exist only for tests: one that never ends, one that returns NaN and infinities,
one whose worker dies, one that fills memory, one that answers at once. Worker processes
import this module to run them, so everything here is module level."""

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from kb.demos import registry
from kb.demos.base import Demo, DemoOutput, DemoParams, Source, param


class SlowParams(DemoParams):
    pid_file: str = param("", "Where the worker writes its process id.")


class NoParams(DemoParams):
    pass


class HogParams(DemoParams):
    megabytes: int = param(16, "How much memory to fill.", ge=1, le=100_000)


def run_slow(p: SlowParams) -> DemoOutput:
    if p.pid_file:
        Path(p.pid_file).write_text(str(os.getpid()))
    time.sleep(3600)
    return DemoOutput(metrics={})


def run_nan(p: NoParams) -> DemoOutput:
    return DemoOutput(
        metrics={"nan": math.nan, "inf": math.inf, "minus_inf": -math.inf, "fine": 1.5},
        series={
            "values": [1.0, math.nan, math.inf, 2.0],
            "pairs": [[0.0, 1.0], [1.0, -math.inf], [math.nan, 3.0]],
        },
    )


def run_crash(p: NoParams) -> DemoOutput:
    os._exit(3)


def run_hog(p: HogParams) -> DemoOutput:
    filled = np.ones(p.megabytes * 2**20 // 8)
    return DemoOutput(metrics={"sum": float(filled.sum())})


def run_fast(p: NoParams) -> DemoOutput:
    return DemoOutput(metrics={"answer": 42, "seed": p.seed}, series={"line": [0.0, 1.0]})


def plot_any(p: Any, out: DemoOutput) -> Figure:
    from kb.demos import plots

    fig = plots.figure(1)
    plots.axes(fig, 1, 1, 1, "test")
    return fig


def cost_nothing(p: Any) -> float:
    return 0.0


def _demo(slug: str, term: str, params: type[DemoParams], run: Any) -> Demo[Any]:
    return Demo(
        slug=slug,
        title=f"Test demo {slug}",
        terms=(term,),
        description="For tests only.",
        params=params,
        run=run,
        plot=plot_any,
        sources=(Source("reference.gradcheck", "max_relative_error", "backpropagation"),),
        cost=cost_nothing,
        cost_drivers=(),
    )


# Each belongs to a term of the default test glossary (tests/kb/glossary_factory.py).
SLOW = _demo("test-slow", "momentum", SlowParams, run_slow)
NAN = _demo("test-nan", "rmsprop", NoParams, run_nan)
CRASH = _demo("test-crash", "backpropagation", NoParams, run_crash)
FAST = _demo("test-fast", "gradient-descent", NoParams, run_fast)
HOG = _demo("test-hog", "adamw", HogParams, run_hog)
DEMO_OF_TERM = {demo.terms[0]: demo.slug for demo in (SLOW, NAN, CRASH, FAST, HOG)}


@contextmanager
def registered_test_demos() -> Iterator[None]:
    with registry.registered(SLOW, NAN, CRASH, FAST, HOG):
        yield
