"""What every write route shares: If-Match, the write transaction, errors, the response.

A write is based on a version of the record: the client sends the ETag it got from GET in
``If-Match``. Missing: 428. Not the current version: 412, with the current one in the body.
"""

import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Body, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from kb import editing
from kb.api.deps import cache_of
from kb.api.errors import Responses, safe_errors
from kb.cache import Rendered
from kb.rules import Loc, validation_message
from kb.schemas import ConflictBody, ErrorBody, StaleBody

M = TypeVar("M", bound=BaseModel)

# "3-1f0c..." as GET sends it, or just "3": the number is the version a write is based on.
_VERSION_TAG = re.compile(r'^(?:W/)?"(\d+)(?:-[0-9a-f]*)?"$')

WRITE_ERRORS: Responses = {
    400: {"model": ErrorBody, "description": "The body cannot be read (not UTF-8 JSON)."},
    401: {"model": ErrorBody, "description": "No API key, or not a valid one."},
    409: {"model": ConflictBody, "description": "Clashes with other records."},
    412: {"model": StaleBody, "description": "The record changed since the If-Match version."},
    413: {"model": ErrorBody, "description": "The body is larger than 1 MiB."},
    415: {"model": ErrorBody, "description": "The body is not declared as JSON."},
    428: {"model": ErrorBody, "description": "If-Match is missing."},
    429: {
        "model": ErrorBody,
        "description": "Too many wrong API keys from this address; try again after Retry-After"
        " seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}


MergePatch = Annotated[
    dict[str, Any],
    Body(
        media_type="application/merge-patch+json",
        description="A JSON merge patch (RFC 7396) of the record: the fields to change; null"
        " removes an optional one.",
    ),
]


async def expected_version(
    if_match: Annotated[
        str | None,
        Header(
            description='The ETag GET returned for the record (or its version: `"3"`): the'
            " version this write changes. Required: 428 without it, 412 if it is not current."
        ),
    ] = None,
) -> int:
    """The version named by If-Match; 428 without one, 412 for a tag that names none.

    ``async``, as it does no I/O: FastAPI would run a plain function in a worker thread, a
    hop that cost more than the parsing (so does ``kb.auth.require_editor``)."""
    header = if_match
    if header is None or header.strip() == "*":
        raise HTTPException(
            428,
            "This write must say which version it changes: send If-Match with the ETag that"
            " GET returned for the record (If-Match: * is not accepted).",
        )
    for tag in header.split(","):
        match = _VERSION_TAG.match(tag.strip())
        if match:
            return int(match.group(1))
    return -1  # names no version: the write finds the record "changed" and answers 412


def problems_error(problems: list[tuple[Loc, str]]) -> RequestValidationError:
    """A 422 in FastAPI's format, for rules checked after the body parsed."""
    return RequestValidationError(
        [
            {"loc": ("body", *loc), "msg": message, "type": "value_error"}
            for loc, message in problems
        ]
    )


def validated(model: type[M], data: Any) -> M:
    """``data`` as ``model``, or a 422 worded as ``kb check`` words it."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise problems_error(
            [(tuple(e["loc"]), validation_message(e)) for e in exc.errors()]
        ) from None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: ``patch`` applied to ``target`` (null removes a member)."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


ExpectedVersion = Annotated[int, Depends(expected_version)]
"""The version a write is based on, from its If-Match header."""


async def write(
    request: Request,
    change: Callable[[Session], BaseModel | None],
    *,
    status_code: int = 200,
    location: str | None = None,
) -> Response:
    """Run ``change`` in a write transaction, commit, and answer with the record it returns."""

    def run() -> BaseModel | None:
        with editing.write_session(request.app.state.engine) as session:
            result = change(session)
            session.commit()
            return result

    result = await run_in_threadpool(run)
    cache_of(request).invalidate()
    if result is None:
        return Response(status_code=204)
    rendered = Rendered.of(result)
    headers = {"ETag": rendered.etag}
    if location is not None:
        headers["Location"] = location
    return Response(
        rendered.body, status_code=status_code, media_type="application/json", headers=headers
    )


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, editing.Invalid)
    return await _request_invalid(request, problems_error(exc.problems))


async def _conflict(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, editing.Conflict)
    return JSONResponse({"detail": exc.detail, **exc.extra}, status_code=409)


async def _stale(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, editing.Stale)
    body = StaleBody(
        detail=f"The record changed since the version you sent in If-Match: it is at version"
        f" {exc.current_version} now. GET it again, reapply your change, and send the new ETag.",
        current_version=exc.current_version,
    )
    return JSONResponse(body.model_dump(), status_code=412)


async def _request_invalid(_request: Request, exc: Exception) -> Response:
    """FastAPI's 422, with a body's problems worded as ``kb check`` words them in a file, and
    no more of the input echoed than a short prefix."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {**error, "msg": validation_message(error)} if error["loc"][:1] == ("body",) else error
        for error in exc.errors()
    ]
    return JSONResponse({"detail": safe_errors(errors)}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(editing.Invalid, _invalid)
    app.add_exception_handler(editing.Conflict, _conflict)
    app.add_exception_handler(editing.Stale, _stale)
