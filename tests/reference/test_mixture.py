"""reference.mixture.GaussianMixture against sklearn.mixture.GaussianMixture."""

import warnings
from typing import Any

import numpy as np
import pytest
import sklearn.mixture as sk
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning

from reference.estimator import ConvergenceWarning, NotFittedError
from reference.mixture import GaussianMixture

TOL = 1e-10
KINDS = ["full", "tied", "diag", "spherical"]
ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")


def data(seed: int, n: int = 90, d: int = 2, k: int = 3) -> Any:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-5, 5, (k, d))
    mixing = rng.standard_normal((k, d, d)) * 0.6 + np.eye(d)
    index = rng.integers(0, k, n)
    return centres[index] + np.einsum("nij,nj->ni", mixing[index], rng.standard_normal((n, d)))


def inits(X: Any, k: int, kind: str, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    weights = rng.dirichlet(np.ones(k) * 5)
    means = X[rng.choice(len(X), k, replace=False)]
    a = rng.standard_normal((k, d, d)) * 0.3
    full = np.einsum("kij,klj->kil", a, a) + np.eye(d)
    precisions = {
        "full": full,
        "tied": full[0],
        "diag": rng.uniform(0.5, 2, (k, d)),
        "spherical": rng.uniform(0.5, 2, k),
    }[kind]
    return {"weights_init": weights, "means_init": means, "precisions_init": precisions}


def close(a: Any, b: Any, tol: float = TOL) -> None:
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def assert_same(ours: GaussianMixture, theirs: Any, X: Any, tol: float = TOL) -> None:
    for attribute in ATTRIBUTES:
        close(getattr(ours, attribute), getattr(theirs, attribute), tol)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    close(ours.lower_bound_, theirs.lower_bound_, tol)
    close(ours.lower_bounds_, theirs.lower_bounds_, tol)
    test = X[::3] + 0.3
    close(ours.score_samples(test), theirs.score_samples(test), tol)
    close(ours.score(test), theirs.score(test), tol)
    close(ours.predict_proba(test), theirs.predict_proba(test), tol)
    np.testing.assert_array_equal(ours.predict(test), theirs.predict(test))


def both(X: Any, **kwargs: Any) -> tuple[GaussianMixture, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", SkConvergenceWarning)
        return GaussianMixture(**kwargs).fit(X), sk.GaussianMixture(**kwargs).fit(X)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("seed", "d", "k"), [(0, 2, 3), (1, 3, 2), (2, 1, 4)])
@pytest.mark.parametrize(("tol", "max_iter"), [(1e-3, 100), (1e-8, 200), (1e-3, 3)])
def test_em_from_given_inits(
    kind: str, seed: int, d: int, k: int, tol: float, max_iter: int
) -> None:
    X = data(seed, d=d, k=k)
    kwargs = {"n_components": k, "covariance_type": kind, "tol": tol, "max_iter": max_iter}
    ours, theirs = both(X, **kwargs, **inits(X, k, kind, seed))
    assert_same(ours, theirs, X)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_seeded_initialisation_draws_as_scikit_learn(kind: str, init_params: Any) -> None:
    X = data(3)
    ours, theirs = both(
        X, n_components=3, covariance_type=kind, init_params=init_params, n_init=2,
        random_state=4,
    )  # fmt: skip
    assert_same(ours, theirs, X, 1e-8)


def test_lower_bound_never_falls() -> None:
    X = data(5, n=150, k=4)
    model = GaussianMixture(4, tol=1e-10, max_iter=500, random_state=0).fit(X)
    assert model.lower_bounds_ is not None and len(model.lower_bounds_) > 3
    assert np.all(np.diff(model.lower_bounds_) >= -1e-12)


def test_duplicate_rows_and_reg_covar() -> None:
    X = np.repeat(data(6, n=20), 3, axis=0)
    ours, theirs = both(X, n_components=2, reg_covar=1e-3, random_state=0)
    assert_same(ours, theirs, X, 1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keeps_the_dtype(dtype: Any) -> None:
    X = data(7).astype(dtype)
    model = GaussianMixture(2, **inits(X, 2, "full", 0)).fit(X)
    assert model.means_ is not None and model.means_.dtype == dtype
    assert model.predict_proba(X).dtype == dtype
    theirs = sk.GaussianMixture(2, **inits(X, 2, "full", 0)).fit(X)
    close(model.means_, theirs.means_, 1e-4)


def test_max_iter_reached_warns() -> None:
    X = data(8)
    with pytest.warns(ConvergenceWarning):
        model = GaussianMixture(3, max_iter=1, random_state=0).fit(X)
    assert model.converged_ is False and model.n_iter_ == 1


def test_errors_name_the_argument() -> None:
    X = data(9, n=10)
    for make, name in [
        (lambda: GaussianMixture(0), "n_components"),
        (lambda: GaussianMixture(covariance_type="round"), "covariance_type"),  # type: ignore[arg-type]
        (lambda: GaussianMixture(reg_covar=-1.0), "reg_covar"),
        (lambda: GaussianMixture(tol=-1.0), "tol"),
        (lambda: GaussianMixture(init_params="best"), "init_params"),  # type: ignore[arg-type]
        (lambda: GaussianMixture(2, weights_init=[0.5, 0.6]).fit(X), "weights_init"),
        (lambda: GaussianMixture(2, means_init=np.zeros((3, 2))).fit(X), "means_init"),
        (lambda: GaussianMixture(2, precisions_init=-np.ones((2, 2, 2))).fit(X), "precisions_init"),
        (lambda: GaussianMixture(11).fit(X), "n_components"),
        (lambda: GaussianMixture().fit(X[:, 0]), "X"),
    ]:
        with pytest.raises(ValueError, match=name):
            make()
    with pytest.raises(NotFittedError):
        GaussianMixture().predict(X)
