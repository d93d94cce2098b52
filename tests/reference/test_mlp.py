"""reference.mlp: backprop against torch autograd and finite differences; learning digits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _helpers import FD_TOL, TORCH_TOL, fd_errors, rel_diff, t64
from numpy.typing import NDArray
from sklearn.datasets import load_digits  # type: ignore[import-untyped]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

from reference.mlp import MLP

ACTIVATIONS = ["relu", "tanh", "sigmoid"]
TORCH_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def _problem(
    sizes: tuple[int, ...] = (5, 8, 6, 3), n: int = 7, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, sizes[0])), rng.integers(0, sizes[-1], n)


def _torch_loss_and_grads(
    mlp: MLP, x: Any, y: Any
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """torch.nn.Linear layers with our weights copied in (weight = W^T); autograd gradients."""
    layers = []
    for w, b in zip(mlp.params[::2], mlp.params[1::2], strict=True):
        layer = torch.nn.Linear(w.shape[0], w.shape[1], dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(t64(w.T))
            layer.bias.copy_(t64(b))
        layers.append(layer)
    a = t64(x)
    for i, layer in enumerate(layers):
        a = layer(a)
        if i < len(layers) - 1:
            a = TORCH_ACTIVATIONS[mlp.activation](a)
    loss = F.cross_entropy(a, torch.from_numpy(np.asarray(y)))
    leaves = [t for layer in layers for t in (layer.weight, layer.bias)]
    grads = list(torch.autograd.grad(loss, leaves))
    grads[::2] = [g.T for g in grads[::2]]  # nn.Linear stores W^T
    return loss, a, grads


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_loss_and_gradients_match_torch_autograd(activation: str) -> None:
    mlp = MLP([5, 8, 6, 3], activation=activation, seed=1)
    rng = np.random.default_rng(2)
    for p in mlp.params[1::2]:
        p[:] = rng.normal(size=p.shape)  # non-zero biases
    x, y = _problem()
    loss, grads = mlp.loss_and_grads(x, y)
    t_loss, t_logits, t_grads = _torch_loss_and_grads(mlp, x, y)
    assert abs(loss - t_loss.item()) <= TORCH_TOL * abs(t_loss.item())
    assert rel_diff(mlp.forward(x), t_logits) <= TORCH_TOL
    assert [g.shape for g in grads] == [p.shape for p in mlp.params]
    for g, t_g in zip(grads, t_grads, strict=True):
        assert rel_diff(g, t_g) <= TORCH_TOL


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("sizes", [(4, 3), (4, 6, 3), (3, 5, 4, 2)])
def test_gradients_match_finite_differences(activation: str, sizes: tuple[int, ...]) -> None:
    mlp = MLP(sizes, activation=activation, seed=3)
    x, y = _problem(sizes, n=6, seed=4)
    _, grads = mlp.loss_and_grads(x, y)
    errors = fd_errors(lambda: mlp.loss_and_grads(x, y)[0], mlp.params, grads)
    assert max(errors) <= FD_TOL, errors


def test_parameter_layout_and_init() -> None:
    mlp = MLP([10, 20, 5], activation="relu", seed=0)
    assert [p.shape for p in mlp.params] == [(10, 20), (20,), (20, 5), (5,)]
    assert all(np.all(b == 0) for b in mlp.params[1::2])
    big = MLP([400, 300, 10], activation="relu", seed=0)
    assert np.std(big.params[0]) == pytest.approx(np.sqrt(2 / 400), rel=0.02)  # He
    glorot = MLP([400, 300], activation="tanh", seed=0)
    limit = np.sqrt(6 / 700)
    assert np.abs(glorot.params[0]).max() <= limit
    assert np.std(glorot.params[0]) == pytest.approx(limit / np.sqrt(3), rel=0.02)
    np.testing.assert_array_equal(MLP([3, 2], seed=9).params[0], MLP([3, 2], seed=9).params[0])


def test_predictions_and_dtypes() -> None:
    mlp = MLP([5, 8, 3], activation="tanh")
    x, y = _problem((5, 8, 3))
    proba = mlp.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_array_equal(mlp.predict(x), np.argmax(proba, axis=1))
    logits32 = mlp.forward(x.astype(np.float32))
    assert logits32.dtype == np.float32
    np.testing.assert_allclose(logits32, mlp.forward(x), rtol=1e-5, atol=1e-6)
    loss32, grads32 = mlp.loss_and_grads(x.astype(np.float32), y)
    assert loss32 == pytest.approx(mlp.loss_and_grads(x, y)[0], rel=1e-5)
    assert all(g.dtype == np.float64 for g in grads32)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "adagrad", "adamw"])
def test_fit_with_every_optimizer_lowers_the_loss(optimizer: str) -> None:
    x, y = _problem((6, 16, 3), n=60, seed=5)
    mlp = MLP([6, 16, 3], seed=0)
    history = mlp.fit(x, y, epochs=15, batch_size=16, optimizer=optimizer, lr=0.01, seed=1)
    assert isinstance(history, list) and len(history) == 15
    assert history[-1] < history[0]
    assert mlp.loss_and_grads(x, y)[0] < history[0]


def test_learns_digits_to_95_percent() -> None:
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    mlp = MLP([64, 128, 10], activation="relu", seed=0)
    history = mlp.fit(x_train, y_train, epochs=30, batch_size=32, optimizer="adam", lr=1e-3)
    accuracy = float(np.mean(mlp.predict(x_test) == y_test))
    assert history[-1] < 0.1
    assert accuracy >= 0.95, accuracy


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="layer_sizes"):
        MLP([4])
    with pytest.raises(ValueError, match="layer_sizes"):
        MLP([4, 0, 2])
    with pytest.raises(ValueError, match="activation"):
        MLP([4, 2], activation="softsign")
    mlp = MLP([4, 3])
    x, y = np.zeros((5, 4)), np.zeros(5, dtype=int)
    with pytest.raises(ValueError, match="X"):
        mlp.forward(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="X"):
        mlp.loss_and_grads(np.zeros(4), y)
    with pytest.raises(ValueError, match="y"):
        mlp.loss_and_grads(x, np.array([0, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match="y"):
        mlp.loss_and_grads(x, np.array([0, 1, 2, -1, 0]))
    with pytest.raises(ValueError, match="y"):
        mlp.loss_and_grads(x, np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="y"):
        mlp.loss_and_grads(x, np.zeros(5))
    with pytest.raises(ValueError, match="optimizer"):
        mlp.fit(x, y, optimizer="lbfgs")
    with pytest.raises(ValueError, match="batch_size"):
        mlp.fit(x, y, batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        mlp.fit(x, y, lr=-1.0)
    with pytest.raises(ValueError, match="epochs"):
        mlp.fit(x, y, epochs=-1)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_of_any_output_gradient_matches_torch(activation: str) -> None:
    mlp = MLP([3, 7, 4, 2], activation=activation, seed=4)
    rng = np.random.default_rng(5)
    for p in mlp.params[1::2]:
        p[:] = rng.normal(size=p.shape)
    x, grad_out = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    grad_x, grads = mlp.backward(x, grad_out)
    tx = t64(x).requires_grad_(True)
    leaves = [t64(p).requires_grad_(True) for p in mlp.params]
    a = tx
    for i in range(mlp.n_layers):
        a = a @ leaves[2 * i] + leaves[2 * i + 1]
        if i < mlp.n_layers - 1:
            a = TORCH_ACTIVATIONS[activation](a)
    t_grads = torch.autograd.grad((a * t64(grad_out)).sum(), [tx, *leaves])
    assert rel_diff(grad_x, t_grads[0]) < TORCH_TOL
    for ours, theirs in zip(grads, t_grads[1:], strict=True):
        assert rel_diff(ours, theirs) < TORCH_TOL
    with pytest.raises(ValueError, match="grad_out must have shape"):
        mlp.backward(x, grad_out[:, :1])
