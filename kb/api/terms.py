"""Terms: list, look up (by slug, name or alias, any case) and related terms."""

import difflib
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlmodel import Session

from kb import graph, repository
from kb.api.deps import cache_of
from kb.api.errors import NOT_FOUND, NOT_MODIFIED, NotFound
from kb.api.responses import send
from kb.models import Term
from kb.relations import Relation
from kb.rules import lookup_key
from kb.schemas import Kind, NeighbourTerm, PathStep, RelatedList, TermDetail, TermPage

router = APIRouter(prefix="/terms", tags=["terms"])

SlugOrAlias = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="A slug, name or alias, in any case: `adam-optimizer`, `Adam`, `BN`.",
    ),
]


def find_or_404(session: Session, slug: str) -> Term:
    term = repository.find_term(session, slug)
    if term is None:
        raise NotFound(
            f"No term is called {slug!r}. Check the spelling, or search for it with "
            "GET /api/v1/search?q=...; the closest slugs are listed in 'suggestions'.",
            repository.closest_slugs(session, slug),
        )
    return term


def require_category(session: Session, category: str | None) -> None:
    """404 for a ``category`` filter that names no category."""
    known = repository.category_slugs(session)
    if category is not None and category not in known:
        raise NotFound(
            f"No category is called {category!r} (query parameter 'category'); "
            f"use one of: {', '.join(known)}.",
            difflib.get_close_matches(category, known, n=3, cutoff=0.3),
        )


@router.get("", response_model=TermPage, responses=NOT_FOUND | NOT_MODIFIED)
async def list_terms(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip.")] = 0,
    category: Annotated[
        str | None, Query(max_length=80, description="Only terms of this category (its slug).")
    ] = None,
    kind: Annotated[Kind | None, Query(description="Only concepts or only algorithms.")] = None,
    letter: Annotated[
        str | None,
        Query(pattern=r"^[A-Za-z0-9]$", description="Only terms whose name starts with it."),
    ] = None,
) -> Response:
    """Terms in alphabetical order of name, a page at a time."""

    def build(session: Session) -> TermPage:
        require_category(session, category)
        return repository.list_terms(
            session, category=category, kind=kind, letter=letter, limit=limit, offset=offset
        )

    key = ("terms", category, kind, letter and letter.casefold(), limit, offset)
    return send(request, await cache_of(request).get(key, build))


@router.get("/{slug}", response_model=TermDetail, responses=NOT_FOUND | NOT_MODIFIED)
async def get_term(request: Request, slug: SlugOrAlias) -> Response:
    """The full record of a term."""

    def build(session: Session) -> TermDetail:
        return repository.term_detail(session, find_or_404(session, slug))

    return send(request, await cache_of(request).get(("term", lookup_key(slug)), build))


@router.get("/{slug}/related", response_model=RelatedList, responses=NOT_FOUND | NOT_MODIFIED)
async def get_related(
    request: Request,
    slug: SlugOrAlias,
    depth: Annotated[int, Query(ge=1, le=3, description="How many links away to go.")] = 1,
    relation: Annotated[
        Relation | None,
        Query(description="Only follow links of this type (as seen from the term being left)."),
    ] = None,
) -> Response:
    """The terms around this one, nearest first, each once at its shortest distance with the
    chain of links that reaches it. The term itself is left out."""

    def build(session: Session) -> RelatedList:
        term = find_or_404(session, slug)
        reached = graph.neighbourhood(session, term, depth, relation)
        terms = graph.terms_by_id(session, (r.term_id for r in reached))
        items = [
            NeighbourTerm(
                slug=terms[r.term_id].slug,
                name=terms[r.term_id].name,
                summary=terms[r.term_id].summary,
                relation=r.path[-1].relation,
                distance=r.distance,
                path=[PathStep(**vars(step)) for step in r.path],
            )
            for r in reached
        ]
        return RelatedList(term=term.slug, relation=relation, depth=depth, items=items)

    key = ("related", lookup_key(slug), depth, relation)
    return send(request, await cache_of(request).get(key, build))
