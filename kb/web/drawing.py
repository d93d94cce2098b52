"""The term graph as pictures: one circle of terms per category, links drawn as chords.

A circle per category keeps every picture small (a few dozen names) and every label horizontal
and readable; links that leave a category are listed under its picture instead of
being drawn across the page.
"""

import math
from dataclasses import dataclass

from kb.graph import Drawing
from kb.relations import Relation

_ROW = 17  # vertical distance between two labels on one side, in SVG units (13px text)
_CHARACTER = 7.2  # the mean advance of a character of 13px text, to size the label columns
_MARGIN = 24
# Chords bend toward the centre by this fraction: links between neighbours stay short curves,
# links across the circle pass near the middle.
_PULL = 0.35


@dataclass(frozen=True)
class Style:
    colour: str
    dash: str | None = None


# Okabe and Ito's palette, told apart with colour-blindness too; the symmetric relations are
# also dashed, and the directed ones carry arrows.
STYLES = {
    Relation.uses: Style("#0072B2"),
    Relation.variant_of: Style("#D55E00"),
    Relation.broader: Style("#009E73"),
    Relation.part_of: Style("#CC79A7"),
    Relation.related: Style("#7f7f7f", "4 3"),
    Relation.contrasts_with: Style("#E69F00", "1 3"),
}
"""How a link is drawn, by its stored relation (only canonical ones are stored)."""


@dataclass(frozen=True)
class Node:
    slug: str
    name: str
    x: float
    y: float
    label_x: float
    anchor: str  # "start" right of the centre, "end" left of it


@dataclass(frozen=True)
class Edge:
    source: str
    relation: Relation
    target: str
    path: str  # the SVG path's d attribute


@dataclass(frozen=True)
class Picture:
    category: str
    width: int
    height: int
    nodes: list[Node]
    edges: list[Edge]
    outside: list[tuple[str, Relation, str]]
    """Links between one of its terms and a term of another category (stored direction)."""


def _circle(names: list[tuple[str, str]]) -> tuple[list[Node], int, int]:
    """The terms on a circle, clockwise from the top, the first half on the right side and
    the rest on the left: each at its own height, one label row apart, so that no two
    horizontal labels overlap however many names there are (evenly spaced angles crowd the
    rows together near the top and bottom)."""
    count = len(names)
    right_count = math.ceil(count / 2)
    radius = max(40.0, _ROW * right_count / 2)
    label_width = 12 + _CHARACTER * max(len(name) for _, name in names)
    cx = _MARGIN + label_width + radius
    cy = _MARGIN + radius
    nodes = []
    for i, (slug, name) in enumerate(names):
        right = i < right_count
        # Rows from the top on the right side, from the bottom on the left.
        rows, row = (right_count, i) if right else (count - right_count, count - 1 - i)
        y = cy - radius + 2 * radius * (row + 0.5) / rows
        dx = math.sqrt(max(radius**2 - (y - cy) ** 2, 0.0))
        x = cx + dx if right else cx - dx
        nodes.append(Node(slug, name, round(x, 1), round(y, 1), round(x + (9 if right else -9), 1),
                          "start" if right else "end"))  # fmt: skip
    return nodes, math.ceil(2 * cx), math.ceil(2 * cy)


def _chord(a: Node, b: Node, cx: float, cy: float) -> str:
    mx, my = (a.x + b.x) / 2, (a.y + b.y) / 2
    qx, qy = cx + (mx - cx) * _PULL, cy + (my - cy) * _PULL
    return f"M{a.x},{a.y} Q{qx:.1f},{qy:.1f} {b.x},{b.y}"


def pictures(drawing: Drawing, categories: list[str]) -> list[Picture]:
    """One picture per category, in the given order (a category without terms has none)."""
    found = []
    for category in categories:
        names = sorted(
            ((t.slug, t.name) for t, c in drawing.nodes if c == category),
            key=lambda item: item[1].casefold(),
        )
        if not names:
            continue
        nodes, width, height = _circle(names)
        at = {node.slug: node for node in nodes}
        cx, cy = width / 2, height / 2
        edges, outside = [], []
        for source, relation, target in drawing.edges:
            if source in at and target in at:
                path = _chord(at[source], at[target], cx, cy)
                edges.append(Edge(source, relation, target, path))
            elif source in at or target in at:
                outside.append((source, relation, target))
        found.append(Picture(category, width, height, nodes, edges, outside))
    return found
