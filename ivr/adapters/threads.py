"""Threads for blocking work (the database, an AMI action) that a stop waits for.

The loop's default pool is waited for by `asyncio.run` alone, not by a loop run any
other way (`ivr.service.ServiceThread`): work left there could still touch the
database after the service stopped and its call log closed. The service owns these
threads (`start()`, `stop()`); the composition root hands them to the FastAGI
handlers and the speech client.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")
CALL_THREADS = "hotline-call"  # the name of the FastAGI handlers' and speech client's threads


class WorkThreads:
    """A thread pool whose owner starts it and waits for it when stopping."""

    def __init__(self, workers: int | None = None, name: str = "hotline") -> None:
        self.workers, self.name = workers, name  # None: as many as the loop's default pool
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=self.name)

    def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """`fn(*args, **kwargs)` on these threads, in the caller's context (the call id
        in the log lines), as `asyncio.to_thread` does. Submitted at once, not when
        awaited: a shielded future runs even when its caller is cancelled. Not started
        (parts driven alone, in tests), or stopped, the loop's default pool runs it."""
        call = partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def stop(self, *, drop_queued: bool = False) -> None:
        """Take no more work and return once the work submitted has ended; with
        `drop_queued`, what has not started yet never does. The caller bounds the wait
        (a thread cannot be stopped; one still running when it gives up is left)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pool.shutdown(wait=False, cancel_futures=drop_queued)
        await asyncio.to_thread(pool.shutdown)  # the loop's pool: never one of these threads
