"""LLM layer benchmarks: extractive answers on the Wagtail docs questions, and SmolLM2 speed.

    .venv/bin/python -m benchmarks.llm [extractive] [server] [inprocess]

Writes bench-results/llm.json. Passages for the extractive part come from a plain BM25 over the docs'
Markdown sections (not the product's retrieval), so the figures isolate the sentence picker.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.paths import corpus, eval_dir

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("WAGTAIL_DOCS") or corpus("wagtail-docs"))
QUESTIONS = Path(os.environ.get("WAGTAIL_QUESTIONS") or eval_dir("wagtail-docs", "questions.jsonl"))
RESULTS = ROOT / "bench-results" / "llm.json"
TOP_K = 5
MIN_SCORE = float(os.environ["MIN_SCORE"]) if "MIN_SCORE" in os.environ else None


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datacollection.settings.dev")
    import django

    django.setup()


def sections(corpus: Path) -> list[dict[str, str]]:
    """The docs split at headings, each with its heading path as title."""
    found = []
    for path in sorted(corpus.rglob("*.md")):
        relative = str(path.relative_to(corpus))
        heading: list[str] = []
        lines: list[str] = []
        in_fence = False
        for line in [*path.read_text(encoding="utf-8").splitlines(), "# end"]:
            if line.lstrip().startswith(("```", "~~~")):
                in_fence = not in_fence
            match = None if in_fence else re.match(r"^(#{1,6})\s+(.*)", line)
            if not match:
                lines.append(line)
                continue
            text = "\n".join(lines).strip()
            if text:
                found.append({"path": relative, "title": " > ".join(heading), "text": text})
            lines = []
            level = len(match.group(1))
            heading = [*heading[: level - 1], match.group(2).strip()]
    return found


class BM25:
    def __init__(self, docs: list[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.docs = [Counter(d) for d in docs]
        self.lengths = [len(d) for d in docs]
        self.avg = sum(self.lengths) / len(docs)
        df: Counter[str] = Counter()
        for d in self.docs:
            df.update(d.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.k1, self.b = k1, b

    def top(self, query: list[str], k: int) -> list[int]:
        scores = []
        for i, d in enumerate(self.docs):
            s = 0.0
            for t in query:
                f = d.get(t, 0)
                if f:
                    s += (
                        self.idf[t]
                        * f
                        * (self.k1 + 1)
                        / (f + self.k1 * (1 - self.b + self.b * self.lengths[i] / self.avg))
                    )
            scores.append(s)
        return sorted(range(len(scores)), key=lambda i: scores[i], reverse=True)[:k]


def bench_extractive() -> dict[str, Any]:
    from chatbot.llm.extractive import SourcePassage, extractive_answer
    from chatbot.llm.sentences import terms

    docs = sections(CORPUS)
    index = BM25([sorted_terms(terms(f"{d['title']} {d['text']}"), d["text"]) for d in docs])
    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    latencies: list[float] = []
    latencies_8x300: list[float] = []  # 8 passages cut to 300 words, the size of real chunks' contexts
    rows = []
    for q in questions:
        hits = index.top(sorted(terms(q["question"])), TOP_K)
        sources = [
            SourcePassage(number=n, title=docs[i]["title"], text=docs[i]["text"])
            for n, i in enumerate(hits, 1)
        ]
        eight = [
            SourcePassage(number=n, title=docs[i]["title"], text=" ".join(docs[i]["text"].split(" ")[:300]))
            for n, i in enumerate(index.top(sorted(terms(q["question"])), 8), 1)
        ]
        start = time.perf_counter()
        extractive_answer(q["question"], eight, use_embedder=False)
        latencies_8x300.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        answer = extractive_answer(q["question"], sources, use_embedder=False, min_score=MIN_SCORE)
        latencies.append((time.perf_counter() - start) * 1000)
        text = " ".join(s.text for s in answer).lower()
        rows.append(
            {
                "id": q["id"],
                "answerable": q["answerable"],
                "answered": bool(answer),
                "contains": bool(q["must_contain"]) and all(m.lower() in text for m in q["must_contain"]),
                "top_score": answer[0].score if answer else 0.0,
                "in_passages": all(
                    m.lower() in " ".join(s.text for s in sources).lower() for m in q["must_contain"]
                ),
            }
        )
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    latencies.sort()
    latencies_8x300.sort()
    return {
        "questions": len(rows),
        "answerable_answered": sum(r["answered"] for r in answerable) / len(answerable),
        "answerable_contains_answer": sum(r["contains"] for r in answerable) / len(answerable),
        "unanswerable_declined": sum(not r["answered"] for r in unanswerable) / max(1, len(unanswerable)),
        "latency_ms_p50": round(statistics.median(latencies), 2),
        "latency_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
        "passages_per_question": TOP_K,
        "latency_ms_8x300_words_p50": round(statistics.median(latencies_8x300), 2),
        "latency_ms_8x300_words_p95": round(latencies_8x300[int(0.95 * (len(latencies_8x300) - 1))], 2),
        "rows": rows,
    }


def sorted_terms(found: set[str], text: str) -> list[str]:
    # Term frequency matters to BM25: count each content term's occurrences in the section text.
    from chatbot.llm.sentences import terms

    counts: Counter[str] = Counter()
    for word in re.findall(r"\S+", text):
        counts.update(terms(word) & found)
    return [t for t in found for _ in range(max(1, counts[t]))]


def long_prompt(variant: int = 0) -> list[Any]:
    from chatbot.llm import ChatMessage

    text = (CORPUS / "reference" / "contrib" / "settings.md").read_text(encoding="utf-8")
    context = text[:4000]  # ~1,000 tokens of SmolLM2's vocabulary
    return [
        # The variant leads the prompt so that llama.cpp's prefix cache cannot reuse an earlier run.
        ChatMessage(role="system", content=f"Session {variant}. Answer from the sources only."),
        ChatMessage(
            role="user", content=f"Sources:\n{context}\n\nQuestion: How do I read a site setting in a view?"
        ),
    ]


async def _measure(llm: Any, messages: list[Any], *, max_tokens: int = 64) -> dict[str, Any]:
    start = time.perf_counter()
    first: float | None = None
    pieces = 0
    usage = None
    async for chunk in llm.stream(messages, max_tokens=max_tokens, temperature=0.0):
        if chunk.text and first is None:
            first = time.perf_counter()
        pieces += bool(chunk.text)
        usage = chunk.usage or usage
    end = time.perf_counter()
    completion = usage.completion_tokens if usage else pieces
    if first is None:
        raise RuntimeError("the model produced no text")
    return {
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": completion,
        "time_to_first_token_s": round(first - start, 2),
        "tokens_per_s_after_first": round((completion - 1) / max(end - first, 1e-6), 1),
        "total_s": round(end - start, 2),
    }


def bench_server() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from chatbot.llm import get_llm
    from tests.llm_server import LlamaServer

    with LlamaServer() as server:
        llm = get_llm(
            BACKEND="chatbot.llm.openai", BASE_URL=server.base_url, MODEL=server.model, MAX_RETRIES=0
        )
        runs = [asyncio.run(_measure(llm, long_prompt(variant))) for variant in range(3)]
    return {"first_request": runs[0], "next_requests": runs[1:]}


def bench_inprocess() -> dict[str, Any]:
    from chatbot.llm import get_llm

    llm = get_llm(BACKEND="chatbot.llm.llamacpp", MODEL_PATH="", THREADS=1)
    runs = [asyncio.run(_measure(llm, long_prompt(variant))) for variant in range(3)]
    return {"first_request_includes_model_load": runs[0], "next_requests": runs[1:]}


def main(argv: list[str]) -> None:
    _setup_django()
    wanted = set(argv) or {"extractive", "server", "inprocess"}
    results: dict[str, Any] = {}
    if "extractive" in wanted:
        results["extractive"] = bench_extractive()
    if "server" in wanted:
        results["llamacpp_server"] = bench_server()
    if "inprocess" in wanted:
        results["llamacpp_inprocess"] = bench_inprocess()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    summary = {k: {kk: vv for kk, vv in v.items() if kk != "rows"} for k, v in results.items()}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
