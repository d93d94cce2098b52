"""Demo of the bias-variance trade-off: polynomial least squares and ridge fits to many noisy
samples of one curve."""

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from kb.demos.base import Demo, DemoOutput, DemoParams, Source, param
from reference.linear_models import LinearRegression, Ridge

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]
GRID = 100
"""Points of [0, 1] where bias and variance are measured."""
ALPHAS = np.logspace(-8, 2, 11)
SHOWN_FITS = 8


class BiasVarianceParams(DemoParams):
    n_train: int = param(20, "Points in each training set.", unit="samples", ge=3, le=1_000)
    noise: float = param(0.3, "Standard deviation sigma of the noise on y.", ge=0.0, le=2.0)
    n_datasets: int = param(
        60, "Training sets drawn (each fitted anew) to measure bias and variance.",
        unit="data sets", ge=2, le=2_000,
    )  # fmt: skip
    max_degree: int = param(12, "Degrees 0 to this are fitted.", ge=1, le=20)
    alpha: float = param(
        0.0, "Ridge penalty of the degree sweep (0: plain least squares).", ge=0.0, le=1e3
    )
    degree: int = param(12, "Degree of the ridge-penalty sweep (over alpha = 1e-8 .. 100).",
                        ge=1, le=20)  # fmt: skip


def truth(x: FloatArray) -> FloatArray:
    out: FloatArray = np.sin(2 * np.pi * x)
    return out


def features(x: FloatArray, degree: int) -> FloatArray:
    """Powers 1..degree of x rescaled to [-1, 1] (the intercept is the model's)."""
    t = 2 * x - 1
    out: FloatArray = t[:, None] ** np.arange(1, degree + 1)[None, :]
    return out


def _decompose(
    xs: FloatArray, ys: FloatArray, grid: FloatArray, degree: int, alpha: float
) -> tuple[float, float, FloatArray]:
    """(bias^2, variance, the fits on the grid) over the training sets (xs, ys)."""
    fits = np.empty((len(xs), grid.size))
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if degree == 0:
            fits[i] = y.mean()
            continue
        model = Ridge(alpha=alpha) if alpha > 0 else LinearRegression()
        fits[i] = model.fit(features(x, degree), y).predict(features(grid, degree))
    mean = fits.mean(axis=0)
    bias2 = float(np.mean((mean - truth(grid)) ** 2))
    variance = float(np.mean(fits.var(axis=0)))
    return bias2, variance, fits


def run_bias_variance(p: BiasVarianceParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    xs = rng.uniform(0.0, 1.0, (p.n_datasets, p.n_train))
    ys = truth(xs) + rng.normal(0.0, p.noise, xs.shape)
    grid = np.linspace(0.0, 1.0, GRID)
    out = DemoOutput(metrics={"noise_variance": p.noise**2})
    by_degree = []
    for degree in range(p.max_degree + 1):
        bias2, variance, fits = _decompose(xs, ys, grid, degree, p.alpha)
        by_degree.append((degree, bias2, variance))
        if degree in (1, 3, p.max_degree):
            out.extras[f"fits/{degree}"] = fits[:SHOWN_FITS]
    by_alpha = [(math.log10(a), *_decompose(xs, ys, grid, p.degree, float(a))[:2]) for a in ALPHAS]
    for name, rows in (("degree", by_degree), ("log10_alpha", by_alpha)):
        table = np.array(rows, dtype=np.float64)
        out.series[f"{name}/bias2"] = table[:, [0, 1]]
        out.series[f"{name}/variance"] = table[:, [0, 2]]
        total = table[:, 1] + table[:, 2] + p.noise**2
        out.series[f"{name}/expected_error"] = np.column_stack([table[:, 0], total])
        best = int(np.argmin(total))
        out.metrics[f"best_{name}"] = float(table[best, 0])
        out.metrics[f"{name}.best_expected_error"] = float(total[best])
    out.extras["grid"] = grid
    return out


def cost_bias_variance(p: BiasVarianceParams) -> float:
    fits = p.n_datasets * (p.max_degree + 1 + ALPHAS.size)
    per_fit = 2.5e-4 + 3e-9 * p.n_train * max(p.max_degree, p.degree) ** 2
    return 0.02 + fits * per_fit


def plot_bias_variance(p: BiasVarianceParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(3)
    grid = out.extras["grid"]
    ax = plots.axes(fig, 1, 3, 1, "Fits to different training sets")
    ax.plot(grid, truth(grid), "k", linewidth=2, label="the true curve")
    for degree, colour in zip((1, 3, p.max_degree), ("tab:blue", "tab:green", "tab:red"),
                              strict=True):  # fmt: skip
        for i, fit in enumerate(out.extras.get(f"fits/{degree}", [])):
            ax.plot(grid, fit, color=colour, linewidth=0.7, alpha=0.6,
                    label=f"degree {degree}" if i == 0 else None)  # fmt: skip
    ax.set_ylim(-2.0, 2.0)
    ax.set_xlabel("x")
    plots.legend(ax)
    for column, (name, xlabel) in enumerate(
        (("degree", f"polynomial degree (alpha = {p.alpha:g})"),
         ("log10_alpha", f"log10 ridge alpha (degree {p.degree})")), start=2,
    ):  # fmt: skip
        ax = plots.axes(fig, 1, 3, column, "Expected error = bias^2 + variance + sigma^2")
        for part in ("bias2", "variance", "expected_error"):
            plots.curve(ax, out.series[f"{name}/{part}"], part.replace("2", "^2"))
        ax.set_xlabel(xlabel)
        plots.log_scale_if_positive(ax, [out.series[f"{name}/expected_error"]])
        plots.legend(ax)
    return fig


BIAS_VARIANCE = Demo(
    slug="bias-variance-tradeoff",
    title="Bias and variance of polynomial and ridge fits",
    terms=(
        "bias-variance-tradeoff",
        "polynomial-regression",
        "ridge-regression",
        "linear-regression",
    ),
    description=(
        "Draws many training sets of noisy points on sin(2 pi x), fits each with a polynomial "
        "by least squares or ridge regression, and measures over [0, 1] the squared bias (how "
        "far the average fit is from the curve) and the variance (how much the fits differ "
        "between training sets). As the degree rises the bias falls and the variance grows; "
        "their sum plus the noise variance, the expected squared error on a new point, is "
        "smallest in between. At a high degree a larger ridge penalty trades variance back "
        "for bias. Least squares takes the minimum-norm solution when the degree exceeds the "
        "points, as scikit-learn's LinearRegression, which both fitters equal."
    ),
    params=BiasVarianceParams,
    run=run_bias_variance,
    plot=plot_bias_variance,
    sources=(
        Source("reference.linear_models", "LinearRegression", "linear-regression"),
        Source("reference.linear_models", "Ridge", "ridge-regression"),
    ),
    cost=cost_bias_variance,
    cost_drivers=("n_datasets", "max_degree", "n_train", "degree"),
)
