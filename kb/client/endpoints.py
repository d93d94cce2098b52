"""One function per API route: its arguments as a ``Call``, and how to read the answer."""

import json
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote

from pydantic import BaseModel, ConfigDict

from kb.client.protocol import Call
from kb.demos.query import to_query
from kb.demos.schemas import DemoCatalogue, DemoDetail, DemoRun
from kb.relations import Relation
from kb.schemas import (
    CategoryDetail,
    CategoryList,
    Graph,
    Health,
    Kind,
    RelatedList,
    SearchMode,
    SearchPage,
    SuggestionList,
    TermDetail,
    TermPage,
    TermPath,
)

M = TypeVar("M", bound=BaseModel)

PAGE_SIZE = 100
"""The most terms the API returns in one page."""


def _get(path: str, model: type[M], **params: object) -> Call[M]:
    query = tuple((name, str(value)) for name, value in params.items() if value is not None)
    return Call("GET", path, model.model_validate_json, query)


def _segment(name: str) -> str:
    """A slug, name or alias as one path segment ("batch norm", "a/b" included)."""
    return quote(name, safe="")


def term(slug: str) -> Call[TermDetail]:
    return _get(f"/terms/{_segment(slug)}", TermDetail)


def terms_page(
    category: str | None, kind: Kind | None, letter: str | None, offset: int, limit: int
) -> Call[TermPage]:
    return _get(
        "/terms", TermPage, category=category, kind=kind, letter=letter, limit=limit,
        offset=offset,
    )  # fmt: skip


def next_offset(page: TermPage) -> int | None:
    """Where the page after ``page`` starts; None after the last one."""
    end = page.offset + len(page.items)
    return end if page.items and end < page.total else None


def related(slug: str, depth: int, relation: Relation | str | None) -> Call[RelatedList]:
    return _get(f"/terms/{_segment(slug)}/related", RelatedList, depth=depth, relation=relation)


def path(source: str, target: str) -> Call[TermPath]:
    return _get("/graph/path", TermPath, **{"from": source, "to": target})


def graph(category: str | None) -> Call[Graph]:
    return _get("/graph", Graph, category=category)


def search(
    q: str,
    category: str | None,
    kind: Kind | None,
    limit: int,
    offset: int,
    mode: SearchMode | None = None,
) -> Call[SearchPage]:
    return _get(
        "/search",
        SearchPage,
        q=q,
        category=category,
        kind=kind,
        limit=limit,
        offset=offset,
        mode=mode,
    )


def suggest(q: str, limit: int) -> Call[SuggestionList]:
    return _get("/suggest", SuggestionList, q=q, limit=limit)


def categories() -> Call[CategoryList]:
    return _get("/categories", CategoryList)


def category(slug: str) -> Call[CategoryDetail]:
    return _get(f"/categories/{_segment(slug)}", CategoryDetail)


def health() -> Call[Health]:
    return _get("/health", Health)


def demos() -> Call[DemoCatalogue]:
    return _get("/demos", DemoCatalogue)


def demo(slug: str) -> Call[DemoDetail]:
    return _get(f"/terms/{_segment(slug)}/demo", DemoDetail)


def run_demo(slug: str, params: Mapping[str, Any]) -> Call[DemoRun]:
    # A run is a pure function of its parameters and seed that writes nothing (the server
    # caches it and shares identical runs in flight), and a 503 means it never started: so
    # it is safe to repeat, and retried like a GET.
    return Call(
        "POST",
        f"/terms/{_segment(slug)}/demo",
        DemoRun.model_validate_json,
        json=json.dumps(dict(params), allow_nan=False).encode(),
        idempotent=True,
    )


class _Params(BaseModel):
    model_config = ConfigDict(extra="allow")


def demo_plot(slug: str, params: Mapping[str, Any]) -> Call[bytes]:
    # The server's own encoding: lists comma-separated, a matrix one repeated name per row.
    query = tuple(parse_qsl(to_query(_Params(**params)), keep_blank_values=True))
    return Call(
        "GET", f"/terms/{_segment(slug)}/demo/plot.svg", bytes, query, accept="image/svg+xml"
    )
