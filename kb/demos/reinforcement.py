"""Demos of reinforcement learning: dynamic programming and Q-learning on a grid world, and
REINFORCE on a multi-armed bandit with and without a baseline."""

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from kb.demos.base import Demo, DemoOutput, DemoParams, Source, finite_or_nan, param
from reference import rl

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]

# --- a grid world -------------------------------------------------------------------------------

MOVES = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])  # up, right, down, left (row, column)
SWEEPS_SHOWN = 60


class GridWorldParams(DemoParams):
    size: int = param(5, "The grid is size x size cells.", unit="cells", ge=3, le=12)
    slip: float = param(
        0.2, "Probability that a move goes to one of the two perpendicular directions instead "
        "(half each).", ge=0.0, le=0.5,
    )  # fmt: skip
    step_reward: float = param(-0.04, "Reward of every move (a cost when negative).",
                               ge=-1.0, le=0.0)  # fmt: skip
    gamma: float = param(0.95, "Discount factor.", ge=0.0, le=0.99)
    episodes: int = param(500, "Q-learning episodes, each from the bottom-left corner.",
                          unit="episodes", ge=0, le=20_000)  # fmt: skip
    max_steps: int = param(100, "Longest Q-learning episode.", unit="steps", ge=1, le=1_000)
    alpha: float = param(0.2, "Q-learning step size.", gt=0.0, le=1.0)
    epsilon: float = param(0.2, "Probability of a random action while Q-learning.",
                           ge=0.0, le=1.0)  # fmt: skip


def grid_world(p: GridWorldParams) -> tuple[FloatArray, FloatArray, int, int, int]:
    """P, R, start, goal (+1 on entry) and pit (-1 on entry); goal and pit are absorbing."""
    n = p.size
    states = n * n
    goal, pit, start = n - 1, 2 * n - 1, (n - 1) * n
    probs = np.zeros((states, 4, states))
    rewards = np.full((states, 4), p.step_reward)
    for s in range(states):
        if s in (goal, pit):
            probs[s, :, s] = 1.0
            rewards[s] = 0.0
            continue
        row, col = divmod(s, n)
        for a in range(4):
            for direction, weight in ((a, 1 - p.slip), ((a + 1) % 4, p.slip / 2),
                                      ((a + 3) % 4, p.slip / 2)):  # fmt: skip
                r, c = np.clip([row, col] + MOVES[direction], 0, n - 1)
                target = int(r * n + c)
                probs[s, a, target] += weight
                rewards[s, a] += weight * (target == goal) - weight * (target == pit)
    return probs, rewards, start, goal, pit


def _optimal_fraction(q_star: FloatArray, actions: Any, live: NDArray[np.bool_]) -> float:
    """The fraction of live states where ``actions`` is optimal (ties, up to rounding, count:
    symmetric cells often have two best moves)."""
    chosen = q_star[np.arange(q_star.shape[0]), actions]
    return float(np.mean((chosen >= q_star.max(axis=1) - 1e-9)[live]))


def run_grid_world(p: GridWorldParams) -> DemoOutput:
    probs, rewards, start, goal, pit = grid_world(p)
    v_star, policy = rl.value_iteration(probs, rewards, p.gamma)
    v_pi, policy_pi = rl.policy_iteration(probs, rewards, p.gamma)
    sweeps = np.arange(1, SWEEPS_SHOWN + 1)
    # Against policy iteration's V*, exact up to rounding (a linear solve).
    errors = [
        float(np.max(np.abs(rl.value_iteration(probs, rewards, p.gamma, 1e-300, int(k))[0] - v_pi)))
        for k in sweeps
    ]
    q = rl.q_learning(
        probs, rewards, p.gamma, p.alpha, p.epsilon, p.episodes, p.max_steps,
        np.random.default_rng(p.seed), start_state=start, terminal_states=(goal, pit),
    )  # fmt: skip
    live = np.ones(p.size * p.size, dtype=bool)
    live[[goal, pit]] = False
    q_star = rl.q_values(probs, rewards, v_star, p.gamma)
    greedy = np.argmax(q, axis=1)
    return DemoOutput(
        metrics={
            "value_at_start": float(v_star[start]),
            "policy_iteration_max_difference": float(np.max(np.abs(v_pi - v_star))),
            "policy_iteration_optimal_actions": _optimal_fraction(q_star, policy_pi, live),
            "q_learning_optimal_actions": _optimal_fraction(q_star, greedy, live),
            "q_learning_max_value_error": float(np.max(np.abs(q.max(axis=1) - v_star)[live])),
        },
        series={
            "value_iteration_error": np.column_stack([sweeps, errors]),
            "optimal_value": v_star,
            "optimal_policy": policy,
            "q_learning_value": q.max(axis=1),
            "q_learning_policy": greedy,
        },
        extras={"goal": goal, "pit": pit, "start": start},
    )


def cost_grid_world(p: GridWorldParams) -> float:
    states = p.size * p.size
    backup = 2e-6 + 2e-9 * states * states * 4
    # Value iteration to 1e-10 takes about log(1e-10) / log(gamma) sweeps.
    sweeps = SWEEPS_SHOWN**2 / 2 + 25 / max(1e-3, 1 - p.gamma)
    q_steps = p.episodes * min(p.max_steps, 20 * p.size)
    return 0.01 + sweeps * backup + q_steps * 9e-6 + 3e-7 * states**3


def _grid_panel(ax: "Axes", p: GridWorldParams, values: Any, policy: Any, out: DemoOutput) -> None:
    n = p.size
    grid = finite_or_nan(values).reshape(n, n)
    image = ax.imshow(grid, cmap="viridis")
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    actions = np.asarray(policy, dtype=int).reshape(n, n)
    dy, dx = MOVES[actions, 0].astype(float), MOVES[actions, 1].astype(float)
    for special in (out.extras["goal"], out.extras["pit"]):
        r, c = divmod(int(special), n)
        dx[r, c] = dy[r, c] = np.nan
    ys, xs = np.mgrid[0:n, 0:n]
    ax.quiver(xs, ys, dx, -dy, color="w", scale=n * 1.6, pivot="middle")
    for special, label in ((out.extras["goal"], "+1"), (out.extras["pit"], "-1"),
                           (out.extras["start"], "S")):  # fmt: skip
        r, c = divmod(int(special), n)
        ax.text(c, r, label, ha="center", va="center", color="r", weight="bold")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def plot_grid_world(p: GridWorldParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(3, width=3.8)
    _grid_panel(plots.axes(fig, 1, 3, 1, "V* and the greedy policy (value iteration)"), p,
                out.series["optimal_value"], out.series["optimal_policy"], out)  # fmt: skip
    _grid_panel(plots.axes(fig, 1, 3, 2, f"max_a Q after {p.episodes} Q-learning episodes"), p,
                out.series["q_learning_value"], out.series["q_learning_policy"], out)  # fmt: skip
    ax = plots.axes(fig, 1, 3, 3, "Value iteration: max |V_k - V*|")
    plots.curve(ax, out.series["value_iteration_error"], "error")
    sweeps = np.arange(1, SWEEPS_SHOWN + 1)
    start = float(np.max(np.abs(finite_or_nan(out.series["optimal_value"]))))
    ax.plot(sweeps, start * p.gamma**sweeps, "k--", linewidth=1, label="gamma^k max |V*|")
    ax.set_xlabel("sweeps k")
    if np.nanmax(finite_or_nan(out.series["value_iteration_error"])[:, 1]) > 0:
        ax.set_yscale("log")
    plots.legend(ax)
    return fig


GRID_WORLD = Demo(
    slug="value-iteration",
    title="Value iteration, policy iteration and Q-learning on a grid world",
    terms=("value-iteration", "policy-iteration", "q-learning", "bellman-equation"),
    description=(
        "A slippery grid world: moves go astray to a perpendicular direction with the given "
        "probability, every move costs step_reward, and entering the top-right cell pays +1 "
        "and the cell below it -1 (both end the episode). Value iteration and policy "
        "iteration solve the Bellman optimality equation (their values agree); the heat maps "
        "show V* with its greedy policy, and what tabular Q-learning learned from episodes "
        "starting at S. Value iteration's error after k sweeps from V = 0 is at most "
        "gamma^k max |V*|."
    ),
    params=GridWorldParams,
    run=run_grid_world,
    plot=plot_grid_world,
    sources=(
        Source("reference.rl", "value_iteration", "value-iteration"),
        Source("reference.rl", "policy_iteration", "policy-iteration"),
        Source("reference.rl", "q_learning", "q-learning"),
        Source("reference.rl", "policy_evaluation", "bellman-equation"),
    ),
    cost=cost_grid_world,
    cost_drivers=("episodes", "max_steps", "size"),
)


# --- REINFORCE on a bandit ----------------------------------------------------------------------


class BanditParams(DemoParams):
    arms: int = param(5, "Arms; their mean rewards are drawn from N(shift, 1).", ge=2, le=20)
    shift: float = param(
        5.0, "Added to every arm's mean: it changes nothing with a baseline, and slows "
        "learning without one.", ge=-20.0, le=20.0,
    )  # fmt: skip
    steps: int = param(500, "Pulls per run.", unit="steps", ge=1, le=10_000)
    lr: float = param(0.1, "Step size of the preference updates.", unit="per step",
                      gt=0.0, le=5.0)  # fmt: skip
    runs: int = param(10, "Independent runs averaged.", unit="runs", ge=1, le=200)


def run_bandit(p: BanditParams) -> DemoOutput:
    means = np.random.default_rng([p.seed, 0]).normal(p.shift, 1.0, p.arms)
    best = int(np.argmax(means))
    out = DemoOutput(metrics={"best_mean": float(means[best])})
    with np.errstate(all="ignore"):
        for baseline in (True, False):
            name = "baseline" if baseline else "no_baseline"
            probability = np.zeros(p.steps + 1)
            reward = np.zeros(p.steps)
            for run in range(p.runs):
                result = rl.reinforce_bandit(
                    means, p.steps, p.lr, np.random.default_rng([p.seed, run, 1]), baseline
                )
                probability += result["probabilities"][:, best] / p.runs
                reward += result["rewards"] / p.runs
            out.metrics[f"{name}.best_arm_probability"] = float(probability[-1])
            out.metrics[f"{name}.mean_reward"] = float(reward.mean())
            out.series[f"{name}/best_arm_probability"] = probability
            out.series[f"{name}/reward"] = reward
    return out


def cost_bandit(p: BanditParams) -> float:
    return 0.005 + 2 * p.runs * p.steps * (4.5e-5 + 3e-7 * p.arms)


def plot_bandit(p: BanditParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(2)
    ax = plots.axes(fig, 1, 2, 1, f"Probability of the best arm (mean of {p.runs} runs)")
    ax2 = plots.axes(fig, 1, 2, 2, "Reward per step")
    for name, label in (("baseline", "with baseline"), ("no_baseline", "without baseline")):
        plots.curve(ax, out.series[f"{name}/best_arm_probability"], label)
        plots.curve(ax2, out.series[f"{name}/reward"], label)
    ax2.axhline(float(out.metrics["best_mean"] or 0.0), color="k", linestyle="--", linewidth=1,
                label="best arm's mean")  # fmt: skip
    for axis in (ax, ax2):
        axis.set_xlabel("step")
        plots.legend(axis)
    return fig


BANDIT = Demo(
    slug="reinforce",
    title="REINFORCE on a multi-armed bandit, with and without a baseline",
    terms=("reinforce", "policy-gradient"),
    description=(
        "A softmax policy over the arms of a Gaussian bandit learns by REINFORCE (Williams, "
        "1992): each reward pushes the log-probability of the arm pulled up in proportion to "
        "the reward minus a baseline. Both variants follow the gradient of the expected reward "
        "on average; subtracting the average reward so far removes the common offset of the "
        "rewards from every update, which lowers the variance: with a large shift, learning "
        "without the baseline is slow and erratic."
    ),
    params=BanditParams,
    run=run_bandit,
    plot=plot_bandit,
    sources=(Source("reference.rl", "reinforce_bandit", "reinforce"),),
    cost=cost_bandit,
    cost_drivers=("runs", "steps", "arms"),
)
