"""Generative models: the VAE's negative ELBO, the GAN losses, DDPM's forward and reverse steps.

Papers:

* VAE: D. P. Kingma, M. Welling, 2014, "Auto-Encoding Variational Bayes", ICLR, arXiv:1312.6114.
* beta-VAE: I. Higgins et al., 2017, "beta-VAE: Learning Basic Visual Concepts with a Constrained
  Variational Framework", ICLR (no arXiv version).
* GAN: I. Goodfellow, J. Pouget-Abadie, M. Mirza, B. Xu, D. Warde-Farley, S. Ozair, A. Courville,
  Y. Bengio, 2014, "Generative Adversarial Nets", NeurIPS, arXiv:1406.2661.
* DDPM: J. Ho, A. Jain, P. Abbeel, 2020, "Denoising Diffusion Probabilistic Models", NeurIPS,
  arXiv:2006.11239.

Equations (sigma is the logistic sigmoid, softplus(z) = log(1 + e^z), N the batch size):

* Reparameterisation: z = mu + exp(log sigma^2 / 2) eps, eps ~ N(0, I).
* Negative ELBO of a Bernoulli decoder with logits l for data x in [0, 1], averaged over the batch:

      L = (1/N) sum_n [ sum_d (softplus(l_nd) - x_nd l_nd)
                        + beta (-1/2) sum_j (1 + log sigma^2_nj - mu_nj^2 - sigma^2_nj) ],

  dL/dl = (sigma(l) - x) / N,  dL/dmu = beta mu / N,  dL/dlog sigma^2 = beta (sigma^2 - 1) / (2 N).
* GAN, with D = sigma(logit): the discriminator minimises
  mean(-log D(x)) + mean(-log(1 - D(G(z)))) = mean(softplus(-real)) + mean(softplus(fake));
  the generator minimises mean(softplus(-fake)) = mean(-log D(G(z))) (non-saturating), or the
  minimax form mean(log(1 - D(G(z)))) = mean(-softplus(fake)).
  d softplus(z)/dz = sigma(z).
* DDPM, steps t = 0..T-1 (the paper's t = 1..T): beta_t linear from beta_start to beta_end,
  alpha_t = 1 - beta_t, bar alpha_t = prod_{s <= t} alpha_s, and bar alpha_{-1} = 1;
  q(x_t | x_0) = N(sqrt(bar alpha_t) x_0, (1 - bar alpha_t) I);
  q(x_{t-1} | x_t, x_0) = N(tilde mu_t, tilde beta_t I) (equation 7) with
  tilde mu_t = sqrt(bar alpha_{t-1}) beta_t / (1 - bar alpha_t) x_0
             + sqrt(alpha_t) (1 - bar alpha_{t-1}) / (1 - bar alpha_t) x_t,
  tilde beta_t = (1 - bar alpha_{t-1}) / (1 - bar alpha_t) beta_t;
  sampling (Algorithm 2): x_{t-1} = (x_t - beta_t / sqrt(1 - bar alpha_t) eps_theta) / sqrt(alpha_t)
  + sigma_t z, sigma_t^2 = beta_t, z = 0 at t = 0.

Every loss is evaluated with exponentials of non-positive arguments only, so logits of +-1000
give finite results without overflow, invalid-operation or division floating-point events.
Floating-point inputs keep their dtype (float32 or float64); integer inputs become float64.
"""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ddpm_schedule",
    "gan_discriminator_loss",
    "gan_discriminator_loss_backward",
    "gan_generator_loss",
    "gan_generator_loss_backward",
    "p_sample_step",
    "q_posterior",
    "q_sample",
    "reparameterize",
    "vae_loss",
    "vae_loss_backward",
]

FloatArray = NDArray[np.floating[Any]]
IntArray = NDArray[np.integer[Any]]


def _float(a: ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(a)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be a real array, got dtype {arr.dtype}")
    out: FloatArray = arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64)
    return out


def _same_shape(reference: FloatArray, ref_name: str, **arrays: FloatArray) -> None:
    for name, arr in arrays.items():
        if arr.shape != reference.shape:
            raise ValueError(
                f"{name} must have the shape of {ref_name} {reference.shape}, got {arr.shape}"
            )


def _batched(a: FloatArray, name: str) -> None:
    if a.ndim < 1 or a.shape[0] == 0:
        raise ValueError(f"{name} must have a non-empty first (batch) axis, got shape {a.shape}")


def _softplus(z: FloatArray) -> FloatArray:
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|)."""
    out: FloatArray = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
    return out


def _sigmoid(z: FloatArray) -> FloatArray:
    e = np.exp(-np.abs(z))
    out: FloatArray = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    return out


# --- VAE -----------------------------------------------------------------------------------------


def reparameterize(mu: ArrayLike, logvar: ArrayLike, eps: ArrayLike) -> FloatArray:
    """z = mu + exp(logvar / 2) eps."""
    m, lv, e = _float(mu, "mu"), _float(logvar, "logvar"), _float(eps, "eps")
    _same_shape(m, "mu", logvar=lv, eps=e)
    out: FloatArray = m + np.exp(lv / 2) * e
    return out


def _vae_inputs(
    x: ArrayLike, logits: ArrayLike, mu: ArrayLike, logvar: ArrayLike, beta: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    lg, m = _float(logits, "logits"), _float(mu, "mu")
    xs, lv = _float(x, "x").astype(lg.dtype, copy=False), _float(logvar, "logvar")
    _batched(lg, "logits")
    _batched(m, "mu")
    _same_shape(lg, "logits", x=xs)
    _same_shape(m, "mu", logvar=lv)
    if m.shape[0] != lg.shape[0]:
        raise ValueError(
            f"mu must have the batch size of logits ({lg.shape[0]}), got shape {m.shape}"
        )
    if not beta >= 0:
        raise ValueError(f"beta must be non-negative, got {beta}")
    return xs, lg, m, lv


def vae_loss(
    x: ArrayLike, logits: ArrayLike, mu: ArrayLike, logvar: ArrayLike, beta: float = 1.0
) -> float:
    """Negative ELBO: Bernoulli reconstruction (BCE with logits) + beta KL, averaged over rows."""
    xs, lg, m, lv = _vae_inputs(x, logits, mu, logvar, beta)
    n = lg.shape[0]
    reconstruction = float(np.sum(_softplus(lg) - xs * lg, dtype=np.float64))
    kl = -0.5 * float(np.sum(1 + lv - m * m - np.exp(lv), dtype=np.float64))
    return float((reconstruction + beta * kl) / n)


def vae_loss_backward(
    x: ArrayLike, logits: ArrayLike, mu: ArrayLike, logvar: ArrayLike, beta: float = 1.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(dL/dlogits, dL/dmu, dL/dlogvar) of :func:`vae_loss`."""
    xs, lg, m, lv = _vae_inputs(x, logits, mu, logvar, beta)
    n = lg.shape[0]
    grad_logits: FloatArray = (_sigmoid(lg) - xs) / n
    grad_mu: FloatArray = (beta / n) * m
    grad_logvar: FloatArray = (beta / (2 * n)) * (np.exp(lv) - 1)
    return (
        grad_logits.astype(lg.dtype, copy=False),
        grad_mu.astype(m.dtype, copy=False),
        grad_logvar.astype(lv.dtype, copy=False),
    )


# --- GAN -----------------------------------------------------------------------------------------


def _logits(a: ArrayLike, name: str) -> FloatArray:
    arr = _float(a, name)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    return arr


def gan_discriminator_loss(real_logits: ArrayLike, fake_logits: ArrayLike) -> float:
    """mean(softplus(-real_logits)) + mean(softplus(fake_logits)): BCE, targets 1 and 0."""
    real, fake = _logits(real_logits, "real_logits"), _logits(fake_logits, "fake_logits")
    return float(np.mean(_softplus(-real), dtype=np.float64)) + float(
        np.mean(_softplus(fake), dtype=np.float64)
    )


def gan_discriminator_loss_backward(
    real_logits: ArrayLike, fake_logits: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """(dL/dreal_logits, dL/dfake_logits) of :func:`gan_discriminator_loss`."""
    real, fake = _logits(real_logits, "real_logits"), _logits(fake_logits, "fake_logits")
    grad_real: FloatArray = -_sigmoid(-real) / real.size
    grad_fake: FloatArray = _sigmoid(fake) / fake.size
    return grad_real.astype(real.dtype, copy=False), grad_fake.astype(fake.dtype, copy=False)


def gan_generator_loss(fake_logits: ArrayLike, non_saturating: bool = True) -> float:
    """mean(softplus(-fake_logits)) (non-saturating), or mean(-softplus(fake_logits)) (minimax)."""
    fake = _logits(fake_logits, "fake_logits")
    if non_saturating:
        return float(np.mean(_softplus(-fake), dtype=np.float64))
    return -float(np.mean(_softplus(fake), dtype=np.float64))


def gan_generator_loss_backward(fake_logits: ArrayLike, non_saturating: bool = True) -> FloatArray:
    """dL/dfake_logits of :func:`gan_generator_loss`."""
    fake = _logits(fake_logits, "fake_logits")
    grad: FloatArray = (-_sigmoid(-fake) if non_saturating else -_sigmoid(fake)) / fake.size
    return grad.astype(fake.dtype, copy=False)


# --- DDPM ----------------------------------------------------------------------------------------


def ddpm_schedule(
    T: int, beta_start: float = 1e-4, beta_end: float = 0.02
) -> dict[str, FloatArray]:
    """Ho et al.'s linear schedule: ``betas``, ``alphas``, ``alphas_cumprod`` (float64, T each)."""
    if isinstance(T, bool) or not isinstance(T, int | np.integer) or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
    if not 0 < beta_start < 1:
        raise ValueError(f"beta_start must be in (0, 1), got {beta_start}")
    if not beta_start <= beta_end < 1:
        raise ValueError(f"beta_end must be in [beta_start, 1), got {beta_end}")
    betas = np.linspace(beta_start, beta_end, int(T), dtype=np.float64)
    alphas = 1.0 - betas
    return {"betas": betas, "alphas": alphas, "alphas_cumprod": np.cumprod(alphas)}


def _at(values: FloatArray, t: IntArray, like: FloatArray) -> FloatArray:
    """values[t], one per row of ``like``, shaped (N, 1, ..., 1) and in its dtype."""
    out: FloatArray = values[t].reshape((-1,) + (1,) * (like.ndim - 1)).astype(like.dtype)
    return out


def _steps(t: ArrayLike, x: FloatArray, schedule: dict[str, FloatArray]) -> IntArray:
    for key in ("betas", "alphas", "alphas_cumprod"):
        if key not in schedule:
            raise ValueError(f"schedule must hold {key!r} (see ddpm_schedule)")
    steps = np.asarray(t)
    if not np.issubdtype(steps.dtype, np.integer):
        raise ValueError(f"t must be an integer array, got dtype {steps.dtype}")
    if x.ndim < 1 or steps.shape != (x.shape[0],):
        raise ValueError(
            f"t must hold one step per row of x ({x.shape[0] if x.ndim else 0}), "
            f"got shape {steps.shape}"
        )
    length = schedule["betas"].shape[0]
    if steps.size and (steps.min() < 0 or steps.max() >= length):
        raise ValueError(
            f"t must lie in [0, {length - 1}], got values {steps.min()}..{steps.max()}"
        )
    out: IntArray = steps
    return out


def q_sample(
    x0: ArrayLike, t: ArrayLike, noise: ArrayLike, schedule: dict[str, FloatArray]
) -> FloatArray:
    """x_t = sqrt(bar alpha_t) x0 + sqrt(1 - bar alpha_t) noise, t one step per row."""
    x, eps = _float(x0, "x0"), _float(noise, "noise")
    _same_shape(x, "x0", noise=eps)
    steps = _steps(t, x, schedule)
    abar = _at(schedule["alphas_cumprod"], steps, x)
    out: FloatArray = np.sqrt(abar) * x + np.sqrt(1 - abar) * eps.astype(x.dtype, copy=False)
    return out


def q_posterior(
    x0: ArrayLike, x_t: ArrayLike, t: ArrayLike, schedule: dict[str, FloatArray]
) -> tuple[FloatArray, FloatArray]:
    """Mean (shape of x0) and variance (tilde beta_t, (N, 1, ..., 1)) of q(x_{t-1} | x_t, x0)."""
    x, xt = _float(x0, "x0"), _float(x_t, "x_t")
    _same_shape(x, "x0", x_t=xt)
    steps = _steps(t, x, schedule)
    abar = schedule["alphas_cumprod"]
    abar_prev_all = np.concatenate([[1.0], abar[:-1]])
    beta, alpha = _at(schedule["betas"], steps, x), _at(schedule["alphas"], steps, x)
    abar_t, abar_prev = _at(abar, steps, x), _at(abar_prev_all, steps, x)
    mean: FloatArray = (np.sqrt(abar_prev) * beta / (1 - abar_t)) * x + (
        np.sqrt(alpha) * (1 - abar_prev) / (1 - abar_t)
    ) * xt.astype(x.dtype, copy=False)
    # At t = 0 the coefficient of x0 is beta_0 / (1 - (1 - beta_0)): 1, but only up to rounding.
    mean = np.where((steps == 0).reshape(beta.shape), x, mean)
    variance: FloatArray = (1 - abar_prev) / (1 - abar_t) * beta
    return mean, variance


def p_sample_step(
    eps_pred: ArrayLike,
    x_t: ArrayLike,
    t: ArrayLike,
    schedule: dict[str, FloatArray],
    noise: ArrayLike,
) -> FloatArray:
    """x_{t-1} by Algorithm 2 with sigma_t^2 = beta_t; no noise is added where t = 0."""
    xt, eps, z = _float(x_t, "x_t"), _float(eps_pred, "eps_pred"), _float(noise, "noise")
    _same_shape(xt, "x_t", eps_pred=eps, noise=z)
    steps = _steps(t, xt, schedule)
    beta, alpha = _at(schedule["betas"], steps, xt), _at(schedule["alphas"], steps, xt)
    abar = _at(schedule["alphas_cumprod"], steps, xt)
    sigma = np.sqrt(beta) * (steps > 0).reshape(beta.shape)
    mean = (xt - beta / np.sqrt(1 - abar) * eps.astype(xt.dtype, copy=False)) / np.sqrt(alpha)
    out: FloatArray = mean + (sigma * z).astype(xt.dtype, copy=False)
    return out
