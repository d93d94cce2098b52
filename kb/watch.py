"""Noticing, cheaply and on every request, that another process changed the database.

Each worker caches responses until the data version moves on (``kb.cache``). Re-reading the
version on every request would cost a database round trip; these watches answer "may it have
changed?" from local state instead, in microseconds:

- SQLite: ``PRAGMA data_version``, a counter SQLite keeps per connection that moves when any
  other connection commits to the file.
- PostgreSQL: every change runs ``NOTIFY kb_data_version`` in its transaction, which the server
  delivers to listeners at commit; here a listening connection's socket buffer is drained
  without waiting. A writer commits before it answers its client, so by the time a reader
  gets the client's next request, the notification has been sent.

The cache still re-reads the version every ``KB_CACHE_TTL`` seconds, in case a watch misses
something (a dropped listening connection, a write made outside the application).
"""

import logging
import sqlite3
import time
from typing import Protocol

import psycopg
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

CHANNEL = "kb_data_version"
_RECONNECT_AFTER_S = 5.0


class Watch(Protocol):
    def changed(self) -> bool:
        """Whether the database may have changed since the last call (never blocks long)."""
        ...

    def close(self) -> None: ...


class SQLiteWatch:
    def __init__(self, path: str) -> None:
        # Used only from the event loop's thread, but created in another (the lifespan's).
        self._connection = sqlite3.connect(path, check_same_thread=False)
        self._last = self._counter()

    def _counter(self) -> int:
        row = self._connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def changed(self) -> bool:
        counter = self._counter()
        changed, self._last = counter != self._last, counter
        return changed

    def close(self) -> None:
        self._connection.close()


class PostgresWatch:
    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._next_attempt = 0.0
        self._connect()

    def _connect(self) -> bool:
        self._next_attempt = time.monotonic() + _RECONNECT_AFTER_S
        try:
            self._connection = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=2)
            self._connection.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            log.warning("cannot listen for changes (%s); relying on KB_CACHE_TTL", exc)
            self._connection = None
            return False
        return True

    def changed(self) -> bool:
        if self._connection is None:
            # Changes may have gone unheard while disconnected: a new connection says so.
            return time.monotonic() >= self._next_attempt and self._connect()
        try:
            pgconn = self._connection.pgconn
            pgconn.consume_input()
            heard = False
            while pgconn.notifies() is not None:
                heard = True
            return heard
        except psycopg.Error as exc:
            log.warning("lost the connection that listens for changes (%s)", exc)
            self.close()
            return True

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def watch(engine: Engine) -> Watch | None:
    """The watch for ``engine``'s database (None for an in-memory SQLite database)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return None if url.database in (None, "", ":memory:") else SQLiteWatch(url.database)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresWatch(conninfo)
