"""Search (full text with typo tolerance) and type-ahead suggestions."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session

from kb import repository, search
from kb.api.deps import cache_of
from kb.api.errors import NOT_FOUND, NOT_MODIFIED
from kb.api.responses import send
from kb.api.terms import require_category
from kb.rules import prefix_key
from kb.schemas import Kind, SearchPage, SearchResult, Suggestion, SuggestionList

router = APIRouter(tags=["search"])

# Fewer full-text matches than this and the typo fallback is consulted too.
_FEW = 3


def _result(hit: search.Hit) -> SearchResult:
    kind = "algorithm" if hit.kind == "algorithm" else "concept"
    return SearchResult(**{**vars(hit), "kind": kind})


def search_page(
    session: Session,
    q: str,
    *,
    limit: int = 20,
    offset: int = 0,
    category: str | None = None,
    kind: Kind | None = None,
) -> SearchPage:
    """A page of terms matching ``q``, with did-you-mean: what /search answers (and the web
    search page shows)."""
    words = search.tokens(q)
    require_category(session, category)

    def full_text(match_all: bool) -> search.Found:
        return search.full_text(
            session,
            words,
            category=category,
            kind=kind,
            limit=limit,
            offset=offset,
            match_all=match_all,
            query=q,
        )

    found = full_text(match_all=True)
    if found.total == 0 and len(words) > 1:
        found = full_text(match_all=False)
    hits, total = found.hits, found.total
    did_you_mean = None
    # A query that is exactly a name or alias needs no correction.
    if total < _FEW and not repository.names_a_term(session, q):
        close = search.closest(session, q, repository.data_version(session))
        # A name the query is the start of is a completion (see /suggest), not a correction.
        if close and not prefix_key(close[0][0]).startswith(prefix_key(q)):
            did_you_mean = close[0][0]
        if total == 0:
            hits = search.fuzzy_hits(session, close, category, kind)
            total = len(hits)
            hits = hits[offset : offset + limit]
    return SearchPage(
        query=q,
        items=[_result(h) for h in hits],
        total=total,
        total_is_estimate=found.total_is_estimate,
        limit=limit,
        offset=offset,
        did_you_mean=did_you_mean,
    )


@router.get("/search", response_model=SearchPage, responses=NOT_FOUND | NOT_MODIFIED)
async def search_terms(
    request: Request,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=500,
            pattern=r"\S",
            description="Words to look for; everything but letters and digits is ignored.",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    category: Annotated[str | None, Query(max_length=80)] = None,
    kind: Kind | None = None,
) -> Response:
    """Terms ranked by how well their name, aliases, summary and body match ``q`` (name and
    aliases weigh most); a term whose slug, name or alias is exactly ``q`` comes first. Every
    word must match; if no term has them all, terms with any of them are returned (unless
    ``q`` names a term: then that term alone). When that finds little, the names and aliases
    nearest by edit distance are offered as ``did_you_mean`` and, if nothing matched,
    returned as results. A broad query (more than about a thousand matches) ranks the terms
    with a query word in their name or an alias first, then the others; on PostgreSQL its
    ``total`` is then an estimate (``total_is_estimate``)."""
    words = search.tokens(q)

    def build(session: Session) -> SearchPage:
        return search_page(session, q, limit=limit, offset=offset, category=category, kind=kind)

    key = ("search", " ".join(words), q.strip().casefold(), limit, offset, category, kind)
    return send(request, await cache_of(request).get(key, build))


@router.get("/suggest", response_model=SuggestionList, responses=NOT_MODIFIED)
async def suggest(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=100, description="What was typed so far.")],
    limit: Annotated[int, Query(ge=1, le=20)] = 8,
) -> Response:
    """Names and aliases that start with ``q``, shortest first: for type-ahead."""

    def build(session: Session) -> SuggestionList:
        found = search.suggest(session, q, limit)
        return SuggestionList(query=q, items=[Suggestion(**vars(s)) for s in found])

    return send(request, await cache_of(request).get(("suggest", prefix_key(q), limit), build))
