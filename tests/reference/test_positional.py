"""reference.positional against the papers' formulas written out independently."""

import math
from typing import Any

import numpy as np
import pytest

from reference.positional import apply_rotary, sinusoidal_positional_encoding


@pytest.mark.parametrize(
    ("length", "d_model", "base"), [(1, 2, 10000.0), (7, 6, 10000.0), (5, 8, 100.0)]
)
def test_sinusoidal_table_is_vaswanis(length: int, d_model: int, base: float) -> None:
    pe = sinusoidal_positional_encoding(length, d_model, base)
    assert pe.shape == (length, d_model)
    for pos in range(length):
        for i in range(d_model // 2):
            angle = pos / base ** (2 * i / d_model)
            assert pe[pos, 2 * i] == pytest.approx(math.sin(angle), abs=1e-15)
            assert pe[pos, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-15)
    np.testing.assert_array_equal(pe[0, 0::2], 0.0)
    np.testing.assert_array_equal(pe[0, 1::2], 1.0)


def complex_rotary(x: np.ndarray, positions: np.ndarray, base: float) -> np.ndarray:
    """RoPE as multiplication of x_j + i x_{j + d/2} by exp(i m theta_j) (an independent form)."""
    d = x.shape[-1]
    z = x[..., : d // 2] + 1j * x[..., d // 2 :]
    theta = base ** (-2 * np.arange(d // 2) / d)
    rotated = z * np.exp(1j * positions[:, None] * theta)
    return np.concatenate([rotated.real, rotated.imag], axis=-1)


@pytest.mark.parametrize("shape", [(3, 4), (2, 5, 8), (2, 3, 1, 6)], ids=str)
@pytest.mark.parametrize("base", [10000.0, 500.0])
def test_rotary_is_a_complex_rotation(shape: tuple[int, ...], base: float) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    positions = rng.integers(0, 50, shape[-2])
    y = apply_rotary(x, positions, base)
    np.testing.assert_allclose(y, complex_rotary(x, positions, base), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-12)
    np.testing.assert_array_equal(apply_rotary(x, np.zeros_like(positions)), x)


def test_rotary_dot_product_depends_on_offset_only() -> None:
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal((2, 1, 16))
    scores = {}
    for m in range(0, 30, 3):
        for n in range(0, 30, 4):
            qm = apply_rotary(q, np.array([m]))
            kn = apply_rotary(k, np.array([n]))
            scores.setdefault(n - m, []).append(float(np.sum(qm * kn)))
    assert any(len(v) > 1 for v in scores.values())
    for values in scores.values():
        np.testing.assert_allclose(values, values[0], rtol=1e-10, atol=1e-12)
    assert len({round(v[0], 6) for v in scores.values()}) > 1  # ... and it does depend on it


def test_float32_keeps_dtype() -> None:
    x = np.ones((2, 3, 4), np.float32)
    assert apply_rotary(x, np.arange(3)).dtype == np.float32


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sinusoidal_positional_encoding(4, 5), "d_model"),
        (lambda: sinusoidal_positional_encoding(-1, 4), "length"),
        (lambda: sinusoidal_positional_encoding(4, 4, base=0.0), "base"),
        (lambda: apply_rotary(np.ones((3, 5)), np.arange(3)), "last dimension"),
        (lambda: apply_rotary(np.ones((3, 4)), np.arange(2)), "positions"),
        (lambda: apply_rotary(np.ones((3, 4)), np.linspace(0, 1, 3)), "positions"),
        (lambda: apply_rotary(np.ones(4), np.arange(1)), "x must"),
    ],
)
def test_bad_arguments_are_named(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
