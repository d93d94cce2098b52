"""Categories and the terms in each."""

import difflib
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlmodel import Session

from kb import repository
from kb.api.deps import cache_of
from kb.api.errors import NOT_FOUND, NOT_MODIFIED, NotFound
from kb.api.responses import send
from kb.schemas import CategoryDetail, CategoryList

router = APIRouter(prefix="/categories", tags=["categories"])


@router.get("", response_model=CategoryList, responses=NOT_MODIFIED)
async def list_categories(request: Request) -> Response:
    """Every category, in the order of ``categories.yaml``, with its number of terms."""

    def build(session: Session) -> CategoryList:
        return CategoryList(items=repository.list_categories(session))

    return send(request, await cache_of(request).get(("categories",), build))


@router.get("/{slug}", response_model=CategoryDetail, responses=NOT_FOUND | NOT_MODIFIED)
async def get_category(
    request: Request, slug: Annotated[str, Path(min_length=1, max_length=80)]
) -> Response:
    """A category with all of its terms."""

    def build(session: Session) -> CategoryDetail:
        detail = repository.category_detail(session, slug)
        if detail is None:
            known = repository.category_slugs(session)
            raise NotFound(
                f"No category is called {slug!r}; GET /api/v1/categories lists them all.",
                difflib.get_close_matches(slug.casefold(), known, n=3, cutoff=0.3),
            )
        return detail

    return send(request, await cache_of(request).get(("category", slug.casefold()), build))
