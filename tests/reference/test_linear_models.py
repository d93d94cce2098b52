"""reference.linear_models against scikit-learn's LinearRegression, Ridge, LogisticRegression."""

from typing import Any

import numpy as np
import pytest
import sklearn.linear_model as sk

from reference.estimator import NotFittedError
from reference.linear_models import LinearRegression, LogisticRegression, Ridge

TOL = 1e-10


def regression_data(seed: int, n: int, d: int, outputs: int, rank: int | None = None) -> Any:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 3, d) + rng.uniform(-2, 2, d)
    if rank is not None:  # rank-deficient: columns combinations of the first `rank`
        X[:, rank:] = X[:, :rank] @ rng.standard_normal((rank, d - rank))
    y = rng.standard_normal((n, outputs)) if outputs else rng.standard_normal(n)
    return X, y + 0.5


REGRESSION_CASES = [
    ("tall", regression_data(0, 30, 4, 0)),
    ("multi_output", regression_data(1, 25, 3, 2)),
    ("wide", regression_data(2, 5, 8, 0)),
    ("rank_deficient", regression_data(3, 20, 5, 0, rank=2)),
    ("duplicate_rows", (np.repeat(regression_data(4, 6, 3, 0)[0], 2, axis=0), np.arange(12.0))),
]


def close(a: Any, b: Any, tol: float = TOL) -> None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * scale)


@pytest.mark.parametrize(("name", "data"), REGRESSION_CASES, ids=[c[0] for c in REGRESSION_CASES])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_linear_regression(name: str, data: Any, fit_intercept: bool) -> None:
    X, y = data
    ours = LinearRegression(fit_intercept=fit_intercept).fit(X, y)
    theirs = sk.LinearRegression(fit_intercept=fit_intercept).fit(X, y)
    close(ours.coef_, theirs.coef_)
    close(ours.intercept_, theirs.intercept_)
    close(ours.predict(X[:3] + 1), theirs.predict(X[:3] + 1))


@pytest.mark.parametrize(("name", "data"), REGRESSION_CASES, ids=[c[0] for c in REGRESSION_CASES])
@pytest.mark.parametrize("alpha", [0.01, 1.0, 30.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge(name: str, data: Any, alpha: float, fit_intercept: bool) -> None:
    X, y = data
    ours = Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
    theirs = sk.Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
    close(ours.coef_, theirs.coef_)
    close(ours.intercept_, theirs.intercept_)
    close(ours.predict(X[:3] - 1), theirs.predict(X[:3] - 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_regressors_keep_the_dtype(dtype: Any) -> None:
    X, y = regression_data(5, 20, 3, 0)
    for model in (LinearRegression(), Ridge(alpha=0.5)):
        model.fit(X.astype(dtype), y)
        assert model.coef_ is not None and model.coef_.dtype == dtype
        assert model.predict(X.astype(dtype)).dtype == dtype
        close(
            model.predict(X),
            sk.Ridge(alpha=getattr(model, "alpha", 0.0)).fit(X, y).predict(X),
            1e-4,
        )


def classification_data(seed: int, n: int, d: int, k: int, labels: Any = None) -> Any:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * 1.5
    index = np.r_[np.arange(k), rng.integers(0, k, n - k)]
    X = centres[index] + rng.standard_normal((n, d))
    y = index if labels is None else np.asarray(labels)[index]
    return X, y


CLASSIFICATION_CASES = [
    ("binary", classification_data(0, 40, 3, 2)),
    ("binary_strings", classification_data(1, 30, 2, 2, ["spam", "ham"])),
    ("three", classification_data(2, 45, 3, 3)),
    ("four_labels_shifted", classification_data(3, 50, 2, 4, [-3, 5, 7, 11])),
    ("separable_ish", classification_data(4, 20, 5, 2)),
]


def objective(model: Any, X: Any, y: Any, C: float) -> float:
    """scikit-learn's objective: C times the summed log-loss plus half the squared weights."""
    P = model.predict_proba(X)
    index = np.searchsorted(model.classes_, y)
    return float(-C * np.sum(np.log(P[np.arange(len(y)), index])) + 0.5 * np.sum(model.coef_**2))


@pytest.mark.parametrize(
    ("name", "data"), CLASSIFICATION_CASES, ids=[c[0] for c in CLASSIFICATION_CASES]
)
@pytest.mark.parametrize("C", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_logistic_regression(name: str, data: Any, C: float, fit_intercept: bool) -> None:
    X, y = data
    ours = LogisticRegression(C=C, fit_intercept=fit_intercept, tol=1e-10).fit(X, y)
    theirs = sk.LogisticRegression(C=C, fit_intercept=fit_intercept, tol=1e-10, max_iter=10_000)
    theirs.fit(X, y)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    assert ours.coef_ is not None and ours.intercept_ is not None
    assert ours.coef_.shape == theirs.coef_.shape
    assert ours.intercept_.shape == theirs.intercept_.shape
    # scikit-learn's L-BFGS stops a little short of the optimum Newton's method reaches
    close(ours.coef_, theirs.coef_, 1e-5)
    close(ours.intercept_, theirs.intercept_, 1e-5)
    close(ours.predict_proba(X), theirs.predict_proba(X), 1e-6)
    close(ours.decision_function(X), theirs.decision_function(X), 1e-5)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    best = objective(theirs, X, y, C)
    assert objective(ours, X, y, C) <= best + 1e-12 * abs(best)
    assert ours.n_iter_ is not None and ours.n_iter_.shape == (1,)


def test_logistic_regression_default_tolerance_is_near_the_optimum() -> None:
    X, y = CLASSIFICATION_CASES[2][1]
    ours = LogisticRegression().fit(X, y)
    theirs = sk.LogisticRegression(tol=1e-10, max_iter=10_000).fit(X, y)
    close(ours.predict_proba(X), theirs.predict_proba(X), 1e-3)  # the gradient is <= 1e-4
    assert ours.n_iter_ is not None and 1 <= ours.n_iter_[0] < 20


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logistic_regression_keeps_the_dtype(dtype: Any) -> None:
    X, y = CLASSIFICATION_CASES[2][1]
    model = LogisticRegression().fit(X.astype(dtype), y)
    assert model.coef_ is not None and model.coef_.dtype == dtype
    assert model.predict_proba(X.astype(dtype)).dtype == dtype


def test_errors_name_the_argument() -> None:
    X, y = CLASSIFICATION_CASES[0][1]
    for make, name in [
        (lambda: Ridge(alpha=-1.0), "alpha"),
        (lambda: LogisticRegression(C=0.0), "C"),
        (lambda: LogisticRegression(max_iter=-1), "max_iter"),
        (lambda: LogisticRegression(tol=-1.0), "tol"),
        (lambda: LogisticRegression().fit(X, np.zeros(len(X))), "y"),
        (lambda: LogisticRegression().fit(X[:, 0], y), "X"),
        (lambda: LinearRegression().fit(X, y[:-1]), "y"),
        (lambda: LinearRegression().fit(np.where(X > 0, np.nan, X), y), "X"),
        (lambda: LinearRegression().fit(X, y).predict(X[:, :1]), "features"),
    ]:
        with pytest.raises(ValueError, match=name):
            make()
    for model in (LinearRegression(), Ridge(), LogisticRegression()):
        with pytest.raises(NotFittedError, match="not fitted"):
            model.predict(X)
