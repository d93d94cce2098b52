"""An in-process cache of serialised GET responses, invalidated by the data version.

Term records change only when content is loaded or written, and each of those changes the
data version stored in the database. So a response can be served from memory, without a
database round trip, for as long as the version is unchanged; the version itself is re-read at
most once every ``ttl`` seconds (writes made through this process invalidate at once).
"""

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from kb import repository


@dataclass(frozen=True, slots=True)
class Rendered:
    """A response body ready to send, with its entity tag."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, model: BaseModel) -> "Rendered":
        return cls.of_bytes(model.model_dump_json().encode())

    @classmethod
    def of_bytes(cls, body: bytes) -> "Rendered":
        return cls(body, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"')


class ResponseCache:
    def __init__(self, engine: Engine, *, ttl: float, max_entries: int) -> None:
        self._engine = engine
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, Rendered] = OrderedDict()
        self._version: str | None = None
        self._checked_at = float("-inf")
        # Bumped on every invalidation, so a response built from old data is never stored
        # after the cache has moved on to a new version.
        self._generation = 0

    def invalidate(self) -> None:
        self._entries.clear()
        self._checked_at = float("-inf")
        self._generation += 1

    async def get(self, key: Hashable, build: Callable[[Session], BaseModel]) -> Rendered:
        """The cached response for ``key``, built by ``build`` from the database on a miss.

        ``build`` may raise (an HTTP error, say): nothing is cached then.
        """
        return await self.get_rendered(key, lambda session: Rendered.of(build(session)))

    async def get_rendered(self, key: Hashable, render: Callable[[Session], Rendered]) -> Rendered:
        """As ``get``, for a body that is not a model's JSON (an HTML page, say)."""
        await self._revalidate()
        hit = self._entries.get(key)
        if hit is not None:
            return hit
        generation = self._generation
        rendered = await run_in_threadpool(self._render, render)
        if generation == self._generation and self._max_entries:
            self._entries[key] = rendered
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return rendered

    def _render(self, render: Callable[[Session], Rendered]) -> Rendered:
        with Session(self._engine) as session:
            return render(session)

    async def _revalidate(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < self._ttl:
            return
        self._checked_at = now
        version = await run_in_threadpool(self._read_version)
        if version != self._version:
            self.invalidate()
            self._version = version
            self._checked_at = now

    def _read_version(self) -> str | None:
        with Session(self._engine) as session:
            return repository.data_version(session)
