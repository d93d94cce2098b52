"""Gaussian mixture models fitted by expectation-maximisation, matching scikit-learn 1.9's
``GaussianMixture``.

References: A. P. Dempster, N. M. Laird, D. B. Rubin, 1977, "Maximum Likelihood from
Incomplete Data via the EM Algorithm", JRSS B 39(1), doi:10.1111/j.2517-6161.1977.tb01600.x;
C. M. Bishop, 2006, "Pattern Recognition and Machine Learning", Springer, section 9.2.

The model p(x) = sum_k pi_k N(x; mu_k, Sigma_k) is fitted to X (n, d) by alternating

    E-step:  log r_ik = log pi_k + log N(x_i; mu_k, Sigma_k) - log sum_j pi_j N(x_i; mu_j, Sigma_j),
    M-step:  N_k = sum_i r_ik (+ 10 eps),  pi_k = N_k / n,  mu_k = sum_i r_ik x_i / N_k,
             Sigma_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / N_k + reg_covar I,

all in the log domain.  ``covariance_type`` restricts Sigma_k: ``"full"`` as above, ``"tied"``
one Sigma shared by all components (sum_i x_i x_i^T - sum_k N_k mu_k mu_k^T) / n,
``"diag"`` its diagonal only, ``"spherical"`` sigma_k^2 I with sigma_k^2 the mean of the
diagonal.  Densities use the precision's Cholesky factor P_k (Sigma_k^-1 = P_k P_k^T, upper
triangular, P_k = L_k^-T for Sigma_k = L_k L_k^T):

    log N(x; mu, Sigma) = -(d/2) log 2 pi + log det P - (1/2) ||(x - mu) P||^2.

The lower bound of a step is the mean log-likelihood (1/n) sum_i log p(x_i) at the E-step that
starts it; EM never lowers it.  A run stops when it changes by less than ``tol``; ``n_iter_``
counts the E/M steps taken and ``lower_bound_`` is the last bound.  The initial responsibilities
come from k-means (scikit-learn's default ``init_params``), unless ``weights_init``,
``means_init`` and ``precisions_init`` are all given: then EM starts from them.
"""

import math
import warnings
from typing import Any, Literal, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reference.clustering import KMeans, kmeans_plusplus
from reference.estimator import (
    ConvergenceWarning,
    check_features,
    check_fitted,
    check_int,
    check_matrix,
)

__all__ = ["GaussianMixture"]

FloatArray = NDArray[np.floating[Any]]
CovarianceType = Literal["full", "tied", "diag", "spherical"]
InitParams = Literal["kmeans", "k-means++", "random", "random_from_data"]

_ILL_DEFINED = (
    "some components have an ill-defined covariance (e.g. a single point or collapsed samples):"
    " use fewer components or a larger reg_covar, or scale the data"
)


def _logsumexp(a: FloatArray) -> FloatArray:
    peak = a.max(axis=1)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    out: FloatArray = peak + np.log(np.exp(a - peak[:, None]).sum(axis=1))
    return out


def _flip(a: FloatArray) -> FloatArray:
    """Reverse rows and columns (J a J with J the exchange matrix)."""
    return a[..., ::-1, ::-1]


def _precision_cholesky(covariances: FloatArray, kind: str) -> FloatArray:
    """P with Sigma^-1 = P P^T: L^-T for the Cholesky factor L of Sigma (1/sqrt for diagonals)."""
    if kind in ("full", "tied"):
        try:
            chol = np.linalg.cholesky(covariances)
        except np.linalg.LinAlgError:
            raise ValueError(_ILL_DEFINED) from None
        eye = np.broadcast_to(np.eye(covariances.shape[-1], dtype=covariances.dtype), chol.shape)
        out: FloatArray = np.swapaxes(np.linalg.solve(chol, eye), -1, -2)
        return out
    if np.any(covariances <= 0):
        raise ValueError(_ILL_DEFINED)
    root: FloatArray = 1.0 / np.sqrt(covariances)
    return root


def _precision_cholesky_from_precisions(precisions: FloatArray, kind: str) -> FloatArray:
    """The upper-triangular U with precision = U U^T (the Cholesky factor of J precision J,
    flipped back), as scikit-learn derives ``precisions_cholesky_`` from ``precisions_init``."""
    if kind in ("full", "tied"):
        return _flip(np.linalg.cholesky(_flip(precisions)))
    root: FloatArray = np.sqrt(precisions)
    return root


class GaussianMixture:
    """A mixture of Gaussians fitted by EM."""

    def __init__(
        self,
        n_components: int = 1,
        covariance_type: CovarianceType = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: InitParams = "kmeans",
        weights_init: ArrayLike | None = None,
        means_init: ArrayLike | None = None,
        precisions_init: ArrayLike | None = None,
        random_state: int | None = None,
    ) -> None:
        check_int(n_components, "n_components", 1)
        check_int(max_iter, "max_iter", 0)
        check_int(n_init, "n_init", 1)
        check_int(random_state, "random_state", 0, allow_none=True)
        if covariance_type not in ("full", "tied", "diag", "spherical"):
            raise ValueError(
                "covariance_type must be 'full', 'tied', 'diag' or 'spherical', "
                f"got {covariance_type!r}"
            )
        if init_params not in ("kmeans", "k-means++", "random", "random_from_data"):
            raise ValueError(
                "init_params must be 'kmeans', 'k-means++', 'random' or 'random_from_data', "
                f"got {init_params!r}"
            )
        for value, name in ((tol, "tol"), (reg_covar, "reg_covar")):
            if not (isinstance(value, int | float) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        self.n_components = int(n_components)
        self.covariance_type = covariance_type
        self.tol = float(tol)
        self.reg_covar = float(reg_covar)
        self.max_iter = int(max_iter)
        self.n_init = int(n_init)
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.weights_: FloatArray | None = None
        self.means_: FloatArray | None = None
        self.covariances_: FloatArray | None = None
        self.precisions_cholesky_: FloatArray | None = None
        self.precisions_: FloatArray | None = None
        self.converged_: bool | None = None
        self.n_iter_: int | None = None
        self.lower_bound_: float | None = None
        self.lower_bounds_: list[float] | None = None

    # --- the given initial parameters -----------------------------------------------------

    def _checked_inits(
        self, d: int, dtype: Any
    ) -> tuple[FloatArray | None, FloatArray | None, FloatArray | None]:
        k, kind = self.n_components, self.covariance_type
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = np.asarray(self.weights_init, dtype=dtype)
            if weights.shape != (k,) or np.any(weights < 0) or np.any(weights > 1):
                raise ValueError(f"weights_init must be {k} numbers in [0, 1]")
            if not np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-6):
                raise ValueError(f"weights_init must sum to 1, got {weights.sum()}")
        if self.means_init is not None:
            means = np.asarray(self.means_init, dtype=dtype)
            if means.shape != (k, d):
                raise ValueError(f"means_init must have shape ({k}, {d}), got {means.shape}")
        if self.precisions_init is not None:
            precisions = np.asarray(self.precisions_init, dtype=dtype)
            shape = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[kind]
            if precisions.shape != shape:
                raise ValueError(f"precisions_init must have shape {shape} for {kind!r}")
            if kind in ("full", "tied"):
                symmetric = np.allclose(precisions, np.swapaxes(precisions, -1, -2))
                if not symmetric or np.any(np.linalg.eigvalsh(precisions) <= 0):
                    raise ValueError("precisions_init must be symmetric positive-definite")
            elif np.any(precisions <= 0):
                raise ValueError("precisions_init must be positive")
        return weights, means, precisions

    # --- EM --------------------------------------------------------------------------------

    def _m_step(self, X: FloatArray, resp: FloatArray, *, initial: bool = False) -> None:
        """Weights, means, covariances and precision factors from responsibilities (n, K).

        The initial step divides the weights by n, not by their sum: as in scikit-learn, they
        do not sum to 1 when the initial responsibilities do not (e.g. one point per component).
        """
        d = X.shape[1]
        nk = resp.sum(axis=0) + 10 * np.finfo(resp.dtype).eps
        means = (resp.T @ X) / nk[:, None]
        if self.covariance_type == "full":
            cov = np.empty((means.shape[0], d, d), dtype=X.dtype)
            for k in range(means.shape[0]):
                diff = X - means[k]
                cov[k] = (resp[:, k] * diff.T) @ diff / nk[k]
            cov += self.reg_covar * np.eye(d, dtype=X.dtype)
        elif self.covariance_type == "tied":
            cov = (X.T @ X - nk * means.T @ means) / nk.sum()
            cov += self.reg_covar * np.eye(d, dtype=X.dtype)
        else:
            cov = (resp.T @ (X * X)) / nk[:, None] - means**2 + self.reg_covar
            if self.covariance_type == "spherical":
                cov = cov.mean(axis=1)
        self.weights_ = nk / (X.shape[0] if initial else nk.sum())
        self.means_, self.covariances_ = means, cov
        self.precisions_cholesky_ = _precision_cholesky(cov, self.covariance_type)

    def _log_gaussian(self, X: FloatArray) -> FloatArray:
        """log N(x_i; mu_k, Sigma_k), (n, K)."""
        means: FloatArray = check_fitted(self, "means_")
        P: FloatArray = check_fitted(self, "precisions_cholesky_")
        d, kind = X.shape[1], self.covariance_type
        if kind == "full":
            log_det = np.sum(np.log(np.diagonal(P, axis1=1, axis2=2)), axis=1)
            squares = np.stack(
                [np.sum((X @ P[k] - means[k] @ P[k]) ** 2, axis=1) for k in range(len(means))],
                axis=1,
            )
        elif kind == "tied":
            log_det = np.sum(np.log(np.diagonal(P)))
            squares = np.stack([np.sum((X @ P - mu @ P) ** 2, axis=1) for mu in means], axis=1)
        elif kind == "diag":
            log_det = np.sum(np.log(P), axis=1)
            prec = P**2
            squares = np.sum(means**2 * prec, axis=1) - 2.0 * X @ (means * prec).T + X**2 @ prec.T
        else:
            log_det = d * np.log(P)
            prec = P**2
            squares = (
                np.sum(means**2, axis=1) * prec
                - 2.0 * (X @ means.T * prec)
                + np.outer(np.einsum("ij,ij->i", X, X), prec)
            )
        out: FloatArray = -0.5 * (d * math.log(2 * math.pi) + squares) + log_det
        return out

    def _e_step(self, X: FloatArray) -> tuple[float, FloatArray]:
        """(mean log-likelihood, log responsibilities)."""
        weighted = self._log_gaussian(X) + np.log(check_fitted(self, "weights_"))
        norm = _logsumexp(weighted)
        return float(np.mean(norm)), weighted - norm[:, None]

    def _initialise(self, X: FloatArray, rng: np.random.RandomState) -> None:
        weights, means, precisions = self._checked_inits(X.shape[1], X.dtype)
        n, k = X.shape[0], self.n_components
        if weights is None or means is None or precisions is None:
            resp = np.zeros((n, k), dtype=X.dtype)
            if self.init_params == "kmeans":
                labels = KMeans(n_clusters=k, n_init=1, random_state=rng).fit(X).labels_
                resp[np.arange(n), labels] = 1
            elif self.init_params == "random":
                resp = rng.uniform(size=(n, k)).astype(X.dtype)
                resp /= resp.sum(axis=1)[:, None]
            elif self.init_params == "random_from_data":
                resp[rng.choice(n, size=k, replace=False), np.arange(k)] = 1
            else:
                resp[kmeans_plusplus(X, k, rng)[1], np.arange(k)] = 1
            self._m_step(X, resp, initial=True)
            if weights is not None:
                self.weights_ = weights
            if means is not None:
                self.means_ = means
        else:
            self.weights_, self.means_ = weights, means
        if precisions is not None:
            self.precisions_cholesky_ = _precision_cholesky_from_precisions(
                precisions, self.covariance_type
            )

    def fit(self, X: ArrayLike) -> Self:
        """Run EM ``n_init`` times and keep the run of largest final lower bound."""
        Xa = check_matrix(X, min_samples=2)
        if Xa.shape[0] < self.n_components:
            raise ValueError(
                f"X has {Xa.shape[0]} samples, fewer than n_components={self.n_components}"
            )
        rng = np.random.RandomState(self.random_state)
        best: tuple[Any, ...] | None = None
        for _ in range(self.n_init):
            self._initialise(Xa, rng)
            bound, bounds, converged, n_iter = -np.inf, [], False, 0
            while n_iter < self.max_iter and not converged:
                n_iter += 1
                previous = bound
                bound, log_resp = self._e_step(Xa)
                self._m_step(Xa, np.exp(log_resp))
                bounds.append(bound)
                converged = abs(bound - previous) < self.tol
            if best is None or bound > best[0]:
                parameters = (
                    self.weights_,
                    self.means_,
                    self.covariances_,
                    self.precisions_cholesky_,
                )
                best = (bound, bounds, converged, n_iter, parameters)
        assert best is not None
        self.lower_bound_, self.lower_bounds_, self.converged_, self.n_iter_, parameters = best
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = parameters
        P = check_fitted(self, "precisions_cholesky_")
        if self.covariance_type in ("full", "tied"):
            self.precisions_ = P @ np.swapaxes(P, -1, -2)
        else:
            self.precisions_ = P**2
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "the best initialisation did not converge: raise max_iter or tol, or try other"
                " initial parameters",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _checked(self, X: ArrayLike) -> FloatArray:
        means: FloatArray = check_fitted(self, "means_")
        return check_features(X, means.shape[1], means.dtype)

    def score_samples(self, X: ArrayLike) -> FloatArray:
        """log p(x_i) under the fitted mixture."""
        Xa = self._checked(X)
        return _logsumexp(self._log_gaussian(Xa) + np.log(check_fitted(self, "weights_")))

    def score(self, X: ArrayLike) -> float:
        """The mean log-likelihood of X."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X: ArrayLike) -> FloatArray:
        """The responsibilities p(k | x_i), (n, K)."""
        out: FloatArray = np.exp(self._e_step(self._checked(X))[1])
        return out

    def predict(self, X: ArrayLike) -> NDArray[np.intp]:
        """The most probable component of each sample."""
        Xa = self._checked(X)
        weighted = self._log_gaussian(Xa) + np.log(check_fitted(self, "weights_"))
        labels: NDArray[np.intp] = np.argmax(weighted, axis=1)
        return labels
