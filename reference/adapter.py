"""Bottleneck adapter for parameter-efficient transfer learning.

Reference: N. Houlsby, A. Giurgiu, S. Jastrzebski, B. Morrone, Q. de Laroussilhe,
A. Gesmundo, M. Attariyan, S. Gelly, "Parameter-Efficient Transfer Learning for NLP",
ICML 2019, arXiv:1902.00751.

For hidden states h (..., d_model) and a bottleneck of size r:

    z = h W_down + b_down,   a = f(z),   y = h + a W_up + b_up

with W_down (d_model, r) and W_up (r, d_model).  Backward pass for an upstream gradient g
(rows flattened over the leading dimensions):

    grad W_up = a^T g,   grad b_up = sum g,   dz = (g W_up^T) * f'(z),
    grad W_down = h^T dz,   grad b_down = sum dz,   grad h = g + dz W_down^T

Near-identity initialisation: W_up = 0 and b_up = 0, so a fresh adapter is exactly the
identity (the paper draws both projections near zero; zeroing only the up-projection keeps
the gradient of W_up non-zero).  W_down ~ N(0, 1 / d_model), b_down = 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reference import activations

__all__ = ["BottleneckAdapter"]

FloatArray = NDArray[np.floating[Any]]

_Forward = Callable[[FloatArray], FloatArray]
_Backward = Callable[[FloatArray, FloatArray], FloatArray]

_ACTIVATIONS: dict[str, tuple[_Forward, _Backward]] = {
    "relu": (activations.relu, activations.relu_backward),
    "gelu": (activations.gelu, activations.gelu_backward),
    "silu": (activations.silu, activations.silu_backward),
    "tanh": (activations.tanh, activations.tanh_backward),
    "sigmoid": (activations.sigmoid, activations.sigmoid_backward),
}


class BottleneckAdapter:
    """y = h + f(h W_down + b_down) W_up + b_up on inputs of shape (..., d_model).

    ``params`` = [W_down (d_model, bottleneck), b_down, W_up (bottleneck, d_model), b_up].
    ``forward`` caches what ``backward`` needs; ``backward(grad_out)`` returns the gradient
    with respect to the input and stores parameter gradients in ``grads`` (same order).
    """

    def __init__(
        self, d_model: int, bottleneck: int, activation: str = "relu", seed: int = 0
    ) -> None:
        if d_model <= 0:
            raise ValueError(f"d_model must be positive, got {d_model}")
        if bottleneck <= 0:
            raise ValueError(f"bottleneck must be positive, got {bottleneck}")
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        self.d_model, self.bottleneck, self.activation = d_model, bottleneck, activation
        self._f, self._f_backward = _ACTIVATIONS[activation]
        rng = np.random.default_rng(seed)
        self.params: list[FloatArray] = [
            rng.normal(0.0, 1.0 / math.sqrt(d_model), (d_model, bottleneck)),
            np.zeros(bottleneck),
            np.zeros((bottleneck, d_model)),
            np.zeros(d_model),
        ]
        self.grads: list[FloatArray] | None = None
        self._cache: tuple[tuple[int, ...], FloatArray, FloatArray, FloatArray] | None = None

    @property
    def n_params(self) -> int:
        """Number of trainable scalars, biases included: 2 d r + r + d."""
        return sum(p.size for p in self.params)

    def forward(self, h: ArrayLike) -> FloatArray:
        x = np.asarray(h)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        if x.ndim < 1 or x.shape[-1] != self.d_model:
            raise ValueError(f"h must have shape (..., {self.d_model}), got {x.shape}")
        w_down, b_down, w_up, b_up = (p.astype(x.dtype, copy=False) for p in self.params)
        rows = x.reshape(-1, self.d_model)
        z = rows @ w_down + b_down
        a = self._f(z)
        out: FloatArray = rows + a @ w_up + b_up
        self._cache = (x.shape, rows, z, a)
        return out.reshape(x.shape)

    __call__ = forward

    def backward(self, grad_out: ArrayLike) -> FloatArray:
        """Gradient w.r.t. the last ``forward`` input; sets ``self.grads``."""
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        shape, rows, z, a = self._cache
        g = np.asarray(grad_out)
        if g.shape != shape:
            raise ValueError(f"grad_out must have the output shape {shape}, got {g.shape}")
        g = g.astype(rows.dtype, copy=False).reshape(-1, self.d_model)
        w_down, _, w_up, _ = (p.astype(rows.dtype, copy=False) for p in self.params)
        dz = self._f_backward(z, g @ w_up.T)
        grads = [rows.T @ dz, dz.sum(axis=0), a.T @ g, g.sum(axis=0)]
        self.grads = [
            gr.astype(p.dtype, copy=False) for gr, p in zip(grads, self.params, strict=True)
        ]
        grad_in: FloatArray = g + dz @ w_down.T
        return grad_in.reshape(shape)
