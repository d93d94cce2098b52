"""Categories and the terms in each."""

import difflib
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlmodel import Session

from kb import editing, repository
from kb.api.deps import cache_of
from kb.api.errors import NOT_FOUND, NOT_MODIFIED, NotFound
from kb.api.responses import send
from kb.api.writes import (
    WRITE_ERRORS,
    ExpectedVersion,
    MergePatch,
    merge_patch,
    validated,
    write,
)
from kb.auth import Editor
from kb.models import Category
from kb.schemas import API_PREFIX, CategoryDetail, CategoryIn, CategoryList

router = APIRouter(prefix="/categories", tags=["categories"])

CategorySlug = Annotated[str, Path(min_length=1, max_length=80, description="A category's slug.")]


@router.get("", response_model=CategoryList, responses=NOT_MODIFIED)
async def list_categories(request: Request) -> Response:
    """Every category, in the order of ``categories.yaml``, with its number of terms."""

    def build(session: Session) -> CategoryList:
        return CategoryList(items=repository.list_categories(session))

    return send(request, await cache_of(request).get(("categories",), build))


@router.get("/{slug}", response_model=CategoryDetail, responses=NOT_FOUND | NOT_MODIFIED)
async def get_category(request: Request, slug: CategorySlug) -> Response:
    """A category with all of its terms."""

    def build(session: Session) -> CategoryDetail:
        return repository.category_detail(session, _find_or_404(session, slug))

    return send(request, await cache_of(request).get(("category", slug.casefold()), build))


def _find_or_404(session: Session, slug: str) -> Category:
    category = repository.find_category(session, slug)
    if category is None:
        known = repository.category_slugs(session)
        raise NotFound(
            f"No category is called {slug!r}; GET /api/v1/categories lists them all.",
            difflib.get_close_matches(slug.casefold(), known, n=3, cutoff=0.3),
        )
    return category


@router.post("", response_model=CategoryDetail, status_code=201, responses=WRITE_ERRORS)
async def create_category(request: Request, category: CategoryIn, _editor: Editor) -> Response:
    """Add a category (slug, name, description); it is listed after the existing ones."""

    def change(session: Session) -> CategoryDetail:
        return repository.category_detail(session, editing.create_category(session, category))

    location = f"{API_PREFIX}/categories/{category.slug}"
    return await write(request, change, status_code=201, location=location)


@router.put("/{slug}", response_model=CategoryDetail, responses=WRITE_ERRORS | NOT_FOUND)
async def replace_category(
    request: Request,
    slug: CategorySlug,
    category: CategoryIn,
    _editor: Editor,
    expected: ExpectedVersion,
) -> Response:
    """Replace a category's name and description (its slug cannot change)."""

    def change(session: Session) -> CategoryDetail:
        row = _find_or_404(session, slug)
        return repository.category_detail(
            session, editing.replace_category(session, row, category, expected)
        )

    return await write(request, change)


@router.patch("/{slug}", response_model=CategoryDetail, responses=WRITE_ERRORS | NOT_FOUND)
async def patch_category(
    request: Request,
    slug: CategorySlug,
    patch: MergePatch,
    _editor: Editor,
    expected: ExpectedVersion,
) -> Response:
    """Change a category's name or description."""

    def change(session: Session) -> CategoryDetail:
        row = _find_or_404(session, slug)
        current = {"slug": row.slug, "name": row.name, "description": row.description}
        category = validated(CategoryIn, merge_patch(current, patch))
        return repository.category_detail(
            session, editing.replace_category(session, row, category, expected)
        )

    return await write(request, change)


@router.delete("/{slug}", status_code=204, responses=WRITE_ERRORS | NOT_FOUND)
async def delete_category(
    request: Request, slug: CategorySlug, _editor: Editor, expected: ExpectedVersion
) -> Response:
    """Delete a category that has no terms (409 lists them otherwise)."""

    def change(session: Session) -> None:
        editing.delete_category(session, _find_or_404(session, slug), expected)

    return await write(request, change)
