"""What the scikit-learn-like estimators of ``reference/`` share: input checks and the
not-fitted error.

An estimator computes in the floating dtype of its training data: float32 and float64 arrays
keep their dtype, anything else numeric becomes float64.
"""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ConvergenceWarning",
    "NotFittedError",
    "check_features",
    "check_fitted",
    "check_int",
    "check_labels",
    "check_matrix",
]

FloatArray = NDArray[np.floating[Any]]


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit`` (as scikit-learn's, a ValueError and an
    AttributeError)."""


class ConvergenceWarning(UserWarning):
    """An iterative fit stopped at ``max_iter`` before meeting its tolerance."""


def check_matrix(X: ArrayLike, name: str = "X", *, min_samples: int = 1) -> FloatArray:
    """``X`` as a finite 2-D float32 or float64 array with at least ``min_samples`` rows."""
    arr = np.asarray(X)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] < min_samples or arr.shape[1] < 1:
        raise ValueError(
            f"{name} needs at least {min_samples} sample(s) and 1 feature, got shape {arr.shape}"
        )
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def check_labels(y: ArrayLike, n_samples: int, name: str = "y") -> NDArray[Any]:
    """Class labels: a 1-D array (or a column) of ``n_samples`` entries."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(f"{name} must be 1-D with {n_samples} entries (one per row of X)")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def check_int(value: Any, name: str, minimum: int, *, allow_none: bool = False) -> None:
    """Raise unless ``value`` is an integer >= ``minimum`` (or None when allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_fitted(estimator: object, attribute: str) -> Any:
    """The fitted ``attribute`` of ``estimator``; NotFittedError if ``fit`` has not run."""
    value = getattr(estimator, attribute, None)
    if value is None:
        raise NotFittedError(
            f"this {type(estimator).__name__} is not fitted yet: call fit before using it"
        )
    return value


def check_features(X: ArrayLike, n_features: int, dtype: Any = None) -> FloatArray:
    """``X`` as in ``check_matrix``, with the ``n_features`` columns seen in ``fit``; cast to
    ``dtype`` (the training data's) when given."""
    arr = check_matrix(X)
    if arr.shape[1] != n_features:
        raise ValueError(
            f"X has {arr.shape[1]} features, but the estimator was fitted on {n_features}"
        )
    return arr if dtype is None else arr.astype(dtype, copy=False)
