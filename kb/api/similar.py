"""Terms near a term by meaning that it is not linked to: for editors looking for missing links."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlmodel import Session

from kb import graph, repository
from kb.api.deps import cache_of, semantic_of
from kb.api.errors import NOT_FOUND, NOT_MODIFIED, NotFound
from kb.api.responses import send
from kb.api.terms import SlugOrAlias, find_or_404
from kb.rules import fold_key
from kb.schemas import SimilarList, SimilarTerm

router = APIRouter(prefix="/terms", tags=["terms"])


@router.get(
    "/{slug}/similar",
    response_model=SimilarList,
    responses=NOT_FOUND | NOT_MODIFIED | {503: {"description": "The vectors are not there yet."}},
)
async def get_similar(
    request: Request,
    slug: SlugOrAlias,
    limit: Annotated[int, Query(ge=1, le=50, description="How many terms to return.")] = 10,
) -> Response:
    """The terms nearest to this one by meaning (the cosine of its names-and-summary text with
    each other term's texts, the best of them) that it is not already linked to, in either
    direction, nearest first. 404 also when the
    server has no model; 503 while the term's vectors are still being computed."""
    index = semantic_of(request)
    if not index.enabled:
        raise NotFound(
            "This server has no sentence encoder, so no similar terms (see /api/v1/health):"
            " fetch it with `kb model fetch` and restart the server.",
            [],
        )

    def build(session: Session) -> SimilarList:
        term = find_or_404(session, slug)
        assert term.id is not None
        index.notice(repository.data_version(session))
        linked = {r.slug for r in repository.related_terms(session, term.id)}
        nearest = index.similar(term.id, limit, exclude=linked)
        if nearest is None:
            raise HTTPException(
                503,
                f"the vectors of {term.slug!r} are still being computed; try again shortly"
                " (GET /api/v1/health shows the progress)",
                headers={"Retry-After": "5"},
            )
        terms = graph.terms_by_id(session, (term_id for term_id, _ in nearest))
        info = index.matrix.info
        items = [
            SimilarTerm(
                slug=terms[term_id].slug,
                name=terms[term_id].name,
                summary=terms[term_id].summary,
                category=info[term_id].category,
                kind="algorithm" if terms[term_id].kind == "algorithm" else "concept",
                score=round(score, 6),
            )
            for term_id, score in nearest
            if term_id in terms
        ]
        return SimilarList(term=term.slug, items=items)

    return send(request, await cache_of(request).get(("similar", fold_key(slug), limit), build))
