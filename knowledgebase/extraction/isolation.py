"""Runs extraction in a child process with a wall-clock and a memory limit.

A malformed file can make a parser loop, recurse or allocate without bound; in a child the worst
case is a killed child and a clear ``ExtractionError`` (``timeout`` / ``memory``), never a hung or
crashed Celery worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess  # fixed argv: this interpreter and our own module
import sys
from pathlib import Path

from .base import ExtractedDocument
from .errors import ERROR_CLASSES, ExtractionError, ExtractionLimitExceeded
from .limits import ExtractionLimits
from .serialize import document_from_dict

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_MEMORY_SIGNS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory", "Memory allocation")


def extract_isolated(path: Path, *, filename: str, limits: ExtractionLimits) -> ExtractedDocument:
    request = json.dumps({"path": str(path.resolve()), "filename": filename, "limits": limits.to_dict()})
    # OMP_THREAD_LIMIT: see ocr.py. OPENBLAS_NUM_THREADS: numpy (pulled in by pytesseract) would
    # otherwise reserve per-core buffers, inflating the address space the memory limit counts.
    env = {
        **os.environ,
        "OMP_THREAD_LIMIT": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONPATH": str(_PROJECT_ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "knowledgebase.extraction.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=_PROJECT_ROOT,
        env=env,
        start_new_session=True,  # its own process group, so tesseract/pdftoppm die with it
    )
    try:
        stdout, stderr = process.communicate(request.encode(), timeout=limits.timeout)
    except subprocess.TimeoutExpired as e:
        _kill_group(process)
        raise ExtractionLimitExceeded(
            f"Reading the file took longer than {limits.timeout:.0f} seconds and was stopped.", code="timeout"
        ) from e
    finally:
        _kill_group(process)
    return _answer(process.returncode, stdout, stderr.decode(errors="replace"), limits=limits)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone with all its children
    if process.poll() is None:
        process.communicate()


def _answer(returncode: int, stdout: bytes, stderr: str, *, limits: ExtractionLimits) -> ExtractedDocument:
    try:
        answer = json.loads(stdout) if stdout else None
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "document" in answer:
        return document_from_dict(answer["document"])
    if isinstance(answer, dict) and "error" in answer:
        error = answer["error"]
        if error.get("code") == "memory":
            raise _memory(limits)
        cls = ERROR_CLASSES.get(error.get("class", ""), ExtractionError)
        raise cls(error.get("message") or "The file could not be read.", code=error.get("code"))
    if any(sign in stderr for sign in _MEMORY_SIGNS) or returncode in (-signal.SIGSEGV, -signal.SIGABRT):
        raise _memory(limits)
    if returncode == -signal.SIGXCPU:
        raise ExtractionLimitExceeded("Reading the file used too much processor time.", code="timeout")
    raise ExtractionError(
        f"The extraction process stopped unexpectedly (exit status {returncode}).", code="worker_failed"
    )


def _memory(limits: ExtractionLimits) -> ExtractionLimitExceeded:
    return ExtractionLimitExceeded(
        f"Reading the file needed more than the {limits.memory_mb} MB of memory allowed and was stopped.",
        code="memory",
    )
