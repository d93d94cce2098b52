"""Demos of classical classifiers: four decision boundaries on the same 2-D data, and the ROC
and precision-recall curves of a classifier with the threshold behind a chosen point."""

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from kb.demos import datasets
from kb.demos.base import Demo, DemoOutput, DemoParams, Source, param
from reference import metrics
from reference.linear_models import LogisticRegression
from reference.naive_bayes import GaussianNB
from reference.neighbors import KNeighborsClassifier
from reference.tree import DecisionTreeClassifier

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]
IntArray = NDArray[np.int64]
MARGIN = 0.3
"""How far the plotted plane extends beyond the data, in data units."""


def _split(
    x: FloatArray, y: IntArray, test_fraction: float
) -> tuple[FloatArray, IntArray, FloatArray, IntArray]:
    """The data (already shuffled) cut into a training and a held-out part, each keeping at
    least one row."""
    cut = min(max(1, round(len(y) * (1 - test_fraction))), len(y) - 1)
    return x[:cut], y[:cut], x[cut:], y[cut:]


# --- decision boundaries -----------------------------------------------------------------------


class BoundaryParams(DemoParams):
    dataset: datasets.Dataset2D = param("moons", "The 2-D two-class data set.")
    n_samples: int = param(200, "Points (a quarter held out).", unit="samples", ge=8, le=2_000)
    noise: float = param(0.2, "Standard deviation of the Gaussian noise on the points.", ge=0.0,
                         le=1.0)  # fmt: skip
    C: float = param(1.0, "Logistic regression: inverse L2 penalty strength.", gt=0.0, le=1e4)
    n_neighbors: int = param(15, "k-NN: neighbours that vote.", ge=1, le=100)
    knn_weights: Literal["uniform", "distance"] = param("uniform", "k-NN: how votes count.")
    max_depth: int = param(4, "Decision tree: the deepest split.", ge=1, le=30)
    criterion: Literal["gini", "entropy"] = param("gini", "Decision tree: the impurity.")
    resolution: int = param(80, "Grid points per side of the plotted plane.", unit="points",
                            ge=10, le=300)  # fmt: skip


MODELS = ("logistic_regression", "naive_bayes", "knn", "decision_tree")
TITLES = {
    "logistic_regression": "Logistic regression (linear boundary)",
    "naive_bayes": "Gaussian naive Bayes (quadratic boundary)",
    "knn": "k-nearest neighbours",
    "decision_tree": "Decision tree (axis-aligned splits)",
}


def _classifiers(p: BoundaryParams, n_train: int) -> dict[str, Any]:
    return {
        "logistic_regression": LogisticRegression(C=p.C),
        "naive_bayes": GaussianNB(),
        "knn": KNeighborsClassifier(min(p.n_neighbors, n_train), weights=p.knn_weights),
        "decision_tree": DecisionTreeClassifier(criterion=p.criterion, max_depth=p.max_depth),
    }


def run_boundaries(p: BoundaryParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    x, y = datasets.classification_2d(p.dataset, p.n_samples, p.noise, rng)
    train_x, train_y, test_x, test_y = _split(x, y, 0.25)
    low, high = x.min(axis=0) - MARGIN, x.max(axis=0) + MARGIN
    gx = np.linspace(low[0], high[0], p.resolution)
    gy = np.linspace(low[1], high[1], p.resolution)
    grid = np.column_stack([a.ravel() for a in np.meshgrid(gx, gy)])
    out = DemoOutput(metrics={}, extras={"gx": gx, "gy": gy, "x": train_x, "y": train_y})
    one_class = np.unique(train_y).size < 2
    for name, model in _classifiers(p, len(train_y)).items():
        if one_class and name == "logistic_regression":
            out.metrics[f"{name}.train_accuracy"] = None  # it needs two classes
            continue
        model.fit(train_x, train_y)
        out.metrics[f"{name}.train_accuracy"] = metrics.accuracy_score(
            train_y, model.predict(train_x)
        )
        out.metrics[f"{name}.test_accuracy"] = metrics.accuracy_score(test_y, model.predict(test_x))
        proba = model.predict_proba(grid)
        column = list(model.classes_).index(1) if 1 in model.classes_ else None
        positive = proba[:, column] if column is not None else np.zeros(len(grid))
        out.extras[name] = positive.reshape(p.resolution, p.resolution)
        if isinstance(model, DecisionTreeClassifier):
            out.metrics["decision_tree.leaves"] = model.get_n_leaves()
            out.metrics["decision_tree.depth"] = model.get_depth()
    return out


def cost_boundaries(p: BoundaryParams) -> float:
    grid = p.resolution**2
    knn = 2e-7 * grid * p.n_samples * 0.75
    tree = 2e-6 * p.n_samples * p.max_depth
    return 0.03 + knn + tree + 1e-6 * grid


def plot_boundaries(p: BoundaryParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(4, width=3.4, height=3.6)
    for column, name in enumerate(MODELS, start=1):
        accuracy = out.metrics.get(f"{name}.test_accuracy")
        suffix = f"\nheld-out accuracy {accuracy:.2f}" if isinstance(accuracy, float) else ""
        ax = plots.axes(fig, 1, 4, column, TITLES[name] + suffix)
        if name in out.extras:
            plots.decision_regions(
                ax, out.extras["gx"], out.extras["gy"], out.extras[name], out.extras["x"],
                out.extras["y"],
            )  # fmt: skip
    return fig


DECISION_BOUNDARIES = Demo(
    slug="decision-boundaries",
    title="Decision boundaries of four classical classifiers on the same data",
    terms=("logistic-regression", "naive-bayes", "k-nearest-neighbors", "decision-tree"),
    description=(
        "Trains logistic regression, Gaussian naive Bayes, k-nearest neighbours and a CART "
        "decision tree on the same 2-D two-class data (three quarters of it) and shades each "
        "one's probability of the red class over the plane, with the 0.5 contour, its "
        "decision boundary. Logistic regression on the raw coordinates can only draw a line; "
        "Gaussian naive Bayes, a quadric (one Gaussian per class, axis-aligned); k-NN follows "
        "the data, more jaggedly the smaller k; the tree cuts the plane into axis-aligned "
        "boxes, more of them the deeper it may grow. Each implementation equals scikit-learn's."
    ),
    params=BoundaryParams,
    run=run_boundaries,
    plot=plot_boundaries,
    sources=(
        Source("reference.linear_models", "LogisticRegression", "logistic-regression"),
        Source("reference.naive_bayes", "GaussianNB", "naive-bayes"),
        Source("reference.neighbors", "KNeighborsClassifier", "k-nearest-neighbors"),
        Source("reference.tree", "DecisionTreeClassifier", "decision-tree"),
    ),
    cost=cost_boundaries,
    cost_drivers=("resolution", "n_samples", "max_depth"),
)

# --- ROC and precision-recall curves -----------------------------------------------------------


class CurveParams(DemoParams):
    n_samples: int = param(400, "Points (half held out, scored for the curves).",
                           unit="samples", ge=8, le=1_000_000)  # fmt: skip
    positive_fraction: float = param(
        0.3, "The share of positives: the precision-recall curve feels it, the ROC curve does "
        "not.", gt=0.0, lt=1.0,
    )  # fmt: skip
    separation: float = param(
        1.5, "Distance between the two classes' Gaussian centres, in standard deviations.",
        ge=0.0, le=10.0,
    )  # fmt: skip
    score_decimals: int = param(
        2, "Decimals the scores are rounded to: fewer make more tied scores, which enter the "
        "curves together (one diagonal step).", ge=0, le=12,
    )  # fmt: skip
    target_recall: float = param(
        0.8, "The chosen point: the first ROC point whose true-positive rate (recall) reaches "
        "this; the demo reports the threshold behind it.", ge=0.0, le=1.0,
    )  # fmt: skip


def _two_gaussians(p: CurveParams, rng: np.random.Generator) -> tuple[FloatArray, IntArray]:
    y = (rng.random(p.n_samples) < p.positive_fraction).astype(np.int64)
    y[:2] = [0, 1]  # both classes in the training half
    y[-2:] = [0, 1]  # and in the held-out half
    direction = np.array([np.cos(0.6), np.sin(0.6)])
    x = rng.normal(size=(p.n_samples, 2)) + np.outer(y, direction * p.separation)
    return x, y


def run_curves(p: CurveParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    x, y = _two_gaussians(p, rng)
    half = p.n_samples // 2
    model = LogisticRegression().fit(x[:half], y[:half])
    test_y = y[half:]
    scores = np.round(model.predict_proba(x[half:])[:, 1], p.score_decimals)
    fpr, tpr, roc_thresholds = metrics.roc_curve(test_y, scores)
    precision, recall, pr_thresholds = metrics.precision_recall_curve(test_y, scores)
    chosen = int(np.argmax(tpr >= p.target_recall))  # the first point reaching it
    threshold = float(roc_thresholds[chosen])  # +inf at (0, 0): nothing predicted positive
    predicted = (scores >= threshold).astype(np.int64)
    tn, fp, fn, tp = metrics.confusion_matrix(test_y, predicted, labels=[0, 1]).ravel()
    out = DemoOutput(
        metrics={
            "roc_auc": metrics.roc_auc_score(test_y, scores),
            "average_precision": metrics.average_precision_score(test_y, scores),
            "distinct_scores": int(np.unique(scores).size),
            "threshold": threshold if np.isfinite(threshold) else None,
            "tpr": float(tpr[chosen]),
            "fpr": float(fpr[chosen]),
            "precision": metrics.precision_score(test_y, predicted, zero_division=1.0),
            "recall": metrics.recall_score(test_y, predicted, zero_division=1.0),
            "f1": metrics.f1_score(test_y, predicted, zero_division=1.0),
            "tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn),
            "positives": int(test_y.sum()),
            "negatives": int(test_y.size - test_y.sum()),
        },
        series={
            "roc": np.column_stack([fpr, tpr]),
            "precision_recall": np.column_stack([recall, precision]),
            "pr_thresholds": pr_thresholds,
        },
    )  # fmt: skip
    out.extras["scores"] = scores
    out.extras["labels"] = test_y
    return out


def cost_curves(p: CurveParams) -> float:
    return 0.01 + 1.5e-6 * p.n_samples


def plot_curves(p: CurveParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    m: dict[str, Any] = out.metrics
    label = "threshold " + (f"{m['threshold']:.3g}" if m["threshold"] is not None else "+inf")
    fig = plots.figure(3)
    ax = plots.axes(fig, 1, 3, 1, f"ROC curve, AUC {m['roc_auc']:.3f}")
    plots.curve(ax, out.series["roc"], "ROC")
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1, label="chance")
    ax.plot([m["fpr"]], [m["tpr"]], "ko", label=label)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate (recall)")
    plots.legend(ax)
    ax2 = plots.axes(fig, 1, 3, 2, f"Precision-recall, AP {m['average_precision']:.3f}")
    plots.curve(ax2, out.series["precision_recall"], "precision-recall")
    ax2.plot([m["recall"]], [m["precision"]], "ko", label=label)
    base = m["positives"] / (m["positives"] + m["negatives"])
    ax2.axhline(base, color="0.6", linestyle=":", linewidth=1, label="chance (positive share)")
    ax2.set_xlabel("recall")
    ax2.set_ylabel("precision")
    plots.legend(ax2)
    ax3 = plots.axes(fig, 1, 3, 3, "Held-out scores by class")
    scores, labels = out.extras["scores"], out.extras["labels"]
    bins = np.linspace(0.0, 1.0, 26).tolist()
    ax3.hist(scores[labels == 0], bins=bins, alpha=0.5, label="negatives", color="tab:blue")
    ax3.hist(scores[labels == 1], bins=bins, alpha=0.5, label="positives", color="tab:red")
    if m["threshold"] is not None:
        ax3.axvline(m["threshold"], color="k", linewidth=1, label="threshold (>= it: positive)")
    ax3.set_xlabel("score: predicted probability of the positive class")
    plots.legend(ax3)
    return fig


ROC_CURVE = Demo(
    slug="roc-curve",
    title="ROC and precision-recall curves, and the threshold behind a point",
    terms=(
        "roc-curve",
        "precision-recall-curve",
        "area-under-the-roc-curve",
        "average-precision",
        "confusion-matrix",
        "precision",
        "recall",
        "f1-score",
    ),
    description=(
        "Scores held-out points of two overlapping Gaussian classes with a logistic "
        "regression trained on the other half, and draws the ROC curve (true- against "
        "false-positive rate) and the precision-recall curve over every threshold, tied scores "
        "entering together. The chosen point is the first on the ROC curve whose recall "
        "reaches target_recall; the demo reports its threshold and the confusion matrix, "
        "precision, recall and F1 of predicting positive at scores >= it, and marks it on "
        "both curves. Fewer positives leave the ROC curve alone but pull the precision-recall "
        "curve down. Every number equals scikit-learn's."
    ),
    params=CurveParams,
    run=run_curves,
    plot=plot_curves,
    sources=(
        Source("reference.metrics", "roc_curve", "roc-curve"),
        Source("reference.metrics", "precision_recall_curve", "precision-recall-curve"),
        Source("reference.metrics", "roc_auc_score", "area-under-the-roc-curve"),
        Source("reference.metrics", "average_precision_score", "average-precision"),
        Source("reference.metrics", "confusion_matrix", "confusion-matrix"),
        Source("reference.metrics", "precision_recall_fscore_support", "f1-score"),
    ),
    cost=cost_curves,
    cost_drivers=("n_samples",),
)
