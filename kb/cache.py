"""An in-process cache of serialised GET responses, invalidated by the data version.

Term records change only when content is loaded or written, and each of those changes the
data version stored in the database. So a response can be served from memory, without a
database round trip, for as long as the version is unchanged. The version is re-read when a
``kb.watch`` says another process may have changed the database (checked on every request,
without a round trip), and at least every ``ttl`` seconds; writes made through this process
invalidate at once.

While the database cannot be reached, cached responses are still served (nothing can have
changed the data without the database), with their ``age``: the seconds since the version was
last read; a miss is built if it can be (the demo list needs no database).

The cache is bounded twice: by entries and by bytes (bodies, tags and keys, plus an allowance
for the bookkeeping of each entry), dropping the least recently used first, so that
neither many small responses nor a few large ones (wide searches, whole-graph pages) can grow
a worker without limit. A response larger than the whole byte budget is served, not kept.
"""

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from kb import repository
from kb.lru import BoundedLRU, weight
from kb.outage import outage_of, unavailable_cause
from kb.watch import Watch

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A response body ready to send, with its entity tag."""

    body: bytes
    etag: str
    age: int | None = None
    """Seconds since the data it shows was last known current, when the database cannot say
    whether it still is (None: it is current)."""

    @classmethod
    def of(cls, model: BaseModel) -> "Rendered":
        """The body and its tag. A record with a ``version`` (a term, a category) has it at
        the front of the tag, so that a write's If-Match names the version it is based on;
        the hash after it changes with everything else the body shows (related terms, say)."""
        version = getattr(model, "version", None)
        return cls.of_bytes(
            model.model_dump_json().encode(), version if isinstance(version, int) else None
        )

    @classmethod
    def of_bytes(cls, body: bytes, version: int | None = None) -> "Rendered":
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        return cls(body, f'"{digest}"' if version is None else f'"{version}-{digest}"')


def footprint(key: Hashable, rendered: Rendered) -> int:
    """The bytes an entry is counted as (see ``kb.lru.weight``)."""
    return weight(key, rendered.body, rendered.etag)


class ResponseCache:
    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float,
        max_entries: int,
        max_bytes: int | None = None,
        watch: Watch | None = None,
    ) -> None:
        self._engine = engine
        self._outage = outage_of(engine)
        self._watch = watch
        self._ttl = ttl
        self._entries: BoundedLRU[Rendered] = BoundedLRU(
            max_entries=max_entries, max_bytes=max_bytes
        )
        self._version: str | None = None
        self._checked_at = float("-inf")
        # When the version was last read, and whether reading it failed since.
        self._confirmed_at = float("-inf")
        self._unreachable = False
        # Bumped on every invalidation, so a response built from old data is never stored
        # after the cache has moved on to a new version.
        self._generation = 0

    @property
    def size_bytes(self) -> int:
        """What the kept entries are counted as (see ``footprint``)."""
        return self._entries.nbytes

    def __len__(self) -> int:
        return len(self._entries)

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
            if self._unreachable:
                return dataclasses.replace(hit, age=int(time.monotonic() - self._confirmed_at))
            return hit
        generation = self._generation
        rendered = await run_in_threadpool(self._render, render)
        if generation == self._generation:
            self._entries.put(key, rendered, footprint(key, rendered))
        return rendered

    def _render(self, render: Callable[[Session], Rendered]) -> Rendered:
        with Session(self._engine) as session:
            return render(session)

    async def _revalidate(self) -> None:
        now = time.monotonic()
        changed = self._watch is not None and self._watch.changed()
        if not changed and not self._unreachable and now - self._checked_at < self._ttl:
            return
        if self._outage is not None and self._outage.refusing():
            self._unreachable = True
            return
        self._checked_at = now
        try:
            version = await run_in_threadpool(self._read_version)
        except SQLAlchemyError as exc:
            cause = unavailable_cause(exc)
            if cause is None:
                raise
            if not self._unreachable:
                log.warning("serving cached responses while the database is unavailable: %s", cause)
            # Until the version is read again, as it may have changed just before the outage.
            self._unreachable = True
            return
        self._unreachable = False
        self._confirmed_at = now
        if version != self._version:
            self.invalidate()
            self._version = version
            self._checked_at = now

    def _read_version(self) -> str | None:
        with Session(self._engine) as session:
            return repository.data_version(session)
