"""reference.batchnorm.BatchNorm against torch.nn.BatchNorm1d / BatchNorm2d, in float64."""

import itertools
import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import torch
from _torch import (
    FloatArray,
    assert_close_to_torch,
    max_relative_error,
    numerical_gradient,
    strict_errstate,
    to_numpy,
    to_torch,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.modules.batchnorm import _BatchNorm

from reference import batchnorm
from reference.batchnorm import BatchNorm

RTOL = 1e-10
SHAPES = [(8, 3), (4, 3, 5), (2, 3, 4, 5)]
OPTIONS = [
    {"momentum": momentum, "affine": affine, "track_running_stats": track}
    for momentum, affine, track in itertools.product([0.1, None, 0.7], [True, False], [True, False])
]


def torch_batchnorm(ndim: int, num_features: int, **kwargs: Any) -> _BatchNorm:
    cls = torch.nn.BatchNorm2d if ndim == 4 else torch.nn.BatchNorm1d
    module: _BatchNorm = cls(num_features, dtype=torch.float64, **kwargs)
    return module


def make_pair(
    shape: tuple[int, ...], options: dict[str, Any], seed: int = 0
) -> tuple[BatchNorm, _BatchNorm]:
    ours = BatchNorm(shape[1], **options)
    theirs = torch_batchnorm(len(shape), shape[1], **options)
    if ours.affine:
        rng = np.random.default_rng(seed)
        assert ours.weight is not None and ours.bias is not None
        ours.weight[...] = rng.uniform(0.5, 2.0, shape[1])
        ours.bias[...] = rng.standard_normal(shape[1])
        with torch.no_grad():
            theirs.weight.copy_(to_torch(ours.weight))
            theirs.bias.copy_(to_torch(ours.bias))
    return ours, theirs


def batch(rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
    """Channels with different means and scales."""
    channel_shape = (1, shape[1]) + (1,) * (len(shape) - 2)
    offset = rng.uniform(-3.0, 3.0, channel_shape)
    scale = rng.uniform(0.5, 4.0, channel_shape)
    out: FloatArray = offset + scale * rng.standard_normal(shape)
    return out


def compare_step(ours: BatchNorm, theirs: _BatchNorm, x: FloatArray, grad_out: FloatArray) -> None:
    """One forward and backward on both sides; outputs, gradients and buffers must agree."""
    with strict_errstate():
        y = ours.forward(x)
        grad_in = ours.backward(grad_out)
    tx = to_torch(x, requires_grad=True)
    theirs.zero_grad()
    ty = theirs(tx)
    ty.backward(to_torch(grad_out))
    assert tx.grad is not None
    assert_close_to_torch(y, to_numpy(ty), RTOL)
    assert_close_to_torch(grad_in, to_numpy(tx.grad), RTOL)
    if ours.affine:
        assert ours.grad_weight is not None and ours.grad_bias is not None
        assert_close_to_torch(ours.grad_weight, to_numpy(theirs.weight.grad), RTOL)
        assert_close_to_torch(ours.grad_bias, to_numpy(theirs.bias.grad), RTOL)
    else:
        assert ours.weight is None and ours.grad_weight is None and ours.grad_bias is None
    if ours.track_running_stats:
        assert ours.running_mean is not None and ours.running_var is not None
        assert_close_to_torch(ours.running_mean, to_numpy(theirs.running_mean), RTOL)
        assert_close_to_torch(ours.running_var, to_numpy(theirs.running_var), RTOL)
        tracked = theirs.num_batches_tracked
        assert tracked is not None and ours.num_batches_tracked == int(tracked)
    else:
        assert ours.running_mean is None and theirs.running_mean is None


def option_id(options: dict[str, Any]) -> str:
    return "-".join(f"{k}={v}" for k, v in options.items())


@pytest.mark.parametrize("options", OPTIONS, ids=option_id)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}d")
def test_train_then_eval_matches_torch(shape: tuple[int, ...], options: dict[str, Any]) -> None:
    ours, theirs = make_pair(shape, options)
    rng = np.random.default_rng(1)
    for _ in range(5):
        compare_step(ours, theirs, batch(rng, shape), rng.standard_normal(shape))
    ours.eval()
    theirs.eval()
    assert not ours.training
    for _ in range(2):
        compare_step(ours, theirs, batch(rng, shape), rng.standard_normal(shape))
    # Back to training: statistics keep accumulating from where they were.
    ours.train()
    theirs.train()
    compare_step(ours, theirs, batch(rng, shape), rng.standard_normal(shape))


def test_running_var_uses_unbiased_variance_and_cumulative_average() -> None:
    rng = np.random.default_rng(2)
    bn = BatchNorm(3, momentum=None)
    xs = [batch(rng, (4, 3, 5)) for _ in range(3)]
    for x in xs:
        bn.forward(x)
    assert bn.num_batches_tracked == 3
    assert bn.running_mean is not None and bn.running_var is not None
    # Cumulative average of the per-batch statistics (the initial values get weight 0).
    means = [x.mean(axis=(0, 2)) for x in xs]
    variances = [x.var(axis=(0, 2), ddof=1) for x in xs]
    np.testing.assert_allclose(bn.running_mean, np.mean(means, axis=0), rtol=1e-14)
    np.testing.assert_allclose(bn.running_var, np.mean(variances, axis=0), rtol=1e-14)
    # ... while the normalisation uses the biased variance.
    y = bn.forward(xs[0])
    np.testing.assert_allclose(
        y.var(axis=(0, 2)), xs[0].var(axis=(0, 2)) / (xs[0].var(axis=(0, 2)) + 1e-5), rtol=1e-12
    )


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}d")
def test_backward_matches_finite_differences(shape: tuple[int, ...], training: bool) -> None:
    rng = np.random.default_rng(3)
    bn = BatchNorm(shape[1])
    assert bn.weight is not None and bn.bias is not None
    weight, bias = bn.weight, bn.bias
    weight[...] = rng.uniform(0.5, 2.0, shape[1])
    bias[...] = rng.standard_normal(shape[1])
    for _ in range(3):  # non-trivial running statistics for evaluation mode
        bn.forward(batch(rng, shape))
    bn.train(training)
    x = batch(rng, shape)
    w = rng.standard_normal(shape)

    def loss(v: FloatArray, target: FloatArray | None = None) -> float:
        """sum(w * y) with v substituted for x, or copied into ``target`` (weight or bias)."""
        if target is None:
            return float(np.sum(w * bn.forward(v)))
        saved = target.copy()
        target[...] = v
        value = float(np.sum(w * bn.forward(x)))
        target[...] = saved
        return value

    # In training mode forward() also updates the running statistics, which the output ignores.
    with strict_errstate():
        bn.forward(x)
        grad_in = bn.backward(w)
        assert bn.grad_weight is not None and bn.grad_bias is not None
        assert max_relative_error(grad_in, numerical_gradient(loss, x)) <= 1e-6
        numeric_weight = numerical_gradient(lambda v: loss(v, weight), weight)
        numeric_bias = numerical_gradient(lambda v: loss(v, bias), bias)
    assert max_relative_error(bn.grad_weight, numeric_weight) <= 1e-6
    assert max_relative_error(bn.grad_bias, numeric_bias) <= 1e-6


def test_single_value_per_channel() -> None:
    bn = BatchNorm(3)
    for shape in [(1, 3), (1, 3, 1), (1, 3, 1, 1)]:
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            bn.forward(np.ones(shape))
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            torch_batchnorm(len(shape), 3)(torch.ones(shape, dtype=torch.float64))
    assert bn.num_batches_tracked == 0
    bn.forward(np.arange(6.0).reshape(1, 3, 2))  # two values per channel are enough
    bn.eval()
    ours, theirs = make_pair((1, 3), {})
    ours.eval()
    theirs.eval()
    compare_step(ours, theirs, np.array([[1.0, -2.0, 3.0]]), np.array([[0.5, 1.0, -1.0]]))


def test_invalid_shapes_and_arguments_are_named() -> None:
    bn = BatchNorm(3)
    with pytest.raises(ValueError, match="2-D"):
        bn.forward(np.zeros(3))
    with pytest.raises(ValueError, match="4-D"):
        bn.forward(np.zeros((2, 3, 2, 2, 2)))
    with pytest.raises(ValueError, match="channels"):
        bn.forward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="channels"):
        bn.forward(np.zeros((4, 5, 6)))
    with pytest.raises(RuntimeError, match="before forward"):
        BatchNorm(3).backward(np.zeros((4, 3)))
    bn.forward(np.random.default_rng(4).standard_normal((4, 3)))
    with pytest.raises(ValueError, match="grad_out"):
        bn.backward(np.zeros((4, 3, 1)))
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm(0)
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm(2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eps"):
        BatchNorm(3, eps=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm(3, momentum=1.5)


def test_defaults_and_buffers_like_torch() -> None:
    ours = BatchNorm(4)
    theirs = torch.nn.BatchNorm1d(4)
    assert ours.eps == theirs.eps and ours.momentum == theirs.momentum
    assert ours.affine and ours.track_running_stats and ours.training
    assert ours.weight is not None and ours.bias is not None
    np.testing.assert_array_equal(ours.weight, to_numpy(theirs.weight))
    np.testing.assert_array_equal(ours.bias, to_numpy(theirs.bias))
    assert ours.running_mean is not None and ours.running_var is not None
    np.testing.assert_array_equal(ours.running_mean, to_numpy(theirs.running_mean))
    np.testing.assert_array_equal(ours.running_var, to_numpy(theirs.running_var))
    assert ours.num_batches_tracked == 0
    assert ours.eval() is ours and not ours.training and ours.train() is ours
    untracked = BatchNorm(4, affine=False, track_running_stats=False)
    assert untracked.weight is None and untracked.running_mean is None
    assert untracked.num_batches_tracked is None


def test_float32_keeps_dtype() -> None:
    rng = np.random.default_rng(5)
    shape = (6, 3, 4)
    x = batch(rng, shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    ours = BatchNorm(3)
    theirs = torch.nn.BatchNorm1d(3)
    for training in (True, False):
        ours.train(training)
        theirs.train(training)
        with strict_errstate():
            y = ours.forward(x)
            grad_in = ours.backward(g)
        assert y.dtype == np.float32 and grad_in.dtype == np.float32
        tx = torch.tensor(x, requires_grad=True)
        ty = theirs(tx)
        ty.backward(torch.tensor(g))
        assert tx.grad is not None
        np.testing.assert_allclose(y, to_numpy(ty), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(grad_in, to_numpy(tx.grad), rtol=1e-4, atol=1e-5)


def test_large_offsets_are_normalised_accurately() -> None:
    """Channels with |mu_B| >> sigma_B: compared with exact rational arithmetic.

    torch (like a plain two-pass mean) loses about ulp(1e6) / sigma = 1e-10 here; the corrected
    two-pass mean keeps the normalised values to an ulp.
    """
    rng = np.random.default_rng(6)
    shape = (16, 2, 3)
    x = 1e6 + rng.standard_normal(shape)
    ours, theirs = make_pair(shape, {"affine": False})
    with strict_errstate():
        y = ours.forward(x)
    exact = np.empty_like(x)
    for c in range(shape[1]):
        values = [Fraction(v) for v in x[:, c].ravel()]
        mean = sum(values, Fraction(0)) / len(values)
        var = sum(((v - mean) ** 2 for v in values), Fraction(0)) / len(values)
        inv_std = 1 / math.sqrt(var + Fraction(1e-5))  # relative error 1e-16, fine here
        exact[:, c] = np.array([float(v - mean) for v in values]).reshape(shape[0], -1) * inv_std
    assert np.abs(y - exact).max() <= 1e-15
    assert_close_to_torch(y, to_numpy(theirs(to_torch(x))), 1e-9)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 5),
    c=st.integers(1, 4),
    spatial=st.lists(st.integers(1, 4), min_size=0, max_size=2),
    momentum=st.sampled_from([0.1, None, 0.9]),
    affine=st.booleans(),
    training=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_shapes_match_torch(
    n: int,
    c: int,
    spatial: list[int],
    momentum: float | None,
    affine: bool,
    training: bool,
    seed: int,
) -> None:
    shape = (n, c, *spatial)
    if training and n * int(np.prod(spatial)) == 1:
        n, shape = 2, (2, c, *spatial)
    ours, theirs = make_pair(shape, {"momentum": momentum, "affine": affine}, seed)
    rng = np.random.default_rng(seed)
    warm_up = batch(rng, (n + 1, c, *spatial))  # running statistics away from 0 and 1
    ours.forward(warm_up)
    theirs(to_torch(warm_up))
    ours.train(training)
    theirs.train(training)
    compare_step(ours, theirs, batch(rng, shape), rng.standard_normal(shape))


@pytest.mark.parametrize("chunk_bytes", [8, 40, 200, 1 << 18])
def test_chunked_passes_match_torch(chunk_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The passes run over chunks of whole samples, channel groups or pieces of one channel
    (float64: 1, 5, 25 and 32768 elements here); all must agree with torch."""
    monkeypatch.setattr(batchnorm, "_CHUNK_BYTES", chunk_bytes)
    for shape in [(6, 3), (4, 3, 5), (3, 3, 4, 5)]:
        for options in [{}, {"affine": False}]:
            ours, theirs = make_pair(shape, options)
            rng = np.random.default_rng(7)
            for _ in range(2):
                compare_step(ours, theirs, batch(rng, shape), rng.standard_normal(shape))
            ours.eval()
            theirs.eval()
            compare_step(ours, theirs, batch(rng, shape), rng.standard_normal(shape))


def test_first_chunk_far_from_the_batch_mean(monkeypatch: pytest.MonkeyPatch) -> None:
    """The statistics shift by the first chunk's mean; a first sample far from the others makes
    the shifted variance cancel, and a second pass (shift = the batch mean) takes over."""
    monkeypatch.setattr(batchnorm, "_CHUNK_BYTES", 96)  # one (2, 6) float64 sample per chunk
    passes: list[int] = []
    moments = BatchNorm._shifted_moments

    def counting(self: BatchNorm, *args: Any) -> Any:
        passes.append(1)
        return moments(self, *args)

    monkeypatch.setattr(BatchNorm, "_shifted_moments", counting)
    rng = np.random.default_rng(8)
    shape = (8, 2, 6)
    x = rng.standard_normal(shape)
    x[1:] += 1e4  # the first sample is 1e4 away from the rest
    ours, theirs = make_pair(shape, {})
    compare_step(ours, theirs, x, rng.standard_normal(shape))
    y = BatchNorm(2, affine=False).forward(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2)), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2)), 1.0, rtol=1e-9)  # eps = 1e-5 << var
    assert len(passes) == 4  # two forward calls, two passes each
