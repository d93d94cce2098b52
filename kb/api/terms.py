"""Terms: list, look up (by slug, name or alias, any case) and related terms."""

import difflib
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlmodel import Session

from kb import editing, graph, history, repository
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
from kb.models import Term, TermRevision
from kb.relations import Relation
from kb.rules import fold_key, lookup_key
from kb.schemas import (
    API_PREFIX,
    Kind,
    NeighbourTerm,
    PathStep,
    RelatedList,
    TermDetail,
    TermHistory,
    TermIn,
    TermPage,
    TermVersion,
)

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
        raise _not_found(session, slug)
    return term


def _not_found(session: Session, slug: str) -> NotFound:
    return NotFound(
        f"No term is called {slug!r}. Check the spelling, or search for it with "
        "GET /api/v1/search?q=...; the closest slugs are listed in 'suggestions'.",
        repository.closest_slugs(session, slug),
    )


def require_category(session: Session, category: str | None) -> None:
    """404 for a ``category`` filter that names no category."""
    if category is None:
        return
    known = repository.category_slugs(session)
    if category not in known:
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


_VERSION_MAX = 1_000_000_000
_VERSION_PARAMETER = {
    "name": "version",
    "in": "query",
    "required": False,
    "description": "An earlier version, as recorded in the history: its record in the"
    " data-file shape.",
    "schema": {"type": "integer", "minimum": 1, "maximum": _VERSION_MAX},
}


def _version_asked(request: Request) -> int | None:
    """``?version=N``, read here rather than declared: a declared query parameter costs every
    lookup of the most requested route a fifth of its time, even when it is absent."""
    if not request.scope["query_string"]:
        return None
    raw = request.query_params.get("version")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= _VERSION_MAX:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "version"),
                    "msg": f"must be a whole number from 1 to {_VERSION_MAX}",
                    "input": raw,
                }
            ]
        )
    return int(raw)


@router.get(
    "/{slug}",
    response_model=TermDetail | TermVersion,
    responses=NOT_FOUND | NOT_MODIFIED,
    openapi_extra={"parameters": [_VERSION_PARAMETER]},
)
async def get_term(request: Request, slug: SlugOrAlias) -> Response:
    """The full record of a term (the ETag starts with its version), or one of its versions."""
    version = _version_asked(request)

    def build(session: Session) -> TermDetail | TermVersion:
        if version is None:
            return repository.term_detail(session, find_or_404(session, slug))
        revisions = _revisions_or_404(session, slug)
        for revision in revisions:
            if revision.version == version:
                return history.term_version(revision)
        known = ", ".join(str(r.version) for r in revisions)
        raise NotFound(
            f"Term {revisions[-1].slug!r} has no version {version} on record; its versions are:"
            f" {known} (GET /api/v1/terms/{revisions[-1].slug}/history).",
            [],
        )

    key = ("term", fold_key(slug), version)
    return send(request, await cache_of(request).get(key, build))


def _revisions_or_404(session: Session, slug: str) -> list[TermRevision]:
    """A term's versions; those of a deleted term too, by its exact slug."""
    term = repository.find_term(session, slug)
    revisions = history.revisions_of(session, term.slug if term else lookup_key(slug), term)
    if not revisions:
        find_or_404(session, slug)
    return revisions


@router.get("/{slug}/history", response_model=TermHistory, responses=NOT_FOUND | NOT_MODIFIED)
async def get_history(request: Request, slug: SlugOrAlias) -> Response:
    """Every version of a term on record, newest first: when, by which API key (or a load of
    the files), and which fields changed. A term nobody has edited has one: as loaded."""

    def build(session: Session) -> TermHistory:
        revisions = _revisions_or_404(session, slug)
        return history.term_history(revisions[-1].slug, revisions)

    return send(request, await cache_of(request).get(("history", lookup_key(slug)), build))


@router.post(
    "",
    response_model=TermDetail,
    status_code=201,
    responses=WRITE_ERRORS,
)
async def create_term(request: Request, term: TermIn, editor: Editor) -> Response:
    """Add a term (the fields of a data file's front matter, plus ``body``)."""

    def change(session: Session) -> TermDetail:
        return repository.term_detail(session, editing.create_term(session, term, editor), term)

    return await write(request, change, status_code=201, location=f"{API_PREFIX}/terms/{term.slug}")


@router.put(
    "/{slug}",
    response_model=TermDetail,
    responses=WRITE_ERRORS | NOT_FOUND,
)
async def replace_term(
    request: Request, slug: SlugOrAlias, term: TermIn, editor: Editor, expected: ExpectedVersion
) -> Response:
    """Replace a term's whole record (send every field; a missing optional one is cleared)."""

    def change(session: Session) -> TermDetail:
        row = find_or_404(session, slug)
        row = editing.replace_term(session, row, term, expected, editor)
        return repository.term_detail(session, row, term)

    return await write(request, change)


@router.patch(
    "/{slug}",
    response_model=TermDetail,
    responses=WRITE_ERRORS | NOT_FOUND,
)
async def patch_term(
    request: Request,
    slug: SlugOrAlias,
    patch: MergePatch,
    editor: Editor,
    expected: ExpectedVersion,
) -> Response:
    """Change some fields of a term's record."""

    def change(session: Session) -> TermDetail:
        found = repository.find_term_source(session, slug)
        if found is None:
            raise _not_found(session, slug)
        row, old, related = found
        term = validated(TermIn, merge_patch(history.record_of(old), patch))
        row = editing.replace_term(session, row, term, expected, editor, old)
        # The term's links change with its own related list only: no other list changed.
        unchanged = term.related == old.related
        return repository.term_detail(session, row, term, related if unchanged else None)

    return await write(request, change)


@router.delete(
    "/{slug}",
    status_code=204,
    responses=WRITE_ERRORS | NOT_FOUND,
)
async def delete_term(
    request: Request,
    slug: SlugOrAlias,
    editor: Editor,
    expected: ExpectedVersion,
    cascade: Annotated[
        Literal["links"] | None,
        Query(description="`links`: also remove the links other terms have to this one."),
    ] = None,
) -> Response:
    """Delete a term. If other terms link to it: 409 listing them, unless ``cascade=links``."""

    def change(session: Session) -> None:
        row = find_or_404(session, slug)
        editing.delete_term(session, row, expected, editor, cascade=cascade == "links")

    return await write(request, change)


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

    key = ("related", fold_key(slug), depth, relation)
    return send(request, await cache_of(request).get(key, build))
