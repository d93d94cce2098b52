"""Demo of dropout: the same small network trained with several dropout rates on few noisy
points, its training and test losses epoch by epoch."""

import itertools
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator

from kb.demos import datasets
from kb.demos.base import Demo, DemoOutput, DemoParams, Source, check_unique, param
from reference import activations, dropout, losses, optim

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]
IntArray = NDArray[np.int64]
TEST_SAMPLES = 500
CURVE_POINTS = 100
"""The losses are evaluated at most this many times per run (every few epochs)."""


class DropoutParams(DemoParams):
    dataset: datasets.Dataset2D = param("moons", "The generated 2-D, two-class dataset.")
    n_samples: int = param(60, "Training points (few, so that the network can overfit).",
                           unit="samples", ge=4, le=2_000)  # fmt: skip
    noise: float = param(0.35, "Std of the Gaussian noise added to the points.", ge=0.0, le=1.0)
    hidden: int = param(48, "Units in each of the two hidden layers.", unit="units", ge=2,
                        le=512)  # fmt: skip
    rates: list[Annotated[float, Field(ge=0.0, lt=1.0)]] = Field(
        default=[0.0, 0.5], min_length=1, max_length=5,
        description="Dropout probabilities p to compare (applied after each hidden layer).",
    )  # fmt: skip
    epochs: int = param(300, "Full-batch Adam steps.", unit="epochs", ge=1, le=5_000)
    lr: float = param(0.01, "Adam learning rate.", unit="per step", gt=0.0, le=1.0)

    @field_validator("rates")
    @classmethod
    def _unique(cls, value: list[float]) -> list[float]:
        check_unique(value, "rates")
        return value


def _init(sizes: list[int], rng: np.random.Generator) -> list[FloatArray]:
    params: list[FloatArray] = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        params += [rng.uniform(-1, 1, (fan_in, fan_out)) / np.sqrt(fan_in), np.zeros(fan_out)]
    return params


def _forward(
    params: list[FloatArray], x: FloatArray, p: float, rng: np.random.Generator | None
) -> tuple[FloatArray, list[tuple[FloatArray, FloatArray, FloatArray]]]:
    """Logits; with ``rng`` dropout is on (training), and each hidden layer's (input,
    pre-activation, mask) is kept for backward."""
    saved = []
    h = x
    for layer in range(len(params) // 2 - 1):
        pre = h @ params[2 * layer] + params[2 * layer + 1]
        out, mask = dropout.dropout(activations.relu(pre), p, training=rng is not None, rng=rng)
        saved.append((h, pre, mask))
        h = out
    return h @ params[-2] + params[-1], [*saved, (h, h, h)]


def _grads(
    params: list[FloatArray], x: FloatArray, y: IntArray, p: float, rng: np.random.Generator
) -> list[FloatArray]:
    logits, saved = _forward(params, x, p, rng)
    g = losses.cross_entropy_backward(1.0, logits, y)
    grads: list[FloatArray] = []
    last_input = saved[-1][0]
    grads = [last_input.T @ g, g.sum(axis=0)]
    g = g @ params[-2].T
    for layer in range(len(saved) - 2, -1, -1):
        h, pre, mask = saved[layer]
        g = activations.relu_backward(pre, dropout.dropout_backward(g, mask, p))
        grads = [h.T @ g, g.sum(axis=0), *grads]
        g = g @ params[2 * layer].T
    return grads


def run_dropout(p: DropoutParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    x, y = datasets.classification_2d(p.dataset, p.n_samples, p.noise, rng)
    x_test, y_test = datasets.classification_2d(p.dataset, TEST_SAMPLES, p.noise, rng)
    out = DemoOutput(metrics={})
    with np.errstate(all="ignore"):
        for rate in p.rates:
            params = _init([2, p.hidden, p.hidden, 2], np.random.default_rng([p.seed, 1]))
            opt = optim.Adam(params, lr=p.lr)
            mask_rng = np.random.default_rng([p.seed, 2])
            curves: dict[str, list[float]] = {"train": [], "test": []}
            every = _evaluation_interval(p.epochs)
            evaluated = []
            for epoch in range(1, p.epochs + 1):
                opt.step(_grads(params, x, y, rate, mask_rng))
                if epoch % every and epoch != p.epochs:
                    continue
                evaluated.append(epoch)
                for split, (xs, ys) in (("train", (x, y)), ("test", (x_test, y_test))):
                    logits, _ = _forward(params, xs, rate, None)  # evaluation: no dropout
                    curves[split].append(float(losses.cross_entropy(logits, ys)))
            name = f"p={rate:g}"
            for split, curve in curves.items():
                out.series[f"{split}_loss/{name}"] = np.column_stack([evaluated, curve])
                out.metrics[f"{name}.final_{split}_loss"] = curve[-1]
            out.metrics[f"{name}.best_test_loss"] = float(np.min(curves["test"]))
            logits, _ = _forward(params, x_test, rate, None)
            out.metrics[f"{name}.test_accuracy"] = float(np.mean(np.argmax(logits, 1) == y_test))
    return out


def _evaluation_interval(epochs: int) -> int:
    return max(1, epochs // CURVE_POINTS)


def cost_dropout(p: DropoutParams) -> float:
    """Seconds, fitted on the development machine: a training step on the points per epoch,
    an evaluation of both splits every few epochs."""
    evaluations = p.epochs // _evaluation_interval(p.epochs) + 1
    width = p.hidden * (p.hidden + 4)
    step = 3.5e-4 + 7e-10 * 3 * p.n_samples * width
    evaluation = 2e-4 + 7e-10 * (p.n_samples + TEST_SAMPLES) * width
    return 0.01 + len(p.rates) * (p.epochs * step + evaluations * evaluation)


def plot_dropout(p: DropoutParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(2)
    for index, split in enumerate(("train", "test")):
        ax = plots.axes(fig, 1, 2, index + 1, f"{split} loss (no dropout at evaluation)")
        for rate in p.rates:
            plots.curve(ax, out.series[f"{split}_loss/p={rate:g}"], f"p = {rate:g}")
        ax.set_xlabel("epoch")
        plots.log_scale_if_positive(ax, [out.series[f"{split}_loss/p={r:g}"] for r in p.rates])
        plots.legend(ax)
    return fig


DROPOUT = Demo(
    slug="dropout",
    title="Dropout on a small noisy dataset: training and test loss",
    terms=("dropout",),
    description=(
        "Trains one relu network (two hidden layers, the same initial weights) with Adam on "
        "a few noisy 2-D points, once for each dropout probability p (reference.dropout after "
        "each hidden layer, inverted scaling), and evaluates it without dropout every few "
        f"epochs ({CURVE_POINTS} times at most) on the training points and on {TEST_SAMPLES} "
        "fresh points. Reports both loss curves, the final and best test losses and the test "
        "accuracy."
    ),
    params=DropoutParams,
    run=run_dropout,
    plot=plot_dropout,
    sources=(
        Source("reference.dropout", "dropout", "dropout"),
        Source("reference.dropout", "dropout_backward", "dropout"),
        Source("reference.losses", "cross_entropy", "cross-entropy-loss"),
        Source("reference.losses", "cross_entropy_backward", "cross-entropy-loss"),
        Source("reference.optim", "Adam", "adam-optimizer"),
    ),
    cost=cost_dropout,
    cost_drivers=("epochs", "hidden", "rates", "n_samples"),
)
