"""Activation functions and their vector-Jacobian products, matching ``torch.nn.functional``.

Papers:

* ReLU: V. Nair, G. E. Hinton, 2010, ICML (no arXiv version).
* Leaky ReLU: A. L. Maas, A. Y. Hannun, A. Y. Ng, 2013, ICML Workshop on Deep Learning for Audio,
  Speech and Language Processing (no arXiv version).
* GELU: D. Hendrycks, K. Gimpel, 2016, arXiv:1606.08415.
* SiLU: S. Elfwing, E. Uchibe, K. Doya, 2018, Neural Networks 107, arXiv:1702.03118 (also
  P. Ramachandran, B. Zoph, Q. V. Le, 2017, "Swish", arXiv:1710.05941).
* Softplus: C. Dugas, Y. Bengio, F. Belisle, C. Nadeau, R. Garcia, 2001, NeurIPS.
* Softmax: J. S. Bridle, 1990, Neurocomputing (NATO ASI Series F68).
* erf / erfc: W. J. Cody, 1969, "Rational Chebyshev approximations for the error function",
  Mathematics of Computation 23(107), 631-637 (the SPECFUN CALERF coefficients).

Equations (sigma is the logistic sigmoid, Phi the standard normal CDF):

* relu(x) = max(x, 0), relu'(0) = 0; leaky_relu(x) = x if x > 0 else negative_slope * x, with
  derivative negative_slope at 0.
* sigmoid(x) = 1 / (1 + exp(-x)), sigmoid' = sigma(x) sigma(-x); tanh' = 1 - tanh^2.
* gelu(x) = x Phi(x) = x/2 erfc(-x / sqrt 2), gelu' = Phi(x) + x phi(x); the "tanh" form is
  x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
* silu(x) = x sigma(x), silu' = sigma(x) (1 + x sigma(-x)).
* softplus(x) = log(1 + exp(beta x)) / beta, and x where beta x > threshold; derivative
  sigma(beta x), and 1 where beta x > threshold.
* softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x); its VJP is y (g - sum(g y)).
  log_softmax(x) = x - max x - log sum exp(x - max x); its VJP is g - softmax(x) sum(g).

Every function is written so that inputs such as +-1000 (and beyond) give finite, correct
results without overflow, invalid-operation or divide-by-zero floating-point events: exponentials
only ever see non-positive arguments, and polynomial arguments are clipped where the function has
already saturated.  Floating-point inputs keep their dtype; other inputs are converted to float64.
A ``*_backward(x, grad_out, ...)`` returns the gradient with respect to x, given the gradient
``grad_out`` with respect to the output.
"""

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "erf",
    "erfc",
    "gelu",
    "gelu_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "log_softmax",
    "log_softmax_backward",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "silu",
    "silu_backward",
    "softmax",
    "softmax_backward",
    "softplus",
    "softplus_backward",
    "tanh",
    "tanh_backward",
]

FloatArray = NDArray[np.floating[Any]]
Approximate = Literal["none", "tanh"]


def _as_float(x: ArrayLike) -> FloatArray:
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def _as_grad(x: FloatArray, grad_out: ArrayLike) -> FloatArray:
    g = np.asarray(grad_out, dtype=x.dtype)
    if g.shape != x.shape:
        raise ValueError(f"grad_out has shape {g.shape}, expected the input's shape {x.shape}")
    return g


# --- erf and erfc (Cody 1969) -----------------------------------------------------------------

# erf(x) = x P(x^2) / Q(x^2) on |x| <= 0.46875.
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)  # fmt: skip
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)  # fmt: skip
# erfc(y) = exp(-y^2) P(y) / Q(y) on 0.46875 < y <= 4.
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)  # fmt: skip
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)  # fmt: skip
# erfc(y) = exp(-y^2) / y (1/sqrt(pi) + y^-2 P(y^-2) / Q(y^-2)) on y > 4.
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)  # fmt: skip
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)  # fmt: skip
_ONE_OVER_SQRT_PI = 5.6418958354775628695e-1
_ERF_SMALL = 0.46875
_ERFC_UNDERFLOW = 27.3  # erfc(y) < 2.5e-326, half the smallest subnormal, beyond this


def _erf_small(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """erf(x) for |x| <= 0.46875."""
    z = x * x
    num, den = _A[4] * z, z
    for a, b in zip(_A[:3], _B[:3], strict=True):
        num = (num + a) * z
        den = (den + b) * z
    result: NDArray[np.float64] = x * (num + _A[3]) / (den + _B[3])
    return result


def _erfc_positive(y: NDArray[np.float64]) -> NDArray[np.float64]:
    """erfc(y) for y > 0.46875 (NaN propagates)."""
    result = np.empty_like(y)
    middle = y <= 4.0
    ym = y[middle]
    num, den = _C[8] * ym, ym
    for c, d in zip(_C[:7], _D[:7], strict=True):
        num = (num + c) * ym
        den = (den + d) * ym
    result[middle] = (num + _C[7]) / (den + _D[7])

    tail = ~middle
    yt = np.minimum(y[tail], _ERFC_UNDERFLOW)  # larger values are set to 0 below
    z = 1.0 / (yt * yt)
    num, den = _P[5] * z, z
    for p, q in zip(_P[:4], _Q[:4], strict=True):
        num = (num + p) * z
        den = (den + q) * z
    result[tail] = (_ONE_OVER_SQRT_PI - z * (num + _P[4]) / (den + _Q[4])) / yt

    # exp(-y^2) = exp(-(y - s)(y + s)) exp(-s^2) with s = y rounded down to 1/16: s^2 is exact,
    # so the large exponent carries no rounding error.  The tiny factor comes last, so results
    # in the subnormal range (y > 26.55) are rounded once.
    yc = np.minimum(y, _ERFC_UNDERFLOW)
    s = np.trunc(yc * 16.0) / 16.0
    result *= np.exp(-(yc - s) * (yc + s))
    result *= np.exp(-s * s)
    result[y >= _ERFC_UNDERFLOW] = 0.0
    return result


def erf(x: ArrayLike) -> FloatArray:
    """The error function, accurate to about one ulp in float64 (Cody 1969)."""
    arr = _as_float(x)
    x64 = arr.astype(np.float64)
    result = np.empty_like(x64)
    small = np.abs(x64) <= _ERF_SMALL
    result[small] = _erf_small(x64[small])
    large = ~small
    r = _erfc_positive(np.abs(x64[large]))
    result[large] = np.copysign((0.5 - r) + 0.5, x64[large])
    return result.astype(arr.dtype, copy=False)


def erfc(x: ArrayLike) -> FloatArray:
    """The complementary error function 1 - erf(x), with full relative accuracy in the tail."""
    arr = _as_float(x)
    x64 = arr.astype(np.float64)
    result = np.empty_like(x64)
    small = np.abs(x64) <= _ERF_SMALL
    result[small] = 1.0 - _erf_small(x64[small])
    large = ~small
    r = _erfc_positive(np.abs(x64[large]))
    result[large] = np.where(x64[large] < 0, 2.0 - r, r)
    return result.astype(arr.dtype, copy=False)


# --- element-wise activations -----------------------------------------------------------------


def relu(x: ArrayLike) -> FloatArray:
    arr = _as_float(x)
    return np.maximum(arr, 0)


def relu_backward(x: ArrayLike, grad_out: ArrayLike) -> FloatArray:
    arr = _as_float(x)
    g = _as_grad(arr, grad_out)
    return np.where(arr > 0, g, 0)


def leaky_relu(x: ArrayLike, negative_slope: float = 0.01) -> FloatArray:
    arr = _as_float(x)
    return np.where(arr > 0, arr, arr * negative_slope)


def leaky_relu_backward(
    x: ArrayLike, grad_out: ArrayLike, negative_slope: float = 0.01
) -> FloatArray:
    arr = _as_float(x)
    g = _as_grad(arr, grad_out)
    return np.where(arr > 0, g, g * negative_slope)


def _sigmoid_pair(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(sigma(x), sigma(-x)), both to full relative accuracy: with e = exp(-|x|) in (0, 1],
    sigma(|x|) = 1 / (1 + e) and sigma(-|x|) = e / (1 + e)."""
    e = np.exp(-np.abs(x))
    one_plus_e = 1 + e
    big = 1 / one_plus_e
    small = e / one_plus_e
    positive = x >= 0
    return np.where(positive, big, small), np.where(positive, small, big)


def sigmoid(x: ArrayLike) -> FloatArray:
    return _sigmoid_pair(_as_float(x))[0]


def sigmoid_backward(x: ArrayLike, grad_out: ArrayLike) -> FloatArray:
    arr = _as_float(x)
    s, s_neg = _sigmoid_pair(arr)
    return _as_grad(arr, grad_out) * s * s_neg


def tanh(x: ArrayLike) -> FloatArray:
    return np.tanh(_as_float(x))


def tanh_backward(x: ArrayLike, grad_out: ArrayLike) -> FloatArray:
    """1 - tanh(x)^2 = 4 e / (1 + e)^2 with e = exp(-2|x|), accurate also where tanh(x) ~ +-1."""
    arr = _as_float(x)
    e = np.exp(-2 * np.abs(arr))
    sech_sq: FloatArray = 4 * e / ((1 + e) * (1 + e))
    return _as_grad(arr, grad_out) * sech_sq


def silu(x: ArrayLike) -> FloatArray:
    arr = _as_float(x)
    return arr * _sigmoid_pair(arr)[0]


def silu_backward(x: ArrayLike, grad_out: ArrayLike) -> FloatArray:
    arr = _as_float(x)
    s, s_neg = _sigmoid_pair(arr)
    return _as_grad(arr, grad_out) * (s * (1 + arr * s_neg))


# GELU constants as in torch: 1/sqrt(2), 1/sqrt(2 pi) and sqrt(2/pi).
_SQRT1_2 = 0.70710678118654752440
_INV_SQRT_2PI = 0.39894228040143267794
_SQRT_2_OVER_PI = 0.79788456080286535588
_KAPPA = 0.044715
# |x| beyond which every term of the GELU is saturated (tanh(inner) is exactly +-1 past |x| ~ 6;
# exp(-x^2/2) underflows past |x| ~ 39); clipping there keeps x^2 and x^3 finite.
_GELU_CLIP = 100.0


def _check_approximate(approximate: str) -> None:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")


def gelu(x: ArrayLike, approximate: Approximate = "none") -> FloatArray:
    _check_approximate(approximate)
    arr = _as_float(x)
    if approximate == "tanh":
        xc = np.clip(arr, -_GELU_CLIP, _GELU_CLIP)
        inner = _SQRT_2_OVER_PI * (xc + _KAPPA * (xc * xc * xc))
        out: FloatArray = 0.5 * arr * (1 + np.tanh(inner))
        return out
    # x Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2: no cancellation for negative x.
    return 0.5 * arr * erfc(-arr * _SQRT1_2)


def gelu_backward(
    x: ArrayLike, grad_out: ArrayLike, approximate: Approximate = "none"
) -> FloatArray:
    _check_approximate(approximate)
    arr = _as_float(x)
    g = _as_grad(arr, grad_out)
    xc = np.clip(arr, -_GELU_CLIP, _GELU_CLIP)
    if approximate == "tanh":
        x_sq = xc * xc
        t = np.tanh(_SQRT_2_OVER_PI * (xc + _KAPPA * (x_sq * xc)))
        inner_derivative = _SQRT_2_OVER_PI * (1 + 3 * _KAPPA * x_sq)
        derivative: FloatArray = 0.5 * (1 + t) + (0.5 * xc) * (1 - t * t) * inner_derivative
        return g * derivative
    cdf = 0.5 * erfc(-arr * _SQRT1_2)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * (xc * xc))
    return g * (cdf + xc * pdf)


def _check_beta(beta: float) -> None:
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero")


def softplus(x: ArrayLike, beta: float = 1.0, threshold: float = 20.0) -> FloatArray:
    _check_beta(beta)
    arr = _as_float(x)
    z = arr * beta
    # log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)): exp never overflows.
    smooth = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta
    return np.where(z > threshold, arr, smooth)


def softplus_backward(
    x: ArrayLike, grad_out: ArrayLike, beta: float = 1.0, threshold: float = 20.0
) -> FloatArray:
    _check_beta(beta)
    arr = _as_float(x)
    g = _as_grad(arr, grad_out)
    z = arr * beta
    return np.where(z > threshold, g, g * _sigmoid_pair(z)[0])


# --- softmax ----------------------------------------------------------------------------------


def _shifted(x: FloatArray, axis: int) -> FloatArray:
    """x - max(x) along axis, so that every exponential is at most 1."""
    out: FloatArray = x - np.max(x, axis=axis, keepdims=True)
    return out


def softmax(x: ArrayLike, axis: int = -1) -> FloatArray:
    e = np.exp(_shifted(_as_float(x), axis))
    out: FloatArray = e / np.sum(e, axis=axis, keepdims=True)
    return out


def softmax_backward(x: ArrayLike, grad_out: ArrayLike, axis: int = -1) -> FloatArray:
    arr = _as_float(x)
    g = _as_grad(arr, grad_out)
    y = softmax(arr, axis)
    out: FloatArray = y * (g - np.sum(g * y, axis=axis, keepdims=True))
    return out


def log_softmax(x: ArrayLike, axis: int = -1) -> FloatArray:
    shifted = _shifted(_as_float(x), axis)
    out: FloatArray = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return out


def log_softmax_backward(x: ArrayLike, grad_out: ArrayLike, axis: int = -1) -> FloatArray:
    arr = _as_float(x)
    g = _as_grad(arr, grad_out)
    out: FloatArray = g - softmax(arr, axis) * np.sum(g, axis=axis, keepdims=True)
    return out
