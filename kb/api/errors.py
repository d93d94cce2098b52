"""Errors are part of the API: every error body is JSON with a ``detail``."""

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
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
    # Starlette re-raises the error once this is sent, and uvicorn then drops the connection:
    # saying so keeps a keep-alive client from sending its next request into a closed socket.
    return JSONResponse(
        {"detail": "internal server error"}, status_code=500, headers={"Connection": "close"}
    )


# --- what a 422 may echo ---------------------------------------------------------------------

PREVIEW_CHARS = 80
"""The most characters of a client's input that an error echoes (a prefix, then "…")."""
_MESSAGE_CHARS = 500
_PREVIEW_DEPTH = 4


def _clip(text: str, limit: int = PREVIEW_CHARS) -> str:
    """A prefix of ``text`` that JSON in UTF-8 can carry: lone surrogates become ``\\udxxx``."""
    clipped = text if len(text) <= limit else text[:limit] + "…"
    return clipped.encode("utf-8", "backslashreplace").decode("utf-8")


def _tokens(value: Any, depth: int) -> Iterator[str]:
    """``value`` as compact JSON, piece by piece, each string already cut short."""
    if isinstance(value, Mapping):
        if depth >= _PREVIEW_DEPTH:
            yield "{…}"
            return
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield ("," if i else "") + json.dumps(_clip(str(key))) + ":"
            yield from _tokens(item, depth + 1)
        yield "}"
    elif isinstance(value, list | tuple):
        if depth >= _PREVIEW_DEPTH:
            yield "[…]"
            return
        yield "["
        for i, item in enumerate(value):
            yield "," if i else ""
            yield from _tokens(item, depth + 1)
        yield "]"
    elif isinstance(value, str):
        yield json.dumps(_clip(value))
    elif value is None or isinstance(value, bool | int | float):
        yield json.dumps(value)
    else:
        yield json.dumps(_clip(str(value)))


def preview(value: Any) -> Any:
    """What an error may echo of a client's input: null, booleans and small numbers as they
    are; text, bytes and the JSON of a list or object cut to ``PREVIEW_CHARS`` characters."""
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int) and abs(value) < 10**15:
        return value
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, bytes | bytearray):
        return _clip(bytes(value[: PREVIEW_CHARS * 4]).decode("utf-8", "replace"))
    text = ""
    for token in _tokens(value, 0):
        text += token
        if len(text) > PREVIEW_CHARS:
            break
    return _clip(text)


def safe_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors fit to send: every echo of the input short, every string encodable.

    A missing field's ``input`` is the whole object around it, so a large body missing a few
    fields would otherwise come back several times over.
    """
    safe = []
    for error in errors:
        item: dict[str, Any] = {
            "type": str(error.get("type", "value_error")),
            "loc": [part if isinstance(part, int) else _clip(str(part)) for part in error["loc"]],
            "msg": _clip(str(error["msg"]), _MESSAGE_CHARS),
        }
        if "input" in error:
            item["input"] = preview(error["input"])
        if error.get("ctx"):
            item["ctx"] = {str(key): preview(value) for key, value in error["ctx"].items()}
        safe.append(item)
    return safe


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
    """Starlette's HTTP errors as JSON, with a 405's ``Allow`` naming every method of the path,
    and FastAPI's 400 for a body it could not parse saying why when the JSON was too deep.

    FastAPI makes one route per method, so Starlette's own ``Allow`` names only the first route
    that matched the path (``GET`` for ``/terms``, which also takes ``POST``).
    """
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
        exc.detail = (
            "The body's JSON is nested too deeply: no request needs more than a few levels."
        )
    if exc.status_code == 405:
        allowed = [method for method in _METHODS if _routed(request, method)]
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(SQLAlchemyError, database_error)
    app.add_middleware(_LastResort)
