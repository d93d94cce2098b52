"""Single-hidden-layer (optionally tied, optionally denoising) autoencoder.

References: G. E. Hinton, R. R. Salakhutdinov, "Reducing the Dimensionality of Data with
Neural Networks", Science 313, 504-507, 2006 (no arXiv id); P. Vincent, H. Larochelle,
Y. Bengio, P.-A. Manzagol, "Extracting and Composing Robust Features with Denoising
Autoencoders", ICML 2008 (no arXiv id) for the masking-noise denoising variant.  A linear
autoencoder trained on squared error spans the principal subspace: P. Baldi, K. Hornik,
"Neural networks and principal component analysis", Neural Networks 2(1), 1989.

Row-vector layout, X of shape (N, D), code size k:

    z = x~ W_enc + b_enc,    h = f(z)                     (encoder; x~ = x or a corrupted x)
    r = h W_dec + b_dec,     W_dec = W_enc^T if tied      (linear decoder)
    loss = (1 / (N D)) sum_{n,d} (r_{nd} - x_{nd})^2
    dr = 2 (r - x) / (N D),  grad W_dec = h^T dr,  grad b_dec = sum_n dr
    dz = (dr W_dec^T) * f'(z),  grad W_enc = x~^T dz (+ dr^T h if tied),  grad b_enc = sum_n dz

Masking noise: each input entry is set to 0 independently with probability ``noise``; the
loss compares the reconstruction with the clean input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reference import activations
from reference.training import check_schedule, make_optimizer, minibatches

__all__ = ["Autoencoder"]

FloatArray = NDArray[np.floating[Any]]

_Forward = Callable[[FloatArray], FloatArray]
_Backward = Callable[[FloatArray, FloatArray], FloatArray]


def _identity(x: FloatArray) -> FloatArray:
    return x


def _identity_backward(x: FloatArray, grad_out: FloatArray) -> FloatArray:
    return grad_out


_ACTIVATIONS: dict[str, tuple[_Forward, _Backward]] = {
    "sigmoid": (activations.sigmoid, activations.sigmoid_backward),
    "relu": (activations.relu, activations.relu_backward),
    "tanh": (activations.tanh, activations.tanh_backward),
    "linear": (_identity, _identity_backward),
}


class Autoencoder:
    """x -> f(x W_enc + b_enc) -> h W_dec + b_dec with a linear decoder.

    ``params`` = [W_enc (n_inputs, n_hidden), b_enc, W_dec (n_hidden, n_inputs), b_dec], or
    [W_enc, b_enc, b_dec] with ``tied_weights`` (the decoder then uses W_enc^T).  Weights are
    He-normal for relu and Glorot-uniform otherwise; biases start at zero.
    """

    def __init__(
        self,
        n_inputs: int,
        n_hidden: int,
        activation: str = "sigmoid",
        tied_weights: bool = False,
        seed: int = 0,
    ) -> None:
        if n_inputs <= 0:
            raise ValueError(f"n_inputs must be positive, got {n_inputs}")
        if n_hidden <= 0:
            raise ValueError(f"n_hidden must be positive, got {n_hidden}")
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        self.n_inputs, self.n_hidden = n_inputs, n_hidden
        self.activation = activation
        self.tied_weights = tied_weights
        self._f, self._f_backward = _ACTIVATIONS[activation]
        rng = np.random.default_rng(seed)

        def init(fan_in: int, fan_out: int) -> FloatArray:
            if activation == "relu":
                return rng.normal(0.0, math.sqrt(2.0 / fan_in), (fan_in, fan_out))
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            return rng.uniform(-limit, limit, (fan_in, fan_out))

        self.params: list[FloatArray] = [init(n_inputs, n_hidden), np.zeros(n_hidden)]
        if not tied_weights:
            self.params.append(init(n_hidden, n_inputs))
        self.params.append(np.zeros(n_inputs))

    @property
    def W_enc(self) -> FloatArray:
        return self.params[0]

    @property
    def b_enc(self) -> FloatArray:
        return self.params[1]

    @property
    def W_dec(self) -> FloatArray:
        """The decoder weights (n_hidden, n_inputs); a view W_enc^T when tied."""
        return self.params[0].T if self.tied_weights else self.params[2]

    @property
    def b_dec(self) -> FloatArray:
        return self.params[-1]

    def _check(self, name: str, x: ArrayLike, width: int) -> FloatArray:
        arr = np.asarray(x)
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
        if arr.ndim != 2 or arr.shape[1] != width:
            raise ValueError(f"{name} must have shape (N, {width}), got {arr.shape}")
        return arr

    def _encode(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        z = x @ self.W_enc.astype(x.dtype, copy=False) + self.b_enc.astype(x.dtype, copy=False)
        return z, self._f(z)

    def encode(self, X: ArrayLike) -> FloatArray:
        """The code h = f(X W_enc + b_enc), shape (N, n_hidden)."""
        return self._encode(self._check("X", X, self.n_inputs))[1]

    def decode(self, H: ArrayLike) -> FloatArray:
        """The linear reconstruction H W_dec + b_dec, shape (N, n_inputs)."""
        h = self._check("H", H, self.n_hidden)
        out: FloatArray = h @ self.W_dec.astype(h.dtype, copy=False) + self.b_dec.astype(
            h.dtype, copy=False
        )
        return out

    def reconstruct(self, X: ArrayLike) -> FloatArray:
        return self.decode(self.encode(X))

    def loss_and_grads(
        self, X: ArrayLike, target: ArrayLike | None = None
    ) -> tuple[float, list[FloatArray]]:
        """Mean squared reconstruction error over samples and features, and its gradients.

        ``target`` defaults to ``X``; pass the clean data as ``target`` and a corrupted copy as
        ``X`` for the denoising objective.  Gradients come in the order of ``params``.
        """
        x = self._check("X", X, self.n_inputs)
        t = x if target is None else self._check("target", target, self.n_inputs)
        if t.shape != x.shape:
            raise ValueError(f"target must have the shape of X {x.shape}, got {t.shape}")
        if x.shape[0] == 0:
            raise ValueError("X must contain at least one row")
        w_dec = self.W_dec.astype(x.dtype, copy=False)
        z, h = self._encode(x)
        r = h @ w_dec + self.b_dec.astype(x.dtype, copy=False)
        diff = r - t
        loss = float(np.mean(diff**2))
        dr = diff * (2.0 / diff.size)
        dz = self._f_backward(z, dr @ w_dec.T)
        grad_w_enc = x.T @ dz
        if self.tied_weights:
            grad_w_enc = grad_w_enc + dr.T @ h
        grads = [grad_w_enc, dz.sum(axis=0)]
        if not self.tied_weights:
            grads.append(h.T @ dr)
        grads.append(dr.sum(axis=0))
        return loss, [
            g.astype(p.dtype, copy=False) for g, p in zip(grads, self.params, strict=True)
        ]

    def fit(
        self,
        X: ArrayLike,
        epochs: int = 10,
        batch_size: int = 32,
        lr: float = 1e-3,
        optimizer: str = "adam",
        noise: float = 0.0,
        seed: int = 0,
    ) -> list[float]:
        """Minibatch training from the current weights with a fresh ``reference.optim`` optimizer.

        ``noise`` in [0, 1) is the masking fraction of a denoising autoencoder.  Returns the
        history: a list with the mean training loss of each epoch (minibatch losses weighted by
        batch size, each taken before its step; on corrupted inputs when ``noise`` > 0).
        """
        x = self._check("X", X, self.n_inputs)
        if not 0.0 <= noise < 1.0:
            raise ValueError(f"noise must lie in [0, 1), got {noise}")
        check_schedule(x.shape[0], epochs, batch_size, lr)
        opt = make_optimizer(optimizer, self.params, lr)
        rng = np.random.default_rng(seed)
        history: list[float] = []
        for _ in range(epochs):
            total = 0.0
            for idx in minibatches(x.shape[0], batch_size, rng):
                clean = x[idx]
                noisy = clean * (rng.random(clean.shape) >= noise) if noise > 0 else clean
                loss, grads = self.loss_and_grads(noisy, clean)
                opt.step(grads)
                total += loss * clean.shape[0]
            history.append(total / x.shape[0])
        return history
