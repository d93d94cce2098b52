"""reference.conv against torch.nn.functional.conv2d / max_pool2d / avg_pool2d, in float64."""

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _helpers import FD_TOL, TORCH_TOL, FloatArray, fd_errors, rel_diff, t64
from _torch import strict_errstate
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import conv

CONV_CASES: list[dict[str, Any]] = [
    {},
    {"stride": 2},
    {"stride": (2, 1), "padding": (1, 2)},
    {"padding": 1, "dilation": 2},
    {"dilation": (1, 2), "padding": "same"},
    {"padding": "valid", "stride": (1, 3)},
    {"groups": 2, "padding": 1},
    {"groups": 4, "stride": 2, "padding": (0, 1), "dilation": (2, 1)},
    {"padding": "same"},  # even kernels: torch pads one more at the bottom/right
]


def conv_arrays(
    rng: np.random.Generator, case: dict[str, Any], kernel: tuple[int, int], c_in: int = 4
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    groups = case.get("groups", 1)
    x = rng.standard_normal((2, c_in, 7, 6))
    w = rng.standard_normal((4, c_in // groups, *kernel))
    b = rng.standard_normal(4)
    y = F.conv2d(t64(x), t64(w), t64(b), **case)
    g = rng.standard_normal(tuple(y.shape))
    return x, w, b, g


def torch_conv(
    x: FloatArray, w: FloatArray, b: FloatArray, g: FloatArray, case: dict[str, Any]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    tx, tw, tb = (t64(a).requires_grad_() for a in (x, w, b))
    y = F.conv2d(tx, tw, tb, **case)
    y.backward(t64(g))
    return y, [t.grad for t in (tx, tw, tb)]  # type: ignore[misc]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("kernel", [(3, 3), (2, 3), (1, 1)], ids=str)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_matches_torch(case: dict[str, Any], kernel: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    x, w, b, g = conv_arrays(rng, case, kernel)
    y, grads = torch_conv(x, w, b, g, case)
    with strict_errstate():
        ours = conv.conv2d(x, w, b, **case)
        ours_grads = conv.conv2d_backward(g, x, w, **case)
    assert rel_diff(ours, y) <= TORCH_TOL
    assert rel_diff(conv.conv2d(x, w, **case), F.conv2d(t64(x), t64(w), **case)) <= TORCH_TOL
    for mine, theirs in zip(ours_grads, grads, strict=True):
        assert rel_diff(mine, theirs) <= TORCH_TOL


@pytest.mark.parametrize("case", CONV_CASES[1:4] + CONV_CASES[7:], ids=str)
def test_conv2d_backward_matches_finite_differences(case: dict[str, Any]) -> None:
    rng = np.random.default_rng(1)
    groups = case.get("groups", 1)
    x = rng.standard_normal((2, 4, 5, 5))
    w = rng.standard_normal((4, 4 // groups, 2, 3))
    b = rng.standard_normal(4)
    g = rng.standard_normal(conv.conv2d(x, w, b, **case).shape)
    grads = conv.conv2d_backward(g, x, w, **case)

    def loss() -> float:
        return float(np.sum(g * conv.conv2d(x, w, b, **case)))

    assert max(fd_errors(loss, [x, w, b], grads)) <= FD_TOL


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 2),
    groups=st.integers(1, 3),
    c_per=st.integers(1, 2),
    out_per=st.integers(1, 2),
    size=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    seed=st.integers(0, 2**16),
)
def test_conv2d_random_geometry_matches_torch(
    n: int,
    groups: int,
    c_per: int,
    out_per: int,
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    seed: int,
) -> None:
    case = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    if any(
        s + 2 * p <= d * (k - 1) for s, p, d, k in zip(size, padding, dilation, kernel, strict=True)
    ):
        with pytest.raises(ValueError, match="smaller than the dilated kernel"):
            x0, w0 = np.zeros((n, c_per * groups, *size)), np.zeros((groups, c_per, *kernel))
            conv.conv2d(x0, w0, **case)
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_per * groups, *size))
    w = rng.standard_normal((out_per * groups, c_per, *kernel))
    b = rng.standard_normal(out_per * groups)
    y0 = F.conv2d(t64(x), t64(w), t64(b), **case)
    g = rng.standard_normal(tuple(y0.shape))
    y, grads = torch_conv(x, w, b, g, case)
    assert rel_diff(conv.conv2d(x, w, b, **case), y) <= TORCH_TOL
    for mine, theirs in zip(conv.conv2d_backward(g, x, w, **case), grads, strict=True):
        assert rel_diff(mine, theirs) <= TORCH_TOL


POOL_CASES: list[dict[str, Any]] = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0), "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "ceil_mode": True},
    {"kernel_size": 2, "stride": 1},  # overlapping windows
    {"kernel_size": (2, 4), "stride": 3, "padding": (1, 2), "ceil_mode": True},
]
MAX_ONLY: list[dict[str, Any]] = [
    {"kernel_size": 2, "dilation": 2},
    {"kernel_size": 3, "stride": 1, "padding": 1, "dilation": (1, 2)},
    {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True},
]


def pool_input(rng: np.random.Generator, ties: bool) -> FloatArray:
    """(2, 3, 7, 8); with ties, values from a small set so windows often hold equal maxima."""
    shape = (2, 3, 7, 8)
    if ties:
        return rng.integers(-2, 2, shape).astype(np.float64)
    return rng.standard_normal(shape)


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("case", POOL_CASES + MAX_ONLY, ids=str)
def test_max_pool2d_matches_torch(case: dict[str, Any], ties: bool) -> None:
    rng = np.random.default_rng(2)
    x = pool_input(rng, ties)
    tx = t64(x).requires_grad_()
    y = F.max_pool2d(tx, **case)
    g = rng.standard_normal(tuple(y.shape))
    y.backward(t64(g))
    with strict_errstate():
        ours = conv.max_pool2d(x, **case)
        grad = conv.max_pool2d_backward(g, x, **case)
    assert rel_diff(ours, y) == 0.0
    assert rel_diff(grad, tx.grad) <= TORCH_TOL


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_avg_pool2d_matches_torch(case: dict[str, Any], count_include_pad: bool) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 8))
    tx = t64(x).requires_grad_()
    y = F.avg_pool2d(tx, count_include_pad=count_include_pad, **case)
    g = rng.standard_normal(tuple(y.shape))
    y.backward(t64(g))
    with strict_errstate():
        ours = conv.avg_pool2d(x, count_include_pad=count_include_pad, **case)
        grad = conv.avg_pool2d_backward(g, x, count_include_pad=count_include_pad, **case)
    assert rel_diff(ours, y) <= TORCH_TOL
    assert rel_diff(grad, tx.grad) <= TORCH_TOL


@pytest.mark.parametrize("case", POOL_CASES[1:4] + MAX_ONLY[2:], ids=str)
def test_pool_backward_matches_finite_differences(case: dict[str, Any]) -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2, 5, 6))  # distinct values: max pooling is smooth near x
    y = conv.max_pool2d(x, **case)
    g = rng.standard_normal(y.shape)
    grads = [conv.max_pool2d_backward(g, x, **case)]
    assert fd_errors(lambda: float(np.sum(g * conv.max_pool2d(x, **case))), [x], grads)[0] <= FD_TOL
    if "dilation" in case:
        return
    for include in (True, False):
        y = conv.avg_pool2d(x, count_include_pad=include, **case)
        grad = conv.avg_pool2d_backward(g, x, count_include_pad=include, **case)

        def loss(include: bool = include) -> float:
            return float(np.sum(g * conv.avg_pool2d(x, count_include_pad=include, **case)))

        assert fd_errors(loss, [x], [grad])[0] <= FD_TOL


def test_max_pool_tie_sends_gradient_to_first_maximum() -> None:
    x = np.array([[[[1.0, 1.0], [1.0, 1.0]]]])
    grad = conv.max_pool2d_backward(np.array([[[[5.0]]]]), x, 2)
    np.testing.assert_array_equal(grad, [[[[5.0, 0.0], [0.0, 0.0]]]])


def test_float32_keeps_dtype() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    y = conv.conv2d(x, w, np.zeros(2, np.float32), padding=1)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, F.conv2d(torch.tensor(x), torch.tensor(w), padding=1), atol=1e-5)
    assert all(a.dtype == np.float32 for a in conv.conv2d_backward(y, x, w, padding=1))
    for pool, backward in [
        (conv.max_pool2d, conv.max_pool2d_backward),
        (conv.avg_pool2d, conv.avg_pool2d_backward),
    ]:
        out = pool(x, 2)
        assert out.dtype == np.float32
        assert backward(out, x, 2).dtype == np.float32


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: conv.conv2d(np.zeros((1, 2, 4)), np.zeros((1, 2, 1, 1))), "x"),
        (lambda: conv.conv2d(np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 1))), "weight"),
        (lambda: conv.conv2d(np.zeros((1, 2, 4, 4)), np.zeros((1, 3, 1, 1))), "input channels"),
        (lambda: conv.conv2d(np.zeros((1, 2, 4, 4)), np.zeros((3, 1, 1, 1)), groups=2), "groups"),
        (lambda: conv.conv2d(np.zeros((1, 2, 4, 4)), np.zeros((2, 2, 1, 1)), groups=0), "groups"),
        (lambda: conv.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 1, 1)), stride=0), "stride"),
        (
            lambda: conv.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 1, 1)), padding=-1),
            "padding",
        ),
        (
            lambda: conv.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 1, 1)), padding="full"),
            "padding",
        ),
        (
            lambda: conv.conv2d(
                np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), stride=2, padding="same"
            ),
            "padding='same'",
        ),
        (
            lambda: conv.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 1, 1)), dilation=(1, 0)),
            "dilation",
        ),
        (lambda: conv.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((2, 1, 1, 1)), np.zeros(3)), "bias"),
        (lambda: conv.conv2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3))), "dilated kernel"),
        (
            lambda: conv.conv2d_backward(
                np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 1, 1))
            ),
            "grad_out",
        ),
        (lambda: conv.max_pool2d(np.zeros((1, 1, 4, 4)), 2, padding=2), "padding"),
        (lambda: conv.max_pool2d(np.zeros((1, 1, 4, 4)), 0), "kernel_size"),
        (lambda: conv.avg_pool2d(np.zeros((1, 1, 4, 4)), 2, stride=(1, 0)), "stride"),
        (lambda: conv.avg_pool2d(np.zeros((1, 1, 1, 1)), 3), "does not fit"),
        (
            lambda: conv.avg_pool2d_backward(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 4, 4)), 2),
            "grad_out",
        ),
    ],
)
def test_bad_arguments_are_named(call: Any, name: str) -> None:
    with pytest.raises(ValueError, match=name.replace("(", r"\(").replace("'", "'")):
        call()


@settings(max_examples=60, deadline=None)
@given(
    size=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    pad_fraction=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    ceil_mode=st.booleans(),
    count_include_pad=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_pooling_random_geometry_matches_torch(
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pad_fraction: tuple[float, float],
    dilation: tuple[int, int],
    ceil_mode: bool,
    count_include_pad: bool,
    seed: int,
) -> None:
    padding = tuple(int(f * (k // 2)) for f, k in zip(pad_fraction, kernel, strict=True))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 2, *size))
    common = {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil_mode}
    for name, options in (
        ("max_pool2d", {**common, "dilation": dilation}),
        ("avg_pool2d", {**common, "count_include_pad": count_include_pad}),
    ):
        tx = t64(x).requires_grad_()
        try:
            y = getattr(F, name)(tx, **options)
        except RuntimeError:  # torch refuses: the windows do not fit
            with pytest.raises(ValueError, match="does not fit"):
                getattr(conv, name)(x, **options)
            continue
        g = rng.standard_normal(tuple(y.shape))
        y.backward(t64(g))
        assert rel_diff(getattr(conv, name)(x, **options), y) <= TORCH_TOL, name
        grad = getattr(conv, f"{name}_backward")(g, x, **options)
        assert rel_diff(grad, tx.grad) <= TORCH_TOL, name
