"""reference.attention against torch (float64): SDPA semantics, masks, MultiheadAttention."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _helpers import rel_diff, t64
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import attention
from reference.attention import (
    MultiHeadAttention,
    attention_weights,
    scaled_dot_product_attention,
)

TOL = 1e-12  # float64 agreement with torch


def _qkv(
    rng: np.random.Generator, batch: tuple[int, ...], length_q: int, length_k: int, e: int, ev: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    return (
        rng.normal(size=(*batch, length_q, e)),
        rng.normal(size=(*batch, length_k, e)),
        rng.normal(size=(*batch, length_k, ev)),
    )


def _torch_weights(q: Any, k: Any, **kwargs: Any) -> torch.Tensor:
    """torch's attention matrix: SDPA with value = identity returns the weights themselves."""
    eye = torch.eye(k.shape[-2], dtype=torch.float64)
    return F.scaled_dot_product_attention(t64(q), t64(k), eye, **kwargs)


def _compare_sdpa(q: Any, k: Any, v: Any, **kwargs: Any) -> None:
    torch_kwargs: dict[str, Any] = {
        key: (t64(val) if key == "attn_mask" and val is not None else val)
        for key, val in kwargs.items()
    }
    expected = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), **torch_kwargs)
    out = scaled_dot_product_attention(q, k, v, **kwargs)
    assert out.dtype == np.float64
    assert rel_diff(out, expected) < TOL
    weights = attention_weights(q, k, v, **kwargs)
    assert rel_diff(weights, _torch_weights(q, k, **torch_kwargs)) < TOL


@pytest.mark.parametrize("mask_kind", ["none", "bool", "float", "float_with_inf"])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_sdpa_matches_torch_with_masks(mask_kind: str, scale: float | None) -> None:
    rng = np.random.default_rng(0)
    q, k, v = _qkv(rng, (2, 3), 4, 6, 5, 7)
    mask: Any = None
    if mask_kind == "bool":
        mask = rng.random((4, 6)) < 0.6
        mask[:, 0] = True  # no fully masked row here
    elif mask_kind == "float":
        mask = rng.normal(size=(3, 4, 6))
    elif mask_kind == "float_with_inf":
        mask = np.where(rng.random((2, 3, 4, 6)) < 0.4, -np.inf, rng.normal(size=(2, 3, 4, 6)))
        mask[..., 1] = 0.0
    _compare_sdpa(q, k, v, attn_mask=mask, scale=scale)


@pytest.mark.parametrize(("length_q", "length_k"), [(5, 5), (3, 6), (6, 3)])
def test_sdpa_causal_is_top_left_like_torch(length_q: int, length_k: int) -> None:
    rng = np.random.default_rng(1)
    q, k, v = _qkv(rng, (2,), length_q, length_k, 4, 3)
    _compare_sdpa(q, k, v, is_causal=True)
    weights = attention_weights(q, k, v, is_causal=True)
    allowed = np.tri(length_q, length_k, dtype=bool)
    np.testing.assert_array_equal(weights != 0, np.broadcast_to(allowed, weights.shape))


def test_sdpa_fully_masked_rows_give_zeros_like_torch() -> None:
    rng = np.random.default_rng(2)
    q, k, v = _qkv(rng, (2,), 4, 5, 3, 2)
    bool_mask = rng.random((2, 4, 5)) < 0.7
    bool_mask[0, 1] = False
    bool_mask[1, 3] = False
    float_mask = np.where(bool_mask, 0.0, -np.inf)
    for mask in (bool_mask, float_mask):
        _compare_sdpa(q, k, v, attn_mask=mask)
        out = scaled_dot_product_attention(q, k, v, attn_mask=mask)
        weights = attention_weights(q, k, v, attn_mask=mask)
        assert np.all(np.isfinite(out))
        assert np.all(out[0, 1] == 0) and np.all(out[1, 3] == 0)
        np.testing.assert_allclose(weights.sum(-1), np.where(bool_mask.any(-1), 1.0, 0.0))


def test_sdpa_broadcasts_batch_dimensions_like_torch() -> None:
    rng = np.random.default_rng(3)
    q = rng.normal(size=(2, 1, 3, 4))
    k = rng.normal(size=(1, 5, 6, 4))
    v = rng.normal(size=(5, 6, 2))
    out = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 5, 3, 2)
    _compare_sdpa(q, k, v)
    _compare_sdpa(q[0, 0], k[0, 0], v[0], attn_mask=rng.random(6) < 0.5)


def test_sdpa_is_stable_for_huge_scores() -> None:
    q = np.array([[1e4, 0.0], [0.0, 0.0]])
    k = np.array([[1e4, 0.0], [0.0, -1e4]])
    v = np.eye(2)
    out = scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(out, [[1.0, 0.0], [0.5, 0.5]])


def test_sdpa_float32_keeps_dtype() -> None:
    rng = np.random.default_rng(4)
    q, k, v = _qkv(rng, (2,), 3, 4, 5, 6)
    mask = rng.random((3, 4)) < 0.5
    out32 = scaled_dot_product_attention(
        q.astype(np.float32), k.astype(np.float32), v.astype(np.float32), attn_mask=mask
    )
    assert out32.dtype == np.float32
    np.testing.assert_allclose(
        out32, scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5
    )


@settings(max_examples=40, deadline=None)
@given(
    batch=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    length_q=st.integers(1, 5),
    length_k=st.integers(1, 5),
    e=st.integers(1, 6),
    ev=st.integers(1, 4),
    mask_kind=st.sampled_from(["none", "bool", "float", "causal"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_sdpa_property_matches_torch(
    batch: list[int], length_q: int, length_k: int, e: int, ev: int, mask_kind: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    q, k, v = _qkv(rng, tuple(batch), length_q, length_k, e, ev)
    if mask_kind == "causal":
        _compare_sdpa(q, k, v, is_causal=True)
    elif mask_kind == "bool":
        _compare_sdpa(q, k, v, attn_mask=rng.random((length_q, length_k)) < 0.5)
    elif mask_kind == "float":
        _compare_sdpa(q, k, v, attn_mask=rng.normal(size=(length_q, length_k)) * 3)
    else:
        _compare_sdpa(q, k, v)


@pytest.mark.parametrize(
    ("shapes", "kwargs", "name"),
    [
        (((3, 4), (5, 3), (5, 2)), {}, "key"),
        (((3, 4), (5, 4), (6, 2)), {}, "value"),
        (((4,), (5, 4), (5, 2)), {}, "query"),
        (((2, 3, 4), (3, 5, 4), (3, 5, 2)), {}, "batch"),
        (((3, 4), (5, 4), (5, 2)), {"attn_mask": np.ones((5, 3), bool)}, "attn_mask"),
        (((3, 4), (5, 4), (5, 2)), {"attn_mask": np.ones((2, 3, 5), bool)}, "attn_mask"),
        (
            ((3, 4), (5, 4), (5, 2)),
            {"attn_mask": np.ones((3, 5), bool), "is_causal": True},
            "attn_mask",
        ),
    ],
)
def test_sdpa_errors_name_the_argument(
    shapes: tuple[tuple[int, ...], ...], kwargs: dict[str, Any], name: str
) -> None:
    q, k, v = (np.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match=name):
        scaled_dot_product_attention(q, k, v, **kwargs)


# --- MultiHeadAttention ------------------------------------------------------------------------


def _pair(
    embed_dim: int = 8, num_heads: int = 2, bias: bool = True, seed: int = 0
) -> tuple[MultiHeadAttention, torch.nn.MultiheadAttention]:
    """Our module with random (also non-zero bias) parameters, and torch's with copies."""
    ours = MultiHeadAttention(embed_dim, num_heads, bias=bias, seed=seed)
    rng = np.random.default_rng(seed + 100)
    if bias:
        ours.in_proj_bias = rng.normal(size=3 * embed_dim)
        ours.out_proj_bias = rng.normal(size=embed_dim)
    theirs = torch.nn.MultiheadAttention(
        embed_dim, num_heads, bias=bias, batch_first=True, dtype=torch.float64
    )
    with torch.no_grad():
        theirs.in_proj_weight.copy_(t64(ours.in_proj_weight))
        theirs.out_proj.weight.copy_(t64(ours.out_proj_weight))
        if bias:
            assert theirs.in_proj_bias is not None
            theirs.in_proj_bias.copy_(t64(ours.in_proj_bias))
            theirs.out_proj.bias.copy_(t64(ours.out_proj_bias))
    return ours, theirs


def _compare_mha(
    ours: MultiHeadAttention,
    theirs: torch.nn.MultiheadAttention,
    query: Any,
    key: Any,
    value: Any,
    **kwargs: Any,
) -> None:
    torch_kwargs: dict[str, Any] = {
        name: (t64(val) if name == "attn_mask" else val) for name, val in kwargs.items()
    }
    out, weights = ours.forward(query, key, value, **kwargs)
    expected_out, expected_weights = theirs(t64(query), t64(key), t64(value), **torch_kwargs)
    assert rel_diff(out, expected_out) < TOL
    if expected_weights is None:
        assert weights is None
    else:
        assert weights is not None
        assert rel_diff(weights, expected_weights) < TOL


def test_mha_parameter_layout_and_init() -> None:
    mha = MultiHeadAttention(12, 3)
    assert mha.in_proj_weight.shape == (12 * 3, 12)
    assert mha.in_proj_bias is not None and mha.in_proj_bias.shape == (36,)
    assert mha.out_proj_weight.shape == (12, 12)
    assert mha.out_proj_bias is not None and mha.out_proj_bias.shape == (12,)
    assert np.all(mha.in_proj_bias == 0) and np.all(mha.out_proj_bias == 0)
    assert np.abs(mha.in_proj_weight).max() <= np.sqrt(6 / (12 + 36))
    no_bias = MultiHeadAttention(12, 3, bias=False)
    assert no_bias.in_proj_bias is None and no_bias.out_proj_bias is None
    np.testing.assert_array_equal(
        MultiHeadAttention(12, 3, seed=5).in_proj_weight,
        MultiHeadAttention(12, 3, seed=5).in_proj_weight,
    )


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("average_attn_weights", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_mha_self_and_cross_attention_match_torch(
    need_weights: bool, average_attn_weights: bool, bias: bool
) -> None:
    ours, theirs = _pair(bias=bias)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 4, 8))
    memory = rng.normal(size=(3, 6, 8))
    flags = {"need_weights": need_weights, "average_attn_weights": average_attn_weights}
    _compare_mha(ours, theirs, x, x, x, **flags)
    _compare_mha(ours, theirs, x, memory, rng.normal(size=(3, 6, 8)), **flags)
    _, weights = ours.forward(x, memory, memory, **flags)
    if need_weights:
        assert weights is not None
        assert weights.shape == ((3, 4, 6) if average_attn_weights else (3, 2, 4, 6))


@pytest.mark.parametrize("mask_kind", ["bool2d", "bool3d", "float2d", "float3d"])
@pytest.mark.parametrize("average_attn_weights", [True, False])
def test_mha_masks_match_torch(mask_kind: str, average_attn_weights: bool) -> None:
    ours, theirs = _pair(embed_dim=6, num_heads=3)
    rng = np.random.default_rng(6)
    n, length_q, length_k = 2, 4, 5
    query = rng.normal(size=(n, length_q, 6))
    kv = rng.normal(size=(n, length_k, 6))
    shape = (length_q, length_k) if mask_kind.endswith("2d") else (n * 3, length_q, length_k)
    if mask_kind.startswith("bool"):
        mask: Any = rng.random(shape) < 0.4  # True = NOT allowed in nn.MultiheadAttention
        mask[..., 0] = False  # keep every row attendable (see the fully-masked test)
    else:
        mask = rng.normal(size=shape)
    for need_weights in (True, False):
        _compare_mha(
            ours, theirs, query, kv, kv, attn_mask=mask, need_weights=need_weights,
            average_attn_weights=average_attn_weights,
        )  # fmt: skip


def test_mha_bool_mask_is_the_opposite_of_sdpa() -> None:
    """The pitfall, pinned down: MHA's True = blocked, SDPA's True = allowed."""
    ours = MultiHeadAttention(4, 1, bias=False, seed=3)
    ours.in_proj_weight = np.tile(np.eye(4), (3, 1))  # identity projections
    ours.out_proj_weight = np.eye(4)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1, 3, 4))
    blocked = np.array([[False, True, True], [False, False, True], [True, False, False]])
    out, _ = ours.forward(x, x, x, attn_mask=blocked)
    np.testing.assert_allclose(out, scaled_dot_product_attention(x, x, x, attn_mask=~blocked))


@pytest.mark.parametrize(("length_q", "length_k"), [(5, 5), (3, 5)])
def test_mha_causal_without_mask(length_q: int, length_k: int) -> None:
    """torch needs an explicit mask with is_causal=True; ours builds tril(ones(L, S))."""
    ours, theirs = _pair()
    rng = np.random.default_rng(8)
    query = rng.normal(size=(2, length_q, 8))
    kv = rng.normal(size=(2, length_k, 8))
    blocked = ~np.tri(length_q, length_k, dtype=bool)
    with pytest.raises(RuntimeError):
        theirs(t64(query), t64(kv), t64(kv), is_causal=True)
    for need_weights in (True, False):
        out, weights = ours.forward(query, kv, kv, is_causal=True, need_weights=need_weights)
        expected_out, expected_weights = theirs(
            t64(query), t64(kv), t64(kv), attn_mask=t64(blocked), is_causal=True,
            need_weights=need_weights,
        )  # fmt: skip
        assert rel_diff(out, expected_out) < TOL
        if need_weights:
            assert rel_diff(weights, expected_weights) < TOL
    # Giving both applies both; with the causal mask itself that is the same thing.
    both, _ = ours.forward(query, kv, kv, attn_mask=blocked, is_causal=True)
    np.testing.assert_allclose(both, ours.forward(query, kv, kv, is_causal=True)[0], rtol=1e-14)


def test_mha_fully_masked_row_gives_zero_attention_not_nan() -> None:
    ours, theirs = _pair(embed_dim=4, num_heads=2)
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 3, 4))
    blocked = np.zeros((3, 3), dtype=bool)
    blocked[1] = True
    out, weights = ours.forward(x, x, x, attn_mask=blocked)
    assert weights is not None
    assert np.all(np.isfinite(out)) and np.all(weights[:, 1] == 0)
    assert ours.out_proj_bias is not None
    np.testing.assert_allclose(out[:, 1], np.broadcast_to(ours.out_proj_bias, (2, 4)))
    # torch: NaN on its need_weights=True path ...
    t_out, t_weights = theirs(t64(x), t64(x), t64(x), attn_mask=t64(blocked))
    assert torch.isnan(t_out[:, 1]).all() and torch.isnan(t_weights[:, 1]).all()
    assert rel_diff(out[:, [0, 2]], t_out[:, [0, 2]]) < TOL
    # ... but zero attention (output = out_proj.bias) on its SDPA path, in training mode.
    t_out, _ = theirs(t64(x), t64(x), t64(x), attn_mask=t64(blocked), need_weights=False)
    assert rel_diff(out, t_out) < TOL


def test_mha_unbatched_input_matches_torch() -> None:
    ours, theirs = _pair()
    rng = np.random.default_rng(10)
    query, kv = rng.normal(size=(4, 8)), rng.normal(size=(5, 8))
    _compare_mha(ours, theirs, query, kv, kv)
    _compare_mha(ours, theirs, query, kv, kv, average_attn_weights=False)


def test_mha_float32_keeps_dtype() -> None:
    ours = MultiHeadAttention(8, 4)
    x = np.random.default_rng(11).normal(size=(2, 3, 8))
    out32, w32 = ours.forward(*(x.astype(np.float32),) * 3)
    out64, _ = ours.forward(x, x, x)
    assert out32.dtype == np.float32 and w32 is not None and w32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, atol=1e-5)


def test_mha_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="embed_dim"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(10, 0)
    with pytest.raises(ValueError, match="embed_dim"):
        MultiHeadAttention(0, 1)
    mha = MultiHeadAttention(8, 2)
    x = np.zeros((2, 3, 8))
    with pytest.raises(ValueError, match="query"):
        mha.forward(np.zeros((2, 3, 6)), x, x)
    with pytest.raises(ValueError, match="key"):
        mha.forward(x, np.zeros((2, 3, 6)), x)
    with pytest.raises(ValueError, match="key"):
        mha.forward(x, np.zeros((1, 3, 8)), x)
    with pytest.raises(ValueError, match="value"):
        mha.forward(x, x, np.zeros((2, 4, 8)))
    with pytest.raises(ValueError, match="value"):
        mha.forward(x, x, np.zeros((3, 8)))
    with pytest.raises(ValueError, match="attn_mask"):
        mha.forward(x, x, x, attn_mask=np.zeros((3, 4), dtype=bool))
    with pytest.raises(ValueError, match="attn_mask"):
        mha.forward(x, x, x, attn_mask=np.zeros((2, 3, 3)))


@pytest.mark.parametrize("mask_kind", ["none", "bool", "float_with_inf", "causal"])
def test_sdpa_one_matrix_at_a_time_matches_torch(
    mask_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large inputs compute their score matrices one at a time; with both thresholds at 0 the
    small test shapes take that path too, broadcasting batches included."""
    monkeypatch.setattr(attention, "_LOOP_MIN_SCORES", 0)
    monkeypatch.setattr(attention, "_VECTOR_MAX_BYTES", 0)
    rng = np.random.default_rng(5)
    q = rng.normal(size=(2, 1, 4, 5))
    k = rng.normal(size=(1, 3, 6, 5))
    v = rng.normal(size=(3, 6, 2))
    if mask_kind == "causal":
        _compare_sdpa(q, k, v, is_causal=True)
        return
    mask: Any = None
    if mask_kind == "bool":
        mask = rng.random((3, 4, 6)) < 0.6
        mask[0, 1] = False  # a fully masked row: zero output
    elif mask_kind == "float_with_inf":
        mask = np.where(rng.random((4, 6)) < 0.4, -np.inf, rng.normal(size=(4, 6)))
        mask[:, 2] = 0.0
    _compare_sdpa(q, k, v, attn_mask=mask, scale=0.7)
    _compare_sdpa(q[0, 0], k[0, 0], v[0])  # no batch dimensions
