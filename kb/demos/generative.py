"""Demos of generative models, each trained with the reference MLP and Adam: a GAN on a ring of
Gaussians, a small diffusion model learning a 2-D shape, and a VAE's 2-D latent space of digits."""

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from kb.demos import datasets
from kb.demos.base import Demo, DemoOutput, DemoParams, Source, finite_or_nan, param
from reference import generative, optim
from reference.mlp import MLP

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]

RING_RADIUS = 2.0
SHOWN_SAMPLES = 500


def _adam(model: MLP, lr: float) -> optim.Adam:
    # beta1 = 0.5, as DCGAN (Radford et al., 2016) and most GAN code: less momentum to overshoot
    # the moving target the other network is.
    return optim.Adam(model.params, lr=lr, betas=(0.5, 0.999))


def _scatter(ax: "Axes", points: Any, label: str, size: float = 4.0, alpha: float = 0.5) -> None:
    xy = finite_or_nan(points)
    if xy.size:
        ax.scatter(xy[:, 0], xy[:, 1], s=size, alpha=alpha, label=label)


# --- GAN on a ring of Gaussians -----------------------------------------------------------------


class GANParams(DemoParams):
    modes: int = param(6, "Gaussians evenly spaced on a circle of radius 2.", ge=1, le=12)
    mode_std: float = param(0.1, "Standard deviation of each Gaussian.", gt=0.0, le=1.0)
    steps: int = param(400, "Training steps (one discriminator and one generator update each).",
                       unit="steps", ge=1, le=20_000)  # fmt: skip
    batch_size: int = param(64, "Real and generated points per step.", unit="samples",
                            ge=1, le=1_024)  # fmt: skip
    hidden: int = param(24, "Units in each of the two hidden layers of both networks.",
                        unit="units", ge=2, le=128)  # fmt: skip
    latent_dim: int = param(2, "Dimension of the generator's Gaussian noise z.", ge=1, le=16)
    lr: float = param(5e-3, "Adam learning rate of both networks.", unit="per step",
                      gt=0.0, le=0.1)  # fmt: skip
    non_saturating: bool = param(
        True, "Generator minimises -log D(G(z)) (non-saturating); else log(1 - D(G(z))) (minimax)."
    )


def _ring(modes: int) -> FloatArray:
    angles = 2 * np.pi * np.arange(modes) / modes
    out: FloatArray = RING_RADIUS * np.column_stack([np.cos(angles), np.sin(angles)])
    return out


def _ring_sample(p: GANParams, n: int, rng: np.random.Generator) -> FloatArray:
    centres = _ring(p.modes)
    out: FloatArray = centres[rng.integers(0, p.modes, n)] + rng.normal(0.0, p.mode_std, (n, 2))
    return out


def run_gan(p: GANParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    generator = MLP([p.latent_dim, p.hidden, p.hidden, 2], "relu", seed=p.seed)
    discriminator = MLP([2, p.hidden, p.hidden, 1], "relu", seed=p.seed + 1)
    opt_g, opt_d = _adam(generator, p.lr), _adam(discriminator, p.lr)
    d_losses, g_losses = np.empty(p.steps), np.empty(p.steps)
    with np.errstate(all="ignore"):
        for step in range(p.steps):
            real = _ring_sample(p, p.batch_size, rng)
            z = rng.normal(size=(p.batch_size, p.latent_dim))
            fake = generator(z)
            real_logits, fake_logits = discriminator(real)[:, 0], discriminator(fake)[:, 0]
            d_losses[step] = generative.gan_discriminator_loss(real_logits, fake_logits)
            grad_real, grad_fake = generative.gan_discriminator_loss_backward(
                real_logits, fake_logits
            )
            _, grads_real = discriminator.backward(real, grad_real[:, None])
            _, grads_fake = discriminator.backward(fake, grad_fake[:, None])
            opt_d.step([a + b for a, b in zip(grads_real, grads_fake, strict=True)])
            fake_logits = discriminator(fake)[:, 0]
            g_losses[step] = generative.gan_generator_loss(fake_logits, p.non_saturating)
            grad = generative.gan_generator_loss_backward(fake_logits, p.non_saturating)
            grad_fake_points, _ = discriminator.backward(fake, grad[:, None])
            _, grads_g = generator.backward(z, grad_fake_points)
            opt_g.step(grads_g)
        samples = generator(rng.normal(size=(SHOWN_SAMPLES, p.latent_dim)))
    centres = _ring(p.modes)
    distances = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=2)
    close = np.nan_to_num(distances.min(axis=1), nan=np.inf) < 3 * p.mode_std
    hits = np.bincount(np.argmin(np.nan_to_num(distances, nan=np.inf), axis=1)[close],
                       minlength=p.modes)  # fmt: skip
    # A mode counts as covered when it gets at least a fifth of its fair share of samples.
    covered = int(np.sum(hits >= 0.2 * SHOWN_SAMPLES / p.modes))
    out = DemoOutput(
        metrics={
            "modes": p.modes,
            "modes_covered": covered,
            "samples_near_a_mode": float(close.mean()),
            "discriminator_loss": float(d_losses[-1]),
            "generator_loss": float(g_losses[-1]),
            "discriminator_loss_at_equilibrium": 2 * math.log(2),
        },
        series={
            "discriminator_loss": d_losses,
            "generator_loss": g_losses,
            "samples": samples,
            "real": _ring_sample(p, SHOWN_SAMPLES, np.random.default_rng([p.seed, 1])),
        },
    )
    return out


def cost_gan(p: GANParams) -> float:
    per_step = 1.5e-3 + 4e-9 * p.batch_size * p.hidden**2
    return 0.01 + p.steps * per_step


def plot_gan(p: GANParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(2)
    ax = plots.axes(
        fig, 1, 2, 1,
        f"Samples: {out.metrics['modes_covered']} of {p.modes} modes covered",
    )  # fmt: skip
    _scatter(ax, out.series["real"], "data")
    _scatter(ax, out.series["samples"], "generator")
    centres = _ring(p.modes)
    ax.scatter(centres[:, 0], centres[:, 1], marker="x", color="k", s=30, label="mode centres")
    ax.set_xlim(-3.5, 3.5)
    ax.set_ylim(-3.5, 3.5)
    ax.set_aspect("equal")
    plots.legend(ax)
    ax2 = plots.axes(fig, 1, 2, 2, "Losses (the equilibrium: D = 1/2 everywhere)")
    plots.curve(ax2, out.series["discriminator_loss"], "discriminator")
    plots.curve(ax2, out.series["generator_loss"], "generator")
    ax2.axhline(2 * math.log(2), color="k", linestyle="--", linewidth=1, label="2 log 2")
    ax2.set_xlabel("step")
    plots.legend(ax2)
    return fig


GAN = Demo(
    slug="generative-adversarial-network",
    title="A GAN learns a ring of Gaussians",
    terms=("generative-adversarial-network", "mode-collapse"),
    description=(
        "Trains a generator (2-D noise to a 2-D point) against a discriminator, both small "
        "ReLU MLPs trained with Adam, on a mixture of Gaussians evenly spaced on a circle. "
        "The generator is scored by how many of the modes its samples reach: with too few "
        "steps, too small a batch or a learning rate that is too large, the samples pile onto "
        "some modes and miss the rest (mode collapse). At the game's equilibrium the "
        "discriminator outputs 1/2 everywhere and its loss is 2 log 2."
    ),
    params=GANParams,
    run=run_gan,
    plot=plot_gan,
    sources=(
        Source(
            "reference.generative",
            "gan_discriminator_loss_backward",
            "generative-adversarial-network",
        ),
        Source(
            "reference.generative", "gan_generator_loss_backward", "generative-adversarial-network"
        ),
        Source("reference.mlp", "MLP.backward", "backpropagation"),
        Source("reference.optim", "Adam", "adam-optimizer"),
    ),
    cost=cost_gan,
    cost_drivers=("steps", "batch_size", "hidden"),
)


# --- a diffusion model on a 2-D shape -----------------------------------------------------------

Shape = Literal["moons", "circles", "spirals"]
CHAIN_SNAPSHOTS = 5
TIME_FEATURES = 8


class DiffusionParams(DemoParams):
    shape: Shape = param("moons", "The 2-D data set the model learns.")
    n_samples: int = param(1_000, "Training points.", unit="samples", ge=10, le=10_000)
    T: int = param(40, "Diffusion steps.", unit="steps", ge=2, le=1_000)
    beta_end: float = param(
        0.2, "Last noise variance of the linear schedule (the first is 1e-3): with few steps it "
        "must be large for x_T to be nearly pure noise.", gt=1e-3, lt=1.0,
    )  # fmt: skip
    steps: int = param(800, "Training steps.", unit="steps", ge=1, le=50_000)
    batch_size: int = param(64, "Points per training step.", unit="samples", ge=1, le=2_048)
    hidden: int = param(32, "Units in each of the two hidden layers.", unit="units",
                        ge=2, le=256)  # fmt: skip
    lr: float = param(5e-3, "Adam learning rate.", unit="per step", gt=0.0, le=0.1)
    n_generated: int = param(300, "Points generated by the reverse chain.", unit="samples",
                             ge=1, le=2_000)  # fmt: skip


def _time_features(t: NDArray[np.integer[Any]], steps: int) -> FloatArray:
    """Sinusoidal features of t / T (as the transformer's positional encoding, at 4 scales)."""
    frequencies = np.pi * 2.0 ** np.arange(TIME_FEATURES // 2)
    phase = (t / steps)[:, None] * frequencies
    out: FloatArray = np.concatenate([np.sin(phase), np.cos(phase)], axis=1)
    return out


def _denoiser_input(x: FloatArray, t: NDArray[np.integer[Any]], steps: int) -> FloatArray:
    out: FloatArray = np.concatenate([x, _time_features(t, steps)], axis=1)
    return out


def _scaled_shape(p: DiffusionParams, rng: np.random.Generator) -> FloatArray:
    x, _ = datasets.classification_2d(p.shape, p.n_samples, 0.05, rng)
    out: FloatArray = (x - x.mean(axis=0)) / x.std()
    return out


def _nearest_distance(points: FloatArray, data: FloatArray) -> float:
    """Mean distance from each point to its nearest data point."""
    d2 = np.sum((points[:, None, :] - data[None, :, :]) ** 2, axis=2)
    return float(np.mean(np.sqrt(np.min(d2, axis=1))))


def run_diffusion(p: DiffusionParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    data = _scaled_shape(p, rng)
    schedule = generative.ddpm_schedule(p.T, 1e-3, p.beta_end)
    net = MLP([2 + TIME_FEATURES, p.hidden, p.hidden, 2], "relu", seed=p.seed)
    opt = optim.Adam(net.params, lr=p.lr)
    losses = np.empty(p.steps)
    with np.errstate(all="ignore"):
        for step in range(p.steps):
            x0 = data[rng.integers(0, data.shape[0], p.batch_size)]
            t = rng.integers(0, p.T, p.batch_size)
            noise = rng.normal(size=x0.shape)
            inputs = _denoiser_input(generative.q_sample(x0, t, noise, schedule), t, p.T)
            error = net(inputs) - noise
            losses[step] = float(np.mean(error**2))
            _, grads = net.backward(inputs, 2 * error / error.size)
            opt.step(grads)
        x: FloatArray = rng.normal(size=(p.n_generated, 2))
        start = x
        snapshots = {p.T: x}
        marks = set(np.linspace(0, p.T, CHAIN_SNAPSHOTS).round().astype(int).tolist())
        for step_t in range(p.T - 1, -1, -1):
            t = np.full(p.n_generated, step_t)
            eps = net(_denoiser_input(x, t, p.T))
            x = generative.p_sample_step(eps, x, t, schedule, rng.normal(size=x.shape))
            if step_t in marks:
                snapshots[step_t] = x
    shown = data[:SHOWN_SAMPLES]
    out = DemoOutput(
        metrics={
            "final_loss": float(np.mean(losses[-max(1, p.steps // 10) :])),
            "generated_to_data_distance": _nearest_distance(x[:SHOWN_SAMPLES], shown),
            "noise_to_data_distance": _nearest_distance(start[:SHOWN_SAMPLES], shown),
            "alphas_cumprod_at_T": float(schedule["alphas_cumprod"][-1]),
        },
        series={"loss": losses, "data": shown},
    )
    for t_mark, points in sorted(snapshots.items(), reverse=True):
        out.series[f"chain/t={t_mark}"] = points[:SHOWN_SAMPLES]
    return out


def cost_diffusion(p: DiffusionParams) -> float:
    train = p.steps * (6e-4 + 4e-9 * p.batch_size * p.hidden**2)
    sample = p.T * (5e-5 + 2e-9 * p.n_generated * p.hidden**2)
    nearest = 2e-8 * min(p.n_generated, SHOWN_SAMPLES) * min(p.n_samples, SHOWN_SAMPLES) * 2
    return 0.01 + train + sample + nearest + 1e-6 * p.n_samples


def plot_diffusion(p: DiffusionParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    chain = [name for name in out.series if name.startswith("chain/")]
    fig = plots.figure(len(chain) + 1, width=2.8, height=3.0)
    for i, name in enumerate(chain, start=1):
        ax = plots.axes(fig, 1, len(chain) + 1, i, name.removeprefix("chain/"))
        _scatter(ax, out.series["data"], "data", size=2, alpha=0.15)
        _scatter(ax, out.series[name], "samples", size=3)
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_aspect("equal")
    ax = plots.axes(fig, 1, len(chain) + 1, len(chain) + 1, "Training loss")
    plots.curve(ax, out.series["loss"], "mean squared noise error")
    ax.set_xlabel("step")
    return fig


DIFFUSION = Demo(
    slug="diffusion-model",
    title="A diffusion model learns a 2-D shape",
    terms=("diffusion-model",),
    description=(
        "Trains a small ReLU MLP to predict the noise added to points of a 2-D shape at a "
        "random step t of the forward process q(x_t | x_0) (Ho et al., 2020, with the step fed "
        "as sinusoidal features), then runs the reverse chain from Gaussian noise: the panels "
        "show the samples at five steps from t = T down to 0, and the loss. The metrics compare "
        "the mean distance from generated points to the nearest data point with that of the "
        "starting noise."
    ),
    params=DiffusionParams,
    run=run_diffusion,
    plot=plot_diffusion,
    sources=(
        Source("reference.generative", "q_sample", "diffusion-model"),
        Source("reference.generative", "p_sample_step", "diffusion-model"),
        Source("reference.generative", "ddpm_schedule", "diffusion-model"),
        Source("reference.mlp", "MLP.backward", "backpropagation"),
    ),
    cost=cost_diffusion,
    cost_drivers=("steps", "T", "batch_size", "hidden", "n_generated", "n_samples"),
)


# --- a VAE's latent space of digits -------------------------------------------------------------

LATENT = 2
GRID_SIDE = 8


class VAEParams(DemoParams):
    n_samples: int = param(1_000, "Digit images (8 x 8) to train on.", unit="samples",
                           ge=10, le=5_000)  # fmt: skip
    epochs: int = param(20, "Passes over the images.", unit="epochs", ge=1, le=1_000)
    batch_size: int = param(64, "Images per step.", unit="samples", ge=1, le=1_024)
    hidden: int = param(64, "Hidden units of the encoder and of the decoder.", unit="units",
                        ge=2, le=256)  # fmt: skip
    beta: float = param(1.0, "Weight of the KL term (beta-VAE; 1 is the ELBO).", ge=0.0, le=10.0)
    lr: float = param(3e-3, "Adam learning rate.", unit="per step", gt=0.0, le=0.1)


def run_vae(p: VAEParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    x, labels = datasets.digits(p.n_samples, 0.05, rng)
    encoder = MLP([64, p.hidden, 2 * LATENT], "relu", seed=p.seed)
    decoder = MLP([LATENT, p.hidden, 64], "relu", seed=p.seed + 1)
    opt_e, opt_d = optim.Adam(encoder.params, lr=p.lr), optim.Adam(decoder.params, lr=p.lr)
    history = []
    with np.errstate(all="ignore"):
        for _ in range(p.epochs):
            order = rng.permutation(p.n_samples)
            total = 0.0
            for start in range(0, p.n_samples, p.batch_size):
                xb = x[order[start : start + p.batch_size]]
                code = encoder(xb)
                mu, logvar = code[:, :LATENT], code[:, LATENT:]
                eps = rng.normal(size=mu.shape)
                z = generative.reparameterize(mu, logvar, eps)
                logits = decoder(z)
                total += generative.vae_loss(xb, logits, mu, logvar, p.beta) * xb.shape[0]
                g_logits, g_mu, g_logvar = generative.vae_loss_backward(
                    xb, logits, mu, logvar, p.beta
                )
                g_z, grads_d = decoder.backward(z, g_logits)
                # Through z = mu + exp(logvar / 2) eps.
                g_code = np.concatenate(
                    [g_mu + g_z, g_logvar + g_z * eps * 0.5 * np.exp(logvar / 2)], axis=1
                )
                _, grads_e = encoder.backward(xb, g_code)
                opt_d.step(grads_d)
                opt_e.step(grads_e)
            history.append(total / p.n_samples)
        code = encoder(x)
        mu, logvar = code[:, :LATENT], code[:, LATENT:]
        logits = decoder(mu)
        reconstruction = generative.vae_loss(x, logits, mu, logvar, 0.0)
        kl = generative.vae_loss(x, logits, mu, logvar, 1.0) - reconstruction
        axis = np.linspace(-2.0, 2.0, GRID_SIDE)
        grid = np.array([[a, b] for b in axis[::-1] for a in axis])
        decoded = 1 / (1 + np.exp(-decoder(grid)))
    out = DemoOutput(
        metrics={
            "negative_elbo": float(history[-1]),
            "reconstruction": float(reconstruction),
            "kl": float(kl),
        },
        series={"loss": np.column_stack([np.arange(1, p.epochs + 1), history])},
        extras={"decoded": decoded},
    )
    for digit in range(10):
        if np.any(labels == digit):
            out.series[f"latent/{digit}"] = mu[labels == digit][:50]
    return out


def cost_vae(p: VAEParams) -> float:
    steps = p.epochs * math.ceil(p.n_samples / p.batch_size)
    per_step = 1.2e-3 + 2e-9 * min(p.batch_size, p.n_samples) * 64 * p.hidden
    return 0.02 + steps * per_step + 2e-8 * p.n_samples * 64 * p.hidden


def plot_vae(p: VAEParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(2)
    ax = plots.axes(fig, 1, 2, 1, "Encoder means of the digits (2-D latent space)")
    for digit in range(10):
        points = finite_or_nan(out.series.get(f"latent/{digit}", np.empty((0, 2))))
        if points.size:
            ax.scatter(points[:, 0], points[:, 1], s=6, label=str(digit))
    ax.legend(ncol=2, fontsize=7, markerscale=2)
    ax.set_position((0.06, 0.12, 0.4, 0.76))
    fig.text(0.75, 0.92, "Decoder output on a grid of z in [-2, 2]^2", ha="center")
    grid = fig.add_gridspec(GRID_SIDE, GRID_SIDE, left=0.55, right=0.95, bottom=0.05,
                            top=0.88, wspace=0.05, hspace=0.05)  # fmt: skip
    decoded = out.extras["decoded"]
    for i in range(GRID_SIDE * GRID_SIDE):
        cell = fig.add_subplot(grid[i // GRID_SIDE, i % GRID_SIDE])
        plots.image(cell, np.reshape(decoded[i], (8, 8)))
    return fig


VAE = Demo(
    slug="variational-autoencoder",
    title="A variational autoencoder's 2-D latent space of digits",
    terms=("variational-autoencoder",),
    description=(
        "Trains a VAE with a 2-D latent space on 8 x 8 digit images: an MLP encoder gives the "
        "mean and log-variance of q(z | x), z is drawn by the reparameterisation trick, and an "
        "MLP decoder gives Bernoulli logits; the loss is the negative ELBO (beta times the KL "
        "term for a beta-VAE). The left panel places each image at its encoder mean, coloured "
        "by digit (the digits here are drawn at random offsets, and position is as much of "
        "what a 2-D code keeps as identity); the right decodes a grid of latent points: "
        "neighbouring codes decode to similar images, since the KL term packs the codes "
        "around the origin without gaps."
    ),
    params=VAEParams,
    run=run_vae,
    plot=plot_vae,
    sources=(
        Source("reference.generative", "vae_loss_backward", "variational-autoencoder"),
        Source("reference.generative", "reparameterize", "variational-autoencoder"),
        Source("reference.mlp", "MLP.backward", "backpropagation"),
        Source("reference.optim", "Adam", "adam-optimizer"),
    ),
    cost=cost_vae,
    cost_drivers=("epochs", "n_samples", "hidden", "batch_size"),
)
