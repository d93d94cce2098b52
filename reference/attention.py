"""Scaled dot-product and multi-head attention (Vaswani et al., 2017).

Reference: A. Vaswani, N. Shazeer, N. Parmar, J. Uszkoreit, L. Jones, A. N. Gomez,
L. Kaiser, I. Polosukhin, "Attention Is All You Need", NeurIPS 2017, arXiv:1706.03762.

Implements

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V                      (eq. 1)
    MultiHead(Q, K, V) = Concat(head_1, ..., head_H) W^O,
    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)                              (sec. 3.2.2)

where M is an additive mask (0 where attention is allowed, -inf where it is not).  The
softmax is computed stably (the row maximum is subtracted) and a row in which every
position is masked gets all-zero weights, hence a zero attention output, instead of NaN.

Two mask conventions exist in PyTorch and both are mirrored here:

* ``scaled_dot_product_attention`` / ``attention_weights`` follow
  ``torch.nn.functional.scaled_dot_product_attention``: a boolean mask is True where
  attention is ALLOWED.
* ``MultiHeadAttention.forward`` follows ``torch.nn.MultiheadAttention``: a boolean mask is
  True where attention is NOT allowed.  The two are opposite.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["MultiHeadAttention", "attention_weights", "scaled_dot_product_attention"]

FloatArray = NDArray[np.floating[Any]]


def _as_float(name: str, x: ArrayLike) -> FloatArray:
    arr = np.asarray(x)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be a real floating-point array, got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def _causal_allowed(length_q: int, length_k: int) -> NDArray[np.bool_]:
    """Top-left aligned lower-triangular mask, as ``torch.ones(L, S).tril()``."""
    return np.tri(length_q, length_k, dtype=np.bool_)


def _bias_from_mask(
    name: str, mask: ArrayLike, allowed_when_true: bool, dtype: np.dtype[Any]
) -> FloatArray:
    """Turn a boolean or float mask into an additive bias (0 or -inf for booleans)."""
    m = np.asarray(mask)
    if m.dtype == np.bool_:
        blocked = ~m if allowed_when_true else m
        return np.where(blocked, -np.inf, 0.0).astype(dtype)
    if not np.issubdtype(m.dtype, np.number):
        raise ValueError(f"{name} must be a boolean or floating-point array, got {m.dtype}")
    return m.astype(dtype)


def _softmax_masked(scores: FloatArray) -> FloatArray:
    """Row softmax over the last axis, in place; rows that are entirely -inf give zeros, not NaN."""
    row_max = np.max(scores, axis=-1, keepdims=True)
    row_max[row_max == -np.inf] = 0.0  # exp(-inf - 0) = 0 across a fully masked row
    scores -= row_max
    np.exp(scores, out=scores)
    total = np.sum(scores, axis=-1, keepdims=True)
    total[total == 0.0] = 1.0  # only in fully masked rows: every other row holds an exp(0) = 1
    scores /= total
    return scores


# All score matrices are computed at once (vectorised over the batch) when the weights are wanted,
# while together they take at most _VECTOR_MAX_BYTES, or while each has fewer than
# _LOOP_MIN_SCORES entries (a Python loop would cost more than it saves).  Otherwise, for the
# attention output alone, they are computed one at a time, so that the scores, their exponentials
# and the product with V stay in the cache.
_LOOP_MIN_SCORES = 1 << 14
_VECTOR_MAX_BYTES = 1 << 23


def _sdpa(
    query: ArrayLike,
    key: ArrayLike,
    value: ArrayLike,
    attn_mask: ArrayLike | None,
    is_causal: bool,
    scale: float | None,
    need_weights: bool,
) -> tuple[FloatArray, FloatArray | None]:
    q = _as_float("query", query)
    k = _as_float("key", key)
    v = _as_float("value", value)
    for name, arr in (("query", q), ("key", k), ("value", v)):
        if arr.ndim < 2:
            raise ValueError(f"{name} must have at least 2 dimensions, got shape {arr.shape}")
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"key must have the embedding size of query ({q.shape[-1]}), got shape {k.shape}"
        )
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(
            f"value must have the sequence length of key ({k.shape[-2]}), got shape {v.shape}"
        )
    try:
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(
            f"query, key and value batch dimensions do not broadcast: "
            f"{q.shape}, {k.shape}, {v.shape}"
        ) from None
    dtype = np.result_type(q, k, v)
    q, k, v = (a.astype(dtype, copy=False) for a in (q, k, v))
    length_q, length_k = q.shape[-2], k.shape[-2]
    scores_shape = (*batch, length_q, length_k)

    factor = dtype.type(1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale))
    bias: FloatArray | None = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError("attn_mask must be None when is_causal=True (as in torch)")
        bias = _bias_from_mask("attn_mask", _causal_allowed(length_q, length_k), True, dtype)
    elif attn_mask is not None:
        bias = _bias_from_mask("attn_mask", attn_mask, True, dtype)
        try:
            ok = np.broadcast_shapes(bias.shape, scores_shape) == scores_shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"attn_mask of shape {bias.shape} does not broadcast to {scores_shape}"
            )

    total_bytes = math.prod(scores_shape) * dtype.itemsize
    if need_weights or length_q * length_k < _LOOP_MIN_SCORES or total_bytes <= _VECTOR_MAX_BYTES:
        scores = (q * factor) @ np.swapaxes(k, -1, -2)
        if bias is not None:
            if np.broadcast_shapes(scores.shape, bias.shape) == scores.shape:
                scores += bias
            else:  # the mask has batch dimensions that query and key lack
                scores = scores + bias
        weights = _softmax_masked(scores)
        return weights @ v, weights

    # One (L, S) score matrix at a time: exp(scores - row max) stays in the cache, and the
    # division by the row sums is applied to the (L, Ev) output instead of the (L, S) weights.
    out = np.empty((*batch, length_q, v.shape[-1]), dtype)
    e = np.empty((length_q, length_k), dtype)
    q_scaled = np.empty((length_q, q.shape[-1]), dtype)
    bias_b = None if bias is None else np.broadcast_to(bias, scores_shape)
    for index in np.ndindex(*batch):
        np.multiply(q[_operand_index(q, index)], factor, out=q_scaled)
        np.matmul(q_scaled, k[_operand_index(k, index)].T, out=e)
        if bias_b is not None:
            e += bias_b[index]
        row_max = np.max(e, axis=-1, keepdims=True)
        row_max[row_max == -np.inf] = 0.0  # a fully masked row: exp(-inf - 0) = 0
        e -= row_max
        np.exp(e, out=e)
        total = np.sum(e, axis=-1, keepdims=True)
        total[total == 0.0] = 1.0  # only in fully masked rows, whose output is then 0
        o = np.matmul(e, v[_operand_index(v, index)], out=out[index])
        o /= total
    return out, None


def _operand_index(arr: FloatArray, index: tuple[int, ...]) -> tuple[int, ...]:
    """The index into ``arr``'s batch dimensions of the broadcast batch element ``index``."""
    batch_ndim = arr.ndim - 2
    offset = len(index) - batch_ndim
    return tuple(0 if arr.shape[j] == 1 else index[offset + j] for j in range(batch_ndim))


def scaled_dot_product_attention(
    query: ArrayLike,
    key: ArrayLike,
    value: ArrayLike,
    attn_mask: ArrayLike | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> FloatArray:
    """softmax(Q K^T * scale + M) V, like ``torch.nn.functional.scaled_dot_product_attention``.

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); batch
    dimensions broadcast.  ``attn_mask`` broadcasts to (..., L, S): a boolean mask is True
    where attention is ALLOWED, a float mask is added to the scores.  ``is_causal`` applies
    the top-left lower-triangular mask ``torch.ones(L, S).tril()`` and, as in torch, cannot be
    combined with ``attn_mask``.  ``scale`` defaults to 1/sqrt(E).  A query row with every
    position masked gets zero output (torch 2.13 does the same).
    """
    out, _ = _sdpa(query, key, value, attn_mask, is_causal, scale, need_weights=False)
    return out


def attention_weights(
    query: ArrayLike,
    key: ArrayLike,
    value: ArrayLike,
    attn_mask: ArrayLike | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> FloatArray:
    """The attention matrix softmax(Q K^T * scale + M), shape (..., L, S).

    Same arguments and semantics as :func:`scaled_dot_product_attention`; fully masked rows
    are all zero.  ``value`` is only checked for consistent shapes.
    """
    _, weights = _sdpa(query, key, value, attn_mask, is_causal, scale, need_weights=True)
    assert weights is not None
    return weights


class MultiHeadAttention:
    """Multi-head attention with ``torch.nn.MultiheadAttention(batch_first=True)`` layout.

    Parameters (as in torch): ``in_proj_weight`` (3E, E) stacking W^Q, W^K, W^V in
    ``nn.Linear`` layout (y = x W^T + b), ``in_proj_bias`` (3E,), ``out_proj_weight`` (E, E),
    ``out_proj_bias`` (E,); the biases are None when ``bias=False``.  Initialisation mirrors
    torch: Xavier-uniform ``in_proj_weight``, U(-1/sqrt(E), 1/sqrt(E)) ``out_proj_weight``,
    zero biases (drawn from ``np.random.default_rng(seed)``, so values differ from torch).

    !!! MASK CONVENTION PITFALL !!!  ``forward``'s boolean ``attn_mask`` is True where a
    position may NOT be attended (torch.nn.MultiheadAttention's convention), which is the
    OPPOSITE of :func:`scaled_dot_product_attention`, where True means "may attend".
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True, seed: int = 0) -> None:
        if embed_dim <= 0:
            raise ValueError(f"embed_dim must be positive, got {embed_dim}")
        if num_heads <= 0:
            raise ValueError(f"num_heads must be positive, got {num_heads}")
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        rng = np.random.default_rng(seed)
        xavier = math.sqrt(6.0 / (embed_dim + 3 * embed_dim))
        self.in_proj_weight: FloatArray = rng.uniform(-xavier, xavier, (3 * embed_dim, embed_dim))
        bound = 1.0 / math.sqrt(embed_dim)
        self.out_proj_weight: FloatArray = rng.uniform(-bound, bound, (embed_dim, embed_dim))
        self.in_proj_bias: FloatArray | None = np.zeros(3 * embed_dim) if bias else None
        self.out_proj_bias: FloatArray | None = np.zeros(embed_dim) if bias else None

    def _check_input(self, name: str, x: FloatArray, batched: bool) -> None:
        if x.ndim != (3 if batched else 2) or x.shape[-1] != self.embed_dim:
            want = "(N, L, E)" if batched else "(L, E)"
            raise ValueError(
                f"{name} must have shape {want} with E = embed_dim = {self.embed_dim}, "
                f"got {x.shape}"
            )

    def forward(
        self,
        query: ArrayLike,
        key: ArrayLike,
        value: ArrayLike,
        attn_mask: ArrayLike | None = None,
        is_causal: bool = False,
        need_weights: bool = True,
        average_attn_weights: bool = True,
    ) -> tuple[FloatArray, FloatArray | None]:
        """Attend from query (N, L, E) to key/value (N, S, E); unbatched (L, E) also works.

        ``attn_mask``: (L, S) or (N*H, L, S) (index n*H + h, as torch).  Boolean True = NOT
        allowed (torch.nn.MultiheadAttention convention, opposite of SDPA!); float = added to
        the scores.  ``is_causal=True`` applies the top-left causal mask tril(ones(L, S)), also
        without an ``attn_mask`` (torch requires one); given both, both are applied.  A fully
        masked query row gets zero attention weights, so its output is ``out_proj_bias``
        (torch returns NaN there unless it takes its SDPA path).

        Returns (output (N, L, E), weights), weights being None if ``need_weights`` is False,
        (N, L, S) if ``average_attn_weights`` else (N, H, L, S).
        """
        q_in = _as_float("query", query)
        k_in = _as_float("key", key)
        v_in = _as_float("value", value)
        batched = q_in.ndim == 3
        for name, arr in (("query", q_in), ("key", k_in), ("value", v_in)):
            self._check_input(name, arr, batched)
        if not batched:
            q_in, k_in, v_in = q_in[None], k_in[None], v_in[None]
        if k_in.shape[0] != q_in.shape[0] or v_in.shape[0] != q_in.shape[0]:
            raise ValueError(
                f"key and value must have the batch size of query ({q_in.shape[0]}), "
                f"got {k_in.shape} and {v_in.shape}"
            )
        if v_in.shape[1] != k_in.shape[1]:
            raise ValueError(
                f"value must have the sequence length of key ({k_in.shape[1]}), got {v_in.shape}"
            )
        dtype = np.result_type(q_in, k_in, v_in)  # computation keeps the input dtype
        n, length_q, length_k = q_in.shape[0], q_in.shape[1], k_in.shape[1]
        heads, e = self.num_heads, self.embed_dim

        w = self.in_proj_weight.astype(dtype, copy=False)
        b = (
            np.zeros(3 * e, dtype)
            if self.in_proj_bias is None
            else self.in_proj_bias.astype(dtype, copy=False)
        )

        def project(x: FloatArray, i: int) -> FloatArray:
            y = x @ w[i * e : (i + 1) * e].T + b[i * e : (i + 1) * e]  # (N, T, E)
            return np.swapaxes(y.reshape(n, x.shape[1], heads, self.head_dim), 1, 2)

        q, k, v = project(q_in, 0), project(k_in, 1), project(v_in, 2)  # (N, H, T, hd)
        scores = (q @ np.swapaxes(k, -1, -2)) * dtype.type(1.0 / math.sqrt(self.head_dim))
        if attn_mask is not None:
            bias = _bias_from_mask("attn_mask", attn_mask, False, dtype)
            if bias.shape == (length_q, length_k):
                scores = scores + bias
            elif bias.shape == (n * heads, length_q, length_k):
                scores = scores + bias.reshape(n, heads, length_q, length_k)
            else:
                raise ValueError(
                    f"attn_mask must have shape (L, S) = {(length_q, length_k)} or "
                    f"(N*H, L, S) = {(n * heads, length_q, length_k)}, got {bias.shape}"
                )
        if is_causal:
            scores = scores + _bias_from_mask(
                "is_causal", _causal_allowed(length_q, length_k), True, dtype
            )
        weights = _softmax_masked(scores)
        heads_out = weights @ v  # (N, H, L, hd)
        concat = np.swapaxes(heads_out, 1, 2).reshape(n, length_q, e)
        out = concat @ self.out_proj_weight.astype(dtype, copy=False).T
        if self.out_proj_bias is not None:
            out = out + self.out_proj_bias.astype(dtype, copy=False)

        returned: FloatArray | None = None
        if need_weights:
            returned = weights.mean(axis=1) if average_attn_weights else weights
            if not batched:
                returned = returned[0]
        return (out if batched else out[0]), returned

    __call__ = forward
