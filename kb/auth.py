"""API keys for writes: ``Authorization: Bearer <key>``, checked against SHA-256 digests.

The server never holds a key, only its digest (``KB_API_KEYS`` maps each key's name to it), and
never logs one; the name is what the history records as the author of a change.
"""

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

KEY_PREFIX = "kb_"
EDITOR_STATE = "editor"
"""Where the request state holds the name of the key a request was authenticated with."""


def new_key() -> tuple[str, str]:
    """A fresh random key and its SHA-256 hex digest (what ``KB_API_KEYS`` holds)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, digest_of(key)


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_name(keys: dict[str, str], presented: str) -> str | None:
    """The name of the key whose digest is that of ``presented``, or None.

    Every configured digest is compared, in constant time, so the time taken tells nothing
    about which key (or how much of one) was close.
    """
    digest = digest_of(presented).encode()
    found = None
    for name, expected in keys.items():
        if hmac.compare_digest(digest, expected.encode()):
            found = name
    return found


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="kb"' + (f', error="{error}"' if error else "")
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


class FailedKeyLimit:
    """Wrong keys allowed per client: a bucket of ``burst`` tries that refills at ``per_s``.

    An empty bucket refuses every key that client sends (429 with Retry-After), right or wrong,
    so guessing runs at ``per_s`` at most; reads never look here. One bucket per client address,
    at most ``max_clients`` of them: the one whose last failure is oldest goes first.
    """

    def __init__(
        self,
        burst: int = 10,
        per_s: float = 0.2,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst, self.per_s, self.max_clients, self.clock = burst, per_s, max_clients, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tries left, at)

    def _left(self, client: str, now: float) -> float:
        tries, at = self._buckets.get(client, (self.burst, now))
        return min(self.burst, tries + (now - at) * self.per_s)

    def check(self, client: str) -> None:
        """429 while ``client`` has no tries left."""
        now = self.clock()
        left = self._left(client, now)
        if left < 1:
            wait = math.ceil((1 - left) / self.per_s)
            raise HTTPException(
                429,
                f"Too many wrong API keys from this address: try again in {wait} s.",
                headers={"Retry-After": str(wait)},
            )

    def failed(self, client: str) -> None:
        now = self.clock()
        left = self._left(client, now) - 1
        self._buckets.pop(client, None)  # to the end: the dict stays ordered by last failure
        self._buckets[client] = (left, now)
        if len(self._buckets) > self.max_clients:
            del self._buckets[next(iter(self._buckets))]


def authenticate(
    keys: dict[str, str], limit: FailedKeyLimit, client: str, header: str | None
) -> str:
    """The name of the key in ``header`` (the request's Authorization header).

    401 without a header, for a malformed one or a wrong key; 429 once ``client`` has sent too
    many wrong keys. Reads only the header: the body of a request is not needed to refuse it.
    """
    if header is None:
        raise _unauthorized(
            "This request changes the glossary and needs an API key: send "
            "'Authorization: Bearer <key>' (an administrator creates keys with `kb keys new`)."
        )
    limit.check(client)
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        limit.failed(client)
        raise _unauthorized(
            "The Authorization header must be 'Bearer <key>'.", error="invalid_request"
        )
    name = key_name(keys, presented.strip())
    if name is None:
        limit.failed(client)
        raise _unauthorized(
            "The API key is not valid: check it, or ask for a new one.", error="invalid_token"
        )
    return name


# Declares the scheme in the OpenAPI document; the header is read below, to tell a missing
# key (401 that asks for one) from a malformed header or a wrong key.
_bearer = HTTPBearer(
    auto_error=False, description="An API key: `Authorization: Bearer <key>` (`kb keys new`)."
)


async def require_editor(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The name of the API key the request carries; 401 unless it is a configured key.

    ``kb.api.gate`` checks the key of every route that depends on this before it reads the
    body, and leaves the name in the request's state.
    """
    editor: str | None = getattr(request.state, EDITOR_STATE, None)
    if editor is not None:
        return editor
    client = request.client.host if request.client else ""
    return authenticate(
        request.app.state.api_keys,
        request.app.state.failed_keys,
        client,
        request.headers.get("authorization"),
    )


Editor = Annotated[str, Depends(require_editor)]
"""The name of the key a write was made with."""
