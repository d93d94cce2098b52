"""Walking the typed links between terms: neighbourhoods, shortest chains, the whole graph.

Links are stored once (``kb.relations``); a walk reads each from whichever end it stands on,
with the relation as seen from there. Breadth-first search runs level by level, one query per
level (in chunks), so a walk costs what it visits, not the size of the glossary.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import or_
from sqlmodel import Session, col, select

from kb.models import Category, Link, Term
from kb.relations import Relation

# Both SQLite and PostgreSQL accept far more bound parameters than this per statement.
_CHUNK = 5_000
_RELATION_ORDER = {relation: i for i, relation in enumerate(Relation)}


@dataclass(frozen=True)
class Step:
    """One link followed: ``source`` --``relation``--> ``target`` (slugs)."""

    source: str
    relation: Relation
    target: str


@dataclass(frozen=True)
class Reached:
    term_id: int
    distance: int
    path: tuple[Step, ...]


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _neighbours(
    session: Session, ids: Sequence[int], relation: Relation | None
) -> dict[int, list[tuple[Relation, int, str]]]:
    """For each id: ``(relation as seen from it, neighbour id, neighbour slug)``, sorted."""
    found: dict[int, list[tuple[Relation, int, str]]] = {i: [] for i in ids}
    for chunk in _chunks(ids):
        outgoing = select(Link.source_id, Link.relation, Link.target_id, Term.slug).join(
            Term, col(Term.id) == col(Link.target_id)
        )
        incoming = select(Link.target_id, Link.relation, Link.source_id, Term.slug).join(
            Term, col(Term.id) == col(Link.source_id)
        )
        for node, stored, other, slug in session.exec(
            outgoing.where(col(Link.source_id).in_(chunk))
        ):
            found[node].append((Relation(stored), other, slug))
        for node, stored, other, slug in session.exec(
            incoming.where(col(Link.target_id).in_(chunk))
        ):
            found[node].append((Relation(stored).inverse, other, slug))
    for node, items in found.items():
        kept = [item for item in items if relation is None or item[0] is relation]
        found[node] = sorted(kept, key=lambda item: (_RELATION_ORDER[item[0]], item[2]))
    return found


def neighbourhood(
    session: Session, start: Term, depth: int, relation: Relation | None = None
) -> list[Reached]:
    """Every term within ``depth`` links of ``start`` (excluded), each once, at its shortest
    distance, with the chain of links that reaches it. With ``relation``, only links of that
    type (as seen from the term being left) are followed."""
    assert start.id is not None
    paths: dict[int, tuple[Step, ...]] = {start.id: ()}
    slugs = {start.id: start.slug}
    frontier = [start.id]
    reached: list[Reached] = []
    for distance in range(1, depth + 1):
        adjacent = _neighbours(session, frontier, relation)
        next_frontier = []
        for node in frontier:
            for rel, other, slug in adjacent[node]:
                if other in paths:
                    continue
                slugs[other] = slug
                paths[other] = (*paths[node], Step(slugs[node], rel, slug))
                next_frontier.append(other)
                reached.append(Reached(other, distance, paths[other]))
        if not next_frontier:
            break
        frontier = next_frontier
    return reached


def shortest_path(session: Session, source: Term, target: Term) -> list[Step] | None:
    """A shortest chain of links from ``source`` to ``target``, or None if there is none.

    Bidirectional breadth-first search: each round expands the smaller frontier by one level.
    """
    assert source.id is not None and target.id is not None
    if source.id == target.id:
        return []
    # forward[n]: how n was reached from the source (the step into n); backward[n]: the step
    # out of n towards the target.
    forward: dict[int, Step | None] = {source.id: None}
    backward: dict[int, Step | None] = {target.id: None}
    slugs = {source.id: source.slug, target.id: target.slug}
    ahead, behind = [source.id], [target.id]
    while ahead and behind:
        expand_forward = len(ahead) <= len(behind)
        frontier = ahead if expand_forward else behind
        seen, other_side = (forward, backward) if expand_forward else (backward, forward)
        adjacent = _neighbours(session, frontier, None)
        next_frontier: list[int] = []
        meetings: list[int] = []
        for node in frontier:
            for rel, other, slug in adjacent[node]:
                if other in seen:
                    continue
                slugs[other] = slug
                if expand_forward:
                    seen[other] = Step(slugs[node], rel, slug)
                else:
                    seen[other] = Step(slug, rel.inverse, slugs[node])
                next_frontier.append(other)
                if other in other_side:
                    meetings.append(other)
        if meetings:
            return _join(meetings[0], forward, backward, slugs)
        if expand_forward:
            ahead = next_frontier
        else:
            behind = next_frontier
    return None


def _join(
    meeting: int,
    forward: dict[int, Step | None],
    backward: dict[int, Step | None],
    slugs: dict[int, str],
) -> list[Step]:
    ids = {slug: node for node, slug in slugs.items()}
    steps: list[Step] = []
    node = meeting
    while (step := forward[node]) is not None:
        steps.append(step)
        node = ids[step.source]
    steps.reverse()
    node = meeting
    while (step := backward[node]) is not None:
        steps.append(step)
        node = ids[step.target]
    return steps


def terms_by_id(session: Session, ids: Iterable[int]) -> dict[int, Term]:
    found: dict[int, Term] = {}
    for chunk in _chunks(list(ids)):
        found |= {
            t.id: t for t in session.exec(select(Term).where(col(Term.id).in_(chunk))) if t.id
        }
    return found


@dataclass(frozen=True)
class Drawing:
    nodes: list[tuple[Term, str]]  # (term, category slug)
    edges: list[tuple[str, Relation, str]]  # stored direction


def whole_graph(session: Session, category: str | None = None) -> Drawing:
    """Nodes and stored edges of the glossary, or of one category (edges inside it only)."""
    statement = select(Term, Category.slug).join(
        Category, col(Category.id) == col(Term.category_id)
    )
    if category is not None:
        statement = statement.where(Category.slug == category)
    nodes = list(session.exec(statement.order_by(col(Term.slug))).all())
    slug_of = {term.id: term.slug for term, _ in nodes}
    links = select(Link)
    if category is not None:
        ids = list(slug_of)
        links = links.where(or_(col(Link.source_id).in_(ids), col(Link.target_id).in_(ids)))
    edges = [
        (slug_of[link.source_id], Relation(link.relation), slug_of[link.target_id])
        for link in session.exec(links)
        if link.source_id in slug_of and link.target_id in slug_of
    ]
    return Drawing(nodes, sorted(edges))
