"""Errors are part of the API: every error body is JSON with a ``detail``."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kb.outage import RETRY_AFTER_S, unavailable_cause
from kb.schemas import ErrorBody, NotFoundBody

log = logging.getLogger(__name__)


class NotFound(Exception):
    """A slug that names nothing; carries the closest existing slugs."""

    def __init__(self, detail: str, suggestions: list[str]) -> None:
        super().__init__(detail)
        self.body = NotFoundBody(detail=detail, suggestions=suggestions)


Responses = dict[int | str, dict[str, Any]]

NOT_FOUND: Responses = {
    404: {"model": NotFoundBody, "description": "No such term; closest slugs suggested."}
}
NOT_MODIFIED: Responses = {304: {"description": "The client's copy (If-None-Match) is current."}}
UNAVAILABLE: Responses = {
    503: {
        "model": ErrorBody,
        "description": "The database cannot serve now (unreachable, not answering, locked,"
        " read-only): try again after Retry-After seconds.",
    }
}
UNAVAILABLE_DETAIL = (
    f"The database is unavailable for now (see the server log); try again in {RETRY_AFTER_S} s."
)


async def _not_found(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotFound)
    return JSONResponse(exc.body.model_dump(), status_code=404)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


class _LastResort:
    """An unexpected error becomes a JSON 500, logged once, on a connection that stays usable.

    Starlette's own last resort (a handler for ``Exception``) re-raises after answering, so the
    server logged the traceback a second time and dropped the keep-alive connection without
    ``Connection: close``: the client's next request on it got no answer at all.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started:
                raise  # too late to answer: the server ends the response and the connection
            response = await _unexpected(Request(scope), exc)
            await response(scope, receive, send)


async def database_error(request: Request, exc: Exception) -> Response:
    """A database that cannot serve (unreachable, timed out, locked, read-only): 503 with
    ``Retry-After``, logged as one line with the cause. Any other database error is a bug."""
    cause = unavailable_cause(exc)
    if cause is None:
        return await _unexpected(request, exc)
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, cause)
    return JSONResponse(
        {"detail": UNAVAILABLE_DETAIL},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _routed(request: Request, method: str) -> bool:
    scope = {**request.scope, "method": method}
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's HTTP errors as JSON, with a 405's ``Allow`` naming every method of the path.

    FastAPI makes one route per method, so Starlette's own ``Allow`` names only the first route
    that matched the path (``GET`` for ``/terms``, which also takes ``POST``).
    """
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        allowed = [method for method in _METHODS if _routed(request, method)]
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(SQLAlchemyError, database_error)
    app.add_middleware(_LastResort)
