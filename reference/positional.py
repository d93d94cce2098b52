"""Positional encodings: the Transformer's sinusoids and rotary position embedding (RoPE).

Papers:

* Sinusoidal encoding: A. Vaswani, N. Shazeer, N. Parmar, J. Uszkoreit, L. Jones, A. N. Gomez,
  L. Kaiser, I. Polosukhin, 2017, "Attention Is All You Need", NeurIPS, arXiv:1706.03762.
* Rotary position embedding: J. Su, Y. Lu, S. Pan, A. Murtadha, B. Wen, Y. Liu, 2021, "RoFormer:
  Enhanced Transformer with Rotary Position Embedding", arXiv:2104.09864 (Neurocomputing 568,
  2024).

Equations, with frequencies omega_i = base^(-2i/d) for i < d/2:

    PE[pos, 2i] = sin(pos omega_i),    PE[pos, 2i + 1] = cos(pos omega_i);

    RoPE ("rotate half" layout, as LLaMA-style code): the pair (x_j, x_{j + d/2}) at position m is
    rotated by the angle m omega_j,
        y_j = x_j cos(m omega_j) - x_{j + d/2} sin(m omega_j),
        y_{j + d/2} = x_{j + d/2} cos(m omega_j) + x_j sin(m omega_j).

A rotation preserves norms, and <R_m q, R_n k> = <q, R_{n - m} k>: the attention score of a
rotated query and key depends on their positions only through the offset n - m.
"""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["apply_rotary", "sinusoidal_positional_encoding"]

FloatArray = NDArray[np.floating[Any]]


def _check_even(d: int, name: str) -> None:
    if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 2 or d % 2:
        raise ValueError(f"{name} must be a positive even integer, got {d!r}")


def _check_base(base: float) -> None:
    if not base > 0:
        raise ValueError(f"base must be positive, got {base}")


def _frequencies(d: int, base: float) -> NDArray[np.float64]:
    """omega_i = base^(-2i/d), i = 0 .. d/2 - 1."""
    _check_base(base)
    freq: NDArray[np.float64] = base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    return freq


def sinusoidal_positional_encoding(length: int, d_model: int, base: float = 10000.0) -> FloatArray:
    """The (length, d_model) table: sines in the even columns, cosines in the odd ones."""
    if isinstance(length, bool) or not isinstance(length, int | np.integer) or length < 0:
        raise ValueError(f"length must be a non-negative integer, got {length!r}")
    _check_even(d_model, "d_model")
    angles = np.arange(length, dtype=np.float64)[:, None] * _frequencies(d_model, base)
    pe = np.empty((length, d_model))
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles)
    return pe


def apply_rotary(x: ArrayLike, positions: ArrayLike, base: float = 10000.0) -> FloatArray:
    """Rotate each pair (x_j, x_{j + d/2}) of x (..., T, d) by positions[t] * base^(-2j/d)."""
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if arr.ndim < 2:
        raise ValueError(f"x must have shape (..., T, d), got {arr.shape}")
    d = arr.shape[-1]
    _check_even(d, "the last dimension d of x")
    pos = np.asarray(positions)
    if not np.issubdtype(pos.dtype, np.integer) or pos.shape != (arr.shape[-2],):
        raise ValueError(
            f"positions must be {arr.shape[-2]} integers (one per step T), got {pos.dtype} "
            f"of shape {pos.shape}"
        )
    angles = pos[:, None].astype(np.float64) * _frequencies(d, base)  # (T, d/2)
    cos, sin = np.cos(angles).astype(arr.dtype), np.sin(angles).astype(arr.dtype)
    first, second = arr[..., : d // 2], arr[..., d // 2 :]
    out: FloatArray = np.concatenate([first * cos - second * sin, second * cos + first * sin], -1)
    return out
