"""reference.adapter: identity at init, backward by finite differences and torch autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _helpers import FD_TOL, TORCH_TOL, fd_errors, rel_diff, t64
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.adapter import BottleneckAdapter
from reference.gradcheck import max_relative_error, numerical_gradient

ACTIVATIONS = ["relu", "gelu", "silu", "tanh", "sigmoid"]
TORCH_ACTIVATIONS = {
    "relu": torch.relu,
    "gelu": F.gelu,
    "silu": F.silu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}


def _trained_adapter(activation: str, d_model: int = 5, bottleneck: int = 3) -> BottleneckAdapter:
    """An adapter moved away from the identity so that every gradient is exercised."""
    adapter = BottleneckAdapter(d_model, bottleneck, activation=activation, seed=1)
    rng = np.random.default_rng(2)
    for p in adapter.params:
        p[:] = rng.normal(size=p.shape)
    return adapter


@settings(max_examples=30, deadline=None)
@given(
    d_model=st.integers(1, 12),
    bottleneck=st.integers(1, 6),
    lead=st.lists(st.integers(1, 3), max_size=3),
    activation=st.sampled_from(ACTIVATIONS),
    seed=st.integers(0, 2**32 - 1),
)
def test_fresh_adapter_is_the_identity(
    d_model: int, bottleneck: int, lead: list[int], activation: str, seed: int
) -> None:
    adapter = BottleneckAdapter(d_model, bottleneck, activation=activation, seed=seed)
    h = np.random.default_rng(seed).normal(size=(*lead, d_model))
    np.testing.assert_array_equal(adapter.forward(h), h)
    grad_in = adapter.backward(np.ones_like(h))
    np.testing.assert_array_equal(grad_in, np.ones_like(h))
    assert adapter.grads is not None
    assert np.any(adapter.grads[2] != 0) or activation == "relu"  # W_up still gets gradient


def test_parameter_layout_and_count() -> None:
    adapter = BottleneckAdapter(16, 4)
    assert [p.shape for p in adapter.params] == [(16, 4), (4,), (4, 16), (16,)]
    assert adapter.n_params == 2 * 16 * 4 + 4 + 16
    assert np.all(adapter.params[2] == 0) and np.all(adapter.params[3] == 0)
    assert np.all(adapter.params[0] != 0)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5)])
def test_backward_matches_finite_differences(activation: str, shape: tuple[int, ...]) -> None:
    adapter = _trained_adapter(activation)
    rng = np.random.default_rng(3)
    h = rng.normal(size=shape)
    weights = rng.normal(size=shape)  # loss = sum(weights * y)

    def loss() -> float:
        return float(np.sum(weights * adapter.forward(h)))

    adapter.forward(h)
    grad_in = adapter.backward(weights)
    assert adapter.grads is not None
    grads = [g.copy() for g in adapter.grads]
    assert grad_in.shape == shape
    errors = fd_errors(loss, adapter.params, grads)
    errors.append(max_relative_error(grad_in, numerical_gradient(lambda _x: loss(), h)))
    assert max(errors) <= FD_TOL, errors


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_matches_torch_autograd(activation: str) -> None:
    adapter = _trained_adapter(activation, d_model=6, bottleneck=2)
    rng = np.random.default_rng(4)
    h = rng.normal(size=(3, 4, 6))
    grad_out = rng.normal(size=(3, 4, 6))
    out = adapter.forward(h)
    grad_in = adapter.backward(grad_out)
    t_h = t64(h).requires_grad_()
    w_down, b_down, w_up, b_up = (t64(p).requires_grad_() for p in adapter.params)
    t_out = t_h + TORCH_ACTIVATIONS[activation](t_h @ w_down + b_down) @ w_up + b_up
    t_grad_in, *t_grads = torch.autograd.grad(
        t_out, [t_h, w_down, b_down, w_up, b_up], grad_outputs=t64(grad_out)
    )
    assert rel_diff(out, t_out) <= TORCH_TOL
    assert rel_diff(grad_in, t_grad_in) <= TORCH_TOL
    assert adapter.grads is not None
    for g, t_g in zip(adapter.grads, t_grads, strict=True):
        assert rel_diff(g, t_g) <= TORCH_TOL


def test_float32_keeps_dtype() -> None:
    adapter = _trained_adapter("gelu")
    h = np.random.default_rng(5).normal(size=(4, 5))
    out32 = adapter.forward(h.astype(np.float32))
    assert out32.dtype == np.float32
    grad32 = adapter.backward(np.ones((4, 5), dtype=np.float32))
    assert grad32.dtype == np.float32
    assert adapter.grads is not None and all(g.dtype == np.float64 for g in adapter.grads)
    np.testing.assert_allclose(out32, adapter.forward(h), rtol=1e-5, atol=1e-5)


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="d_model"):
        BottleneckAdapter(0, 2)
    with pytest.raises(ValueError, match="bottleneck"):
        BottleneckAdapter(4, 0)
    with pytest.raises(ValueError, match="activation"):
        BottleneckAdapter(4, 2, activation="swish2")
    adapter = BottleneckAdapter(4, 2)
    with pytest.raises(RuntimeError, match="forward"):
        adapter.backward(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="h"):
        adapter.forward(np.zeros((3, 5)))
    adapter.forward(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="grad_out"):
        adapter.backward(np.zeros((2, 4)))
