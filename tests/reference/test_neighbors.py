"""reference.neighbors.KNeighborsClassifier against scikit-learn's brute-force search."""

from typing import Any

import numpy as np
import pytest
import sklearn.neighbors as sk

from reference.estimator import NotFittedError
from reference.neighbors import KNeighborsClassifier


def data(seed: int, n: int, d: int, k: int, labels: Any = None) -> Any:
    rng = np.random.default_rng(seed)
    index = rng.integers(0, k, n)
    X = rng.standard_normal((k, d))[index] * 2 + rng.standard_normal((n, d))
    return X, (index if labels is None else np.asarray(labels)[index])


CASES = [
    ("binary", *data(0, 40, 2, 2)),
    ("strings", *data(1, 35, 3, 3, ["x", "b", "q"])),
    ("four", *data(2, 60, 4, 4)),
]


@pytest.mark.parametrize(("name", "X", "y"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("n_neighbors", [1, 4, 7])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_knn(name: str, X: Any, y: Any, n_neighbors: int, weights: Any) -> None:
    ours = KNeighborsClassifier(n_neighbors, weights=weights).fit(X, y)
    theirs = sk.KNeighborsClassifier(n_neighbors, weights=weights, algorithm="brute").fit(X, y)
    test = np.random.default_rng(3).standard_normal((50, X.shape[1])) * 2
    dist, ind = ours.kneighbors(test)
    their_dist, their_ind = theirs.kneighbors(test)
    np.testing.assert_array_equal(ind, their_ind)
    np.testing.assert_allclose(dist, their_dist, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(test), theirs.predict_proba(test), atol=1e-10)
    np.testing.assert_array_equal(ours.predict(test), theirs.predict(test))
    dist, ind = ours.kneighbors(n_neighbors=3)  # the training points, each without itself
    their_dist, their_ind = theirs.kneighbors(n_neighbors=3)
    np.testing.assert_array_equal(ind, their_ind)
    np.testing.assert_allclose(dist, their_dist, rtol=1e-10, atol=1e-10)


def test_query_on_a_training_point_with_distance_weights() -> None:
    X, y = CASES[0][1], CASES[0][2]
    ours = KNeighborsClassifier(5, weights="distance").fit(X, y)
    theirs = sk.KNeighborsClassifier(5, weights="distance", algorithm="brute").fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X[:10]), theirs.predict_proba(X[:10]))
    np.testing.assert_array_equal(ours.predict(X), y)  # distance 0: the point's own label


def test_duplicate_rows_tie_on_distance() -> None:
    X = np.repeat(CASES[2][1][:15], 2, axis=0)
    y = np.repeat(CASES[2][2][:15], 2)
    ours = KNeighborsClassifier(4).fit(X, y)
    theirs = sk.KNeighborsClassifier(4, algorithm="brute").fit(X, y)
    np.testing.assert_allclose(ours.kneighbors(X)[0], theirs.kneighbors(X)[0], atol=1e-7)
    np.testing.assert_array_equal(ours.predict(X + 0.01), theirs.predict(X + 0.01))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keeps_the_dtype(dtype: Any) -> None:
    X, y = CASES[0][1].astype(dtype), CASES[0][2]
    model = KNeighborsClassifier(3, weights="distance").fit(X, y)
    assert model.kneighbors(X)[0].dtype == dtype
    assert model.predict_proba(X).dtype == dtype


def test_errors_name_the_argument() -> None:
    X, y = CASES[0][1], CASES[0][2]
    for make, name in [
        (lambda: KNeighborsClassifier(0), "n_neighbors"),
        (lambda: KNeighborsClassifier(weights="gaussian"), "weights"),  # type: ignore[arg-type]
        (lambda: KNeighborsClassifier(41).fit(X, y).predict(X), "n_neighbors"),
        (lambda: KNeighborsClassifier().fit(X, y).kneighbors(X[:, :1]), "features"),
    ]:
        with pytest.raises(ValueError, match=name):
            make()
    with pytest.raises(NotFittedError):
        KNeighborsClassifier().predict(X)
