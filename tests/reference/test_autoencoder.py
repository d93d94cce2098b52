"""reference.autoencoder: gradients (finite differences, torch), PCA optimum, denoising."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from _helpers import FD_TOL, TORCH_TOL, fd_errors, rel_diff, t64
from numpy.typing import NDArray

from reference.autoencoder import Autoencoder

ACTIVATIONS = ["sigmoid", "relu", "tanh", "linear"]
TORCH_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "linear": torch.nn.Identity(),
}


def _model(activation: str, tied: bool, seed: int = 0) -> Autoencoder:
    ae = Autoencoder(6, 4, activation=activation, tied_weights=tied, seed=seed)
    rng = np.random.default_rng(seed + 10)
    for p in ae.params[1::2] if not tied else ae.params[1:]:
        p[:] = rng.normal(size=p.shape)  # non-zero biases
    return ae


def _data(n: int = 5, d: int = 6, seed: int = 1) -> NDArray[np.float64]:
    return np.random.default_rng(seed).normal(size=(n, d))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("tied", [False, True])
def test_gradients_match_finite_differences(activation: str, tied: bool) -> None:
    ae = _model(activation, tied)
    x = _data()
    _, grads = ae.loss_and_grads(x)
    assert len(grads) == (3 if tied else 4)
    assert [g.shape for g in grads] == [p.shape for p in ae.params]
    errors = fd_errors(lambda: ae.loss_and_grads(x)[0], ae.params, grads)
    assert max(errors) <= FD_TOL, errors
    # Denoising objective: corrupted input, clean target.
    noisy = x * (np.random.default_rng(2).random(x.shape) >= 0.3)
    _, grads = ae.loss_and_grads(noisy, target=x)
    errors = fd_errors(lambda: ae.loss_and_grads(noisy, target=x)[0], ae.params, grads)
    assert max(errors) <= FD_TOL, errors


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("tied", [False, True])
def test_loss_and_gradients_match_torch_autograd(activation: str, tied: bool) -> None:
    ae = _model(activation, tied, seed=3)
    x = _data(seed=4)
    loss, grads = ae.loss_and_grads(x)
    params = [t64(p).requires_grad_() for p in ae.params]
    w_dec = params[0].T if tied else params[2]
    code = TORCH_ACTIVATIONS[activation](t64(x) @ params[0] + params[1])
    t_loss = torch.mean((code @ w_dec + params[-1] - t64(x)) ** 2)
    t_grads = torch.autograd.grad(t_loss, params)
    assert abs(loss - t_loss.item()) <= TORCH_TOL * t_loss.item()
    for g, t_g in zip(grads, t_grads, strict=True):
        assert rel_diff(g, t_g) <= TORCH_TOL
    np.testing.assert_allclose(ae.reconstruct(x), ae.decode(ae.encode(x)))
    assert abs(float(np.mean((ae.reconstruct(x) - x) ** 2)) - loss) <= 1e-14


def test_parameter_layout() -> None:
    ae = Autoencoder(7, 3)
    assert [p.shape for p in ae.params] == [(7, 3), (3,), (3, 7), (7,)]
    tied = Autoencoder(7, 3, tied_weights=True)
    assert [p.shape for p in tied.params] == [(7, 3), (3,), (7,)]
    assert np.shares_memory(tied.W_dec, tied.W_enc)
    np.testing.assert_array_equal(tied.W_dec, tied.W_enc.T)
    assert ae.encode(np.zeros((2, 7))).shape == (2, 3)
    assert ae.decode(np.zeros((2, 3))).shape == (2, 7)
    assert ae.encode(np.zeros((2, 7), dtype=np.float32)).dtype == np.float32
    assert ae.reconstruct(np.zeros((2, 7), dtype=np.float32)).dtype == np.float32


def _low_rank_data(n: int = 400, seed: int = 0) -> NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    scales = np.array([5.0, 4.0, 3.0, 1.0, 0.8, 0.6, 0.4, 0.2])
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    out: NDArray[np.float64] = (rng.normal(size=(n, 8)) * scales) @ rotation + rng.normal(size=8)
    return out


@pytest.mark.parametrize("tied", [False, True])
def test_linear_autoencoder_reaches_pca_error(tied: bool) -> None:
    x = _low_rank_data()
    k = 3
    centred = x - x.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    pca_error = float(np.sum(singular[k:] ** 2) / x.size)  # same normalisation as the loss
    ae = Autoencoder(8, k, activation="linear", tied_weights=tied, seed=0)
    ae.fit(x, epochs=150, batch_size=32, lr=1e-2, seed=0)
    final = ae.loss_and_grads(x)[0]
    assert pca_error <= final * (1 + 1e-9)  # PCA is optimal
    assert final <= 1.02 * pca_error, (final, pca_error)


def test_fit_continues_and_denoises() -> None:
    x = _low_rank_data(n=200, seed=1) / 5
    ae = Autoencoder(8, 4, activation="tanh", seed=0)
    start = [p.copy() for p in ae.params]
    assert ae.fit(x, epochs=0) == []
    assert all(np.array_equal(p, q) for p, q in zip(ae.params, start, strict=True))
    first = ae.fit(x, epochs=10, batch_size=20, lr=1e-2)
    second = ae.fit(x, epochs=10, batch_size=20, lr=1e-2)
    assert len(first) == 10 and len(second) == 10
    assert second[0] < first[0]  # the second call starts from the trained weights
    assert second[-1] < first[-1]
    dae = Autoencoder(8, 4, activation="tanh", seed=0)
    noisy_history = dae.fit(x, epochs=20, batch_size=20, lr=1e-2, noise=0.3, seed=2)
    assert noisy_history[-1] < noisy_history[0]
    # Against clean targets from masked inputs, the denoiser beats the plain autoencoder.
    masked = x * (np.random.default_rng(5).random(x.shape) >= 0.3)
    ae_plain = Autoencoder(8, 4, activation="tanh", seed=0)
    ae_plain.fit(x, epochs=20, batch_size=20, lr=1e-2, seed=2)
    denoised = dae.loss_and_grads(masked, target=x)[0]
    assert denoised < ae_plain.loss_and_grads(masked, target=x)[0]


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "adagrad", "adamw"])
def test_fit_with_every_optimizer_lowers_the_loss(optimizer: str) -> None:
    x = _low_rank_data(n=100, seed=3) / 5
    ae = Autoencoder(8, 3, activation="sigmoid", seed=0)
    history = ae.fit(x, epochs=10, batch_size=25, lr=1e-2, optimizer=optimizer)
    assert history[-1] < history[0]


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="n_inputs"):
        Autoencoder(0, 3)
    with pytest.raises(ValueError, match="n_hidden"):
        Autoencoder(3, 0)
    with pytest.raises(ValueError, match="activation"):
        Autoencoder(3, 2, activation="softmax")
    ae = Autoencoder(3, 2)
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match="X"):
        ae.loss_and_grads(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="target"):
        ae.loss_and_grads(x, target=np.zeros((5, 3)))
    with pytest.raises(ValueError, match="H"):
        ae.decode(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="noise"):
        ae.fit(x, noise=1.0)
    with pytest.raises(ValueError, match="optimizer"):
        ae.fit(x, optimizer="lbfgs")
    with pytest.raises(ValueError, match="batch_size"):
        ae.fit(x, batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        ae.fit(x, lr=0.0)
