"""Principal component analysis by the SVD of the centred data, matching scikit-learn 1.9's
``PCA`` (its ``full`` and ``covariance_eigh`` solvers, which agree).

References: K. Pearson, 1901, "On lines and planes of closest fit to systems of points in
space", Philosophical Magazine 2(11), doi:10.1080/14786440109462720; H. Hotelling, 1933,
"Analysis of a complex of statistical variables into principal components", Journal of
Educational Psychology 24(6), doi:10.1037/h0071325.

With X (n, d), mean mu and the thin SVD X - mu = U S V^T (singular values s_1 >= s_2 >= ...):

    components_ = the first q rows of V^T, each signed so that its entry of largest magnitude
                  is positive (scikit-learn's ``svd_flip(u_based_decision=False)``),
    explained_variance_ = s_j^2 / (n - 1),   explained_variance_ratio_ = s_j^2 / sum_all s^2,
    transform(X) = (X - mu) V_q  (divided by sqrt(explained_variance_) when ``whiten``),
    inverse_transform(Z) = Z V_q^T + mu  (Z scaled back first when ``whiten``).

``n_components`` None keeps min(n, d) components; a float in (0, 1) keeps the fewest whose
explained variance ratios add up to more than it.
"""

from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reference.estimator import check_features, check_fitted, check_matrix

__all__ = ["PCA"]

FloatArray = NDArray[np.floating[Any]]


class PCA:
    """Principal component analysis: the directions of largest variance, by a centred SVD."""

    def __init__(self, n_components: int | float | None = None, whiten: bool = False) -> None:
        if n_components is not None and (
            isinstance(n_components, bool)
            or not isinstance(n_components, int | float | np.integer)
            or n_components <= 0
            or (isinstance(n_components, float) and n_components >= 1)
        ):
            raise ValueError(
                f"n_components must be None, an integer >= 1 or a float in (0, 1), "
                f"got {n_components!r}"
            )
        self.n_components = n_components
        self.whiten = whiten
        self.components_: FloatArray | None = None
        self.explained_variance_: FloatArray | None = None
        self.explained_variance_ratio_: FloatArray | None = None
        self.singular_values_: FloatArray | None = None
        self.mean_: FloatArray | None = None
        self.n_components_: int | None = None

    def fit(self, X: ArrayLike) -> Self:
        self.fit_transform(X)
        return self

    def fit_transform(self, X: ArrayLike) -> FloatArray:
        Xa = check_matrix(X, min_samples=2)
        n, d = Xa.shape
        mean = Xa.mean(axis=0)
        U, S, Vt = np.linalg.svd(Xa - mean, full_matrices=False)
        biggest = np.argmax(np.abs(Vt), axis=1)
        signs = np.sign(Vt[np.arange(Vt.shape[0]), biggest])
        U, Vt = U * signs, Vt * signs[:, None]
        variance = S**2 / (n - 1)
        ratio = variance / variance.sum()
        if self.n_components is None:
            q = min(n, d)
        elif isinstance(self.n_components, float):
            q = int(np.searchsorted(np.cumsum(ratio), self.n_components, side="right")) + 1
        else:
            q = int(self.n_components)
            if q > min(n, d):
                raise ValueError(f"n_components={q} must be at most min(n_samples, n_features)")
        self.n_components_ = q
        self.mean_ = mean
        self.components_ = Vt[:q].copy()
        self.explained_variance_ = variance[:q].copy()
        self.explained_variance_ratio_ = ratio[:q].copy()
        self.singular_values_ = S[:q].copy()
        scores: FloatArray = U[:, :q] * (np.sqrt(n - 1.0) if self.whiten else S[:q])
        return scores.astype(Xa.dtype, copy=False)

    def transform(self, X: ArrayLike) -> FloatArray:
        """Coordinates of X along the components (whitened to unit variance if ``whiten``)."""
        components = check_fitted(self, "components_")
        Xa = check_features(X, components.shape[1], components.dtype)
        Z: FloatArray = (Xa - check_fitted(self, "mean_")) @ components.T
        if self.whiten:
            Z = Z / np.sqrt(check_fitted(self, "explained_variance_"))
        return Z

    def inverse_transform(self, Z: ArrayLike) -> FloatArray:
        """Back to the data space: the projection of the original points onto the components."""
        components = check_fitted(self, "components_")
        Za = check_features(Z, components.shape[0], components.dtype)
        if self.whiten:
            Za = Za * np.sqrt(check_fitted(self, "explained_variance_"))
        out: FloatArray = Za @ components + self.mean_
        return out
