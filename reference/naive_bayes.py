"""Gaussian and multinomial naive Bayes, matching scikit-learn 1.9's ``GaussianNB`` and
``MultinomialNB``.

References: C. D. Manning, P. Raghavan, H. Schuetze, 2008, "Introduction to Information
Retrieval", Cambridge University Press, ch. 13 (multinomial naive Bayes, Laplace smoothing);
T. M. Mitchell, 1997, "Machine Learning", McGraw-Hill, ch. 6.9; K. P. Murphy, 2012, "Machine
Learning: A Probabilistic Perspective", MIT Press, section 3.5.

Naive Bayes takes the features independent given the class c, so with prior pi_c

    log p(c | x) = log pi_c + sum_f log p(x_f | c) - log Z(x),   Z(x) = sum_c' (the same),

and predicts argmax_c.  The class priors pi_c are the class frequencies.

Gaussian: p(x_f | c) = N(x_f; theta_cf, sigma^2_cf), with theta_cf and sigma^2_cf the mean and
(biased) variance of feature f in class c, plus epsilon = ``var_smoothing`` * max_f Var(x_f)
added to every variance for numerical stability.

Multinomial (counts x_f >= 0): log p(x | c) = sum_f x_f log phi_cf + const, with the smoothed
feature probabilities phi_cf = (N_cf + alpha) / (N_c + alpha d), N_cf the total count of
feature f in class c and N_c = sum_f N_cf.
"""

from abc import ABC, abstractmethod
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reference.estimator import check_features, check_fitted, check_labels, check_matrix

__all__ = ["GaussianNB", "MultinomialNB"]

FloatArray = NDArray[np.floating[Any]]


def _log_softmax(scores: FloatArray) -> FloatArray:
    peak = scores.max(axis=1, keepdims=True)
    out: FloatArray = scores - (peak + np.log(np.exp(scores - peak).sum(axis=1, keepdims=True)))
    return out


class _NaiveBayes(ABC):
    """Prediction from the joint log-likelihood log pi_c + log p(x | c)."""

    classes_: NDArray[Any] | None = None

    @abstractmethod
    def _joint_log_likelihood(self, X: ArrayLike) -> FloatArray:
        """The subclass's own model: its joint log-likelihood, log pi_c + log p(x | c), (n, K)."""

    def _fit_classes(self, X: ArrayLike, y: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """X, and the one-hot class matrix (n, K); sets ``classes_``."""
        Xa = check_matrix(X)
        labels = check_labels(y, Xa.shape[0])
        self.classes_, index = np.unique(labels, return_inverse=True)
        return Xa, np.eye(self.classes_.size, dtype=Xa.dtype)[index]

    def predict_log_proba(self, X: ArrayLike) -> FloatArray:
        """log p(c | x), columns in the order of ``classes_``."""
        return _log_softmax(self._joint_log_likelihood(X))

    def predict_proba(self, X: ArrayLike) -> FloatArray:
        """p(c | x), columns in the order of ``classes_``."""
        out: FloatArray = np.exp(self.predict_log_proba(X))
        return out

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """The class of largest posterior probability."""
        scores = self._joint_log_likelihood(X)
        classes: NDArray[Any] = check_fitted(self, "classes_")
        predicted: NDArray[Any] = classes[np.argmax(scores, axis=1)]
        return predicted


class GaussianNB(_NaiveBayes):
    """Naive Bayes with a normal distribution per class and feature."""

    def __init__(self, var_smoothing: float = 1e-9) -> None:
        if not (isinstance(var_smoothing, int | float) and var_smoothing >= 0):
            raise ValueError(f"var_smoothing must be a number >= 0, got {var_smoothing!r}")
        self.var_smoothing = float(var_smoothing)
        self.theta_: FloatArray | None = None
        self.var_: FloatArray | None = None
        self.class_prior_: FloatArray | None = None
        self.class_count_: FloatArray | None = None
        self.epsilon_: float | None = None

    def fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        Xa, Y = self._fit_classes(X, y)
        counts = Y.sum(axis=0)
        self.epsilon_ = float(self.var_smoothing * np.var(Xa, axis=0).max())
        self.theta_ = (Y.T @ Xa) / counts[:, None]
        centred = Xa - self.theta_[np.argmax(Y, axis=1)]  # two passes, for accuracy
        self.var_ = (Y.T @ centred**2) / counts[:, None] + Xa.dtype.type(self.epsilon_)
        self.class_count_ = counts
        self.class_prior_ = counts / counts.sum()
        return self

    def _joint_log_likelihood(self, X: ArrayLike) -> FloatArray:
        theta: FloatArray = check_fitted(self, "theta_")
        var: FloatArray = check_fitted(self, "var_")
        prior: FloatArray = check_fitted(self, "class_prior_")
        Xa = check_features(X, theta.shape[1], theta.dtype)
        log_norm = -0.5 * np.sum(np.log(2.0 * np.pi * var), axis=1)
        squares = ((Xa[:, None, :] - theta[None]) ** 2 / var[None]).sum(axis=2)
        out: FloatArray = np.log(prior) + log_norm - 0.5 * squares
        return out


class MultinomialNB(_NaiveBayes):
    """Naive Bayes for counts (e.g. words), with additive (Laplace/Lidstone) smoothing."""

    def __init__(self, alpha: float = 1.0) -> None:
        if not (isinstance(alpha, int | float) and alpha >= 0):
            raise ValueError(f"alpha must be a number >= 0, got {alpha!r}")
        self.alpha = float(alpha)
        self.class_count_: FloatArray | None = None
        self.feature_count_: FloatArray | None = None
        self.class_log_prior_: FloatArray | None = None
        self.feature_log_prob_: FloatArray | None = None

    def fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        Xa, Y = self._fit_classes(X, y)
        if np.any(Xa < 0):
            raise ValueError("X must hold non-negative counts for MultinomialNB")
        self.class_count_ = Y.sum(axis=0)
        self.feature_count_ = Y.T @ Xa
        smoothed = self.feature_count_ + self.alpha
        with np.errstate(divide="ignore"):  # alpha = 0 and an unseen feature: log 0 = -inf
            self.feature_log_prob_ = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))
        self.class_log_prior_ = np.log(self.class_count_) - np.log(self.class_count_.sum())
        return self

    def _joint_log_likelihood(self, X: ArrayLike) -> FloatArray:
        log_prob: FloatArray = check_fitted(self, "feature_log_prob_")
        Xa = check_features(X, log_prob.shape[1], log_prob.dtype)
        if np.any(Xa < 0):
            raise ValueError("X must hold non-negative counts for MultinomialNB")
        out: FloatArray = Xa @ log_prob.T + check_fitted(self, "class_log_prior_")
        return out
