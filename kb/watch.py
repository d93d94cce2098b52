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

A watch runs on the event loop, so it never waits for the database: a lost listening
connection is made again in a thread of its own.
"""

import logging
import sqlite3
import threading
import time
from typing import Protocol

import psycopg
from sqlalchemy.engine import Engine

from kb.db import in_memory

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
        # Reading the counter takes no lock that a writer holds: no waiting for one.
        self._connection = sqlite3.connect(path, check_same_thread=False, timeout=0)
        self._last = self._counter()

    def _counter(self) -> int:
        row = self._connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def changed(self) -> bool:
        try:
            counter = self._counter()
        except sqlite3.Error:
            return True  # cannot tell: the cache asks the database itself
        changed, self._last = counter != self._last, counter
        return changed

    def close(self) -> None:
        self._connection.close()


Listening = psycopg.Connection[tuple[object, ...]]


class PostgresWatch:
    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._connection: Listening | None = self._listen()
        # A connection made in the background, for the event loop's thread to take up.
        self._reconnected: Listening | None = None
        self._reconnecting = False
        self._next_attempt = time.monotonic() + _RECONNECT_AFTER_S

    def _listen(self) -> Listening | None:
        try:
            connection = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=2)
        except psycopg.Error as exc:
            log.warning("cannot listen for changes (%s); relying on KB_CACHE_TTL", exc)
            return None
        try:
            connection.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            log.warning("cannot listen for changes (%s); relying on KB_CACHE_TTL", exc)
            connection.close()
            return None
        return connection

    def _reconnect(self) -> None:
        self._reconnected = self._listen()
        self._next_attempt = time.monotonic() + _RECONNECT_AFTER_S
        self._reconnecting = False

    def changed(self) -> bool:
        if self._connection is None:
            self._connection, self._reconnected = self._reconnected, None
            if self._connection is not None:
                return True  # changes may have gone unheard while disconnected
            if not self._reconnecting and time.monotonic() >= self._next_attempt:
                self._reconnecting = True
                threading.Thread(target=self._reconnect, daemon=True).start()
            return False
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
        for connection in (self._connection, self._reconnected):
            if connection is not None:
                connection.close()
        self._connection = self._reconnected = None


def watch(engine: Engine) -> Watch | None:
    """The watch for ``engine``'s database (None for an in-memory SQLite database)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return None if in_memory(url) or url.database is None else SQLiteWatch(url.database)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresWatch(conninfo)
