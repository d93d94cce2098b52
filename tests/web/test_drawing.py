"""The graph page's pictures: however many terms a category has, no two labels overlap and
every label fits inside its picture."""

import itertools

import pytest

from kb.graph import Drawing
from kb.models import Term
from kb.relations import Relation
from kb.web.drawing import _CHARACTER, _ROW, pictures


def _drawing(count: int) -> Drawing:
    names = [f"Term number {i} {'with a long name ' * (i % 3)}".strip() for i in range(count)]
    nodes = [(Term(slug=f"t{i}", name=name), "c") for i, name in enumerate(names)]
    edges = [(f"t{i}", Relation.related, f"t{(i * 7) % count}") for i in range(count)]
    return Drawing(nodes=nodes, edges=[e for e in edges if e[0] != e[2]])


@pytest.mark.parametrize("count", [1, 2, 3, 12, 41, 60])
def test_labels_neither_overlap_nor_leave_the_picture(count: int) -> None:
    [picture] = pictures(_drawing(count), ["c"])
    assert len(picture.nodes) == count
    for side in ("start", "end"):
        heights = sorted(node.y for node in picture.nodes if node.anchor == side)
        gaps = [b - a for a, b in itertools.pairwise(heights)]
        assert all(gap >= _ROW - 0.2 for gap in gaps), (side, gaps)
    for node in picture.nodes:
        width = _CHARACTER * len(node.name)
        left = node.label_x - (width if node.anchor == "end" else 0)
        assert left >= 0 and left + width <= picture.width, node
        assert node.y - _ROW / 2 >= 0 and node.y + _ROW / 2 <= picture.height, node


def test_terms_go_clockwise_in_the_given_order() -> None:
    [picture] = pictures(_drawing(10), ["c"])
    right = [n.slug for n in picture.nodes if n.anchor == "start"]
    left = [n.slug for n in picture.nodes if n.anchor == "end"]
    assert right == sorted(right, key=lambda s: next(n.y for n in picture.nodes if n.slug == s))
    assert left == sorted(left, key=lambda s: -next(n.y for n in picture.nodes if n.slug == s))
