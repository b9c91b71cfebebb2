"""Run the benchmarks (`make bench`), each in its own process, since each sets up Django with the settings
it measures. Every one writes its JSON under bench-results/.

    python -m benchmarks [NAME ...]     # default: all, in the order below

A failing benchmark does not stop the others; the exit status says whether all of them passed.
"""

from __future__ import annotations

import subprocess  # fixed argv
import sys
import time

# Cheap and self-contained first; `crosslang` imports docs/ once per embedder (minutes: e5 embeds slowly);
# `rag` imports the Wagtail docs on its first run (~20 minutes on 2 cores).
BENCHMARKS = (
    "retrieval",
    "search_backends",
    "scale",
    "extraction",
    "sse",
    "llm",
    "security",
    "reliability",
    "streams",
    "embedded",
    "crosslang",
    "rag",
)


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        started = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{name}"])  # noqa: S603
        seconds = time.perf_counter() - started
        outcome = "ok" if code == 0 else f"failed ({code})"
        print(f"[bench] {name}: {outcome} in {seconds:.0f} s", file=sys.stderr)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"[bench] failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
