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
(PCD).  softplus(x) = log(1 + e^x) is evaluated as np.logaddexp(0, x).  In the pseudo-likelihood,
softplus(a + d) - softplus(a) = log(sigmoid(-a) + sigmoid(a) e^d), a sum of two positive terms, is
used while |W| <= 30 (so e^d stays far from overflow): one logarithm per term instead of a pair of
softplus evaluations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reference.training import check_schedule, minibatches

__all__ = ["BernoulliRBM"]

FloatArray = NDArray[np.floating[Any]]

_MAX_ENUMERATED_UNITS = 20
_ENUMERATION_CHUNK = 1 << 12
# pseudo_likelihood takes its fast path (exp(+-W) precomputed) while every |W_ij| is at most this:
# products of exp(+-W) with probabilities then stay far from overflow.
_FAST_PL_MAX_WEIGHT = 30.0
# Elements of the (rows, n_visible, n_hidden) blocks of that fast path.
_PL_BLOCK = 1 << 16


def _softplus(x: FloatArray) -> FloatArray:
    out: FloatArray = np.logaddexp(0.0, x)
    return out


def _sigmoid(x: FloatArray) -> FloatArray:
    """1 / (1 + exp(-x)), to full relative accuracy; exp(-x) = inf (x < -709) gives 0."""
    out: FloatArray = np.negative(x)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    return out


def _sigmoid_pair(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(sigmoid(x), sigmoid(-x)), both to full relative accuracy and without overflow."""
    e = np.exp(-np.abs(x))
    big = 1.0 / (1.0 + e)
    small = e * big
    positive = x >= 0
    return np.where(positive, big, small), np.where(positive, small, big)


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
        out: FloatArray = v @ self.W.astype(v.dtype, copy=False)
        out += self.b_hidden.astype(v.dtype, copy=False)
        return out

    def _visible_input(self, h: FloatArray) -> FloatArray:
        out: FloatArray = h @ self.W.T.astype(h.dtype, copy=False)
        out += self.b_visible.astype(h.dtype, copy=False)
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
        return _sigmoid(self._visible_input(self._check("h", h, self.n_hidden)))

    def _sample(self, p: FloatArray) -> FloatArray:
        out: FloatArray = (self.rng.random(p.shape) < p).astype(p.dtype)
        return out

    def gibbs(self, v: ArrayLike, k: int = 1) -> FloatArray:
        """Binary sample v_k after k full steps v -> h ~ P(h|v) -> v ~ P(v|h)."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        return self._gibbs(self._check("v", v, self.n_visible), k)

    def _gibbs(self, x: FloatArray, k: int) -> FloatArray:
        for _ in range(k):
            h = self._sample(_sigmoid(self._hidden_input(x)))
            x = self._sample(_sigmoid(self._visible_input(h)))
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
        ph0 = _sigmoid(self._hidden_input(v0))
        if persistent:
            if self.persistent_chains is None:
                self.persistent_chains = v0.copy()
            vk = self._gibbs(self.persistent_chains, k)
            self.persistent_chains = vk
        else:
            vk = self._gibbs(v0, k)
        phk = _sigmoid(self._hidden_input(vk))
        # W += lr (v0^T ph0 / N - vk^T phk / M), in place.
        step = v0.T @ ph0
        step *= lr / v0.shape[0]
        self.W += step
        step = np.matmul(vk.T, phk, out=step)
        step *= lr / vk.shape[0]
        self.W -= step
        self.b_visible += (lr / v0.shape[0]) * v0.sum(axis=0)
        self.b_visible -= (lr / vk.shape[0]) * vk.sum(axis=0)
        self.b_hidden += (lr / v0.shape[0]) * ph0.sum(axis=0)
        self.b_hidden -= (lr / vk.shape[0]) * phk.sum(axis=0)

    def fit(
        self,
        X: ArrayLike,
        epochs: int = 10,
        batch_size: int = 10,
        lr: float = 0.1,
        k: int = 1,
        persistent: bool = False,
        *,
        monitor: bool = True,
    ) -> list[float]:
        """Shuffled minibatch CD-k / PCD-k on binary ``X``, from the current parameters.

        Shuffling and sampling use the object's generator.  Returns the history: a list with
        the exact mean log pseudo-likelihood of ``X`` (:meth:`pseudo_likelihood`) after each
        epoch, or an empty list with ``monitor=False``, which skips that evaluation (it costs
        about as much as an epoch of training).
        """
        x = self._check_binary("X", X)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"X must be a non-empty (N, {self.n_visible}) array")
        check_schedule(x.shape[0], epochs, batch_size, lr)
        history: list[float] = []
        for _ in range(epochs):
            for idx in minibatches(x.shape[0], batch_size, self.rng):
                self.cd_update(x[idx], lr, k, persistent)
            if monitor:
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
        w = self.W.astype(x2.dtype, copy=False)
        b = self.b_visible.astype(x2.dtype, copy=False)
        sign = 1.0 - 2.0 * x2  # +1 turns a 0 into a 1, -1 the reverse
        # gap[n, i] = F(v) - F(v with bit i flipped)
        #           = sign_i b_i + sum_j [softplus(pre_j + sign_i W_ij) - softplus(pre_j)]
        if np.max(np.abs(w), initial=0.0) <= _FAST_PL_MAX_WEIGHT:
            gap = self._flip_gaps(x2, pre, w)
        else:
            gap = np.empty_like(x2)
            base = _softplus(pre).sum(axis=1)
            for i in range(self.n_visible):
                gap[:, i] = _softplus(pre + sign[:, i, None] * w[i]).sum(axis=1) - base
        gap += sign * b
        # log P(v_i | v_rest) = -softplus(gap)
        return -float(np.mean(_softplus(gap).sum(axis=1)))

    def _flip_gaps(self, x2: FloatArray, pre: FloatArray, w: FloatArray) -> FloatArray:
        """sum_j [softplus(a_j + d) - softplus(a_j)] for d = +-W_ij, as
        sum_j log(sigmoid(-a_j) + sigmoid(a_j) exp(d)): a sum of two positive terms, so no
        cancellation, and one logarithm per term instead of a softplus pair."""
        p_on, p_off = _sigmoid_pair(pre)  # sigmoid(a), sigmoid(-a); (N, n_hidden)
        turn_on, turn_off = np.exp(w), np.exp(-w)  # exp(d) for a 0 -> 1 and a 1 -> 0 flip
        rows = max(1, _PL_BLOCK // (self.n_visible * self.n_hidden))
        gap = np.empty_like(x2)
        block = np.empty((min(rows, x2.shape[0]), self.n_visible, self.n_hidden), x2.dtype)
        for start in range(0, x2.shape[0], rows):
            stop = min(start + rows, x2.shape[0])
            t = block[: stop - start]
            np.copyto(t, np.where(x2[start:stop, :, None] == 0, turn_on, turn_off))
            t *= p_on[start:stop, None, :]
            t += p_off[start:stop, None, :]
            np.log(t, out=t)
            np.sum(t, axis=2, out=gap[start:stop])
        return gap
