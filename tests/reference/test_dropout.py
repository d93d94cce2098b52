"""reference.dropout against torch.nn.functional.dropout (float64) and finite differences."""

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _helpers import FD_TOL, TORCH_TOL, fd_errors, rel_diff, t64

from reference.dropout import dropout, dropout_backward


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_scaling_and_backward_match_torch(p: float) -> None:
    """torch's own mask (where its output is non-zero) through our backward gives its gradient,
    and our output scales the kept units exactly as torch does."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, (20, 30))  # no zeros, so a zero output means a dropped unit
    g = rng.standard_normal(x.shape)
    torch.manual_seed(0)
    tx = t64(x).requires_grad_()
    ty = F.dropout(tx, p)
    ty.backward(t64(g))
    torch_mask = (ty.detach().numpy() != 0).astype(np.float64)
    assert rel_diff(dropout_backward(g, torch_mask, p), tx.grad) <= TORCH_TOL
    assert rel_diff(x * torch_mask / (1 - p), ty) <= TORCH_TOL
    y, mask = dropout(x, p, rng=np.random.default_rng(1))
    kept = mask == 1
    np.testing.assert_allclose(y[kept] / x[kept], 1 / (1 - p), rtol=1e-15)
    assert np.all(y[~kept] == 0.0)
    assert set(np.unique(mask)) <= {0.0, 1.0} and mask.shape == x.shape


def test_keep_rate_and_expectation() -> None:
    p = 0.3
    x = np.full((400, 500), 2.0)
    y, mask = dropout(x, p, rng=np.random.default_rng(2))
    assert abs(mask.mean() - (1 - p)) < 0.005  # 200 000 draws: 5 standard deviations is 0.005
    assert abs(y.mean() - 2.0) < 0.015


def test_same_seed_same_mask() -> None:
    x = np.ones((5, 6))
    _, a = dropout(x, 0.5, rng=np.random.default_rng(3))
    _, b = dropout(x, 0.5, rng=np.random.default_rng(3))
    _, c = dropout(x, 0.5, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_edge_cases_match_torch() -> None:
    x = np.random.default_rng(5).standard_normal((3, 4))
    with np.errstate(all="raise"):
        y, mask = dropout(x, 1.0)
        np.testing.assert_array_equal(y, F.dropout(t64(x), 1.0).numpy())
        assert not mask.any() and not np.isnan(y).any()
        np.testing.assert_array_equal(dropout_backward(np.ones((3, 4)), mask, 1.0), 0.0)
    for p, training in ((0.0, True), (0.7, False)):
        y, mask = dropout(x, p, training)
        np.testing.assert_array_equal(y, F.dropout(t64(x), p, training).numpy())
        np.testing.assert_array_equal(mask, 1.0)


def test_backward_matches_finite_differences() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 5))
    g = rng.standard_normal((4, 5))
    _, mask = dropout(x, 0.4, rng=np.random.default_rng(7))

    def loss() -> float:
        return float(np.sum(g * dropout(x, 0.4, rng=np.random.default_rng(7))[0]))

    assert fd_errors(loss, [x], [dropout_backward(g, mask, 0.4)])[0] <= FD_TOL


def test_float32_keeps_dtype() -> None:
    x = np.ones((3, 3), np.float32)
    y, mask = dropout(x, 0.5, rng=np.random.default_rng(8))
    assert y.dtype == mask.dtype == np.float32
    assert dropout_backward(y, mask, 0.5).dtype == np.float32


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: dropout(np.ones(3), -0.1), "p must"),
        (lambda: dropout(np.ones(3), 1.5), "p must"),
        (lambda: dropout(np.ones(3), 0.5, rng=np.random.RandomState(0)), "rng"),  # type: ignore[arg-type]
        (lambda: dropout_backward(np.ones(3), np.ones(3), 2.0), "p must"),
        (lambda: dropout_backward(np.ones(3), np.ones(4), 0.5), "mask"),
    ],
)
def test_bad_arguments_are_named(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
