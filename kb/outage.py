"""Time limits on the database, and what the server does while the database is unavailable.

A database that stops answering (a frozen host, a network partition) must not hang requests:
PostgreSQL connections give up on a server that has not answered for the statement timeout
plus half a second (the server's own ``statement_timeout`` ends slow statements first), and
connecting gives up after ``connect_timeout``. Once connecting has failed or a server has not
answered, new connections fail at once for ``RETRY_AFTER_S`` seconds, after which one request
tries again: a request arriving during an outage costs microseconds, not a thread held for
seconds. Pooled connections are checked before use (``pool_pre_ping``), and a connection that
failed is dropped with every other connection pooled before it, so the server recovers by
itself when the database returns.

``unavailable_cause`` tells such failures (unreachable, timed out, locked, read-only) from
bugs: the API answers the first with 503 and ``Retry-After`` (``kb.api.errors``).
"""

import logging
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.abc import PQGen
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, ExceptionContext

log = logging.getLogger(__name__)
RV = TypeVar("RV")

RETRY_AFTER_S = 2
"""How long clients are asked to wait after a 503 (``Retry-After``), and how long new
connections fail at once after the database was found unreachable."""

# How much longer than the server's statement_timeout a client waits for an answer: the
# server's own cancellation (a clean error on a connection that stays usable) comes first.
_ANSWER_MARGIN_S = 0.5
_MAX_CAUSE = 300
# What drivers raise when the database cannot do what it is asked, not because it was asked
# wrongly: unreachable, timed out, locked, out of space; PostgreSQL in read-only mode.
_FAILURES = (
    psycopg.OperationalError,
    sqlite3.OperationalError,
    psycopg.errors.ReadOnlySqlTransaction,
)


@dataclass(frozen=True, slots=True)
class Limits:
    """How long the database may take, in seconds, for an engine that serves requests."""

    connect_s: int
    """PostgreSQL: connecting (libpq's ``connect_timeout``, at least 2)."""
    statement_s: float
    """PostgreSQL: one statement (``statement_timeout``)."""
    busy_s: float
    """SQLite: waiting for another connection's write lock (``busy_timeout``)."""
    pool_s: float
    """Waiting for a free connection of the engine's pool."""


class Unanswered(psycopg.OperationalError):
    """The PostgreSQL server did not answer in time; its connection has been closed."""


class DeadlineConnection(psycopg.Connection[Any]):
    """A psycopg connection that stops waiting for a server after ``deadline_s`` seconds.

    libpq waits for an answer for as long as the socket stays open, and a frozen server's
    kernel keeps it open. The connection is closed then: what the server would still send
    cannot be told from the answer to the next statement.
    """

    deadline_s: float | None = None

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        if timeout is not None or self.deadline_s is None:
            return super().wait(gen, interval, timeout)  # a caller's own timeout (notifies)
        try:
            return super().wait(gen, interval, self.deadline_s)
        except psycopg.errors._WaitTimeout:  # psycopg's (private) signal that time ran out
            self.pgconn.finish()
            raise Unanswered(f"the database did not answer within {self.deadline_s:g} s") from None


class Outage:
    """Whether the database was just found unreachable; while it is, connecting fails at once,
    but for one attempt every ``RETRY_AFTER_S`` seconds."""

    def __init__(self, connect_s: float) -> None:
        self._connect_s = connect_s
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._next_attempt = 0.0
        self.cause = ""

    def refusing(self) -> bool:
        """Whether a request needing the database should fail now without trying it."""
        return self._down_since is not None and time.monotonic() < self._next_attempt

    def before_connect(self) -> None:
        """Raise at once while refusing; else let this attempt through (the only one, until
        it has had the time to connect)."""
        with self._lock:
            now = time.monotonic()
            if self._down_since is None:
                return
            if now < self._next_attempt:
                raise psycopg.OperationalError(f"{self.cause} (not tried again yet)")
            self._next_attempt = now + self._connect_s + 1

    def failed(self, cause: str) -> None:
        with self._lock:
            now = time.monotonic()
            if self._down_since is None:
                self._down_since = now
            self._next_attempt = now + RETRY_AFTER_S
            self.cause = cause

    def answered(self) -> None:
        with self._lock:
            down_since, self._down_since = self._down_since, None
        if down_since is not None:
            log.warning("the database answers again, after %.1f s", time.monotonic() - down_since)

    def noticed(self, context: ExceptionContext) -> None:
        """``handle_error`` listener: a server that did not answer counts as unreachable."""
        if isinstance(context.original_exception, Unanswered):
            self.failed(one_line(context.original_exception))


_outages: "weakref.WeakKeyDictionary[Engine, Outage]" = weakref.WeakKeyDictionary()


def _connect(
    limits: Limits,
    outage: Outage,
    _dialect: Any,
    _record: Any,
    cargs: tuple[Any, ...],
    cparams: dict[str, Any],
) -> DeadlineConnection:
    """``do_connect`` listener: a connection with the time limits, unless the database was
    just found unreachable (then fail at once)."""
    params = dict(cparams)
    params.setdefault("connect_timeout", limits.connect_s)
    statement_ms = round(limits.statement_s * 1000)
    params["options"] = f"{params.get('options', '')} -c statement_timeout={statement_ms}".strip()
    outage.before_connect()
    try:
        connection = DeadlineConnection.connect(*cargs, **params)
    except psycopg.OperationalError as exc:
        outage.failed(one_line(exc))
        raise
    outage.answered()
    connection.deadline_s = limits.statement_s + _ANSWER_MARGIN_S
    return connection


def limit_postgres(engine: Engine, limits: Limits) -> None:
    """Give a PostgreSQL engine ``limits``, and fail its connections at once during an outage."""
    outage = Outage(limits.connect_s)
    event.listen(engine, "do_connect", partial(_connect, limits, outage))
    event.listen(engine, "handle_error", outage.noticed)
    _outages[engine] = outage


def outage_of(engine: Engine) -> Outage | None:
    """The outage state of a PostgreSQL engine made with limits (None for any other)."""
    return _outages.get(engine)


def one_line(exc: BaseException) -> str:
    """The gist of an error on one short line (a DBAPI error's own message, without the SQL
    statement and parameters SQLAlchemy adds)."""
    inner = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    text = " ".join(str(inner).split()) or type(inner).__name__
    return text if len(text) <= _MAX_CAUSE else text[: _MAX_CAUSE - 3] + "..."


def unavailable_cause(exc: BaseException) -> str | None:
    """Why the database cannot serve, if ``exc`` says it cannot (unreachable, timed out,
    locked, read-only, out of connections); None for anything else (a bug, say)."""
    if isinstance(exc, sa_exc.TimeoutError):
        return "no database connection became free in time (pool timeout)"
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    if (
        exc.connection_invalidated
        or isinstance(exc, sa_exc.OperationalError)
        or isinstance(exc.orig, _FAILURES)
    ):
        return one_line(exc)
    return None
