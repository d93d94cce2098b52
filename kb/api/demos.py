"""Demos: run a term's reference implementation with the caller's parameters.

Runs happen in worker processes (``kb.demos.runner``); this module validates, prices and
routes them, and turns the runner's refusals into HTTP answers: 422 (invalid or over budget),
503 with Retry-After (every worker busy), 503 without (a demo that needs the sentence
encoder on a server without it), 504 (time limit), never a hung request.
"""

import difflib
import hashlib
import json
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from kb import encoder_files, repository
from kb.api.deps import cache_of
from kb.api.errors import NOT_FOUND, NOT_MODIFIED, NotFound, Responses
from kb.api.responses import client_has, send
from kb.api.terms import SlugOrAlias, find_or_404
from kb.demos import registry, sources
from kb.demos.base import Demo, DemoParams, budget_errors
from kb.demos.encoder import model_missing_message
from kb.demos.query import from_query, to_query
from kb.demos.runner import DemoFailed, Outcome, Runner, Saturated, TimedOut
from kb.demos.schemas import (
    DemoCatalogue,
    DemoDetail,
    DemoLinks,
    DemoRun,
    DemoRunHead,
    DemoSummary,
    DemoTarget,
    SourceCode,
)
from kb.demos.worker import Job
from kb.rules import fold_key
from kb.schemas import API_PREFIX, ErrorBody

log = logging.getLogger(__name__)


class _SharedPathRoute(APIRoute):
    """Answers a method that no route of its path serves with a 405 whose Allow header lists
    every route of that path (GET and POST /terms/{slug}/demo are two routes; Starlette would
    list the methods of the first one only)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allowed = {
                method
                for route in router.routes
                if isinstance(route, APIRoute) and route.path_format == self.path_format
                for method in route.methods or ()
            }
            raise StarletteHTTPException(405, headers={"Allow": ", ".join(sorted(allowed))})
        await super().handle(scope, receive, send)


router = APIRouter(tags=["demos"], route_class=_SharedPathRoute)

RETRY_AFTER_S = 1
# Equal parameters give equal plots for as long as the code is unchanged (see the ETag).
_PLOT_CACHE_CONTROL = "public, max-age=86400"

RUN_ERRORS: Responses = {
    400: {"model": ErrorBody, "description": "The body is not UTF-8."},
    413: {"model": ErrorBody, "description": "The body is larger than 1 MiB."},
    415: {"model": ErrorBody, "description": "The body is not declared as JSON."},
    500: {"model": ErrorBody, "description": "The demo failed; the detail says how."},
    503: {
        "model": ErrorBody,
        "description": "Every demo worker is busy (try again after Retry-After seconds), or"
        " the demo needs the sentence encoder and the server has none (`kb model fetch`).",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
    504: {"model": ErrorBody, "description": "The run exceeded the time limit and was stopped."},
}
_BODY = {
    "requestBody": {
        "required": False,
        "description": "The demo's parameters, all optional (their JSON Schema is `parameters` "
        "in GET /api/v1/terms/{slug}/demo), and `seed`. Unknown names are rejected.",
        "content": {
            "application/json": {
                "schema": {"type": "object", "additionalProperties": True},
                "example": {"problem": "quadratic", "steps": 200, "seed": 1},
            }
        },
    }
}


def runner_of(request: Request) -> Runner:
    runner: Runner = request.app.state.demo_runner
    return runner


# --- describing demos --------------------------------------------------------------------------


def _links(term: str) -> DemoLinks:
    href = f"{API_PREFIX}/terms/{term}"
    return DemoLinks(self=f"{href}/demo", plot=f"{href}/demo/plot.svg", term=href)


def _summary(demo: Demo[Any], term: str) -> DemoSummary:
    return DemoSummary(
        slug=demo.slug,
        title=demo.title,
        term=term,
        terms=list(demo.terms),
        description=demo.description,
        parameters=demo.params.model_json_schema(),
        links=_links(term),
    )


def source_code(demo: Demo[Any]) -> list[SourceCode]:
    return [
        SourceCode(
            module=source.module,
            function=source.name,
            reference=source.ref,
            term=source.term,
            equations=f"{API_PREFIX}/terms/{source.term}",
            source=sources.text_of(source),
        )
        for source in demo.sources
    ]


def _terms_with_demo(session: Session) -> list[str]:
    found = []
    for demo in registry.DEMOS.values():
        for slug in demo.terms:
            term = repository.find_term(session, slug)
            if term is not None and term.slug == slug and term.demo == demo.slug:
                found.append(slug)
    return sorted(found)


def _resolve(session: Session, slug: str) -> DemoTarget:
    term = find_or_404(session, slug)
    if term.demo is not None and registry.get(term.demo) is not None:
        return DemoTarget(term=term.slug, demo=term.demo)
    with_demo = _terms_with_demo(session)
    listed = ", ".join(with_demo) if with_demo else "none in this glossary"
    raise NotFound(
        f"Term {term.slug!r} has no demo. Terms with one: {listed}. "
        "GET /api/v1/demos lists every demo.",
        difflib.get_close_matches(term.slug, with_demo, n=5, cutoff=0.0),
    )


async def _target(request: Request, slug: str) -> tuple[DemoTarget, Demo[Any]]:
    def build(session: Session) -> DemoTarget:
        return _resolve(session, slug)

    key = ("demo-target", fold_key(slug), registry.generation())
    target = DemoTarget.model_validate_json((await cache_of(request).get(key, build)).body)
    demo = registry.get(target.demo)
    if demo is None:  # unregistered since the lookup was cached
        raise NotFound(f"Term {target.term!r} has no demo.", [])
    return target, demo


@router.get("/demos", response_model=DemoCatalogue, responses=NOT_MODIFIED)
async def list_demos(request: Request) -> Response:
    """Every demo: what it shows, the terms it belongs to and its parameters."""

    def build(_session: Session) -> DemoCatalogue:
        return DemoCatalogue(
            items=[_summary(demo, demo.terms[0]) for demo in registry.DEMOS.values()]
        )

    return send(request, await cache_of(request).get(("demos", registry.generation()), build))


@router.get("/terms/{slug}/demo", response_model=DemoDetail, responses=NOT_FOUND | NOT_MODIFIED)
async def get_demo(request: Request, slug: SlugOrAlias) -> Response:
    """A term's demo: its parameters and the source code of the reference functions it runs."""

    def build(session: Session) -> DemoDetail:
        target = _resolve(session, slug)
        demo = registry.DEMOS[target.demo]
        summary = _summary(demo, target.term)
        return DemoDetail(**dict(summary), sources=source_code(demo))

    key = ("demo", fold_key(slug), registry.generation())
    return send(request, await cache_of(request).get(key, build))


# --- running demos -----------------------------------------------------------------------------


def _validated(demo: Demo[Any], data: Any, where: str) -> DemoParams:
    """The parameters, or 422 naming each bad one (unknown, out of bounds, over budget)."""
    if not isinstance(data, dict):
        raise RequestValidationError(
            [
                {
                    "loc": [where],
                    "msg": "the parameters must be a JSON object of name: value",
                    "type": "model_type",
                    "input": None,
                }
            ]
        )
    try:
        # Lax validation: query values arrive as strings ("200", "true", "1e-3").
        params: DemoParams = demo.params.model_validate(data)
    except ValidationError as exc:
        errors = [
            {**error, "loc": [where, *error["loc"]]} for error in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None
    over = budget_errors(demo, params)
    if over:
        for error in over:
            error["loc"][0] = where
        raise RequestValidationError(over)
    return params


async def _json_body(request: Request) -> Any:
    """The body as JSON ({} when empty); ``kb.api.gate`` has bounded its size and checked that it
    is UTF-8."""
    raw = (await request.body()).strip()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except RecursionError:
        message = "invalid JSON: nested too deeply"
    except ValueError as exc:
        message = f"invalid JSON: {exc}"
    raise RequestValidationError([{"loc": ["body"], "msg": message, "type": "json_invalid"}])


def unavailable_reason(request: Request, demo: Demo[Any]) -> str | None:
    """Why ``demo`` cannot run on this server (a model it needs is missing), or None."""
    model_dir = request.app.state.semantic.model_dir
    if demo.needs_model and not encoder_files.is_present(model_dir):
        return model_missing_message(model_dir)
    return None


async def _outcome(request: Request, demo: Demo[Any], params: DemoParams, plot: bool) -> Outcome:
    reason = unavailable_reason(request, demo)
    if reason is not None:
        raise _Refused(503, reason)
    job = Job(run=demo.run, params=params, plot=demo.plot if plot else None)
    runner = runner_of(request)
    try:
        return await runner.run((demo.slug, params.model_dump_json()), job)
    except Saturated as exc:
        raise _Refused(
            503,
            f"{exc}: at most {runner.concurrency} demos run at once. Try again in "
            f"{RETRY_AFTER_S} s (Retry-After), or repeat an earlier request (recent results "
            "are cached).",
            {"Retry-After": str(RETRY_AFTER_S)},
        ) from None
    except TimedOut as exc:
        raise _Refused(
            504,
            f"{exc} (the limit is {runner.timeout_s:g} s). Lower the largest parameters "
            "(steps, epochs, sizes) and try again.",
        ) from None
    except DemoFailed as exc:
        log.error("demo %s failed with %s: %s", demo.slug, params.model_dump_json(), exc)
        raise _Refused(500, f"the demo failed: {exc}") from None


class _Refused(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.response = JSONResponse({"detail": detail}, status_code=status, headers=headers)


def plot_url(term: str, params: DemoParams) -> str:
    """Where the plot of a run of ``term``'s demo with ``params`` is drawn."""
    query = to_query(params)
    return f"{API_PREFIX}/terms/{term}/demo/plot.svg" + (f"?{query}" if query else "")


@router.post(
    "/terms/{slug}/demo",
    response_model=DemoRun,
    responses=NOT_FOUND | RUN_ERRORS,
    openapi_extra=_BODY,
)
async def run_demo(request: Request, slug: SlugOrAlias) -> Response:
    """Run the term's demo with the parameters in the body (all optional) and a seed.

    Equal parameters and seed give equal `metrics` and `series`. Refused with 422 when a
    parameter is unknown, out of bounds or makes the run too expensive (the error names the
    parameter to lower), with 503 when every worker is busy, with 504 past the time limit.
    """
    target, demo = await _target(request, slug)
    params = _validated(demo, await _json_body(request), "body")
    try:
        outcome = await _outcome(request, demo, params, plot=False)
    except _Refused as refused:
        return refused.response
    head = DemoRunHead(
        demo=demo.slug,
        term=target.term,
        params=params.model_dump(mode="json", exclude={"seed"}),
        seed=params.seed,
        elapsed_ms=outcome.elapsed_ms,
        reference=outcome.references or [source.ref for source in demo.sources],
        plot=plot_url(target.term, params),
        cached=outcome.cached,
    )
    # Two JSON objects joined into one ({head..., metrics, series}): the worker encoded the
    # large part, so the event loop does not.
    body = head.model_dump_json().encode()[:-1] + b"," + outcome.body[1:]
    return Response(body, media_type="application/json")


@router.get(
    "/terms/{slug}/demo/plot.svg",
    # A plain Response: the plot is documented below as SVG, the errors stay JSON.
    response_class=Response,
    responses=NOT_FOUND
    | NOT_MODIFIED
    | RUN_ERRORS
    | {
        200: {
            "content": {"image/svg+xml": {"schema": {"type": "string"}}},
            "description": "The plot (SVG).",
        }
    },
)
async def demo_plot(request: Request, slug: SlugOrAlias) -> Response:
    """An SVG plot of a run, its parameters given as query parameters (the `plot` link of a
    run): scalars as `name=value`, lists comma-separated, matrices one `name=` per row."""
    _, demo = await _target(request, slug)
    data = from_query(demo.params, list(request.query_params.multi_items()))
    params = _validated(demo, data, "query")
    fingerprint = f"{sources.fingerprint()}:{demo.slug}:{params.model_dump_json()}"
    etag = f'"{hashlib.blake2b(fingerprint.encode(), digest_size=12).hexdigest()}"'
    headers = {"ETag": etag, "Cache-Control": _PLOT_CACHE_CONTROL}
    if client_has(request, etag):
        return Response(status_code=304, headers=headers)
    try:
        outcome = await _outcome(request, demo, params, plot=True)
    except _Refused as refused:
        return refused.response
    assert outcome.svg is not None
    return Response(outcome.svg, media_type="image/svg+xml", headers=headers)
