"""reference.clustering.KMeans against sklearn.cluster.KMeans(algorithm="lloyd")."""

from typing import Any

import numpy as np
import pytest
import sklearn.cluster as sk

from reference.clustering import KMeans
from reference.estimator import NotFittedError

TOL = 1e-10


def blobs(seed: int, n: int = 60, d: int = 2, k: int = 4, spread: float = 1.0) -> Any:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-6, 6, (k, d))
    return centres[rng.integers(0, k, n)] + spread * rng.standard_normal((n, d))


CASES = [
    ("blobs", blobs(0), 4),
    ("overlapping", blobs(1, spread=3.0), 3),
    ("many_clusters", blobs(2, n=40, d=3), 9),
    ("duplicate_rows", np.repeat(blobs(3, n=15), 3, axis=0), 5),
    ("one_cluster", blobs(4, n=20), 1),
]


def assert_same(ours: KMeans, theirs: Any, X: Any) -> None:
    assert ours.cluster_centers_ is not None
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=0, atol=TOL)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.inertia_, theirs.inertia_, rtol=TOL)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_array_equal(ours.predict(X + 0.1), theirs.predict(X + 0.1))
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), rtol=0, atol=1e-8)


@pytest.mark.parametrize(("name", "X", "k"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize(("max_iter", "tol"), [(300, 1e-4), (300, 0.0), (2, 1e-4), (300, 0.5)])
def test_from_given_centres(name: str, X: Any, k: int, max_iter: int, tol: float) -> None:
    init = X[np.random.default_rng(5).choice(len(X), k, replace=False)] + 0.01
    ours = KMeans(n_clusters=k, init=init, max_iter=max_iter, tol=tol).fit(X)
    theirs = sk.KMeans(k, init=init, n_init=1, max_iter=max_iter, tol=tol, algorithm="lloyd")
    assert_same(ours, theirs.fit(X), X)


def test_empty_cluster_is_relocated_as_scikit_learn() -> None:
    X = blobs(6, n=30)
    init = np.vstack([X[:3], [[100.0, 100.0], [-100.0, 50.0]]])  # two centres far from all
    ours = KMeans(n_clusters=5, init=init).fit(X)
    theirs = sk.KMeans(5, init=init, n_init=1, algorithm="lloyd").fit(X)
    assert_same(ours, theirs, X)
    assert len(set(ours.labels_.tolist())) == 5  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "X", "k"), CASES[:4], ids=[c[0] for c in CASES[:4]])
@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("seed", [0, 7])
def test_seeded_initialisation_draws_as_scikit_learn(
    name: str, X: Any, k: int, init: str, seed: int
) -> None:
    ours = KMeans(n_clusters=k, init=init, n_init=3, random_state=seed).fit(X)  # type: ignore[arg-type]
    theirs = sk.KMeans(k, init=init, n_init=3, random_state=seed, algorithm="lloyd").fit(X)
    assert_same(ours, theirs, X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keeps_the_dtype(dtype: Any) -> None:
    X = blobs(8).astype(dtype)
    model = KMeans(n_clusters=3, random_state=0).fit(X)
    assert model.cluster_centers_ is not None and model.cluster_centers_.dtype == dtype
    assert model.transform(X).dtype == dtype
    theirs = sk.KMeans(3, random_state=0, n_init=1, algorithm="lloyd").fit(X)
    np.testing.assert_allclose(model.cluster_centers_, theirs.cluster_centers_, rtol=1e-5)


def test_errors_name_the_argument() -> None:
    X = blobs(9, n=10)
    for make, name in [
        (lambda: KMeans(n_clusters=0), "n_clusters"),
        (lambda: KMeans(init="best"), "init"),  # type: ignore[arg-type]
        (lambda: KMeans(n_clusters=2, init=np.zeros((3, 2))), "init"),
        (lambda: KMeans(tol=-1.0), "tol"),
        (lambda: KMeans(max_iter=0), "max_iter"),
        (lambda: KMeans(n_clusters=11).fit(X), "n_clusters"),
        (lambda: KMeans(n_clusters=2, init=np.zeros((2, 3))).fit(X), "init"),
        (lambda: KMeans(n_clusters=2).fit(X[:, 0]), "X"),
    ]:
        with pytest.raises(ValueError, match=name):
            make()
    with pytest.raises(NotFittedError):
        KMeans().predict(X)
