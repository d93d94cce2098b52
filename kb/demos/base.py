"""What a demo is: a parameter model, a pure run function, a cost estimate and a plot.

A demo's ``run(params)`` uses only ``reference/`` and NumPy, is deterministic given its
parameters (the seed among them) and returns a ``DemoOutput``. It runs in a worker process
(``kb.demos.runner``); this module also holds what the worker does with the output before it
crosses the process boundary: non-finite numbers become ``None`` (and mark the run as
diverged) and long series are downsampled.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SERIES_MAX_POINTS = 500
"""The longest series a response carries; longer ones are downsampled, ends kept."""

SERIES_DIGITS = 7
"""Significant digits kept in series values (they are for plotting)."""

COST_BUDGET = 1.0
"""The most a run may cost. A unit is about a second of one core of the machine the cost
models were fitted on, so a run within budget ends well inside the default time limit."""

MetricValue = float | int | None
JsonSeries = list[float | None] | list[list[float | None]]


def param(default: Any, description: str, *, unit: str | None = None, **bounds: Any) -> Any:
    """A parameter field: its default, what it means, its bounds and (if any) its unit."""
    extra: dict[str, Any] = {} if unit is None else {"unit": unit}
    return Field(default, description=description, json_schema_extra=extra or None, **bounds)


class DemoParams(BaseModel):
    """Parameters common to every demo. Unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    seed: int = param(
        0, "Seed of every random choice in the run: equal seeds give equal results.",
        ge=0, le=2**32 - 1,
    )  # fmt: skip


P = TypeVar("P", bound=DemoParams)


@dataclass
class DemoOutput:
    """What a run produced.

    ``series`` values are 1-D (a list of numbers) or of shape (n, 2) ([x, y] pairs).
    ``references`` narrows the demo's reference functions to those this run used.
    ``extras`` is plot-only data (grids, images) that never leaves the worker.
    """

    metrics: dict[str, float | int | bool | None]
    series: dict[str, ArrayLike] = field(default_factory=dict)
    references: tuple[str, ...] | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """A reference function or class a demo runs, and the term whose equations it implements."""

    module: str
    name: str
    term: str

    @property
    def ref(self) -> str:
        return f"{self.module}:{self.name}"


FEATURED_BY_DEFAULT = 3


@dataclass(frozen=True)
class Demo(Generic[P]):
    """One demo. ``run``, ``plot`` and ``cost`` must be module-level functions: the worker
    process receives them by reference (pickled by name)."""

    slug: str
    title: str
    terms: tuple[str, ...]
    """The terms it belongs to, the main one first; each names it in its ``demo`` field."""
    description: str
    params: type[P]
    run: Callable[[P], DemoOutput]
    plot: "Callable[[P, DemoOutput], Figure]"
    sources: tuple[Source, ...]
    cost: Callable[[P], float]
    """Estimated cost in budget units (see ``COST_BUDGET``)."""
    cost_drivers: tuple[str, ...]
    """Parameters that raise the cost, in the order a caller should lower them."""
    featured: tuple[str, ...] = ()
    """The few parameters that tell most about the algorithm, which the web form shows first
    (the rest under "More parameters"); empty: the first ``FEATURED_BY_DEFAULT``."""
    needs_model: bool = False
    """It runs the sentence encoder, whose files ``kb model fetch`` puts in ``KB_MODEL_DIR``:
    without them the API refuses a run (503) instead of starting one."""

    def __post_init__(self) -> None:
        unknown = set(self.featured) - set(self.params.model_fields)
        if unknown:
            raise ValueError(f"demo {self.slug!r}: featured names no parameter {sorted(unknown)}")

    @property
    def featured_params(self) -> tuple[str, ...]:
        """``featured``, or the first ``FEATURED_BY_DEFAULT`` parameters after the seed."""
        names = [name for name in self.params.model_fields if name != "seed"]
        return self.featured or tuple(names[:FEATURED_BY_DEFAULT])


# --- the budget ------------------------------------------------------------------------------


def _minimum(info: FieldInfo) -> int:
    for constraint in info.metadata:
        if getattr(constraint, "ge", None) is not None:
            return int(constraint.ge)
    return 0


def _min_length(info: FieldInfo) -> int:
    for constraint in info.metadata:
        if getattr(constraint, "min_length", None) is not None:
            return int(constraint.min_length)
    return 0


def _largest_fitting(demo: "Demo[Any]", params: DemoParams, name: str) -> tuple[int, str] | None:
    """The largest value of parameter ``name`` (an int, or a list to shorten) below its current
    one that brings the run within budget, and how to say so; None if there is none."""
    value = getattr(params, name)
    info = type(params).model_fields[name]

    def fits(candidate: Any) -> bool:
        return demo.cost(params.model_copy(update={name: candidate})) <= COST_BUDGET

    if isinstance(value, list | tuple):
        low = max(_min_length(info), 1)
        for count in range(len(value) - 1, low - 1, -1):
            if fits(value[:count]):
                return count, f"choose at most {count} entries in {name} (now {len(value)})"
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    low, high = _minimum(info), value
    if not fits(low):
        return None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low, f"lower {name} to at most {low} (now {value})"


def budget_errors(demo: "Demo[Any]", params: DemoParams) -> list[dict[str, Any]]:
    """Validation errors (FastAPI's shape) if the run would cost more than the budget: one per
    parameter that could be lowered on its own to fit, or one saying to lower several."""
    cost = demo.cost(params)
    if cost <= COST_BUDGET:
        return []
    head = (
        f"the estimated cost of this run is {cost:.3g} units, over the budget of "
        f"{COST_BUDGET:g} (about a second of compute)"
    )
    errors = []
    for name in demo.cost_drivers:
        fit = _largest_fitting(demo, params, name)
        if fit is not None:
            limit, advice = fit
            errors.append(
                {
                    "loc": ["body", name],
                    "msg": f"{head}: {advice}",
                    "type": "over_budget",
                    "input": getattr(params, name),
                    "ctx": {"cost": cost, "budget": COST_BUDGET, "limit": limit},
                }
            )
    if not errors:
        errors.append(
            {
                "loc": ["body"],
                "msg": f"{head}: lower several of {', '.join(demo.cost_drivers)}",
                "type": "over_budget",
                "input": params.model_dump(),
                "ctx": {"cost": cost, "budget": COST_BUDGET},
            }
        )
    return errors


# --- making an output safe to send ------------------------------------------------------------


def _round(value: float) -> float:
    return float(f"{value:.{SERIES_DIGITS}g}")


def downsample_indices(length: int, limit: int = SERIES_MAX_POINTS) -> np.ndarray[Any, Any]:
    """At most ``limit`` evenly spread indices into a sequence of ``length``, ends included."""
    if length <= limit:
        return np.arange(length)
    return np.unique(np.round(np.linspace(0, length - 1, limit)).astype(np.int64))


def _series(name: str, values: ArrayLike) -> tuple[JsonSeries, int]:
    arr = np.asarray(values, dtype=np.float64)
    if not (arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 2)):
        raise ValueError(f"series {name!r} must be 1-D or (n, 2) pairs, got shape {arr.shape}")
    arr = arr[downsample_indices(arr.shape[0])]
    finite = np.isfinite(arr)
    bad = int(arr.size - np.count_nonzero(finite))
    flat = [
        _round(v) if ok else None
        for v, ok in zip(arr.ravel().tolist(), finite.ravel(), strict=True)
    ]
    if arr.ndim == 1:
        return flat, bad
    return [flat[i : i + 2] for i in range(0, len(flat), 2)], bad


def _metric(value: float | int | bool | None) -> tuple[MetricValue, bool]:
    """The metric as JSON can carry it, and whether it was non-finite."""
    if value is None:
        return None, False
    if isinstance(value, bool | np.bool_):
        return int(value), False
    if isinstance(value, int | np.integer):
        return int(value), False
    number = float(value)
    return (number, False) if math.isfinite(number) else (None, True)


def finish(output: DemoOutput) -> tuple[dict[str, MetricValue], dict[str, JsonSeries]]:
    """Metrics and series ready for JSON: non-finite numbers become None; the ``diverged``
    metric is 1 if any number was non-finite or any ``*.diverged`` metric is set, else 0;
    series are downsampled."""
    non_finite = 0
    metrics: dict[str, MetricValue] = {}
    for name, value in output.metrics.items():
        metrics[name], not_finite = _metric(value)
        non_finite += not_finite
    series: dict[str, JsonSeries] = {}
    for name, values in output.series.items():
        series[name], count = _series(name, values)
        non_finite += count
    declared = any(
        value for name, value in metrics.items() if name == "diverged" or name.endswith(".diverged")
    )
    metrics["diverged"] = int(bool(non_finite) or declared)
    return metrics, series


def finite_or_nan(values: ArrayLike) -> np.ndarray[Any, Any]:
    """``values`` as float64 with every non-finite entry replaced by NaN (plots skip NaN)."""
    arr = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(arr), arr, np.nan)


def check_unique(values: Sequence[Any], name: str) -> None:
    if len(set(values)) != len(values):
        raise ValueError(f"{name} lists an entry twice")
