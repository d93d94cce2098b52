"""Linear and ridge regression and L2-penalised logistic regression, matching scikit-learn 1.9's
``LinearRegression``, ``Ridge`` and ``LogisticRegression``.

References: T. Hastie, R. Tibshirani, J. Friedman, 2009, "The Elements of Statistical Learning",
2nd ed., Springer, doi:10.1007/978-0-387-84858-7, sections 3.2 (least squares), 3.4.1 (ridge)
and 4.4 (logistic regression, fitted by Newton's method); A. E. Hoerl, R. W. Kennard, 1970,
"Ridge Regression: Biased Estimation for Nonorthogonal Problems", Technometrics 12(1),
doi:10.1080/00401706.1970.10488634; D. R. Cox, 1958, "The Regression Analysis of Binary
Sequences", JRSS B 20(2).

With X (n, d), targets y and, when ``fit_intercept``, the centred Xc = X - mean(X),
yc = y - mean(y) (otherwise Xc = X, yc = y):

    least squares:  w = argmin ||yc - Xc w||^2, the minimum-norm solution Xc^+ yc (singular
                    values below 1e-6 times the largest count as zero, scikit-learn's ``tol``),
    ridge:          w = argmin ||yc - Xc w||^2 + alpha ||w||^2 = (Xc^T Xc + alpha I)^{-1} Xc^T yc,
    intercept:      b = mean(y) - mean(X) w   (0 without ``fit_intercept``), never penalised.

Logistic regression with K classes minimises over W (K, d) and b (K)

    C sum_i -log p(y_i | x_i) + (1/2) ||W||_F^2,   p(k | x) = softmax(W x + b)_k,

and for K = 2 the single row w, b of p(classes_[1] | x) = sigmoid(w x + b).  It is solved by
Newton's method with a backtracking line search on the objective divided by C n (scikit-learn's
scaling), stopping when the largest gradient entry of that scaled objective is at most ``tol``
(as scikit-learn's L-BFGS ``gtol``).  Each Newton step solves with the Hessian

    H = sum_i (diag(p_i) - p_i p_i^T) (x) [x_i; 1][x_i; 1]^T / n + I_W / (C n)

(the Kronecker product over classes and features; for K = 2 the scalar p_i (1 - p_i)): directly
for two classes, by conjugate gradients on products H v for more (Newton-CG).
"""

from abc import ABC, abstractmethod
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reference.estimator import (
    check_features,
    check_fitted,
    check_int,
    check_labels,
    check_matrix,
)

__all__ = ["LinearRegression", "LogisticRegression", "Ridge"]

FloatArray = NDArray[np.floating[Any]]
F64 = FloatArray  # the float64 arrays of the fit

LSTSQ_RCOND = 1e-6
"""scikit-learn's ``LinearRegression(tol=1e-6)``: the relative singular-value cut-off."""


def _regression_data(X: ArrayLike, y: ArrayLike) -> tuple[FloatArray, F64]:
    Xa = check_matrix(X)
    ya = np.asarray(y)
    if ya.dtype.kind not in "biuf" or ya.ndim not in (1, 2) or ya.shape[0] != Xa.shape[0]:
        raise ValueError(f"y must be numbers of shape ({Xa.shape[0]},) or ({Xa.shape[0]}, t)")
    if not np.all(np.isfinite(ya)):
        raise ValueError("y contains NaN or infinity")
    return Xa, ya.astype(np.float64)


class _LinearRegressor(ABC):
    """The intercept handling and prediction of least squares and ridge."""

    fit_intercept: bool
    coef_: FloatArray | None = None
    intercept_: Any = None

    @abstractmethod
    def _solve(self, Xc: F64, yc: F64) -> F64:
        """The subclass's own solver: the coefficients (d,) or (d, t) for centred data."""

    def fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        Xa, ya = _regression_data(X, y)
        X64 = Xa.astype(np.float64)
        x_mean = X64.mean(axis=0) if self.fit_intercept else np.zeros(X64.shape[1])
        y_mean = ya.mean(axis=0) if self.fit_intercept else np.zeros(ya.shape[1:])
        coef = self._solve(X64 - x_mean, ya - y_mean)  # (d,) or (d, t)
        self.coef_ = coef.T.astype(Xa.dtype)
        if not self.fit_intercept:
            self.intercept_ = 0.0  # as scikit-learn: a plain 0.0 whatever the shape of y
        elif ya.ndim == 1:
            self.intercept_ = Xa.dtype.type(y_mean - x_mean @ coef)
        else:
            self.intercept_ = (y_mean - x_mean @ coef).astype(Xa.dtype)
        return self

    def predict(self, X: ArrayLike) -> FloatArray:
        coef = check_fitted(self, "coef_")
        Xa = check_features(X, coef.shape[-1], coef.dtype)
        out: FloatArray = Xa @ coef.T + self.intercept_
        return out


class LinearRegression(_LinearRegressor):
    """Ordinary least squares; the minimum-norm solution when X is rank-deficient."""

    def __init__(self, fit_intercept: bool = True) -> None:
        self.fit_intercept = fit_intercept

    def _solve(self, Xc: F64, yc: F64) -> F64:
        coef: F64 = np.linalg.lstsq(Xc, yc, rcond=LSTSQ_RCOND)[0]
        return coef


class Ridge(_LinearRegressor):
    """Least squares plus ``alpha`` times the squared norm of the weights (not the intercept)."""

    def __init__(self, alpha: float = 1.0, fit_intercept: bool = True) -> None:
        if not (isinstance(alpha, int | float) and alpha >= 0 and np.isfinite(alpha)):
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        self.alpha = float(alpha)
        self.fit_intercept = fit_intercept

    def _solve(self, Xc: F64, yc: F64) -> F64:
        n, d = Xc.shape
        try:
            if d <= n:  # the primal system (d x d)
                coef: F64 = np.linalg.solve(Xc.T @ Xc + self.alpha * np.eye(d), Xc.T @ yc)
            else:  # the dual (kernel) system (n x n): X^T (X X^T + alpha I)^{-1} y
                coef = Xc.T @ np.linalg.solve(Xc @ Xc.T + self.alpha * np.eye(n), yc)
        except np.linalg.LinAlgError:  # alpha = 0 and X rank-deficient: least squares
            coef = np.linalg.lstsq(Xc, yc, rcond=None)[0]
        return coef


class LogisticRegression:
    """L2-penalised logistic (K = 2) or multinomial (K > 2) regression, fitted by Newton's
    method."""

    def __init__(
        self, C: float = 1.0, fit_intercept: bool = True, max_iter: int = 100, tol: float = 1e-4
    ) -> None:
        if not (isinstance(C, int | float) and C > 0 and np.isfinite(C)):
            raise ValueError(f"C must be a finite number > 0, got {C!r}")
        check_int(max_iter, "max_iter", 0)
        if not (isinstance(tol, int | float) and tol >= 0):
            raise ValueError(f"tol must be a number >= 0, got {tol!r}")
        self.C = float(C)
        self.fit_intercept = fit_intercept
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.classes_: NDArray[Any] | None = None
        self.coef_: FloatArray | None = None
        self.intercept_: FloatArray | None = None
        self.n_iter_: NDArray[np.int32] | None = None

    # --- the objective (divided by C n), its gradient and Hessian in the parameters theta ----

    def _design(self, X: F64) -> F64:
        return np.hstack([X, np.ones((X.shape[0], 1))]) if self.fit_intercept else X

    def _probabilities(self, Z: F64, theta: F64) -> F64:
        """p (n,) of the positive class for K = 2, else softmax rows (n, K)."""
        scores = Z @ theta.T  # (n,) or (n, K)
        if theta.ndim == 1:
            out: F64 = np.exp(-np.logaddexp(0.0, -scores))
            return out
        scores -= scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        probabilities: F64 = e / e.sum(axis=1, keepdims=True)
        return probabilities

    def _objective(self, Z: F64, T: F64, theta: F64, penalised: F64) -> float:
        scores = Z @ theta.T
        if theta.ndim == 1:  # -log sigmoid(+-s)
            loss = np.logaddexp(0.0, scores) - T * scores
        else:
            peak = scores.max(axis=1)
            log_norm = peak + np.log(np.exp(scores - peak[:, None]).sum(axis=1))
            loss = log_norm - np.sum(T * scores, axis=1)
        n = Z.shape[0]
        return float(loss.mean() + 0.5 * np.sum(penalised * theta**2) / (self.C * n))

    def _newton_step(self, Z: F64, T: F64, theta: F64, penalised: F64) -> tuple[F64, F64]:
        """(gradient, Newton step -H^-1 gradient), both shaped like theta.

        Two classes: H is formed and solved.  K > 2: H has (K m)^2 entries, each a sum over
        the samples, so the step comes from conjugate gradients on Hessian-vector products
        H v = Z^T (P * S - P * rowsum(P * S)) / n + reg v with S = Z V^T (Newton-CG), stopped
        at a residual of min(1/2, sqrt(|g|)) |g| (a truncated Newton step, still superlinear).
        """
        n = Z.shape[0]
        P = self._probabilities(Z, theta)
        reg = penalised / (self.C * n)
        if theta.ndim == 1:
            grad: F64 = Z.T @ (P - T) / n + reg * theta
            root = Z * np.sqrt(P * (1 - P))[:, None]  # A^T A: a symmetric product (syrk)
            hess = root.T @ root / n + np.diag(reg)
            return grad, np.linalg.solve(hess, -grad)
        grad = ((P - T).T @ Z) / n + reg * theta

        def hessp(V: F64) -> F64:
            S = P * (Z @ V.T)
            out: F64 = (S - P * S.sum(axis=1, keepdims=True)).T @ Z / n + reg * V
            return out

        # Adding one constant to every intercept changes nothing (H is singular along that
        # direction), but the gradient is orthogonal to it and so is every CG iterate: the
        # intercepts keep summing to zero, as with scikit-learn's L-BFGS from zero.
        step = np.zeros_like(theta)
        residual = -grad
        direction = residual.copy()
        rr = float(np.sum(residual * residual))
        stop = min(0.5, float(np.sqrt(np.sqrt(rr)))) * np.sqrt(rr)
        for _ in range(theta.size):
            if np.sqrt(rr) <= stop:
                break
            Hd = hessp(direction)
            curvature = float(np.sum(direction * Hd))
            if curvature <= 0:
                break
            alpha = rr / curvature
            step += alpha * direction
            residual -= alpha * Hd
            rr, rr_old = float(np.sum(residual * residual)), rr
            direction = residual + (rr / rr_old) * direction
        return grad, step

    def fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        Xa = check_matrix(X)
        labels = check_labels(y, Xa.shape[0])
        classes, index = np.unique(labels, return_inverse=True)
        if classes.size < 2:
            raise ValueError(f"y needs samples of at least 2 classes, got only {classes}")
        Z = self._design(Xa.astype(np.float64))
        m = Z.shape[1]
        if classes.size == 2:
            T: F64 = index.astype(np.float64)
            theta: F64 = np.zeros(m)
        else:
            T = np.eye(classes.size)[index]
            theta = np.zeros((classes.size, m))
        penalised = np.ones_like(theta)
        if self.fit_intercept:
            penalised[..., -1] = 0.0
        value = self._objective(Z, T, theta, penalised)
        n_iter = 0
        while n_iter < self.max_iter:
            grad, step = self._newton_step(Z, T, theta, penalised)
            if np.max(np.abs(grad)) <= self.tol:
                break
            slope = float(np.sum(grad * step))
            rate = 1.0
            while True:  # backtracking (Armijo): halve until the objective falls enough
                candidate = self._objective(Z, T, theta + rate * step, penalised)
                if candidate <= value + 1e-4 * rate * slope or rate < 1e-10:
                    break
                rate /= 2
            theta, value = theta + rate * step, candidate
            n_iter += 1
        coef = theta[..., : Xa.shape[1]]
        intercept = theta[..., -1] if self.fit_intercept else np.zeros(theta.shape[:-1])
        self.classes_ = classes
        self.coef_ = np.atleast_2d(coef).astype(Xa.dtype)
        self.intercept_ = np.atleast_1d(intercept).astype(Xa.dtype)
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        return self

    def decision_function(self, X: ArrayLike) -> FloatArray:
        """W x + b: (n,) for two classes (the score of ``classes_[1]``), else (n, K)."""
        coef = check_fitted(self, "coef_")
        Xa = check_features(X, coef.shape[1], coef.dtype)
        scores: FloatArray = Xa @ coef.T + self.intercept_
        return scores[:, 0] if coef.shape[0] == 1 else scores

    def predict_proba(self, X: ArrayLike) -> FloatArray:
        """Class probabilities (n, K), columns in the order of ``classes_``."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = np.exp(-np.logaddexp(0.0, -scores))
            return np.stack([1 - p, p], axis=1)
        scores = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        out: FloatArray = e / e.sum(axis=1, keepdims=True)
        return out

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """The class of largest probability (for two classes: score > 0 gives ``classes_[1]``)."""
        scores = self.decision_function(X)
        classes: NDArray[Any] = check_fitted(self, "classes_")
        index = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        predicted: NDArray[Any] = classes[index]
        return predicted
