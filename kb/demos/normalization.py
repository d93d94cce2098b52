"""Demo of per-sample normalisation: layer norm and RMSNorm against batch norm as the batch
shrinks."""

from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator

from kb.demos.base import Demo, DemoOutput, DemoParams, Source, check_unique, param
from reference import batchnorm, layernorm

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]
NORMS = ("batch_norm", "layer_norm", "rms_norm")


class NormalizationParams(DemoParams):
    features: int = param(16, "Features per sample.", unit="features", ge=2, le=1_024)
    batch_sizes: list[Annotated[int, Field(ge=2, le=4_096)]] = Field(
        default=[2, 4, 8, 16, 64, 256], min_length=1, max_length=12,
        description="Batch sizes to try (batch norm needs at least 2 samples in training).",
        json_schema_extra={"unit": "samples"},
    )  # fmt: skip
    trials: int = param(
        30, "Batches per size: the same sample, each time with other random companions.",
        unit="batches", ge=2, le=2_000,
    )  # fmt: skip

    @field_validator("batch_sizes")
    @classmethod
    def _unique(cls, value: list[int]) -> list[int]:
        check_unique(value, "batch_sizes")
        return sorted(value)


def run_normalization(p: NormalizationParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    # Features with their own offsets and scales, as activations have.
    offset = rng.uniform(-2.0, 2.0, p.features)
    scale = rng.uniform(0.5, 3.0, p.features)
    sample = offset + scale * rng.standard_normal(p.features)
    out = DemoOutput(metrics={})
    spreads: dict[str, list[float]] = {name: [] for name in NORMS}
    bn = batchnorm.BatchNorm(p.features, affine=False, track_running_stats=False)
    for size in p.batch_sizes:
        outputs: dict[str, list[FloatArray]] = {name: [] for name in NORMS}
        for _ in range(p.trials):
            batch = offset + scale * rng.standard_normal((size, p.features))
            batch[0] = sample
            outputs["batch_norm"].append(bn.forward(batch)[0])
            outputs["layer_norm"].append(layernorm.layer_norm(batch, p.features)[0])
            outputs["rms_norm"].append(layernorm.rms_norm(batch, p.features)[0])
        for name in NORMS:
            # How much the sample's normalised features move with its companions: their std
            # over the trials, averaged over the features.
            spread = float(np.std(np.array(outputs[name]), axis=0).mean())
            spreads[name].append(spread)
            out.metrics[f"{name}.spread_at_batch_{size}"] = spread
    for name in NORMS:
        out.series[f"spread/{name}"] = np.column_stack([p.batch_sizes, spreads[name]])
    return out


def cost_normalization(p: NormalizationParams) -> float:
    """Seconds, fitted on the development machine: three normalisations per batch."""
    rows = sum(p.batch_sizes)
    return 0.01 + p.trials * (3e-4 * len(p.batch_sizes) + 1e-7 * rows * p.features)


def plot_normalization(p: NormalizationParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(1, width=5.0)
    ax = plots.axes(fig, 1, 1, 1, "How much one sample's output depends on its batch")
    for name in NORMS:
        values = np.asarray(out.series[f"spread/{name}"], dtype=np.float64)
        ax.plot(values[:, 0], values[:, 1], marker="o", label=name.replace("_", " "))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("std of the sample's normalised features")
    plots.legend(ax)
    return fig


NORMALIZATION = Demo(
    slug="layer-normalization",
    title="Layer norm and RMSNorm against batch norm as the batch shrinks",
    terms=("layer-normalization", "rms-normalization"),
    description=(
        "Normalises one fixed sample inside many batches of random companions, for each batch "
        "size, with batch normalisation (training mode), layer normalisation and RMSNorm (the "
        "reference implementations), and reports how much the sample's normalised features "
        "vary from batch to batch: batch norm's statistics come from the batch, so the output "
        "moves, more so in small batches; layer norm and RMSNorm use the sample's own "
        "features and do not move beyond round-off."
    ),
    params=NormalizationParams,
    run=run_normalization,
    plot=plot_normalization,
    sources=(
        Source("reference.layernorm", "layer_norm", "layer-normalization"),
        Source("reference.layernorm", "rms_norm", "rms-normalization"),
        Source("reference.batchnorm", "BatchNorm", "batch-normalization"),
    ),
    cost=cost_normalization,
    cost_drivers=("trials", "batch_sizes", "features"),
)
