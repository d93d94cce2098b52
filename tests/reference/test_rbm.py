"""reference.rbm: exact quantities against brute-force enumeration, CD/PCD training."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from reference import rbm as rbm_module
from reference.gradcheck import max_relative_error, numerical_gradient
from reference.rbm import BernoulliRBM

FloatArray = NDArray[np.floating[Any]]


def _all_states(n: int) -> FloatArray:
    """All 2**n binary rows; row index = sum_j v_j 2**j."""
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.float64)


def _logsumexp(x: FloatArray, axis: int | None = None) -> FloatArray:
    m = np.max(x, axis=axis, keepdims=True)
    out: FloatArray = np.squeeze(m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)))
    return out


def _neg_energy(rbm: BernoulliRBM) -> FloatArray:
    """-E(v, h) for every (v, h) pair, shape (2**n_visible, 2**n_hidden)."""
    v, h = _all_states(rbm.n_visible), _all_states(rbm.n_hidden)
    out: FloatArray = (v @ rbm.b_visible)[:, None] + (h @ rbm.b_hidden)[None, :] + v @ rbm.W @ h.T
    return out


def _random_rbm(n_visible: int, n_hidden: int, scale: float, seed: int) -> BernoulliRBM:
    rbm = BernoulliRBM(n_visible, n_hidden, seed=seed)
    rng = np.random.default_rng(seed)
    rbm.W = rng.normal(0.0, scale, (n_visible, n_hidden))
    rbm.b_visible = rng.normal(0.0, scale, n_visible)
    rbm.b_hidden = rng.normal(0.0, scale, n_hidden)
    return rbm


def _bars_and_stripes(side: int = 3) -> FloatArray:
    patterns = set()
    for on in itertools.product([0, 1], repeat=side):
        line = np.array(on, dtype=np.float64)
        patterns.add(tuple(np.repeat(line, side)))  # horizontal bars: whole rows on
        patterns.add(tuple(np.tile(line, side)))  # vertical stripes: whole columns on
    return np.array(sorted(patterns))


tiny_models = st.tuples(
    st.integers(1, 5), st.integers(1, 5), st.floats(0.1, 4.0), st.integers(0, 2**32 - 1)
)


@settings(max_examples=60, deadline=None)
@given(tiny_models)
def test_log_partition_equals_brute_force(model: tuple[int, int, float, int]) -> None:
    rbm = _random_rbm(*model)
    assert rbm.log_partition() == pytest.approx(float(_logsumexp(_neg_energy(rbm))), rel=1e-12)


@pytest.mark.parametrize(("n_visible", "n_hidden"), [(3, 6), (6, 3), (4, 4)])
def test_log_partition_both_layer_orders(n_visible: int, n_hidden: int) -> None:
    rbm = _random_rbm(n_visible, n_hidden, 1.5, seed=n_visible)
    expected = float(_logsumexp(_neg_energy(rbm)))
    assert rbm.log_partition() == pytest.approx(expected, rel=1e-12)
    # The transposed model has the same partition function.
    transposed = BernoulliRBM(n_hidden, n_visible)
    transposed.W, transposed.b_visible, transposed.b_hidden = rbm.W.T, rbm.b_hidden, rbm.b_visible
    assert transposed.log_partition() == pytest.approx(expected, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(tiny_models)
def test_free_energy_and_log_likelihood_equal_brute_force(
    model: tuple[int, int, float, int],
) -> None:
    rbm = _random_rbm(*model)
    v = _all_states(rbm.n_visible)
    expected_f = -_logsumexp(_neg_energy(rbm), axis=1)
    np.testing.assert_allclose(rbm.free_energy(v), expected_f, rtol=1e-12, atol=1e-12)
    log_p = -rbm.free_energy(v) - rbm.log_partition()
    assert float(_logsumexp(log_p)) == pytest.approx(0.0, abs=1e-12)  # P sums to one
    assert rbm.log_likelihood(v[:3]) == pytest.approx(float(np.mean(log_p[:3])), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(tiny_models, st.integers(1, 6))
def test_pseudo_likelihood_equals_brute_force(
    model: tuple[int, int, float, int], n_rows: int
) -> None:
    rbm = _random_rbm(*model)
    rng = np.random.default_rng(model[3] + 1)
    n_v = rbm.n_visible
    idx = rng.integers(0, 2**n_v, n_rows)
    log_p = _logsumexp(_neg_energy(rbm), axis=1)  # unnormalised log P(v)
    expected = 0.0
    for row in idx:
        for i in range(n_v):
            flipped = row ^ (1 << i)
            expected += log_p[row] - np.logaddexp(log_p[row], log_p[flipped])
    expected /= n_rows
    assert rbm.pseudo_likelihood(_all_states(n_v)[idx]) == pytest.approx(expected, rel=1e-10)


def test_conditionals_and_exact_gradient() -> None:
    """<v h>_data - <v h>_model (exact) is the gradient of the exact mean log-likelihood."""
    rbm = _random_rbm(4, 3, 1.0, seed=7)
    data = _all_states(4)[[1, 5, 6, 15, 15]]
    v_all = _all_states(4)
    p_v = np.exp(-rbm.free_energy(v_all) - rbm.log_partition())
    model_vh = (v_all * p_v[:, None]).T @ rbm.hidden_probs(v_all)
    analytic = data.T @ rbm.hidden_probs(data) / len(data) - model_vh
    numeric = numerical_gradient(lambda _w: rbm.log_likelihood(data), rbm.W)
    assert max_relative_error(analytic, numeric) < 1e-6
    # Conditionals from the joint table.
    joint = np.exp(_neg_energy(rbm))
    h_all = _all_states(3)
    p_h_given_v = joint / joint.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(rbm.hidden_probs(v_all), p_h_given_v @ h_all, rtol=1e-12)
    p_v_given_h = joint / joint.sum(axis=0, keepdims=True)
    np.testing.assert_allclose(rbm.visible_probs(h_all), p_v_given_h.T @ v_all, rtol=1e-12)


def test_cd_update_follows_the_update_equations() -> None:
    rbm = _random_rbm(5, 3, 0.5, seed=2)
    twin = copy.deepcopy(rbm)
    v0 = _all_states(5)[[3, 8, 17, 30]]
    rbm.cd_update(v0, lr=0.05, k=2)
    ph0 = twin.hidden_probs(v0)
    vk = twin.gibbs(v0, k=2)  # consumes the same random numbers
    phk = twin.hidden_probs(vk)
    np.testing.assert_allclose(rbm.W, twin.W + 0.05 * (v0.T @ ph0 - vk.T @ phk) / 4, rtol=1e-14)
    np.testing.assert_allclose(rbm.b_visible, twin.b_visible + 0.05 * (v0 - vk).mean(0))
    np.testing.assert_allclose(rbm.b_hidden, twin.b_hidden + 0.05 * (ph0 - phk).mean(0))


def test_persistent_chains_are_kept() -> None:
    rbm = BernoulliRBM(6, 4, seed=3)
    data = _all_states(6)[:8]
    assert rbm.persistent_chains is None
    rbm.cd_update(data, lr=0.1, persistent=True)
    chains = rbm.persistent_chains
    assert chains is not None and chains.shape == (8, 6)
    assert set(np.unique(chains)) <= {0.0, 1.0}
    rbm.cd_update(data[:3], lr=0.1, persistent=True)  # chain count stays fixed
    assert rbm.persistent_chains is not None and rbm.persistent_chains.shape == (8, 6)


@pytest.mark.parametrize("persistent", [False, True])
def test_training_on_bars_and_stripes_raises_exact_log_likelihood(persistent: bool) -> None:
    data = _bars_and_stripes(3)
    assert data.shape == (14, 9)
    rbm = BernoulliRBM(9, 8, seed=0)
    before = rbm.log_likelihood(data)
    assert before == pytest.approx(-9 * np.log(2), abs=0.05)  # near-uniform at init
    history = rbm.fit(
        np.tile(data, (2, 1)), epochs=1000, batch_size=14, lr=0.1, persistent=persistent
    )
    after = rbm.log_likelihood(data)
    assert len(history) == 1000 and all(np.isfinite(history))
    assert history[-1] > history[0]
    assert after > before + 1.5, (before, after)  # about -6.24 -> -4.2
    assert after <= -np.log(14) + 1e-9  # cannot beat the empirical distribution


def test_gibbs_shapes_and_binary_samples() -> None:
    rbm = _random_rbm(7, 4, 1.0, seed=5)
    v = rbm.gibbs(_all_states(7)[:10], k=3)
    assert v.shape == (10, 7) and set(np.unique(v)) <= {0.0, 1.0}
    assert rbm.gibbs(np.ones(7)).shape == (7,)


def test_stable_for_large_weights_and_float32() -> None:
    rbm = _random_rbm(6, 5, 60.0, seed=4)
    v = _all_states(6)
    assert np.all(np.isfinite(rbm.free_energy(v)))
    assert np.isfinite(rbm.log_partition())
    pl = rbm.pseudo_likelihood(v)
    assert np.isfinite(pl) and pl <= 0.0
    assert np.isfinite(rbm.log_likelihood(v))
    probs32 = rbm.hidden_probs(v.astype(np.float32))
    assert probs32.dtype == np.float32 and np.all((probs32 >= 0) & (probs32 <= 1))
    wide = BernoulliRBM(2, 500, seed=1)  # enumerates the 4 visible states
    assert np.isfinite(wide.log_partition())


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="n_visible"):
        BernoulliRBM(0, 3)
    with pytest.raises(ValueError, match="n_hidden"):
        BernoulliRBM(3, -1)
    rbm = BernoulliRBM(4, 3)
    with pytest.raises(ValueError, match="n_visible"):
        BernoulliRBM(21, 22).log_partition()
    with pytest.raises(ValueError, match="v"):
        rbm.free_energy(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="h"):
        rbm.visible_probs(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="X"):
        rbm.pseudo_likelihood(np.full((2, 4), 0.5))
    with pytest.raises(ValueError, match="X"):
        rbm.log_likelihood(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="k"):
        rbm.gibbs(np.zeros((2, 4)), k=0)
    with pytest.raises(ValueError, match="v_batch"):
        rbm.cd_update(np.zeros((2, 5)), lr=0.1)
    with pytest.raises(ValueError, match="batch_size"):
        rbm.fit(np.zeros((2, 4)), batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        rbm.fit(np.zeros((2, 4)), lr=0.0)


def test_pseudo_likelihood_fast_path_equals_the_softplus_sums(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While |W| is small enough the flip gaps come from exp(+-W) and log; beyond, from softplus
    differences.  Both give the same exact pseudo-likelihood."""
    rbm = _random_rbm(9, 7, 2.0, seed=11)
    v = _all_states(9)[::5]
    fast = rbm.pseudo_likelihood(v)
    monkeypatch.setattr(rbm_module, "_FAST_PL_MAX_WEIGHT", -1.0)
    assert rbm.pseudo_likelihood(v) == pytest.approx(fast, rel=1e-12)


def test_fit_without_monitoring_trains_the_same() -> None:
    data = _bars_and_stripes(3)
    monitored, silent = BernoulliRBM(9, 6, seed=4), BernoulliRBM(9, 6, seed=4)
    history = monitored.fit(data, epochs=5, batch_size=7, persistent=True)
    assert len(history) == 5
    assert silent.fit(data, epochs=5, batch_size=7, persistent=True, monitor=False) == []
    np.testing.assert_array_equal(monitored.W, silent.W)
