"""What the reinforcement-learning demos teach holds (kb.demos.reinforcement)."""

import numpy as np
import pytest

from kb.demos import reinforcement as rl_demo


@pytest.mark.parametrize("gamma", [0.5, 0.95])
def test_grid_world_solvers_agree_and_value_iteration_meets_its_bound(gamma: float) -> None:
    p = rl_demo.GridWorldParams(gamma=gamma)
    out = rl_demo.run_grid_world(p)
    assert out.metrics["policy_iteration_max_difference"] < 1e-8
    assert out.metrics["policy_iteration_optimal_actions"] == 1.0
    optimal_actions = out.metrics["q_learning_optimal_actions"]
    assert isinstance(optimal_actions, float) and optimal_actions > 0.75
    errors = np.asarray(out.series["value_iteration_error"])
    bound = gamma ** errors[:, 0] * np.max(np.abs(out.series["optimal_value"]))
    assert np.all(errors[:, 1] <= bound + 1e-12)


def test_grid_world_rewards_and_transitions() -> None:
    probs, rewards, start, goal, pit = rl_demo.grid_world(rl_demo.GridWorldParams(size=3, slip=0.2))
    np.testing.assert_allclose(probs.sum(axis=2), 1.0)
    assert (start, goal, pit) == (6, 2, 5)
    # From the cell left of the goal, "right" enters it with probability 0.8 (+1) and slips
    # up (a wall: stays) or down (0.1 each).
    assert probs[1, 1, 2] == pytest.approx(0.8) and probs[1, 1, 1] == pytest.approx(0.1)
    assert rewards[1, 1] == pytest.approx(-0.04 + 0.8)
    assert np.all(rewards[[goal, pit]] == 0) and probs[goal, :, goal].tolist() == [1.0] * 4


def test_the_baseline_makes_reinforce_learn_despite_a_reward_offset() -> None:
    out = rl_demo.run_bandit(rl_demo.BanditParams())
    with_baseline = out.metrics["baseline.best_arm_probability"]
    without = out.metrics["no_baseline.best_arm_probability"]
    assert isinstance(with_baseline, float) and isinstance(without, float)
    assert with_baseline > 0.9 > 0.5 > without
