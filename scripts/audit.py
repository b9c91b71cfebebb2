"""`make lint`'s audit of the pinned requirements for known vulnerabilities, with pip-audit (PyPI's
vulnerability data for each exact pin).

Fails on any known vulnerability. Where the vulnerability service cannot be reached, pip-audit skips
each pin ("could not be audited") and would still say "No known vulnerabilities found"; a check that
audited nothing must not read as a pass, so this prints how many pins were NOT audited. That is a
failure under AUDIT_REQUIRED=1 (set it where the service is reachable, e.g. a CI with internet) and a
loud notice otherwise: the machines this is built and tested on reach only a package mirror, whose
`/pypi/<name>/<version>/json` answers 404.

    python scripts/audit.py [requirements files...]   # default: requirements.txt requirements-dev.txt
"""

from __future__ import annotations

import json
import os
import subprocess  # fixed argv: pip-audit from this interpreter's environment
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600  # seconds; pip-audit over 163 pins took 5.7 s here, where every lookup is a quick 404


def verdict(report: dict[str, Any], *, required: bool) -> tuple[int, list[str]]:
    """Exit code and lines to print for pip-audit's JSON report."""
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    lines = [
        f"{d['name']} {d['version']}: {v['id']}"
        + (f" (fixed in {', '.join(v['fix_versions'])})" if v.get("fix_versions") else "")
        for d in vulnerable
        for v in d["vulns"]
    ]
    if vulnerable:
        lines.append(f"audit: {len(lines)} known vulnerabilities in {len(vulnerable)} of the pins")
        return 1, lines
    if skipped:
        lines.append(
            f"audit: NOT AUDITED: {len(skipped)} of {len(dependencies)} pins could not be checked "
            f"(first: {skipped[0]['skip_reason']}); {audited} audited, none vulnerable"
        )
        return (2 if required else 0), lines
    return 0, [f"audit: {audited} pins audited, no known vulnerabilities"]


def main(argv: list[str]) -> int:
    files = argv or ["requirements.txt", "requirements-dev.txt"]
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "audit.json"
        command = [sys.executable, "-m", "pip_audit", "--no-deps", "--disable-pip", "--format", "json"]
        command += ["--progress-spinner", "off", "--output", str(output)]
        for name in files:
            command += ["-r", str(ROOT / name)]
        try:
            finished = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            print(f"audit: pip-audit did not finish within {TIMEOUT} s", file=sys.stderr)
            return 3
        if not output.exists():  # pip-audit failed before reporting (a bad pin, a crash)
            print(
                finished.stderr.strip() or f"audit: pip-audit exited with {finished.returncode}",
                file=sys.stderr,
            )
            return finished.returncode or 3
        report = json.loads(output.read_text())
    code, lines = verdict(report, required=os.environ.get("AUDIT_REQUIRED") == "1")
    print("\n".join(lines), file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
