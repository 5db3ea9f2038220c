"""Find and replace personal data: emails, phone numbers, card numbers, IBANs, IP addresses.

Candidates are found by patterns and confirmed by the well-kept validators where one exists:
``phonenumbers`` (Google's libphonenumber: is this a real number in some region's plan?),
``python-stdnum`` (the IBAN mod-97 and the Luhn checksum of cards) and ``ipaddress`` (IPv6,
compressed forms included). The full detectors (presidio, scrubadub) pull in spaCy models that
cannot be downloaded here and run ~100x slower. Each kind has a cheap gate (an "@", enough
digits, a ":") so that prose without any skips the patterns; docs/benchmarks.md has the
measured recall, false positives and cost on a corpus of real formats and look-alikes.
"""

import ipaddress
import re
from collections.abc import Callable

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn

# Unicode letters and digits on both sides of the "@" (internationalised addresses).
_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
# Upper or lower case, grouped by spaces or dashes.
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]{4}){2,7}(?:[ -]?[A-Za-z0-9]{1,4})?\b")
# 13-19 digits, grouped by spaces, dashes, dots or underscores.
_CARD = re.compile(r"(?<![\d._-])(?:\d[ ._-]?){12,18}\d(?![\d_-])")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
# Anything shaped like IPv6 (full or "::"-compressed); ipaddress decides.
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
# A phone candidate: + or 00 and digits, or digits in groups split by spaces, dashes, dots or
# parentheses; 7-15 digits. phonenumbers decides. Plain digit runs (ids, amounts) without a
# + or separators are never taken.
_PHONE = re.compile(r"(?<![\w+./-])(?:\+|00)?\(?\d[\d ().-]{5,22}\d(?![\w.]\d)")
# "8 100 000 000": groups of exactly three digits after the first are thousands, not a number
# to dial.
_THOUSANDS = re.compile(r"^\d{1,3}(?:[ ,.]\d{3}){2,}$")
# A dotted quad right after these words is a version or a section number, not an address.
_NOT_AN_ADDRESS = re.compile(r"(?i)\b(?:version|ver\.?|release|chapter|section|v)\s*$")
# Dates and times look like phone numbers to some regions' plans (2026-11-27 is "valid" in DE).
_DATE_LIKE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")
# Regions a number written without its country code is tried in, most traffic first.
PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "BR", "ES", "IT", "NL", "AU")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    return bool(luhn.is_valid(digits))


def iban_ok(candidate: str) -> bool:
    """ISO 13616: the country's length and the mod-97 check, any case and grouping."""
    return bool(stdnum_iban.is_valid(candidate.replace("-", "").upper()))


def _is_card(match: str) -> bool:
    digits = re.sub(r"\D", "", match)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _is_ipv6(match: str) -> bool:
    if not any(ch.isdigit() for ch in match):  # "a::b" is C++, not an address
        return False
    try:
        ipaddress.IPv6Address(match)
    except ValueError:
        return False
    return True


def _is_ipv4(m: re.Match[str]) -> bool:
    return _NOT_AN_ADDRESS.search(m.string[max(0, m.start() - 12) : m.start()]) is None


def _is_phone(match: str) -> bool:
    digits = sum(ch.isdigit() for ch in match)
    if not 7 <= digits <= 15 or _DATE_LIKE.match(match) or _THOUSANDS.match(match):
        return False
    international = match.startswith(("+", "00"))
    if not international and not any(ch in " ()-" for ch in match):
        return False  # a bare run of digits (or dotted groups: versions, amounts)
    text = "+" + match[2:] if match.startswith("00") else match
    regions = (None,) if international else PHONE_REGIONS
    for region in regions:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


_DIGIT = re.compile(r"\d")
# Every kind needs an "@", a digit or (IPv6) a ":": most prose has none and returns at once.
_MAY_HOLD_PII = re.compile(r"[@\d:]")


_TRIGGERS = b"0123456789@:"


def _may_hold_pii(text: str) -> bool:
    # For ASCII text (isascii() is O(1) in CPython) deleting the trigger bytes and comparing
    # lengths is ~8x faster than the regex; other text may hold non-ASCII digits, which \d
    # (and so the patterns) matches.
    if text.isascii():
        return len(text) != len(text.encode("ascii").translate(None, _TRIGGERS))
    return _MAY_HOLD_PII.search(text) is not None


# Order matters: the more specific patterns claim their text before the phone pattern.
# Each kind has a gate: a cheap necessary condition on the text (an "@", a ":", enough digits)
# so that ordinary prose skips the patterns, which cost microseconds each per text.
Gate = Callable[[str, int], bool]
Valid = Callable[[re.Match[str]], bool]
KINDS: list[tuple[str, re.Pattern[str], Valid | None, Gate]] = [
    ("EMAIL", _EMAIL, None, lambda text, digits: "@" in text),
    ("IBAN", _IBAN, lambda m: iban_ok(m.group(0)), lambda text, digits: digits >= 8),
    ("CARD", _CARD, lambda m: _is_card(m.group(0)), lambda text, digits: digits >= 13),
    ("IP", _IPV4, _is_ipv4, lambda text, digits: digits >= 4 and "." in text),
    ("IP", _IPV6, lambda m: _is_ipv6(m.group(0)), lambda text, digits: text.count(":") >= 2),
    ("PHONE", _PHONE, lambda m: _is_phone(m.group(0)), lambda text, digits: digits >= 7),
]


def scrub(text: str) -> tuple[str, list[str]]:
    """Replace PII with typed placeholders (``<EMAIL>``, ``<PHONE>``…); also the kinds found."""
    if not _may_hold_pii(text):
        return text, []
    found: list[str] = []
    # Counted once on the original: replacements only remove digits, so the gates stay safe.
    digits = len(_DIGIT.findall(text))
    for kind, pattern, valid, gate in KINDS:
        if not gate(text, digits):
            continue

        def replace(m: re.Match[str], kind: str = kind, valid: Valid | None = valid) -> str:
            if valid is None or valid(m):
                found.append(kind)
                return f"<{kind}>"
            return m.group(0)

        text = pattern.sub(replace, text)
    return text, found


# What ``scrub`` leaves behind. Text redacted at ingest (DRIFTLINE_REDACT_PII) still counts as
# holding PII, so the PII-rate metric means the same with redaction on or off.
PLACEHOLDER = re.compile(r"<(?:EMAIL|IBAN|CARD|IP|PHONE)>")


def pii_kinds(text: str) -> list[str]:
    """The kinds of PII in ``text`` (one entry per hit), placeholders of earlier redaction
    included."""
    return [m.group(0)[1:-1] for m in PLACEHOLDER.finditer(text)] + scrub(text)[1]
