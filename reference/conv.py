"""2-D convolution and pooling with hand-written backward passes, matching ``torch.nn.functional``.

Papers:

* Convolutional networks trained by backpropagation: Y. LeCun, B. Boser, J. S. Denker,
  D. Henderson, R. E. Howard, W. Hubbard, L. D. Jackel, 1989, "Backpropagation Applied to
  Handwritten Zip Code Recognition", Neural Computation 1(4), 541-551,
  DOI 10.1162/neco.1989.1.4.541.
* Subsampling (average pooling): Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, 1998, "Gradient-Based
  Learning Applied to Document Recognition", Proceedings of the IEEE 86(11), DOI 10.1109/5.726791.
* Max pooling: D. Scherer, A. Mueller, S. Behnke, 2010, "Evaluation of Pooling Operations in
  Convolutional Architectures for Object Recognition", ICANN, DOI 10.1007/978-3-642-15825-4_10.
* Convolution as one matrix product (im2col): K. Chellapilla, S. Puri, P. Simard, 2006, "High
  Performance Convolutional Neural Networks for Document Processing", IWFHR (no DOI or arXiv id).

Equations, for an input x (N, C_in, H, W) zero-padded by (p_h, p_w), weight W (C_out, C_in/G, k_h,
k_w), stride s, dilation d and G groups (output channel o reads the input channels of its group):

    y[n, o, i, j] = b[o] + sum_{c, u, v} W[o, c, u, v] x[n, g(o) C_in/G + c, s_h i + d_h u - p_h,
                                                           s_w j + d_w v - p_w],
    H_out = floor((H + 2 p_h - d_h (k_h - 1) - 1) / s_h) + 1   (W_out alike).

Written with the patch matrix X_col[(n, i, j), (c, u, v)] (im2col) of one group, y = X_col W^T + b
is one matrix product, and so are the gradients: dL/dW = g^T X_col, dL/dX_col = g W, dL/db = sum g;
dL/dx adds every patch row back where it was read (col2im).

Max pooling takes the largest value of each window (padding counts as -inf); its gradient goes to
that one input, the first maximum in row-major window order on ties.  Average pooling divides the
window's sum by k_h k_w when ``count_include_pad`` (only the part of a window that overhangs the
padded input under ``ceil_mode`` is left out), else by the number of input values it covers; its
gradient spreads g / divisor over the window.

Implementation: windows are strided views of the padded input (no copy until the patch matrix is
formed); Python loops run over the k_h k_w kernel offsets only, never over pixels.
"""

from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "avg_pool2d",
    "avg_pool2d_backward",
    "conv2d",
    "conv2d_backward",
    "max_pool2d",
    "max_pool2d_backward",
]

FloatArray = NDArray[np.floating[Any]]
Pair = int | tuple[int, int]
Padding = Pair | Literal["valid", "same"]


# --- argument checks ------------------------------------------------------------------------------


def _pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    items = tuple(value) if isinstance(value, tuple | list) else (value, value)
    if len(items) != 2 or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= minimum for v in items
    ):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(items[0]), int(items[1])


def _as_float(x: ArrayLike, name: str, ndim: int = 4) -> FloatArray:
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return arr


def _as_grad(grad_out: ArrayLike, shape: tuple[int, ...], dtype: np.dtype[Any]) -> FloatArray:
    g = np.asarray(grad_out, dtype=dtype)
    if g.shape != shape:
        raise ValueError(f"grad_out has shape {g.shape}, expected {shape}")
    return g


# --- windows --------------------------------------------------------------------------------------


def _windows(
    xp: FloatArray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out: tuple[int, int],
) -> FloatArray:
    """A read-only view (N, C, H_out, W_out, k_h, k_w) of the padded input's windows."""
    sn, sc, sh, sw = xp.strides
    view: FloatArray = as_strided(
        xp,
        shape=(*xp.shape[:2], *out, *kernel),
        strides=(sn, sc, sh * stride[0], sw * stride[1], sh * dilation[0], sw * dilation[1]),
        writeable=False,
    )
    return view


def _add_windows(
    grad_padded: FloatArray,
    cols: FloatArray,
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> None:
    """col2im: add cols (N, C, H_out, W_out, k_h, k_w) into the windows they were read from."""
    h_out, w_out, k_h, k_w = cols.shape[2:]
    for u in range(k_h):
        top = u * dilation[0]
        rows = slice(top, top + stride[0] * (h_out - 1) + 1, stride[0])
        for v in range(k_w):
            left = v * dilation[1]
            columns = slice(left, left + stride[1] * (w_out - 1) + 1, stride[1])
            grad_padded[:, :, rows, columns] += cols[:, :, :, :, u, v]


def _out_size(size: int, pad: int, kernel: int, stride: int, dilation: int, ceil: bool) -> int:
    """torch's output length, where under ceil_mode the last window must start inside the input
    or its left padding."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    return out


# --- convolution ----------------------------------------------------------------------------------


class _ConvGeometry:
    """Checked arguments of a convolution and the padding that realises them."""

    def __init__(
        self,
        x: FloatArray,
        weight: FloatArray,
        stride: Pair,
        padding: Padding,
        dilation: Pair,
        groups: int,
    ) -> None:
        if isinstance(groups, bool) or not isinstance(groups, int | np.integer) or groups < 1:
            raise ValueError(f"groups must be a positive integer, got {groups!r}")
        n, c_in, h, w = x.shape
        c_out, c_group, k_h, k_w = weight.shape
        if c_in % groups or c_out % groups:
            raise ValueError(
                f"groups={groups} must divide the input channels ({c_in}) and the output "
                f"channels ({c_out})"
            )
        if c_group * groups != c_in:
            raise ValueError(
                f"weight of shape {weight.shape} expects {c_group * groups} input channels "
                f"with groups={groups}, got x of shape {x.shape}"
            )
        if k_h < 1 or k_w < 1:
            raise ValueError(f"weight has an empty kernel, shape {weight.shape}")
        self.stride = _pair(stride, "stride", 1)
        self.dilation = _pair(dilation, "dilation", 1)
        self.kernel = (k_h, k_w)
        span = (self.dilation[0] * (k_h - 1), self.dilation[1] * (k_w - 1))
        if isinstance(padding, str):
            if padding == "valid":
                pads = ((0, 0), (0, 0))
            elif padding == "same":
                if self.stride != (1, 1):
                    raise ValueError("padding='same' is not supported for strided convolutions")
                # As torch: the odd pixel of an even total padding goes to the bottom/right.
                pads = (
                    (span[0] // 2, span[0] - span[0] // 2),
                    (span[1] // 2, span[1] - span[1] // 2),
                )
            else:
                raise ValueError(
                    f"padding must be 'valid', 'same', an int or a pair, got {padding!r}"
                )
        else:
            p = _pair(padding, "padding", 0)
            pads = ((p[0], p[0]), (p[1], p[1]))
        self.pads = pads
        self.padded = (h + sum(pads[0]), w + sum(pads[1]))
        if self.padded[0] <= span[0] or self.padded[1] <= span[1]:
            raise ValueError(
                f"the padded input ({self.padded[0]} x {self.padded[1]}) is smaller than the "
                f"dilated kernel ({span[0] + 1} x {span[1] + 1})"
            )
        self.out = (
            (self.padded[0] - span[0] - 1) // self.stride[0] + 1,
            (self.padded[1] - span[1] - 1) // self.stride[1] + 1,
        )
        self.groups = int(groups)
        self.shape = (n, c_in, h, w)
        self.out_shape = (n, c_out, *self.out)

    def pad(self, x: FloatArray) -> FloatArray:
        return np.pad(x, ((0, 0), (0, 0), *self.pads)) if any(map(any, self.pads)) else x

    def columns(self, x: FloatArray) -> FloatArray:
        """The patch matrices of all groups: (G, N H_out W_out, C_in/G k_h k_w), a copy."""
        n, c_in = self.shape[:2]
        win = _windows(self.pad(x), self.kernel, self.stride, self.dilation, self.out)
        win = win.reshape(n, self.groups, c_in // self.groups, *self.out, *self.kernel)
        cols = win.transpose(1, 0, 3, 4, 2, 5, 6)  # (G, N, H_out, W_out, C/G, k_h, k_w)
        return cols.reshape(self.groups, n * self.out[0] * self.out[1], -1)


def _weight_matrices(weight: FloatArray, groups: int) -> FloatArray:
    """(G, C_in/G k_h k_w, C_out/G): the weight of each group as a matrix."""
    return weight.reshape(groups, weight.shape[0] // groups, -1).transpose(0, 2, 1)


def _conv_inputs(x: ArrayLike, weight: ArrayLike) -> tuple[FloatArray, FloatArray]:
    xa, wa = _as_float(x, "x"), _as_float(weight, "weight")
    dtype = np.result_type(xa, wa)
    return xa.astype(dtype, copy=False), wa.astype(dtype, copy=False)


def conv2d(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: Pair = 1,
    padding: Padding = 0,
    dilation: Pair = 1,
    groups: int = 1,
) -> FloatArray:
    """Cross-correlation of x (N, C_in, H, W) with weight (C_out, C_in/groups, k_h, k_w) + bias."""
    xa, wa = _conv_inputs(x, weight)
    geo = _ConvGeometry(xa, wa, stride, padding, dilation, groups)
    n, c_out = geo.out_shape[:2]
    y = np.matmul(geo.columns(xa), _weight_matrices(wa, geo.groups))  # (G, N H_out W_out, C_out/G)
    y = y.reshape(geo.groups, n, *geo.out, c_out // geo.groups).transpose(1, 0, 4, 2, 3)
    out: FloatArray = np.ascontiguousarray(y.reshape(geo.out_shape))
    if bias is not None:
        b = np.asarray(bias, dtype=out.dtype)
        if b.shape != (c_out,):
            raise ValueError(f"bias must have shape ({c_out},), got {b.shape}")
        out += b[:, None, None]
    return out


def conv2d_backward(
    grad_out: ArrayLike,
    x: ArrayLike,
    weight: ArrayLike,
    stride: Pair = 1,
    padding: Padding = 0,
    dilation: Pair = 1,
    groups: int = 1,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(dL/dx, dL/dweight, dL/dbias) given dL/dy of :func:`conv2d` with the same arguments."""
    xa, wa = _conv_inputs(x, weight)
    geo = _ConvGeometry(xa, wa, stride, padding, dilation, groups)
    g = _as_grad(grad_out, geo.out_shape, xa.dtype)
    n, c_out = geo.out_shape[:2]
    c_in, k = geo.shape[1], geo.kernel
    # g as (G, N H_out W_out, C_out/G), the layout of the forward product.
    g_groups = g.reshape(n, geo.groups, c_out // geo.groups, -1).transpose(1, 0, 3, 2)
    g_mat = g_groups.reshape(geo.groups, -1, c_out // geo.groups)
    grad_w = np.matmul(geo.columns(xa).transpose(0, 2, 1), g_mat)  # (G, C/G k_h k_w, C_out/G)
    grad_weight = grad_w.transpose(0, 2, 1).reshape(wa.shape)
    grad_cols = np.matmul(g_mat, _weight_matrices(wa, geo.groups).transpose(0, 2, 1))
    grad_cols = grad_cols.reshape(geo.groups, n, *geo.out, c_in // geo.groups, *k)
    grad_cols = grad_cols.transpose(1, 0, 4, 2, 3, 5, 6).reshape(n, c_in, *geo.out, *k)
    grad_padded = np.zeros((n, c_in, *geo.padded), xa.dtype)
    _add_windows(grad_padded, grad_cols, geo.stride, geo.dilation)
    (top, _), (left, _) = geo.pads
    grad_x = np.ascontiguousarray(
        grad_padded[:, :, top : top + geo.shape[2], left : left + geo.shape[3]]
    )
    grad_bias: FloatArray = g.sum(axis=(0, 2, 3))
    return grad_x, np.ascontiguousarray(grad_weight), grad_bias


# --- pooling --------------------------------------------------------------------------------------


class _PoolGeometry:
    """Checked pooling arguments, output size and the padded extent that holds every window."""

    def __init__(
        self,
        shape: tuple[int, ...],
        kernel_size: Pair,
        stride: Pair | None,
        padding: Pair,
        dilation: Pair,
        ceil_mode: bool,
    ) -> None:
        self.kernel = _pair(kernel_size, "kernel_size", 1)
        # torch treats an empty stride list like None.
        empty = stride is None or (isinstance(stride, tuple | list) and len(stride) == 0)
        self.stride = self.kernel if empty else _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        self.dilation = _pair(dilation, "dilation", 1)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel, strict=True)):
            raise ValueError(
                f"padding {self.padding} must be at most half of kernel_size {self.kernel}"
            )
        h, w = shape[2:]
        self.out = tuple(
            _out_size(size, p, k, s, d, ceil_mode)
            for size, p, k, s, d in zip(
                (h, w), self.padding, self.kernel, self.stride, self.dilation, strict=True
            )
        )
        if self.out[0] < 1 or self.out[1] < 1:
            raise ValueError(
                f"kernel_size {self.kernel} with dilation {self.dilation} does not fit the padded "
                f"input {h} x {w} (padding {self.padding})"
            )
        # Right/bottom padding that reaches the end of the last window (ceil_mode may need more).
        self.pads = tuple(
            (p, max(p, (o - 1) * s + d * (k - 1) + 1 - size - p))
            for size, o, p, k, s, d in zip(
                (h, w), self.out, self.padding, self.kernel, self.stride, self.dilation,
                strict=True,
            )
        )  # fmt: skip
        self.shape = tuple(shape)

    def pad(self, x: FloatArray, value: float) -> FloatArray:
        return np.pad(x, ((0, 0), (0, 0), *self.pads), constant_values=value)

    def windows(self, xp: FloatArray) -> FloatArray:
        return _windows(xp, self.kernel, self.stride, self.dilation, self.out)  # type: ignore[arg-type]

    def crop(self, padded: FloatArray) -> FloatArray:
        (top, _), (left, _) = self.pads
        return np.ascontiguousarray(
            padded[:, :, top : top + self.shape[2], left : left + self.shape[3]]
        )


def max_pool2d(
    x: ArrayLike,
    kernel_size: Pair,
    stride: Pair | None = None,
    padding: Pair = 0,
    dilation: Pair = 1,
    ceil_mode: bool = False,
) -> FloatArray:
    """The maximum over each k_h x k_w window (padding is -inf) of x (N, C, H, W)."""
    xa = _as_float(x, "x")
    geo = _PoolGeometry(xa.shape, kernel_size, stride, padding, dilation, ceil_mode)
    out: FloatArray = geo.windows(geo.pad(xa, -np.inf)).max(axis=(4, 5))
    return out


def max_pool2d_backward(
    grad_out: ArrayLike,
    x: ArrayLike,
    kernel_size: Pair,
    stride: Pair | None = None,
    padding: Pair = 0,
    dilation: Pair = 1,
    ceil_mode: bool = False,
) -> FloatArray:
    """dL/dx of :func:`max_pool2d`: each output's gradient goes to its window's first maximum."""
    xa = _as_float(x, "x")
    geo = _PoolGeometry(xa.shape, kernel_size, stride, padding, dilation, ceil_mode)
    n, c = xa.shape[:2]
    g = _as_grad(grad_out, (n, c, *geo.out), xa.dtype)
    xp = geo.pad(xa, -np.inf)
    win = geo.windows(xp)
    index = np.argmax(win.reshape(*win.shape[:4], -1), axis=-1)  # the first maximum of each
    h_pad, w_pad = xp.shape[2:]
    k_w = geo.kernel[1]
    # Flat position of each chosen input in the padded array, planes one after another.
    rows = np.arange(geo.out[0])[:, None] * geo.stride[0] + (index // k_w) * geo.dilation[0]
    cols = np.arange(geo.out[1]) * geo.stride[1] + (index % k_w) * geo.dilation[1]
    planes = np.arange(n * c).reshape(n, c, 1, 1) * (h_pad * w_pad)
    position = planes + rows * w_pad + cols
    # Overlapping windows may pick the same input: bincount adds their gradients.
    grad_padded = np.bincount(position.ravel(), weights=g.ravel(), minlength=xp.size)
    return geo.crop(grad_padded.reshape(xp.shape).astype(xa.dtype, copy=False))


def _avg_divisor(geo: _PoolGeometry, count_include_pad: bool) -> NDArray[np.float64]:
    """Per output position (H_out, W_out): the number each window's sum is divided by."""
    sizes = []
    for size, out, p, k, s in zip(
        geo.shape[2:], geo.out, geo.padding, geo.kernel, geo.stride, strict=True
    ):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, size + p)  # the overhang beyond the padding never counts
        if count_include_pad:
            sizes.append(end - start)
        else:
            sizes.append(np.minimum(end, size) - np.maximum(start, 0))
    divisor: NDArray[np.float64] = np.outer(sizes[0], sizes[1]).astype(np.float64)
    return divisor


def avg_pool2d(
    x: ArrayLike,
    kernel_size: Pair,
    stride: Pair | None = None,
    padding: Pair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> FloatArray:
    """The mean over each k_h x k_w window of x (N, C, H, W), zero padding, torch's divisors."""
    xa = _as_float(x, "x")
    geo = _PoolGeometry(xa.shape, kernel_size, stride, padding, 1, ceil_mode)
    sums = geo.windows(geo.pad(xa, 0.0)).sum(axis=(4, 5))
    out: FloatArray = (sums / _avg_divisor(geo, count_include_pad)).astype(xa.dtype, copy=False)
    return out


def avg_pool2d_backward(
    grad_out: ArrayLike,
    x: ArrayLike,
    kernel_size: Pair,
    stride: Pair | None = None,
    padding: Pair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> FloatArray:
    """dL/dx of :func:`avg_pool2d`: g / divisor spread over every input of the window."""
    xa = _as_float(x, "x")
    geo = _PoolGeometry(xa.shape, kernel_size, stride, padding, 1, ceil_mode)
    n, c = xa.shape[:2]
    g = _as_grad(grad_out, (n, c, *geo.out), xa.dtype)
    share = (g / _avg_divisor(geo, count_include_pad)).astype(xa.dtype, copy=False)
    cols = np.broadcast_to(share[..., None, None], (*share.shape, *geo.kernel))
    grad_padded = np.zeros(
        (n, c, *(size + sum(p) for size, p in zip(xa.shape[2:], geo.pads, strict=True))), xa.dtype
    )
    _add_windows(grad_padded, cols, geo.stride, (1, 1))
    return geo.crop(grad_padded)
