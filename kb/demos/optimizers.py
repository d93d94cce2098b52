"""Optimizer demos: Adam against its peers, and coupled against decoupled weight decay."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator, model_validator

from kb.demos.base import (
    Demo,
    DemoOutput,
    DemoParams,
    Source,
    check_unique,
    finite_or_nan,
    param,
)
from reference import optim

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]

DIVERGENCE_FACTOR = 1e10
"""A run counts as diverged once its loss is non-finite or this many times its start loss."""

# --- problems ---------------------------------------------------------------------------------

Problem = Literal["rosenbrock", "quadratic", "sparse-regression"]
OptimizerName = Literal["adam", "amsgrad", "sgd", "momentum", "nesterov", "rmsprop", "adagrad"]
OPTIMIZER_NAMES: tuple[OptimizerName, ...] = (
    "adam", "amsgrad", "sgd", "momentum", "nesterov", "rmsprop", "adagrad"
)  # fmt: skip


@dataclass
class _Problem:
    start: FloatArray
    loss: Callable[[FloatArray], float]
    gradient: Callable[[FloatArray, np.random.Generator], FloatArray]
    optimum: FloatArray
    optimum_loss: float
    grid_loss: Callable[[FloatArray, FloatArray], FloatArray] | None = None
    """The loss on a grid of points, for 2-D problems (for their contour plot)."""
    box: tuple[float, float, float, float] = (-2.0, 2.0, -1.0, 3.0)
    """x and y limits of a 2-D problem's contour plot."""


def _rosenbrock() -> _Problem:
    def loss(theta: FloatArray) -> float:
        x, y = float(theta[0]), float(theta[1])
        return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2

    def gradient(theta: FloatArray, _rng: np.random.Generator) -> FloatArray:
        x, y = float(theta[0]), float(theta[1])
        return np.array([-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)])

    def grid_loss(xs: FloatArray, ys: FloatArray) -> FloatArray:
        out: FloatArray = (1.0 - xs) ** 2 + 100.0 * (ys - xs * xs) ** 2
        return out

    return _Problem(np.array([-1.2, 1.0]), loss, gradient, np.array([1.0, 1.0]), 0.0, grid_loss)


def _quadratic(condition_number: float, rotation: float) -> _Problem:
    angle = math.radians(rotation)
    r = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    hessian = r @ np.diag([1.0, condition_number]) @ r.T

    def loss(theta: FloatArray) -> float:
        return 0.5 * float(theta @ hessian @ theta)

    def gradient(theta: FloatArray, _rng: np.random.Generator) -> FloatArray:
        out: FloatArray = hessian @ theta
        return out

    def grid_loss(xs: FloatArray, ys: FloatArray) -> FloatArray:
        (a, b), (_, c) = hessian
        out: FloatArray = 0.5 * (a * xs * xs + 2.0 * b * xs * ys + c * ys * ys)
        return out

    return _Problem(
        np.array([-2.5, 1.5]), loss, gradient, np.zeros(2), 0.0, grid_loss, (-3.0, 3.0, -2.0, 2.0)
    )


def _sparse_regression(p: "OptimizerComparison") -> _Problem:
    rng = np.random.default_rng(p.seed)
    n, d = p.n_samples, p.n_features
    x = rng.normal(size=(n, d)) * (rng.random((n, d)) < p.density)
    informative = max(1, d // 10)
    w_true = np.zeros(d)
    w_true[rng.choice(d, informative, replace=False)] = rng.normal(0.0, 2.0, informative)
    y = x @ w_true + rng.normal(0.0, p.noise, n)
    w_best = np.linalg.lstsq(x, y, rcond=None)[0]
    batch = min(p.batch_size, n)

    def loss(w: FloatArray) -> float:
        residual = x @ w - y
        return 0.5 * float(residual @ residual) / n

    def gradient(w: FloatArray, batch_rng: np.random.Generator) -> FloatArray:
        # Sampled with replacement: cheap, and unbiased all the same.
        rows = batch_rng.integers(0, n, batch) if batch < n else slice(None)
        xb = x[rows]
        out: FloatArray = xb.T @ (xb @ w - y[rows]) / xb.shape[0]
        return out

    return _Problem(np.zeros(d), loss, gradient, w_best, loss(w_best))


# --- parameters -------------------------------------------------------------------------------

_DEFAULT_LR: dict[str, dict[str, float]] = {
    # Tuned by hand so that each optimizer makes visible progress without diverging.
    "rosenbrock": {"adam": 0.05, "sgd": 1e-3, "momentum": 1e-3, "rmsprop": 0.01, "adagrad": 0.5},
    "quadratic": {"adam": 0.05, "rmsprop": 0.01, "adagrad": 0.5},  # SGD: 1 / condition number
    "sparse-regression": {
        "adam": 0.05, "sgd": 0.5, "momentum": 0.05, "rmsprop": 0.01, "adagrad": 0.5
    },
}  # fmt: skip

_LR_BOUNDS: dict[str, Any] = {"gt": 0.0, "le": 10.0}


def _lr(name: str) -> Any:
    return param(
        None,
        f"Learning rate of {name}; unset: a value tuned for the chosen problem.",
        unit="per step",
        **_LR_BOUNDS,
    )


class OptimizerComparison(DemoParams):
    problem: Problem = param(
        "rosenbrock",
        "rosenbrock: (1 - x)^2 + 100 (y - x^2)^2 from (-1.2, 1); quadratic: an ill-conditioned "
        "bowl 0.5 theta^T H theta; sparse-regression: least squares on noisy data with sparse "
        "features, minibatch gradients.",
    )
    optimizers: list[OptimizerName] = Field(
        default=["adam", "sgd", "momentum", "rmsprop", "adagrad"],
        min_length=1,
        max_length=len(OPTIMIZER_NAMES),
        description="Which optimizers to run (amsgrad: Adam with AMSGrad; nesterov: SGD with "
        "Nesterov momentum).",
    )
    steps: int = param(500, "Update steps per optimizer.", unit="steps", ge=1, le=10_000)
    adam_lr: float | None = _lr("adam and amsgrad")
    sgd_lr: float | None = _lr("plain SGD")
    momentum_lr: float | None = _lr("SGD with (Nesterov) momentum")
    rmsprop_lr: float | None = _lr("RMSprop")
    adagrad_lr: float | None = _lr("Adagrad")
    beta1: float = param(0.9, "Adam's first-moment decay rate.", ge=0.0, le=0.999)
    beta2: float = param(0.999, "Adam's second-moment decay rate.", ge=0.0, le=0.99999)
    eps: float = param(1e-8, "Denominator term of Adam, RMSprop, Adagrad.", ge=1e-12, le=1.0)
    momentum: float = param(0.9, "Momentum coefficient of momentum and nesterov.", ge=0, le=0.999)
    rmsprop_alpha: float = param(0.99, "RMSprop's squared-gradient decay.", ge=0.0, le=0.9999)
    condition_number: float = param(
        50.0, "quadratic: ratio of the largest to the smallest curvature.", ge=1.0, le=10_000.0
    )
    rotation: float = param(
        0.0,
        "quadratic: angle between the curvature axes and the coordinate axes (0: aligned).",
        unit="degrees",
        ge=0.0,
        le=90.0,
    )
    n_samples: int = param(500, "sparse-regression: rows.", unit="samples", ge=10, le=5_000)
    n_features: int = param(50, "sparse-regression: columns.", unit="features", ge=2, le=500)
    density: float = param(0.1, "sparse-regression: fraction of non-zero inputs.", gt=0, le=1)
    noise: float = param(0.1, "sparse-regression: target noise std.", ge=0.0, le=10.0)
    batch_size: int = param(
        32, "sparse-regression: rows per gradient.", unit="samples", ge=1, le=5_000
    )
    tolerance: float = param(1e-3, "Loss above the optimum counted as converged.", gt=0.0, le=1e3)

    @field_validator("optimizers")
    @classmethod
    def _unique(cls, value: list[OptimizerName]) -> list[OptimizerName]:
        check_unique(value, "optimizers")
        return value

    @model_validator(mode="after")
    def _fill_learning_rates(self) -> "OptimizerComparison":
        defaults = dict(_DEFAULT_LR[self.problem])
        if self.problem == "quadratic":
            defaults["sgd"] = defaults["momentum"] = round(1.0 / self.condition_number, 6)
        for family in ("adam", "sgd", "momentum", "rmsprop", "adagrad"):
            if getattr(self, f"{family}_lr") is None:
                object.__setattr__(self, f"{family}_lr", defaults[family])
        return self


def _make(name: OptimizerName, p: OptimizerComparison, theta: FloatArray) -> optim.Optimizer:
    assert p.adam_lr and p.sgd_lr and p.momentum_lr and p.rmsprop_lr and p.adagrad_lr
    betas = (p.beta1, p.beta2)
    if name in ("adam", "amsgrad"):
        return optim.Adam([theta], lr=p.adam_lr, betas=betas, eps=p.eps, amsgrad=name == "amsgrad")
    if name == "sgd":
        return optim.SGD([theta], lr=p.sgd_lr)
    if name in ("momentum", "nesterov"):
        return optim.SGD(
            [theta], lr=p.momentum_lr, momentum=p.momentum, nesterov=name == "nesterov"
        )
    if name == "rmsprop":
        return optim.RMSprop([theta], lr=p.rmsprop_lr, alpha=p.rmsprop_alpha, eps=p.eps)
    return optim.Adagrad([theta], lr=p.adagrad_lr, eps=p.eps)


_REFERENCE = {
    "adam": "reference.optim:Adam",
    "amsgrad": "reference.optim:Adam",
    "sgd": "reference.optim:SGD",
    "momentum": "reference.optim:SGD",
    "nesterov": "reference.optim:SGD",
    "rmsprop": "reference.optim:RMSprop",
    "adagrad": "reference.optim:Adagrad",
}


@dataclass
class _Trace:
    losses: list[float]
    path: list[FloatArray]
    diverged_at: int | None


def _descend(problem: _Problem, opt_name: OptimizerName, p: OptimizerComparison) -> _Trace:
    theta = problem.start.copy()
    opt = _make(opt_name, p, theta)
    # Every optimizer sees the same minibatches.
    batches = np.random.default_rng([p.seed, 1])
    start_loss = problem.loss(theta)
    limit = DIVERGENCE_FACTOR * max(start_loss, 1.0)
    trace = _Trace([start_loss], [theta.copy()], None)
    keep_path = theta.size == 2
    for step in range(1, p.steps + 1):
        opt.step([problem.gradient(theta, batches)])
        loss = problem.loss(theta)
        trace.losses.append(loss)
        if keep_path:
            trace.path.append(theta.copy())
        if not math.isfinite(loss) or loss > limit or not np.all(np.isfinite(theta)):
            trace.diverged_at = step
            break
    return trace


def _problem(p: OptimizerComparison) -> _Problem:
    if p.problem == "rosenbrock":
        return _rosenbrock()
    if p.problem == "quadratic":
        return _quadratic(p.condition_number, p.rotation)
    return _sparse_regression(p)


def run_comparison(p: OptimizerComparison) -> DemoOutput:
    problem = _problem(p)
    out = DemoOutput(
        metrics={}, references=tuple(dict.fromkeys(_REFERENCE[o] for o in p.optimizers))
    )
    out.metrics["optimum_loss"] = problem.optimum_loss
    with np.errstate(all="ignore"):
        for name in p.optimizers:
            trace = _descend(problem, name, p)
            losses = np.array(trace.losses)
            excess = losses - problem.optimum_loss
            below = np.flatnonzero(excess <= p.tolerance)
            final = trace.path[-1] if len(trace.path) > 1 else None
            out.metrics[f"{name}.final_loss"] = float(losses[-1])
            out.metrics[f"{name}.best_loss"] = float(np.nanmin(losses))
            out.metrics[f"{name}.steps_to_tolerance"] = int(below[0]) if below.size else None
            out.metrics[f"{name}.diverged"] = int(trace.diverged_at is not None)
            out.series[f"loss/{name}"] = np.column_stack([np.arange(losses.size), losses])
            if final is not None:
                out.metrics[f"{name}.distance_to_optimum"] = float(
                    np.linalg.norm(final - problem.optimum)
                )
                out.series[f"path/{name}"] = np.array(trace.path)
    if problem.grid_loss is not None:
        out.extras["contour"] = _contour(problem)
        out.extras["optimum"] = problem.optimum
    return out


def _contour(problem: _Problem) -> tuple[FloatArray, FloatArray, FloatArray]:
    assert problem.grid_loss is not None
    x0, x1, y0, y1 = problem.box
    xs, ys = np.meshgrid(np.linspace(x0, x1, 120), np.linspace(y0, y1, 120))
    return xs, ys, problem.grid_loss(xs, ys)


def cost_comparison(p: OptimizerComparison) -> float:
    per_step = {"rosenbrock": 45e-6, "quadratic": 65e-6, "sparse-regression": 30e-6}[p.problem]
    if p.problem == "sparse-regression":
        per_step += 15e-6 + 1.2e-9 * (p.n_samples * p.n_features + 3 * p.batch_size * p.n_features)
    setup = 4e-8 * p.n_samples * p.n_features**2 if p.problem == "sparse-regression" else 0.0
    return setup + p.steps * len(p.optimizers) * per_step


def plot_comparison(p: OptimizerComparison, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    two_d = "contour" in out.extras
    fig = plots.figure(2)
    ax = plots.axes(fig, 1, 2, 1, f"Loss on {p.problem}")
    curves = [out.series[f"loss/{name}"] for name in p.optimizers]
    for name, values in zip(p.optimizers, curves, strict=True):
        plots.curve(ax, values, name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    plots.log_scale_if_positive(ax, curves)
    plots.legend(ax)
    if two_d:
        ax2 = plots.axes(fig, 1, 2, 2, "Trajectories")
        xs, ys, zs = out.extras["contour"]
        levels = np.geomspace(max(float(zs.min()), 1e-3), float(zs.max()), 14)
        ax2.contour(xs, ys, zs, levels=levels, colors="0.75", linewidths=0.6)
        for name in p.optimizers:
            plots.curve(ax2, out.series[f"path/{name}"], name)
        optimum = out.extras["optimum"]
        ax2.plot([optimum[0]], [optimum[1]], "k*", markersize=9)
        ax2.set_xlim(float(xs.min()), float(xs.max()))
        ax2.set_ylim(float(ys.min()), float(ys.max()))
    else:
        ax2 = plots.axes(fig, 1, 2, 2, "Final loss above the least-squares optimum")
        optimum_loss = float(out.metrics["optimum_loss"] or 0.0)
        finals = [out.metrics[f"{name}.final_loss"] for name in p.optimizers]
        excess = finite_or_nan([np.nan if f is None else float(f) for f in finals])
        ax2.bar(list(p.optimizers), np.maximum(excess - optimum_loss, 0.0))
        ax2.set_yscale("symlog", linthresh=1e-6)
    return fig


ADAM = Demo(
    slug="adam-optimizer",
    title="Adam against SGD, momentum, RMSprop and Adagrad",
    terms=(
        "adam-optimizer",
        "amsgrad",
        "stochastic-gradient-descent",
        "gradient-descent",
        "momentum",
        "nesterov-momentum",
        "rmsprop",
        "adagrad",
    ),
    description=(
        "Runs the chosen optimizers from the same start on the same problem, each with its own "
        "hyperparameters, and records the loss at every step and, on the 2-D problems, the "
        "path taken. Try the ill-conditioned quadratic with a rotation: the per-coordinate "
        "step sizes of Adam, RMSprop and Adagrad help only while the valley is aligned with "
        "the axes."
    ),
    params=OptimizerComparison,
    run=run_comparison,
    plot=plot_comparison,
    sources=(
        Source("reference.optim", "Adam", "adam-optimizer"),
        Source("reference.optim", "SGD", "stochastic-gradient-descent"),
        Source("reference.optim", "RMSprop", "rmsprop"),
        Source("reference.optim", "Adagrad", "adagrad"),
    ),
    cost=cost_comparison,
    cost_drivers=("steps", "optimizers", "n_samples", "n_features"),
    featured=("problem", "optimizers", "steps", "adam_lr"),
)


# --- weight decay: coupled (L2 in the gradient) against decoupled (AdamW) ---------------------

DecayVariant = Literal["adam", "adam-l2", "adamw", "sgd-l2"]
DECAY_VARIANTS: tuple[DecayVariant, ...] = ("adam", "adam-l2", "adamw", "sgd-l2")


class WeightDecayComparison(DemoParams):
    variants: list[DecayVariant] = Field(
        default=["adam", "adam-l2", "adamw"],
        min_length=1,
        max_length=len(DECAY_VARIANTS),
        description="adam: no decay; adam-l2: Adam with lambda theta added to the gradient "
        "(coupled); adamw: Adam with decoupled decay theta <- (1 - lr lambda) theta; sgd-l2: "
        "SGD with L2, for which coupled and decoupled decay coincide.",
    )
    weight_decay: float = param(0.3, "The decay coefficient lambda.", ge=0.0, le=10.0)
    lr: float = param(0.01, "Learning rate of every variant.", unit="per step", gt=0.0, le=1.0)
    steps: int = param(1000, "Full-batch update steps.", unit="steps", ge=1, le=20_000)
    n_train: int = param(60, "Training rows.", unit="samples", ge=5, le=2_000)
    n_test: int = param(500, "Held-out rows.", unit="samples", ge=10, le=5_000)
    n_features: int = param(60, "Input features.", unit="features", ge=2, le=500)
    scale_spread: float = param(
        2.0,
        "Feature scales are spread log-uniformly over this many decades around 1: with Adam, "
        "coupled decay then shrinks weights unequally.",
        unit="decades",
        ge=0.0,
        le=4.0,
    )
    noise: float = param(1.0, "Target noise std.", ge=0.0, le=10.0)

    @field_validator("variants")
    @classmethod
    def _unique(cls, value: list[DecayVariant]) -> list[DecayVariant]:
        check_unique(value, "variants")
        return value


def _decay_optimizer(
    variant: DecayVariant, p: WeightDecayComparison, w: FloatArray
) -> optim.Optimizer:
    if variant == "adam":
        return optim.Adam([w], lr=p.lr)
    if variant == "adam-l2":
        return optim.Adam([w], lr=p.lr, weight_decay=p.weight_decay)
    if variant == "adamw":
        return optim.AdamW([w], lr=p.lr, weight_decay=p.weight_decay)
    return optim.SGD([w], lr=p.lr, weight_decay=p.weight_decay)


_DECAY_REFERENCE = {
    "adam": "reference.optim:Adam",
    "adam-l2": "reference.optim:Adam",
    "adamw": "reference.optim:AdamW",
    "sgd-l2": "reference.optim:SGD",
}


def run_weight_decay(p: WeightDecayComparison) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    d = p.n_features
    scales = 10.0 ** rng.uniform(-p.scale_spread / 2, p.scale_spread / 2, d)
    w_true = rng.normal(0.0, 1.0, d) * (rng.random(d) < 0.2) / scales
    x_train = rng.normal(size=(p.n_train, d)) * scales
    x_test = rng.normal(size=(p.n_test, d)) * scales
    y_train = x_train @ w_true + rng.normal(0.0, p.noise, p.n_train)
    y_test = x_test @ w_true + rng.normal(0.0, p.noise, p.n_test)

    def mse(x: FloatArray, y: FloatArray, w: FloatArray) -> float:
        r = x @ w - y
        return 0.5 * float(r @ r) / y.size

    out = DemoOutput(
        metrics={"noise_floor": 0.5 * p.noise**2},
        references=tuple(dict.fromkeys(_DECAY_REFERENCE[v] for v in p.variants)),
    )
    with np.errstate(all="ignore"):
        for variant in p.variants:
            w = np.zeros(d)
            opt = _decay_optimizer(variant, p, w)
            train, test, norm = [mse(x_train, y_train, w)], [mse(x_test, y_test, w)], [0.0]
            limit = DIVERGENCE_FACTOR * max(train[0], 1.0)
            diverged = False
            for _ in range(p.steps):
                opt.step([x_train.T @ (x_train @ w - y_train) / p.n_train])
                train.append(mse(x_train, y_train, w))
                test.append(mse(x_test, y_test, w))
                norm.append(float(np.linalg.norm(w)))
                if not math.isfinite(train[-1]) or train[-1] > limit:
                    diverged = True
                    break
            steps = np.arange(len(train))
            out.metrics[f"{variant}.train_loss"] = train[-1]
            out.metrics[f"{variant}.test_loss"] = test[-1]
            out.metrics[f"{variant}.weight_norm"] = norm[-1]
            out.metrics[f"{variant}.diverged"] = int(diverged)
            out.series[f"train/{variant}"] = np.column_stack([steps, train])
            out.series[f"test/{variant}"] = np.column_stack([steps, test])
            out.series[f"norm/{variant}"] = np.column_stack([steps, norm])
            out.series[f"weights/{variant}"] = np.column_stack([scales, np.abs(w * scales)])
    return out


def cost_weight_decay(p: WeightDecayComparison) -> float:
    per_step = 50e-6 + 2.5e-9 * (2 * p.n_train + p.n_test) * p.n_features
    return p.steps * len(p.variants) * per_step


def plot_weight_decay(p: WeightDecayComparison, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(3)
    ax = plots.axes(fig, 1, 3, 1, "Loss: train (dashed), held out (solid)")
    for variant in p.variants:
        plots.curve(ax, out.series[f"test/{variant}"], variant)
        train = finite_or_nan(out.series[f"train/{variant}"])
        ax.plot(
            train[:, 0], train[:, 1], linestyle="--", linewidth=0.8, color=ax.lines[-1].get_color()
        )
    ax.set_xlabel("step")
    plots.log_scale_if_positive(ax, [out.series[f"test/{v}"] for v in p.variants])
    plots.legend(ax)
    ax2 = plots.axes(fig, 1, 3, 2, "Weight norm")
    for variant in p.variants:
        plots.curve(ax2, out.series[f"norm/{variant}"], variant)
    ax2.set_xlabel("step")
    plots.legend(ax2)
    ax3 = plots.axes(fig, 1, 3, 3, "Final |w_j| x scale_j against feature scale")
    for variant in p.variants:
        pairs = finite_or_nan(out.series[f"weights/{variant}"])
        ax3.scatter(pairs[:, 0], pairs[:, 1], s=8, label=variant, alpha=0.7)
    ax3.set_xscale("log")
    ax3.set_xlabel("feature scale")
    plots.legend(ax3)
    return fig


WEIGHT_DECAY = Demo(
    slug="weight-decay",
    title="Coupled (L2) against decoupled weight decay",
    terms=("weight-decay", "adamw"),
    description=(
        "Fits an over-parameterised noisy linear regression whose features have very different "
        "scales, with Adam and no decay, Adam with L2 regularisation (the decay term goes "
        "through Adam's per-coordinate scaling), AdamW (decoupled decay) and SGD with L2. "
        "Reports train and held-out loss and the weight norm at every step, and the final "
        "weights against the feature scales."
    ),
    params=WeightDecayComparison,
    run=run_weight_decay,
    plot=plot_weight_decay,
    sources=(
        Source("reference.optim", "AdamW", "adamw"),
        Source("reference.optim", "Adam", "adam-optimizer"),
        Source("reference.optim", "SGD", "stochastic-gradient-descent"),
    ),
    cost=cost_weight_decay,
    cost_drivers=("steps", "variants", "n_test", "n_features", "n_train"),
    featured=("variants", "weight_decay", "lr", "steps"),
)
