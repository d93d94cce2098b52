"""Shared helpers for the reference-implementation tests (attention, MLP, autoencoder, ...)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from reference.gradcheck import max_relative_error, numerical_gradient

FloatArray = NDArray[np.floating[Any]]

FD_TOL = 1e-6  # finite differences, float64
TORCH_TOL = 1e-10  # relative difference to torch autograd, float64


def t64(x: Any) -> torch.Tensor:
    """A float64 (or bool) torch tensor sharing nothing with ``x``."""
    arr = np.array(x)
    return torch.from_numpy(arr if arr.dtype == np.bool_ else arr.astype(np.float64))


def rel_diff(ours: Any, theirs: Any) -> float:
    """max |a - b| / max(max |b|, 1e-300): the relative difference used against torch."""
    a = np.asarray(ours, dtype=np.float64)
    b = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b), initial=0.0) / max(float(np.max(np.abs(b))), 1e-300))


def fd_errors(
    loss: Callable[[], float], params: Sequence[FloatArray], grads: Sequence[FloatArray]
) -> list[float]:
    """Max relative error between each analytic gradient and central differences of ``loss``.

    ``loss`` takes no argument and reads the parameter arrays, which are perturbed in place.
    """
    assert len(params) == len(grads)
    return [
        max_relative_error(g, numerical_gradient(lambda _x: loss(), p))
        for p, g in zip(params, grads, strict=True)
    ]
