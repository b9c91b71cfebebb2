"""The chaos suite as a measurement (`make bench BENCH=reliability`): runs `pytest -m chaos` (tests/chaos)
against the real services and writes bench-results/reliability.json with, per scenario, pass or fail, its
seconds, the recovery time (from the end of the fault to the index audit's all-clear) and the audit's
missing / stale / duplicate / orphan counts (0 each is the only good figure).

Not measured here yet: the streams-under-load figures of issue 19 item 5 (streams held, first-byte p95,
inter-event gaps); `make bench BENCH=sse` has the single-stream ones."""

from __future__ import annotations

import json
import os
import subprocess  # fixed argv
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from benchmarks.paths import ROOT

RESULTS = ROOT / "bench-results" / "reliability.json"


def _outcomes(junit: Path) -> dict[str, dict[str, Any]]:
    outcomes: dict[str, dict[str, Any]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314 - the report our pytest wrote
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        outcomes[case.get("name", "")] = {
            "outcome": "failed" if failed else "skipped" if skipped else "passed",
            "seconds": round(float(case.get("time", 0.0)), 1),
        }
    return outcomes


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        records = Path(folder) / "records.jsonl"
        junit = Path(folder) / "junit.xml"
        env = {**os.environ, "CHAOS_RECORD": str(records)}
        started = time.perf_counter()
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            "chaos",
            "tests/chaos",
            "-q",
            "-p",
            "no:cacheprovider",
        ]
        code = subprocess.call([*command, f"--junitxml={junit}"], cwd=ROOT, env=env)  # noqa: S603
        seconds = time.perf_counter() - started
        scenarios = _outcomes(junit) if junit.exists() else {}
        lines = records.read_text().splitlines() if records.exists() else []
    for line in lines:
        record = json.loads(line)
        scenarios.setdefault(record.pop("test"), {}).update(record)
    audits: list[dict[str, int]] = [
        s["audit"] for s in scenarios.values() if isinstance(s.get("audit"), dict)
    ]
    result = {
        "passed": code == 0,
        "seconds": round(seconds, 1),
        "scenarios": scenarios,
        "failed": sorted(name for name, s in scenarios.items() if s.get("outcome") != "passed"),
        "audit_differences": sum(sum(a.values()) for a in audits),
        "command": "python -m pytest -m chaos tests/chaos",
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "scenarios"}, indent=2))
    return 0 if code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
