"""reference.rl against independent computations: the Bellman equation checked entry by entry, the
Neumann series of the policy's value, brute force over every deterministic policy, Q* from value
iteration for Q-learning, and the policy-gradient identity of the bandit sampled over seeds."""

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from reference import rl

FloatArray = np.ndarray


def random_mdp(seed: int, states: int = 4, actions: int = 3) -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    p = rng.random((states, actions, states)) ** 3  # some near-deterministic transitions
    p /= p.sum(axis=2, keepdims=True)
    return p, rng.normal(size=(states, actions))


CASES = [(seed, gamma) for seed in (0, 1, 2) for gamma in (0.0, 0.5, 0.95)]


def bellman_residual(
    p: FloatArray, r: FloatArray, pi: FloatArray, v: FloatArray, gamma: float
) -> float:
    """max_s |V(s) - sum_a pi(a|s) (R(s,a) + gamma sum_s' P(s'|s,a) V(s'))|, by plain loops."""
    worst = 0.0
    states, actions = r.shape
    for s in range(states):
        total = 0.0
        for a in range(actions):
            future = sum(p[s, a, t] * v[t] for t in range(states))
            total += pi[s, a] * (r[s, a] + gamma * future)
        worst = max(worst, abs(v[s] - total))
    return worst


@pytest.mark.parametrize(("seed", "gamma"), CASES)
def test_policy_evaluation_solves_the_bellman_equation(seed: int, gamma: float) -> None:
    p, r = random_mdp(seed)
    rng = np.random.default_rng(seed + 100)
    stochastic = rng.dirichlet(np.ones(3), size=4)
    deterministic = np.array([2, 0, 1, 1])
    for policy, pi in ((stochastic, stochastic), (deterministic, np.eye(3)[deterministic])):
        v = rl.policy_evaluation(p, r, policy, gamma)
        assert bellman_residual(p, r, pi, v, gamma) < 1e-12
        # The Neumann series sum_k gamma^k P_pi^k r_pi, summed until its terms vanish.
        p_pi, r_pi = np.einsum("sa,sat->st", pi, p), (pi * r).sum(axis=1)
        series, term = np.zeros(4), r_pi.copy()
        for _ in range(2000):
            series += term
            term = gamma * p_pi @ term
        np.testing.assert_allclose(v, series, rtol=1e-10, atol=1e-12)


def test_a_one_state_loop_is_a_geometric_series() -> None:
    p, r = np.ones((1, 1, 1)), np.array([[2.0]])
    assert rl.policy_evaluation(p, r, np.array([0]), 0.75) == pytest.approx(8.0, rel=1e-14)
    v, policy = rl.value_iteration(p, r, 0.75)
    assert v[0] == pytest.approx(8.0, rel=1e-9) and policy.tolist() == [0]


@pytest.mark.parametrize(("seed", "gamma"), CASES)
def test_value_and_policy_iteration_find_the_best_of_all_policies(seed: int, gamma: float) -> None:
    p, r = random_mdp(seed)
    v_vi, pi_vi = rl.value_iteration(p, r, gamma)
    v_pi, pi_pi = rl.policy_iteration(p, r, gamma)
    # Brute force: the optimal value is the state-wise maximum over all 3^4 deterministic policies.
    values = {pol: rl.policy_evaluation(p, r, np.array(pol), gamma)
              for pol in itertools.product(range(3), repeat=4)}  # fmt: skip
    best = np.max(list(values.values()), axis=0)
    np.testing.assert_allclose(v_pi, best, rtol=0, atol=1e-12)
    np.testing.assert_allclose(v_vi, best, rtol=0, atol=1e-8)
    assert pi_vi.tolist() == pi_pi.tolist()
    np.testing.assert_allclose(values[tuple(pi_pi.tolist())], best, rtol=0, atol=1e-12)
    # The optimality equation V = max_a Q(V) and the greedy policy.
    q = rl.q_values(p, r, v_pi, gamma)
    np.testing.assert_allclose(q.max(axis=1), v_pi, rtol=0, atol=1e-12)
    assert np.argmax(q, axis=1).tolist() == pi_pi.tolist()


def test_greedy_ties_go_to_the_lowest_action() -> None:
    p, r = random_mdp(7, actions=2)
    # Actions 1 and 2 are copies of action 0 (a tie everywhere) and action 3 is worse.
    p4 = np.concatenate([p[:, :1]] * 3 + [p[:, 1:]], axis=1)
    r4 = np.concatenate([r[:, :1]] * 3 + [r[:, :1] - 10.0], axis=1)
    _, policy = rl.value_iteration(p4, r4, 0.9)
    assert policy.tolist() == [0, 0, 0, 0]
    assert rl.policy_iteration(p4, r4, 0.9)[1].tolist() == [0, 0, 0, 0]


def test_q_values_is_the_one_step_lookahead() -> None:
    p, r = random_mdp(3)
    v = np.array([1.0, -2.0, 0.5, 3.0])
    q = rl.q_values(p, r, v, 0.9)
    for s, a in itertools.product(range(4), range(3)):
        assert q[s, a] == pytest.approx(r[s, a] + 0.9 * sum(p[s, a, t] * v[t] for t in range(4)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype: type) -> None:
    p, r = (a.astype(dtype) for a in random_mdp(4))
    v, _ = rl.value_iteration(p, r, 0.9, tol=1e-4)
    assert v.dtype == dtype
    assert rl.policy_iteration(p, r, 0.9)[0].dtype == dtype
    assert rl.q_values(p, r, v, 0.9).dtype == dtype
    q = rl.q_learning(p, r, 0.9, 0.5, 0.5, 2, 5, np.random.default_rng(0))
    assert q.dtype == dtype
    np.testing.assert_allclose(v, rl.value_iteration(*random_mdp(4), 0.9)[0], rtol=1e-4)


# --- Q-learning ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [5, 6])
def test_q_learning_converges_to_q_star_when_transitions_are_deterministic(seed: int) -> None:
    """With deterministic transitions every update is a contraction towards Q* (no sampling
    noise), so a constant step size converges."""
    _, r = random_mdp(seed, states=4, actions=2)
    following = np.random.default_rng(seed).integers(0, 4, (4, 2))
    p = np.eye(4)[following]
    gamma = 0.8
    q_star = rl.q_values(p, r, rl.value_iteration(p, r, gamma)[0], gamma)
    q = rl.q_learning(p, r, gamma, alpha=0.5, epsilon=1.0, episodes=300, max_steps=30,
                      rng=np.random.default_rng(0))  # fmt: skip
    np.testing.assert_allclose(q, q_star, rtol=0, atol=1e-6)


def test_q_learning_approaches_q_star_on_a_stochastic_mdp() -> None:
    """With sampled transitions and a constant step size, Q fluctuates around Q* with a spread
    that shrinks with alpha: close, and the same greedy policy."""
    p, r = random_mdp(5, states=3, actions=2)
    gamma = 0.8
    q_star = rl.q_values(p, r, rl.value_iteration(p, r, gamma)[0], gamma)
    errors = []
    for alpha in (0.2, 0.02):
        q = rl.q_learning(p, r, gamma, alpha, epsilon=1.0, episodes=100, max_steps=200,
                          rng=np.random.default_rng(0))  # fmt: skip
        errors.append(float(np.max(np.abs(q - q_star))))
    assert errors[1] < 0.1 * float(np.max(np.abs(q_star))) and errors[1] < errors[0]
    assert np.argmax(q, axis=1).tolist() == np.argmax(q_star, axis=1).tolist()


def test_q_learning_stops_at_terminal_states() -> None:
    """A corridor 0 - 1 - 2 - 3 with 3 terminal: action 1 moves right (reward 1 on arrival at 3),
    action 0 stays (reward 0)."""
    p = np.zeros((4, 2, 4))
    r = np.zeros((4, 2))
    for s in range(3):
        p[s, 0, s] = 1.0
        p[s, 1, s + 1] = 1.0
    r[2, 1] = 1.0
    p[3, :, 3] = 1.0  # absorbing with no reward: Q*(3, .) = 0, as Q-learning treats terminals
    gamma = 0.9
    q_star = rl.q_values(p, r, rl.value_iteration(p, r, gamma)[0], gamma)
    q = rl.q_learning(p, r, gamma, 0.5, 0.5, episodes=300, max_steps=50,
                      rng=np.random.default_rng(1), terminal_states=(3,))  # fmt: skip
    assert np.all(q[3] == 0.0)
    np.testing.assert_allclose(q, q_star, rtol=0, atol=1e-6)
    np.testing.assert_allclose(q[:3, 1], [0.81, 0.9, 1.0], rtol=1e-6)
    assert rl.q_learning(p, r, gamma, 0.1, 0.3, 0, 50, np.random.default_rng(1)).sum() == 0.0


# --- REINFORCE -----------------------------------------------------------------------------------


def test_reinforce_update_is_an_unbiased_policy_gradient() -> None:
    """From H = 0 the first update (no baseline) is lr r (1[a] - pi); over many seeds its mean
    is lr pi (mu - pi . mu), the gradient of the expected reward."""
    means = np.array([1.0, 0.0, 2.0])
    runs = 4000
    updates = np.array([
        rl.reinforce_bandit(means, 1, 1.0, np.random.default_rng(seed), baseline=False)[
            "preferences"][1]
        for seed in range(runs)
    ])  # fmt: skip
    pi = np.full(3, 1 / 3)
    gradient = pi * (means - pi @ means)
    standard_error = updates.std(axis=0) / np.sqrt(runs)
    assert np.all(np.abs(updates.mean(axis=0) - gradient) < 4 * standard_error)


def test_reinforce_baseline_makes_it_shift_invariant() -> None:
    """With the average-reward baseline, adding a constant to every arm changes no update;
    without it the same draws give other updates."""
    means = np.array([0.0, 0.5, 1.0])
    runs = {}
    for shift, baseline in itertools.product((0.0, 50.0), (True, False)):
        runs[shift, baseline] = rl.reinforce_bandit(
            means + shift, 200, 0.1, np.random.default_rng(3), baseline
        )
    np.testing.assert_allclose(
        runs[50.0, True]["preferences"], runs[0.0, True]["preferences"], atol=1e-9
    )
    assert np.max(np.abs(runs[50.0, False]["preferences"] - runs[0.0, False]["preferences"])) > 1
    out = runs[0.0, True]
    assert out["preferences"].shape == (201, 3) and out["rewards"].shape == (200,)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0)
    rewards = out["rewards"]
    assert out["baselines"][0] == rewards[0]
    np.testing.assert_allclose(out["baselines"][1:], np.cumsum(rewards)[:-1] / np.arange(1, 200))


def test_reinforce_learns_the_best_arm() -> None:
    out = rl.reinforce_bandit(np.array([0.0, 1.0, 0.2, 0.5]), 2000, 0.1, np.random.default_rng(0))
    assert out["probabilities"][-1, 1] > 0.9


# --- bad input -----------------------------------------------------------------------------------

P, R = random_mdp(0, 2, 2)
RNG = np.random.default_rng(0)
BAD: list[tuple[Callable[[], object], str]] = [
    (lambda: rl.value_iteration(np.ones((2, 2)), R, 0.9), "P"),
    (lambda: rl.value_iteration(P * 2, R, 0.9), "P"),
    (lambda: rl.value_iteration(P, R[:1], 0.9), "R"),
    (lambda: rl.value_iteration(P, R, 1.0), "gamma"),
    (lambda: rl.value_iteration(P, R, 0.9, tol=0.0), "tol"),
    (lambda: rl.value_iteration(P, R, 0.9, max_iter=0), "max_iter"),
    (lambda: rl.policy_evaluation(P, R, np.array([0, 2]), 0.9), "policy"),
    (lambda: rl.policy_evaluation(P, R, np.array([0.5, 0.5]), 0.9), "policy"),
    (lambda: rl.policy_evaluation(P, R, np.ones((2, 2)), 0.9), "policy"),
    (lambda: rl.q_values(P, R, np.zeros(3), 0.9), "V"),
    (lambda: rl.q_learning(P, R, 0.9, 0.0, 0.1, 1, 1, RNG), "alpha"),
    (lambda: rl.q_learning(P, R, 0.9, 0.5, 1.5, 1, 1, RNG), "epsilon"),
    (lambda: rl.q_learning(P, R, 0.9, 0.5, 0.1, -1, 1, RNG), "episodes"),
    (lambda: rl.q_learning(P, R, 0.9, 0.5, 0.1, 1, 0, RNG), "max_steps"),
    (lambda: rl.q_learning(P, R, 0.9, 0.5, 0.1, 1, 1, RNG, start_state=2), "start_state"),
    (lambda: rl.q_learning(P, R, 0.9, 0.5, 0.1, 1, 1, RNG, terminal_states=(5,)),
     "terminal_states"),
    (lambda: rl.reinforce_bandit(np.array([1.0]), 1, 0.1, RNG), "means"),
    (lambda: rl.reinforce_bandit(np.zeros(2), -1, 0.1, RNG), "steps"),
    (lambda: rl.reinforce_bandit(np.zeros(2), 1, 0.0, RNG), "lr"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "name"), BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(BAD)])
def test_bad_arguments_are_named(call: Callable[[], object], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()
