"""Errors are part of the API: every error body is JSON with a ``detail``."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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
    503: {"model": ErrorBody, "description": "The database cannot be reached."}
}


async def _not_found(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotFound)
    return JSONResponse(exc.body.model_dump(), status_code=404)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Exception, _unexpected)
