"""Reinforcement learning on finite MDPs: exact policy evaluation, value and policy iteration,
tabular Q-learning, and REINFORCE on a multi-armed bandit.

Papers:

* Dynamic programming: R. Bellman, 1957, "Dynamic Programming", Princeton University Press
  (value iteration); R. A. Howard, 1960, "Dynamic Programming and Markov Processes", MIT Press
  (policy iteration).
* Q-learning: C. J. C. H. Watkins, 1989, "Learning from Delayed Rewards", PhD thesis, University
  of Cambridge; C. J. C. H. Watkins, P. Dayan, 1992, "Q-learning", Machine Learning 8, 279-292,
  doi:10.1007/BF00992698.
* REINFORCE: R. J. Williams, 1992, "Simple statistical gradient-following algorithms for
  connectionist reinforcement learning", Machine Learning 8, 229-256, doi:10.1007/BF00992696;
  the bandit form with an average-reward baseline follows R. S. Sutton, A. G. Barto, 2018,
  "Reinforcement Learning: An Introduction", 2nd ed., MIT Press, section 2.8.

A finite MDP is P[s, a, s'] = Pr(s' | s, a) (each P[s, a] sums to 1), expected rewards R[s, a]
and a discount gamma in [0, 1).  A policy pi(a | s) is (S,) actions or (S, A) probabilities.
Values take the floating dtype of P and R (float64 for other inputs); the bandit runs in float64.

* Bellman expectation equation, solved exactly:
  V^pi = r_pi + gamma P_pi V^pi,  i.e.  V^pi = (I - gamma P_pi)^{-1} r_pi,
  with r_pi(s) = sum_a pi(a|s) R[s, a] and P_pi(s, s') = sum_a pi(a|s) P[s, a, s'].
* Action values: Q(s, a) = R[s, a] + gamma sum_{s'} P[s, a, s'] V(s').
* Value iteration: V_{k+1}(s) = max_a Q_k(s, a), until max_s |V_{k+1} - V_k| < tol; the policy is
  greedy, argmax_a Q(s, a), ties to the lowest action index.
* Policy iteration: evaluate pi exactly, set pi(s) = argmax_a Q^pi(s, a), repeat until pi is stable.
* Q-learning: Q(s, a) <- Q(s, a) + alpha (r + gamma max_{a'} Q(s', a') - Q(s, a)), with
  max_{a'} Q(s', a') = 0 at a terminal s'; actions epsilon-greedy.
* Gradient bandit (REINFORCE with softmax preferences H): pi = softmax(H), after action A_t and
  reward R_t, H <- H + lr (R_t - b_t) (1[a = A_t] - pi(a)), with b_t = 0 or the average of the
  rewards before t (b_1 = R_1).  Its expectation is lr times the gradient of
  E[R] = sum_a pi(a) mu_a, namely pi(a) (mu_a - sum_b pi(b) mu_b), for any b_t that does not
  depend on A_t.
"""

from collections.abc import Collection
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "policy_evaluation",
    "policy_iteration",
    "q_learning",
    "q_values",
    "reinforce_bandit",
    "value_iteration",
]

FloatArray = NDArray[np.floating[Any]]
IntArray = NDArray[np.int64]


def _mdp(P: ArrayLike, R: ArrayLike, gamma: float) -> tuple[FloatArray, FloatArray]:
    p, r = np.asarray(P), np.asarray(R)
    dtype = np.result_type(p, r)
    if not np.issubdtype(dtype, np.floating):
        dtype = np.dtype(np.float64)
    p, r = p.astype(dtype, copy=False), r.astype(dtype, copy=False)
    if p.ndim != 3 or p.shape[0] != p.shape[2] or 0 in p.shape:
        raise ValueError(f"P must have shape (S, A, S), got {p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=2), 1.0, rtol=0, atol=1e-5):
        raise ValueError("P must hold probabilities: non-negative, each P[s, a] summing to 1")
    if r.shape != p.shape[:2]:
        raise ValueError(f"R must have shape (S, A) = {p.shape[:2]}, got {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError("R must be finite")
    if not 0 <= gamma < 1:
        raise ValueError(f"gamma must be in [0, 1), got {gamma}")
    return p, r


def _policy_matrix(policy: ArrayLike, r: FloatArray) -> FloatArray:
    states, actions = r.shape
    pi = np.asarray(policy)
    if pi.shape == (states,) and np.issubdtype(pi.dtype, np.integer):
        if np.any(pi < 0) or np.any(pi >= actions):
            raise ValueError(f"policy actions must lie in [0, {actions - 1}]")
        out: FloatArray = np.eye(actions, dtype=r.dtype)[pi]
        return out
    if pi.shape == (states, actions):
        pi = pi.astype(r.dtype)
        if np.any(pi < 0) or not np.allclose(pi.sum(axis=1), 1.0, rtol=0, atol=1e-5):
            raise ValueError("policy probabilities must be non-negative and sum to 1 per state")
        return pi
    raise ValueError(
        f"policy must be ({states},) integer actions or ({states}, {actions}) probabilities, "
        f"got shape {pi.shape} and dtype {pi.dtype}"
    )


def _backup(p: FloatArray, r: FloatArray, v: FloatArray, gamma: float) -> FloatArray:
    q: FloatArray = r + gamma * (p @ v)
    return q


def policy_evaluation(P: ArrayLike, R: ArrayLike, policy: ArrayLike, gamma: float) -> FloatArray:
    """V^pi, the solution of V = r_pi + gamma P_pi V (a linear solve)."""
    p, r = _mdp(P, R, gamma)
    pi = _policy_matrix(policy, r)
    p_pi = np.einsum("sa,sat->st", pi, p)
    r_pi = np.einsum("sa,sa->s", pi, r)
    v: FloatArray = np.linalg.solve(np.eye(r.shape[0], dtype=r.dtype) - gamma * p_pi, r_pi)
    return v


def q_values(P: ArrayLike, R: ArrayLike, V: ArrayLike, gamma: float) -> FloatArray:
    """Q(s, a) = R[s, a] + gamma sum_s' P[s, a, s'] V(s')."""
    p, r = _mdp(P, R, gamma)
    v = np.asarray(V, dtype=r.dtype)
    if v.shape != (p.shape[0],):
        raise ValueError(f"V must have shape ({p.shape[0]},), got {v.shape}")
    return _backup(p, r, v, gamma)


def value_iteration(
    P: ArrayLike, R: ArrayLike, gamma: float, tol: float = 1e-10, max_iter: int = 100_000
) -> tuple[FloatArray, IntArray]:
    """Bellman optimality backups from V = 0 until the largest change is below ``tol`` (or
    ``max_iter`` backups); returns V and the greedy policy (ties to the lowest action)."""
    p, r = _mdp(P, R, gamma)
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    v = np.zeros(p.shape[0], r.dtype)
    for _ in range(max_iter):
        v_new = _backup(p, r, v, gamma).max(axis=1)
        change = float(np.max(np.abs(v_new - v)))
        v = v_new
        if change < tol:
            break
    policy: IntArray = np.argmax(_backup(p, r, v, gamma), axis=1).astype(np.int64)
    return v, policy


def policy_iteration(P: ArrayLike, R: ArrayLike, gamma: float) -> tuple[FloatArray, IntArray]:
    """Exact evaluation and greedy improvement from the all-zeros policy until it is stable."""
    p, r = _mdp(P, R, gamma)
    states = np.arange(p.shape[0])
    policy = np.zeros(p.shape[0], dtype=np.int64)
    # Finitely many deterministic policies, each strictly better than the last: this ends.
    while True:
        v = policy_evaluation(p, r, policy, gamma)
        q = _backup(p, r, v, gamma)
        best = np.argmax(q, axis=1)
        # Switch only where the gain exceeds rounding, else ties could make it cycle.
        slack = 16 * np.finfo(q.dtype).eps * max(1.0, float(np.max(np.abs(q))))
        improve = q[states, best] > q[states, policy] + slack
        if not np.any(improve):
            return v, policy
        policy = np.where(improve, best, policy)


def q_learning(
    P: ArrayLike,
    R: ArrayLike,
    gamma: float,
    alpha: float,
    epsilon: float,
    episodes: int,
    max_steps: int,
    rng: np.random.Generator,
    start_state: int = 0,
    terminal_states: Collection[int] = (),
) -> FloatArray:
    """Tabular Q-learning with epsilon-greedy behaviour (greedy ties to the lowest action),
    transitions sampled from P and rewards R[s, a]; an episode starts at ``start_state`` and
    ends at a terminal state or after ``max_steps`` steps.  Returns Q (S, A), zero at terminals."""
    p, r = _mdp(P, R, gamma)
    n_states, n_actions = r.shape
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    if not 0 <= epsilon <= 1:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
    if episodes < 0:
        raise ValueError(f"episodes must be non-negative, got {episodes}")
    if max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    if not 0 <= start_state < n_states:
        raise ValueError(f"start_state must lie in [0, {n_states - 1}], got {start_state}")
    terminal = np.zeros(n_states, dtype=bool)
    for s in terminal_states:
        if not 0 <= s < n_states:
            raise ValueError(f"terminal_states must lie in [0, {n_states - 1}], got {s}")
        terminal[s] = True
    cdf = np.cumsum(p, axis=2)
    q = np.zeros((n_states, n_actions), r.dtype)
    for _ in range(episodes):
        s = start_state
        for _ in range(max_steps):
            if terminal[s]:
                break
            explore = rng.random() < epsilon
            a = int(rng.integers(n_actions)) if explore else int(np.argmax(q[s]))
            # Inverse-CDF sampling; the clip guards against a last cumulative sum just below 1.
            s_next = min(int(np.searchsorted(cdf[s, a], rng.random(), side="right")), n_states - 1)
            future = 0.0 if terminal[s_next] else float(q[s_next].max())
            q[s, a] += alpha * (r[s, a] + gamma * future - q[s, a])
            s = s_next
    return q


def reinforce_bandit(
    means: ArrayLike, steps: int, lr: float, rng: np.random.Generator, baseline: bool = True
) -> dict[str, NDArray[Any]]:
    """REINFORCE with a softmax policy over preferences H (from 0) on arms with rewards
    N(means[a], 1).  Returns ``preferences`` (steps + 1, K), ``probabilities`` (steps + 1, K),
    ``actions`` (steps,), ``rewards`` (steps,) and ``baselines`` (steps,, all 0 without one)."""
    mu = np.asarray(means, dtype=np.float64)
    if mu.ndim != 1 or mu.size < 2 or not np.all(np.isfinite(mu)):
        raise ValueError(f"means must be a 1-D array of at least 2 finite values, got {mu!r}")
    if steps < 0:
        raise ValueError(f"steps must be non-negative, got {steps}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    k = mu.size
    prefs = np.zeros((steps + 1, k))
    probs = np.zeros((steps + 1, k))
    actions = np.zeros(steps, dtype=np.int64)
    rewards, baselines = np.zeros(steps), np.zeros(steps)
    h = np.zeros(k)
    total = 0.0
    for t in range(steps):
        e = np.exp(h - h.max())
        pi = e / e.sum()
        probs[t] = pi
        a = int(rng.choice(k, p=pi))
        reward = float(rng.normal(mu[a], 1.0))
        b = (total / t if t else reward) if baseline else 0.0
        total += reward
        grad_log_pi = -pi
        grad_log_pi[a] += 1.0
        h = h + lr * (reward - b) * grad_log_pi
        actions[t], rewards[t], baselines[t], prefs[t + 1] = a, reward, b, h
    e = np.exp(h - h.max())
    probs[steps] = e / e.sum()
    return {
        "preferences": prefs,
        "probabilities": probs,
        "actions": actions,
        "rewards": rewards,
        "baselines": baselines,
    }
