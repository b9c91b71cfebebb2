"""Per-user rate limits with django-ratelimit, counted in the cache (Redis) and failing closed.

django-ratelimit lets a Redis connection error escape from `cache.add` (or, for some failures, reports a
count of None, which it turns into "limited" with `time_left == -1`). Both become `LimiterUnavailable`
(503): an unreachable limiter must never mean "no limit".
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from .exceptions import LimiterUnavailable, RateLimited

logger = logging.getLogger(__name__)

MESSAGES = "chatbot.messages"  # sending and streaming share this group
UPLOADS = "chatbot.uploads"
SEARCHES = "chatbot.searches"  # the MCP server's search and source tools


def _user_key(group: str, request: Any) -> str:
    return f"user:{request.user.pk}"


def _rate(group: str, request: Any) -> str:
    rates = {
        MESSAGES: settings.CHATBOT_RATE_MESSAGES,
        UPLOADS: settings.CHATBOT_RATE_UPLOADS,
        SEARCHES: settings.CHATBOT_RATE_SEARCHES,
    }
    return rates[group]


def _usage(request: Any, *, group: str) -> dict[str, Any] | None:
    usage = get_usage(request, group=group, key=_user_key, rate=_rate, increment=True)
    if usage is not None and usage["time_left"] < 0:
        # No count: the store failed, or the window's counter expired between django-ratelimit's `add`
        # and its `incr` (a cache whose incr is get-then-set, like `make run`'s file cache, then finds no
        # key). One more try starts the new window; a store that is really down fails again. Measured:
        # 3 of 5,352 requests were refused at minute boundaries by `make bench BENCH=embedded` before.
        usage = get_usage(request, group=group, key=_user_key, rate=_rate, increment=True)
    return usage


def rate_limit_hit(request: Any, *, group: str) -> None:
    """Count one request of `group` for the user; raise `RateLimited` past the rate."""
    try:
        usage = _usage(request, group=group)
    except (RedisError, OSError, ValueError) as e:
        logger.error("Rate limiter store unavailable for %s: %s", group, e)
        raise LimiterUnavailable(
            "The rate limiter is unavailable, so the request was refused; try again shortly.",
            headers={"Retry-After": "5"},
        ) from e
    if usage is None:  # RATELIMIT_ENABLE = False
        return
    if usage["time_left"] < 0:
        raise LimiterUnavailable(
            "The rate limiter is unavailable, so the request was refused; try again shortly.",
            headers={"Retry-After": "5"},
        )
    if usage["should_limit"]:
        retry_after = max(1, int(usage["time_left"]))
        raise RateLimited(
            f"Rate limit of {_rate(group, request)} reached; retry in {retry_after} s.",
            extra={"retry_after": retry_after, "limit": usage["limit"]},
            headers={"Retry-After": str(retry_after)},
        )
