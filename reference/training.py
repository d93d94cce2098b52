"""Minibatch training shared by the models of this package (MLP, autoencoder, RBM).

One epoch visits every row once, in a fresh random order, in minibatches of ``batch_size``
rows (the last one may be smaller); the models step a ``reference.optim`` optimizer (or, for
the RBM, a contrastive-divergence update) once per minibatch.
"""

from collections.abc import Callable, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from reference import optim

OPTIMIZERS: dict[str, Callable[..., optim.Optimizer]] = {
    "adam": optim.Adam,
    "adamw": optim.AdamW,
    "sgd": optim.SGD,
    "rmsprop": optim.RMSprop,
    "adagrad": optim.Adagrad,
}


def make_optimizer(name: str, params: Sequence[NDArray[np.floating]], lr: float) -> optim.Optimizer:
    """A fresh optimizer of ``reference.optim`` by name, with its defaults but ``lr``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](params, lr=lr)


def check_schedule(n_rows: int, epochs: int, batch_size: int, lr: float) -> None:
    """Reject a training schedule that cannot run, naming the argument at fault."""
    if epochs < 0:
        raise ValueError(f"epochs must be non-negative, got {epochs}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if n_rows == 0:
        raise ValueError("X must contain at least one row")


def minibatches(
    n_rows: int, batch_size: int, rng: np.random.Generator
) -> Iterator[NDArray[np.intp]]:
    """The row indices of one epoch's minibatches, in a random order drawn from ``rng``."""
    order = rng.permutation(n_rows)
    for start in range(0, n_rows, batch_size):
        yield order[start : start + batch_size]
