"""What the generative-model demos teach holds at their defaults (kb.demos.generative)."""

import numpy as np

from kb.demos import generative as gen


def test_the_gan_covers_every_mode_and_collapses_at_a_high_learning_rate() -> None:
    good = gen.run_gan(gen.GANParams())
    assert good.metrics["modes_covered"] == good.metrics["modes"] == 6
    collapsed = gen.run_gan(gen.GANParams(lr=0.03))
    covered = collapsed.metrics["modes_covered"]
    assert isinstance(covered, int) and covered < 6


def test_the_reverse_chain_moves_noise_onto_the_shape() -> None:
    out = gen.run_diffusion(gen.DiffusionParams())
    generated, noise = (
        out.metrics["generated_to_data_distance"],
        out.metrics["noise_to_data_distance"],
    )
    assert isinstance(generated, float) and isinstance(noise, float)
    assert generated < 0.6 * noise
    chain = [name for name in out.series if name.startswith("chain/")]
    assert chain[0] == "chain/t=40" and chain[-1] == "chain/t=0"


def test_the_vae_learns_and_its_loss_splits_into_reconstruction_and_kl() -> None:
    out = gen.run_vae(gen.VAEParams(epochs=10))
    loss = np.asarray(out.series["loss"])
    assert loss[-1, 1] < 0.8 * loss[0, 1]
    kl = out.metrics["kl"]
    assert isinstance(kl, float) and kl > 0
    decoded = out.extras["decoded"]
    assert decoded.shape == (gen.GRID_SIDE**2, 64) and np.all((decoded >= 0) & (decoded <= 1))
