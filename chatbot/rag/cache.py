"""The answer cache: a repeated question from someone who sees the same knowledge gets the same answer
without retrieval or generation.

Key: the normalised standalone question, the principal's visibility fingerprint, the index version, the
session scope, the LLM and the answer length. The index version is a counter in the same cache that the
knowledge pipeline bumps after every indexed or removed source, so any change of the index makes every
older entry unreachable (they expire with their TTL). Invalidating only the entries that cite a changed
source would not be enough: a new or edited page can answer a question that was declined before, or answer
it better than the sources that were cited. Cited sources are still re-checked against the database on
every hit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Collection
from typing import Any

from django.core.cache import caches

from datacollection.conf import settings_dict
from search.values import Principal

logger = logging.getLogger(__name__)

VERSION_KEY = "chatbot:rag:index-version"
_KEY_PREFIX = "chatbot:rag:answer:"


ANSWER_CACHE_KEYS = frozenset({"ENABLED", "CACHE", "TIMEOUT"})


def answer_cache_settings() -> dict[str, Any]:
    return settings_dict("CHATBOT_ANSWER_CACHE", known=ANSWER_CACHE_KEYS)


def _cache() -> Any:
    return caches[answer_cache_settings().get("CACHE", "default")]


def enabled() -> bool:
    return bool(answer_cache_settings().get("ENABLED", True))


def index_version() -> int:
    try:
        return int(_cache().get(VERSION_KEY) or 0)
    except Exception as e:  # noqa: BLE001 - a cache outage must not fail the question, only skip the cache
        logger.warning("answer cache: cannot read the index version: %s", e)
        return -1


def index_version_bump() -> int:
    """Call after each source is indexed or removed: every cached answer computed before is unreachable.

    Never raises: the editor's publish must not fail because the cache is down (answers then stay cached
    for at most the TTL)."""
    cache = _cache()
    try:
        # add() is a no-op when the counter exists; incr() is atomic on Redis.
        cache.add(VERSION_KEY, 0, timeout=None)
        return int(cache.incr(VERSION_KEY))
    except ValueError:  # evicted between add and incr
        cache.set(VERSION_KEY, 1, timeout=None)
        return 1
    except Exception as e:  # noqa: BLE001 - see the docstring
        logger.warning("answer cache: cannot bump the index version: %s", e)
        return -1


def question_normalise(question: str) -> str:
    text = " ".join(question.lower().split())
    return re.sub(r"[\s?!.]+$", "", text)


def answer_key(
    question: str,
    *,
    principal: Principal,
    scope: Collection[str] | None,
    model: str,
    version: int,
    options: str = "",
) -> str:
    """`options`: whatever else shapes the answer (the LLM alias and the answer length a session chose)."""
    parts = {
        "q": question_normalise(question),
        "p": principal.fingerprint,
        "v": version,
        "s": sorted(scope or ()),
        "m": model,
        "o": options,
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return _KEY_PREFIX + digest


def answer_get(key: str) -> dict[str, Any] | None:
    if not enabled():
        return None
    try:
        value = _cache().get(key)
    except Exception as e:  # noqa: BLE001 - see index_version
        logger.warning("answer cache: read failed: %s", e)
        return None
    return value if isinstance(value, dict) else None


def answer_set(key: str, value: dict[str, Any]) -> None:
    if not enabled():
        return
    try:
        _cache().set(key, value, timeout=int(answer_cache_settings().get("TIMEOUT", 3600)))
    except Exception as e:  # noqa: BLE001 - see index_version
        logger.warning("answer cache: write failed: %s", e)


def answer_delete(key: str) -> None:
    try:
        _cache().delete(key)
    except Exception as e:  # noqa: BLE001 - see index_version
        logger.warning("answer cache: delete failed: %s", e)
