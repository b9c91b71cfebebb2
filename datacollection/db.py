"""Database connections under ASGI: bounded by a pool, held only for short ORM steps, and a pool that
stays empty past its timeout answered as "busy" (503 with Retry-After) instead of a 500.

Under ASGI every request runs its sync code in a thread of its own, each with its own connection. Django
returns that connection when the request finishes, which for a stream is when the stream ends: seconds
of retrieval and model tokens later. `connections_release` gives it back after each short step instead
(to the pool, or closed without one), so a held stream costs no connection while it waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import OperationalError, connections

from .gates import loop_gate

P = ParamSpec("P")
R = TypeVar("R")

# Seconds a client is told to wait before trying again when no connection was free.
RETRY_AFTER_SECONDS = 2
BUSY_MESSAGE = "The service is busy right now. Please try again in a moment."


def connections_release() -> None:
    """This thread's connections back to the pool (or closed, as CONN_MAX_AGE says), except one inside a
    transaction (`atomic`, a test's transaction): closing that would break it."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


def releasing(function: Callable[P, R]) -> Callable[P, R]:
    """`function`, then `connections_release()` however it ended (for `sync_to_async` steps)."""

    @wraps(function)
    def step(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        finally:
            connections_release()

    return step


def _step_gate() -> asyncio.Semaphore | None:
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    if not pool:
        return None
    # Half the pool: the other half serves requests (their views) while streams take their steps.
    return loop_gate("database-steps", int(pool["max_size"]) // 2)


async def db_step(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`function` in a thread, its connection returned when it ends (`releasing`), for the database steps
    of a stream that has already opened. With a pool, at most half its connections are taken by such
    steps at once; the others wait their turn in the event loop rather than in the pool, where
    DB_POOL_TIMEOUT would end an open stream with `database_busy`. Why: 500 streams opened at once on
    2 cores (benchmarks/streams.py) had 500 threads queue on 20 connections whose holders crawled; a
    request not yet streaming is still refused 503 with Retry-After."""
    step = sync_to_async(releasing(function))
    gate = _step_gate()
    if gate is None:
        return await step(*args, **kwargs)
    async with gate:
        return await step(*args, **kwargs)


def database_busy(error: BaseException | None) -> bool:
    """Whether `error` is the pool's timeout: every connection stayed in use for DB_POOL_TIMEOUT."""
    if not isinstance(error, OperationalError):
        return False
    try:
        from psycopg_pool import PoolTimeout
    except ImportError:  # no pool installed, so no pool timeout
        return False
    cause = error.__cause__ or error.__context__
    return isinstance(cause, PoolTimeout)
