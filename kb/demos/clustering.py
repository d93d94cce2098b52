"""Demos of clustering: k-means from k-means++ against random starts, and a Gaussian mixture
fitted by EM."""

import math
import warnings
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from kb.demos import datasets
from kb.demos.base import Demo, DemoOutput, DemoParams, Source, param
from reference.clustering import KMeans, kmeans_plusplus
from reference.estimator import ConvergenceWarning
from reference.mixture import GaussianMixture

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]
SHOWN_RUNS = 5

# --- k-means: k-means++ against random starts --------------------------------------------------


class KMeansParams(DemoParams):
    n_samples: int = param(300, "Points.", unit="samples", ge=10, le=3_000)
    true_clusters: int = param(6, "Gaussian blobs the points are drawn from.", ge=1, le=12)
    spread: float = param(0.8, "Standard deviation of each blob.", gt=0.0, le=5.0)
    n_clusters: int = param(6, "k: clusters k-means looks for.", ge=1, le=12)
    restarts: int = param(
        10, "Runs from each kind of start (k-means++ and k points drawn uniformly), each seeded "
        "differently.", unit="runs", ge=1, le=100,
    )  # fmt: skip
    max_iter: int = param(50, "Lloyd iterations per run at most.", unit="iterations", ge=1, le=300)


def _inertia(X: FloatArray, centres: FloatArray) -> float:
    return float(np.sum(np.min(((X[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)))


def _lloyd_path(X: FloatArray, centres: FloatArray, max_iter: int) -> tuple[list[float], KMeans]:
    """Inertia at the start and after each Lloyd iteration, and the final model: one
    ``KMeans(max_iter=1)`` step at a time, each from the centres the previous one left, until
    no assignment changes."""
    inertia = [_inertia(X, centres)]
    labels = None
    for _ in range(max_iter):
        model = KMeans(n_clusters=len(centres), init=centres, max_iter=1, tol=0.0).fit(X)
        assert model.cluster_centers_ is not None and model.inertia_ is not None
        assert model.labels_ is not None
        inertia.append(model.inertia_)
        if labels is not None and np.array_equal(model.labels_, labels):
            break
        centres, labels = model.cluster_centers_, model.labels_
    return inertia, model


def run_kmeans(p: KMeansParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    X, _ = datasets.blobs(p.n_samples, p.true_clusters, p.spread, rng)
    k = min(p.n_clusters, p.n_samples)
    out = DemoOutput(metrics={})
    for start in ("k-means++", "random"):
        finals, firsts, steps = [], [], []
        for run in range(p.restarts):
            draws = np.random.RandomState([p.seed, run])
            if start == "k-means++":
                centres = kmeans_plusplus(X, k, draws)[0]
            else:
                centres = X[draws.choice(X.shape[0], size=k, replace=False)]
            path, model = _lloyd_path(X, centres, p.max_iter)
            firsts.append(path[0])
            finals.append(path[-1])
            steps.append(len(path) - 1)
            if run < SHOWN_RUNS:
                out.series[f"{start}/inertia/{run}"] = path
            if run == 0:
                out.extras[f"{start}/labels"] = model.labels_
                out.extras[f"{start}/centres"] = model.cluster_centers_
        out.series[f"{start}/final_inertia"] = np.sort(finals)
        out.metrics[f"{start}.initial_inertia_mean"] = float(np.mean(firsts))
        out.metrics[f"{start}.final_inertia_mean"] = float(np.mean(finals))
        out.metrics[f"{start}.final_inertia_best"] = float(np.min(finals))
        out.metrics[f"{start}.iterations_mean"] = float(np.mean(steps))
    out.extras["points"] = X
    return out


def cost_kmeans(p: KMeansParams) -> float:
    iterations = 2 * p.restarts * min(p.max_iter, 40)  # runs rarely need more than 40 steps
    return 0.02 + iterations * (2.5e-4 + 2e-8 * p.n_samples * p.n_clusters)


def plot_kmeans(p: KMeansParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(3)
    X = out.extras["points"]
    for column, start in enumerate(("k-means++", "random"), start=1):
        ax = plots.axes(fig, 1, 3, column, f"First run from {start} starts")
        ax.scatter(X[:, 0], X[:, 1], c=out.extras[f"{start}/labels"], cmap="tab20", s=6)
        centres = out.extras[f"{start}/centres"]
        ax.scatter(centres[:, 0], centres[:, 1], marker="x", c="k", s=40)
    ax = plots.axes(fig, 1, 3, 3, "Inertia per Lloyd iteration")
    for start, colour in (("k-means++", "tab:green"), ("random", "tab:orange")):
        for run in range(min(SHOWN_RUNS, p.restarts)):
            path = np.asarray(out.series[f"{start}/inertia/{run}"], dtype=float)
            ax.plot(np.arange(path.size), path, color=colour, linewidth=1.0,
                    label=start if run == 0 else None)  # fmt: skip
    ax.set_xlabel("iteration (0: the starting centres)")
    ax.set_ylabel("inertia")
    plots.log_scale_if_positive(ax, [out.series["random/final_inertia"]])
    plots.legend(ax)
    return fig


KMEANS = Demo(
    slug="k-means",
    title="k-means from k-means++ and from random starts",
    terms=("k-means", "k-means-plus-plus"),
    description=(
        "Clusters points drawn from Gaussian blobs with Lloyd's algorithm, from k-means++ "
        "starts and from k points drawn uniformly, several seeded runs of each, recording the "
        "inertia (within-cluster sum of squares) at the start and after every iteration. Each "
        "iteration lowers it; k-means++ starts lower and usually ends lower and sooner, and "
        "random starts more often stall in a local minimum that merges two blobs. The "
        "implementation equals scikit-learn's KMeans(algorithm='lloyd') from the same centres."
    ),
    params=KMeansParams,
    run=run_kmeans,
    plot=plot_kmeans,
    sources=(
        Source("reference.clustering", "KMeans", "k-means"),
        Source("reference.clustering", "kmeans_plusplus", "k-means-plus-plus"),
    ),
    cost=cost_kmeans,
    cost_drivers=("restarts", "max_iter", "n_samples", "n_clusters"),
)

# --- a Gaussian mixture fitted by EM -----------------------------------------------------------


class MixtureParams(DemoParams):
    n_samples: int = param(400, "Points.", unit="samples", ge=10, le=3_000)
    true_components: int = param(3, "Elongated Gaussian blobs the points come from.", ge=1, le=8)
    spread: float = param(0.9, "Standard deviation of each blob across.", gt=0.0, le=5.0)
    elongation: float = param(3.0, "How much longer than wide each blob is at most.", ge=1.0,
                              le=10.0)  # fmt: skip
    n_components: int = param(3, "Components of the fitted mixture.", ge=1, le=8)
    covariance_type: Literal["full", "tied", "diag", "spherical"] = param(
        "full", "The covariance each component may have."
    )
    init_params: Literal["kmeans", "k-means++", "random", "random_from_data"] = param(
        "random",
        "How the initial responsibilities are chosen, as scikit-learn: random (uniform "
        "random responsibilities: a slow start, many iterations to watch), kmeans, k-means++ or "
        "random_from_data (one point per component).",
    )
    tol: float = param(1e-6, "Stop when the lower bound rises by less.", gt=0.0, le=1.0)
    max_iter: int = param(200, "EM iterations at most.", unit="iterations", ge=1, le=1_000)
    n_init: int = param(1, "Runs from different starts; the best is kept.", unit="runs",
                        ge=1, le=20)  # fmt: skip


def _covariance(model: GaussianMixture, k: int) -> FloatArray:
    """Component k's 2 x 2 covariance matrix, whatever the covariance type."""
    cov: FloatArray = np.asarray(model.covariances_, dtype=np.float64)
    if model.covariance_type == "tied":
        return cov
    if model.covariance_type == "diag":
        diagonal: FloatArray = np.diag(cov[k])
        return diagonal
    full: FloatArray = np.eye(2) * cov[k] if model.covariance_type == "spherical" else cov[k]
    return full


def run_mixture(p: MixtureParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    X, _ = datasets.blobs(p.n_samples, p.true_components, p.spread, rng, elongation=p.elongation)
    model = GaussianMixture(
        n_components=min(p.n_components, p.n_samples), covariance_type=p.covariance_type,
        tol=p.tol, max_iter=p.max_iter, n_init=p.n_init, init_params=p.init_params,
        random_state=p.seed,
    )  # fmt: skip
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported as the converged metric
        try:
            model.fit(X)
        except ValueError as error:  # a component collapsed onto too few points
            return DemoOutput(metrics={"failed": True}, extras={"error": str(error), "points": X})
    bounds = np.asarray(model.lower_bounds_)
    rises = np.diff(bounds)
    out = DemoOutput(
        metrics={
            "failed": False,
            "lower_bound": model.lower_bound_,
            "n_iter": model.n_iter_,
            "converged": bool(model.converged_),
            "smallest_rise": float(rises.min()) if rises.size else None,
            "bound_never_fell": bool(np.all(rises >= -1e-12)),
            "log_likelihood_per_sample": model.score(X),
        },
        series={"lower_bound": bounds},
    )
    assert model.weights_ is not None and model.means_ is not None
    out.extras.update(
        points=X,
        labels=model.predict(X),
        means=model.means_,
        weights=model.weights_,
        covariances=[_covariance(model, k) for k in range(model.n_components)],
    )
    return out


def cost_mixture(p: MixtureParams) -> float:
    per_iteration = 1.5e-4 + 6e-8 * p.n_samples * p.n_components
    return 0.02 + p.n_init * min(p.max_iter, 300) * per_iteration


def plot_mixture(p: MixtureParams, out: DemoOutput) -> "Figure":
    from matplotlib.patches import Ellipse

    from kb.demos import plots

    fig = plots.figure(2)
    ax = plots.axes(fig, 1, 2, 1, f"Fitted components ({p.covariance_type}), 1 and 2 sigma")
    X = out.extras["points"]
    if out.metrics.get("failed"):
        ax.scatter(X[:, 0], X[:, 1], s=5, c="0.5")
        ax.set_title("EM failed: " + str(out.extras["error"])[:60])
        return fig
    ax.scatter(X[:, 0], X[:, 1], c=out.extras["labels"], cmap="tab10", s=5, vmin=0, vmax=9)
    for k, (mean, cov) in enumerate(zip(out.extras["means"], out.extras["covariances"],
                                        strict=True)):  # fmt: skip
        values, vectors = np.linalg.eigh(cov)
        angle = math.degrees(math.atan2(vectors[1, -1], vectors[0, -1]))
        for scale in (1.0, 2.0):
            width, height = 2 * scale * np.sqrt(np.maximum(values[::-1], 0.0))
            ax.add_patch(Ellipse(tuple(mean), width, height, angle=angle, fill=False,
                                 color=f"C{k % 10}", linewidth=1.2))  # fmt: skip
    ax2 = plots.axes(fig, 1, 2, 2, "EM: the lower bound at each iteration")
    plots.curve(ax2, out.series["lower_bound"], "mean log-likelihood")
    ax2.set_xlabel("iteration")
    ax2.set_ylabel("lower bound (mean log-likelihood)")
    return fig


GAUSSIAN_MIXTURE = Demo(
    slug="gaussian-mixture-model",
    title="A Gaussian mixture fitted by EM",
    terms=("gaussian-mixture-model", "expectation-maximization"),
    description=(
        "Fits a mixture of Gaussians to points drawn from elongated blobs by expectation-"
        "maximisation and plots the fitted components (their 1 and 2 sigma ellipses) and the "
        "lower bound, the mean log-likelihood, after every iteration: EM never lowers it "
        "(bound_never_fell), whatever the start; restricted covariances (tied, diag, "
        "spherical) fit elongated blobs worse. The implementation equals scikit-learn's "
        "GaussianMixture from the same initial parameters or seed."
    ),
    params=MixtureParams,
    run=run_mixture,
    plot=plot_mixture,
    sources=(
        Source("reference.mixture", "GaussianMixture", "gaussian-mixture-model"),
        Source("reference.mixture", "GaussianMixture._m_step", "expectation-maximization"),
    ),
    cost=cost_mixture,
    cost_drivers=("n_init", "max_iter", "n_samples", "n_components"),
)
