"""kb.terminal: tables, snippets and text plots, on hand-made answers."""

import math

import click
import pytest

from kb.demos.schemas import DemoRun
from kb.schemas import RelatedList
from kb.terminal import (
    curves,
    number,
    pick_curves,
    render_related,
    render_run,
    snippet,
    table,
    text_plot,
)


def plain(lines: list[str]) -> list[str]:
    return [click.unstyle(line) for line in lines]


def test_a_table_pads_aligns_and_cuts_to_the_width() -> None:
    rows = [["1", "adam", "Adaptive moment estimation"], ["10", "sgd", "Plain steps"]]
    assert plain(table(["n", "name", "what"], rows, 80, right=[0])) == [
        " n  name  what",
        " 1  adam  Adaptive moment estimation",
        "10  sgd   Plain steps",
    ]
    narrow = plain(table(["n", "name", "what"], rows, 24, right=[0]))
    assert narrow[1] == " 1  adam  Adaptive mome…"
    assert max(len(line) for line in narrow) == 24
    # Cut the widest text column first, never below its header or 8 characters.
    wide = [["a" * 30, "b" * 30, "c" * 30]]
    cut = plain(table(["x", "y", "z"], wide, 40))
    assert [len(cell) for cell in cut[1].split("  ")] == [12, 12, 12]
    assert plain(table(["x", "y", "z"], wide, 10))[1] == "aaaaaaa…  bbbbbbb…  ccccccc…"


def test_a_snippet_keeps_the_matches_bold() -> None:
    marked = "Accumulates <mark>past</mark> <mark>gradients</mark> &amp; more\n  text…"
    segments = snippet(marked)
    assert segments == [
        ("Accumulates ", False), ("past", True), (" ", False), ("gradients", True),
        (" & more text…", False),
    ]  # fmt: skip
    assert "".join(text for text, _ in segments) == "Accumulates past gradients & more text…"
    [row] = table(["match"], [[segments]], 80)[1:]
    assert click.unstyle(row) == "Accumulates past gradients & more text…"
    assert "\x1b[1mpast\x1b[0m" in row


@pytest.mark.parametrize(
    ("value", "text"), [(None, "-"), (3, "3"), (0.000123456, "0.0001235"), (1234567.0, "1.235e+06")]
)
def test_numbers(value: float | int | None, text: str) -> None:
    assert number(value) == text


def test_curves_are_series_with_x_never_decreasing() -> None:
    found = curves(
        {
            "loss/adam": [[0, 3.0], [1, 2.0], [2, None], [3, 1.0]],
            "loss/sgd": [3.0, 2.5, 2.0],
            "path/adam": [[0, 0], [1, 1], [0.5, 2]],  # x goes back: a path, not a curve
            "path/sgd": [[0, 0], [1, 1]],
            "accuracy": [0.5, 0.9],
            "lonely": [1.0],
        }
    )
    assert list(found) == ["loss", "accuracy"]
    assert found["loss"]["adam"] == [(0, 3.0), (1, 2.0), (3, 1.0)]
    assert found["loss"]["sgd"] == [(0.0, 3.0), (1.0, 2.5), (2.0, 2.0)]
    assert found["accuracy"] == {"accuracy": [(0.0, 0.5), (1.0, 0.9)]}
    assert (
        pick_curves({"accuracy": [1.0, 2.0], "train_loss/a": [1.0, 2.0]}, None)[0] == "train_loss"
    )
    assert pick_curves({"accuracy": [1.0, 2.0]}, None)[0] == "accuracy"
    with pytest.raises(KeyError):
        pick_curves({"accuracy": [1.0, 2.0]}, "loss")


def test_a_text_plot_draws_each_curve_in_its_own_character() -> None:
    rising = [(float(x), float(x)) for x in range(11)]
    falling = [(float(x), 10.0 - x) for x in range(11)]
    lines = plain(text_plot("loss", {"up": rising, "down": falling}, width=40, height=5))
    assert lines[0] == "loss"
    grid = [line.split("|", 1)[1].ljust(28) for line in lines[1:6]]
    assert lines[1].startswith("10 |") and lines[5].startswith(" 0 |")
    assert (grid[4][0], grid[0][0], grid[0][-1], grid[4][-1]) == ("*", "+", "*", "+")
    assert grid[2][14] == "*"  # they cross in the middle; the first curve is drawn on top
    assert lines[6] == "   +" + "-" * 28
    assert lines[7].split() == ["0", "10"]
    assert lines[8] == "* up  + down"
    assert max(len(line) for line in lines) <= 40


def test_a_text_plot_turns_logarithmic_over_three_decades() -> None:
    decay = [(float(x), 10.0**-x) for x in range(6)]
    lines = plain(text_plot("loss", {"loss": decay}, width=30, height=6))
    assert lines[0] == "loss (log scale)"
    rows = [line.split("|", 1)[1] for line in lines[1:7]]
    # Equal steps on a log scale: a straight line from the top left to the bottom right.
    assert [row.index("*") for row in rows] == sorted(row.index("*") for row in rows)
    assert lines[1].startswith("    1 |") and lines[6].startswith("1e-05 |")


def test_a_flat_curve_is_drawn_in_the_middle() -> None:
    lines = plain(text_plot("flat", {"x": [(0.0, 2.0), (1.0, 2.0)]}, width=30, height=5))
    assert "*" in lines[3] and not any("*" in line for line in lines[1:3] + lines[4:6])


def run(metrics: dict[str, float | int | None]) -> DemoRun:
    return DemoRun(
        demo="adam-optimizer",
        term="adam",
        params={"optimizers": ["adam", "sgd"], "queries": [[1, 0], [0, 1]], "causal": True},
        seed=0,
        metrics=metrics,
        series={"loss/adam": [1.0, 0.5, 0.25]},
        elapsed_ms=12.34,
        reference=["reference.optim:Adam"],
        plot="/plot.svg",
        cached=True,
    )


def test_a_run_pivots_metrics_by_part() -> None:
    metrics: dict[str, float | int | None] = {
        "adam.loss": 0.5, "adam.diverged": 0, "sgd.loss": math.pi, "sgd.diverged": 1,
        "optimum": 0.0, "diverged": 1,
    }  # fmt: skip
    lines = plain(render_run(run(metrics), 80, None).splitlines())
    assert lines[0] == "adam-optimizer demo of adam, seed 0 (12.3 ms, cached)"
    assert lines[1] == "parameters: optimizers=adam,sgd, queries=1,0;0,1, causal=true"
    assert lines[3:6] == [
        "       loss  diverged",
        "adam    0.5         0",
        "sgd   3.142         1",
    ]
    assert lines[7:10] == ["metric    value", "optimum       0", "diverged      1"]
    # Too narrow for a row per part: a row per metric.
    narrow = plain(render_run(run(metrics), 16, None).splitlines())
    assert ["sgd.loss", "3.142"] in [line.split() for line in narrow]


def test_a_run_with_its_plot() -> None:
    plot = pick_curves(run({}).series, None)
    lines = plain(render_run(run({"x": None}), 60, plot).splitlines())
    assert "loss" in lines and "* adam" in lines
    assert lines[-1] == "reference: reference.optim:Adam"


def test_nothing_related() -> None:
    empty = RelatedList(term="lonely", relation=None, depth=2, items=[])
    assert render_related(empty, 80) == "No terms up to 2 links from lonely\n"
