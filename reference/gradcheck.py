"""Finite-difference gradient checking.

Reference: the central-difference check of backpropagation as described in Y. LeCun,
L. Bottou, G. B. Orr, K.-R. Mueller, "Efficient BackProp", in Neural Networks: Tricks of the
Trade, Springer LNCS 1524, 1998 (no arXiv id), and I. Goodfellow, Y. Bengio, A. Courville,
"Deep Learning", MIT Press 2016, sec. 11.5 (no arXiv id).

Implements the central difference, whose truncation error is O(eps^2),

    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps),

and the scale-aware relative error

    err(a, n) = max_i |a_i - n_i| / max( max_i (|a_i| + |n_i|), tiny ),

with ``tiny`` the smallest positive normal float64.  The error lies in [0, 1]: 0 for exact
agreement, 1 when e.g. a = -n.  Normalising by the largest gradient entry (rather than
entry by entry) keeps entries that are zero up to round-off from dominating the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["max_relative_error", "numerical_gradient"]

FloatArray = NDArray[np.floating[Any]]


def numerical_gradient(
    f: Callable[[FloatArray], float], x: FloatArray, eps: float = 1e-6
) -> FloatArray:
    """Central-difference gradient of the scalar function ``f`` at ``x``.

    ``x`` is perturbed IN PLACE one entry at a time and ``f(x)`` is called, so ``f`` may
    ignore its argument and read a parameter array it closes over; every entry is restored
    to its exact original value afterwards (also if ``f`` raises).  The difference quotient
    uses the step actually representable in x's dtype.  Returns an array with the
    shape and dtype of ``x``.  Costs 2 * x.size evaluations of ``f``.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise ValueError("x must be a floating-point numpy array (it is perturbed in place)")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    grad = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        original = x[idx].copy()
        try:
            x[idx] = original + eps
            x_plus, f_plus = float(x[idx]), float(f(x))
            x[idx] = original - eps
            x_minus, f_minus = float(x[idx]), float(f(x))
        finally:
            x[idx] = original
        if x_plus == x_minus:
            raise ValueError(f"eps={eps} vanishes against x{list(idx)} = {original} in {x.dtype}")
        # Divide by the step actually taken (x +- eps is rounded to x's dtype).
        grad[idx] = (f_plus - f_minus) / (x_plus - x_minus)
    return grad


def max_relative_error(analytic: ArrayLike, numeric: ArrayLike) -> float:
    """max_i |a_i - n_i| / max(max_i(|a_i| + |n_i|), tiny); see the module docstring."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"numeric must have the shape of analytic {a.shape}, got {n.shape}")
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(a) + np.abs(n))), float(np.finfo(np.float64).tiny))
    return float(np.max(np.abs(a - n))) / scale
