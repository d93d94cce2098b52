"""reference.activations against torch.nn.functional and autograd, in float64."""

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _torch import (
    FloatArray,
    assert_close_to_torch,
    max_relative_error,
    numerical_gradient,
    strict_errstate,
    to_numpy,
    to_torch,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference import activations as act

RTOL = 1e-12

SPECIAL = np.array(
    [-1000.0, -745.0, -100.0, -40.0, -20.01, -20.0, -10.0, -5.0, -1.0, -0.5, -1e-8, -0.0, 0.0,
     1e-8, 0.46875, 0.5, 1.0, 4.0, 5.0, 10.0, 19.99, 20.0, 20.01, 40.0, 100.0, 745.0, 1000.0]
)  # fmt: skip
GRID = np.concatenate([SPECIAL, 4.0 * np.random.default_rng(0).standard_normal(300)])

TorchFn = Callable[..., torch.Tensor]
# name -> (torch function, keyword-argument sets to test)
ELEMENTWISE: dict[str, tuple[TorchFn, list[dict[str, Any]]]] = {
    "relu": (F.relu, [{}]),
    "leaky_relu": (F.leaky_relu, [{}, {"negative_slope": 0.2}]),
    "sigmoid": (torch.sigmoid, [{}]),
    "tanh": (torch.tanh, [{}]),
    "gelu": (F.gelu, [{}, {"approximate": "none"}, {"approximate": "tanh"}]),
    "silu": (F.silu, [{}]),
    "softplus": (
        F.softplus,
        [{}, {"beta": 2.0, "threshold": 5.0}, {"beta": 0.5}, {"beta": -1.0, "threshold": 3.0}],
    ),
}
CASES = [(name, kwargs) for name, (_, kw_sets) in ELEMENTWISE.items() for kwargs in kw_sets]


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


def forward(name: str) -> Callable[..., FloatArray]:
    fn: Callable[..., FloatArray] = getattr(act, name)
    return fn


def backward(name: str) -> Callable[..., FloatArray]:
    fn: Callable[..., FloatArray] = getattr(act, name + "_backward")
    return fn


def torch_forward_backward(
    name: str, x: FloatArray, grad_out: FloatArray, kwargs: dict[str, Any]
) -> tuple[FloatArray, FloatArray]:
    fn = ELEMENTWISE[name][0]
    tx = to_torch(x, requires_grad=True)
    y = fn(tx, **kwargs)
    y.backward(to_torch(grad_out))  # type: ignore[no-untyped-call]
    assert tx.grad is not None
    return to_numpy(y), to_numpy(tx.grad)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_elementwise_matches_torch_on_grid(case: tuple[str, dict[str, Any]]) -> None:
    name, kwargs = case
    grad_out = np.random.default_rng(1).standard_normal(GRID.shape)
    with strict_errstate():
        y = forward(name)(GRID, **kwargs)
        dx = backward(name)(GRID, grad_out, **kwargs)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    torch_y, torch_dx = torch_forward_backward(name, GRID, grad_out, kwargs)
    assert_close_to_torch(y, torch_y, RTOL)
    assert_close_to_torch(dx, torch_dx, RTOL)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_elementwise_backward_matches_finite_differences(case: tuple[str, dict[str, Any]]) -> None:
    name, kwargs = case
    rng = np.random.default_rng(2)
    x = rng.uniform(-8.0, 8.0, 60)
    # Stay clear of the kinks (0 for relu / leaky_relu, beta x = threshold for softplus).
    beta, threshold = kwargs.get("beta", 1.0), kwargs.get("threshold", 20.0)
    x = x[(np.abs(x) > 1e-3) & (np.abs(beta * x - threshold) > 1e-3)]
    x = np.concatenate([x, [-30.0, -12.0, 12.0, 30.0]])
    weights = rng.standard_normal(x.shape)
    fwd = forward(name)

    def objective(v: FloatArray) -> float:
        return float(np.sum(weights * fwd(v, **kwargs)))

    with strict_errstate():
        analytic = backward(name)(x, weights, **kwargs)
        numeric = numerical_gradient(objective, x, eps=1e-6)
    assert max_relative_error(analytic, numeric) <= 1e-6


def test_conventions_at_zero() -> None:
    zero = np.zeros(3)
    ones = np.ones(3)
    np.testing.assert_array_equal(act.relu_backward(zero, ones), 0.0)
    np.testing.assert_array_equal(act.leaky_relu_backward(zero, ones), 0.01)
    np.testing.assert_array_equal(act.leaky_relu_backward(zero, ones, negative_slope=0.3), 0.3)
    # softplus is exactly linear above the threshold, smooth at it
    x = np.array([20.0, 20.5, 10.25])
    np.testing.assert_array_equal(act.softplus(x)[1:2], x[1:2])
    np.testing.assert_array_equal(act.softplus(x, beta=2.0)[1:], x[1:])
    assert act.softplus(x)[0] != x[0]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_float32_keeps_dtype(case: tuple[str, dict[str, Any]]) -> None:
    name, kwargs = case
    x = GRID.astype(np.float32)
    grad_out = np.ones_like(x)
    with strict_errstate():
        y = forward(name)(x, **kwargs)
        dx = backward(name)(x, grad_out, **kwargs)
    assert y.dtype == np.float32 and dx.dtype == np.float32
    torch_y, torch_dx = torch_forward_backward(name, x, grad_out, kwargs)
    # float32 rounding (e.g. 1 + tanh(u) near u = -8 in the tanh GELU) leaves ~1e-6 absolute.
    np.testing.assert_allclose(y, torch_y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, torch_dx, rtol=1e-5, atol=1e-5)


def test_integer_input_becomes_float64() -> None:
    y = act.sigmoid(np.arange(-3, 4))
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-np.arange(-3, 4))), rtol=1e-15)


SOFTMAX_SHAPES_AXES = [((4, 7), -1), ((4, 7), 0), ((3, 5, 6), 1), ((3, 5, 6), -1), ((9,), 0)]


def softmax_input(shape: tuple[int, ...]) -> FloatArray:
    rng = np.random.default_rng(3)
    x = 3.0 * rng.standard_normal(shape)
    flat = x.reshape(-1)
    flat[:: max(1, flat.size // 5)] = 1000.0
    flat[1 :: max(1, flat.size // 4)] = -1000.0
    return x


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize(("shape", "axis"), SOFTMAX_SHAPES_AXES)
def test_softmax_matches_torch(name: str, shape: tuple[int, ...], axis: int) -> None:
    x = softmax_input(shape)
    grad_out = np.random.default_rng(4).standard_normal(shape)
    with strict_errstate():
        y = forward(name)(x, axis=axis)
        dx = backward(name)(x, grad_out, axis=axis)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    tx = to_torch(x, requires_grad=True)
    ty = getattr(F, name)(tx, dim=axis)
    ty.backward(to_torch(grad_out))
    assert tx.grad is not None
    assert_close_to_torch(y, to_numpy(ty), RTOL)
    assert_close_to_torch(dx, to_numpy(tx.grad), RTOL)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize(("shape", "axis"), SOFTMAX_SHAPES_AXES)
def test_softmax_backward_matches_finite_differences(
    name: str, shape: tuple[int, ...], axis: int
) -> None:
    rng = np.random.default_rng(5)
    x = 2.0 * rng.standard_normal(shape)
    weights = rng.standard_normal(shape)
    fwd = forward(name)

    def objective(v: FloatArray) -> float:
        return float(np.sum(weights * fwd(v, axis=axis)))

    with strict_errstate():
        analytic = backward(name)(x, weights, axis=axis)
        numeric = numerical_gradient(objective, x, eps=1e-6)
    assert max_relative_error(analytic, numeric) <= 1e-6


def test_softmax_float32_keeps_dtype() -> None:
    x = softmax_input((4, 7)).astype(np.float32)
    for name in ("softmax", "log_softmax"):
        with strict_errstate():
            assert forward(name)(x).dtype == np.float32
            assert backward(name)(x, np.ones_like(x)).dtype == np.float32


# --- erf ----------------------------------------------------------------------------------------

ERF_GRID = np.concatenate(
    [
        np.linspace(-30.0, 30.0, 240_001),
        np.geomspace(1e-300, 30.0, 5_000),
        -np.geomspace(1e-300, 30.0, 5_000),
        [0.0, -0.0, 0.46875, -0.46875, 4.0, -4.0, 26.5, 27.2, 27.3, 27.5],
    ]
)


def relative_error(ours: FloatArray, exact: FloatArray) -> FloatArray:
    scale = np.where(exact == 0, 1.0, np.abs(exact))
    out: FloatArray = np.abs(ours - exact) / scale
    return out


def test_erf_matches_math_erf_to_full_precision() -> None:
    exact = np.array([math.erf(v) for v in ERF_GRID])
    with strict_errstate():
        ours = act.erf(ERF_GRID)
    # Measured: 4.5e-16 (about 2 ulps), near the 0.46875 break point.
    assert relative_error(ours, exact).max() <= 5e-16


def test_erfc_matches_math_erfc_in_the_tails() -> None:
    exact = np.array([math.erfc(v) for v in ERF_GRID])
    with strict_errstate():
        ours = act.erfc(ERF_GRID)
    normal = np.abs(exact) >= np.finfo(np.float64).tiny
    # Measured: 9.2e-16 (about 4 ulps) relative; subnormal results within 2 subnormal ulps.
    assert relative_error(ours[normal], exact[normal]).max() <= 1.5e-15
    assert np.abs(ours[~normal] - exact[~normal]).max() <= 1e-323


def test_erf_matches_torch_and_special_values() -> None:
    x = np.linspace(-8.0, 8.0, 10_001)
    assert_close_to_torch(act.erf(x), to_numpy(torch.erf(to_torch(x))), 1e-15)
    assert_close_to_torch(act.erfc(x), to_numpy(torch.erfc(to_torch(x))), 1e-15)
    special = np.array([np.inf, -np.inf, 1e308, -1e308, 0.0, -0.0])
    with strict_errstate():
        np.testing.assert_array_equal(act.erf(special), [1.0, -1.0, 1.0, -1.0, 0.0, -0.0])
        np.testing.assert_array_equal(act.erfc(special), [0.0, 2.0, 0.0, 2.0, 1.0, 1.0])
    assert np.signbit(act.erf(np.array(-0.0)))
    np.testing.assert_array_equal(act.erf(x), -act.erf(-x))
    assert np.isnan(act.erf(np.array([np.nan]))).all()
    assert act.erf(np.float32(0.5)).dtype == np.float32


def test_extreme_inputs_do_not_overflow() -> None:
    x = np.array([-1e300, -1e30, 1e30, 1e300])
    g = np.ones_like(x)
    with strict_errstate():
        for approximate in ("none", "tanh"):
            np.testing.assert_array_equal(act.gelu(x, approximate=approximate), [0, 0, 1e30, 1e300])
            np.testing.assert_array_equal(
                act.gelu_backward(x, g, approximate=approximate), [0.0, 0.0, 1.0, 1.0]
            )
        for name in ("sigmoid", "tanh", "silu", "softplus"):
            assert np.all(np.isfinite(forward(name)(x)))
            assert np.all(np.isfinite(backward(name)(x, g)))


# --- argument errors ------------------------------------------------------------------------


def test_invalid_arguments_are_named() -> None:
    x = np.zeros(3)
    with pytest.raises(ValueError, match="approximate"):
        act.gelu(x, approximate="erf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="approximate"):
        act.gelu_backward(x, x, approximate="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="beta"):
        act.softplus(x, beta=0.0)
    with pytest.raises(ValueError, match="beta"):
        act.softplus_backward(x, x, beta=0.0)
    for name, _ in CASES:
        with pytest.raises(ValueError, match="grad_out"):
            backward(name)(x, np.zeros(4))
    for name in ("softmax", "log_softmax"):
        with pytest.raises(ValueError, match="grad_out"):
            backward(name)(np.zeros((2, 3)), np.zeros((3, 2)))


# --- property-based ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    case=st.sampled_from(CASES),
    x=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
        elements=st.floats(-1000.0, 1000.0, allow_subnormal=False),
    ),
)
def test_random_arrays_match_torch(case: tuple[str, dict[str, Any]], x: FloatArray) -> None:
    name, kwargs = case
    grad_out = np.linspace(-2.0, 2.0, x.size).reshape(x.shape)
    with strict_errstate():
        y = forward(name)(x, **kwargs)
        dx = backward(name)(x, grad_out, **kwargs)
    assert y.shape == x.shape and dx.shape == x.shape
    torch_y, torch_dx = torch_forward_backward(name, x, grad_out, kwargs)
    assert_close_to_torch(y, torch_y, RTOL)
    assert_close_to_torch(dx, torch_dx, RTOL)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(["softmax", "log_softmax"]),
    x=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
        elements=st.floats(-1000.0, 1000.0, allow_subnormal=False),
    ),
    data=st.data(),
)
def test_random_softmax_matches_torch(name: str, x: FloatArray, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    grad_out = np.linspace(-2.0, 2.0, x.size).reshape(x.shape)
    with strict_errstate():
        y = forward(name)(x, axis=axis)
        dx = backward(name)(x, grad_out, axis=axis)
    tx = to_torch(x, requires_grad=True)
    ty = getattr(F, name)(tx, dim=axis)
    ty.backward(to_torch(grad_out))
    assert tx.grad is not None
    assert_close_to_torch(y, to_numpy(ty), RTOL)
    assert_close_to_torch(dx, to_numpy(tx.grad), RTOL)
