"""Every demo, by slug. A term's ``demo`` field names one of these."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kb.demos.base import Demo
from kb.demos.classifiers import DECISION_BOUNDARIES, ROC_CURVE
from kb.demos.clustering import GAUSSIAN_MIXTURE, KMEANS
from kb.demos.convnets import CONVNET
from kb.demos.encoder import SENTENCE_EMBEDDING
from kb.demos.generative import DIFFUSION, GAN, VAE
from kb.demos.language import BPE, DECODING
from kb.demos.layers import ACTIVATIONS, ATTENTION
from kb.demos.loss_functions import ROBUST, SMOOTHING
from kb.demos.models import AUTOENCODER, RBM
from kb.demos.networks import ADAPTER, BACKPROP, BATCH_NORM, BATCH_SIZE
from kb.demos.normalization import NORMALIZATION
from kb.demos.optimizers import ADAM, WEIGHT_DECAY
from kb.demos.regression import BIAS_VARIANCE
from kb.demos.regularization import DROPOUT
from kb.demos.reinforcement import BANDIT, GRID_WORLD
from kb.demos.sequences import POSITIONAL, RECURRENT

DEMOS: dict[str, Demo[Any]] = {
    demo.slug: demo
    for demo in (
        ADAM, WEIGHT_DECAY, BATCH_NORM, BACKPROP, AUTOENCODER, RBM, ACTIVATIONS, ATTENTION,
        ADAPTER, BATCH_SIZE, CONVNET, RECURRENT, POSITIONAL, NORMALIZATION, DROPOUT, ROBUST,
        SMOOTHING, KMEANS, GAUSSIAN_MIXTURE, DECISION_BOUNDARIES, ROC_CURVE, BIAS_VARIANCE,
        GAN, DIFFUSION, VAE, GRID_WORLD, BANDIT, DECODING, BPE, SENTENCE_EMBEDDING,
    )
}  # fmt: skip


def get(slug: str) -> Demo[Any] | None:
    return DEMOS.get(slug)


def slugs() -> list[str]:
    return sorted(DEMOS)


def generation() -> tuple[str, ...]:
    """Changes whenever the set of demos does (a cache key for what is derived from it)."""
    return tuple(DEMOS)


@contextmanager
def registered(*demos: Demo[Any]) -> Iterator[None]:
    """Add demos for the duration of a block (tests use it for demos they define)."""
    for demo in demos:
        if demo.slug in DEMOS:
            raise ValueError(f"a demo called {demo.slug!r} is already registered")
        DEMOS[demo.slug] = demo
    try:
        yield
    finally:
        for demo in demos:
            DEMOS.pop(demo.slug, None)
