"""Loss functions and their gradients with respect to the input, matching ``torch.nn.functional``.

Papers:

* Cross-entropy / negative log-likelihood of a softmax: J. S. Bridle, 1990, "Probabilistic
  Interpretation of Feedforward Classification Network Outputs", Neurocomputing (NATO ASI Series
  F68), DOI 10.1007/978-3-642-76153-9_28.
* Label smoothing: C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna, 2016, "Rethinking the
  Inception Architecture for Computer Vision", CVPR, arXiv:1512.00567.
* Huber loss: P. J. Huber, 1964, "Robust Estimation of a Location Parameter", Annals of
  Mathematical Statistics 35(1), 73-101, DOI 10.1214/aoms/1177703732.
* Kullback-Leibler divergence: S. Kullback, R. A. Leibler, 1951, "On Information and
  Sufficiency", Annals of Mathematical Statistics 22(1), 79-86, DOI 10.1214/aoms/1177729694.

Equations (x the input, y the target, w the class weights, reductions below):

* cross_entropy: with log p = log_softmax(x) over the class axis 1 and smoothing eps over C
  classes, every loss is l = -sum_c a_c log p_c for coefficients a: for a class index t,
  a_c = (1 - eps) w_t [c = t] + (eps / C) w_c (a = 0 where t = ignore_index); for class
  probabilities y, a_c = w_c ((1 - eps) y_c + eps / C).  Its gradient is
  dl/dx_c = p_c sum_k a_k - a_c.  "mean" divides the sum by sum w_t over the non-ignored targets
  (by the number of targets for probabilities), as torch.
* nll_loss: l = -w_t x_t, mean divided by sum w_t over the non-ignored targets.
* mse_loss: l = (x - y)^2; l1_loss: l = |x - y| (derivative sign(x - y), 0 at 0);
  huber_loss: l = d^2 / 2 if |d| < delta else delta (|d| - delta / 2), d = x - y, derivative
  clip(d, -delta, delta).
* binary_cross_entropy_with_logits: l = w ((1 - y) x + (1 + (p_w - 1) y) softplus(-x)), p_w the
  pos_weight; derivative w ((1 - y) - (1 + (p_w - 1) y) sigmoid(-x)).
* kl_div (x = log q): l = y (log y - x) (0 where y = 0), or exp(y) (y - x) with log_target;
  derivative -y, or -exp(y).

Reductions: "none" keeps the per-element loss, "sum" adds it, "mean" divides the sum by the count
(the weight sums above for cross_entropy and nll_loss), "batchmean" (kl_div only) by the batch
size x.shape[0].  Every ``<name>_backward(grad_output, input, target, ...)`` takes the gradient of
the reduced loss (a scalar, or the unreduced shape for "none") and returns dL/dinput.

Logits of +-1000 give finite results without overflow, invalid or divide-by-zero floating-point
events: softplus and the softmax go through their shifted, stable forms.
"""

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reference.activations import log_softmax, sigmoid, softmax

__all__ = [
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
    "cross_entropy",
    "cross_entropy_backward",
    "huber_loss",
    "huber_loss_backward",
    "kl_div",
    "kl_div_backward",
    "l1_loss",
    "l1_loss_backward",
    "mse_loss",
    "mse_loss_backward",
    "nll_loss",
    "nll_loss_backward",
]

FloatArray = NDArray[np.floating[Any]]
Reduction = Literal["none", "mean", "sum"]
KLReduction = Literal["none", "mean", "sum", "batchmean"]
_REDUCTIONS = ("none", "mean", "sum")


# --- shared: arguments and reductions -------------------------------------------------------------


def _as_float(x: ArrayLike) -> FloatArray:
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if arr.ndim == 0:
        raise ValueError("input must have at least one dimension")
    return arr


def _like(value: ArrayLike | None, x: FloatArray, name: str) -> FloatArray | None:
    """value in x's dtype, checked to broadcast against x (None stays None)."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=x.dtype)
    try:
        np.broadcast_shapes(arr.shape, x.shape)
    except ValueError:
        raise ValueError(f"{name} of shape {arr.shape} does not broadcast to {x.shape}") from None
    return arr


def _same_shape(target: ArrayLike, x: FloatArray) -> FloatArray:
    y = np.asarray(target, dtype=x.dtype)
    if y.shape != x.shape:
        raise ValueError(f"target has shape {y.shape}, expected the input's shape {x.shape}")
    return y


def _check_reduction(reduction: str, allowed: tuple[str, ...] = _REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")


def _reduce(loss: FloatArray, reduction: str, denominator: Any) -> FloatArray:
    """The loss unreduced, summed, or summed over ``denominator`` (0-d results keep the dtype)."""
    if reduction == "none":
        return loss
    total = loss.sum(dtype=loss.dtype)
    if reduction == "sum":
        return np.asarray(total)
    with np.errstate(
        invalid="ignore", divide="ignore"
    ):  # 0 / 0 = NaN when all are ignored, as torch
        out: FloatArray = np.asarray(total / np.asarray(denominator, loss.dtype))
    return out


def _grad_scale(
    grad_output: ArrayLike, reduction: str, shape: tuple[int, ...], denominator: Any, dtype: Any
) -> FloatArray:
    """dL/dl for each unreduced loss l, broadcastable to ``shape``."""
    g = np.asarray(grad_output, dtype=dtype)
    expected = shape if reduction == "none" else ()
    if g.shape != expected:
        raise ValueError(
            f"grad_output has shape {g.shape}, expected {expected} for reduction={reduction!r}"
        )
    if reduction in ("none", "sum"):
        return g
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = g / np.asarray(denominator, dtype)
    return out


# --- cross-entropy and negative log-likelihood ----------------------------------------------------


def _class_coefficients(
    x: FloatArray,
    target: ArrayLike,
    weight: ArrayLike | None,
    ignore_index: int,
    label_smoothing: float,
) -> tuple[FloatArray, Any]:
    """The coefficients a (x's shape) of l = -sum_c a_c log p_c, and the "mean" denominator."""
    if x.ndim < 2:
        raise ValueError(f"input must be (N, C) or (N, C, d1, ...), got shape {x.shape}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    n_classes = x.shape[1]
    class_shape = (1, n_classes) + (1,) * (x.ndim - 2)
    w = None
    if weight is not None:
        w = np.asarray(weight, dtype=x.dtype)
        if w.shape != (n_classes,):
            raise ValueError(f"weight must have shape ({n_classes},), got {w.shape}")
    t = np.asarray(target)
    smooth = label_smoothing / n_classes
    if np.issubdtype(t.dtype, np.floating):  # class probabilities
        probs = _same_shape(t, x)
        coef = (1.0 - label_smoothing) * probs + smooth
        if w is not None:
            coef = coef * w.reshape(class_shape)
        return coef.astype(x.dtype, copy=False), x.size // n_classes
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(
            f"target must hold class indices (integers) or probabilities, got {t.dtype}"
        )
    if t.shape != (x.shape[0], *x.shape[2:]):
        raise ValueError(
            f"target of class indices must have shape {(x.shape[0], *x.shape[2:])}, got {t.shape}"
        )
    kept = t != ignore_index
    if np.any(kept & ((t < 0) | (t >= n_classes))):
        raise ValueError(f"target holds a class index outside [0, {n_classes}) (not ignore_index)")
    safe = np.where(kept, t, 0)
    one_hot = (np.arange(n_classes).reshape(class_shape) == safe[:, None]).astype(x.dtype)
    w_row = np.ones(n_classes, x.dtype) if w is None else w
    picked = w_row[safe] * kept  # w_t, 0 where ignored
    coef = (1.0 - label_smoothing) * one_hot * picked[:, None]
    if label_smoothing > 0:
        coef += smooth * w_row.reshape(class_shape) * kept[:, None]
    return coef, picked.sum(dtype=x.dtype)


def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
) -> FloatArray:
    """Softmax cross-entropy of logits (N, C, ...) against class indices or class probabilities."""
    _check_reduction(reduction)
    x = _as_float(input)
    coef, denominator = _class_coefficients(x, target, weight, ignore_index, label_smoothing)
    loss: FloatArray = -np.sum(coef * log_softmax(x, axis=1), axis=1)
    return _reduce(loss, reduction, denominator)


def cross_entropy_backward(
    grad_output: ArrayLike,
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
) -> FloatArray:
    """dL/dinput of :func:`cross_entropy`: (p sum_k a_k - a) times dL/dl."""
    _check_reduction(reduction)
    x = _as_float(input)
    coef, denominator = _class_coefficients(x, target, weight, ignore_index, label_smoothing)
    unreduced = (x.shape[0], *x.shape[2:])
    scale = _grad_scale(grad_output, reduction, unreduced, denominator, x.dtype)
    p = softmax(x, axis=1)
    grad: FloatArray = (p * coef.sum(axis=1, keepdims=True) - coef) * _per_class(scale)
    return grad


def _per_class(scale: FloatArray) -> FloatArray:
    """dL/dl (N, d1, ...) as (N, 1, d1, ...) against the class axis; a scalar stays one."""
    return scale if scale.ndim == 0 else np.expand_dims(scale, 1)


def _nll_coefficients(
    x: FloatArray, target: ArrayLike, weight: ArrayLike | None, ignore_index: int
) -> tuple[FloatArray, Any]:
    if not np.issubdtype(np.asarray(target).dtype, np.integer):
        raise ValueError("target must hold class indices (integers)")
    return _class_coefficients(x, target, weight, ignore_index, 0.0)


def nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> FloatArray:
    """Negative log-likelihood -w_t input[t] of log-probabilities (N, C, ...) and class indices."""
    _check_reduction(reduction)
    x = _as_float(input)
    coef, denominator = _nll_coefficients(x, target, weight, ignore_index)
    return _reduce(-np.sum(coef * x, axis=1), reduction, denominator)


def nll_loss_backward(
    grad_output: ArrayLike,
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> FloatArray:
    """dL/dinput of :func:`nll_loss`: -w_t at the target class, 0 elsewhere, times dL/dl."""
    _check_reduction(reduction)
    x = _as_float(input)
    coef, denominator = _nll_coefficients(x, target, weight, ignore_index)
    scale = _grad_scale(grad_output, reduction, (x.shape[0], *x.shape[2:]), denominator, x.dtype)
    grad: FloatArray = -coef * _per_class(scale)
    return grad


# --- regression losses ----------------------------------------------------------------------------


def _pointwise(
    input: ArrayLike, target: ArrayLike, reduction: str
) -> tuple[FloatArray, FloatArray]:
    _check_reduction(reduction)
    x = _as_float(input)
    return x, x - _same_shape(target, x)


def mse_loss(input: ArrayLike, target: ArrayLike, reduction: Reduction = "mean") -> FloatArray:
    """Squared error (input - target)^2."""
    x, d = _pointwise(input, target, reduction)
    return _reduce(d * d, reduction, x.size)


def mse_loss_backward(
    grad_output: ArrayLike, input: ArrayLike, target: ArrayLike, reduction: Reduction = "mean"
) -> FloatArray:
    x, d = _pointwise(input, target, reduction)
    grad: FloatArray = 2 * d * _grad_scale(grad_output, reduction, x.shape, x.size, x.dtype)
    return grad


def l1_loss(input: ArrayLike, target: ArrayLike, reduction: Reduction = "mean") -> FloatArray:
    """Absolute error |input - target|."""
    x, d = _pointwise(input, target, reduction)
    return _reduce(np.abs(d), reduction, x.size)


def l1_loss_backward(
    grad_output: ArrayLike, input: ArrayLike, target: ArrayLike, reduction: Reduction = "mean"
) -> FloatArray:
    x, d = _pointwise(input, target, reduction)
    grad: FloatArray = np.sign(d) * _grad_scale(grad_output, reduction, x.shape, x.size, x.dtype)
    return grad


def _check_delta(delta: float) -> None:
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta}")


def huber_loss(
    input: ArrayLike, target: ArrayLike, reduction: Reduction = "mean", delta: float = 1.0
) -> FloatArray:
    """Quadratic within delta of the target, linear (slope delta) beyond."""
    _check_delta(delta)
    x, d = _pointwise(input, target, reduction)
    a = np.abs(d)
    loss = np.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta)).astype(x.dtype, copy=False)
    return _reduce(loss, reduction, x.size)


def huber_loss_backward(
    grad_output: ArrayLike,
    input: ArrayLike,
    target: ArrayLike,
    reduction: Reduction = "mean",
    delta: float = 1.0,
) -> FloatArray:
    _check_delta(delta)
    x, d = _pointwise(input, target, reduction)
    scale = _grad_scale(grad_output, reduction, x.shape, x.size, x.dtype)
    grad: FloatArray = np.clip(d, -delta, delta).astype(x.dtype, copy=False) * scale
    return grad


# --- binary cross-entropy on logits ---------------------------------------------------------------


def _bce_parts(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None,
    reduction: str,
    pos_weight: ArrayLike | None,
) -> tuple[FloatArray, FloatArray, FloatArray | None, FloatArray]:
    """x, y, the weight, and the factor 1 + (p_w - 1) y of softplus(-x)."""
    _check_reduction(reduction)
    x = _as_float(input)
    y = _same_shape(target, x)
    w = _like(weight, x, "weight")
    pw = _like(pos_weight, x, "pos_weight")
    log_weight = np.ones_like(x) if pw is None else 1.0 + (pw - 1.0) * y
    return x, y, w, log_weight


def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
    pos_weight: ArrayLike | None = None,
) -> FloatArray:
    """-w (p_w y log sigmoid(x) + (1 - y) log sigmoid(-x)), in a form stable for any logit."""
    x, y, w, log_weight = _bce_parts(input, target, weight, reduction, pos_weight)
    softplus_neg = np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))  # log(1 + exp(-x))
    loss = (1 - y) * x + log_weight * softplus_neg
    if w is not None:
        loss = loss * w
    return _reduce(loss.astype(x.dtype, copy=False), reduction, x.size)


def binary_cross_entropy_with_logits_backward(
    grad_output: ArrayLike,
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
    pos_weight: ArrayLike | None = None,
) -> FloatArray:
    x, y, w, log_weight = _bce_parts(input, target, weight, reduction, pos_weight)
    grad = (1 - y) - log_weight * sigmoid(-x)
    if w is not None:
        grad = grad * w
    out: FloatArray = grad * _grad_scale(grad_output, reduction, x.shape, x.size, x.dtype)
    return out


# --- Kullback-Leibler divergence ------------------------------------------------------------------


def _kl_parts(
    input: ArrayLike, target: ArrayLike, reduction: str
) -> tuple[FloatArray, FloatArray, Any]:
    _check_reduction(reduction, (*_REDUCTIONS, "batchmean"))
    x = _as_float(input)
    denominator = x.shape[0] if reduction == "batchmean" else x.size
    return x, _same_shape(target, x), denominator


def kl_div(
    input: ArrayLike,
    target: ArrayLike,
    reduction: KLReduction = "mean",
    log_target: bool = False,
) -> FloatArray:
    """Pointwise KL divergence y (log y - x) of log-probabilities x from the target y."""
    x, y, denominator = _kl_parts(input, target, reduction)
    if log_target:
        loss = np.exp(y) * (y - x)
    else:
        # xlogy(y, y) - y x, as torch: y log y is 0 where y = 0 and NaN where y < 0.
        log_y = np.log(y, out=np.zeros_like(y), where=y > 0)
        loss = np.where(y < 0, np.nan, y * log_y) - y * x
    kind = "mean" if reduction == "batchmean" else reduction
    return _reduce(loss.astype(x.dtype, copy=False), kind, denominator)


def kl_div_backward(
    grad_output: ArrayLike,
    input: ArrayLike,
    target: ArrayLike,
    reduction: KLReduction = "mean",
    log_target: bool = False,
) -> FloatArray:
    x, y, denominator = _kl_parts(input, target, reduction)
    scale = _grad_scale(
        grad_output,
        "mean" if reduction == "batchmean" else reduction,
        x.shape,
        denominator,
        x.dtype,
    )
    grad: FloatArray = -(np.exp(y) if log_target else y) * scale
    return grad
