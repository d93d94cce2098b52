"""Recurrent layers (Elman RNN, LSTM, GRU) with backpropagation through time, as torch.nn.

Papers:

* Elman network: J. L. Elman, 1990, "Finding Structure in Time", Cognitive Science 14(2),
  179-211, DOI 10.1207/s15516709cog1402_1.
* Backpropagation through time: P. J. Werbos, 1990, "Backpropagation Through Time: What It Does and
  How to Do It", Proceedings of the IEEE 78(10), 1550-1560, DOI 10.1109/5.58337.
* LSTM: S. Hochreiter, J. Schmidhuber, 1997, "Long Short-Term Memory", Neural Computation 9(8),
  1735-1780, DOI 10.1162/neco.1997.9.8.1735; the forget gate: F. A. Gers, J. Schmidhuber,
  F. Cummins, 2000, "Learning to Forget", Neural Computation 12(10), DOI 10.1162/089976600300015015.
* GRU: K. Cho, B. van Merrienboer, C. Gulcehre, D. Bahdanau, F. Bougares, H. Schwenk, Y. Bengio,
  2014, "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine
  Translation", EMNLP, arXiv:1406.1078.

Equations, torch's (sigma the logistic sigmoid; W_i* rows of weight_ih, W_h* of weight_hh, in the
gate order of torch's layout; b_i*, b_h* likewise):

* RNN:  h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),  act = tanh or relu.
* LSTM (gates i, f, g, o):  i = sigma(.), f = sigma(.), g = tanh(.), o = sigma(.) of
  W_i* x_t + b_i* + W_h* h_{t-1} + b_h*;  c_t = f c_{t-1} + i g,  h_t = o tanh(c_t).
* GRU (gates r, z, n):  r = sigma(W_ir x + b_ir + W_hr h + b_hr),  z = sigma(W_iz x + b_iz + W_hz h
  + b_hz),  n = tanh(W_in x + b_in + r (W_hn h + b_hn)),  h_t = (1 - z) n + z h_{t-1}.

Backward (BPTT): with a_t = W_ih x_t + b_ih (all steps in one matrix product) and
u_t = W_hh h_{t-1} + b_hh, each step turns dL/dh_t (from the output at t and from step t + 1)
and dL/dc_t into dL/da_t and dL/du_t; then dL/dh_{t-1} = dL/du_t W_hh (+ the GRU's direct
z dL/dh_t), dL/dW_hh = sum_t dL/du_t^T h_{t-1}, dL/dW_ih = sum_t dL/da_t^T x_t,
dL/dx_t = dL/da_t W_ih, and the bias gradients are the sums of dL/da and dL/du.
"""

from abc import ABC, abstractmethod
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reference.activations import sigmoid

__all__ = ["GRU", "LSTM", "RNN"]

FloatArray = NDArray[np.floating[Any]]
Cache = tuple[FloatArray, ...]


class _Recurrent(ABC):
    """One unidirectional layer: weights in torch's layout, the time loop and BPTT."""

    gates: int  # rows of the weights per hidden unit

    def __init__(
        self,
        weight_ih: ArrayLike,
        weight_hh: ArrayLike,
        bias_ih: ArrayLike | None = None,
        bias_hh: ArrayLike | None = None,
    ) -> None:
        w_ih, w_hh = np.asarray(weight_ih), np.asarray(weight_hh)
        dtype = np.result_type(w_ih, w_hh)
        if not np.issubdtype(dtype, np.floating):
            dtype = np.dtype(np.float64)
        if w_hh.ndim != 2 or w_hh.shape[0] != self.gates * w_hh.shape[1] or w_hh.shape[1] < 1:
            raise ValueError(
                f"weight_hh must have shape ({self.gates} * hidden_size, hidden_size), "
                f"got {w_hh.shape}"
            )
        self.hidden_size = w_hh.shape[1]
        rows = self.gates * self.hidden_size
        if w_ih.ndim != 2 or w_ih.shape[0] != rows:
            raise ValueError(f"weight_ih must have shape ({rows}, input_size), got {w_ih.shape}")
        self.input_size = w_ih.shape[1]
        self.weight_ih: FloatArray = w_ih.astype(dtype)
        self.weight_hh: FloatArray = w_hh.astype(dtype)
        self.bias_ih = self._bias(bias_ih, "bias_ih", dtype)
        self.bias_hh = self._bias(bias_hh, "bias_hh", dtype)
        self._saved: tuple[FloatArray, FloatArray, list[Cache]] | None = None

    def _bias(self, value: ArrayLike | None, name: str, dtype: Any) -> FloatArray | None:
        if value is None:
            return None
        b = np.asarray(value, dtype=dtype)
        if b.shape != (self.gates * self.hidden_size,):
            raise ValueError(
                f"{name} must have shape ({self.gates * self.hidden_size},), got {b.shape}"
            )
        return b

    def _state(self, value: ArrayLike | None, name: str, n: int) -> FloatArray:
        if value is None:
            return np.zeros((n, self.hidden_size), self.weight_hh.dtype)
        s = np.asarray(value, dtype=self.weight_hh.dtype)
        if s.shape != (n, self.hidden_size):
            raise ValueError(f"{name} must have shape ({n}, {self.hidden_size}), got {s.shape}")
        return s

    # Subclasses: one step forward, u = W_hh h_{t-1} + b_hh, c_prev None except for the LSTM;
    # and one step back, returning (dL/da_t, dL/du_t, the direct part of dL/dh_{t-1}, dL/dc_{t-1}).
    @abstractmethod
    def _step(
        self, a: FloatArray, u: FloatArray, h_prev: FloatArray, c_prev: FloatArray | None
    ) -> tuple[FloatArray, FloatArray | None, Cache]: ...

    @abstractmethod
    def _step_back(
        self, dh: FloatArray, dc: FloatArray | None, cache: Cache
    ) -> tuple[FloatArray, FloatArray, FloatArray | None, FloatArray | None]: ...

    def _run(
        self, x: ArrayLike, h0: ArrayLike | None, c0: ArrayLike | None
    ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        xs = np.asarray(x, dtype=self.weight_ih.dtype)
        if xs.ndim != 3 or xs.shape[2] != self.input_size or xs.shape[0] < 1:
            raise ValueError(
                f"x must have shape (T >= 1, N, input_size={self.input_size}), got {xs.shape}"
            )
        n = xs.shape[1]
        h = self._state(h0, "h0", n)
        c = self._state(c0, "c0", n) if self.gates == 4 else None
        a_all = xs @ self.weight_ih.T
        if self.bias_ih is not None:
            a_all += self.bias_ih
        output = np.empty((xs.shape[0], n, self.hidden_size), xs.dtype)
        caches = []
        for t in range(xs.shape[0]):
            u = h @ self.weight_hh.T
            if self.bias_hh is not None:
                u += self.bias_hh
            h, c, cache = self._step(a_all[t], u, h, c)
            output[t] = h
            caches.append(cache)
        self._saved = (xs, output, caches)
        return output, h, c

    def _bptt(
        self, grad_output: ArrayLike, grad_h_n: ArrayLike | None, grad_c_n: ArrayLike | None
    ) -> dict[str, FloatArray]:
        if self._saved is None:
            raise RuntimeError("backward called before forward")
        xs, output, caches = self._saved
        t_len, n, _ = output.shape
        g = np.asarray(grad_output, dtype=xs.dtype)
        if g.shape != output.shape:
            raise ValueError(
                f"grad_output must have the output's shape {output.shape}, got {g.shape}"
            )
        dh = self._state(grad_h_n, "grad_h_n", n).copy()
        dc = self._state(grad_c_n, "grad_c_n", n).copy() if self.gates == 4 else None
        da_all = np.empty((t_len, n, self.gates * self.hidden_size), xs.dtype)
        grad_w_hh = np.zeros_like(self.weight_hh)
        grad_b_hh = np.zeros(self.gates * self.hidden_size, xs.dtype)
        for t in range(t_len - 1, -1, -1):
            dh += g[t]
            da, du, dh_direct, dc = self._step_back(dh, dc, caches[t])
            da_all[t] = da
            h_prev = caches[t][0]
            grad_w_hh += du.T @ h_prev
            grad_b_hh += du.sum(axis=0)
            dh = du @ self.weight_hh
            if dh_direct is not None:
                dh += dh_direct
        grads = {
            "x": da_all @ self.weight_ih,
            "h0": dh,
            "weight_ih": np.einsum("tng,tni->gi", da_all, xs),
            "weight_hh": grad_w_hh,
        }
        if dc is not None:
            grads["c0"] = dc
        if self.bias_ih is not None:
            grads["bias_ih"] = da_all.sum(axis=(0, 1))
        if self.bias_hh is not None:
            grads["bias_hh"] = grad_b_hh
        return grads


class _HiddenStateOnly(_Recurrent, ABC):
    """A layer whose only state is h (the RNN and the GRU)."""

    def forward(self, x: ArrayLike, h0: ArrayLike | None = None) -> tuple[FloatArray, FloatArray]:
        """(output (T, N, H), h_n (N, H)) for x (T, N, input_size)."""
        output, h_n, _ = self._run(x, h0, None)
        return output, h_n

    __call__ = forward

    def backward(
        self, grad_output: ArrayLike, grad_h_n: ArrayLike | None = None
    ) -> dict[str, FloatArray]:
        """Gradients of the last forward call: x, h0, weight_ih, weight_hh and the biases."""
        return self._bptt(grad_output, grad_h_n, None)


class RNN(_HiddenStateOnly):
    """Elman RNN layer, ``torch.nn.RNN`` with one layer (tanh or relu)."""

    gates = 1

    def __init__(
        self,
        weight_ih: ArrayLike,
        weight_hh: ArrayLike,
        bias_ih: ArrayLike | None = None,
        bias_hh: ArrayLike | None = None,
        nonlinearity: Literal["tanh", "relu"] = "tanh",
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(weight_ih, weight_hh, bias_ih, bias_hh)

    def _step(
        self, a: FloatArray, u: FloatArray, h_prev: FloatArray, c_prev: FloatArray | None
    ) -> tuple[FloatArray, FloatArray | None, Cache]:
        pre = a + u
        h = np.tanh(pre) if self.nonlinearity == "tanh" else np.maximum(pre, 0)
        return h, None, (h_prev, h)

    def _step_back(
        self, dh: FloatArray, dc: FloatArray | None, cache: Cache
    ) -> tuple[FloatArray, FloatArray, FloatArray | None, FloatArray | None]:
        h = cache[1]
        dpre = dh * (1 - h * h) if self.nonlinearity == "tanh" else dh * (h > 0)
        return dpre, dpre, None, None


class LSTM(_Recurrent):
    """LSTM layer, ``torch.nn.LSTM`` with one layer (gate order i, f, g, o)."""

    gates = 4

    def forward(
        self, x: ArrayLike, h0: ArrayLike | None = None, c0: ArrayLike | None = None
    ) -> tuple[FloatArray, tuple[FloatArray, FloatArray]]:
        """(output (T, N, H), (h_n, c_n)) for x (T, N, input_size)."""
        output, h_n, c_n = self._run(x, h0, c0)
        assert c_n is not None
        return output, (h_n, c_n)

    __call__ = forward

    def backward(
        self,
        grad_output: ArrayLike,
        grad_h_n: ArrayLike | None = None,
        grad_c_n: ArrayLike | None = None,
    ) -> dict[str, FloatArray]:
        """Gradients of the last forward call: x, h0, c0, weight_ih, weight_hh and the biases."""
        return self._bptt(grad_output, grad_h_n, grad_c_n)

    def _step(
        self, a: FloatArray, u: FloatArray, h_prev: FloatArray, c_prev: FloatArray | None
    ) -> tuple[FloatArray, FloatArray | None, Cache]:
        assert c_prev is not None
        pre = a + u
        hs = self.hidden_size
        gates = sigmoid(pre)  # one call for the block; g's columns go unused
        i, f, o = gates[:, :hs], gates[:, hs : 2 * hs], gates[:, 3 * hs :]
        g = np.tanh(pre[:, 2 * hs : 3 * hs])
        c = f * c_prev + i * g
        tanh_c = np.tanh(c)
        return o * tanh_c, c, (h_prev, c_prev, i, f, g, o, tanh_c)

    def _step_back(
        self, dh: FloatArray, dc: FloatArray | None, cache: Cache
    ) -> tuple[FloatArray, FloatArray, FloatArray | None, FloatArray | None]:
        assert dc is not None
        _, c_prev, i, f, g, o, tanh_c = cache
        dc = dc + dh * o * (1 - tanh_c * tanh_c)
        dpre = np.concatenate(
            [dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g),
             dh * tanh_c * o * (1 - o)],
            axis=1,
        )  # fmt: skip
        return dpre, dpre, None, dc * f


class GRU(_HiddenStateOnly):
    """GRU layer, ``torch.nn.GRU`` with one layer (gate order r, z, n)."""

    gates = 3

    def _step(
        self, a: FloatArray, u: FloatArray, h_prev: FloatArray, c_prev: FloatArray | None
    ) -> tuple[FloatArray, FloatArray | None, Cache]:
        hs = self.hidden_size
        rz = sigmoid(a[:, : 2 * hs] + u[:, : 2 * hs])
        r, z = rz[:, :hs], rz[:, hs:]
        u_n = u[:, 2 * hs :]
        n = np.tanh(a[:, 2 * hs :] + r * u_n)
        return (1 - z) * n + z * h_prev, None, (h_prev, r, z, n, u_n)

    def _step_back(
        self, dh: FloatArray, dc: FloatArray | None, cache: Cache
    ) -> tuple[FloatArray, FloatArray, FloatArray | None, FloatArray | None]:
        h_prev, r, z, n, u_n = cache
        dn = dh * (1 - z) * (1 - n * n)
        dz = dh * (h_prev - n) * z * (1 - z)
        dr = dn * u_n * r * (1 - r)
        da = np.concatenate([dr, dz, dn], axis=1)
        du = np.concatenate([dr, dz, dn * r], axis=1)
        return da, du, dh * z, None
