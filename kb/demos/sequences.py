"""Demos of sequence models: recurrent cells on a long-gap memory task, with the gradient that
reaches each time step, and positional encodings (sinusoids and rotary embeddings)."""

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator

from kb.demos.base import Demo, DemoOutput, DemoParams, Source, check_unique, param
from reference import losses, optim, positional, recurrent

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]

# --- recurrent cells on a long gap ----------------------------------------------------------------

Cell = Literal["rnn", "lstm", "gru"]
CELLS: tuple[Cell, ...] = ("rnn", "lstm", "gru")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
EVAL_BATCH = 256


class RecurrentParams(DemoParams):
    cells: list[Cell] = Field(
        default=list(CELLS), min_length=1, max_length=len(CELLS),
        description="Which layers to train (rnn: Elman with tanh).",
    )  # fmt: skip
    length: int = param(
        20, "Time steps: the bit to remember comes first, the answer is read after the last.",
        unit="steps", ge=2, le=200,
    )  # fmt: skip
    hidden: int = param(8, "Hidden units of every layer.", unit="units", ge=1, le=64)
    steps: int = param(120, "Adam steps.", unit="steps", ge=0, le=3_000)
    batch_size: int = param(16, "Sequences per step.", unit="samples", ge=1, le=512)
    lr: float = param(0.02, "Adam learning rate.", unit="per step", gt=0.0, le=1.0)
    forget_bias: float = param(
        1.0, "LSTM: initial bias of the forget gate (1 is the common choice).", ge=-5.0, le=5.0
    )

    @field_validator("cells")
    @classmethod
    def _unique(cls, value: list[Cell]) -> list[Cell]:
        check_unique(value, "cells")
        return value


def _memory_task(length: int, n: int, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """x (T, N, 2): a +-1 bit at t = 0 in channel 0, Gaussian noise in channel 1 at every step;
    the target is whether the bit was +1."""
    bits = rng.integers(0, 2, n)
    x = np.zeros((length, n, 2))
    x[0, :, 0] = 2.0 * bits - 1.0
    x[:, :, 1] = rng.standard_normal((length, n))
    return x, bits.astype(np.float64)


def _layer(cell: Cell, hidden: int, forget_bias: float, rng: np.random.Generator) -> Any:
    """A layer with torch's initialisation, U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / np.sqrt(hidden)
    rows = GATES[cell] * hidden
    shapes: list[tuple[int, ...]] = [(rows, 2), (rows, hidden), (rows,), (rows,)]
    w_ih, w_hh, b_ih, b_hh = (rng.uniform(-bound, bound, shape) for shape in shapes)
    if cell == "lstm":
        b_ih[hidden : 2 * hidden] = forget_bias  # gate order i, f, g, o
        b_hh[hidden : 2 * hidden] = 0.0
        return recurrent.LSTM(w_ih, w_hh, b_ih, b_hh)
    return (
        recurrent.GRU(w_ih, w_hh, b_ih, b_hh)
        if cell == "gru"
        else recurrent.RNN(w_ih, w_hh, b_ih, b_hh)
    )


def _loss_and_grads(
    layer: Any, readout: FloatArray, x: FloatArray, y: FloatArray
) -> tuple[float, dict[str, FloatArray], FloatArray]:
    """Loss, the layer's gradients, and dL/d readout, for a logit read from the last h."""
    output, _ = layer.forward(x)
    h_last = output[-1]
    logit = h_last @ readout[:-1] + readout[-1]
    loss = float(losses.binary_cross_entropy_with_logits(logit, y))
    g_logit = losses.binary_cross_entropy_with_logits_backward(1.0, logit, y)
    g_output = np.zeros_like(output)
    g_output[-1] = np.outer(g_logit, readout[:-1])
    grads = layer.backward(g_output)
    g_readout = np.append(h_last.T @ g_logit, g_logit.sum())
    return loss, grads, g_readout


def _gradient_by_step(layer: Any, readout: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """Mean over the batch of |dL/dx_t| on the bit's channel: how much the loss would feel the
    bit had it come at step t."""
    _, grads, _ = _loss_and_grads(layer, readout, x, y)
    by_step: FloatArray = np.abs(grads["x"][:, :, 0]).mean(axis=1)
    return by_step


def run_recurrent(p: RecurrentParams) -> DemoOutput:
    out = DemoOutput(metrics={})
    steps_axis = np.arange(p.length)
    x_eval, y_eval = _memory_task(p.length, EVAL_BATCH, np.random.default_rng([p.seed, 2]))
    with np.errstate(all="ignore"):
        for cell in p.cells:
            rng = np.random.default_rng([p.seed, CELLS.index(cell)])
            layer = _layer(cell, p.hidden, p.forget_bias, rng)
            readout = rng.uniform(-1, 1, p.hidden + 1) / np.sqrt(p.hidden)
            before = _gradient_by_step(layer, readout, x_eval, y_eval)
            names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
            opt = optim.Adam([*(getattr(layer, n) for n in names), readout], lr=p.lr)
            data_rng = np.random.default_rng([p.seed, 1])  # every cell sees the same batches
            curve = []
            for _ in range(p.steps):
                x, y = _memory_task(p.length, p.batch_size, data_rng)
                loss, grads, g_readout = _loss_and_grads(layer, readout, x, y)
                opt.step([*(grads[n] for n in names), g_readout])
                curve.append(loss)
            after = _gradient_by_step(layer, readout, x_eval, y_eval)
            output, _ = layer.forward(x_eval)
            logit = output[-1] @ readout[:-1] + readout[-1]
            out.metrics[f"{cell}.accuracy"] = float(np.mean((logit > 0) == (y_eval > 0.5)))
            out.metrics[f"{cell}.final_loss"] = float(np.mean(curve[-10:])) if curve else None
            out.metrics[f"{cell}.first_over_last_gradient_at_init"] = float(before[0] / before[-1])
            out.metrics[f"{cell}.first_over_last_gradient_trained"] = float(after[0] / after[-1])
            out.series[f"gradient_at_init/{cell}"] = np.column_stack([steps_axis, before])
            out.series[f"gradient_trained/{cell}"] = np.column_stack([steps_axis, after])
            if curve:
                out.series[f"loss/{cell}"] = np.column_stack([np.arange(len(curve)), curve])
    return out


def cost_recurrent(p: RecurrentParams) -> float:
    """Seconds, fitted on the development machine: a forward and backward time step costs
    Python overhead plus the products of a batch with the gate weights."""
    total = 0.02
    for cell in p.cells:
        width = GATES[cell] * p.hidden
        per_step = (60e-6 + 1.5e-9 * p.batch_size * width * (p.hidden + 2)) * (1 + (cell != "rnn"))
        evals = (50e-6 + 1.5e-9 * EVAL_BATCH * width * (p.hidden + 2)) * 3
        total += p.length * (p.steps * per_step + evals)
    return total


def plot_recurrent(p: RecurrentParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(3)
    for index, (stage, title) in enumerate(
        (("gradient_at_init", "|dL/dx_t| at initialisation"), ("gradient_trained", "... trained"))
    ):
        ax = plots.axes(fig, 1, 3, index + 1, title)
        for cell in p.cells:
            plots.curve(ax, out.series[f"{stage}/{cell}"], cell)
        ax.set_xlabel("time step t (the bit is at t = 0)")
        plots.log_scale_if_positive(ax, [out.series[f"{stage}/{c}"] for c in p.cells])
        plots.legend(ax)
    ax3 = plots.axes(fig, 1, 3, 3, "Training loss (log 2 = chance)")
    for cell in p.cells:
        if f"loss/{cell}" in out.series:
            plots.curve(ax3, out.series[f"loss/{cell}"], cell)
    ax3.axhline(np.log(2.0), color="0.6", linewidth=0.8)
    ax3.set_xlabel("Adam step")
    plots.legend(ax3)
    return fig


RECURRENT = Demo(
    slug="recurrent-neural-network",
    title="RNN, LSTM and GRU on a long gap: what the gradient reaching each step shows",
    terms=(
        "recurrent-neural-network",
        "long-short-term-memory",
        "gated-recurrent-unit",
        "backpropagation-through-time",
    ),
    description=(
        "Each sequence starts with a +-1 bit, followed by noise; after the last step a linear "
        "readout of the hidden state must say which bit it was. For each chosen layer (the "
        "reference RNN, LSTM and GRU with torch's initialisation, the LSTM's forget-gate bias "
        "set to forget_bias) it reports the mean norm of "
        "the gradient of the loss with respect to each input x_t, computed by "
        "backpropagation through time, before and after training with Adam, the ratio of "
        "the first step's gradient to the last one's, the training loss and the accuracy on "
        f"{EVAL_BATCH} fresh sequences."
    ),
    params=RecurrentParams,
    run=run_recurrent,
    plot=plot_recurrent,
    sources=(
        Source("reference.recurrent", "RNN", "recurrent-neural-network"),
        Source("reference.recurrent", "LSTM", "long-short-term-memory"),
        Source("reference.recurrent", "GRU", "gated-recurrent-unit"),
        Source("reference.losses", "binary_cross_entropy_with_logits", "binary-cross-entropy"),
        Source(
            "reference.losses", "binary_cross_entropy_with_logits_backward", "binary-cross-entropy"
        ),
        Source("reference.optim", "Adam", "adam-optimizer"),
    ),
    cost=cost_recurrent,
    cost_drivers=("steps", "length", "cells", "batch_size", "hidden"),
)


# --- positional encodings -------------------------------------------------------------------------

ROTARY_STARTS = 8
"""Query positions m at which the rotary score for each offset is computed (their spread shows
that only the offset matters)."""


class PositionalParams(DemoParams):
    length: int = param(64, "Positions in the table.", unit="positions", ge=2, le=8_192)
    d_model: int = param(64, "Width of the encoding (even).", unit="dims", ge=2, le=2_048)
    base: float = param(10_000.0, "Base of the wavelengths base^(2i/d).", ge=2.0, le=1e7)

    @field_validator("d_model")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("d_model must be even")
        return value


def run_positional(p: PositionalParams) -> DemoOutput:
    pe = positional.sinusoidal_positional_encoding(p.length, p.d_model, p.base)
    offsets = np.arange(p.length)
    # PE[m] . PE[m + k] = sum_i cos(k omega_i): the same for every m.
    dots = pe[0] @ pe.T
    half = p.length // 2
    shifted = np.einsum("td,td->t", pe[: p.length - half], pe[half:])
    rng = np.random.default_rng(p.seed)
    q, k = rng.standard_normal((2, p.d_model)) / np.sqrt(p.d_model)
    starts = np.unique(rng.integers(0, p.length, ROTARY_STARTS))
    span = p.length - int(starts.max())
    scores = np.empty((starts.size, span))
    for row, m in enumerate(starts):
        positions = np.arange(m, m + span)
        q_m = positional.apply_rotary(q[None], np.array([m]), p.base)[0]
        keys = positional.apply_rotary(np.broadcast_to(k, (span, p.d_model)), positions, p.base)
        scores[row] = keys @ q_m
    rotated = positional.apply_rotary(np.broadcast_to(q, (p.length, p.d_model)), offsets, p.base)
    out = DemoOutput(
        metrics={
            "sinusoidal.max_dot_spread_at_equal_offset": float(
                np.max(np.abs(shifted - dots[half]))
            ),
            "sinusoidal.norm": float(np.linalg.norm(pe[-1])),
            "rotary.max_score_spread_at_equal_offset": float(np.ptp(scores, axis=0).max()),
            "rotary.max_norm_change": float(
                np.max(np.abs(np.linalg.norm(rotated, axis=1) - np.linalg.norm(q)))
            ),
            "rotary.query_positions": int(starts.size),
        },
        series={
            "sinusoidal/dot_with_position_0": np.column_stack([offsets, dots]),
            "rotary/score_by_offset": np.column_stack([np.arange(span), scores[0]]),
        },
    )
    out.extras["table"] = pe[:: -(-p.length // 256), :256]  # enough pixels for the picture
    return out


def cost_positional(p: PositionalParams) -> float:
    """Seconds, fitted on the development machine: the table, and the rotated keys for each of
    the query positions."""
    return 0.01 + 1.2e-8 * p.length * p.d_model * (3 + ROTARY_STARTS)


def plot_positional(p: PositionalParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(3)
    ax = plots.axes(fig, 1, 3, 1, "Sinusoidal encoding PE[pos, j] (first 256 dims)")
    table = out.extras["table"]
    ax.imshow(table, aspect="auto", cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest",
              extent=(0, table.shape[1], p.length, 0))  # fmt: skip
    ax.set_xlabel("dimension j")
    ax.set_ylabel("position")
    ax.grid(False)
    ax2 = plots.axes(fig, 1, 3, 2, "PE[0] . PE[k]")
    plots.curve(ax2, out.series["sinusoidal/dot_with_position_0"], "sinusoidal")
    ax2.set_xlabel("offset k")
    ax3 = plots.axes(fig, 1, 3, 3, "Rotary: <R_m q, R_(m+k) key>")
    plots.curve(ax3, out.series["rotary/score_by_offset"], "rotary")
    ax3.set_xlabel("offset k")
    return fig


POSITIONAL = Demo(
    slug="positional-encoding",
    title="Sinusoidal and rotary position encodings: what depends only on the offset",
    terms=("positional-encoding", "rotary-position-embedding"),
    description=(
        "Builds the sinusoidal table of Vaswani et al. (reference.positional) and reports that "
        "the dot product PE[m] . PE[m + k] depends on the offset k alone (its largest spread "
        "over m at k = length / 2); then rotates a random query and key with rotary position "
        f"embedding (RoPE) at up to {ROTARY_STARTS} query positions m and every key position "
        "m + k, and reports the largest spread of the score over m at equal offsets "
        "(round-off only) and the largest change of a vector's norm under the rotation."
    ),
    params=PositionalParams,
    run=run_positional,
    plot=plot_positional,
    sources=(
        Source("reference.positional", "sinusoidal_positional_encoding", "positional-encoding"),
        Source("reference.positional", "apply_rotary", "rotary-position-embedding"),
    ),
    cost=cost_positional,
    cost_drivers=("length", "d_model"),
)
