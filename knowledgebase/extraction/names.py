"""Uploaded file names: refused when they carry control characters, and turned into a clean title.

A name is what the browser (or a script) says it is: CR/LF in it split log lines and headers, bidi
overrides make "exe.txt" read as "txt.exe", and quotes or markup in it ended up in titles (`"notes`).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePath

from .errors import UnsupportedFile

# C0 and C1 controls, DEL, the line/paragraph separators and the bidirectional overrides/isolates.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_MARKUP = re.compile(r"<[^<>]*>|&[#\w]+;")
_QUOTES_AND_BRACKETS = re.compile(
    "[\"'`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a<>{}\\[\\]]"
)
_SEPARATORS = re.compile(r"[_\s]+")


def check_filename(filename: str) -> None:
    if _FORBIDDEN.search(filename):
        shown = _FORBIDDEN.sub("?", filename)[:120]
        raise UnsupportedFile(
            f"The file name “{shown}” contains control or text-direction characters; rename the file "
            "and upload it again.",
            code="bad_filename",
        )


def title_from_filename(filename: str) -> str:
    """``"Travel_policy (2026)".docx`` → ``Travel policy (2026)``: the stem, without quotes, brackets,
    markup or control characters, separators as single spaces."""
    # Markup first: the "/" of a closing tag is not a folder.
    name = _MARKUP.sub(" ", _FORBIDDEN.sub(" ", filename))
    text = unicodedata.normalize("NFC", PurePath(name.replace("\\", "/")).stem)
    text = _QUOTES_AND_BRACKETS.sub(" ", text)
    text = _SEPARATORS.sub(" ", text.replace("-", " ") if " " not in text else text)
    return text.strip(" .-")[:255]
