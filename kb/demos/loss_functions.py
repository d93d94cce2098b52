"""Demos of loss functions: a line fitted with MSE, L1 and Huber losses to data with outliers,
and softmax cross-entropy with label smoothing on digits."""

from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator

from kb.demos import datasets
from kb.demos.base import Demo, DemoOutput, DemoParams, Source, check_unique, param
from reference import activations, losses, optim

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]
LossName = Literal["mse", "l1", "huber"]
LOSS_NAMES: tuple[LossName, ...] = ("mse", "l1", "huber")
TRUE_SLOPE, TRUE_INTERCEPT = 2.0, -1.0


class RobustParams(DemoParams):
    losses: list[LossName] = Field(
        default=list(LOSS_NAMES), min_length=1, max_length=len(LOSS_NAMES),
        description="Losses to fit the line with.",
    )  # fmt: skip
    n_samples: int = param(100, "Points.", unit="samples", ge=3, le=100_000)
    noise: float = param(0.3, "Std of the Gaussian noise of the inliers.", ge=0.0, le=5.0)
    outlier_fraction: float = param(
        0.15, "Fraction of points pushed far above the line.", ge=0.0, le=0.45
    )
    outlier_scale: float = param(10.0, "How far above the line the outliers lie.", ge=0.0,
                                 le=1_000.0)  # fmt: skip
    delta: float = param(1.0, "Huber: where the quadratic part turns linear.", gt=0.0, le=100.0)
    steps: int = param(800, "Full-batch Adam steps.", unit="steps", ge=1, le=20_000)
    lr: float = param(0.05, "Adam learning rate.", unit="per step", gt=0.0, le=1.0)

    @field_validator("losses")
    @classmethod
    def _unique(cls, value: list[LossName]) -> list[LossName]:
        check_unique(value, "losses")
        return value


_FUNCTIONS: dict[LossName, tuple[Any, Any]] = {
    "mse": (losses.mse_loss, losses.mse_loss_backward),
    "l1": (losses.l1_loss, losses.l1_loss_backward),
    "huber": (losses.huber_loss, losses.huber_loss_backward),
}


def _loss(
    name: LossName, pred: FloatArray, y: FloatArray, delta: float, reduction: str = "mean"
) -> tuple[FloatArray, FloatArray]:
    """The loss and its gradient with respect to the predictions (for an upstream gradient of
    1, per element when ``reduction`` is "none")."""
    forward, backward = _FUNCTIONS[name]
    kwargs: dict[str, Any] = {
        "reduction": reduction,
        **({"delta": delta} if name == "huber" else {}),
    }
    value = forward(pred, y, **kwargs)
    return value, backward(np.ones_like(value), pred, y, **kwargs)


def run_robust(p: RobustParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    x = rng.uniform(-2.0, 2.0, p.n_samples)
    y = TRUE_SLOPE * x + TRUE_INTERCEPT + rng.normal(0.0, p.noise, p.n_samples)
    outliers = rng.random(p.n_samples) < p.outlier_fraction
    y[outliers] += p.outlier_scale * (1.0 + rng.random(int(outliers.sum())))
    out = DemoOutput(metrics={"outliers": int(outliers.sum())})
    lines = {}
    with np.errstate(all="ignore"):
        for name in p.losses:
            line = np.zeros(2)  # slope, intercept
            opt = optim.Adam([line], lr=p.lr)
            curve = []
            for _ in range(p.steps):
                value, g = _loss(name, line[0] * x + line[1], y, p.delta)
                opt.step([np.array([g @ x, g.sum()])])
                curve.append(float(value))
            out.metrics[f"{name}.slope"] = float(line[0])
            out.metrics[f"{name}.intercept"] = float(line[1])
            out.metrics[f"{name}.error"] = float(
                np.hypot(line[0] - TRUE_SLOPE, line[1] - TRUE_INTERCEPT)
            )
            out.series[f"loss/{name}"] = np.column_stack([np.arange(len(curve)), curve])
            lines[name] = line.copy()
    residual = np.linspace(-3 * p.delta, 3 * p.delta, 121)
    zero = np.zeros_like(residual)
    for name in LOSS_NAMES:
        shape, slope = _loss(name, residual, zero, p.delta, reduction="none")
        out.series[f"shape/{name}"] = np.column_stack([residual, shape])
        out.series[f"derivative/{name}"] = np.column_stack([residual, slope])
    out.extras.update(x=x, y=y, outliers=outliers, lines=lines)
    return out


def cost_robust(p: RobustParams) -> float:
    """Seconds, fitted on the development machine: a loss, its gradient and an Adam step."""
    return 0.01 + len(p.losses) * p.steps * (1.2e-4 + 3e-8 * p.n_samples)


def plot_robust(p: RobustParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(2)
    ax = plots.axes(fig, 1, 2, 1, "Fitted lines (outliers in red)")
    x, y, outliers = out.extras["x"], out.extras["y"], out.extras["outliers"]
    ax.scatter(x[~outliers], y[~outliers], s=6, color="0.4", rasterized=True)
    ax.scatter(x[outliers], y[outliers], s=6, color="tab:red", rasterized=True)
    ends = np.array([-2.0, 2.0])
    ax.plot(ends, TRUE_SLOPE * ends + TRUE_INTERCEPT, color="0.2", linestyle=":", label="true")
    for name, (slope, intercept) in out.extras["lines"].items():
        ax.plot(ends, slope * ends + intercept, label=name, linewidth=1.3)
    plots.legend(ax)
    ax2 = plots.axes(fig, 1, 2, 2, "Derivative of each loss in the residual")
    for name in LOSS_NAMES:
        plots.curve(ax2, out.series[f"derivative/{name}"], name)
    ax2.set_xlabel("residual (prediction - target)")
    plots.legend(ax2)
    return fig


ROBUST = Demo(
    slug="huber-loss",
    title="Huber, L1 and MSE losses fitting a line through outliers",
    terms=("huber-loss", "mean-squared-error"),
    description=(
        f"Draws points near the line y = {TRUE_SLOPE:g} x {TRUE_INTERCEPT:+g}, pushes a "
        "fraction of them far above it, and fits a line by full-batch Adam with each chosen "
        "loss (reference.losses, forward and gradient). Reports each fit's slope, intercept "
        "and distance from the true line, the loss curves, and each loss and its derivative "
        "as functions of the residual: the squared error's derivative grows with the residual, "
        "so outliers pull hardest; L1's and Huber's are bounded."
    ),
    params=RobustParams,
    run=run_robust,
    plot=plot_robust,
    sources=(
        Source("reference.losses", "huber_loss", "huber-loss"),
        Source("reference.losses", "huber_loss_backward", "huber-loss"),
        Source("reference.losses", "mse_loss", "mean-squared-error"),
        Source("reference.losses", "mse_loss_backward", "mean-squared-error"),
        Source("reference.losses", "l1_loss", "huber-loss"),
        Source("reference.losses", "l1_loss_backward", "huber-loss"),
        Source("reference.optim", "Adam", "adam-optimizer"),
    ),
    cost=cost_robust,
    cost_drivers=("steps", "n_samples", "losses"),
)


# --- cross-entropy and label smoothing ------------------------------------------------------------

CLASSES = 10
CALIBRATION_BINS = 10


class SmoothingParams(DemoParams):
    n_samples: int = param(600, "Digit images (a third held out).", unit="samples", ge=20,
                           le=20_000)  # fmt: skip
    noise: float = param(0.1, "Std of the Gaussian pixel noise.", ge=0.0, le=1.0)
    smoothing: list[Annotated[float, Field(ge=0.0, le=0.9)]] = Field(
        default=[0.0, 0.1, 0.3], min_length=1, max_length=5,
        description="Label smoothing values eps to compare (cross_entropy's label_smoothing).",
    )  # fmt: skip
    steps: int = param(300, "Full-batch Adam steps.", unit="steps", ge=1, le=5_000)
    lr: float = param(0.05, "Adam learning rate.", unit="per step", gt=0.0, le=1.0)

    @field_validator("smoothing")
    @classmethod
    def _unique(cls, value: list[float]) -> list[float]:
        check_unique(value, "smoothing")
        return value


def _calibration_error(probs: FloatArray, y: Any) -> float:
    """Expected calibration error: the mean |accuracy - confidence| over equal-width confidence
    bins, weighted by their share of the points."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    error = 0.0
    for b in np.unique(bins):
        members = bins == b
        error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def run_smoothing(p: SmoothingParams) -> DemoOutput:
    pixels, y = datasets.digits(p.n_samples, p.noise, np.random.default_rng(p.seed))
    x = np.column_stack([pixels, np.ones(len(y))])  # a bias column
    cut = max(1, (2 * y.size) // 3)
    out = DemoOutput(metrics={})
    with np.errstate(all="ignore"):
        for eps in p.smoothing:
            w = np.zeros((x.shape[1], CLASSES))
            opt = optim.Adam([w], lr=p.lr)
            norms = []
            for _ in range(p.steps):
                logits = x[:cut] @ w
                g = losses.cross_entropy_backward(1.0, logits, y[:cut], label_smoothing=eps)
                opt.step([x[:cut].T @ g])
                norms.append(float(np.linalg.norm(w)))
            name = f"eps={eps:g}"
            train_logits, test_logits = x[:cut] @ w, x[cut:] @ w
            out.metrics[f"{name}.train_loss"] = float(
                losses.cross_entropy(train_logits, y[:cut], label_smoothing=eps)
            )
            out.metrics[f"{name}.weight_norm"] = norms[-1]
            if cut < y.size:
                probs = activations.softmax(test_logits, axis=1)
                out.metrics[f"{name}.test_accuracy"] = float(
                    np.mean(probs.argmax(axis=1) == y[cut:])
                )
                out.metrics[f"{name}.mean_confidence"] = float(probs.max(axis=1).mean())
                out.metrics[f"{name}.calibration_error"] = _calibration_error(probs, y[cut:])
            out.series[f"weight_norm/{name}"] = np.column_stack([np.arange(1, p.steps + 1), norms])
    return out


def cost_smoothing(p: SmoothingParams) -> float:
    """Seconds, fitted on the development machine: a softmax regression step per Adam step."""
    rows = (2 * p.n_samples) // 3
    return 0.01 + len(p.smoothing) * p.steps * (3e-4 + 5e-7 * rows)


def plot_smoothing(p: SmoothingParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(2)
    ax = plots.axes(fig, 1, 2, 1, "Weight norm |W| during training")
    for eps in p.smoothing:
        plots.curve(ax, out.series[f"weight_norm/eps={eps:g}"], f"eps = {eps:g}")
    ax.set_xlabel("Adam step")
    plots.legend(ax)
    ax2 = plots.axes(fig, 1, 2, 2, "Held-out: accuracy and mean confidence")
    labels = [f"{eps:g}" for eps in p.smoothing]
    positions = np.arange(len(labels))
    for offset, key in ((-0.2, "test_accuracy"), (0.2, "mean_confidence")):
        values = [out.metrics.get(f"eps={eps:g}.{key}") for eps in p.smoothing]
        heights = [np.nan if v is None else float(v) for v in values]
        ax2.bar(positions + offset, heights, width=0.4, label=key.replace("_", " "))
    ax2.set_xticks(positions, labels)
    ax2.set_xlabel("label smoothing eps")
    plots.legend(ax2)
    return fig


SMOOTHING = Demo(
    slug="cross-entropy-loss",
    title="Softmax cross-entropy with and without label smoothing",
    terms=("cross-entropy-loss", "label-smoothing"),
    description=(
        "Trains a softmax regression on 8 x 8 digit images with full-batch Adam and the "
        "reference cross_entropy (forward and gradient), once for each label smoothing value "
        "eps, and reports the training loss, the norm of the weights (the logits' scale) along "
        "training, and on held-out images the accuracy, the mean confidence (largest "
        f"probability) and the expected calibration error over {CALIBRATION_BINS} bins. "
        "Without smoothing the loss rewards ever larger logits on the points it already "
        "classifies; with it the target probability of the true class is 1 - eps + eps / C, "
        "the best logits are finite, and the weights and the confidence stay smaller."
    ),
    params=SmoothingParams,
    run=run_smoothing,
    plot=plot_smoothing,
    sources=(
        Source("reference.losses", "cross_entropy", "cross-entropy-loss"),
        Source("reference.losses", "cross_entropy_backward", "label-smoothing"),
        Source("reference.optim", "Adam", "adam-optimizer"),
    ),
    cost=cost_smoothing,
    cost_drivers=("steps", "n_samples", "smoothing"),
)
