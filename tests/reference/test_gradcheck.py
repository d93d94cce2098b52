"""reference.gradcheck: central differences and the relative-error measure."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from reference.gradcheck import max_relative_error, numerical_gradient


def test_numerical_gradient_of_a_smooth_function() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    before = x.copy()
    grad = numerical_gradient(lambda a: float(np.sum(np.sin(a) * a**2)), x)
    assert grad.shape == x.shape and grad.dtype == x.dtype
    assert max_relative_error(np.cos(x) * x**2 + 2 * x * np.sin(x), grad) < 1e-9
    np.testing.assert_array_equal(x, before)  # restored bit for bit


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_numerical_gradient_of_a_quadratic(n: int, seed: int) -> None:
    """Central differences are exact for quadratics up to round-off."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    b = rng.normal(size=n)
    x = rng.normal(size=n)
    grad = numerical_gradient(lambda v: float(0.5 * v @ a @ v + b @ v), x)
    assert max_relative_error(0.5 * (a + a.T) @ x + b, grad) < 1e-8


def test_numerical_gradient_perturbs_in_place_for_closures() -> None:
    weights = np.array([1.0, -2.0, 3.0])
    data = np.array([0.5, 0.25, 2.0])

    def loss(_: object) -> float:
        return float(np.sum((weights * data) ** 2))

    grad = numerical_gradient(loss, weights)
    np.testing.assert_allclose(grad, 2 * weights * data**2, rtol=1e-8)


def test_numerical_gradient_non_contiguous_and_float32() -> None:
    big = np.arange(12.0).reshape(3, 4) / 7
    view = big[:, ::2]
    grad = numerical_gradient(lambda a: float(np.sum(a**3)), view)
    np.testing.assert_allclose(grad, 3 * view**2, rtol=1e-7)
    x32 = np.array([0.5, -1.5], dtype=np.float32)
    grad32 = numerical_gradient(lambda a: float(np.sum(a.astype(np.float64) ** 2)), x32, eps=1e-3)
    assert grad32.dtype == np.float32
    np.testing.assert_allclose(grad32, 2 * x32, rtol=1e-5)


def test_numerical_gradient_restores_x_when_f_raises() -> None:
    x = np.array([1.0, 2.0, 3.0])
    calls = []

    def f(a: NDArray[np.floating[Any]]) -> float:
        calls.append(a.copy())
        if len(calls) == 3:
            raise RuntimeError("boom")
        return float(a.sum())

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_max_relative_error_definition() -> None:
    a = np.array([1.0, -2.0, 0.0])
    assert max_relative_error(a, a) == 0.0
    assert max_relative_error(a, -a) == 1.0
    assert max_relative_error(np.zeros(3), np.zeros(3)) == 0.0
    # max |a - n| / max(|a| + |n|): the tiny entries do not dominate.
    n = np.array([1.0, -2.0, 1e-8])
    assert max_relative_error(a, n) == pytest.approx(1e-8 / 4.0)
    assert max_relative_error(np.array([]), np.array([])) == 0.0


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="eps"):
        numerical_gradient(lambda a: 0.0, np.zeros(2), eps=0.0)
    with pytest.raises(ValueError, match=r"^x "):
        numerical_gradient(lambda a: 0.0, np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="eps"):
        numerical_gradient(lambda a: 0.0, np.array([1e3], dtype=np.float32), eps=1e-6)
    with pytest.raises(ValueError, match="numeric"):
        max_relative_error(np.zeros(2), np.zeros(3))
