"""Exact cosine search in numpy for the database backend. The index's float32 matrix is cached per process
and reloaded when the alias row's `version` (bumped by every write, in any process) changes."""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]


class MatrixCache:
    """Per process: (database, alias) → the target's row ids (sorted) and L2-normalised vectors, valid for
    one (target, version). One entry per index, replaced when the version moves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[str, int, Ids, Matrix]] = {}

    def get(self, key: tuple[str, str], target: str, version: int) -> tuple[Ids, Matrix] | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry and entry[0] == target and entry[1] == version:
            return entry[2], entry[3]
        return None

    def put(self, key: tuple[str, str], target: str, version: int, ids: Ids, m: Matrix) -> None:
        with self._lock:
            self._entries[key] = (target, version, ids, m)

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._entries.pop(key, None)


matrices = MatrixCache()


def cosine_top(
    query: Matrix, *, ids: Ids, matrix: Matrix, candidates: Ids, k: int
) -> list[tuple[int, float]]:
    """The best `k` of `candidates` (row ids) by cosine with `query` (unit length); score = (1 + cos) / 2
    like Elasticsearch's. Candidates missing from the matrix (written after it was loaded) are skipped."""
    if not len(candidates) or not len(ids):
        return []
    positions = np.searchsorted(ids, candidates).clip(0, len(ids) - 1)
    positions = positions[ids[positions] == candidates]
    # Scoring every row and picking the candidates is cheaper than copying the candidates' rows out.
    scores = ((matrix @ query)[positions] + 1.0) / 2.0
    top = np.argsort(-scores, kind="stable")[:k]
    return [(int(ids[positions[i]]), float(scores[i])) for i in top]
