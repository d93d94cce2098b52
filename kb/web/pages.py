"""The HTML pages: the same repository, search and graph code as the JSON API, rendered with
Jinja2 on the server.

Pages live outside ``/api/v1``, so no URL answers with both HTML and JSON. A page is rendered
once per data version and kept in the API's response cache (``kb.cache``), with an ETag: a
cached page costs what a cached API lookup costs.
"""

import functools
import itertools
import json
import logging
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from kb import graph, repository
from kb.api.demos import plot_url, source_code, unavailable_reason
from kb.api.deps import cache_of, get_engine, semantic_of
from kb.api.errors import NotFound
from kb.api.responses import send
from kb.api.search import search_mode, search_page
from kb.api.terms import find_or_404
from kb.cache import Rendered
from kb.demos import registry
from kb.demos.schemas import SourceCode
from kb.outage import unavailable_cause
from kb.relations import Relation
from kb.rules import lookup_key
from kb.schemas import API_PREFIX, ReferenceModel, TermDetail, TermSummary
from kb.web import drawing, forms, render

log = logging.getLogger(__name__)

HTML = "text/html; charset=utf-8"
SITE_NAME = "ML glossary"
RESULTS_PER_PAGE = 20
# Longer than any slug, name or alias (see kb.schemas); a longer path segment names nothing.
_MAX_NAME = 200

router = APIRouter(include_in_schema=False)

templates = Environment(
    loader=PackageLoader("kb.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

# How each relation reads as a heading on the page of the term it is seen from.
RELATION_HEADINGS = {
    Relation.broader: "Broader terms",
    Relation.narrower: "Narrower terms",
    Relation.variant_of: "Variant of",
    Relation.has_variant: "Variants",
    Relation.part_of: "Part of",
    Relation.has_part: "Parts",
    Relation.uses: "Uses",
    Relation.used_by: "Used by",
    Relation.contrasts_with: "Contrasts with",
    Relation.related: "Related",
}


class _Moved(Exception):
    """The name asked for is an alias (or another spelling) of the term at ``path``."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


# --- helpers ---------------------------------------------------------------------------------


# A Host header naming a host (a DNS name, IPv4 or bracketed IPv6 address) and maybe a port.
_HOST = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?")


def public_root(request: Request) -> str:
    """The site's root URL, without a trailing slash: ``KB_PUBLIC_URL`` or the request's."""
    return _root(request)[0]


@functools.cache
def _warn_uncached() -> None:
    # Once per process: a deployment behind a proxy that is not configured would otherwise
    # never learn why its pages are slow, and a stream of made-up hosts must not fill the log.
    log.warning(
        "a page was asked for under a Host that is not in KB_ALLOWED_HOSTS (at this port) and "
        "KB_PUBLIC_URL is unset: such pages are built afresh each time, never cached"
    )


def _root(request: Request) -> tuple[str, bool]:
    """The site's root URL, and whether pages linking to it may be cached.

    Pages embed the root (canonical links, JSON-LD, the sitemap), so a cached page is kept per
    root. The root is ``KB_PUBLIC_URL`` when set; otherwise the request's, which comes from
    its Host header: only a host of ``KB_ALLOWED_HOSTS`` reached at the server's own port (or
    with no port) gets its own cached pages, so that made-up Host headers cannot fill the
    cache or push out what others need.
    """
    configured: str | None = request.app.state.public_url
    if configured:
        return configured.rstrip("/"), True
    asked = str(request.base_url).rstrip("/")
    match = _HOST.fullmatch(request.headers.get("host", "").lower())
    if match is None:
        return asked, False
    server = request.scope.get("server")
    port = match["port"]
    allowed: frozenset[str] = request.app.state.allowed_hosts
    trusted = match["name"].strip("[]") in allowed and (
        port is None or (server is not None and int(port) == server[1])
    )
    return str(request.base_url.replace(netloc=match[0])).rstrip("/"), trusted


def _json_ld(data: dict[str, Any]) -> str:
    # Inside <script>, "</script>" or "<!--" in a body would end or derail the element; the
    # JSON escape \u003c reads the same to a JSON parser.
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")


def _same_as(references: list[ReferenceModel]) -> list[str]:
    """URLs of the same idea elsewhere, only from what the references state."""
    found: list[str] = []
    for ref in references:
        if ref.arxiv:
            found.append(f"https://arxiv.org/abs/{ref.arxiv}")
        if ref.doi:
            found.append(f"https://doi.org/{ref.doi}")
        if (urlsplit(ref.url).hostname or "").endswith(".wikipedia.org"):
            found.append(ref.url)
    return list(dict.fromkeys(found))


def term_json_ld(detail: TermDetail, root: str) -> str:
    """schema.org ``DefinedTerm`` of a term page, as the text of its JSON-LD script."""
    url = f"{root}/terms/{detail.slug}"
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "DefinedTerm",
        "@id": url,
        "url": url,
        "name": detail.name,
        "termCode": detail.slug,
        "description": detail.summary,
        "inDefinedTermSet": {"@type": "DefinedTermSet", "name": SITE_NAME, "url": f"{root}/"},
    }
    if detail.aliases:
        data["alternateName"] = detail.aliases
    same_as = _same_as(detail.references)
    if same_as:
        data["sameAs"] = same_as
    return _json_ld(data)


def _initial(name: str) -> str:
    # The API's ?letter= filter groups by the same key (kb.loader stores it as Term.initial).
    return lookup_key(name)[:1].upper()


def _page(template: str, root: str, path: str, **context: Any) -> Rendered:
    html = templates.get_template(template).render(
        site_name=SITE_NAME, canonical=f"{root}{path}", path=path, api=API_PREFIX, **context
    )
    return Rendered.of_bytes(html.encode())


async def _send(
    request: Request,
    key: tuple[Hashable, ...],
    render_page: Callable[[Session, str], Rendered],
    media_type: str = HTML,
    missing: str = "",
) -> Response:
    """The page built by ``render_page`` (given a session and the site's root URL), cached;
    ``missing`` is what the 404 page says if it raises NotFound."""
    root, cacheable = _root(request)

    def build(session: Session) -> Rendered:
        return render_page(session, root)

    def build_once() -> Rendered:
        with Session(get_engine(request)) as session:
            return build(session)

    try:
        if cacheable:
            rendered = await cache_of(request).get_rendered(("page", *key, root), build)
        else:
            _warn_uncached()
            rendered = await run_in_threadpool(build_once)
    except NotFound as exc:
        return await not_found_page(request, exc.body.suggestions, missing)
    except _Moved as moved:
        return RedirectResponse(moved.path, status_code=301)
    return send(request, rendered, media_type)


# --- pages -----------------------------------------------------------------------------------


@router.get("/")
async def index(request: Request) -> Response:
    """Categories with their terms, the search box and an A-Z index."""

    def render_page(session: Session, root: str) -> Rendered:
        terms = repository.list_terms(session, limit=repository.count_terms(session) or 1).items
        categories = repository.list_categories(session)
        by_category = {c.slug: [t for t in terms if t.category == c.slug] for c in categories}
        letters = [(k, list(g)) for k, g in itertools.groupby(terms, lambda t: _initial(t.name))]
        return _page(
            "index.html",
            root,
            "/",
            categories=categories,
            by_category=by_category,
            letters=letters,
            term_count=len(terms),
        )

    return await _send(request, ("index",), render_page)


@dataclass(frozen=True)
class DemoPanel:
    slug: str
    title: str
    description: str
    run_url: str
    featured: list[forms.Control]
    """The parameters shown first, the demo's ``featured`` ones."""
    more: list[forms.Control]
    """The others, in their model's order, under "More parameters"."""
    default_plot: str | None
    """The plot of the run with every parameter at its default (None: it cannot run here)."""
    unavailable: str | None
    """Why the demo cannot run on this server (a model it needs is missing), or None."""
    sources: list[SourceCode]
    known_terms: dict[str, str]
    """Names of the terms the sources implement, by slug: those in this glossary only."""


def _demo_panel(request: Request, session: Session, detail: TermDetail) -> DemoPanel | None:
    demo = registry.get(detail.demo.slug) if detail.demo else None
    if demo is None:
        return None
    unavailable = unavailable_reason(request, demo)
    controls = forms.controls(demo.params.model_json_schema())
    by_name = {control.name: control for control in controls}
    known = {}
    for source in demo.sources:
        term = repository.find_term(session, source.term)
        if term is not None and term.slug == source.term:
            known[term.slug] = term.name
    return DemoPanel(
        slug=demo.slug,
        title=demo.title,
        description=demo.description,
        run_url=f"{API_PREFIX}/terms/{detail.slug}/demo",
        featured=[by_name[name] for name in demo.featured_params],
        more=[c for c in controls if c.name not in demo.featured_params],
        default_plot=None if unavailable else plot_url(detail.slug, demo.params()),
        unavailable=unavailable,
        sources=source_code(demo),
        known_terms=known,
    )


@router.get("/terms/{slug}")
async def term_page(request: Request, slug: str) -> Response:
    """A term: its text with typeset formulas, links, references and its demo."""
    if len(slug) > _MAX_NAME:
        return await not_found_page(request, [], "No term has a name that long.")

    def render_page(session: Session, root: str) -> Rendered:
        term = find_or_404(session, slug)
        if term.slug != slug:
            raise _Moved(f"/terms/{term.slug}")
        detail = repository.term_detail(session, term)
        related = [
            (RELATION_HEADINGS[relation], list(items))
            for relation, items in itertools.groupby(detail.related, lambda r: r.relation)
        ]
        return _page(
            "term.html",
            root,
            f"/terms/{detail.slug}",
            term=detail,
            body=render.body_html(detail.body),
            related=related,
            demo=_demo_panel(request, session, detail),
            json_ld=term_json_ld(detail, root),
        )

    key = ("term", slug, registry.generation())
    return await _send(request, key, render_page, missing=f"No term is called “{slug}”.")


def _page_number(request: Request) -> int:
    # An HTML page answers any query with HTML: a page number that is not one is page 1.
    text = request.query_params.get("page", "1")
    return int(text) if text.isdecimal() and 0 < int(text) <= 500 else 1


@router.get("/search")
async def search(request: Request) -> Response:
    """Search results with highlighted snippets and did-you-mean."""
    q = request.query_params.get("q", "").strip()[:500]
    number = _page_number(request)
    index = semantic_of(request)
    mode = search_mode(None, index)

    def render_page(session: Session, root: str) -> Rendered:
        found = None
        if q:
            offset = (number - 1) * RESULTS_PER_PAGE
            found = search_page(
                session, q, limit=RESULTS_PER_PAGE, offset=offset, mode=mode, index=index
            )

        def link(page: int) -> str:
            return "/search?" + urlencode({"q": q} | ({"page": page} if page > 1 else {}))

        pages = -(-found.total // RESULTS_PER_PAGE) if found else 0
        return _page(
            "search.html",
            root,
            link(number) if q else "/search",
            q=q,
            found=found,
            number=number,
            previous=link(number - 1) if number > 1 else None,
            next=link(number + 1) if number < pages else None,
            corrected=found
            and found.did_you_mean
            and "/search?" + urlencode({"q": found.did_you_mean}),
        )

    return await _send(request, ("search", mode, q, number), render_page)


@router.get("/graph")
async def graph_page(request: Request) -> Response:
    """The term graph, a picture per category, every term a link to its page."""

    def render_page(session: Session, root: str) -> Rendered:
        categories = repository.list_categories(session)
        whole = graph.whole_graph(session)
        names = {term.slug: term.name for term, _ in whole.nodes}
        return _page(
            "graph.html",
            root,
            "/graph",
            categories={c.slug: c for c in categories},
            pictures=drawing.pictures(whole, [c.slug for c in categories]),
            names=names,
            relations=sorted({relation for _, relation, _ in whole.edges}),
            styles=drawing.STYLES,
            edge_count=len(whole.edges),
        )

    return await _send(request, ("graph",), render_page)


@router.get("/sitemap.xml")
async def sitemap(request: Request) -> Response:
    """Every page worth indexing: the home page, the graph and each term."""

    def render_page(session: Session, root: str) -> Rendered:
        terms = repository.list_terms(session, limit=repository.count_terms(session) or 1).items
        paths = ["/", "/graph", *(f"/terms/{t.slug}" for t in terms)]
        return _page("sitemap.xml", root, "/sitemap.xml", urls=[f"{root}{p}" for p in paths])

    return await _send(request, ("sitemap",), render_page, "application/xml")


# --- not found -------------------------------------------------------------------------------


def _suggested(session: Session, slugs: list[str], asked: str | None) -> list[TermSummary]:
    if asked is not None:
        slugs = repository.closest_slugs(session, asked)
    found = []
    for slug in slugs:
        term = repository.find_term(session, slug)
        if term is not None:
            found.append(repository.term_summary(session, term))
    return found


async def not_found_page(
    request: Request, suggestions: list[str], detail: str, asked: str | None = None
) -> Response:
    """A 404 page with the terms closest to ``suggestions`` (slugs), or to ``asked``."""

    def load() -> list[TermSummary]:
        with Session(get_engine(request)) as session:
            return _suggested(session, suggestions, asked)

    try:
        closest = await run_in_threadpool(load)
    except SQLAlchemyError as exc:
        if unavailable_cause(exc) is None:
            raise
        closest = []  # the page says what it can without the database
    path = request.url.path
    html = _page(
        "not_found.html",
        public_root(request),
        path,
        detail=detail,
        closest=closest,
        query=(asked or "").replace("-", " "),
    )
    return Response(html.body, status_code=404, media_type=HTML)


def unavailable_page(request: Request, retry_after: str) -> Response:
    """A 503 page for a database that cannot serve: try again after ``retry_after`` s."""
    html = _page(
        "unavailable.html", public_root(request), request.url.path, retry_after=retry_after
    )
    headers = {"Retry-After": retry_after}
    return Response(html.body, status_code=503, media_type=HTML, headers=headers)
