"""Multilayer perceptron trained by backpropagation.

Reference: D. E. Rumelhart, G. E. Hinton, R. J. Williams, "Learning representations by
back-propagating errors", Nature 323, 533-536, 1986 (no arXiv id).  Initialisation: K. He,
X. Zhang, S. Ren, J. Sun, "Delving Deep into Rectifiers", ICCV 2015, arXiv:1502.01852 (relu)
and X. Glorot, Y. Bengio, "Understanding the difficulty of training deep feedforward neural
networks", AISTATS 2010 (no arXiv id) (tanh, sigmoid).

Row-vector layout (one sample per row, N samples, layers l = 1..L):

    z_l = a_{l-1} W_l + b_l,     a_l = f(z_l) for l < L,     a_0 = X,     logits = z_L
    loss = -(1/N) sum_n log softmax(z_L)_{n, y_n}                  (mean cross-entropy)
    delta_L = (softmax(z_L) - onehot(y)) / N
    grad W_l = a_{l-1}^T delta_l,     grad b_l = sum_n delta_l
    delta_{l-1} = (delta_l W_l^T) * f'(z_{l-1})

W_l has shape (in, out).  He init: W ~ N(0, 2 / fan_in) for relu; Glorot init:
W ~ U(-sqrt(6 / (fan_in + fan_out)), +sqrt(6 / (fan_in + fan_out))) for tanh and sigmoid;
biases start at zero.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reference import activations
from reference.training import check_schedule, make_optimizer, minibatches

__all__ = ["MLP"]

FloatArray = NDArray[np.floating[Any]]
IntArray = NDArray[np.integer[Any]]

_Forward = Callable[[FloatArray], FloatArray]
_Backward = Callable[[FloatArray, FloatArray], FloatArray]

_ACTIVATIONS: dict[str, tuple[_Forward, _Backward]] = {
    "relu": (activations.relu, activations.relu_backward),
    "tanh": (activations.tanh, activations.tanh_backward),
    "sigmoid": (activations.sigmoid, activations.sigmoid_backward),
}


def _log_softmax(z: FloatArray) -> FloatArray:
    shifted = z - np.max(z, axis=1, keepdims=True)
    out: FloatArray = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return out


def _float_input(x: ArrayLike) -> FloatArray:
    arr = np.asarray(x)
    return arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64)


class MLP:
    """Fully connected classifier; ``params`` = [W0, b0, W1, b1, ...], W_i of shape (in, out).

    The hidden layers use ``activation``; the last layer is linear and gives logits.  All
    computations run in the dtype of the input ``X`` (float32 or float64).
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str = "relu", seed: int = 0) -> None:
        sizes = tuple(int(s) for s in layer_sizes)
        if len(sizes) < 2:
            raise ValueError(f"layer_sizes needs at least 2 entries (in, out), got {sizes}")
        if any(s <= 0 for s in sizes):
            raise ValueError(f"layer_sizes must all be positive, got {sizes}")
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        self.layer_sizes = sizes
        self.activation = activation
        self._f, self._f_backward = _ACTIVATIONS[activation]
        rng = np.random.default_rng(seed)
        self.params: list[FloatArray] = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            if activation == "relu":
                w = rng.normal(0.0, math.sqrt(2.0 / fan_in), (fan_in, fan_out))
            else:
                limit = math.sqrt(6.0 / (fan_in + fan_out))
                w = rng.uniform(-limit, limit, (fan_in, fan_out))
            self.params += [w, np.zeros(fan_out)]

    @property
    def n_layers(self) -> int:
        return len(self.layer_sizes) - 1

    def _check_x(self, x: ArrayLike) -> FloatArray:
        arr = _float_input(x)
        if arr.ndim != 2 or arr.shape[1] != self.layer_sizes[0]:
            raise ValueError(f"X must have shape (N, {self.layer_sizes[0]}), got {arr.shape}")
        return arr

    def _check_y(self, y: ArrayLike, n: int) -> IntArray:
        arr = np.asarray(y)
        if arr.ndim != 1 or arr.shape[0] != n or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(
                f"y must be a 1-D integer array of length {n}, got {arr.dtype} {arr.shape}"
            )
        if arr.size and (arr.min() < 0 or arr.max() >= self.layer_sizes[-1]):
            raise ValueError(f"y labels must lie in [0, {self.layer_sizes[-1]})")
        return arr

    def _forward(self, x: FloatArray) -> tuple[list[FloatArray], list[FloatArray]]:
        """Return the layer inputs a_0..a_{L-1} and pre-activations z_1..z_L."""
        inputs: list[FloatArray] = []
        pre: list[FloatArray] = []
        a = x
        for layer in range(self.n_layers):
            w = self.params[2 * layer].astype(x.dtype, copy=False)
            b = self.params[2 * layer + 1].astype(x.dtype, copy=False)
            inputs.append(a)
            z = a @ w + b
            pre.append(z)
            a = self._f(z) if layer < self.n_layers - 1 else z
        return inputs, pre

    def forward(self, X: ArrayLike) -> FloatArray:
        """Logits z_L, shape (N, n_classes)."""
        return self._forward(self._check_x(X))[1][-1]

    __call__ = forward

    def predict_proba(self, X: ArrayLike) -> FloatArray:
        """softmax(z_L), shape (N, n_classes)."""
        out: FloatArray = np.exp(_log_softmax(self.forward(X)))
        return out

    def predict(self, X: ArrayLike) -> IntArray:
        """Most probable class per row."""
        out: IntArray = np.argmax(self.forward(X), axis=1)
        return out

    def loss_and_grads(self, X: ArrayLike, y: ArrayLike) -> tuple[float, list[FloatArray]]:
        """Mean softmax cross-entropy and its gradients (order of ``params``), by backprop."""
        x = self._check_x(X)
        labels = self._check_y(y, x.shape[0])
        n = x.shape[0]
        if n == 0:
            raise ValueError("X must contain at least one row")
        inputs, pre = self._forward(x)
        log_p = _log_softmax(pre[-1])
        rows = np.arange(n)
        loss = -float(np.mean(log_p[rows, labels]))
        delta = np.exp(log_p)
        delta[rows, labels] -= 1.0
        delta /= n
        return loss, self._backprop(inputs, pre, delta)[1]

    def backward(self, X: ArrayLike, grad_out: ArrayLike) -> tuple[FloatArray, list[FloatArray]]:
        """Gradients of sum(grad_out * forward(X)) with respect to X and to ``params``: the
        backward pass for any loss of the outputs (a GAN's, a VAE's, a regression's)."""
        x = self._check_x(X)
        g = np.asarray(grad_out, dtype=x.dtype)
        if g.shape != (x.shape[0], self.layer_sizes[-1]):
            raise ValueError(
                f"grad_out must have shape {(x.shape[0], self.layer_sizes[-1])}, got {g.shape}"
            )
        inputs, pre = self._forward(x)
        return self._backprop(inputs, pre, g)

    def _backprop(
        self, inputs: list[FloatArray], pre: list[FloatArray], delta: FloatArray
    ) -> tuple[FloatArray, list[FloatArray]]:
        """dL/dX and dL/dparams from delta = dL/dz_L."""
        grads: list[FloatArray] = [np.empty(0)] * len(self.params)
        for layer in reversed(range(self.n_layers)):
            w = self.params[2 * layer]
            grads[2 * layer] = (inputs[layer].T @ delta).astype(w.dtype, copy=False)
            grads[2 * layer + 1] = delta.sum(axis=0).astype(w.dtype, copy=False)
            delta = delta @ w.astype(delta.dtype, copy=False).T
            if layer > 0:
                delta = self._f_backward(pre[layer - 1], delta)
        return delta, grads

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        epochs: int = 20,
        batch_size: int = 32,
        optimizer: str = "adam",
        lr: float = 1e-3,
        seed: int = 0,
    ) -> list[float]:
        """Minibatch training with ``reference.optim``; continues from the current weights.

        Each epoch visits the rows in a fresh random order (``default_rng(seed)``).  Returns
        the history as a list with one entry per epoch: the mean training loss over that
        epoch's minibatches (weighted by batch size, each taken before its update step).
        The optimizer is created afresh on every call.
        """
        x = self._check_x(X)
        labels = self._check_y(y, x.shape[0])
        check_schedule(x.shape[0], epochs, batch_size, lr)
        opt = make_optimizer(optimizer, self.params, lr)
        rng = np.random.default_rng(seed)
        history: list[float] = []
        for _ in range(epochs):
            total = 0.0
            for idx in minibatches(x.shape[0], batch_size, rng):
                loss, grads = self.loss_and_grads(x[idx], labels[idx])
                opt.step(grads)
                total += loss * idx.size
            history.append(total / x.shape[0])
        return history
