"""Search (full text with typo tolerance) and type-ahead suggestions."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session

from kb import repository, search
from kb.api.deps import cache_of, semantic_of
from kb.api.errors import NOT_FOUND, NOT_MODIFIED
from kb.api.responses import send
from kb.api.terms import require_category
from kb.models import Category
from kb.rules import prefix_key
from kb.schemas import (
    Kind,
    SearchMode,
    SearchPage,
    SearchResult,
    Suggestion,
    SuggestionList,
)
from kb.semantic import SemanticIndex, TermInfo, fuse

router = APIRouter(tags=["search"])

# Fewer full-text matches than this and the typo fallback is consulted too.
_FEW = 3


def _result(hit: search.Hit) -> SearchResult:
    kind = "algorithm" if hit.kind == "algorithm" else "concept"
    return SearchResult(**{**vars(hit), "kind": kind})


# Search by meaning: how many lexical matches the fusion weighs (beyond 20 the bonus is under
# 0.03; 100 measured the same and cost 100 snippets a search), the least cosine a term needs
# to be offered by meaning alone, and the weight and offset of a lexical rank in the fusion
# (``kb.semantic.fuse``). Chosen on tests/kb/search_queries.py; bench/RESULTS.md has the
# measurements.
CANDIDATES = 20
SEMANTIC_FLOOR = 0.3
LEXICAL_WEIGHT = 0.2
LEXICAL_OFFSET = 3.0


def search_mode(requested: SearchMode | None, index: SemanticIndex) -> SearchMode:
    """The mode a search runs in: the one asked for, hybrid by default; lexical whenever the
    server has no model (the answer's ``mode`` says so)."""
    if not index.enabled:
        return "lexical"
    return requested or "hybrid"


def search_page(
    session: Session,
    q: str,
    *,
    limit: int = 20,
    offset: int = 0,
    category: str | None = None,
    kind: Kind | None = None,
    mode: SearchMode = "lexical",
    index: SemanticIndex | None = None,
) -> SearchPage:
    """A page of terms matching ``q`` in ``mode``, with did-you-mean: what /search answers
    (and the web search page shows). ``index`` is needed for the modes other than lexical."""
    if mode == "lexical":
        return _lexical_page(session, q, limit=limit, offset=offset, category=category, kind=kind)
    assert index is not None and index.enabled
    return _meaning_page(session, q, mode, index, limit, offset, category, kind)


def _meaning_page(
    session: Session,
    q: str,
    mode: SearchMode,
    index: SemanticIndex,
    limit: int,
    offset: int,
    category: str | None,
    kind: Kind | None,
) -> SearchPage:
    """Hybrid: the lexical and the semantic rankings fused; semantic: by meaning alone. Either
    way a term that ``q`` names (slug, name or alias, as look-ups fold them) comes first."""
    require_category(session, category)
    index.notice(repository.data_version(session))

    def keep(info: TermInfo) -> bool:
        return (category is None or info.category == category) and (
            kind is None or info.kind == kind
        )

    cosines = index.cosines(q, keep)
    lexical = None
    if mode == "hybrid":
        lexical = _lexical_page(
            session, q, limit=CANDIDATES, offset=0, category=category, kind=kind
        )
        ranking = [item.slug for item in lexical.items]
        fused = fuse(cosines, ranking, LEXICAL_WEIGHT, LEXICAL_OFFSET, SEMANTIC_FLOOR)
    else:
        fused = fuse(cosines, [], 0.0, 1.0, SEMANTIC_FLOOR)
    named = repository.find_term(session, q)
    if named is not None and (kind is None or named.kind == kind):
        term_category = session.get(Category, named.category_id)
        if category is None or (term_category is not None and term_category.slug == category):
            top = fused[0][1] if fused else 1.0
            fused = [(named.slug, top)] + [(s, v) for s, v in fused if s != named.slug]
    page = fused[offset : offset + limit]
    found = {item.slug: item for item in lexical.items} if lexical else {}
    missing = [slug for slug, _ in page if slug not in found]
    if missing:
        ids = index.term_ids(missing)
        if named is not None and named.slug in missing:
            ids[named.slug] = int(named.id or 0)
        hits = search.page_hits(
            session, [(ids[slug], 0.0) for slug in missing if slug in ids], search.tokens(q)
        )
        found |= {hit.slug: _result(hit) for hit in hits}
    items = [
        found[slug].model_copy(update={"score": round(score, 6)})
        for slug, score in page
        if slug in found
    ]
    return SearchPage(
        query=q,
        mode=mode,
        items=items,
        total=len(fused),
        limit=limit,
        offset=offset,
        did_you_mean=lexical.did_you_mean if lexical else None,
    )


def _lexical_page(
    session: Session,
    q: str,
    *,
    limit: int,
    offset: int,
    category: str | None,
    kind: Kind | None,
) -> SearchPage:
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
        mode="lexical",
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
    mode: Annotated[
        SearchMode | None,
        Query(
            description="hybrid (the default): words and meaning fused; lexical: words only;"
            " semantic: meaning only. A server without the model answers lexically (and its"
            " answer's mode says so)."
        ),
    ] = None,
) -> Response:
    """Terms ranked by how well their name, aliases, summary and body match ``q`` (name and
    aliases weigh most); a term whose slug, name or alias is exactly ``q`` comes first. Every
    word must match; if no term has them all, terms with any of them are returned (unless
    ``q`` names a term: then that term alone). When that finds little, the names and aliases
    nearest by edit distance are offered as ``did_you_mean`` and, if nothing matched,
    returned as results. A broad query (more than about a thousand matches) ranks the terms
    with a query word in their name or an alias first, then the others; on PostgreSQL its
    ``total`` is then an estimate (``total_is_estimate``). In ``hybrid`` mode the ranking is
    fused with the terms nearest to ``q`` by meaning (a term's cosine plus a bonus for its
    lexical rank); ``mode`` in the answer says which ranked it."""
    words = search.tokens(q)
    index = semantic_of(request)
    chosen = search_mode(mode, index)

    def build(session: Session) -> SearchPage:
        return search_page(
            session,
            q,
            limit=limit,
            offset=offset,
            category=category,
            kind=kind,
            mode=chosen,
            index=index,
        )

    key = ("search", chosen, " ".join(words), q.strip().casefold(), limit, offset, category, kind)
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
