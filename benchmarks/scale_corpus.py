"""Synthetic corpora of N chunks for the scale benchmark, built from the 5,000 real dbpedia-entity passages
and cached under var/scale/ so a rerun skips building them.

Chunk i belongs to source i // SOURCE_CHUNKS (a page of ten sections). A source's chunks are variants of
one real document (its "primary": title, heading and visibility, from search_common's mix): its sentences
shuffled, about a third of them left out, and one or two sentences of other documents mixed in, so every
chunk's text is distinct and BM25 has real vocabulary to rank.

Vectors are 384-dimensional unit vectors with cluster structure, as an embedder gives topics: each
document has a random centroid; a chunk is its primary's centroid + CHUNK_NOISE + a share of the centroid of
the first document it borrowed from. A query vector is a document's centroid + QUERY_NOISE. So at 100k a
query's cluster holds ~20 chunks (200 at 1M) whose order only the noise decides: kNN is not trivial.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from benchmarks.search_common import DIMS, load_corpus
from search.values import Chunk, text_hash

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "scale"
FORMAT = 1  # bump when the generation changes, so old caches are not reused
SOURCE_CHUNKS = 10
# Norms of the noise added to a unit centroid (Gaussian, spread over the 384 dimensions): a chunk's cosine
# to its own centroid comes out ~0.7, a query's ~0.6, the cosine of two unrelated vectors ~0 ± 0.05.
CHUNK_NOISE = 0.9
QUERY_NOISE = 1.2
BORROWED_SHARE = 0.3
GENERATE_BLOCK = 50_000  # vectors per numpy block: ~77 MB of float32 at a time
SENTENCE = re.compile(r"(?<=[.!?])\s+")
# The corpus's abstracts end in RDF residue ("@en <http://dbpedia.org/...> <...#comment>"): not prose.
RDF_RESIDUE = re.compile(r"\s*@en\b|\s*<https?://[^>]*>")


@dataclass(frozen=True, kw_only=True)
class Query:
    text: str
    vector: list[float]


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _noise(rng: np.random.Generator, n: int, norm: float) -> np.ndarray:
    return rng.standard_normal((n, DIMS)).astype(np.float32) * np.float32(norm / np.sqrt(DIMS))


class ScaleCorpus:
    """N chunks and their vectors, built once per size into `var/scale/<N>-v<FORMAT>/` (chunks.jsonl,
    vectors.npy), then read from there (the vectors memory-mapped)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.folder = CACHE / f"{size}-v{FORMAT}"
        self.base, self.queries_dbpedia, _ = load_corpus(10**9)
        self.centroids = _unit(np.random.default_rng(11).standard_normal((len(self.base), DIMS)))
        self.built_now = False

    @property
    def chunks_path(self) -> Path:
        return self.folder / "chunks.jsonl"

    @property
    def vectors_path(self) -> Path:
        return self.folder / "vectors.npy"

    def ensure(self) -> float:
        """Build the cache if missing; returns the seconds it took (0 when cached)."""
        if (self.folder / "done").exists():
            return 0.0
        started = time.perf_counter()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write()
        (self.folder / "done").write_text(str(self.size))
        self.built_now = True
        return time.perf_counter() - started

    def _primary(self, i: int) -> int:
        return (i // SOURCE_CHUNKS) % len(self.base)

    def _write(self) -> None:
        rng = np.random.default_rng(self.size)
        sentences = [SENTENCE.split(RDF_RESIDUE.sub("", doc.text).strip()) for doc in self.base]
        vectors = np.lib.format.open_memmap(
            self.vectors_path, mode="w+", dtype=np.float32, shape=(self.size, DIMS)
        )
        with self.chunks_path.open("w") as out:
            for start in range(0, self.size, GENERATE_BLOCK):
                stop = min(self.size, start + GENERATE_BLOCK)
                primaries = np.array([self._primary(i) for i in range(start, stop)])
                borrowed = rng.integers(0, len(self.base), size=(stop - start, 2))
                for offset in range(stop - start):
                    text = self._text(rng, sentences, int(primaries[offset]), borrowed[offset])
                    out.write(json.dumps({"text": text}) + "\n")
                mix = self.centroids[primaries] + BORROWED_SHARE * self.centroids[borrowed[:, 0]]
                vectors[start:stop] = _unit(mix + _noise(rng, stop - start, CHUNK_NOISE))
        vectors.flush()

    @staticmethod
    def _text(
        rng: np.random.Generator, sentences: list[list[str]], primary: int, borrowed: np.ndarray
    ) -> str:
        own = list(sentences[primary])
        keep = max(1, round(len(own) * rng.uniform(0.5, 0.9)))
        picked = [own[j] for j in rng.permutation(len(own))[:keep]]
        for other in borrowed[: 1 + int(rng.integers(0, 2))]:
            theirs = sentences[int(other)]
            picked.append(theirs[int(rng.integers(0, len(theirs)))])
        order = rng.permutation(len(picked))
        return " ".join(picked[j] for j in order)

    def chunks(self) -> Iterator[Chunk]:
        """The N chunks, in order (read from the cache)."""
        with self.chunks_path.open() as f:
            for i, line in enumerate(f):
                text = json.loads(line)["text"]
                primary = self.base[self._primary(i)]
                yield replace(
                    primary,
                    source_id=i // SOURCE_CHUNKS,
                    chunk_id=f"scale-{i}",
                    text=text,
                    context=text,
                    content_hash=text_hash(text),
                    position=i % SOURCE_CHUNKS,
                )

    def vectors(self) -> np.ndarray:
        return np.load(self.vectors_path, mmap_mode="r")

    def queries(self, n: int, *, seed: int = 5) -> list[Query]:
        """`n` distinct questions: the 50 judged dbpedia-entity queries, then 3-7 consecutive words of a
        random document's sentence; each with a vector near the centroid of a random document."""
        rng = np.random.default_rng(seed)
        texts = [text for _, text in self.queries_dbpedia][:n]
        while len(texts) < n:
            words = self.base[int(rng.integers(0, len(self.base)))].text.split()
            length = int(rng.integers(3, 8))
            start = int(rng.integers(0, max(1, len(words) - length)))
            texts.append(" ".join(words[start : start + length]))
        near = rng.integers(0, len(self.base), size=n)
        vectors = _unit(self.centroids[near] + _noise(rng, n, QUERY_NOISE))
        return [Query(text=t, vector=v.tolist()) for t, v in zip(texts, vectors, strict=True)]
