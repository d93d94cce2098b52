"""Inverted dropout, as ``torch.nn.functional.dropout``.

Papers: N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever, R. Salakhutdinov, 2014, "Dropout: A
Simple Way to Prevent Neural Networks from Overfitting", JMLR 15(56), 1929-1958 (first described
in G. E. Hinton et al., 2012, arXiv:1207.0580).

In training each unit is kept independently with probability 1 - p, and the kept units are scaled
by 1 / (1 - p) ("inverted" dropout, as torch), so that E[y] = x and nothing changes at test time:

    m_i ~ Bernoulli(1 - p),    y_i = m_i x_i / (1 - p),    dL/dx_i = m_i dL/dy_i / (1 - p).

p = 1 drops everything (y = 0, with no division by zero); outside training y = x.
"""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["dropout", "dropout_backward"]

FloatArray = NDArray[np.floating[Any]]


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability p must be in [0, 1], got {p}")


def _as_float(x: ArrayLike) -> FloatArray:
    arr = np.asarray(x)
    return arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64)


def _scaled(values: FloatArray, mask: FloatArray, p: float) -> FloatArray:
    if p == 1.0:
        return np.zeros_like(values)
    out: FloatArray = values * mask * values.dtype.type(1.0 / (1.0 - p))
    return out


def dropout(
    x: ArrayLike, p: float = 0.5, training: bool = True, rng: np.random.Generator | None = None
) -> tuple[FloatArray, FloatArray]:
    """(y, mask): y = mask * x / (1 - p) in training, with mask 0/1 in x's shape and dtype."""
    _check_p(p)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator or None, got {type(rng).__name__}")
    arr = _as_float(x)
    if not training or p == 0.0:
        return arr, np.ones_like(arr)
    generator = np.random.default_rng() if rng is None else rng
    mask = (generator.random(arr.shape) >= p).astype(arr.dtype)
    return _scaled(arr, mask, p), mask


def dropout_backward(grad_out: ArrayLike, mask: ArrayLike, p: float) -> FloatArray:
    """dL/dx = mask * dL/dy / (1 - p) (the mask and p of the forward call; p = 1 gives 0)."""
    _check_p(p)
    g = _as_float(grad_out)
    m = np.asarray(mask, dtype=g.dtype)
    if m.shape != g.shape:
        raise ValueError(f"mask has shape {m.shape}, expected grad_out's shape {g.shape}")
    return _scaled(g, m, p)
