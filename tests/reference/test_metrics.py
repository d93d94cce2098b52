"""reference.metrics against sklearn.metrics: the same numbers, warnings and errors."""

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import sklearn.metrics as skm
from sklearn.exceptions import UndefinedMetricWarning as SkUndefined

from reference import metrics

TOL = 1e-12

LABEL_CASES: dict[str, tuple[Any, Any]] = {
    "binary01": ([0, 1, 1, 0, 1, 1, 0, 0, 1], [0, 1, 0, 0, 1, 1, 1, 0, 0]),
    "binary_pm1": ([-1, 1, 1, -1, 1], [1, 1, -1, -1, 1]),
    "all_zero_pred": ([0, 1, 1, 0, 1], [0, 0, 0, 0, 0]),
    "all_zero_both": ([0, 0, 0], [0, 0, 0]),
    "single_positive_class": ([1, 1, 1], [1, 1, 1]),
    "strings": (
        ["cat", "dog", "pig", "cat", "dog", "pig"],
        ["cat", "pig", "dog", "cat", "cat", "dog"],
    ),
    "multiclass": ([0, 1, 2, 2, 1, 0, 3, 3, 3], [0, 2, 2, 2, 1, 1, 3, 0, 3]),
    "class_never_predicted": ([0, 1, 2, 2, 1, 0], [0, 1, 1, 1, 1, 0]),
    "class_never_true": ([0, 1, 1, 1, 1, 0], [0, 1, 2, 2, 1, 0]),
}


def random_labels(seed: int, n_classes: int, n: int = 40) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_classes, n), rng.integers(0, n_classes, n)


def all_cases() -> list[tuple[str, Any, Any]]:
    cases = [(name, t, p) for name, (t, p) in LABEL_CASES.items()]
    cases += [(f"random{k}_{s}", *random_labels(s, k)) for k in (2, 3, 5) for s in range(2)]
    return cases


CASES = all_cases()


def same(ours: Callable[[], Any], theirs: Callable[[], Any]) -> Any:
    """Both results (equal to TOL, nan where nan), or both errors with the same type."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = theirs()
        except ValueError:
            with pytest.raises(ValueError):
                ours()
            return None
        got = ours()
    if expected is None:
        assert got is None
    elif isinstance(expected, tuple):
        for a, b in zip(got, expected, strict=True):
            if b is None:
                assert a is None
                continue
            np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL)
    else:
        np.testing.assert_allclose(got, expected, rtol=TOL, atol=TOL)
    return got


@pytest.mark.parametrize(("name", "y_true", "y_pred"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("average", ["binary", "micro", "macro", "weighted", None])
@pytest.mark.parametrize("zero_division", ["warn", 0.0, 1.0, np.nan])
def test_set_metrics(name: str, y_true: Any, y_pred: Any, average: Any, zero_division: Any) -> None:
    pos_label = "dog" if name == "strings" else 1
    kw = {"average": average, "zero_division": zero_division, "pos_label": pos_label}
    for ours, theirs in [
        (metrics.precision_score, skm.precision_score),
        (metrics.recall_score, skm.recall_score),
        (metrics.f1_score, skm.f1_score),
    ]:
        same(lambda o=ours: o(y_true, y_pred, **kw), lambda t=theirs: t(y_true, y_pred, **kw))
    for beta in (0.0, 0.5, 2.0, np.inf):
        same(
            lambda b=beta: metrics.fbeta_score(y_true, y_pred, beta=b, **kw),
            lambda b=beta: skm.fbeta_score(y_true, y_pred, beta=b, **kw),
        )


@pytest.mark.parametrize(("name", "y_true", "y_pred"), CASES, ids=[c[0] for c in CASES])
def test_accuracy_and_confusion_matrix(name: str, y_true: Any, y_pred: Any) -> None:
    same(lambda: metrics.accuracy_score(y_true, y_pred), lambda: skm.accuracy_score(y_true, y_pred))
    same(
        lambda: metrics.accuracy_score(y_true, y_pred, normalize=False),
        lambda: skm.accuracy_score(y_true, y_pred, normalize=False),
    )
    for normalize in (None, "true", "pred", "all"):
        got = same(
            lambda n=normalize: metrics.confusion_matrix(y_true, y_pred, normalize=n),
            lambda n=normalize: skm.confusion_matrix(y_true, y_pred, normalize=n),
        )
        if normalize is None:
            assert got.dtype == np.int64
    labels = [*sorted(set(y_true), reverse=True)[:2], "nope" if name == "strings" else 99]
    same(
        lambda: metrics.confusion_matrix(y_true, y_pred, labels=labels),
        lambda: skm.confusion_matrix(y_true, y_pred, labels=labels),
    )


def test_labels_argument_selects_and_orders_classes() -> None:
    y_true, y_pred = LABEL_CASES["multiclass"]
    for average in ("micro", "macro", "weighted", None):
        same(
            lambda a=average: metrics.precision_recall_fscore_support(
                y_true, y_pred, labels=[3, 0, 7], average=a, zero_division=0.0
            ),
            lambda a=average: skm.precision_recall_fscore_support(
                y_true, y_pred, labels=[3, 0, 7], average=a, zero_division=0.0
            ),
        )


def test_binary_average_refuses_multiclass_and_bad_pos_label() -> None:
    with pytest.raises(ValueError, match="average"):
        metrics.f1_score([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="pos_label"):
        metrics.f1_score([0, 1, 1], [0, 1, 0], pos_label=2)
    with pytest.raises(ValueError, match="zero_division"):
        metrics.f1_score([0, 1, 1], [0, 1, 0], zero_division=0.5)
    with pytest.raises(ValueError, match="average"):
        metrics.f1_score([0, 1, 1], [0, 1, 0], average="samples")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="y_true"):
        metrics.accuracy_score([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="lengths"):
        metrics.accuracy_score([0, 1], [0, 1, 1])


def test_zero_division_warns_like_scikit_learn() -> None:
    with pytest.warns(metrics.UndefinedMetricWarning, match="Precision"):
        metrics.precision_score([0, 1, 1], [0, 0, 0])
    with pytest.warns(SkUndefined):
        skm.precision_score([0, 1, 1], [0, 0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.precision_score([0, 1, 1], [0, 0, 0], zero_division=1.0) == 1.0


# --- score metrics ----------------------------------------------------------------------------


def score_cases() -> list[tuple[str, Any, Any]]:
    rng = np.random.default_rng(7)
    cases: list[tuple[str, Any, Any]] = [
        ("ties", [0, 1, 1, 0, 1, 0, 1, 1], [0.5, 0.5, 0.9, 0.1, 0.5, 0.9, 0.2, 0.2]),
        ("all_tied", [0, 1, 1, 0], [0.3, 0.3, 0.3, 0.3]),
        ("perfect", [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]),
        ("reversed", [1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]),
        ("pm1", [-1, 1, 1, -1, 1], [-2.0, 3.0, 0.5, 0.5, 7.0]),
        ("only_negatives", [0, 0, 0], [0.1, 0.5, 0.2]),
        ("only_positives", [1, 1, 1], [0.1, 0.5, 0.2]),
    ]
    for seed in range(4):
        n = int(rng.integers(5, 60))
        y = rng.integers(0, 2, n)
        s = np.round(rng.random(n), 1 + seed % 2)  # coarse rounding: many ties
        cases.append((f"random{seed}", y, s))
    cases.append(("float32", cases[-1][1], np.asarray(cases[-1][2], dtype=np.float32)))
    return cases


SCORE_CASES = score_cases()


@pytest.mark.parametrize(
    ("name", "y_true", "y_score"), SCORE_CASES, ids=[c[0] for c in SCORE_CASES]
)
def test_score_metrics(name: str, y_true: Any, y_score: Any) -> None:
    for drop in (True, False):
        same(
            lambda d=drop: metrics.roc_curve(y_true, y_score, drop_intermediate=d),
            lambda d=drop: skm.roc_curve(y_true, y_score, drop_intermediate=d),
        )
        same(
            lambda d=drop: metrics.precision_recall_curve(y_true, y_score, drop_intermediate=d),
            lambda d=drop: skm.precision_recall_curve(y_true, y_score, drop_intermediate=d),
        )
    same(lambda: metrics.roc_auc_score(y_true, y_score), lambda: skm.roc_auc_score(y_true, y_score))
    same(
        lambda: metrics.average_precision_score(y_true, y_score),
        lambda: skm.average_precision_score(y_true, y_score),
    )
    same(
        lambda: metrics.roc_curve(y_true, y_score, pos_label=0),
        lambda: skm.roc_curve(y_true, y_score, pos_label=0),
    )


def test_string_labels_need_pos_label() -> None:
    y, s = ["a", "b", "b", "a"], [0.1, 0.7, 0.4, 0.4]
    same(lambda: metrics.roc_curve(y, s, pos_label="b"), lambda: skm.roc_curve(y, s, pos_label="b"))
    same(lambda: metrics.roc_auc_score(y, s), lambda: skm.roc_auc_score(y, s))
    with pytest.raises(ValueError, match="pos_label"):
        metrics.roc_curve(y, s)
    with pytest.raises(ValueError, match="y_score"):
        metrics.roc_curve([0, 1], [0.1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_log_loss(dtype: Any, n_classes: int) -> None:
    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, n_classes, 30)
    y[:n_classes] = np.arange(n_classes)
    p = rng.dirichlet(np.ones(n_classes), 30).astype(dtype)
    p[0] = np.eye(n_classes)[1]  # a certain, wrong prediction: clipped to eps
    tol = 1e-6 if dtype == np.float32 else TOL
    np.testing.assert_allclose(metrics.log_loss(y, p), skm.log_loss(y, p), rtol=tol)
    if n_classes == 2:
        np.testing.assert_allclose(metrics.log_loss(y, p[:, 1]), skm.log_loss(y, p[:, 1]), rtol=tol)
    labels = np.arange(n_classes + 1)
    q = np.concatenate([p, np.zeros((30, 1), dtype)], axis=1)
    np.testing.assert_allclose(
        metrics.log_loss(y, q, labels=labels), skm.log_loss(y, q, labels=labels), rtol=tol
    )


def test_log_loss_takes_the_older_name_y_pred() -> None:
    y, p = [0, 1, 1], [[0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]
    assert metrics.log_loss(y, y_pred=p) == metrics.log_loss(y, p)
    with pytest.raises(ValueError, match="y_proba"):
        metrics.log_loss(y, p, y_pred=p)
    with pytest.raises(ValueError, match="y_proba"):
        metrics.log_loss(y)


def test_log_loss_errors() -> None:
    for y, p, kw in [
        ([1, 1], [[0.5, 0.5], [0.2, 0.8]], {}),
        ([0, 1, 2], [[0.5, 0.5]] * 3, {}),
        ([0, 1], [[1.5, -0.5]] * 2, {}),
        ([0, 3], [[0.5, 0.5]] * 2, {"labels": [0, 1]}),
    ]:
        with pytest.raises(ValueError):
            skm.log_loss(y, p, **kw)
        with pytest.raises(ValueError):
            metrics.log_loss(y, p, **kw)


def regression_cases() -> list[tuple[str, Any, Any]]:
    rng = np.random.default_rng(3)
    y = rng.standard_normal(20)
    y2 = rng.standard_normal((20, 3))
    y2[:, 2] = 1.5  # a constant output
    return [
        ("1d", y, y + 0.3 * rng.standard_normal(20)),
        ("perfect", y, y.copy()),
        ("constant_true", np.full(5, 2.0), np.arange(5.0)),
        ("constant_perfect", np.full(5, 2.0), np.full(5, 2.0)),
        ("2d", y2, y2 + rng.standard_normal((20, 3))),
        ("2d_constant_fit", y2, np.where(np.arange(3) == 2, 1.5, y2 + 1)),
        ("one_sample", [1.0], [2.0]),
    ]


REG_CASES = regression_cases()


@pytest.mark.parametrize(("name", "y_true", "y_pred"), REG_CASES, ids=[c[0] for c in REG_CASES])
@pytest.mark.parametrize("multioutput", ["raw_values", "uniform_average", "weights"])
def test_regression_metrics(name: str, y_true: Any, y_pred: Any, multioutput: str) -> None:
    n_out = 1 if np.ndim(y_true) == 1 else np.shape(y_true)[1]
    mo: Any = np.arange(1.0, n_out + 1) if multioutput == "weights" else multioutput
    for ours, theirs in [
        (metrics.mean_squared_error, skm.mean_squared_error),
        (metrics.mean_absolute_error, skm.mean_absolute_error),
        (metrics.r2_score, skm.r2_score),
    ]:
        same(
            lambda o=ours: o(y_true, y_pred, multioutput=mo),
            lambda t=theirs: t(y_true, y_pred, multioutput=mo),
        )
    same(
        lambda: metrics.r2_score(y_true, y_pred, multioutput="variance_weighted"),
        lambda: skm.r2_score(y_true, y_pred, multioutput="variance_weighted"),
    )


def test_regression_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="y_pred"):
        metrics.mean_squared_error([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(ValueError, match="multioutput"):
        metrics.r2_score([1.0, 2.0], [1.0, 2.0], multioutput="median")  # type: ignore[arg-type]
