"""Demos of unsupervised models: an autoencoder against PCA, and a restricted Boltzmann
machine on bars and stripes."""

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import model_validator

from kb.demos import datasets
from kb.demos.base import Demo, DemoOutput, DemoParams, Source, finite_or_nan, param
from reference import autoencoder, rbm
from reference.decomposition import PCA

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]

# --- autoencoder against PCA -------------------------------------------------------------------

AutoencoderData = Literal["digits", "low-rank"]
SHOWN_IMAGES = 6


class AutoencoderParams(DemoParams):
    dataset: AutoencoderData = param(
        "digits",
        "digits: 8 x 8 digit images (64 features, like scikit-learn's load_digits); low-rank: "
        "points near a random low-dimensional subspace plus noise.",
    )
    n_samples: int = param(500, "Rows (a fifth held out).", unit="samples", ge=20, le=3_000)
    n_features: int = param(
        32, "low-rank: features (digits always have 64).", unit="features", ge=2, le=128
    )
    rank: int = param(4, "low-rank: dimension of the subspace.", unit="dimensions", ge=1, le=32)
    noise: float = param(0.05, "Std of the Gaussian noise on the data.", ge=0.0, le=1.0)
    code_size: int = param(
        8, "k: the code size of the autoencoder and the number of principal components.",
        unit="dimensions", ge=1, le=64,
    )  # fmt: skip
    activation: Literal["linear", "sigmoid", "tanh", "relu"] = param(
        "linear", "Encoder non-linearity (the decoder is linear)."
    )
    tied_weights: bool = param(False, "Decoder weights are the encoder's transpose.")
    corruption: float = param(
        0.0,
        "Masking noise: the fraction of inputs zeroed during training (a denoising "
        "autoencoder when above 0).",
        ge=0.0,
        lt=1.0,
    )
    epochs: int = param(40, "Training passes.", unit="epochs", ge=1, le=1_000)
    batch_size: int = param(32, "Rows per update.", unit="samples", ge=1, le=3_000)
    lr: float = param(0.01, "Adam learning rate.", unit="per step", gt=0.0, le=1.0)

    @property
    def features(self) -> int:
        return 64 if self.dataset == "digits" else self.n_features

    @model_validator(mode="after")
    def _fits(self) -> "AutoencoderParams":
        if self.code_size > self.features:
            raise ValueError(f"code_size must not exceed the {self.features} features")
        if self.dataset == "low-rank" and self.rank > self.n_features:
            raise ValueError("rank must not exceed n_features")
        return self


def _mse(a: FloatArray, b: FloatArray) -> float:
    return float(np.mean((a - b) ** 2))


def _principal_angle(a: FloatArray, b: FloatArray) -> float:
    """The largest principal angle in degrees between the row spaces of ``a`` and ``b``."""
    qa = np.linalg.qr(a.T)[0]
    qb = np.linalg.qr(b.T)[0]
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return float(np.degrees(np.arccos(np.clip(cosines.min(), -1.0, 1.0))))


def run_autoencoder(p: AutoencoderParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    if p.dataset == "digits":
        x, _ = datasets.digits(p.n_samples, p.noise, rng)
    else:
        x = datasets.low_rank(p.n_samples, p.n_features, p.rank, p.noise, rng)
    cut = max(1, (4 * p.n_samples) // 5)
    train, test = x[:cut], x[cut:]
    corrupt_rng = np.random.default_rng([p.seed, 3])
    test_input = test * (corrupt_rng.random(test.shape) >= p.corruption) if p.corruption else test
    model = autoencoder.Autoencoder(p.features, p.code_size, p.activation, p.tied_weights, p.seed)
    with np.errstate(all="ignore"):
        history = model.fit(
            train, epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, noise=p.corruption,
            seed=p.seed,
        )  # fmt: skip
        # k components, or all there are when the training rows are fewer
        baseline = PCA(n_components=min(p.code_size, *train.shape)).fit(train)
        components = baseline.components_
        assert components is not None

        def pca_reconstruct(data: FloatArray) -> FloatArray:
            return baseline.inverse_transform(baseline.transform(data))

        ae_test = model.reconstruct(test_input)
        pca_test = pca_reconstruct(test_input)
        out = DemoOutput(
            metrics={
                "autoencoder.train_mse": _mse(model.reconstruct(train), train),
                "pca.train_mse": _mse(pca_reconstruct(train), train),
                "autoencoder.test_mse": _mse(ae_test, test) if test.size else None,
                "pca.test_mse": _mse(pca_test, test) if test.size else None,
                "data.variance": float(np.mean(train.var(axis=0))),
            }
        )
        ae, pca = out.metrics["autoencoder.train_mse"], out.metrics["pca.train_mse"]
        assert isinstance(ae, float) and isinstance(pca, float)
        out.metrics["autoencoder_over_pca"] = ae / pca if pca > 0 else None
        if np.all(np.isfinite(model.W_dec)):
            out.metrics["subspace_angle_degrees"] = _principal_angle(model.W_dec, components)
        out.series["loss"] = np.column_stack([np.arange(1, len(history) + 1), history])
        shown = min(SHOWN_IMAGES, test.shape[0])
        for i in range(shown):
            out.series[f"input/{i}"] = test_input[i]
            out.series[f"autoencoder/{i}"] = ae_test[i]
            out.series[f"pca/{i}"] = pca_test[i]
        out.extras["pca_mse"] = pca
        out.extras["shown"] = shown
    return out


def cost_autoencoder(p: AutoencoderParams) -> float:
    steps = p.epochs * math.ceil(p.n_samples * 0.8 / p.batch_size)
    per_step = 110e-6 + 6e-9 * min(p.batch_size, p.n_samples) * p.features * p.code_size
    return 0.01 + steps * per_step + 1e-8 * p.n_samples * p.features**2


def plot_autoencoder(p: AutoencoderParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    shown = int(out.extras["shown"])
    image = p.dataset == "digits" and shown > 0
    fig = plots.figure(2)
    ax = plots.axes(fig, 1, 2, 1, f"Reconstruction error, k = {p.code_size}")
    plots.curve(ax, out.series["loss"], "autoencoder (training loss)")
    ax.axhline(float(out.extras["pca_mse"]), color="k", linestyle="--", linewidth=1,
               label=f"PCA, {p.code_size} components")  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean squared error")
    plots.log_scale_if_positive(ax, [out.series["loss"]])
    plots.legend(ax)
    if not image:
        ax2 = plots.axes(fig, 1, 2, 2, "Held-out row: input and reconstructions")
        for name in ("input", "autoencoder", "pca"):
            if f"{name}/0" in out.series:
                plots.curve(ax2, out.series[f"{name}/0"], name)
        ax2.set_xlabel("feature")
        plots.legend(ax2)
        return fig
    ax.set_position((0.08, 0.15, 0.38, 0.73))
    grid = fig.add_gridspec(3, shown, left=0.55, right=0.98, bottom=0.1, top=0.88, wspace=0.05,
                            hspace=0.1)  # fmt: skip
    for row, name in enumerate(("input", "autoencoder", "pca")):
        for col in range(shown):
            pixels = finite_or_nan(out.series[f"{name}/{col}"]).reshape(8, 8)
            plots.image(fig.add_subplot(grid[row, col]), pixels, name if col == 0 else None)
    return fig


AUTOENCODER = Demo(
    slug="autoencoder",
    title="An autoencoder against PCA with the same code size",
    terms=("autoencoder", "denoising-autoencoder", "principal-component-analysis"),
    description=(
        "Compresses generated data (8 x 8 digit images, or points near a low-dimensional "
        "subspace) to k numbers with a one-hidden-layer autoencoder and with PCA keeping k "
        "components, and compares their reconstruction errors on training and held-out rows. "
        "With a linear decoder the autoencoder cannot beat PCA (Baldi and Hornik, 1989): "
        "trained well it reaches it and spans the same subspace (the principal angle goes to "
        "0). A corruption above 0 trains a denoising autoencoder; its held-out inputs are "
        "then corrupted too and compared with the clean rows."
    ),
    params=AutoencoderParams,
    run=run_autoencoder,
    plot=plot_autoencoder,
    sources=(
        Source("reference.autoencoder", "Autoencoder", "autoencoder"),
        Source("reference.decomposition", "PCA", "principal-component-analysis"),
        Source("reference.optim", "Adam", "adam-optimizer"),
    ),
    cost=cost_autoencoder,
    cost_drivers=("epochs", "n_samples", "code_size", "n_features"),
    featured=("dataset", "code_size", "activation", "corruption"),
)


# --- restricted Boltzmann machine --------------------------------------------------------------


class RBMParams(DemoParams):
    side: int = param(
        3, "Bars and stripes on a side x side grid: 2^(side+1) - 2 patterns.", unit="pixels",
        ge=2, le=4,
    )  # fmt: skip
    n_hidden: int = param(8, "Hidden units.", unit="units", ge=1, le=16)
    method: Literal["cd", "pcd"] = param(
        "cd", "cd: contrastive divergence (chains start at the data); pcd: persistent chains."
    )
    k: int = param(1, "Gibbs steps per update.", unit="steps", ge=1, le=25)
    epochs: int = param(200, "Passes over the training set.", unit="epochs", ge=1, le=5_000)
    batch_size: int = param(10, "Rows per update.", unit="samples", ge=1, le=200)
    lr: float = param(0.5, "Learning rate.", unit="per step", gt=0.0, le=5.0)
    repeats: int = param(
        4, "Copies of every pattern in the training set.", unit="copies", ge=1, le=50
    )
    n_samples: int = param(12, "Samples drawn from the trained model.", unit="samples",
                           ge=1, le=64)  # fmt: skip
    sample_steps: int = param(200, "Gibbs steps per sample, from noise.", unit="steps",
                              ge=1, le=5_000)  # fmt: skip
    eval_every: int = param(
        1, "Epochs between exact log-likelihood evaluations (raise it for large models: each "
        "sums over 2^min(side^2, n_hidden) states).", unit="epochs", ge=1, le=5_000,
    )  # fmt: skip


def run_rbm(p: RBMParams) -> DemoOutput:
    patterns = datasets.bars_and_stripes(p.side)
    data = np.tile(patterns, (p.repeats, 1))
    model = rbm.BernoulliRBM(p.side * p.side, p.n_hidden, seed=p.seed)
    optimum = -math.log(patterns.shape[0])
    evaluated, likelihood = [0], [model.log_likelihood(patterns)]
    with np.errstate(all="ignore"):
        for epoch in range(1, p.epochs + 1):
            order = model.rng.permutation(data.shape[0])
            for start in range(0, data.shape[0], p.batch_size):
                model.cd_update(
                    data[order[start : start + p.batch_size]], p.lr, p.k, p.method == "pcd"
                )
            if epoch % p.eval_every == 0 or epoch == p.epochs:
                evaluated.append(epoch)
                likelihood.append(model.log_likelihood(patterns))
                if not math.isfinite(likelihood[-1]):
                    break
        start_states = (model.rng.random((p.n_samples, p.side * p.side)) < 0.5).astype(float)
        samples = model.gibbs(start_states, p.sample_steps)
    valid = datasets.is_pattern(samples, patterns)
    out = DemoOutput(
        metrics={
            "log_likelihood": likelihood[-1],
            "log_likelihood_optimum": optimum,
            "kl_divergence": optimum - likelihood[-1],
            "pseudo_log_likelihood": model.pseudo_likelihood(patterns),
            "patterns": patterns.shape[0],
            "valid_sample_fraction": float(valid.mean()),
        }
    )
    out.series["log_likelihood"] = np.column_stack([evaluated, likelihood])
    for i, sample in enumerate(samples):
        out.series[f"sample/{i}"] = sample
    out.extras["valid"] = valid
    return out


def cost_rbm(p: RBMParams) -> float:
    visible = p.side * p.side
    rows = ((1 << (p.side + 1)) - 2) * p.repeats
    updates = p.epochs * math.ceil(rows / p.batch_size)
    per_update = 30e-6 + 25e-6 * p.k
    states = 1 << min(visible, p.n_hidden)
    likelihood = 250e-6 + 1.6e-7 * states * max(visible, p.n_hidden)
    evaluations = p.epochs // p.eval_every + 2
    sampling = p.sample_steps * (25e-6 + 1e-9 * p.n_samples * visible * p.n_hidden)
    return 0.005 + updates * per_update + evaluations * likelihood + sampling


def plot_rbm(p: RBMParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(2)
    ax = plots.axes(fig, 1, 2, 1, f"Exact log-likelihood per pattern ({p.method.upper()}-{p.k})")
    plots.curve(ax, out.series["log_likelihood"], "log-likelihood")
    ax.axhline(float(out.metrics["log_likelihood_optimum"] or 0.0), color="k", linestyle="--",
               linewidth=1, label="optimum: -log(#patterns)")  # fmt: skip
    ax.set_xlabel("epoch")
    plots.legend(ax)
    n = p.n_samples
    columns = min(n, 8)
    rows = math.ceil(n / columns)
    ax.set_position((0.08, 0.15, 0.4, 0.73))
    grid = fig.add_gridspec(rows, columns, left=0.58, right=0.98, top=0.85, bottom=0.1)
    fig.text(0.78, 0.92, "Samples (red: not a valid pattern)", ha="center")
    valid = out.extras["valid"]
    for i in range(n):
        cell = fig.add_subplot(grid[i // columns, i % columns])
        plots.image(cell, np.reshape(out.series[f"sample/{i}"], (p.side, p.side)))
        if not valid[i]:
            for spine in cell.spines.values():
                spine.set_color("red")
                spine.set_linewidth(2)
    return fig


RBM = Demo(
    slug="restricted-boltzmann-machine",
    title="A restricted Boltzmann machine learns bars and stripes",
    terms=("restricted-boltzmann-machine", "boltzmann-machine", "contrastive-divergence"),
    description=(
        "Trains a Bernoulli RBM with CD-k or persistent CD on every bars-and-stripes pattern "
        "of a small grid. The models are small enough to compute the partition function "
        "exactly, so the log-likelihood per epoch is exact (the best possible is "
        "-log(#patterns)); then draws samples by Gibbs sampling from random states and counts "
        "how many are valid patterns."
    ),
    params=RBMParams,
    run=run_rbm,
    plot=plot_rbm,
    sources=(
        Source("reference.rbm", "BernoulliRBM.cd_update", "contrastive-divergence"),
        Source("reference.rbm", "BernoulliRBM.gibbs", "gibbs-sampling"),
        Source("reference.rbm", "BernoulliRBM.free_energy", "restricted-boltzmann-machine"),
        Source("reference.rbm", "BernoulliRBM.log_partition", "boltzmann-machine"),
    ),
    cost=cost_rbm,
    cost_drivers=("epochs", "n_hidden", "k", "sample_steps", "repeats", "side"),
    featured=("method", "k", "n_hidden", "epochs"),
)
