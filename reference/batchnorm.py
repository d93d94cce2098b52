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

Implementation: the input is viewed as (N, C, L) and every pass runs over chunks of whole samples
(or pieces of one) of about 256 KiB, so that the several element-wise steps on a chunk find it in
the L2 cache and each large array makes one trip through main memory per pass.  Per-channel sums
are BLAS products with a vector of ones (or einsum for short rows), accumulated in float64.  The
statistics take one pass over x (shifted sums, see ``forward``), the output one more; like torch,
forward keeps a reference to its input rather than hat x, and backward recomputes hat x chunk by
chunk: **do not modify the input array in place between forward and backward.**
"""

import math
from typing import Any, NamedTuple

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
        # Saved by forward for backward (see _Saved).
        self._saved: _Saved | None = None

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
        """y = gamma hat x + beta.  Keeps a reference to x for :meth:`backward` (no copy)."""
        arr = np.asarray(x)
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
        self._check_input(arr)
        dtype = arr.dtype
        x3 = arr.reshape(arr.shape[0], self.num_features, -1)  # (N, C, L); L = 1 for 2-D input
        chunked = _Chunked(x3.shape, dtype)
        count = x3.shape[0] * x3.shape[2]
        use_batch_stats = self.training or self.running_mean is None
        if use_batch_stats:
            if self.training and count == 1:
                raise ValueError(
                    "Expected more than 1 value per channel when training, "
                    f"got input of shape {arr.shape}"
                )
            # Shifted sums: with a shift K near mu_B (the mean of the first chunk), one pass gives
            # the mean d = mu_B - K of c = x - K and sigma_B^2 = mean(c^2) - d^2, and hat x is
            # formed as ((x - K) - d) S.  d is small, so x - mu_B stays accurate even when
            # |mu_B| >> sigma_B (this is the corrected two-pass algorithm when K is the plain mean).
            # Where the shift was poor (|d| > sigma_B: the variance would lose digits to
            # cancellation) a second pass repeats this with K = mu_B.
            with np.errstate(invalid="ignore", divide="ignore"):  # M = 0 gives NaN, as numpy
                head = x3[: chunked.parts[0][0].stop] if chunked.parts else x3
                shift = (chunked.sums(head) / (head.shape[0] * head.shape[2])).astype(dtype)
                for _ in range(2):
                    correction, var = self._shifted_moments(x3, shift, chunked, count)
                    if not np.any(correction * correction > var):
                        break
                    shift = (shift + correction).astype(dtype)
            if self.training and self.running_mean is not None:
                self._update_running_stats(shift + correction, var, count)
        else:
            assert self.running_mean is not None and self.running_var is not None
            var = self.running_var.astype(np.float64)
            shift = self.running_mean.astype(dtype)
            correction = np.zeros(self.num_features)
        inv_std = 1.0 / np.sqrt(var + self.eps)  # S, per channel, float64
        self._saved = _Saved(arr.shape, x3, shift, correction, inv_std, use_batch_stats)
        shift_c = chunked.per_channel(shift)
        out: FloatArray = np.empty(arr.shape, dtype)
        out3 = out.reshape(x3.shape)
        if self.weight is not None and self.bias is not None:
            # y = (x - K) (S gamma) + (beta - d S gamma): three passes over a chunk, not five.
            scale = inv_std * self.weight.astype(np.float64)
            scale_c = chunked.per_channel(scale)
            offset_c = chunked.per_channel(self.bias.astype(np.float64) - correction * scale)
            for part in chunked.parts:
                ch = part[1]
                y = np.subtract(x3[part], shift_c[ch], out=out3[part])
                y *= scale_c[ch]
                y += offset_c[ch]
        else:
            minus_correction_c = chunked.per_channel(-correction)
            inv_std_c = chunked.per_channel(inv_std)
            for part in chunked.parts:
                ch = part[1]
                y = np.subtract(x3[part], shift_c[ch], out=out3[part])
                y += minus_correction_c[ch]
                y *= inv_std_c[ch]
        return out

    __call__ = forward

    def _shifted_moments(
        self, x3: FloatArray, shift: FloatArray, chunked: "_Chunked", count: int
    ) -> tuple[FloatArray, FloatArray]:
        """d = mean(x - K) and the biased variance mean((x - K)^2) - d^2, per channel (float64)."""
        shift_c = chunked.per_channel(shift)
        scratch = chunked.scratch()
        sum_c = np.zeros(self.num_features)
        sum_cc = np.zeros(self.num_features)
        for part in chunked.parts:
            c = np.subtract(x3[part], shift_c[part[1]], out=_like(scratch, x3[part]))
            sum_c[part[1]] += _channel_sums(c, chunked.ones)
            sum_cc[part[1]] += _channel_dots(c, c)
        correction = sum_c / count
        return correction, np.maximum(sum_cc / count - correction * correction, 0.0)

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
        """Gradient w.r.t. the input of the last forward; sets grad_weight and grad_bias.

        Reads that input again: it must not have been modified in place since.
        """
        if self._saved is None:
            raise RuntimeError("backward called before forward")
        shape, x3, shift, correction, inv_std, used_batch_stats = self._saved
        dtype = x3.dtype
        g = np.asarray(grad_out, dtype=dtype)
        if g.shape != shape:
            raise ValueError(f"grad_out has shape {g.shape}, expected {shape}")
        g3 = g.reshape(x3.shape)
        chunked = _Chunked(x3.shape, dtype)
        count = x3.shape[0] * x3.shape[2]
        shift_c = chunked.per_channel(shift)
        scratch = chunked.scratch()
        # Sums over each channel of g and of g (x - K); then sum g hat x = S (sum g c - d sum g).
        grad_bias = np.zeros(self.num_features)  # float64 accumulators
        sum_gc = np.zeros(self.num_features)
        if self.affine or used_batch_stats:
            for part in chunked.parts:
                c = np.subtract(x3[part], shift_c[part[1]], out=_like(scratch, x3[part]))
                grad_bias[part[1]] += _channel_sums(g3[part], chunked.ones)
                sum_gc[part[1]] += _channel_dots(g3[part], c)
        grad_weight = inv_std * (sum_gc - correction * grad_bias)
        scale = inv_std if self.weight is None else inv_std * self.weight.astype(np.float64)
        scale_c = chunked.per_channel(scale)
        grad_in: FloatArray = np.empty(g.shape, dtype)
        gi3 = grad_in.reshape(x3.shape)
        if used_batch_stats:
            # dL/dx = scale (g - mean g - hat x mean(g hat x)) with hat x = (c - d) S, as
            # (g - (c P + Q)) scale: P = S mean(g hat x), Q = mean g - d P.
            slope = inv_std * grad_weight / count
            slope_c = chunked.per_channel(slope)
            intercept_c = chunked.per_channel(grad_bias / count - correction * slope)
            for part in chunked.parts:
                ch = part[1]
                t = np.subtract(x3[part], shift_c[ch], out=_like(scratch, x3[part]))
                t *= slope_c[ch]
                t += intercept_c[ch]
                gi = np.subtract(g3[part], t, out=gi3[part])
                gi *= scale_c[ch]
        else:
            for part in chunked.parts:
                np.multiply(g3[part], scale_c[part[1]], out=gi3[part])
        if self.affine:
            self.grad_weight, self.grad_bias = grad_weight.astype(dtype), grad_bias.astype(dtype)
        return grad_in


class _Saved(NamedTuple):
    """What forward keeps for backward."""

    shape: tuple[int, ...]  # of the input
    x3: FloatArray  # the input, viewed as (N, C, L): a reference, not a copy
    shift: FloatArray  # K per channel, in the input dtype (the running mean in evaluation mode)
    correction: FloatArray  # d = mu - K per channel, float64 (0 in evaluation mode)
    inv_std: FloatArray  # S = 1 / sqrt(sigma^2 + eps) per channel, float64
    used_batch_stats: bool


# Bytes per chunk of the (N, C, L) view.
_CHUNK_BYTES = 1 << 18
# Rows at least this long are summed by BLAS (a matrix-vector product); shorter ones by einsum.
_BLAS_ROW = 16

Part = tuple[slice, slice, slice]  # indexes a chunk of the (N, C, L) view


class _Chunked:
    """Chunks of an (N, C, L) array, in C order, and per-channel vectors laid out to match.

    A chunk is a run of whole samples, else a group of channels of one sample, else a piece of one
    channel.  Per-channel vectors are expanded to (C, L) when a sample's channels fit a chunk: an
    element-wise operation with a same-shaped operand is about twice as fast in NumPy as one that
    broadcasts a (C, 1) column.
    """

    def __init__(self, shape: tuple[int, int, int], dtype: np.dtype[Any]) -> None:
        n, c, length = shape
        self.shape, self.dtype = shape, dtype
        target = max(1, _CHUNK_BYTES // dtype.itemsize)
        every = slice(None)
        self.expand = length <= target
        if c * length <= target:  # runs of whole samples
            rows = max(1, target // max(1, c * length))
            self.parts = [(slice(i, i + rows), every, every) for i in range(0, n, rows)]
        elif self.expand:  # groups of channels of one sample
            group = target // max(1, length)
            self.parts = [
                (slice(i, i + 1), slice(j, j + group), every)
                for i in range(n)
                for j in range(0, c, group)
            ]
        else:  # pieces of one channel of one sample
            self.parts = [
                (slice(i, i + 1), slice(j, j + 1), slice(k, k + target))
                for i in range(n)
                for j in range(c)
                for k in range(0, length, target)
            ]
        self.ones = np.ones(min(length, target), dtype)

    def per_channel(self, v: FloatArray) -> FloatArray:
        """A (C,) vector in the array's dtype, as (C, L) or (C, 1): index it with ``part[1]``."""
        column = v.astype(self.dtype)[:, None]
        if self.expand:
            return np.ascontiguousarray(np.broadcast_to(column, self.shape[1:]))
        return column

    def scratch(self) -> FloatArray:
        """A buffer large enough for any chunk (see :func:`_like`)."""
        target = _CHUNK_BYTES // self.dtype.itemsize
        return np.empty(max(1, min(math.prod(self.shape), target)), self.dtype)

    def sums(self, a3: FloatArray) -> FloatArray:
        """Per-channel sums of an (N, C, L) array, float64."""
        total = np.zeros(self.shape[1])
        for part in self.parts:
            total[part[1]] += _channel_sums(a3[part], self.ones)
        return total


def _like(scratch: FloatArray, chunk: FloatArray) -> FloatArray:
    """The start of a flat scratch buffer, shaped like ``chunk``."""
    return scratch[: chunk.size].reshape(chunk.shape)


def _channel_sums(a: FloatArray, ones: FloatArray) -> FloatArray:
    """Sums over axes 0 and 2 of an (n, c, l) chunk."""
    n, c, length = a.shape
    out: FloatArray
    if length >= _BLAS_ROW:
        out = (a.reshape(n * c, length) @ ones[:length]).reshape(n, c).sum(axis=0)
    else:
        out = np.einsum("ncl->c", a)
    return out


def _channel_dots(a: FloatArray, b: FloatArray) -> FloatArray:
    """Per-channel sums of a * b over axes 0 and 2 of (n, c, l) chunks, without a temporary."""
    out: FloatArray
    if a.shape[2] >= _BLAS_ROW:
        out = np.matmul(a[..., None, :], b[..., :, None])[..., 0, 0].sum(axis=0)
    else:
        out = np.einsum("ncl,ncl->c", a, b)
    return out
