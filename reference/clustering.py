"""k-means clustering by Lloyd's algorithm, with k-means++ seeding, matching scikit-learn 1.9's
``KMeans(algorithm="lloyd")``.

References: S. P. Lloyd, 1982, "Least squares quantization in PCM", IEEE Transactions on
Information Theory 28(2), doi:10.1109/TIT.1982.1056489; D. Arthur, S. Vassilvitskii, 2007,
"k-means++: The Advantages of Careful Seeding", SODA, doi:10.5555/1283383.1283494.

k-means seeks centres mu_1..mu_k minimising the inertia J = sum_i min_j ||x_i - mu_j||^2.
Lloyd's algorithm alternates

    assignment:  c_i = argmin_j ||x_i - mu_j||^2   (the first j on a tie),
    update:      mu_j = mean of {x_i : c_i = j},

each step lowering J.  A cluster left empty takes the point farthest from its centre (as
scikit-learn).  A run stops when no assignment changes, when the centres move by
sum_j ||mu_j^new - mu_j||^2 <= tol * mean_f Var(x_f) (``tol`` relative to the mean feature
variance), or after ``max_iter`` iterations; unless no assignment changed, the points are then
reassigned to the final centres.

k-means++ picks the first centre uniformly at random, and each next one among 2 + floor(ln k)
candidates drawn with probability proportional to D(x)^2, the squared distance to the nearest
centre so far, keeping the candidate that lowers the potential sum_i D(x_i)^2 most
(scikit-learn's greedy variant).  Random numbers come from ``np.random.RandomState(random_state)``
drawn in scikit-learn's order (or from a given ``RandomState``), so a seed gives scikit-learn's
result too.
"""

from typing import Any, Literal, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reference.estimator import check_features, check_fitted, check_int, check_matrix

__all__ = ["KMeans", "kmeans_plusplus"]

FloatArray = NDArray[np.floating[Any]]
IntArray = NDArray[np.intp]


def _squared_distances(X: FloatArray, centers: FloatArray) -> FloatArray:
    """||x_i - mu_j||^2 for every pair, clipped at 0 against rounding."""
    d2 = (
        np.einsum("ij,ij->i", X, X)[:, None]
        - 2.0 * (X @ centers.T)
        + np.einsum("ij,ij->i", centers, centers)[None, :]
    )
    out: FloatArray = np.maximum(d2, 0.0)
    return out


def _nearest(X: FloatArray, centers: FloatArray) -> IntArray:
    """argmin_j ||x_i - mu_j||^2, computed as argmin_j (||mu_j||^2 - 2 x_i . mu_j) (the term
    ||x_i||^2 is the same for every j), as scikit-learn does; in chunks of rows whose n x k
    scores stay in the CPU cache (about 256 KiB), which makes the passes over them several
    times faster than over one large array."""
    weights = -2.0 * centers.T
    norms = np.einsum("ij,ij->i", centers, centers)
    rows = max(64, 32_768 // centers.shape[0])
    labels: IntArray = np.empty(X.shape[0], dtype=np.intp)
    for start in range(0, X.shape[0], rows):
        scores = X[start : start + rows] @ weights
        scores += norms
        labels[start : start + rows] = np.argmin(scores, axis=1)
    return labels


def kmeans_plusplus(
    X: FloatArray, n_clusters: int, random_state: np.random.RandomState
) -> tuple[FloatArray, IntArray]:
    """k-means++ seeding with greedy local trials: (centres, their row indices in X)."""
    n = X.shape[0]
    trials = 2 + int(np.log(n_clusters))
    weights = np.ones(n, dtype=X.dtype)
    indices = np.empty(n_clusters, dtype=np.intp)
    indices[0] = random_state.choice(n, p=weights / weights.sum())
    closest = _squared_distances(X[indices[:1]], X)[0]
    potential = closest.sum()
    for c in range(1, n_clusters):
        draws = random_state.uniform(size=trials) * potential
        candidates = np.minimum(np.searchsorted(np.cumsum(closest), draws), n - 1)
        trial_closest = np.minimum(closest, _squared_distances(X[candidates], X))
        potentials = trial_closest.sum(axis=1)
        best = int(np.argmin(potentials))
        potential, closest, indices[c] = potentials[best], trial_closest[best], candidates[best]
    return X[indices].copy(), indices


class KMeans:
    """k-means clustering by Lloyd's algorithm."""

    def __init__(
        self,
        n_clusters: int = 8,
        init: Literal["k-means++", "random"] | ArrayLike = "k-means++",
        n_init: int = 1,
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        check_int(n_clusters, "n_clusters", 1)
        check_int(n_init, "n_init", 1)
        check_int(max_iter, "max_iter", 1)
        if not isinstance(random_state, np.random.RandomState):
            check_int(random_state, "random_state", 0, allow_none=True)
        if not (isinstance(tol, int | float) and tol >= 0):
            raise ValueError(f"tol must be a number >= 0, got {tol!r}")
        if isinstance(init, str):
            if init not in ("k-means++", "random"):
                raise ValueError(f"init must be 'k-means++', 'random' or an array, got {init!r}")
            self.init: str | FloatArray = init
        else:
            centres = check_matrix(init, "init")
            if centres.shape[0] != n_clusters:
                raise ValueError(f"init has {centres.shape[0]} rows but n_clusters={n_clusters}")
            self.init = centres
        self.n_clusters = int(n_clusters)
        self.n_init = int(n_init)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.random_state = random_state
        self.cluster_centers_: FloatArray | None = None
        self.labels_: NDArray[np.int32] | None = None
        self.inertia_: float | None = None
        self.n_iter_: int | None = None

    def _initial_centers(
        self, Xc: FloatArray, mean: FloatArray, rng: np.random.RandomState
    ) -> FloatArray:
        """Starting centres in the coordinates of the centred data Xc = X - mean."""
        if isinstance(self.init, np.ndarray):
            if self.init.shape[1] != Xc.shape[1]:
                raise ValueError(f"init has {self.init.shape[1]} features but X has {Xc.shape[1]}")
            out: FloatArray = self.init.astype(Xc.dtype) - mean
            return out
        if self.init == "random":
            n = Xc.shape[0]
            uniform = np.full(n, 1.0 / n)  # scikit-learn passes p, which selects numpy's method
            return Xc[rng.choice(n, size=self.n_clusters, replace=False, p=uniform)].copy()
        return kmeans_plusplus(Xc, self.n_clusters, rng)[0]

    def _lloyd(self, X: FloatArray, centers: FloatArray, tol: float) -> tuple[Any, ...]:
        """One run from ``centers``: (labels, inertia, centres, iterations)."""
        n, k = X.shape[0], self.n_clusters
        labels_old = np.full(n, -1, dtype=np.intp)
        columns = np.ascontiguousarray(X.T)  # contiguous features for the per-cluster sums
        strict = False
        iteration = 0
        while iteration < self.max_iter:
            iteration += 1
            labels = _nearest(X, centers)
            counts = np.bincount(labels, minlength=k).astype(X.dtype)
            sums = np.stack(
                [np.bincount(labels, weights=column, minlength=k) for column in columns], axis=1
            ).astype(X.dtype)
            self._relocate_empty(X, centers, labels, sums, counts)
            new = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], sums)
            shift = float(np.sum((new - centers) ** 2))
            centers = new
            if np.array_equal(labels, labels_old):
                strict = True
                break
            if shift <= tol:
                break
            labels_old = labels
        if not strict:
            labels = _nearest(X, centers)
        inertia = float(np.sum((X - centers[labels]) ** 2))
        return labels, inertia, centers, iteration

    @staticmethod
    def _relocate_empty(
        X: FloatArray, centers: FloatArray, labels: IntArray, sums: FloatArray, counts: FloatArray
    ) -> None:
        """Give each empty cluster the point farthest from its centre (sums, counts in place)."""
        empty = np.flatnonzero(counts == 0)
        if empty.size == 0:
            return
        distances = np.sum((X - centers[labels]) ** 2, axis=1)
        if np.max(distances) == 0:
            return  # fewer distinct points than clusters: nothing to move
        farthest = np.argpartition(distances, -empty.size)[: -empty.size - 1 : -1]
        for cluster, point in zip(empty, farthest, strict=True):
            sums[labels[point]] -= X[point]
            counts[labels[point]] -= 1
            sums[cluster], counts[cluster] = X[point], 1

    def fit(self, X: ArrayLike) -> Self:
        Xa = check_matrix(X)
        if Xa.shape[0] < self.n_clusters:
            raise ValueError(
                f"X has {Xa.shape[0]} samples, fewer than n_clusters={self.n_clusters}"
            )
        rng = (
            self.random_state
            if isinstance(self.random_state, np.random.RandomState)
            else np.random.RandomState(self.random_state)
        )
        tol = float(np.mean(np.var(Xa, axis=0))) * self.tol
        mean = Xa.mean(axis=0)
        Xc = Xa - mean  # centred, as scikit-learn, for accurate distances
        best: tuple[Any, ...] | None = None
        for _ in range(self.n_init):
            run = self._lloyd(Xc, self._initial_centers(Xc, mean, rng), tol)
            if best is None or run[1] < best[1]:
                best = run
        assert best is not None
        labels, inertia, centers, n_iter = best
        self.cluster_centers_ = (centers + mean).astype(Xa.dtype)
        self.labels_ = labels.astype(np.int32)
        self.inertia_ = inertia
        self.n_iter_ = n_iter
        return self

    def transform(self, X: ArrayLike) -> FloatArray:
        """Euclidean distances (n, k) to the cluster centres."""
        centers = check_fitted(self, "cluster_centers_")
        Xa = check_features(X, centers.shape[1], centers.dtype)
        out: FloatArray = np.sqrt(_squared_distances(Xa, centers))
        return out

    def predict(self, X: ArrayLike) -> NDArray[np.int32]:
        """The index of the nearest centre."""
        labels: NDArray[np.int32] = np.argmin(self.transform(X), axis=1).astype(np.int32)
        return labels

    def fit_predict(self, X: ArrayLike) -> NDArray[np.int32]:
        labels: NDArray[np.int32] = check_fitted(self.fit(X), "labels_")
        return labels
