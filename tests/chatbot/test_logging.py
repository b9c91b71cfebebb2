"""Structured logs: request ids and PII masking, with recall and precision measured on a seeded set."""

from __future__ import annotations

import io
import json
import logging
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from chatbot.logging import PIIMaskingFilter, luhn_valid, mask_pii

MASKS = ("[email]", "[phone]", "[card]", "[iban]")

# --- The seeded set -------------------------------------------------------------------------------

_CONTEXTS = ["{}", "My details: {}.", "({})", "contact {} today", "is it {}?", "<{}>", "x {}, y"]


def _emails() -> list[str]:
    locals_ = ["john.doe", "a.b-c", "x_y", "first+tag", "u123", "maria.garcia", "Z", "info", "o.k.9", "TEAM"]
    domains = ["example.com", "mail.co.uk", "uni-bonn.de", "sub.example.org", "example.io"]
    return [f"{local}@{domain}" for local in locals_ for domain in domains]  # 50


PHONES = [
    "+44 20 7946 0958", "+44 7700 900123", "020 7946 0958", "07700 900123", "07700900123", "+447700900123",
    "(555) 123-4567", "555-123-4567", "555.123.4567", "555 123 4567", "+1 555 123 4567", "+1-555-123-4567",
    "1-800-555-0199", "+1 (555) 123-4567", "+49 30 1234567", "+49 (0)30 1234 5678", "030 1234567",
    "030/1234567", "0049 30 1234567", "+33 1 23 45 67 89", "01 23 45 67 89", "+33 6 12 34 56 78",
    "06 12 34 56 78", "+31 6 12345678", "06-12345678", "+61 2 9876 5432", "(02) 9876 5432",
    "+91 98765 43210", "+358 40 1234567", "+46 8 123 456 78", "08-123 456 78", "+7 495 123-45-67",
    "8 (495) 123-45-67", "+34 912 345 678", "912 345 678", "+39 06 1234 5678", "06 1234 5678",
    "+41 44 123 45 67", "044 123 45 67", "+43 1 234567", "+32 2 123 45 67", "+353 1 234 5678",
    "+45 12 34 56 78", "+47 22 12 34 56", "+48 12 345 67 89", "+420 123 456 789", "+81 3-1234-5678",
    "03-1234-5678", "+86 10 1234 5678", "+55 11 91234-5678", "+27 21 123 4567", "+64 9 123 4567",
]  # fmt: skip


def _cards() -> list[str]:
    rng = random.Random(7)
    prefixes = [("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16),
                ("35", 16), ("36", 14), ("4", 13), ("4", 19)]  # fmt: skip
    cards: list[str] = []
    while len(cards) < 55:
        prefix, length = prefixes[len(cards) % len(prefixes)]
        body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
        digits = next(body + d for d in "0123456789" if luhn_valid(body + d))
        style = len(cards) % 3
        if style == 0:
            cards.append(digits)
        else:
            sep = " " if style == 1 else "-"
            cards.append(sep.join(digits[i : i + 4] for i in range(0, len(digits), 4)))
    return cards


def _ibans() -> list[str]:
    rng = random.Random(11)
    formats = {
        "DE": "n18", "GB": "a4n14", "FR": "n23", "NL": "a4n10", "ES": "n20", "IT": "a1n22", "BE": "n12",
        "AT": "n16", "CH": "n17", "PL": "n24", "SE": "n20", "IE": "a4n14", "PT": "n21",
    }  # fmt: skip
    ibans: list[str] = []
    while len(ibans) < 52:
        country = list(formats)[len(ibans) % len(formats)]
        spec, bban = formats[country], ""
        for kind, count in re.findall(r"([an])(\d+)", spec):
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if kind == "a" else "0123456789"
            bban += "".join(rng.choice(alphabet) for _ in range(int(count)))
        numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
        iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
        grouped = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        ibans.append(grouped if len(ibans) % 2 else iban)
    return ibans


NEGATIVES = [
    "Wagtail 8.0.1", "Python 3.11.4", "v1.2.3-rc.1", "version 10.20.30.40", "released on 2024-01-15",
    "2024-01-15T10:30:00Z", "15/01/2024", "12/31/2024", "31.12.2024", "2023/2024", "10:30-11:45",
    "costs $1,299.99", "€1.234,56", "1,000,000 users", "12.5%", "3.14159", "-12.3 degrees", "128 GB",
    "1920x1080", "127.0.0.1:8000", "192.168.100.200", "0.0.0.0", "port 5432",  # noqa: S104 "ISBN 978-3-16-148410-0",
    "order 2024-000123", "ticket #123456", "RFC 7231", "HTTP/1.1 404", "ISO 8601", "build 20240115",
    "card 4111 1111 1111 1112", "4111-1111-1111-1112", "DE89 3704 0044 0532 0130 01",
    "GB82WEST12345698765433",
    "page 12 of 300", "chapter 3.2.1", "SW1A 1AA", "zip 10115", "51.5074, -0.1278", "1700000000",
    "uuid 123e4567-e89b-12d3-a456-426614174000", "sha 9f86d081884c7d659a2feaa0c55ad015", "npm wagtail@8.0.1",
    "@mention", "user at example dot com", "room 101-202", "1 234 567", "batch 12345678", "2024 01 15",
    "tel 112", "call 911", "the 90s", "1999-2024", "ERR-500-12", "PO box 1234", "99.9% uptime",
]  # fmt: skip


def _seeded() -> Iterator[tuple[str, str, str]]:
    """(kind, value, text) with the value in varied contexts."""
    for kind, values in (("email", _emails()), ("phone", PHONES), ("card", _cards()), ("iban", _ibans())):
        for n, value in enumerate(values):
            yield kind, value, _CONTEXTS[n % len(_CONTEXTS)].format(value)


def test_seeded_set_is_large_and_valid() -> None:
    counts: dict[str, int] = {}
    for kind, _value, _text in _seeded():
        counts[kind] = counts.get(kind, 0) + 1
    assert all(n >= 50 for n in counts.values()) and len(counts) == 4
    assert len(NEGATIVES) >= 50
    from chatbot.logging import iban_valid

    assert all(iban_valid(iban) for iban in _ibans())


def test_pii_recall_and_precision() -> None:
    found: dict[str, list[int]] = {}
    for kind, value, text in _seeded():
        masked = mask_pii(text)
        hit = value not in masked and f"[{kind}]" in masked
        found.setdefault(kind, []).append(int(hit))
    false_positives = [text for text in NEGATIVES if any(mask in mask_pii(text) for mask in MASKS)]
    recall = {kind: sum(hits) / len(hits) for kind, hits in found.items()}
    true_positives = sum(sum(hits) for hits in found.values())
    precision = true_positives / (true_positives + len(false_positives))
    print(f"PII recall {recall}, precision {precision:.3f}, false positives {false_positives}")
    assert all(r >= 0.95 for r in recall.values()), recall
    assert false_positives == [], false_positives
    assert precision == 1.0


def test_prose_after_a_code_like_word_is_not_taken_for_an_iban() -> None:
    """Two letters and two digits followed by words: the greedy match runs on, and a prefix of it that is
    not written like an IBAN (groups of four) must not be tried against the checksum. Each of these lost
    words to "[iban]" before."""
    lines = [
        "node de10 uvicorn and a Celery worker (with",
        "node de66 nothing else running: no Docker engine",
        "node de73 the database are then encrypted at",
        "node es10 a portal that embeds a page",
    ]
    assert [mask_pii(line) for line in lines] == lines


def test_masking_keeps_the_rest_of_the_text() -> None:
    text = "Hi, I'm ana@example.com, IBAN DE89 3704 0044 0532 0130 00 AT noon, card 4111-1111-1111-1111."
    assert mask_pii(text) == "Hi, I'm [email], IBAN [iban] AT noon, card [card]."
    assert mask_pii("call me (020 7946 0958) on 2024-01-15") == "call me ([phone]) on 2024-01-15"


# --- The configured handlers ----------------------------------------------------------------------


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the configured console handler (JSON, masked) writes, captured."""
    handler = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, PIIMaskingFilter) for f in h.filters)
    )
    stream = io.StringIO()
    old = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        handler.setStream(old)  # type: ignore[attr-defined]


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


@pytest.mark.django_db
def test_requests_log_json_with_the_request_id_and_no_pii(client: Any, log_output: io.StringIO) -> None:
    response = client.get("/no-such-page/bob@example.com/4111111111111111/", HTTP_X_REQUEST_ID="req-abc-123")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-abc-123"
    records = _records(log_output)
    not_found = next(r for r in records if r["logger"] == "django.request")
    assert not_found["request_id"] == "req-abc-123"
    assert not_found["message"] == "Not Found: /no-such-page/[email]/[card]/"
    assert "bob@example.com" not in log_output.getvalue() and "4111111111111111" not in log_output.getvalue()

    generated = client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32 and generated != "req-abc-123"
    assert (
        client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"] != "bad id with spaces"
    )


def test_questions_logged_with_extras_are_masked(log_output: io.StringIO) -> None:
    logger = logging.getLogger("chatbot.services")
    question = "My IBAN GB82 WEST 1234 5698 7654 32 was charged, call +1 (555) 123-4567"
    logger.warning("question received: %s", question, extra={"question": question, "tokens": 12})
    try:
        raise ValueError(f"bad input {question}")
    except ValueError:
        logger.exception("failed")
    output = log_output.getvalue()
    assert "GB82" not in output and "555" not in output
    first = _records(log_output)[0]
    assert first["message"] == "question received: My IBAN [iban] was charged, call [phone]"
    assert first["question"] == "My IBAN [iban] was charged, call [phone]" and first["tokens"] == 12
    assert first["level"] == "WARNING" and first["request_id"] == "-"
