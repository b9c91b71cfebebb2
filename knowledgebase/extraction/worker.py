"""The extraction sandbox's child: ``python -m knowledgebase.extraction.worker``.

Reads one JSON request on stdin (``path``, ``filename``, ``limits``), applies its address-space and
CPU limits to itself (and so to the tesseract/pdftoppm processes it starts), extracts, and writes one
JSON answer on stdout: ``{"document": {...}}`` or ``{"error": {"class", "code", "message"}}``.
It never imports Django: the parent passes the limits explicitly.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
from pathlib import Path
from typing import Any


def _apply_limits(limits: dict[str, Any]) -> None:
    memory = int(limits["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # CPU seconds as a backstop in case the parent is gone; the parent enforces the wall clock.
    cpu = int(float(limits["timeout"])) + 30
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _peak_rss_bytes() -> int:
    """This process's high-water mark (VmHWM: ru_maxrss would report the parent's size at fork, which
    Linux carries across exec) or its largest child's (tesseract, pdftoppm), whichever is larger."""
    own = 0
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                own = int(line.split()[1])
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) * 1024


def main() -> int:
    # Import every parser before the address-space limit applies: a shared library that fails to map
    # would surface as an ImportError (a bug), whereas an allocation failing while parsing is a
    # MemoryError, which is what the limit is for.
    from . import docx, ocr, pdf, text  # noqa: F401
    from .core import extract_path
    from .errors import ExtractionError
    from .limits import ExtractionLimits
    from .serialize import document_to_dict

    request = json.loads(sys.stdin.read())
    # pypdf logs every font quirk at WARNING; the editor gets our own warnings instead.
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    _apply_limits(request["limits"])
    try:
        limits = ExtractionLimits.from_dict(request["limits"])
        document = extract_path(Path(request["path"]), filename=request["filename"], limits=limits)
        answer: dict[str, Any] = {"document": document_to_dict(document)}
    except ExtractionError as e:
        answer = {"error": {"class": type(e).__name__, "code": e.code, "message": e.message}}
    except MemoryError:
        answer = {"error": {"class": "ExtractionLimitExceeded", "code": "memory", "message": ""}}
    if "document" in answer:
        answer["document"]["peak_rss_bytes"] = _peak_rss_bytes()
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
