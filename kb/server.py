"""How uvicorn serves kb: httptools with the request head bounded, and an access log without keys.

uvicorn's httptools parser takes a request line and headers of any size, and joins the pieces of
a long header one copy at a time: a 150 MiB header took 11.7 s of the event loop, and stalled
every other connection meanwhile. h11, uvicorn's other parser, has a limit but serves the read
benchmark markedly slower (bench/RESULTS.md), so this keeps httptools and counts the bytes of
each request head as they arrive: past ``MAX_HEAD_BYTES`` the request gets a 431 (with a JSON
``detail``) and its connection is closed, after at most one more read of the socket.

Serve with it outside ``kb serve`` too: ``uvicorn kb.app:create_app --factory
--http kb.server:BoundedHttpToolsProtocol``.
"""

import json
import logging
import re
from typing import Any
from urllib.parse import unquote

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from kb.auth import KEY_PREFIX

MAX_HEAD_BYTES = 64 * 1024
"""The largest request line plus headers, in bytes."""

_DETAIL = json.dumps(
    {
        "detail": f"The request line and headers must be at most {MAX_HEAD_BYTES} bytes"
        " together: send fewer or shorter headers (or a shorter URL)."
    }
).encode()


# Called directly rather than through super(): these run several times per request.
_base = HttpToolsProtocol


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head over ``MAX_HEAD_BYTES``.

    Two checks: the bytes of every read that ends inside a head (so a head that never ends is
    refused after ``MAX_HEAD_BYTES`` plus one read), and, when a head completes in a read large
    enough to hold an oversized one, its exact size. A read that also holds the end of an
    earlier request is left out of the first count; the second still bounds that head.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # the next bytes begin (or continue) a request head
        self._head_bytes = 0  # bytes of the current head counted so far
        self._read_bytes = 0  # size of the read being parsed
        self._completed = False  # a request ended within the read being parsed
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        whole_read_in_head = self._in_head
        self._read_bytes, self._completed = len(data), False
        _base.data_received(self, data)
        if not self._refused and self._in_head:
            if whole_read_in_head and not self._completed:
                self._head_bytes += len(data)
            self._refused = self._head_bytes > MAX_HEAD_BYTES
        if self._refused:
            self._refuse()

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_bytes + self._read_bytes > MAX_HEAD_BYTES:
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > MAX_HEAD_BYTES:
                self._refused = True  # no ASGI task: data_received answers once parsing stops
                return
        _base.on_headers_complete(self)

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            _base.on_body(self, body)

    def on_message_complete(self) -> None:
        self._in_head, self._head_bytes, self._completed = True, 0, True
        if not self._refused:
            _base.on_message_complete(self)

    def _refuse(self) -> None:
        self.logger.warning("Request head over %d bytes refused (431).", MAX_HEAD_BYTES)
        if self.cycle is None or self.cycle.response_complete:
            content = [STATUS_LINE[431]]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.extend(
                [
                    b"content-type: application/json\r\n",
                    b"content-length: " + str(len(_DETAIL)).encode() + b"\r\n",
                    b"connection: close\r\n\r\n",
                    _DETAIL,
                ]
            )
            self.transport.write(b"".join(content))
        # else an earlier request of this connection is still being answered: closing is the
        # only answer that cannot interleave with its response.
        self.transport.close()


# --- the access log ---------------------------------------------------------------------------

# A query parameter whose name suggests a secret, and anything shaped like one of our keys.
_SECRET_PARAMETER = re.compile(
    r"(?i)([?&;][^=&;#]*(?:key|token|secret|passw|auth|signature|session)[^=&;#]*=)[^&;#]*"
)
_KEY_SHAPED = re.compile(re.escape(KEY_PREFIX) + r"[A-Za-z0-9_-]{16,}")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` (a logged path and query) without the values of secret-looking parameters and
    without anything shaped like an API key, looked for in its percent-decoded form too."""
    if "?" not in text and "%" not in text and KEY_PREFIX not in text:
        return text  # most lines: nothing that could hide a key
    for form in (text, unquote(text)):
        cleaned = _KEY_SHAPED.sub(REDACTED, _SECRET_PARAMETER.sub(r"\1" + REDACTED, form))
        if cleaned != form:
            return cleaned
    return text


class RedactSecrets(logging.Filter):
    """Rewrites the arguments of uvicorn's access-log lines with :func:`redact`.

    The API refuses keys in query strings (it reads them from the Authorization header only),
    but uvicorn logs the request line before anything can refuse it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_access_log() -> None:
    """Install :class:`RedactSecrets` on uvicorn's access logger, once per process."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecrets) for f in logger.filters):
        logger.addFilter(RedactSecrets())
