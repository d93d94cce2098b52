"""reference.layernorm against torch.nn.functional.layer_norm / rms_norm, in float64."""

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _helpers import FD_TOL, TORCH_TOL, fd_errors, rel_diff, t64
from _torch import assert_close_to_torch, strict_errstate, to_numpy

from reference.layernorm import layer_norm, layer_norm_backward, rms_norm, rms_norm_backward

CASES = [
    ((4, 5), 5),
    ((2, 3, 4), (4,)),
    ((2, 3, 4), (3, 4)),
    ((3, 2, 2, 3), (2, 2, 3)),
    ((1, 1), 1),
]


def params(rng: np.random.Generator, shape: tuple[int, ...], normalized: Any, affine: bool) -> Any:
    ns = (normalized,) if isinstance(normalized, int) else normalized
    x = rng.uniform(-3, 3) + rng.uniform(0.5, 3) * rng.standard_normal(shape)
    w = rng.uniform(0.5, 2, ns) if affine else None
    b = rng.standard_normal(ns) if affine else None
    return x, w, b, rng.standard_normal(shape)


def torch_grads(
    fn: Any, x: Any, w: Any, b: Any, g: Any, *args: Any, **kwargs: Any
) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    tensors = [None if a is None else t64(a).requires_grad_() for a in (x, w, b)]
    y = fn(tensors[0], *args, *(t for t in tensors[1:] if t is not None), **kwargs)
    y.backward(t64(g))
    return y, [None if t is None else t.grad for t in tensors]


def assert_grads(ours: Any, theirs: list[torch.Tensor | None]) -> None:
    for mine, expected in zip(ours, theirs, strict=True):
        assert (mine is None) == (expected is None)
        if mine is not None:  # absolute near 0: a (1, 1) layer norm's exact gradient is 0
            assert_close_to_torch(mine, to_numpy(expected), TORCH_TOL)


@pytest.mark.parametrize("eps", [1e-5, 0.5])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize(("shape", "normalized"), CASES, ids=str)
def test_layer_norm_matches_torch(shape: Any, normalized: Any, affine: bool, eps: float) -> None:
    x, w, b, g = params(np.random.default_rng(0), shape, normalized, affine)
    ns = (normalized,) if isinstance(normalized, int) else normalized
    y, grads = torch_grads(F.layer_norm, x, w, b, g, ns, eps=eps)
    with strict_errstate():
        assert rel_diff(layer_norm(x, normalized, w, b, eps), y) <= TORCH_TOL
        assert_grads(layer_norm_backward(g, x, normalized, w, b, eps), grads)


@pytest.mark.parametrize("eps", [None, 1e-6, 0.5])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize(("shape", "normalized"), CASES, ids=str)
def test_rms_norm_matches_torch(shape: Any, normalized: Any, affine: bool, eps: Any) -> None:
    x, w, _, g = params(np.random.default_rng(1), shape, normalized, affine)
    ns = (normalized,) if isinstance(normalized, int) else normalized
    y, grads = torch_grads(F.rms_norm, x, w, None, g, ns, eps=eps)
    with strict_errstate():
        assert rel_diff(rms_norm(x, normalized, w, eps), y) <= TORCH_TOL
        assert_grads(rms_norm_backward(g, x, normalized, w, eps), grads[:2])


def test_layer_norm_with_weight_only_and_bias_only() -> None:
    x, w, b, g = params(np.random.default_rng(2), (3, 4), 4, True)
    for weight, bias in ((w, None), (None, b)):
        tx = t64(x).requires_grad_()
        tw = None if weight is None else t64(weight).requires_grad_()
        tb = None if bias is None else t64(bias).requires_grad_()
        y = F.layer_norm(tx, (4,), tw, tb)
        y.backward(t64(g))
        assert rel_diff(layer_norm(x, 4, weight, bias), y) <= TORCH_TOL
        gx, gw, gb = layer_norm_backward(g, x, 4, weight, bias)
        assert_grads(
            (gx, gw, gb),
            [tx.grad, None if tw is None else tw.grad, None if tb is None else tb.grad],
        )


@pytest.mark.parametrize(("shape", "normalized"), CASES[1:4], ids=str)
def test_backwards_match_finite_differences(shape: Any, normalized: Any) -> None:
    x, w, b, g = params(np.random.default_rng(3), shape, normalized, True)
    grads = layer_norm_backward(g, x, normalized, w, b)
    errors = fd_errors(lambda: float(np.sum(g * layer_norm(x, normalized, w, b))), [x, w, b], grads)
    assert max(errors) <= FD_TOL
    grads2 = rms_norm_backward(g, x, normalized, w, 1e-3)
    errors = fd_errors(lambda: float(np.sum(g * rms_norm(x, normalized, w, 1e-3))), [x, w], grads2)
    assert max(errors) <= FD_TOL


def test_float32_keeps_dtype_and_uses_its_epsilon() -> None:
    x, w, b, g = (a.astype(np.float32) for a in params(np.random.default_rng(4), (3, 8), 8, True))
    for out in (
        layer_norm(x, 8, w, b),
        rms_norm(x, 8, w),
        *layer_norm_backward(g, x, 8, w, b),
        *rms_norm_backward(g, x, 8, w),
    ):
        assert out is not None and out.dtype == np.float32
    np.testing.assert_allclose(
        rms_norm(x, 8, w), F.rms_norm(torch.tensor(x), (8,), torch.tensor(w)).numpy(), rtol=1e-5
    )
    tiny = np.full((1, 4), 1e-4, np.float32)  # mean x^2 = 1e-8 << float32 eps = 1.2e-7
    expected = F.rms_norm(torch.tensor(tiny), (4,)).numpy()
    np.testing.assert_allclose(rms_norm(tiny, 4), expected, rtol=1e-5)
    assert rms_norm(tiny, 4)[0, 0] < 0.5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: layer_norm(np.zeros((2, 3)), 4), "normalized_shape"),
        (lambda: layer_norm(np.zeros((2, 3)), (2, 3, 1)), "normalized_shape"),
        (lambda: layer_norm(np.zeros((2, 3)), 0), "normalized_shape"),
        (lambda: layer_norm(np.zeros((2, 3)), 3, np.ones(2)), "weight"),
        (lambda: layer_norm(np.zeros((2, 3)), 3, None, np.ones(4)), "bias"),
        (lambda: layer_norm(np.zeros((2, 3)), 3, eps=-1.0), "eps"),
        (lambda: rms_norm(np.zeros((2, 3)), 3, eps=-1.0), "eps"),
        (lambda: rms_norm_backward(np.zeros((2, 2)), np.zeros((2, 3)), 3), "grad_out"),
        (lambda: layer_norm_backward(np.zeros((2, 2)), np.zeros((2, 3)), 3), "grad_out"),
    ],
)
def test_bad_arguments_are_named(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
