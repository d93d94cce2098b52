"""Shared helpers for the reference-implementation tests: torch conversion and finite differences.

Import as ``from _torch import ...`` (pytest puts this directory on ``sys.path``; there is
deliberately no ``__init__.py`` here, since ``tests.reference`` would shadow the ``reference``
package under test).
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

FloatArray = NDArray[np.floating[Any]]


def to_torch(a: FloatArray, requires_grad: bool = False) -> torch.Tensor:
    """A torch tensor holding a copy of ``a`` (same dtype)."""
    return torch.tensor(np.array(a), requires_grad=requires_grad)


def to_numpy(t: torch.Tensor | None) -> FloatArray:
    """A NumPy copy of a tensor (``None``, e.g. a missing ``.grad``, fails the test)."""
    assert t is not None, "expected a tensor, got None"
    out: FloatArray = t.detach().numpy().copy()
    return out


@contextmanager
def strict_errstate() -> Iterator[None]:
    """Overflow, invalid operations and division by zero raise; underflow is allowed."""
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        yield


def max_abs_diff(ours: FloatArray, theirs: FloatArray) -> float:
    return float(np.max(np.abs(np.asarray(ours, np.float64) - np.asarray(theirs, np.float64))))


def assert_close_to_torch(ours: FloatArray, theirs: FloatArray, rtol: float = 1e-10) -> None:
    """|ours - theirs| <= rtol * max(1, |theirs|) elementwise, with matching shape."""
    ours64 = np.asarray(ours, np.float64)
    theirs64 = np.asarray(theirs, np.float64)
    assert ours64.shape == theirs64.shape
    bound = rtol * np.maximum(1.0, np.abs(theirs64))
    diff = np.abs(ours64 - theirs64)
    worst = np.unravel_index(np.argmax(diff - bound), diff.shape) if diff.size else ()
    assert np.all(diff <= bound), (
        f"max |diff| {diff.max():.3e}; worst at {worst}: ours {ours64[worst]!r}, "
        f"torch {theirs64[worst]!r}"
    )


def numerical_gradient(
    f: Callable[[FloatArray], float], x: FloatArray, eps: float = 1e-6
) -> FloatArray:
    """Central finite differences of a scalar function f at x (float64)."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        original = flat_x[i]
        flat_x[i] = original + eps
        upper = f(x)
        flat_x[i] = original - eps
        lower = f(x)
        flat_x[i] = original
        flat_g[i] = (upper - lower) / (2 * eps)
    return grad


def max_relative_error(analytic: FloatArray, numeric: FloatArray) -> float:
    """max |a - n| / max(1, |a|, |n|): relative for large values, absolute near zero."""
    a = np.asarray(analytic, np.float64)
    n = np.asarray(numeric, np.float64)
    scale = np.maximum(1.0, np.maximum(np.abs(a), np.abs(n)))
    return float(np.max(np.abs(a - n) / scale)) if a.size else 0.0
