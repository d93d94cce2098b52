"""What the client raises: one hierarchy, never a bare httpx error for an API answer.

```
KBError
├── ConnectionFailed     no answer (refused, reset, timed out), after any retries
├── UnexpectedResponse   an answer this client cannot read (another API version?)
└── APIError             an error answer: status and detail
    ├── NotFound           404, with the closest slugs in ``suggestions``
    ├── ValidationError    422, with FastAPI's ``errors`` (loc, msg, type)
    ├── Conflict           409 or 412 (a write based on an outdated version)
    └── RateLimited        429 or 503, with ``retry_after`` seconds when the server says
```
"""

import email.utils
import json
import time
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from kb.schemas import NotFoundBody


class KBError(Exception):
    """Anything the client raises."""


class ConnectionFailed(KBError):
    """The server gave no answer: it could not be reached, or the connection failed or timed
    out (after the retries an idempotent call gets). The httpx error is the ``__cause__``."""


class UnexpectedResponse(KBError):
    """The server answered with something this client does not understand."""


class APIError(KBError):
    """An error answer (4xx or 5xx) of the API."""

    def __init__(self, status: int, detail: str, response: httpx.Response) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.response = response


class NotFound(APIError):
    """404: nothing has that name. ``suggestions`` are the closest slugs, best first."""

    def __init__(
        self, status: int, detail: str, response: httpx.Response, suggestions: list[str]
    ) -> None:
        super().__init__(status, detail, response)
        self.suggestions = suggestions


class FieldError(BaseModel):
    """One entry of a 422 answer: where (``loc``, e.g. ``["query", "depth"]``), what and why."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class ValidationError(APIError):
    """422: a parameter was missing, malformed, out of bounds or over the demo budget."""

    def __init__(
        self, status: int, detail: str, response: httpx.Response, errors: list[FieldError]
    ) -> None:
        super().__init__(status, detail, response)
        self.errors = errors


class Conflict(APIError):
    """409 or 412: the request conflicts with the current state of the resource."""


class RateLimited(APIError):
    """429 or 503: the server asks to come back later, after ``retry_after`` seconds if it
    said (``Retry-After``). Idempotent calls are retried before this is raised."""

    def __init__(
        self, status: int, detail: str, response: httpx.Response, retry_after: float | None
    ) -> None:
        super().__init__(status, detail, response)
        self.retry_after = retry_after


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), if any."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _field_errors(detail: Any) -> list[FieldError]:
    if not isinstance(detail, list):
        return []
    errors = []
    for item in detail:
        try:
            errors.append(FieldError.model_validate(item))
        except ValueError:
            continue
    return errors


def describe(errors: list[FieldError]) -> str:
    """Errors as one line each: ``query.depth: Input should be less than or equal to 3``."""
    return "\n".join(f"{'.'.join(str(part) for part in e.loc)}: {e.msg}" for e in errors)


def error_for(response: httpx.Response) -> APIError:
    """The exception for an error answer."""
    status = response.status_code
    body = _body(response)
    raw = body.get("detail")
    detail = raw if isinstance(raw, str) else response.reason_phrase or f"HTTP {status}"
    if status == 404:
        try:
            found = NotFoundBody.model_validate(body)
        except ValueError:
            return NotFound(status, detail, response, [])
        return NotFound(status, found.detail, response, found.suggestions)
    if status == 422:
        errors = _field_errors(raw)
        return ValidationError(status, describe(errors) or detail, response, errors)
    if status in (409, 412):
        return Conflict(status, detail, response)
    if status in (429, 503):
        wait = retry_after(response.headers.get("retry-after"))
        return RateLimited(status, detail, response, wait)
    return APIError(status, detail, response)
