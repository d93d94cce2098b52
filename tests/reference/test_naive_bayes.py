"""reference.naive_bayes against sklearn.naive_bayes.GaussianNB and MultinomialNB."""

from typing import Any

import numpy as np
import pytest
import sklearn.naive_bayes as sk

from reference.estimator import NotFittedError
from reference.naive_bayes import GaussianNB, MultinomialNB

TOL = 1e-10


def gaussian_data(seed: int, n: int, d: int, k: int, labels: Any = None) -> Any:
    rng = np.random.default_rng(seed)
    index = np.r_[np.arange(k), rng.integers(0, k, n - k)]
    X = rng.standard_normal((k, d))[index] * 2 + rng.standard_normal((n, d)) * rng.uniform(
        0.3, 2, d
    )
    return X, (index if labels is None else np.asarray(labels)[index])


def count_data(seed: int, n: int, d: int, k: int) -> Any:
    rng = np.random.default_rng(seed)
    index = np.r_[np.arange(k), rng.integers(0, k, n - k)]
    rates = rng.gamma(1.0, 2.0, (k, d))
    X = rng.poisson(rates[index]).astype(np.float64)
    X[:, 0] = 0  # a feature never seen: smoothing keeps it finite
    return X, index


GAUSSIAN_CASES = [
    ("binary", *gaussian_data(0, 40, 3, 2)),
    ("strings", *gaussian_data(1, 30, 2, 3, ["z", "a", "m"])),
    ("many", *gaussian_data(2, 90, 5, 6)),
    ("duplicate_rows", *(np.repeat(a, 2, axis=0) for a in gaussian_data(3, 10, 2, 2))),
]
COUNT_CASES = [("two", *count_data(0, 30, 6, 2)), ("four", *count_data(1, 60, 10, 4))]


def close(a: Any, b: Any) -> None:
    np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL)


@pytest.mark.parametrize(("name", "X", "y"), GAUSSIAN_CASES, ids=[c[0] for c in GAUSSIAN_CASES])
@pytest.mark.parametrize("var_smoothing", [1e-9, 1e-2, 0.0])
def test_gaussian_nb(name: str, X: Any, y: Any, var_smoothing: float) -> None:
    ours = GaussianNB(var_smoothing=var_smoothing).fit(X, y)
    theirs = sk.GaussianNB(var_smoothing=var_smoothing).fit(X, y)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    for attribute in ("class_prior_", "theta_", "var_", "class_count_", "epsilon_"):
        close(getattr(ours, attribute), getattr(theirs, attribute))
    test = X + np.random.default_rng(0).standard_normal(X.shape)
    close(ours.predict_log_proba(test), theirs.predict_log_proba(test))
    close(ours.predict_proba(test), theirs.predict_proba(test))
    np.testing.assert_array_equal(ours.predict(test), theirs.predict(test))


@pytest.mark.parametrize(("name", "X", "y"), COUNT_CASES, ids=[c[0] for c in COUNT_CASES])
@pytest.mark.parametrize("alpha", [1.0, 0.1, 0.0])
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # alpha = 0: log 0 = -inf
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # and 0 * -inf = nan
def test_multinomial_nb(name: str, X: Any, y: Any, alpha: float) -> None:
    ours = MultinomialNB(alpha=alpha).fit(X, y)
    theirs = sk.MultinomialNB(alpha=alpha).fit(X, y)
    for attribute in ("class_count_", "feature_count_", "class_log_prior_", "feature_log_prob_"):
        close(getattr(ours, attribute), getattr(theirs, attribute))
    test = X[::-1] + 1  # no zero-probability feature seen in the test rows when alpha > 0
    if alpha > 0:
        close(ours.predict_proba(test), theirs.predict_proba(test))
        close(ours.predict_log_proba(test), theirs.predict_log_proba(test))
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keeps_the_dtype(dtype: Any) -> None:
    X, y = gaussian_data(4, 30, 3, 2)
    model = GaussianNB().fit(X.astype(dtype), y)
    assert model.theta_ is not None and model.theta_.dtype == dtype
    assert model.predict_proba(X.astype(dtype)).dtype == dtype
    C, z = count_data(5, 20, 4, 2)
    counts = MultinomialNB().fit(C.astype(dtype), z)
    assert counts.predict_proba(C.astype(dtype)).dtype == dtype


def test_errors_name_the_argument() -> None:
    X, y = count_data(6, 10, 3, 2)
    for make, name in [
        (lambda: GaussianNB(var_smoothing=-1.0), "var_smoothing"),
        (lambda: MultinomialNB(alpha=-1.0), "alpha"),
        (lambda: MultinomialNB().fit(-X, y), "X"),
        (lambda: GaussianNB().fit(X, y[:3]), "y"),
        (lambda: GaussianNB().fit(X, y).predict(X[:, :2]), "features"),
    ]:
        with pytest.raises(ValueError, match=name):
            make()
    for model in (GaussianNB(), MultinomialNB()):
        with pytest.raises(NotFittedError):
            model.predict(X)
