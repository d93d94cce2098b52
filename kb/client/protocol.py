"""The part of the client that does no I/O, shared by ``KBClient`` and ``AsyncKBClient``.

A call is data (``Call``). ``exchange`` turns one into the requests to send, the waits between
retries and finally the decoded result, as a generator: it yields an ``httpx.Request`` and is
sent back the response (or the ``httpx.RequestError`` that sending raised), or yields a
``Wait`` and is sent ``None`` once the wait is over. The two clients differ only in how they
send and how they wait.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import httpx
import pydantic

from kb.client.errors import ConnectionFailed, RateLimited, UnexpectedResponse, error_for
from kb.schemas import API_PREFIX

T = TypeVar("T")

Method = Literal["GET", "POST"]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API call: ``path`` is below ``/api/v1``; ``decode`` reads a 2xx body."""

    method: Method
    path: str
    decode: Callable[[bytes], T]
    params: tuple[tuple[str, str], ...] = ()
    json: bytes | None = None
    accept: str = "application/json"
    idempotent: bool = True
    """Whether repeating the call is harmless, so it may be retried."""


@dataclass(frozen=True)
class Wait:
    """Sleep this long, then go on."""

    seconds: float


Step = httpx.Request | Wait
Outcome = httpx.Response | httpx.RequestError | None
Exchange = Generator[Step, Outcome, T]


@dataclass(frozen=True)
class RetryPolicy:
    """How idempotent calls are retried after a connection error or a 503/429.

    ``attempts`` counts the first try. The n-th retry waits ``backoff * 2 ** (n - 1)`` seconds,
    or the server's ``Retry-After`` when it sends one; a ``Retry-After`` longer than
    ``max_wait`` is not waited for (``RateLimited`` is raised at once, carrying it).
    """

    attempts: int = 3
    backoff: float = 0.5
    max_wait: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def wait(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed try number ``attempt``; None: do not retry."""
        if attempt >= self.attempts:
            return None
        seconds = self.backoff * 2 ** (attempt - 1) if retry_after is None else retry_after
        return seconds if seconds <= self.max_wait else None


NO_RETRIES = RetryPolicy(attempts=1)


@dataclass(frozen=True)
class Cached:
    etag: str
    body: bytes


class ETagCache:
    """Bodies of earlier GET answers by URL, with their ETags, least recently used dropped
    first past ``max_bytes``. A cached body is only reused after the server confirms it with
    304 Not Modified; thread-safe, so several clients may share one."""

    def __init__(self, max_bytes: int = 32 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Cached] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, url: str) -> Cached | None:
        with self._lock:
            hit = self._entries.get(url)
            if hit is not None:
                self._entries.move_to_end(url)
            return hit

    def put(self, url: str, etag: str, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(url, None)
            self._size -= 0 if old is None else len(old.body)
            self._entries[url] = Cached(etag, body)
            self._size += len(body)
            while self._size > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped.body)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0


# Connection errors worth another try; the rest (a bad URL scheme, a proxy refusing) are not.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class Session:
    """What every call of one client shares."""

    root: str
    """The server's root URL, without a trailing slash."""
    headers: dict[str, str]
    timeout: httpx.Timeout
    retry: RetryPolicy
    cache: ETagCache | None = field(default=None)

    def url(self, call: Call[Any]) -> httpx.URL:
        return httpx.URL(self.root + API_PREFIX + call.path, params=call.params)

    def request(self, call: Call[Any], cached: Cached | None) -> httpx.Request:
        headers = {**self.headers, "Accept": call.accept}
        if call.json is not None:
            headers["Content-Type"] = "application/json"
        if cached is not None:
            headers["If-None-Match"] = cached.etag
        return httpx.Request(
            call.method,
            self.url(call),
            headers=headers,
            content=call.json,
            extensions={"timeout": self.timeout.as_dict()},
        )


def _decode(call: Call[T], response: httpx.Response, body: bytes) -> T:
    try:
        return call.decode(body)
    except (pydantic.ValidationError, ValueError) as exc:
        raise UnexpectedResponse(
            f"{call.method} {response.request.url} answered {response.status_code} with a body "
            f"this client cannot read: {exc}"
        ) from exc


def exchange(call: Call[T], session: Session) -> Exchange[T]:
    """Send ``call`` (see the module docstring), retrying if it is idempotent; return what
    ``call.decode`` makes of the answer or raise the ``KBError`` for it."""
    cache = session.cache if call.method == "GET" else None
    attempt = 0
    while True:
        attempt += 1
        key = str(session.url(call))
        cached = cache.get(key) if cache is not None else None
        outcome = yield session.request(call, cached)
        if isinstance(outcome, httpx.RequestError):
            transient = call.idempotent and isinstance(outcome, _TRANSIENT)
            wait = session.retry.wait(attempt) if transient else None
            if wait is None:
                raise ConnectionFailed(
                    f"{call.method} {key}: no answer after {attempt} "
                    f"attempt{'s' if attempt > 1 else ''}: {str(outcome) or type(outcome).__name__}"
                ) from outcome
            yield Wait(wait)
            continue
        assert outcome is not None, "a request must be answered with a response or an error"
        if outcome.status_code == 304 and cached is not None:
            return _decode(call, outcome, cached.body)
        if outcome.is_success:
            etag = outcome.headers.get("etag")
            if cache is not None and etag is not None:
                cache.put(key, etag, outcome.content)
            return _decode(call, outcome, outcome.content)
        error = error_for(outcome)
        if isinstance(error, RateLimited) and call.idempotent:
            wait = session.retry.wait(attempt, error.retry_after)
            if wait is not None:
                yield Wait(wait)
                continue
        raise error
