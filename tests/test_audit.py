"""`make lint`'s dependency audit (scripts/audit.py): a known vulnerability fails it, and pins that could
not be checked are reported as NOT AUDITED, never as a clean pass."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("audit", ROOT / "scripts" / "audit.py")
assert _spec and _spec.loader
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)

CLEAN = {"name": "django", "version": "5.2.19", "vulns": []}
SKIPPED = {"name": "wagtail", "skip_reason": "Dependency not found on PyPI and could not be audited"}
VULNERABLE = {
    "name": "jinja2",
    "version": "3.1.2",
    "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": [], "description": ""}],
}


def test_a_known_vulnerability_fails_with_its_id_and_fix() -> None:
    code, lines = audit.verdict({"dependencies": [CLEAN, VULNERABLE, SKIPPED]}, required=False)
    assert code == 1
    assert "jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)" in lines


def test_pins_that_could_not_be_checked_are_never_a_clean_pass() -> None:
    code, lines = audit.verdict({"dependencies": [CLEAN, SKIPPED]}, required=False)
    assert code == 0 and "NOT AUDITED: 1 of 2 pins" in lines[-1] and "1 audited" in lines[-1]
    code, _ = audit.verdict({"dependencies": [CLEAN, SKIPPED]}, required=True)
    assert code == 2, "AUDIT_REQUIRED=1 turns an unreachable service into a failure"
    assert audit.verdict({"dependencies": [CLEAN]}, required=True) == (
        0,
        ["audit: 1 pins audited, no known vulnerabilities"],
    )


def test_the_script_audits_the_real_pins_and_says_what_it_could_check() -> None:
    """Through pip-audit itself, on requirements.txt: whatever this machine can reach, the output says
    how many pins were audited (all of them with internet; here PyPI's JSON API answers 404)."""
    finished = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "audit.py"), "requirements.txt"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = finished.stdout + finished.stderr
    pins = sum(1 for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    assert finished.returncode == 0, output
    assert f"{pins} pins audited" in output or f"of {pins} pins could not be checked" in output, output
