"""Structured logs: a request id on every record and personal data masked before anything is written.

`RequestIdMiddleware` takes the caller's `X-Request-ID` (or makes one), keeps it in a context variable for
the request and echoes it in the response; `RequestIdFilter` copies it onto each log record, and
`PIIMaskingFilter` replaces e-mail addresses, phone numbers, card numbers (Luhn-checked) and IBANs
(mod-97-checked) in the message and in string extras. `mask_pii()` is the same masking for callers that
store or log user text themselves; questions are logged through `question_for_log()` (the configured
policy: masked and truncated, hashed or off).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponseBase
from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

_INCOMING_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# --- Masking ------------------------------------------------------------------------------------

EMAIL_MASK, PHONE_MASK, CARD_MASK, IBAN_MASK = "[email]", "[phone]", "[card]", "[iban]"

_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")
# Two letters, two check digits, then 11-30 characters, optionally in groups separated by single spaces.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", re.IGNORECASE)
# 13-19 digits, optionally grouped by single spaces or hyphens, not part of a longer number or word.
_CARD = re.compile(r"(?<![\w.,+-])(?<![A-Za-z]{2}\d{2} )\d(?:[ -]?\d){12,18}(?![\w]|[.,-]\d)")
# Digits with phone separators, optionally starting with + or 00 or an (area code); validated below.
_PHONE = re.compile(r"(?<![\w@/.,:+-])(?:\+|\b00)?\(?\d[\d ()./-]{5,22}\d(?![\w@]|[.,:/-]?\d)")
_DATE = re.compile(r"\d{4}([-./ ])\d{1,2}\1\d{1,2}|\d{1,2}([-./ ])\d{1,2}\2\d{4}")
_NANP = re.compile(r"(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}")

# IBAN lengths of the countries whose IBANs are common in European and Middle-East payments.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18,
    "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23,
    "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    iban = candidate.replace(" ", "").upper()
    expected = _IBAN_LENGTHS.get(iban[:2])
    if not (15 <= len(iban) <= 34) or (expected is not None and len(iban) != expected):
        return False
    if not iban[:2].isalpha() or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _iban_candidates(text: str) -> Iterator[str]:
    """The prefixes of a match that are written like an IBAN, longest first: one unbroken token, or groups
    of four with a shorter last group. The greedy match runs into the next words ("... 3000 AT noon");
    trying every shorter prefix instead (it once dropped a character at a time) let about one prose
    line in ten pass the mod-97 check somewhere ("node de10 uvicorn and a Celery w" → "[iban]orker")."""
    groups = text.split(" ")
    if len(groups[0]) > 4:
        yield groups[0]
        return
    for end in range(len(groups), 0, -1):
        head = groups[:end]
        if all(len(group) == 4 for group in head[:-1]) and 1 <= len(head[-1]) <= 4:
            yield " ".join(head)


def _mask_iban(match: re.Match[str]) -> str:
    text = match.group(0)
    for candidate in _iban_candidates(text):
        if len(candidate.replace(" ", "")) >= 15 and iban_valid(candidate):
            return IBAN_MASK + text[len(candidate) :]
    return text


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return CARD_MASK if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def is_phone_number(candidate: str) -> bool:
    """Whether digits with separators read as a phone number rather than a date, version, price or id."""
    digits = re.sub(r"\D", "", candidate)
    international = candidate.startswith(("+", "00"))
    if not ((8 if international else 9) <= len(digits) <= 15):
        return False
    if _DATE.fullmatch(candidate):
        return False
    separators = set(re.sub(r"[\d]", "", candidate))
    if international or "(" in separators:
        return True
    if separators == {"."} and not _NANP.fullmatch(candidate):
        return False  # versions, IP addresses, section numbers
    if _NANP.fullmatch(candidate):
        return True
    # National numbers with a trunk prefix: 020 7946 0958, 07700 900123, 06-12345678, 030/1234567.
    return candidate.startswith("0") and len(digits) >= 9


def _mask_phone(match: re.Match[str]) -> str:
    text, prefix = match.group(0), ""
    # "(call 020 7946 0958)": the opening parenthesis belongs to the sentence, not to an area code.
    if text.startswith("(") and text.count("(") != text.count(")"):
        prefix, text = "(", text[1:]
    if text.count("(") != text.count(")"):
        return match.group(0)
    return prefix + (PHONE_MASK if is_phone_number(text) else text)


def mask_pii(text: str) -> str:
    """`text` with e-mail addresses, IBANs, card numbers and phone numbers replaced by placeholders."""
    if not text or not any(char.isdigit() or char == "@" for char in text):
        return text
    text = _EMAIL.sub(EMAIL_MASK, text)
    text = _IBAN.sub(_mask_iban, text)
    text = _CARD.sub(_mask_card, text)
    return _PHONE.sub(_mask_phone, text)


def question_for_log(text: str) -> str:
    """A question as settings.CHATBOT_LOG_QUESTIONS says logs may show it: masked and truncated (the
    default), an HMAC keyed with SECRET_KEY (a short question cannot be found by hashing guesses without
    the key), or nothing."""
    import hashlib
    import hmac

    from django.conf import settings

    mode = getattr(settings, "CHATBOT_LOG_QUESTIONS", "masked")
    if mode == "off":
        return "[question not logged]"
    if mode == "hashed":
        digest = hmac.new(settings.SECRET_KEY.encode(), text.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"sha256:{digest[:16]} ({len(text)} chars)"
    limit = max(int(getattr(settings, "CHATBOT_LOG_QUESTION_CHARS", 60)), 0)
    masked = " ".join(mask_pii(text).split())
    return masked if len(masked) <= limit else f"{masked[:limit]}… ({len(text)} chars)"


# --- Logging filters ----------------------------------------------------------------------------

# Attributes every LogRecord has; anything else came from `extra=` and is masked too.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class PIIMaskingFilter(logging.Filter):
    """Masks the rendered message and string extras; attach it to handlers so it sees every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed format string: leave it to the formatter's error
            return True
        record.msg, record.args = mask_pii(message), None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, key, mask_pii(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters fall back to exc_text when exc_info is gone; the traceback's values are masked.
            record.exc_text, record.exc_info = mask_pii(record.exc_text), None
        return True


class MaskingJsonFormatter(JsonFormatter):
    """JSON lines, masked once more as a whole: extras that are objects (Django's `request`) are
    rendered by the formatter, after the filter ran."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_pii(super().format(record))


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_pii(super().format(record))


# --- Request ids --------------------------------------------------------------------------------


def request_id_from(request: HttpRequest) -> str:
    incoming = request.headers.get("X-Request-ID", "")
    return incoming if _INCOMING_ID.fullmatch(incoming) else uuid.uuid4().hex


def _request_finished(**kwargs: Any) -> None:
    # After the response was sent and closed (WSGI threads are reused): later records are not the request's.
    request_id_var.set("-")


class RequestIdMiddleware:
    """Sets the request id for the request's log records and returns it as `X-Request-ID`."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)  # type: ignore[type-var]
        request_finished.connect(_request_finished, dispatch_uid="chatbot.logging.request_finished")

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        request_id = self._start(request)
        response: HttpResponseBase = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response

    @staticmethod
    def _start(request: HttpRequest) -> str:
        # Set, not reset afterwards: Django logs 4xx/5xx responses after the middleware chain returned,
        # and a streamed body is sent later still; the next request on this thread or task sets its own.
        request_id = request_id_from(request)
        request_id_var.set(request_id)
        request.request_id = request_id  # type: ignore[attr-defined]
        return request_id

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        request_id = self._start(request)
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        response = await get_response(request)
        response["X-Request-ID"] = request_id
        return response
