"""k-nearest-neighbour classification by brute-force Euclidean search, matching scikit-learn
1.9's ``KNeighborsClassifier(algorithm="brute")``.

References: E. Fix, J. L. Hodges, 1951, "Discriminatory Analysis. Nonparametric
Discrimination: Consistency Properties", USAF School of Aviation Medicine, report 4 (reprinted
in International Statistical Review 57(3), 1989, doi:10.2307/1403797); T. M. Cover,
P. E. Hart, 1967, "Nearest neighbor pattern classification", IEEE Transactions on Information
Theory 13(1), doi:10.1109/TIT.1967.1053964.

For a query x, N_k(x) are the k training points nearest in Euclidean distance
d(x, x_i) = ||x - x_i|| (on equal distances, the lower index first), and

    p(c | x) = sum_{i in N_k(x), y_i = c} w_i / sum_{i in N_k(x)} w_i,

with w_i = 1 (``weights="uniform"``) or w_i = 1 / d(x, x_i) (``"distance"``; if some
neighbours are at distance 0, they alone count, equally).  The prediction is the class of
largest p(c | x), the first in ``classes_`` on a tie.
"""

from typing import Any, Literal, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reference.estimator import check_features, check_fitted, check_int, check_labels, check_matrix

__all__ = ["KNeighborsClassifier"]

FloatArray = NDArray[np.floating[Any]]


class KNeighborsClassifier:
    """Classification by a vote of the k nearest training points."""

    def __init__(
        self, n_neighbors: int = 5, weights: Literal["uniform", "distance"] = "uniform"
    ) -> None:
        check_int(n_neighbors, "n_neighbors", 1)
        if weights not in ("uniform", "distance"):
            raise ValueError(f"weights must be 'uniform' or 'distance', got {weights!r}")
        self.n_neighbors = int(n_neighbors)
        self.weights = weights
        self.classes_: NDArray[Any] | None = None
        self._X: FloatArray | None = None
        self._y: NDArray[np.intp] | None = None

    def fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        Xa = check_matrix(X)
        labels = check_labels(y, Xa.shape[0])
        self.classes_, self._y = np.unique(labels, return_inverse=True)
        self._X = Xa
        return self

    def kneighbors(
        self, X: ArrayLike | None = None, n_neighbors: int | None = None
    ) -> tuple[FloatArray, NDArray[np.intp]]:
        """(distances, indices) of the nearest training points, nearest first, each (n, k).

        Without X, the neighbours of each training point other than itself.
        """
        train: FloatArray = check_fitted(self, "_X")
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        check_int(k, "n_neighbors", 1)
        query = train if X is None else check_features(X, train.shape[1], train.dtype)
        available = train.shape[0] - (X is None)
        if k > available:
            raise ValueError(f"n_neighbors={k} must be at most the number of samples {available}")
        d2 = np.empty((query.shape[0], train.shape[0]), dtype=train.dtype)
        rows = max(1, 2**20 // (train.shape[0] * train.shape[1]))  # about 8 MB of differences
        for start in range(0, query.shape[0], rows):  # exact differences: 0 for equal points
            diff = query[start : start + rows, None, :] - train[None, :, :]
            d2[start : start + rows] = np.einsum("qtf,qtf->qt", diff, diff)
        if X is None:
            np.fill_diagonal(d2, np.inf)
        index = np.argsort(d2, axis=1, kind="stable")[:, :k]
        distances: FloatArray = np.sqrt(np.take_along_axis(d2, index, axis=1))
        return distances, index

    def predict_proba(self, X: ArrayLike) -> FloatArray:
        """p(c | x), columns in the order of ``classes_``."""
        distances, index = self.kneighbors(X)
        classes: NDArray[Any] = check_fitted(self, "classes_")
        if self.weights == "uniform":
            w = np.ones_like(distances)
        else:
            with np.errstate(divide="ignore"):
                w = 1.0 / distances
            exact = np.isinf(w)
            rows = exact.any(axis=1)
            w[rows] = exact[rows]
        assert self._y is not None
        proba = np.zeros((distances.shape[0], classes.size), dtype=distances.dtype)
        np.add.at(proba, (np.arange(distances.shape[0])[:, None], self._y[index]), w)
        total = proba.sum(axis=1, keepdims=True)
        out: FloatArray = proba / np.where(total == 0, 1.0, total)
        return out

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """The class of largest (weighted) vote."""
        classes: NDArray[Any] = check_fitted(self, "classes_")
        predicted: NDArray[Any] = classes[np.argmax(self.predict_proba(X), axis=1)]
        return predicted
