"""Bernoulli-Bernoulli restricted Boltzmann machine with CD-k and persistent CD.

References: G. E. Hinton, "Training Products of Experts by Minimizing Contrastive
Divergence", Neural Computation 14(8), 1771-1800, 2002 (no arXiv id; CD-k);
T. Tieleman, "Training Restricted Boltzmann Machines using Approximations to the
Likelihood Gradient", ICML 2008 (no arXiv id; persistent CD); J. Besag, "Statistical
Analysis of Non-Lattice Data", The Statistician 24(3), 1975 (pseudo-likelihood).

Visible v in {0,1}^n_v, hidden h in {0,1}^n_h, W of shape (n_visible, n_hidden), visible bias
b, hidden bias c:

    E(v, h) = -b^T v - c^T h - v^T W h,            P(v, h) = exp(-E(v, h)) / Z
    F(v)    = -b^T v - sum_j softplus(c_j + (v^T W)_j),     P(v) = exp(-F(v)) / Z
    P(h_j = 1 | v) = sigmoid(c_j + (v^T W)_j),     P(v_i = 1 | h) = sigmoid(b_i + (W h)_i)
    log Z   = logsumexp_v(-F(v)) = logsumexp_h(c^T h + sum_i softplus(b_i + (W h)_i))
    log P(v_i | v_rest) = -softplus(F(v) - F(v with bit i flipped))

CD-k / PCD update (gradient ascent on the log-likelihood, <.> are means over rows):

    W += lr (<v h>_data - <v h>_model),  b += lr (<v>_data - <v>_model),
    c += lr (<h>_data - <h>_model),

with h replaced by P(h = 1 | v) in both terms, the data term at the batch v_0 and the model
term at v_k, the end of k Gibbs steps started from v_0 (CD) or from the persistent chains
(PCD).  softplus(x) = log(1 + e^x) is evaluated as np.logaddexp(0, x).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["BernoulliRBM"]

FloatArray = NDArray[np.floating[Any]]

_MAX_ENUMERATED_UNITS = 20
_ENUMERATION_CHUNK = 1 << 12


def _softplus(x: FloatArray) -> FloatArray:
    out: FloatArray = np.logaddexp(0.0, x)
    return out


def _sigmoid(x: FloatArray) -> FloatArray:
    e = np.exp(-np.abs(x))  # never overflows
    out: FloatArray = np.where(x >= 0, 1.0, e) / (1.0 + e)
    return out


def _logsumexp(x: FloatArray) -> float:
    m = float(np.max(x))
    return m + float(np.log(np.sum(np.exp(x - m))))


def _binary_rows(start: int, stop: int, width: int) -> FloatArray:
    """Rows start..stop-1 of the table of all 2**width binary vectors (bit j of the index)."""
    codes = np.arange(start, stop, dtype=np.int64)[:, None]
    return ((codes >> np.arange(width, dtype=np.int64)) & 1).astype(np.float64)


class BernoulliRBM:
    """RBM with ``W`` (n_visible, n_hidden), ``b_visible`` (b) and ``b_hidden`` (c).

    W ~ N(0, 0.01^2), biases zero (Hinton's practical guide).  Sampling uses
    ``np.random.default_rng(seed)``, kept on the object.  Computations run in float64 unless
    the inputs are float32.
    """

    def __init__(self, n_visible: int, n_hidden: int, seed: int = 0) -> None:
        if n_visible <= 0:
            raise ValueError(f"n_visible must be positive, got {n_visible}")
        if n_hidden <= 0:
            raise ValueError(f"n_hidden must be positive, got {n_hidden}")
        self.n_visible, self.n_hidden = n_visible, n_hidden
        self.rng = np.random.default_rng(seed)
        self.W: FloatArray = self.rng.normal(0.0, 0.01, (n_visible, n_hidden))
        self.b_visible: FloatArray = np.zeros(n_visible)
        self.b_hidden: FloatArray = np.zeros(n_hidden)
        self.persistent_chains: FloatArray | None = None

    def _check(self, name: str, x: ArrayLike, width: int) -> FloatArray:
        arr = np.asarray(x)
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
        if arr.ndim not in (1, 2) or arr.shape[-1] != width:
            raise ValueError(f"{name} must have shape (N, {width}) or ({width},), got {arr.shape}")
        return arr

    def _check_binary(self, name: str, x: ArrayLike) -> FloatArray:
        arr = self._check(name, x, self.n_visible)
        if not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"{name} must be binary (entries 0 or 1)")
        return arr

    def _hidden_input(self, v: FloatArray) -> FloatArray:
        out: FloatArray = v @ self.W.astype(v.dtype, copy=False) + self.b_hidden.astype(v.dtype)
        return out

    def free_energy(self, v: ArrayLike) -> FloatArray:
        """F(v) per row, shape (N,) (or a 0-d array for a single vector)."""
        x = self._check("v", v, self.n_visible)
        out: FloatArray = -(x @ self.b_visible.astype(x.dtype)) - _softplus(
            self._hidden_input(x)
        ).sum(axis=-1)
        return out

    def hidden_probs(self, v: ArrayLike) -> FloatArray:
        """P(h_j = 1 | v) = sigmoid(c + v W), shape (N, n_hidden)."""
        return _sigmoid(self._hidden_input(self._check("v", v, self.n_visible)))

    def visible_probs(self, h: ArrayLike) -> FloatArray:
        """P(v_i = 1 | h) = sigmoid(b + h W^T), shape (N, n_visible)."""
        x = self._check("h", h, self.n_hidden)
        return _sigmoid(x @ self.W.T.astype(x.dtype) + self.b_visible.astype(x.dtype))

    def _sample(self, p: FloatArray) -> FloatArray:
        out: FloatArray = (self.rng.random(p.shape) < p).astype(p.dtype)
        return out

    def gibbs(self, v: ArrayLike, k: int = 1) -> FloatArray:
        """Binary sample v_k after k full steps v -> h ~ P(h|v) -> v ~ P(v|h)."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        x = self._check("v", v, self.n_visible)
        for _ in range(k):
            x = self._sample(self.visible_probs(self._sample(self.hidden_probs(x))))
        return x

    def cd_update(
        self, v_batch: ArrayLike, lr: float, k: int = 1, persistent: bool = False
    ) -> None:
        """One CD-k (or PCD-k) gradient-ascent step on a (N, n_visible) batch, in place.

        Rows are binary (or probabilities in [0, 1]).  The data term uses v_0 and
        P(h = 1 | v_0); the model term uses the binary Gibbs sample v_k and P(h = 1 | v_k).

        With ``persistent`` the negative phase continues the chains in
        ``self.persistent_chains``, which are started from the first batch seen (set the
        attribute to None to restart them); the model term averages over the chains.
        """
        v0 = self._check("v_batch", v_batch, self.n_visible)
        if v0.ndim != 2 or v0.shape[0] == 0:
            raise ValueError(f"v_batch must be a non-empty (N, {self.n_visible}) array")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        ph0 = self.hidden_probs(v0)
        if persistent:
            if self.persistent_chains is None:
                self.persistent_chains = v0.copy()
            vk = self.gibbs(self.persistent_chains, k)
            self.persistent_chains = vk
        else:
            vk = self.gibbs(v0, k)
        phk = self.hidden_probs(vk)
        self.W += lr * (v0.T @ ph0 / v0.shape[0] - vk.T @ phk / vk.shape[0])
        self.b_visible += lr * (v0.mean(axis=0) - vk.mean(axis=0))
        self.b_hidden += lr * (ph0.mean(axis=0) - phk.mean(axis=0))

    def fit(
        self,
        X: ArrayLike,
        epochs: int = 10,
        batch_size: int = 10,
        lr: float = 0.1,
        k: int = 1,
        persistent: bool = False,
    ) -> list[float]:
        """Shuffled minibatch CD-k / PCD-k on binary ``X``, from the current parameters.

        Shuffling and sampling use the object's generator.  Returns the history: a list with
        the exact mean log pseudo-likelihood of ``X`` (:meth:`pseudo_likelihood`) after each
        epoch.
        """
        x = self._check_binary("X", X)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"X must be a non-empty (N, {self.n_visible}) array")
        if epochs < 0:
            raise ValueError(f"epochs must be non-negative, got {epochs}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        history: list[float] = []
        for _ in range(epochs):
            order = self.rng.permutation(x.shape[0])
            for start in range(0, x.shape[0], batch_size):
                self.cd_update(x[order[start : start + batch_size]], lr, k, persistent)
            history.append(self.pseudo_likelihood(x))
        return history

    def log_partition(self) -> float:
        """Exact log Z, summing over the 2**min(n_visible, n_hidden) states of the smaller layer."""
        small = min(self.n_visible, self.n_hidden)
        if small > _MAX_ENUMERATED_UNITS:
            raise ValueError(
                f"log_partition enumerates the smaller layer: min(n_visible, n_hidden) = {small} "
                f"exceeds {_MAX_ENUMERATED_UNITS} units"
            )
        chunks: list[float] = []
        for start in range(0, 1 << small, _ENUMERATION_CHUNK):
            states = _binary_rows(start, min(start + _ENUMERATION_CHUNK, 1 << small), small)
            if self.n_hidden <= self.n_visible:  # enumerate h, sum out v analytically
                log_terms = states @ self.b_hidden + _softplus(
                    states @ self.W.T + self.b_visible
                ).sum(axis=1)
            else:  # enumerate v, sum out h analytically
                log_terms = -self.free_energy(states)
            chunks.append(_logsumexp(log_terms))
        return _logsumexp(np.array(chunks))

    def log_likelihood(self, X: ArrayLike) -> float:
        """Exact mean log P(v) over the rows of X: mean(-F(v)) - log Z."""
        x = self._check_binary("X", X)
        return float(np.mean(-self.free_energy(x))) - self.log_partition()

    def pseudo_likelihood(self, X: ArrayLike) -> float:
        """Exact mean over rows of the log pseudo-likelihood sum_i log P(v_i | v_rest).

        Every visible unit is used (no random subsampling as in scikit-learn's score).
        """
        x2 = np.atleast_2d(self._check_binary("X", X))
        pre = self._hidden_input(x2)  # (N, n_hidden)
        w = self.W.astype(x2.dtype)
        b = self.b_visible.astype(x2.dtype)
        f_v = -(x2 @ b) - _softplus(pre).sum(axis=1)
        total = np.zeros(x2.shape[0], dtype=x2.dtype)
        for i in range(self.n_visible):
            sign = 1.0 - 2.0 * x2[:, i]  # +1 turns a 0 into a 1, -1 the reverse
            f_flip = -(x2 @ b + sign * b[i]) - _softplus(pre + sign[:, None] * w[i]).sum(axis=1)
            total -= _softplus(f_v - f_flip)
        return float(np.mean(total))
