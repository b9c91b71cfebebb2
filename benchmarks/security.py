"""The leak matrix as a measurement (`make bench BENCH=security`): runs tests/chatbot/test_leak_matrix.py
against the real services and writes bench-results/security.json with the checks run (items × principals
× channels), the leaks found (0 is the only good figure), and whether each mutation (a leg's filter or the
database re-check removed) was killed, i.e. made the matrix report a leak. Then the hostile-model browser
suite (tests/browser/test_hostile_model.py): payloads × renderers, and the script executions, off-origin
requests, dangling citations and CSP violations seen (0 each)."""

from __future__ import annotations

import json
import os
import subprocess  # fixed argv
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.paths import ROOT

RESULTS = ROOT / "bench-results" / "security.json"
MUTATIONS = ("mutation bm25 filter", "mutation knn filter", "mutation database re-check")


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        figures_path = Path(folder) / "figures.json"
        env = {**os.environ, "LEAK_MATRIX_JSON": str(figures_path)}
        started = time.perf_counter()
        command = [
            sys.executable,
            "-m",
            "pytest",
            "tests/chatbot/test_leak_matrix.py",
            "tests/browser/test_hostile_model.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ]
        code = subprocess.call(command, cwd=ROOT, env=env)  # noqa: S603
        seconds = time.perf_counter() - started
        figures = json.loads(figures_path.read_text()) if figures_path.exists() else {}
    matrix = figures.get("matrix", {})
    prompt = figures.get("prompt", {})
    result = {
        "passed": code == 0,
        "seconds": round(seconds, 1),
        "items": matrix.get("items"),
        "principals": matrix.get("principals"),
        "leak_checks": (matrix.get("checks") or 0) + (prompt.get("checks") or 0),
        "leaks": (matrix.get("leaks") or 0) + (prompt.get("leaks") or 0),
        "allowed_not_found": matrix.get("misses"),
        "mutations": {name: bool(figures.get(name, {}).get("leaks")) for name in MUTATIONS},
    }
    result["mutations_killed"] = sum(result["mutations"].values())
    renderers = [figures[name] for name in sorted(figures) if name.startswith("hostile ")]
    result["hostile_model"] = {
        "renderers": len(renderers),
        "payloads": max((r["payloads"] for r in renderers), default=0),
        **{
            key: sum(r[key] for r in renderers)
            for key in ("script_executions", "off_origin_requests", "dangling_citations", "csp_violations")
        },
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
