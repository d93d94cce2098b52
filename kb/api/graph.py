"""The term graph: shortest chains between terms, and the whole graph for drawing."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session

from kb import graph
from kb.api.deps import cache_of
from kb.api.errors import NOT_FOUND, NOT_MODIFIED, NotFound
from kb.api.responses import send
from kb.api.terms import find_or_404, require_category
from kb.rules import fold_key
from kb.schemas import Graph, GraphEdge, GraphNode, PathStep, TermPath

router = APIRouter(prefix="/graph", tags=["graph"])

TermName = Annotated[str, Query(min_length=1, max_length=200)]


@router.get("", response_model=Graph, responses=NOT_FOUND | NOT_MODIFIED)
async def whole_graph(
    request: Request,
    category: Annotated[
        str | None, Query(max_length=80, description="Only this category's terms and links.")
    ] = None,
) -> Response:
    """Every term as a node and every link as a typed edge, in its stored direction."""

    def build(session: Session) -> Graph:
        require_category(session, category)
        drawing = graph.whole_graph(session, category)
        return Graph(
            category=category,
            nodes=[
                GraphNode(
                    slug=t.slug,
                    name=t.name,
                    category=c,
                    kind="algorithm" if t.kind == "algorithm" else "concept",
                )
                for t, c in drawing.nodes
            ],
            edges=[GraphEdge(source=s, relation=r, target=t) for s, r, t in drawing.edges],
        )

    return send(request, await cache_of(request).get(("graph", category), build))


@router.get("/path", response_model=TermPath, responses=NOT_FOUND | NOT_MODIFIED)
async def shortest_path(
    request: Request,
    source: Annotated[str, Query(alias="from", min_length=1, max_length=200)],
    target: Annotated[str, Query(alias="to", min_length=1, max_length=200)],
) -> Response:
    """A shortest chain of links from one term to another (slugs, names or aliases)."""

    def build(session: Session) -> TermPath:
        start, end = find_or_404(session, source), find_or_404(session, target)
        steps = graph.shortest_path(session, start, end)
        if steps is None:
            raise NotFound(
                f"No chain of links leads from {start.slug!r} to {end.slug!r}: they lie in "
                "separate parts of the graph.",
                [],
            )
        return TermPath(
            source=start.slug,
            target=end.slug,
            length=len(steps),
            steps=[PathStep(**vars(step)) for step in steps],
        )

    key = ("path", fold_key(source), fold_key(target))
    return send(request, await cache_of(request).get(key, build))
