"""Take contact details and identity numbers out of free text before it leaves the city.

A designer may mark a form field shareable (`"x-shareable": true`) so its text goes into
research exports, but people write e-mail addresses, phone numbers and personnummer into
any text box. Every free-text value that leaves through an export passes `scrub`, which
replaces them with a marker ("[e-post]", "[telefon]", "[personnummer]").

Personnummer and samordningsnummer (day + 60) are recognised with their Luhn check digit
and a plausible month and day, so amounts, dates and case numbers are left as they are;
phone numbers need a leading 0, 00 or + and 7 to 15 digits, so "250 000 kr" stays.
"""

from __future__ import annotations

import re

EMAIL_MARK = "[e-post]"
PHONE_MARK = "[telefon]"
PNR_MARK = "[personnummer]"

_EMAIL = re.compile(
    r"(?<![\w.!#$%&'*+=?^`{|}~-])"        # tried only where a word starts (linear, not quadratic)
    r"[\w.!#$%&'*+=?^`{|}~-]+"          # local part (letters of any script, dots, plus; a slash separates)
    r"\s*(?:@|\(at\)|\[at\])\s*"          # @, or the "(at)" people write to dodge harvesters
    r"[\w-]+(?:\s*(?:\.|\(dot\)|\[dot\])\s*[\w-]+)*\s*(?:\.|\(dot\)|\[dot\])\s*[A-Za-z]{2,24}(?![\w-])",
    re.IGNORECASE,
)

# YYMMDD or YYYYMMDD, an optional - or + (over a hundred years old), four digits.
_PNR = re.compile(r"(?<![\d])(?:(\d{2}))?(\d{2})(\d{2})(\d{2})\s?([-+]?)\s?(\d{4})(?![\d])")

# A leading +, 00 or 0, then digits in groups separated by a space or a dash, or in
# parentheses ("+46 (0)70 123 45 67", "08-123 456 78", "(08) 12 34 56", "0046701234567").
_PHONE = re.compile(
    r"(?<![\d+])(?:\+|\b00|(?<![\d])0|\(0)"
    r"[\d()]*(?:[ \u00a0-]?\(?\d+\)?){1,8}"
)


# Cheap tests that skip the patterns for text without enough digits (most text has none).
_SIX_DIGITS = re.compile(r"\d\d\d\d\d\d")
_SEVEN_DIGITS = re.compile(r"(?:\d\D{0,3}){7}")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(digits):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def is_personnummer(century: str | None, yy: str, mm: str, dd: str, serial: str) -> bool:
    """A real-looking personnummer or samordningsnummer: valid month, day (or day + 60) and check digit."""
    month, day = int(mm), int(dd)
    if not 1 <= month <= 12:
        return False
    if not (1 <= day <= 31 or 61 <= day <= 91):
        return False
    if century is not None and century not in ("18", "19", "20"):
        return False
    return _luhn_ok(yy + mm + dd + serial)


def _pnr(match: re.Match[str]) -> str:
    century, yy, mm, dd, _sign, serial = match.groups()
    return PNR_MARK if is_personnummer(century, yy, mm, dd, serial) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    stripped = text.rstrip(" \u00a0./-(")
    digits = sum(ch.isdigit() for ch in stripped)
    international = stripped.startswith(("+", "00", "(+"))
    if not (8 <= digits <= 15 if international else 7 <= digits <= 11):
        return text
    if stripped.count("(") != stripped.count(")") and stripped.endswith(")"):
        stripped, tail = stripped[:-1], ")" + text[len(stripped):]
    else:
        tail = text[len(stripped):]
    return PHONE_MARK + tail


def scrub(text: str) -> str:
    """`text` with e-mail addresses, personnummer/samordningsnummer and phone numbers replaced by markers."""
    if not text:
        return text
    if "@" in text or "(at)" in text.lower() or "[at]" in text.lower():
        text = _EMAIL.sub(EMAIL_MARK, text)
    if _SIX_DIGITS.search(text):
        text = _PNR.sub(_pnr, text)
    if _SEVEN_DIGITS.search(text):
        text = _PHONE.sub(_phone, text)
    return text
