"""Demos of single building blocks: activation functions and attention weights."""

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator, model_validator

from kb.demos.base import Demo, DemoOutput, DemoParams, Source, check_unique, finite_or_nan, param
from reference import activations, attention, gradcheck

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]

# --- activation functions ----------------------------------------------------------------------

ActivationName = Literal[
    "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "silu", "softplus"
]
ACTIVATION_NAMES: tuple[ActivationName, ...] = (
    "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "silu", "softplus"
)  # fmt: skip
SATURATION = 0.01
"""|f'(x)| below this counts as saturated (the gradient has all but vanished)."""


class ActivationParams(DemoParams):
    activations: list[ActivationName] = Field(
        default=list(ACTIVATION_NAMES), min_length=1, max_length=len(ACTIVATION_NAMES),
        description="Which functions to evaluate (gelu_tanh: GELU's tanh approximation).",
    )  # fmt: skip
    x_min: float = param(-5.0, "Left end of the range.", ge=-1_000.0, le=1_000.0)
    x_max: float = param(5.0, "Right end of the range.", ge=-1_000.0, le=1_000.0)
    points: int = param(
        201, "Evaluation points, evenly spaced (series longer than 500 are downsampled).",
        unit="points", ge=2, le=20_000,
    )  # fmt: skip
    negative_slope: float = param(0.01, "leaky_relu: slope for x < 0.", ge=0.0, le=1.0)
    softplus_beta: float = param(1.0, "softplus: sharpness beta.", ge=0.01, le=100.0)
    softplus_threshold: float = param(
        20.0, "softplus: beyond beta x > threshold it returns x.", ge=0.1, le=100.0
    )

    @field_validator("activations")
    @classmethod
    def _unique(cls, value: list[ActivationName]) -> list[ActivationName]:
        check_unique(value, "activations")
        return value

    @model_validator(mode="after")
    def _range(self) -> "ActivationParams":
        if not self.x_min < self.x_max:
            raise ValueError("x_min must be below x_max")
        return self


Pair = tuple[Callable[[FloatArray], FloatArray], Callable[[FloatArray, FloatArray], FloatArray]]


def _functions(p: ActivationParams) -> dict[str, Pair]:
    slope, beta, threshold = p.negative_slope, p.softplus_beta, p.softplus_threshold
    return {
        "relu": (activations.relu, activations.relu_backward),
        "leaky_relu": (
            lambda x: activations.leaky_relu(x, slope),
            lambda x, g: activations.leaky_relu_backward(x, g, slope),
        ),
        "sigmoid": (activations.sigmoid, activations.sigmoid_backward),
        "tanh": (activations.tanh, activations.tanh_backward),
        "gelu": (activations.gelu, activations.gelu_backward),
        "gelu_tanh": (
            lambda x: activations.gelu(x, "tanh"),
            lambda x, g: activations.gelu_backward(x, g, "tanh"),
        ),
        "silu": (activations.silu, activations.silu_backward),
        "softplus": (
            lambda x: activations.softplus(x, beta, threshold),
            lambda x, g: activations.softplus_backward(x, g, beta, threshold),
        ),
    }


_ACTIVATION_REFERENCES = {
    "relu": ("relu", "relu_backward"),
    "leaky_relu": ("leaky_relu", "leaky_relu_backward"),
    "sigmoid": ("sigmoid", "sigmoid_backward"),
    "tanh": ("tanh", "tanh_backward"),
    "gelu": ("gelu", "gelu_backward"),
    "gelu_tanh": ("gelu", "gelu_backward"),
    "silu": ("silu", "silu_backward"),
    "softplus": ("softplus", "softplus_backward"),
}


def run_activations(p: ActivationParams) -> DemoOutput:
    x = np.linspace(p.x_min, p.x_max, p.points)
    spacing = (p.x_max - p.x_min) / (p.points - 1)
    # Checked between the grid points, away from kinks such as relu's at 0.
    probe = x[:-1] + spacing / 3 if p.points > 1 else x
    h = 1e-6 * max(1.0, float(np.max(np.abs(probe))))
    functions = _functions(p)
    out = DemoOutput(
        metrics={},
        references=tuple(
            f"reference.activations:{name}"
            for a in p.activations
            for name in _ACTIVATION_REFERENCES[a]
        ),
    )
    out.references = tuple(dict.fromkeys(out.references or ()))
    with np.errstate(all="ignore"):
        for name in p.activations:
            forward, backward = functions[name]
            values = forward(x)
            derivative = backward(x, np.ones_like(x))
            numeric = (forward(probe + h) - forward(probe - h)) / (2 * h)
            analytic = backward(probe, np.ones_like(probe))
            zero = np.zeros(1)
            out.metrics[f"{name}.at_zero"] = float(forward(zero)[0])
            out.metrics[f"{name}.derivative_at_zero"] = float(backward(zero, np.ones(1))[0])
            out.metrics[f"{name}.min_derivative"] = float(derivative.min())
            out.metrics[f"{name}.max_derivative"] = float(derivative.max())
            out.metrics[f"{name}.saturated_fraction"] = float(
                np.mean(np.abs(derivative) < SATURATION)
            )
            out.metrics[f"{name}.derivative_check"] = gradcheck.max_relative_error(
                analytic, numeric
            )
            out.series[f"value/{name}"] = np.column_stack([x, values])
            out.series[f"derivative/{name}"] = np.column_stack([x, derivative])
    return out


def cost_activations(p: ActivationParams) -> float:
    return 0.005 + 4e-7 * p.points * len(p.activations)


def plot_activations(p: ActivationParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(2)
    ax = plots.axes(fig, 1, 2, 1, "f(x)")
    ax2 = plots.axes(fig, 1, 2, 2, "f'(x), from the reference backward pass")
    for name in p.activations:
        plots.curve(ax, out.series[f"value/{name}"], name)
        plots.curve(ax2, out.series[f"derivative/{name}"], name)
    for a in (ax, ax2):
        a.set_xlabel("x")
        a.axhline(0.0, color="0.6", linewidth=0.6)
    plots.legend(ax)
    return fig


ACTIVATIONS = Demo(
    slug="activation-function",
    title="Activation functions and their derivatives",
    terms=("activation-function", "relu", "leaky-relu", "sigmoid", "tanh", "gelu", "softplus"),
    description=(
        "Evaluates each chosen activation and its derivative (the reference backward pass with "
        "an upstream gradient of 1) over a range, and reports its value and slope at 0, the "
        "smallest and largest slope, the fraction of the range where the slope is below 0.01 "
        "(saturated: the gradient all but vanishes), and the largest relative disagreement "
        "between the backward pass and central differences of the forward pass."
    ),
    params=ActivationParams,
    run=run_activations,
    plot=plot_activations,
    sources=(
        Source("reference.activations", "relu", "relu"),
        Source("reference.activations", "relu_backward", "relu"),
        Source("reference.activations", "leaky_relu", "leaky-relu"),
        Source("reference.activations", "leaky_relu_backward", "leaky-relu"),
        Source("reference.activations", "sigmoid", "sigmoid"),
        Source("reference.activations", "sigmoid_backward", "sigmoid"),
        Source("reference.activations", "tanh", "tanh"),
        Source("reference.activations", "tanh_backward", "tanh"),
        Source("reference.activations", "gelu", "gelu"),
        Source("reference.activations", "gelu_backward", "gelu"),
        Source("reference.activations", "silu", "activation-function"),
        Source("reference.activations", "silu_backward", "activation-function"),
        Source("reference.activations", "softplus", "softplus"),
        Source("reference.activations", "softplus_backward", "softplus"),
    ),
    cost=cost_activations,
    cost_drivers=("points", "activations"),
    featured=("activations", "x_min", "x_max"),
)


# --- attention ---------------------------------------------------------------------------------

MAX_LENGTH = 64
MAX_GIVEN_DIM = 64
Entry = Annotated[float, Field(ge=-1_000.0, le=1_000.0)]
Row = Annotated[list[Entry], Field(min_length=1, max_length=MAX_GIVEN_DIM)]
Matrix = Annotated[list[Row], Field(min_length=1, max_length=MAX_LENGTH)]


class AttentionParams(DemoParams):
    queries: Matrix | None = param(
        None, "Given query vectors, one per row; unset: random ones (length_q x dim)."
    )
    keys: Matrix | None = param(
        None, "Given key vectors, one per row, as wide as the queries; unset: random ones."
    )
    self_attention: bool = param(False, "Use the queries as the keys.")
    length_q: int = param(8, "Random queries: how many.", unit="positions", ge=1, le=MAX_LENGTH)
    length_k: int = param(8, "Random keys: how many.", unit="positions", ge=1, le=MAX_LENGTH)
    dim: int = param(16, "Random vectors: their width d.", unit="dimensions", ge=1, le=256)
    spread: float = param(
        1.0, "Random vectors: std of their entries (larger: peakier weights).", gt=0.0, le=100.0
    )
    mask: Literal["none", "causal", "padding"] = param(
        "causal",
        "causal: query i sees keys 0..i; padding: the last `padding` keys are hidden from "
        "every query.",
    )
    padding: int = param(
        2, "padding: how many trailing keys are padding.", unit="positions", ge=0, le=MAX_LENGTH
    )
    scale: float | None = param(
        None, "Multiplier of the scores; unset: 1 / sqrt(d).", gt=0.0, le=100.0
    )

    @field_validator("queries", "keys")
    @classmethod
    def _rectangular(cls, value: list[list[float]] | None) -> list[list[float]] | None:
        if value is not None and len({len(row) for row in value}) > 1:
            raise ValueError("every row must have the same length")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "AttentionParams":
        if self.self_attention and self.keys is not None:
            raise ValueError("give keys or set self_attention, not both")
        given = self.queries is not None and self.keys is not None
        if given and len(self.queries[0]) != len(self.keys[0]):  # type: ignore[index]
            raise ValueError("queries and keys must have the same width")
        if self.mask == "padding" and self.padding > self._keys_count():
            raise ValueError("padding must not exceed the number of keys")
        return self

    def _keys_count(self) -> int:
        if self.self_attention:
            return len(self.queries) if self.queries is not None else self.length_q
        return len(self.keys) if self.keys is not None else self.length_k


def _entropy(weights: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(weights > 0, -weights * np.log(weights), 0.0)
    out: FloatArray = terms.sum(axis=-1)
    return out


def run_attention(p: AttentionParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    if p.queries is not None:
        q = np.array(p.queries, dtype=np.float64)
    else:
        q = rng.normal(0.0, p.spread, (p.length_q, p.dim))
    if p.self_attention:
        k = q
    elif p.keys is not None:
        k = np.array(p.keys, dtype=np.float64)
    else:
        k = rng.normal(0.0, p.spread, (p.length_k, q.shape[1]))
    length_q, length_k = q.shape[0], k.shape[0]
    allowed: Any = None
    if p.mask == "padding":
        allowed = np.ones((1, length_k), dtype=bool)
        allowed[0, length_k - p.padding :] = False
    weights = attention.attention_weights(
        q, k, k, attn_mask=allowed, is_causal=p.mask == "causal", scale=p.scale
    )
    if p.mask == "causal":
        visible = np.tri(length_q, length_k, dtype=bool)
    elif allowed is not None:
        visible = np.broadcast_to(allowed, (length_q, length_k))
    else:
        visible = np.ones((length_q, length_k), dtype=bool)
    open_rows = visible.any(axis=1)
    entropy = _entropy(weights)
    counts = visible.sum(axis=1)
    out = DemoOutput(
        metrics={
            "queries": length_q,
            "keys": length_k,
            "dim": q.shape[1],
            "scale": p.scale if p.scale is not None else 1.0 / math.sqrt(q.shape[1]),
            "fully_masked_rows": int(np.sum(~open_rows)),
            "masked_fraction": float(1.0 - visible.mean()),
            "mean_entropy": float(entropy[open_rows].mean()) if open_rows.any() else 0.0,
            "mean_uniform_entropy": float(np.log(counts[open_rows]).mean())
            if open_rows.any() else 0.0,
            "mean_max_weight": float(weights.max(axis=1)[open_rows].mean())
            if open_rows.any() else 0.0,
            "max_row_sum_error": float(np.max(np.abs(weights.sum(axis=1)[open_rows] - 1.0)))
            if open_rows.any() else 0.0,
            "weight_on_masked_keys": float(np.abs(weights[~visible]).sum()),
        }
    )  # fmt: skip
    out.series["entropy"] = entropy
    for i, row in enumerate(weights):
        out.series[f"weights/{i}"] = row
    out.extras["visible"] = visible
    out.extras["weights"] = weights
    return out


def cost_attention(p: AttentionParams) -> float:
    return 0.01 + 1e-9 * MAX_LENGTH * MAX_LENGTH * p.dim


def plot_attention(p: AttentionParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    weights = finite_or_nan(out.extras["weights"])
    visible = out.extras["visible"]
    fig = plots.figure(2, width=4.6)
    ax = plots.axes(fig, 1, 2, 1, f"Attention weights ({p.mask} mask)")
    shown = np.where(visible, weights, np.nan)
    image = ax.imshow(shown, cmap="viridis", vmin=0.0, vmax=max(float(np.nanmax(weights)), 1e-12),
                      aspect="auto")  # fmt: skip
    ax.set_facecolor("0.85")
    ax.grid(False)
    ax.set_xlabel("key position")
    ax.set_ylabel("query position")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax2 = plots.axes(fig, 1, 2, 2, "Entropy of each query's weights")
    entropy = finite_or_nan(out.series["entropy"])
    ax2.bar(np.arange(entropy.size), entropy, label="entropy")
    counts = visible.sum(axis=1)
    uniform = np.where(counts > 0, np.log(np.maximum(counts, 1)), np.nan)
    ax2.plot(np.arange(entropy.size), uniform, "k_", markersize=10, label="uniform over visible")
    ax2.set_xlabel("query position")
    ax2.set_ylabel("nats")
    plots.legend(ax2)
    return fig


ATTENTION = Demo(
    slug="attention-mechanism",
    title="Attention weights with causal and padding masks",
    terms=("attention-mechanism", "scaled-dot-product-attention", "self-attention"),
    description=(
        "Computes the weights softmax(Q K^T * scale + M) of scaled dot-product attention for "
        "random or given queries and keys, with no mask, a causal mask or a padding mask, "
        "and reports how concentrated each query's weights are (entropy against the uniform "
        "spread over the keys it may see), that every visible row sums to 1, that masked keys "
        "get exactly zero weight, and how many rows are fully masked (their weights are all "
        "zero, not NaN)."
    ),
    params=AttentionParams,
    run=run_attention,
    plot=plot_attention,
    sources=(
        Source("reference.attention", "attention_weights", "scaled-dot-product-attention"),
        Source("reference.attention", "_sdpa", "attention-mechanism"),
        Source("reference.attention", "_softmax_masked", "softmax"),
    ),
    cost=cost_attention,
    cost_drivers=("dim",),
    featured=("self_attention", "mask", "scale"),
)
