"""Layer normalisation and RMS normalisation with hand-written backward passes, as torch.

Papers:

* Layer normalization: J. L. Ba, J. R. Kiros, G. E. Hinton, 2016, "Layer Normalization",
  arXiv:1607.06450.
* RMSNorm: B. Zhang, R. Sennrich, 2019, "Root Mean Square Layer Normalization", NeurIPS,
  arXiv:1910.07467.

Both normalise each sample over its trailing ``normalized_shape`` dimensions (H values), with
statistics per sample (unlike batch normalisation, nothing depends on the other samples):

    layer_norm:  mu = (1/H) sum_i x_i,  sigma^2 = (1/H) sum_i (x_i - mu)^2   (biased),
                 S = 1 / sqrt(sigma^2 + eps),  hat x_i = (x_i - mu) S,
                 y_i = gamma_i hat x_i + beta_i;
    rms_norm:    r = 1 / sqrt((1/H) sum_i x_i^2 + eps),  y_i = gamma_i x_i r
                 (eps None: the machine epsilon of x's dtype, as torch).

Backward, with g = dL/dy and g'_i = gamma_i g_i (sums over the leading dimensions for the weights):

    layer_norm:  dL/dx_i = S (g'_i - mean(g') - hat x_i mean(g' hat x)),
                 dL/dgamma = sum g hat x,  dL/dbeta = sum g;
    rms_norm:    dL/dx_i = r (g'_i - x_i r^2 mean(g' x)),  dL/dgamma = sum g x r.
"""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["layer_norm", "layer_norm_backward", "rms_norm", "rms_norm_backward"]

FloatArray = NDArray[np.floating[Any]]
Shape = int | tuple[int, ...] | list[int]


def _prepare(
    x: ArrayLike, normalized_shape: Shape, weight: ArrayLike | None, bias: ArrayLike | None
) -> tuple[FloatArray, tuple[int, ...], FloatArray | None, FloatArray | None]:
    """x as floats, the normalised axes, and weight and bias checked against normalized_shape."""
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    items: list[Any] = (
        [normalized_shape]
        if isinstance(normalized_shape, int | np.integer)
        else list(normalized_shape)
    )
    if not items or not all(isinstance(s, int | np.integer) and s >= 1 for s in items):
        raise ValueError(f"normalized_shape must be positive ints, got {normalized_shape!r}")
    shape = tuple(int(s) for s in items)
    if arr.shape[arr.ndim - len(shape) :] != shape or arr.ndim < len(shape):
        raise ValueError(
            f"normalized_shape {shape} must match the trailing dimensions of x, shape {arr.shape}"
        )
    params = []
    for name, value in (("weight", weight), ("bias", bias)):
        p = None if value is None else np.asarray(value, dtype=arr.dtype)
        if p is not None and p.shape != shape:
            raise ValueError(f"{name} must have normalized_shape {shape}, got {p.shape}")
        params.append(p)
    axes = tuple(range(arr.ndim - len(shape), arr.ndim))
    return arr, axes, params[0], params[1]


def _check_eps(eps: float) -> None:
    if not eps >= 0:
        raise ValueError(f"eps must be non-negative, got {eps}")


def _normalise(x: FloatArray, axes: tuple[int, ...], eps: float) -> tuple[FloatArray, FloatArray]:
    """hat x and S (kept dims) of layer norm."""
    _check_eps(eps)
    centred = x - x.mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(np.mean(centred * centred, axis=axes, keepdims=True) + eps)
    return centred * inv_std, inv_std


def layer_norm(
    x: ArrayLike,
    normalized_shape: Shape,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    eps: float = 1e-5,
) -> FloatArray:
    """gamma hat x + beta, normalising over the trailing normalized_shape dimensions."""
    arr, axes, w, b = _prepare(x, normalized_shape, weight, bias)
    y, _ = _normalise(arr, axes, eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def layer_norm_backward(
    grad_out: ArrayLike,
    x: ArrayLike,
    normalized_shape: Shape,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    eps: float = 1e-5,
) -> tuple[FloatArray, FloatArray | None, FloatArray | None]:
    """(dL/dx, dL/dweight, dL/dbias); the last two are None without weight / bias."""
    arr, axes, w, b = _prepare(x, normalized_shape, weight, bias)
    g = _grad(grad_out, arr)
    x_hat, inv_std = _normalise(arr, axes, eps)
    leading = tuple(range(arr.ndim - len(axes)))
    grad_weight = None if w is None else np.sum(g * x_hat, axis=leading)
    grad_bias = None if b is None else np.sum(g, axis=leading)
    gw = g if w is None else g * w
    mean_g = gw.mean(axis=axes, keepdims=True)
    mean_gx = np.mean(gw * x_hat, axis=axes, keepdims=True)
    grad_x: FloatArray = inv_std * (gw - mean_g - x_hat * mean_gx)
    return grad_x, grad_weight, grad_bias


def _grad(grad_out: ArrayLike, x: FloatArray) -> FloatArray:
    g = np.asarray(grad_out, dtype=x.dtype)
    if g.shape != x.shape:
        raise ValueError(f"grad_out has shape {g.shape}, expected x's shape {x.shape}")
    return g


def _inv_rms(x: FloatArray, axes: tuple[int, ...], eps: float | None) -> FloatArray:
    eps = float(np.finfo(x.dtype).eps) if eps is None else eps
    _check_eps(eps)
    inv: FloatArray = 1.0 / np.sqrt(np.mean(x * x, axis=axes, keepdims=True) + eps)
    return inv


def rms_norm(
    x: ArrayLike,
    normalized_shape: Shape,
    weight: ArrayLike | None = None,
    eps: float | None = None,
) -> FloatArray:
    """gamma x / RMS(x) over the trailing normalized_shape dimensions (no centring, no bias)."""
    arr, axes, w, _ = _prepare(x, normalized_shape, weight, None)
    y = arr * _inv_rms(arr, axes, eps)
    return y if w is None else y * w


def rms_norm_backward(
    grad_out: ArrayLike,
    x: ArrayLike,
    normalized_shape: Shape,
    weight: ArrayLike | None = None,
    eps: float | None = None,
) -> tuple[FloatArray, FloatArray | None]:
    """(dL/dx, dL/dweight); the latter None without weight."""
    arr, axes, w, _ = _prepare(x, normalized_shape, weight, None)
    g = _grad(grad_out, arr)
    inv = _inv_rms(arr, axes, eps)
    leading = tuple(range(arr.ndim - len(axes)))
    grad_weight = None if w is None else np.sum(g * arr * inv, axis=leading)
    gw = g if w is None else g * w
    mean_gx = np.mean(gw * arr, axis=axes, keepdims=True)
    grad_x: FloatArray = inv * (gw - arr * inv * inv * mean_gx)
    return grad_x, grad_weight
