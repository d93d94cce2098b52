"""``KBClient`` and ``AsyncKBClient``: the same methods, blocking or awaitable.

Everything but sending and waiting lives in ``kb.client.protocol`` and
``kb.client.endpoints``; each method here is one line.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from kb.client import endpoints
from kb.client.protocol import (
    Call,
    ETagCache,
    Exchange,
    Outcome,
    RetryPolicy,
    Session,
    Step,
    Wait,
    exchange,
)
from kb.demos.schemas import DemoCatalogue, DemoDetail, DemoRun
from kb.relations import Relation
from kb.schemas import (
    API_PREFIX,
    CategoryDetail,
    CategoryList,
    Graph,
    Health,
    Kind,
    RelatedList,
    SearchMode,
    SearchPage,
    SuggestionList,
    TermDetail,
    TermPath,
    TermSummary,
)

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRY = RetryPolicy()
USER_AGENT = "kb-client/0.1.0"


def _session(
    base_url: str,
    api_key: str | None,
    timeout: float | httpx.Timeout,
    retry: RetryPolicy,
    etag_cache: bool | ETagCache,
) -> Session:
    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(
            f"base_url must be an http(s) URL such as http://127.0.0.1:8000: {base_url!r}"
        )
    # The server's root is wanted; a URL of the API itself is accepted too.
    root = str(url.copy_with(query=None, fragment=None)).rstrip("/").removesuffix(API_PREFIX)
    headers = {"User-Agent": USER_AGENT}
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"
    if isinstance(etag_cache, ETagCache):  # tested first: an empty cache is falsy
        cache: ETagCache | None = etag_cache
    else:
        cache = ETagCache() if etag_cache else None
    return Session(root, headers, httpx.Timeout(timeout), retry, cache)


class _Client:
    """What both clients hold: the session every call shares."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout: float | httpx.Timeout,
        retry: RetryPolicy,
        etag_cache: bool | ETagCache,
        *,
        owns_http: bool,
    ) -> None:
        self._session = _session(base_url, api_key, timeout, retry, etag_cache)
        self._owns_http = owns_http

    @property
    def etag_cache(self) -> ETagCache | None:
        """The cache of GET answers, if any."""
        return self._session.cache


class KBClient(_Client):
    """A blocking client of the glossary API.

    ``base_url`` is the server's root (``http://127.0.0.1:8000``). ``api_key`` is sent as a
    bearer token. Idempotent calls are retried as ``retry`` says, waiting with ``sleep``.
    GET answers are kept in ``etag_cache`` (True: a cache of this client's own; or one to share)
    and revalidated with ``If-None-Match``. ``http`` is an httpx client to send with (not closed
    here), or ``transport`` one for a client of this one's own.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        etag_cache: bool | ETagCache = True,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(base_url, api_key, timeout, retry, etag_cache, owns_http=http is None)
        self._http = http or httpx.Client(transport=transport)
        self._sleep = sleep

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _step(self, step: Step) -> Outcome:
        if isinstance(step, Wait):
            self._sleep(step.seconds)
            return None
        try:
            return self._http.send(step)
        except httpx.RequestError as exc:
            return exc

    def _call(self, call: Call[T]) -> T:
        steps: Exchange[T] = exchange(call, self._session)
        try:
            step = next(steps)
            while True:
                step = steps.send(self._step(step))
        except StopIteration as stop:
            result: T = stop.value
            return result

    def term(self, slug: str) -> TermDetail:
        """A term by slug, name or alias, in any case."""
        return self._call(endpoints.term(slug))

    def terms(
        self,
        category: str | None = None,
        kind: Kind | None = None,
        letter: str | None = None,
        *,
        page_size: int = endpoints.PAGE_SIZE,
    ) -> Iterator[TermSummary]:
        """Every term (or those of a category, kind or first letter) in alphabetical order,
        fetched a page at a time as the iteration goes."""
        offset: int | None = 0
        while offset is not None:
            page = self._call(endpoints.terms_page(category, kind, letter, offset, page_size))
            yield from page.items
            offset = endpoints.next_offset(page)

    def related(
        self, slug: str, depth: int = 1, relation: Relation | str | None = None
    ) -> RelatedList:
        """The terms up to ``depth`` links away, optionally following one relation type."""
        return self._call(endpoints.related(slug, depth, relation))

    def path(self, from_: str, to: str) -> TermPath:
        """A shortest chain of links between two terms."""
        return self._call(endpoints.path(from_, to))

    def graph(self, category: str | None = None) -> Graph:
        return self._call(endpoints.graph(category))

    def search(
        self,
        q: str,
        *,
        category: str | None = None,
        kind: Kind | None = None,
        limit: int = 20,
        offset: int = 0,
        mode: SearchMode | None = None,
    ) -> SearchPage:
        """``mode``: hybrid, lexical or semantic; None: the server's default."""
        return self._call(endpoints.search(q, category, kind, limit, offset, mode))

    def suggest(self, q: str, limit: int = 8) -> SuggestionList:
        return self._call(endpoints.suggest(q, limit))

    def categories(self) -> CategoryList:
        return self._call(endpoints.categories())

    def category(self, slug: str) -> CategoryDetail:
        return self._call(endpoints.category(slug))

    def health(self) -> Health:
        return self._call(endpoints.health())

    def demos(self) -> DemoCatalogue:
        return self._call(endpoints.demos())

    def demo(self, slug: str) -> DemoDetail:
        """A term's demo: its parameters' JSON Schema and the source code it runs."""
        return self._call(endpoints.demo(slug))

    def run_demo(self, slug: str, /, **params: Any) -> DemoRun:
        """Run a term's demo; every parameter is optional (``seed`` among them)."""
        return self._call(endpoints.run_demo(slug, params))

    def demo_plot(self, slug: str, /, **params: Any) -> bytes:
        """The SVG plot of the run with these parameters."""
        return self._call(endpoints.demo_plot(slug, params))


class AsyncKBClient(_Client):
    """``KBClient`` for asyncio: the same arguments and methods, awaited (``terms`` is an
    async iterator). ``sleep`` must be awaitable; ``http`` an ``httpx.AsyncClient``."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        etag_cache: bool | ETagCache = True,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(base_url, api_key, timeout, retry, etag_cache, owns_http=http is None)
        self._http = http or httpx.AsyncClient(transport=transport)
        self._sleep = sleep

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _step(self, step: Step) -> Outcome:
        if isinstance(step, Wait):
            await self._sleep(step.seconds)
            return None
        try:
            return await self._http.send(step)
        except httpx.RequestError as exc:
            return exc

    async def _call(self, call: Call[T]) -> T:
        steps: Exchange[T] = exchange(call, self._session)
        try:
            step = next(steps)
            while True:
                step = steps.send(await self._step(step))
        except StopIteration as stop:
            result: T = stop.value
            return result

    async def term(self, slug: str) -> TermDetail:
        return await self._call(endpoints.term(slug))

    async def terms(
        self,
        category: str | None = None,
        kind: Kind | None = None,
        letter: str | None = None,
        *,
        page_size: int = endpoints.PAGE_SIZE,
    ) -> AsyncIterator[TermSummary]:
        offset: int | None = 0
        while offset is not None:
            page = await self._call(endpoints.terms_page(category, kind, letter, offset, page_size))
            for item in page.items:
                yield item
            offset = endpoints.next_offset(page)

    async def related(
        self, slug: str, depth: int = 1, relation: Relation | str | None = None
    ) -> RelatedList:
        return await self._call(endpoints.related(slug, depth, relation))

    async def path(self, from_: str, to: str) -> TermPath:
        return await self._call(endpoints.path(from_, to))

    async def graph(self, category: str | None = None) -> Graph:
        return await self._call(endpoints.graph(category))

    async def search(
        self,
        q: str,
        *,
        category: str | None = None,
        kind: Kind | None = None,
        limit: int = 20,
        offset: int = 0,
        mode: SearchMode | None = None,
    ) -> SearchPage:
        """``mode``: hybrid, lexical or semantic; None: the server's default."""
        return await self._call(endpoints.search(q, category, kind, limit, offset, mode))

    async def suggest(self, q: str, limit: int = 8) -> SuggestionList:
        return await self._call(endpoints.suggest(q, limit))

    async def categories(self) -> CategoryList:
        return await self._call(endpoints.categories())

    async def category(self, slug: str) -> CategoryDetail:
        return await self._call(endpoints.category(slug))

    async def health(self) -> Health:
        return await self._call(endpoints.health())

    async def demos(self) -> DemoCatalogue:
        return await self._call(endpoints.demos())

    async def demo(self, slug: str) -> DemoDetail:
        return await self._call(endpoints.demo(slug))

    async def run_demo(self, slug: str, /, **params: Any) -> DemoRun:
        return await self._call(endpoints.run_demo(slug, params))

    async def demo_plot(self, slug: str, /, **params: Any) -> bytes:
        return await self._call(endpoints.demo_plot(slug, params))
