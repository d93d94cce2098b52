"""What a request that may carry a body passes before any route sees it.

In this order, each refused at once with a JSON ``detail``:

1. A route that changes the glossary (one that depends on ``kb.auth.require_editor``) needs a
   valid API key: 401 (429 after a burst of wrong keys) before a byte of the body is read.
2. A body is at most ``MAX_BODY_BYTES``: 413 as soon as Content-Length says more, or as soon as
   the bytes streamed in pass it; nothing larger is ever held in memory.
3. A body is JSON: 415 for another declared media type, 400 for bytes that are not UTF-8.

An answer given before the body was read in full reads and drops the rest if it is small
(``DRAIN_BYTES``), so the connection stays usable; otherwise it says ``Connection: close``, the
server drops the connection, and a keep-alive client opens a new one.
FastAPI reads and parses a route's body before it runs the route's dependencies (the key check
among them), and its own ``max_body_size`` is checked as the route reads the body: neither can
refuse a request without a key before its body arrives, hence this middleware.
"""

import json
import re
from collections.abc import Mapping

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kb.auth import EDITOR_STATE, authenticate

MAX_BODY_BYTES = 1 << 20
"""The largest request body, in bytes (writes and demo runs alike)."""

_WITHOUT_BODY = frozenset({"GET", "HEAD"})
# `curl -d` sends this type unless told otherwise, and the README's demo examples rely on it.
_CURL_DEFAULT = "application/x-www-form-urlencoded"


DRAIN_BYTES = 64 * 1024
"""A refused request's unread body up to this size is read and dropped before the answer."""


class _Refused(Exception):
    """An answer to give instead of the route's; ``pending`` is how much of the body is still
    unread (None: an unknown amount)."""

    def __init__(
        self,
        status: int,
        detail: str,
        headers: Mapping[str, str] | None = None,
        *,
        pending: int | None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.pending = status, detail, pending
        self.headers = dict(headers or {})

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        pending = self.pending
        if pending is not None and 0 < pending <= DRAIN_BYTES:
            # Closing a connection with unread bytes makes the kernel reset it, which can lose
            # this answer: a small body is read and dropped instead, and the connection lives.
            pending = await _drain(receive)
        headers = self.headers if pending == 0 else {**self.headers, "Connection": "close"}
        response = JSONResponse({"detail": self.detail}, status_code=self.status, headers=headers)
        await response(scope, receive, send)


async def _drain(receive: Receive) -> int | None:
    """Read the rest of a body of at most ``DRAIN_BYTES``: 0 once it ended, else None."""
    size = 0
    while size <= DRAIN_BYTES:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return 0
    return None


def _keyed_operations(app: FastAPI) -> list[tuple[str, re.Pattern[str]]]:
    """Method and path pattern of every operation that needs an API key.

    Read from the OpenAPI document, where each route that depends on ``require_editor`` carries
    its bearer-key security requirement: the routes themselves stay the one place that says so.
    """
    operations = []
    for path, item in app.openapi()["paths"].items():
        pattern = re.compile(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$")
        for method, operation in item.items():
            if operation.get("security"):
                operations.append((method.upper(), pattern))
    return operations


def _is_json(media_type: str) -> bool:
    main, _, sub = media_type.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _declared_body(headers: Headers) -> tuple[bool, int | None]:
    """Whether the request has a body, and its Content-Length if it says one."""
    length = headers.get("content-length")
    if length is None:
        return "transfer-encoding" in headers, None
    try:
        size = int(length)
    except ValueError:
        raise _Refused(400, "Content-Length must be a number of bytes", pending=None) from None
    return size > 0, size


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None if the client went away; 413 past ``MAX_BODY_BYTES``."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Refused(413, _too_large(), pending=None)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large() -> str:
    return f"The body must be at most {MAX_BODY_BYTES} bytes (1 MiB)."


def _check_json(body: bytes) -> None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Refused(
            400,
            f"The body must be JSON in UTF-8: byte {exc.start} ({body[exc.start]:#04x}) is not"
            " valid UTF-8.",
            pending=0,
        ) from None


class RequestGate:
    """Pure ASGI middleware: the checks above, then the route with the body already read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._keyed: list[tuple[str, re.Pattern[str]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _WITHOUT_BODY:
            await self.app(scope, receive, send)
            return
        try:
            body = await self._admit(scope, receive)
        except _Refused as refused:
            await refused.answer(scope, receive, send)
            return
        if body is None:
            return  # the client left before sending its body: nobody to answer

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # the disconnect, once the client goes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _needs_key(self, app: FastAPI, scope: Scope) -> bool:
        if self._keyed is None:
            self._keyed = _keyed_operations(app)
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        return any(
            method == scope["method"] and pattern.match(path) for method, pattern in self._keyed
        )

    async def _admit(self, scope: Scope, receive: Receive) -> bytes | None:
        headers = Headers(scope=scope)
        has_body, length = _declared_body(headers)
        pending = length if length is not None else (None if has_body else 0)
        app: FastAPI = scope["app"]
        keyed = self._needs_key(app, scope)
        if keyed:
            client = scope["client"][0] if scope.get("client") else ""
            try:
                name = authenticate(
                    app.state.api_keys, app.state.failed_keys, client, headers.get("authorization")
                )
            except HTTPException as exc:
                raise _Refused(exc.status_code, exc.detail, exc.headers, pending=pending) from None
            scope.setdefault("state", {})[EDITOR_STATE] = name
        if length is not None and length > MAX_BODY_BYTES:
            raise _Refused(413, _too_large(), pending=length)
        content_type = headers.get("content-type")
        if has_body and content_type is not None:
            media_type = content_type.partition(";")[0].strip().lower()
            if not (_is_json(media_type) or (media_type == _CURL_DEFAULT and not keyed)):
                raise _Refused(
                    415,
                    f"The body must be JSON (Content-Type: application/json), not"
                    f" {json.dumps(media_type[:80])}.",
                    pending=pending,
                )
        body = await _read_body(receive)
        if body:
            _check_json(body)
        return body
