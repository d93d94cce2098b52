"""API keys for writes: ``Authorization: Bearer <key>``, checked against SHA-256 digests.

The server never holds a key, only its digest (``KB_API_KEYS`` maps each key's name to it), and
never logs one; the name is what the history records as the author of a change.
"""

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

KEY_PREFIX = "kb_"


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


# Declares the scheme in the OpenAPI document; the header is read below, to tell a missing
# key (401 that asks for one) from a malformed header or a wrong key.
_bearer = HTTPBearer(
    auto_error=False, description="An API key: `Authorization: Bearer <key>` (`kb keys new`)."
)


def require_editor(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The name of the API key the request carries; 401 unless it is a configured key."""
    header = request.headers.get("authorization")
    if header is None:
        raise _unauthorized(
            "This request changes the glossary and needs an API key: send "
            "'Authorization: Bearer <key>' (an administrator creates keys with `kb keys new`)."
        )
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise _unauthorized(
            "The Authorization header must be 'Bearer <key>'.", error="invalid_request"
        )
    name = key_name(request.app.state.api_keys, presented.strip())
    if name is None:
        raise _unauthorized(
            "The API key is not valid: check it, or ask for a new one.", error="invalid_token"
        )
    return name


Editor = Annotated[str, Depends(require_editor)]
"""The name of the key a write was made with."""
