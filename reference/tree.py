"""A CART decision-tree classifier, matching scikit-learn 1.9's ``DecisionTreeClassifier``.

Reference: L. Breiman, J. H. Friedman, R. A. Olshen, C. J. Stone, 1984, "Classification and
Regression Trees", Wadsworth, doi:10.1201/9781315139470.

A node t holding N_t samples with class proportions p_tk has impurity

    Gini:     i(t) = 1 - sum_k p_tk^2,
    entropy:  i(t) = -sum_k p_tk log2 p_tk.

A split sends x_f <= theta to the left child L and the rest to the right child R; the tree grows
depth-first, each node taking over all features and all thresholds the split of largest impurity
decrease

    Delta(t) = i(t) - (N_L / N_t) i(L) - (N_R / N_t) i(R),

with theta halfway between adjacent distinct values of x_f (the lower value if rounding puts the
midpoint on the upper one; as in scikit-learn, features are compared as float32 values), each
child holding at least ``min_samples_leaf`` samples.  A node is
a leaf when it is pure, holds fewer than ``min_samples_split`` samples, is at ``max_depth``, or
has no valid split.  A leaf predicts its class proportions.  The importance of feature f is
sum over the nodes t split on f of N_t Delta(t), normalised to sum to 1.

Like scikit-learn (features closer than 1e-7 count as equal), it compares features in a fixed
order where scikit-learn draws a random one, so the two grow the same tree unless two candidate
splits tie for the best decrease.
"""

from dataclasses import dataclass, field
from typing import Any, Literal, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reference.estimator import check_features, check_fitted, check_int, check_labels, check_matrix

__all__ = ["DecisionTreeClassifier"]

FloatArray = NDArray[np.floating[Any]]
F64 = NDArray[np.float64]
FEATURE_THRESHOLD = 1e-7
"""scikit-learn's: values closer than this are one value (no threshold between them)."""


def _impurity(counts: F64, criterion: str) -> F64:
    """Impurity of each row of class counts (.., K)."""
    total = counts.sum(axis=-1, keepdims=True)
    p = counts / np.where(total > 0, total, 1.0)
    if criterion == "gini":
        out: F64 = 1.0 - np.sum(p**2, axis=-1)
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(p > 0, np.log2(np.where(p > 0, p, 1.0)), 0.0)
    entropy: F64 = -np.sum(p * logs, axis=-1)
    return entropy


@dataclass
class _Tree:
    """The fitted tree as parallel node arrays (-1 marks a leaf's children and feature)."""

    left: list[int] = field(default_factory=list)
    right: list[int] = field(default_factory=list)
    feature: list[int] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    value: list[F64] = field(default_factory=list)
    depth: list[int] = field(default_factory=list)

    def add(self, value: F64, depth: int) -> int:
        for attribute in (self.left, self.right, self.feature):
            attribute.append(-1)
        self.threshold.append(-2.0)  # scikit-learn's TREE_UNDEFINED
        self.value.append(value)
        self.depth.append(depth)
        return len(self.value) - 1


class DecisionTreeClassifier:
    """A CART classification tree grown to purity or to the given limits."""

    def __init__(
        self,
        criterion: Literal["gini", "entropy"] = "gini",
        max_depth: int | None = None,
        min_samples_split: int = 2,
        min_samples_leaf: int = 1,
    ) -> None:
        if criterion not in ("gini", "entropy"):
            raise ValueError(f"criterion must be 'gini' or 'entropy', got {criterion!r}")
        check_int(max_depth, "max_depth", 1, allow_none=True)
        check_int(min_samples_split, "min_samples_split", 2)
        check_int(min_samples_leaf, "min_samples_leaf", 1)
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_split = int(min_samples_split)
        self.min_samples_leaf = int(min_samples_leaf)
        self.classes_: NDArray[Any] | None = None
        self.n_features_in_: int | None = None
        self.feature_importances_: F64 | None = None
        self._tree: _Tree | None = None

    def _best_split(self, X: F64, Y: F64) -> tuple[int, float, float] | None:
        """(feature, threshold, N_L i(L) + N_R i(R)) of the best valid split, or None."""
        n = X.shape[0]
        leaf = self.min_samples_leaf
        best: tuple[int, float, float] | None = None
        for f in range(X.shape[1]):
            order = np.argsort(X[:, f], kind="stable")
            x = X[order, f]
            if x[-1] <= x[0] + FEATURE_THRESHOLD:
                continue  # a constant feature
            left_counts = np.cumsum(Y[order], axis=0)[:-1]  # after position i: rows 0..i left
            sizes = np.arange(1, n, dtype=np.float64)
            valid = (x[1:] > x[:-1] + FEATURE_THRESHOLD) & (sizes >= leaf) & (n - sizes >= leaf)
            if not np.any(valid):
                continue
            positions = np.flatnonzero(valid)
            lc = left_counts[positions]
            rc = left_counts[-1] + Y[order[-1]] - lc
            weighted = sizes[positions] * _impurity(lc, self.criterion) + (
                n - sizes[positions]
            ) * _impurity(rc, self.criterion)
            i = int(np.argmin(weighted))
            if best is None or weighted[i] < best[2]:
                pos = positions[i]
                threshold = x[pos] / 2.0 + x[pos + 1] / 2.0
                if threshold == x[pos + 1] or not np.isfinite(threshold):
                    threshold = x[pos]
                best = (f, float(threshold), float(weighted[i]))
        return best

    def fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        Xa = check_matrix(X)
        labels = check_labels(y, Xa.shape[0])
        classes, index = np.unique(labels, return_inverse=True)
        Y = np.eye(classes.size)[index]
        X64 = Xa.astype(np.float32).astype(np.float64)  # scikit-learn compares in float32
        tree = _Tree()
        importances = np.zeros(Xa.shape[1])
        stack = [(np.arange(Xa.shape[0]), 0, -1, True)]  # rows, depth, parent, is_left
        while stack:  # depth-first, left child first, as scikit-learn numbers its nodes
            rows, depth, parent, is_left = stack.pop()
            counts = Y[rows].sum(axis=0)
            node = tree.add(counts / rows.size, depth)
            if parent >= 0:
                (tree.left if is_left else tree.right)[parent] = node
            impurity = float(_impurity(counts, self.criterion))
            if (
                rows.size < self.min_samples_split
                or rows.size < 2 * self.min_samples_leaf
                or impurity <= np.finfo(np.float64).eps  # pure
                or (self.max_depth is not None and depth >= self.max_depth)
            ):
                continue
            split = self._best_split(X64[rows], Y[rows])
            if split is None:
                continue
            f, threshold, children = split
            tree.feature[node], tree.threshold[node] = f, threshold
            importances[f] += rows.size * impurity - children
            goes_left = X64[rows, f] <= threshold
            stack.append((rows[~goes_left], depth + 1, node, False))
            stack.append((rows[goes_left], depth + 1, node, True))
        total = importances.sum()
        self.feature_importances_ = importances / total if total > 0 else importances
        self.classes_ = classes
        self.n_features_in_ = Xa.shape[1]
        self._tree = tree
        return self

    def _leaves(self, X: ArrayLike) -> NDArray[np.intp]:
        tree: _Tree = check_fitted(self, "_tree")
        Xa = check_features(X, int(self.n_features_in_ or 0), np.float32).astype(np.float64)
        feature, threshold = np.array(tree.feature), np.array(tree.threshold)
        left, right = np.array(tree.left), np.array(tree.right)
        node = np.zeros(Xa.shape[0], dtype=np.intp)
        inner = left[node] >= 0
        while np.any(inner):  # every sample moves one level down per pass
            at = node[inner]
            below = Xa[np.flatnonzero(inner), feature[at]] <= threshold[at]
            node[inner] = np.where(below, left[at], right[at])
            inner = left[node] >= 0
        return node

    def apply(self, X: ArrayLike) -> NDArray[np.intp]:
        """The index of the leaf each sample ends in."""
        return self._leaves(X)

    def predict_proba(self, X: ArrayLike) -> F64:
        """The class proportions of each sample's leaf, columns in the order of ``classes_``."""
        leaves = self._leaves(X)
        tree: _Tree = check_fitted(self, "_tree")
        proba: F64 = np.array(tree.value)[leaves]
        return proba

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """The most frequent class of each sample's leaf (the first in ``classes_`` on a tie)."""
        classes: NDArray[Any] = check_fitted(self, "classes_")
        predicted: NDArray[Any] = classes[np.argmax(self.predict_proba(X), axis=1)]
        return predicted

    def get_depth(self) -> int:
        """The largest depth of a leaf (0 for a tree that is a single leaf)."""
        tree: _Tree = check_fitted(self, "_tree")
        return max(tree.depth)

    def get_n_leaves(self) -> int:
        tree: _Tree = check_fitted(self, "_tree")
        return sum(1 for child in tree.left if child < 0)
