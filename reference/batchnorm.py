"""Batch normalisation with a hand-written backward pass, matching ``torch.nn.BatchNorm{1,2}d``.

Paper: S. Ioffe, C. Szegedy, 2015, "Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift", ICML, arXiv:1502.03167.

For an input of shape (N, C), (N, C, L) or (N, C, H, W), statistics are taken per channel over the
M = N, N L or N H W values of that channel.  In training (and always when running statistics are
not tracked):

    mu_B = (1/M) sum_i x_i,    sigma_B^2 = (1/M) sum_i (x_i - mu_B)^2   (biased),
    hat x_i = (x_i - mu_B) / sqrt(sigma_B^2 + eps),    y_i = gamma hat x_i + beta,

with gamma the weight and beta the bias (gamma = 1, beta = 0 when ``affine=False``).  The running
statistics follow r <- (1 - momentum) r + momentum s, using the *unbiased* variance
sigma_B^2 M / (M - 1) for ``running_var``; ``momentum=None`` gives the cumulative average,
momentum = 1 / num_batches_tracked.  In evaluation mode the running statistics replace
mu_B and sigma_B^2.

Backward, with g = dL/dy and S = 1/sqrt(sigma^2 + eps) per channel:

    dL/dbeta = sum_i g_i,    dL/dgamma = sum_i g_i hat x_i,
    dL/dx_i = gamma S (g_i - (1/M) dL/dbeta - hat x_i (1/M) dL/dgamma)   (batch statistics),
    dL/dx_i = gamma S g_i                                                (running statistics).
"""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = ["BatchNorm"]

FloatArray = NDArray[np.floating[Any]]


class BatchNorm:
    """Batch normalisation over the channel axis 1 of 2-D, 3-D or 4-D inputs."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype: DTypeLike = np.float64,
    ) -> None:
        if isinstance(num_features, bool) or not isinstance(num_features, int | np.integer):
            raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
        if num_features < 1:
            raise ValueError(f"num_features must be a positive integer, got {num_features}")
        if not eps >= 0.0:
            raise ValueError(f"eps must be non-negative, got {eps}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum}")
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.training = True
        self.weight: FloatArray | None = np.ones(num_features, dtype) if affine else None
        self.bias: FloatArray | None = np.zeros(num_features, dtype) if affine else None
        self.grad_weight: FloatArray | None = None
        self.grad_bias: FloatArray | None = None
        self.running_mean: FloatArray | None = None
        self.running_var: FloatArray | None = None
        self.num_batches_tracked: int | None = None
        if track_running_stats:
            self.running_mean = np.zeros(num_features, dtype)
            self.running_var = np.ones(num_features, dtype)
            self.num_batches_tracked = 0
        # Saved by forward for backward: hat x, S = 1/sqrt(sigma^2 + eps), batch statistics used?
        self._saved: tuple[FloatArray, FloatArray, bool] | None = None

    def train(self, mode: bool = True) -> "BatchNorm":
        self.training = mode
        return self

    def eval(self) -> "BatchNorm":
        return self.train(False)

    def reset_running_stats(self) -> None:
        if self.running_mean is not None and self.running_var is not None:
            self.running_mean[...] = 0.0
            self.running_var[...] = 1.0
            self.num_batches_tracked = 0

    def _per_channel(self, v: FloatArray, ndim: int) -> FloatArray:
        """Reshape a (C,) vector to broadcast against an (N, C, ...) array."""
        return v.reshape((1, self.num_features) + (1,) * (ndim - 2))

    def _check_input(self, x: FloatArray) -> None:
        if x.ndim not in (2, 3, 4):
            raise ValueError(
                f"expected a 2-D (N, C), 3-D (N, C, L) or 4-D (N, C, H, W) input, "
                f"got shape {x.shape}"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"expected {self.num_features} channels (num_features) in dimension 1, "
                f"got input of shape {x.shape}"
            )

    def forward(self, x: ArrayLike) -> FloatArray:
        arr = np.asarray(x)
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
        self._check_input(arr)
        axes = (0, *range(2, arr.ndim))
        count = arr.size // self.num_features
        use_batch_stats = self.training or self.running_mean is None
        if use_batch_stats:
            if self.training and count == 1:
                raise ValueError(
                    "Expected more than 1 value per channel when training, "
                    f"got input of shape {arr.shape}"
                )
            # Corrected two-pass algorithm: the mean of the centred values is the rounding error
            # of the first mean, so x - mu_B stays accurate when |mu_B| >> sigma_B.
            mean = arr.mean(axis=axes, keepdims=True)
            centered = arr - mean
            correction = centered.mean(axis=axes, keepdims=True)
            centered -= correction
            mean += correction
            var = np.mean(centered * centered, axis=axes, keepdims=True)
            if self.training and self.running_mean is not None:
                self._update_running_stats(mean.reshape(-1), var.reshape(-1), count)
        else:
            assert self.running_mean is not None and self.running_var is not None
            centered = arr - self._per_channel(self.running_mean, arr.ndim).astype(arr.dtype)
            var = self._per_channel(self.running_var, arr.ndim).astype(arr.dtype)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat: FloatArray = centered * inv_std
        self._saved = (x_hat, inv_std.reshape(-1), use_batch_stats)
        if self.weight is None or self.bias is None:
            return x_hat
        weight = self._per_channel(self.weight, arr.ndim).astype(arr.dtype)
        bias = self._per_channel(self.bias, arr.ndim).astype(arr.dtype)
        out: FloatArray = x_hat * weight + bias
        return out

    __call__ = forward

    def _update_running_stats(self, mean: FloatArray, var: FloatArray, count: int) -> None:
        assert self.running_mean is not None and self.running_var is not None
        assert self.num_batches_tracked is not None
        self.num_batches_tracked += 1
        factor = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
        unbiased_var = var * (count / (count - 1))
        self.running_mean *= 1 - factor
        self.running_mean += factor * mean
        self.running_var *= 1 - factor
        self.running_var += factor * unbiased_var

    def backward(self, grad_out: ArrayLike) -> FloatArray:
        """Gradient w.r.t. the input of the last forward; sets grad_weight and grad_bias."""
        if self._saved is None:
            raise RuntimeError("backward called before forward")
        x_hat, inv_std, used_batch_stats = self._saved
        g = np.asarray(grad_out, dtype=x_hat.dtype)
        if g.shape != x_hat.shape:
            raise ValueError(f"grad_out has shape {g.shape}, expected {x_hat.shape}")
        axes = (0, *range(2, g.ndim))
        grad_bias = g.sum(axis=axes)
        grad_weight = (g * x_hat).sum(axis=axes)
        scale = inv_std if self.weight is None else inv_std * self.weight.astype(g.dtype)
        if used_batch_stats:
            count = g.size // self.num_features
            mean_g = self._per_channel(grad_bias / count, g.ndim)
            mean_g_x_hat = self._per_channel(grad_weight / count, g.ndim)
            grad_in: FloatArray = (g - mean_g - x_hat * mean_g_x_hat) * self._per_channel(
                scale, g.ndim
            )
        else:
            grad_in = g * self._per_channel(scale, g.ndim)
        if self.affine:
            self.grad_weight, self.grad_bias = grad_weight, grad_bias
        return grad_in
