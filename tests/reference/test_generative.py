"""reference.generative against torch autograd (float64), finite differences and the closed forms
of Ho et al. (2020) computed independently (Bayes' rule for two Gaussians)."""

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _torch import (
    FloatArray,
    assert_close_to_torch,
    strict_errstate,
    to_numpy,
    to_torch,
)

from reference import generative as gen
from reference.gradcheck import max_relative_error, numerical_gradient

RTOL = 1e-12
FD_TOL = 1e-7


def _vae_case(seed: int, extreme: bool = False) -> tuple[FloatArray, ...]:
    rng = np.random.default_rng(seed)
    x = (rng.random((4, 6)) < 0.5).astype(np.float64)
    x[0, :2] = [0.3, 0.7]  # targets need not be binary
    logits = rng.normal(0, 3, (4, 6))
    if extreme:
        logits[:, :4] = [1000.0, -1000.0, 800.0, -745.0]
    mu, logvar = rng.normal(size=(4, 3)), rng.normal(0, 0.5, (4, 3))
    return x, logits, mu, logvar


def _torch_vae(x: FloatArray, logits: FloatArray, mu: FloatArray, logvar: FloatArray, beta: float):  # type: ignore[no-untyped-def]
    tl, tm, tv = (to_torch(a, requires_grad=True) for a in (logits, mu, logvar))
    n = logits.shape[0]
    rec = F.binary_cross_entropy_with_logits(tl, to_torch(x), reduction="sum")
    kl = -0.5 * torch.sum(1 + tv - tm**2 - tv.exp())
    loss = (rec + beta * kl) / n
    loss.backward()  # type: ignore[no-untyped-call]
    return float(loss.detach()), to_numpy(tl.grad), to_numpy(tm.grad), to_numpy(tv.grad)


@pytest.mark.parametrize("beta", [1.0, 0.0, 4.0])
@pytest.mark.parametrize("extreme", [False, True])
def test_vae_loss_and_backward_match_torch(beta: float, extreme: bool) -> None:
    x, logits, mu, logvar = _vae_case(1, extreme)
    loss_t, *grads_t = _torch_vae(x, logits, mu, logvar, beta)
    with strict_errstate():
        loss = gen.vae_loss(x, logits, mu, logvar, beta)
        grads = gen.vae_loss_backward(x, logits, mu, logvar, beta)
    assert abs(loss - loss_t) <= RTOL * max(1.0, abs(loss_t))
    for ours, theirs in zip(grads, grads_t, strict=True):
        assert_close_to_torch(ours, theirs, RTOL)


def test_vae_backward_matches_finite_differences() -> None:
    x, logits, mu, logvar = _vae_case(2)
    grads = gen.vae_loss_backward(x, logits, mu, logvar, 2.0)
    for i, param in enumerate((logits, mu, logvar)):
        numeric = numerical_gradient(lambda _p: gen.vae_loss(x, logits, mu, logvar, 2.0), param)
        assert max_relative_error(grads[i], numeric) < FD_TOL


def test_reparameterize_is_mu_plus_sigma_eps() -> None:
    mu, logvar, eps = np.array([1.0, -2.0]), np.log(np.array([4.0, 0.25])), np.array([0.5, 2.0])
    np.testing.assert_allclose(gen.reparameterize(mu, logvar, eps), [2.0, -1.0], rtol=1e-15)
    with pytest.raises(ValueError, match="eps must have the shape of mu"):
        gen.reparameterize(mu, logvar, np.zeros(3))


def _gan_case(seed: int) -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    real, fake = rng.normal(0, 3, 5), rng.normal(0, 3, (3, 2))
    real[:2], fake[0] = [1000.0, -1000.0], [-1000.0, 1000.0]
    return real, fake


def test_gan_discriminator_loss_matches_torch_bce() -> None:
    real, fake = _gan_case(3)
    tr, tf = to_torch(real, requires_grad=True), to_torch(fake, requires_grad=True)
    loss_t = F.binary_cross_entropy_with_logits(
        tr, torch.ones_like(tr)
    ) + F.binary_cross_entropy_with_logits(tf, torch.zeros_like(tf))
    loss_t.backward()  # type: ignore[no-untyped-call]
    with strict_errstate():
        loss = gen.gan_discriminator_loss(real, fake)
        grad_real, grad_fake = gen.gan_discriminator_loss_backward(real, fake)
    assert abs(loss - float(loss_t.detach())) <= RTOL * float(loss_t.detach())
    assert_close_to_torch(grad_real, to_numpy(tr.grad), RTOL)
    assert_close_to_torch(grad_fake, to_numpy(tf.grad), RTOL)


@pytest.mark.parametrize("non_saturating", [True, False])
def test_gan_generator_loss_matches_torch(non_saturating: bool) -> None:
    _, fake = _gan_case(4)
    tf = to_torch(fake, requires_grad=True)
    # The textbook forms, -log D and log(1 - D), through log-sigmoid to stay finite at +-1000.
    loss_t = -F.logsigmoid(tf).mean() if non_saturating else F.logsigmoid(-tf).mean()
    loss_t.backward()  # type: ignore[no-untyped-call]
    with strict_errstate():
        loss = gen.gan_generator_loss(fake, non_saturating)
        grad = gen.gan_generator_loss_backward(fake, non_saturating)
    assert abs(loss - float(loss_t.detach())) <= RTOL * max(1.0, abs(float(loss_t.detach())))
    assert_close_to_torch(grad, to_numpy(tf.grad), RTOL)
    small = np.array([0.3, -1.2])
    d_small = 1 / (1 + np.exp(-small))
    textbook = -np.log(d_small) if non_saturating else np.log(1 - d_small)
    assert abs(gen.gan_generator_loss(small, non_saturating) - float(np.mean(textbook))) < 1e-14


def test_gan_backward_matches_finite_differences() -> None:
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=4), rng.normal(size=3)
    grad_real, grad_fake = gen.gan_discriminator_loss_backward(real, fake)
    numeric_real = numerical_gradient(lambda r: gen.gan_discriminator_loss(r, fake), real)
    numeric_fake = numerical_gradient(lambda f: gen.gan_discriminator_loss(real, f), fake)
    assert max_relative_error(grad_real, numeric_real) < FD_TOL
    assert max_relative_error(grad_fake, numeric_fake) < FD_TOL
    for form in (True, False):
        numeric = numerical_gradient(lambda f, form=form: gen.gan_generator_loss(f, form), fake)
        grad = gen.gan_generator_loss_backward(fake, form)
        assert max_relative_error(grad, numeric) < FD_TOL


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_kept(dtype: type[np.floating]) -> None:  # type: ignore[type-arg]
    x, logits, mu, logvar = (a.astype(dtype) for a in _vae_case(6, extreme=True))
    with strict_errstate():
        grads = gen.vae_loss_backward(x, logits, mu, logvar)
        loss32 = gen.vae_loss(x, logits, mu, logvar)
    assert all(g.dtype == dtype for g in grads)
    assert abs(loss32 - gen.vae_loss(*_vae_case(6, extreme=True))) < 1e-3 * abs(loss32)
    real, fake = (a.astype(dtype) for a in _gan_case(7))
    with strict_errstate():
        assert all(g.dtype == dtype for g in gen.gan_discriminator_loss_backward(real, fake))
        assert gen.gan_generator_loss_backward(fake, False).dtype == dtype
    schedule = gen.ddpm_schedule(10)
    x0 = np.ones((2, 3), dtype)
    t = np.array([0, 9])
    assert gen.q_sample(x0, t, x0, schedule).dtype == dtype
    assert gen.q_posterior(x0, x0, t, schedule)[0].dtype == dtype
    assert gen.p_sample_step(x0, x0, t, schedule, x0).dtype == dtype


# --- DDPM ----------------------------------------------------------------------------------------


def test_schedule_is_linear_with_running_products() -> None:
    s = gen.ddpm_schedule(1000)
    assert s["betas"][0] == 1e-4 and s["betas"][-1] == 0.02
    np.testing.assert_allclose(np.diff(s["betas"]), (0.02 - 1e-4) / 999, rtol=1e-9)
    np.testing.assert_allclose(s["alphas"], 1 - s["betas"], rtol=0)
    running, products = 1.0, []
    for beta in np.linspace(1e-4, 0.02, 1000).tolist():
        running *= 1 - beta
        products.append(running)
    np.testing.assert_allclose(s["alphas_cumprod"], products, rtol=1e-12)
    assert all(len(v) == 1000 for v in s.values())
    assert s["alphas_cumprod"][-1] < 1e-4  # x_T is nearly pure noise


def test_q_sample_composes_the_one_step_kernels() -> None:
    """Two independent one-step transitions x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) e_t have
    mean sqrt(bar alpha_t) x_0 and variance 1 - bar alpha_t: check q_sample's coefficients."""
    s = gen.ddpm_schedule(6, 0.05, 0.3)
    x0 = np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 0.0]])
    t = np.array([0, 3, 5])
    zeros = np.zeros_like(x0)
    mean, var = np.ones(3), np.zeros(3)
    means, variances = [], []
    for step in range(6):
        mean, var = np.sqrt(s["alphas"][step]) * mean, s["alphas"][step] * var + s["betas"][step]
        means.append(mean[0])
        variances.append(var[0])
    np.testing.assert_allclose(
        gen.q_sample(x0, t, zeros, s), np.array(means)[t][:, None] * x0, rtol=1e-14
    )
    ones = np.ones_like(x0)
    np.testing.assert_allclose(
        gen.q_sample(zeros, t, ones, s), np.sqrt(np.array(variances))[t][:, None] * ones, rtol=1e-14
    )


def test_q_posterior_is_bayes_rule_for_two_gaussians() -> None:
    s = gen.ddpm_schedule(8, 0.01, 0.2)
    rng = np.random.default_rng(8)
    x0, xt = rng.normal(size=(8, 2, 2)), rng.normal(size=(8, 2, 2))
    t = np.arange(8)
    mean, var = gen.q_posterior(x0, xt, t, s)
    for i in range(1, 8):
        # prior q(x_{t-1} | x0) = N(sqrt(abar_{t-1}) x0, 1 - abar_{t-1});
        # likelihood q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t).
        abar_prev, alpha, beta = s["alphas_cumprod"][i - 1], s["alphas"][i], s["betas"][i]
        precision = 1 / (1 - abar_prev) + alpha / beta
        posterior_mean = (
            np.sqrt(abar_prev) * x0[i] / (1 - abar_prev) + np.sqrt(alpha) * xt[i] / beta
        ) / precision
        np.testing.assert_allclose(mean[i], posterior_mean, rtol=1e-12)
        np.testing.assert_allclose(var[i], 1 / precision, rtol=1e-12)
    np.testing.assert_array_equal(mean[0], x0[0])
    assert var.shape == (8, 1, 1) and var[0, 0, 0] == 0.0


def test_p_sample_step_with_the_true_noise_gives_the_posterior_mean() -> None:
    s = gen.ddpm_schedule(10, 0.02, 0.3)
    rng = np.random.default_rng(9)
    x0, eps, z = rng.normal(size=(10, 3)), rng.normal(size=(10, 3)), rng.normal(size=(10, 3))
    t = np.arange(10)
    xt = gen.q_sample(x0, t, eps, s)
    posterior_mean, _ = gen.q_posterior(x0, xt, t, s)
    no_noise = gen.p_sample_step(eps, xt, t, s, np.zeros_like(z))
    np.testing.assert_allclose(no_noise, posterior_mean, rtol=1e-10, atol=1e-12)
    noisy = gen.p_sample_step(eps, xt, t, s, z)
    sigma = np.sqrt(s["betas"]) * (t > 0)
    np.testing.assert_allclose(noisy - no_noise, sigma[:, None] * z, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(noisy[0], no_noise[0])


# --- bad input -----------------------------------------------------------------------------------

ONES = np.ones((2, 2))
STEPS = np.array([0, 1])
SCHEDULE = gen.ddpm_schedule(5)
BAD: list[tuple[Callable[[], object], str]] = [
    (lambda: gen.vae_loss(np.ones((2, 3)), np.ones((2, 4)), ONES, ONES), "x"),
    (lambda: gen.vae_loss(np.ones((2, 3)), np.ones((2, 3)), np.ones((3, 1)), np.ones((3, 1))),
     "mu"),
    (lambda: gen.vae_loss(np.ones(1), np.ones(1), np.ones(1), np.ones(2)), "logvar"),
    (lambda: gen.vae_loss_backward(np.ones(1), np.ones(1), np.ones(1), np.ones(1), -1.0), "beta"),
    (lambda: gen.gan_discriminator_loss(np.ones(0), np.ones(1)), "real_logits"),
    (lambda: gen.gan_generator_loss(np.array(["a"])), "fake_logits"),
    (lambda: gen.ddpm_schedule(0), "T"),
    (lambda: gen.ddpm_schedule(5, 0.0), "beta_start"),
    (lambda: gen.ddpm_schedule(5, 0.1, 0.05), "beta_end"),
    (lambda: gen.q_sample(ONES, np.array([0, 5]), ONES, SCHEDULE), "t"),
    (lambda: gen.q_sample(ONES, np.array([0.0, 1.0]), ONES, SCHEDULE), "t"),
    (lambda: gen.q_sample(ONES, np.array([0]), ONES, SCHEDULE), "t"),
    (lambda: gen.q_sample(ONES, STEPS, ONES, {}), "schedule"),
    (lambda: gen.q_posterior(ONES, np.ones((2, 3)), STEPS, SCHEDULE), "x_t"),
    (lambda: gen.p_sample_step(ONES, ONES, STEPS, SCHEDULE, np.ones(2)), "noise"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "name"), BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(BAD)])
def test_bad_arguments_are_named(call: Callable[[], object], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()
