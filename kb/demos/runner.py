"""Runs demo jobs in worker processes: a hard time limit, bounded concurrency, a result cache.

Every run gets a fresh process forked from a fork server that has NumPy, ``reference/``, the
demos and matplotlib already imported (``kb.demos.preload``), so a run past its time limit is
ended with SIGKILL and nothing it touched survives. The API process only waits: the blocking
parts (starting a process, reading its result, reaping it) happen on a small thread pool of
the runner's own, never on the event loop or on the pool that serves database reads.

At most ``concurrency`` workers run at once; a run that would exceed it is refused at once
(``Saturated``), not queued. Identical requests share one run while it is in progress, and
recent outcomes are kept, keyed by the caller (demo, parameters, seed), bounded both in number
and in bytes (results, plots and keys), the least recently used dropped first.
"""

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.context
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any

from kb.demos import worker
from kb.demos.base import DemoParams
from kb.demos.worker import Job
from kb.lru import BoundedLRU, weight

log = logging.getLogger(__name__)

PRELOAD = ["kb.demos.preload"]
WARM_UP_TIMEOUT_S = 120.0
REAP_TIMEOUT_S = 10.0


class Saturated(Exception):
    """Every worker slot is busy."""


class TimedOut(Exception):
    """The run exceeded its time limit; its worker was killed."""


class DemoFailed(Exception):
    """The run raised, or its worker died without a result."""


@dataclass(frozen=True)
class Outcome:
    body: bytes
    """JSON object text with the run's ``metrics`` and ``series``."""
    references: list[str] | None
    elapsed_ms: float
    svg: bytes | None
    cached: bool = False


def _receive(connection: Connection) -> Any:
    """The worker's message, or None if it died first (its end of the pipe closed)."""
    try:
        return connection.recv()
    except (EOFError, OSError):
        return None


def footprint(key: Hashable, outcome: Outcome) -> int:
    """The bytes a kept outcome is counted as (see ``kb.lru.weight``)."""
    return weight(key, outcome.body, outcome.svg, outcome.references)


class Runner:
    def __init__(
        self,
        *,
        timeout_s: float,
        concurrency: int,
        cache_size: int,
        memory_mb: int | None,
        cache_bytes: int | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.memory_mb = memory_mb
        self._cache: BoundedLRU[Outcome] = BoundedLRU(max_entries=cache_size, max_bytes=cache_bytes)
        self._pending: dict[tuple[Hashable, bool], asyncio.Task[Outcome]] = {}
        self._active = 0
        self._live: set[multiprocessing.process.BaseProcess] = set()
        self._context = multiprocessing.get_context("forkserver")
        # One thread per worker slot (each run blocks one in turn to start, read and reap its
        # worker), plus one for the warm-up.
        self._threads = ThreadPoolExecutor(concurrency + 1, thread_name_prefix="kb-demo")

    @property
    def active(self) -> int:
        """Runs in progress."""
        return self._active

    @property
    def cache_bytes(self) -> int:
        """What the kept outcomes are counted as (see ``footprint``)."""
        return self._cache.nbytes

    async def start(self) -> None:
        """Start the fork server and one worker, so the first request does not pay for it.

        A failure is logged, not raised: the rest of the API does not depend on demos.
        """
        self._context.set_forkserver_preload(PRELOAD)
        job = Job(run=worker.ready, params=DemoParams())
        try:
            await self._execute(job, WARM_UP_TIMEOUT_S)
        except (TimedOut, DemoFailed) as exc:
            log.warning("demo workers are not ready: %s", exc)

    async def stop(self) -> None:
        for process in list(self._live):
            with contextlib.suppress(Exception):
                process.kill()
        pending = list(self._pending.values())
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        self._threads.shutdown(wait=True)

    async def run(self, key: Hashable, job: Job) -> Outcome:
        """The outcome of ``job``, from the cache, a run in progress, or a new run.

        Raises ``Saturated`` at once if a new run is needed and every slot is busy,
        ``TimedOut`` after the time limit, ``DemoFailed`` if the run fails.
        """
        wants_plot = job.plot is not None
        hit = self._cache.get(key)
        if hit is not None and (hit.svg is not None or not wants_plot):
            return replace(hit, cached=True)
        task = self._pending.get((key, wants_plot))
        if task is None and not wants_plot:
            task = self._pending.get((key, True))
        if task is None:
            if self._active >= self.concurrency:
                raise Saturated(f"all {self.concurrency} demo workers are busy")
            task = self._launch(key, job)
        # Shielded: a client that goes away does not cancel a run that others may share.
        return await asyncio.shield(task)

    def _launch(self, key: Hashable, job: Job) -> "asyncio.Task[Outcome]":
        self._active += 1
        slot = (key, job.plot is not None)
        task = asyncio.get_running_loop().create_task(self._execute(job, self.timeout_s))

        def done(finished: "asyncio.Task[Outcome]") -> None:
            self._active -= 1
            self._pending.pop(slot, None)
            if not finished.cancelled() and finished.exception() is None:
                outcome = finished.result()
                self._cache.put(key, outcome, footprint(key, outcome))

        task.add_done_callback(done)
        self._pending[slot] = task
        return task

    async def _execute(self, job: Job, timeout_s: float) -> Outcome:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        job = replace(job, memory_mb=self.memory_mb)
        reader, writer = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=worker.main, args=(writer, job), name="kb-demo", daemon=True
        )
        try:
            try:
                await loop.run_in_executor(self._threads, process.start)
            except Exception as exc:
                raise DemoFailed(f"could not start a demo worker: {exc}") from exc
            finally:
                writer.close()
            self._live.add(process)
            receiving = loop.run_in_executor(self._threads, _receive, reader)
            try:
                remaining = max(deadline - loop.time(), 0.0)
                message = await asyncio.wait_for(asyncio.shield(receiving), remaining)
            except TimeoutError:
                raise TimedOut(
                    f"the demo did not finish within {timeout_s:g} s; its worker was stopped"
                ) from None
            finally:
                # Still reading: the time is up (or the server is stopping). Killing the worker
                # ends the read. A worker that has replied is left to exit by itself, so that a
                # kill can never reach a process that has already gone (and its pid reused).
                if not receiving.done():
                    process.kill()
                with contextlib.suppress(Exception):
                    await receiving
                await loop.run_in_executor(self._threads, process.join, REAP_TIMEOUT_S)
                if process.exitcode is None:  # replied, but does not exit
                    process.kill()
                    await loop.run_in_executor(self._threads, process.join, REAP_TIMEOUT_S)
        finally:
            reader.close()
            self._live.discard(process)
        if message is None:
            raise DemoFailed(
                f"the demo worker died without a result (exit code {process.exitcode})"
            )
        if not message["ok"]:
            raise DemoFailed(message["error"])
        return Outcome(
            body=message["body"],
            references=message["references"],
            elapsed_ms=message["elapsed_ms"],
            svg=message["svg"],
        )
