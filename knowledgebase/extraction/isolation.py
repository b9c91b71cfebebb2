"""Runs extraction, and the checks before an upload is stored, in child processes with a wall-clock and
a memory limit.

A malformed file can make a parser loop, recurse or allocate without bound; in a child the worst
case is a killed child and a clear ``ExtractionError`` (``timeout`` / ``memory``), never a hung or
crashed Celery worker or web process.

Extraction runs ``extraction.worker`` (in the Celery worker); the check before an upload is stored runs
``extraction.structure`` (in the web request), which imports only the parsers it needs. Why not
multiprocessing's forkserver, which forks in ~20 ms: its children re-run the host's ``__main__``
(uvicorn's or a script's), which is not ours to make safe.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess  # fixed argv: this interpreter and our own module
import sys
from pathlib import Path
from typing import NoReturn

from .base import ExtractedDocument
from .errors import ERROR_CLASSES, ExtractionError, ExtractionLimitExceeded
from .limits import ExtractionLimits
from .serialize import document_from_dict
from .sniff import FileKind

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_MEMORY_SIGNS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory", "Memory allocation")


def extract_isolated(path: Path, *, filename: str, limits: ExtractionLimits) -> ExtractedDocument:
    request = {"path": str(path.resolve()), "filename": filename, "limits": limits.to_dict()}
    returncode, stdout, stderr = _run_child(
        "knowledgebase.extraction.worker", request, timeout=limits.timeout, doing="Reading"
    )
    return _answer(returncode, stdout, stderr, limits=limits)


def check_isolated(path: Path, *, kind: FileKind, limits: ExtractionLimits) -> list[str]:
    """``structure.check_structure`` in a child: its warnings, or the ``ExtractionError`` it raised."""
    request = {"path": str(path.resolve()), "kind": kind.value, "limits": limits.to_dict()}
    returncode, stdout, stderr = _run_child(
        "knowledgebase.extraction.structure", request, timeout=limits.validation_timeout, doing="Checking"
    )
    try:
        answer = json.loads(stdout) if stdout else None
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("warnings"), list):
        return [str(warning) for warning in answer["warnings"]]
    return _failure(returncode, answer, stderr, limits=limits)


def _run_child(module: str, request: dict, *, timeout: float, doing: str) -> tuple[int, bytes, str]:
    # OMP_THREAD_LIMIT: see ocr.py. OPENBLAS_NUM_THREADS: numpy (pulled in by pytesseract) would
    # otherwise reserve per-core buffers, inflating the address space the memory limit counts.
    env = {
        **os.environ,
        "OMP_THREAD_LIMIT": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONPATH": str(_PROJECT_ROOT),
    }
    process = subprocess.Popen(  # noqa: S603 - this interpreter and one of our two modules
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=_PROJECT_ROOT,
        env=env,
        start_new_session=True,  # its own process group, so tesseract/pdftoppm die with it
    )
    try:
        stdout, stderr = process.communicate(json.dumps(request).encode(), timeout=timeout)
    except subprocess.TimeoutExpired as e:
        _kill_group(process)
        raise ExtractionLimitExceeded(
            f"{doing} the file took longer than {timeout:.0f} seconds and was stopped.", code="timeout"
        ) from e
    finally:
        _kill_group(process)
    return process.returncode, stdout, stderr.decode(errors="replace")


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
    return _failure(returncode, answer, stderr, limits=limits)


def _failure(returncode: int, answer: object, stderr: str, *, limits: ExtractionLimits) -> NoReturn:
    """The child's own error, or what its death says: out of memory, out of CPU, or a crash."""
    if isinstance(answer, dict) and "error" in answer:
        raise _error(answer["error"], limits=limits)
    if any(sign in stderr for sign in _MEMORY_SIGNS) or returncode in (-signal.SIGSEGV, -signal.SIGABRT):
        raise _memory(limits)
    if returncode == -signal.SIGXCPU:
        raise ExtractionLimitExceeded("Reading the file used too much processor time.", code="timeout")
    raise ExtractionError(
        f"The extraction process stopped unexpectedly (exit status {returncode}).", code="worker_failed"
    )


def _error(error: dict, *, limits: ExtractionLimits) -> ExtractionError:
    if error.get("code") == "memory":
        return _memory(limits)
    cls = ERROR_CLASSES.get(error.get("class", ""), ExtractionError)
    return cls(error.get("message") or "The file could not be read.", code=error.get("code"))


def _memory(limits: ExtractionLimits) -> ExtractionLimitExceeded:
    return ExtractionLimitExceeded(
        f"Reading the file needed more than the {limits.memory_mb} MB of memory allowed and was stopped.",
        code="memory",
    )
