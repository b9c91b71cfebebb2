"""Text files as they were written: which encoding, and what to drop (terminal escapes, control characters).

Order of evidence: a byte-order mark (UTF-8, UTF-16, UTF-32); UTF-16 without a mark (NUL bytes in every
other position of ASCII-heavy text); strict UTF-8; then ``charset-normalizer`` on a sample. Among its
equally good guesses Windows-1252 wins (short Western text fits cp1250, cp1257 and Mac Roman just as
well, and cp1252 is what such files nearly always are); otherwise its first guess stands (Shift_JIS,
EUC-JP, GB18030, Windows-1251, KOI8-R...).
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from dataclasses import dataclass

import charset_normalizer

from .errors import UnsupportedFile

# What is examined to choose an encoding; detection time grows with the sample, accuracy stops improving
# long before 64 KB on prose.
_SAMPLE_BYTES = 64 * 1024
# The "utf-16"/"utf-32" codecs read the byte order from the mark and drop it. UTF-32 first: its
# little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
# CSI (colours, cursor moves), OSC (window titles, hyperlinks; ended by BEL or ST) and the two-byte ESC
# sequences: what `ls --color`, CI logs and `script` recordings are full of.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]"
)
_OVERSTRIKE = re.compile(r".\x08")  # man-page bold/underline: "_\bX" and "X\bX"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_BINARY_CONTROL = re.compile(r"[\x01-\x08\x0b\x0e-\x1f\x7f]")


@dataclass(frozen=True, kw_only=True)
class DecodedText:
    text: str
    encoding: str  # a readable name: "UTF-8", "UTF-16", "Shift_JIS", "Windows-1252"...
    warnings: tuple[str, ...] = ()


def read_text(data: bytes) -> DecodedText:
    """Decode, drop terminal escapes and control characters, and refuse what is binary."""
    python_name, label, confident = detect_encoding(data)
    text = data.decode(python_name, errors="replace")
    warnings: list[str] = []
    if not confident:
        warnings.append(
            f"The file is not valid UTF-8; it was read as {label}, so some characters may be wrong."
        )
    text, escapes = _ANSI.subn("", text)
    text, overstrikes = _OVERSTRIKE.subn("", text)
    # Judged after the terminal's own sequences are gone: what control characters remain are binary's.
    if not looks_like_text(text):
        raise UnsupportedFile("The file does not contain readable text.", code="unsupported_type")
    text = text.replace("\f", "\n")
    text, controls = _CONTROL.subn("", text.replace("\r\n", "\n"))
    if escapes or overstrikes or controls:
        warnings.append("Terminal escape sequences and control characters were removed.")
    return DecodedText(text=text, encoding=label, warnings=tuple(warnings))


def detect_encoding(data: bytes) -> tuple[str, str, bool]:
    """(Python codec, readable name, confident). Not confident: a legacy 8-bit guess."""
    for bom, python_name, label in _BOMS:
        if data.startswith(bom):
            return python_name, label, True
    utf16 = utf16_without_bom(data[:4096])
    if utf16:
        return utf16, "UTF-16", True
    sample = _sample(data)
    try:
        sample.decode("utf-8")
        data.decode("utf-8")
        return "utf-8", "UTF-8", True
    except UnicodeDecodeError:
        pass
    python_name = _guess_legacy(sample)
    return python_name, _LABELS.get(python_name, python_name.replace("_", "-").upper()), False


def utf16_without_bom(head: bytes) -> str | None:
    """Latin-script UTF-16 has a NUL in nearly every other byte (odd positions for little-endian); a
    binary file with a NUL every few bytes does not reach 70 % on one side and none on the other.

    Other alphabets (Cyrillic, Greek, Hebrew, Arabic...) put their block's number in the high byte of
    nearly every letter (0x04 for Cyrillic) and a NUL in that of spaces, digits and punctuation: two
    values make almost all of that side, NULs among them, while the other side has none. UTF-8 text has
    no NULs at all, and the guess must also decode."""
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    even_nuls, odd_nuls = even.count(0) / len(even), odd.count(0) / len(odd)
    if odd_nuls > 0.7 and even_nuls < 0.02:
        return "utf-16-le"
    if even_nuls > 0.7 and odd_nuls < 0.02:
        return "utf-16-be"
    for codec, high, low_nuls in (("utf-16-le", odd, even_nuls), ("utf-16-be", even, odd_nuls)):
        if low_nuls < 0.02 and _one_alphabet(high) and _decodes(head[: len(head) // 2 * 2], codec):
            return codec
    return None


def _one_alphabet(high: bytes) -> bool:
    counts = Counter(high).most_common(2)
    values = dict(counts)
    return (
        len(high) >= 16
        and 0 in values
        and values[0] >= 0.05 * len(high)
        and sum(values.values()) >= 0.95 * len(high)
    )


def is_wide_unicode(head: bytes) -> bool:
    """UTF-16/32 text (with or without a BOM): NUL bytes there are not a sign of a binary file."""
    return head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or utf16_without_bom(head) is not None


def looks_like_text(text: str) -> bool:
    """Binary data decoded as Latin-1 is full of control characters; real text has almost none."""
    sample = text[:65536]
    return not sample or len(_BINARY_CONTROL.findall(sample)) <= len(sample) // 100


def _sample(data: bytes) -> bytes:
    """The first 64 KB, cut after a line break so no multi-byte character is split."""
    if len(data) <= _SAMPLE_BYTES:
        return data
    cut = data.rfind(b"\n", 0, _SAMPLE_BYTES)
    return data[: cut + 1] if cut > 0 else data[:_SAMPLE_BYTES]


def _guess_legacy(sample: bytes) -> str:
    matches = charset_normalizer.from_bytes(sample)
    best = matches.best()
    if best is None:
        return "cp1252" if _decodes(sample, "cp1252") else "latin-1"
    tied = [m for m in matches if m.percent_chaos <= best.percent_chaos + 1.0]
    if any("cp1252" in m.could_be_from_charset or m.encoding == "cp1252" for m in tied):
        return "cp1252"
    return best.encoding


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


_LABELS = {
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1",
    "cp1251": "Windows-1251",
    "cp1250": "Windows-1250",
    "cp932": "Shift_JIS",
    "shift_jis": "Shift_JIS",
    "shift_jis_2004": "Shift_JIS",
    "euc_jp": "EUC-JP",
    "euc_jis_2004": "EUC-JP",
    "gb18030": "GB18030",
    "gb2312": "GB2312",
    "big5": "Big5",
    "euc_kr": "EUC-KR",
    "cp949": "EUC-KR",
    "koi8_r": "KOI8-R",
    "koi8_u": "KOI8-U",
}
