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
import unicodedata
from collections.abc import Callable

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn

# Unicode letters and digits on both sides of the "@" (internationalised addresses).
_DOMAIN = r"[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}"
_EMAIL = re.compile(rf"[\w.%+-]+@{_DOMAIN}")
_EMAIL_SPACED = re.compile(rf"[\w.%+-]+ @ {_DOMAIN}")
# The other ways an address is written, each a pattern of its own behind its own gate (one
# pattern with every alternative cost tweets full of @mentions twice the time): spaces around
# the "@", a quoted local part ("john doe"@…), a percent-encoded "@" (john%40…, as in a URL),
# and the "@" written out: name [at] domain [dot] com, (at)/(dot), {at}, <at>.
_EMAIL_QUOTED = re.compile(rf"\"[^\"\n@]{{1,64}}\"@{_DOMAIN}")
_EMAIL_PERCENT = re.compile(rf"(?i)[\w.+-]+%40{_DOMAIN}")
_DOT_WRITTEN = r"(?:\.|\s*[\[({<]\s*dot\s*[\])}>]\s*)"
_EMAIL_WRITTEN = re.compile(
    rf"(?i)[\w.+-]+\s*[\[({{<]\s*at\s*[\])}}>]\s*[\w-]+(?:{_DOT_WRITTEN}[\w-]+)*"
    rf"{_DOT_WRITTEN}[^\W\d_]{{2,}}"
)
# ...or an address written out: "[at]", "(at)", "{at}", "<at>" (any case).
_WRITTEN_AT = re.compile(r"(?i)[\[({<]\s*at\s*[\])}>]")


def _written_at(text: str) -> bool:
    """An "@" written out (the substring tests first: a fraction of a regex search)."""
    return ("at" in text or "AT" in text or "At" in text) and _WRITTEN_AT.search(text) is not None


# Upper or lower case, grouped by spaces or dashes.
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]{4}){2,7}(?:[ -]?[A-Za-z0-9]{1,4})?\b")
# 13-19 digits, grouped by spaces, dashes, dots, slashes or underscores.
_CARD = re.compile(r"(?<![\d._/-])(?:\d[ ._/-]?){12,18}\d(?![\d_/-])")
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
# A North-American number by its plan's shape: [1] NXX NXX XXXX, N = 2-9 (libphonenumber
# knows only the area codes in service, and a number in a new or mistyped one is still a
# number to call).
_NANP = re.compile(r"^1?[2-9]\d{2}[2-9]\d{6}$")
# Dotted groups read as a phone number (415.555.2671, 06.12.34.56.78): 2-4 digits a group;
# versions (1.2.3) and dotted thousands are too short or all threes after the first.
_DOTTED = re.compile(r"^\(?\d{2,4}\)?(?:\.\d{2,4}){2,4}$")
# A bare run of digits is a phone number only where the text says so: right after one of
# these words, or as the whole of a value (a metadata field holding just the number).
_PHONE_CUE = re.compile(
    r"(?i)\b(?:phone|tel|telephone|mobile|cell|call|text|sms|whatsapp|fax|contact|dial|"
    r"number|ph)\b\W{0,3}(?:\w+\W{1,3}){0,2}$"
)


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


def _is_phone(m: re.Match[str]) -> bool:
    match = m.group(0)
    digits = sum(ch.isdigit() for ch in match)
    if not 7 <= digits <= 15 or _DATE_LIKE.match(match) or _THOUSANDS.match(match):
        return False
    international = match.startswith(("+", "00"))
    text = "+" + match[2:] if match.startswith("00") else match
    if not international and not any(ch in " ()-" for ch in match):
        if match.isdigit():
            # A bare run: an id or an amount, unless the text says it is a number to call.
            before = m.string[max(0, m.start() - 40) : m.start()]
            whole = m.string.strip() == match
            if not (10 <= digits <= 13 and (whole or _PHONE_CUE.search(before))):
                return False
            if digits > 10 and not match.startswith("1"):
                text, international = "+" + match, True  # a country code, written bare
        elif not _DOTTED.match(match):
            return False  # dotted groups that are versions or amounts
    if not international and _NANP.match(re.sub(r"\D", "", match)):
        return True  # the North-American plan's shape, area code in service or not
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
        if len(text) != len(text.encode("ascii").translate(None, _TRIGGERS)):
            return True
        return _written_at(text)
    return _MAY_HOLD_PII.search(text) is not None or _written_at(text)


# Order matters: the more specific patterns claim their text before the phone pattern.
# Each kind has a gate: a cheap necessary condition on the text (an "@", a ":", enough digits)
# so that ordinary prose skips the patterns, which cost microseconds each per text.
Gate = Callable[[str, int], bool]
Valid = Callable[[re.Match[str]], bool]
KINDS: list[tuple[str, re.Pattern[str], Valid | None, Gate]] = [
    ("EMAIL", _EMAIL, None, lambda text, digits: "@" in text),
    ("EMAIL", _EMAIL_SPACED, None, lambda text, digits: " @ " in text),
    ("EMAIL", _EMAIL_QUOTED, None, lambda text, digits: '"' in text and "@" in text),
    ("EMAIL", _EMAIL_PERCENT, None, lambda text, digits: "%40" in text),
    ("EMAIL", _EMAIL_WRITTEN, None, lambda text, digits: _written_at(text)),
    ("IBAN", _IBAN, lambda m: iban_ok(m.group(0)), lambda text, digits: digits >= 8),
    ("CARD", _CARD, lambda m: _is_card(m.group(0)), lambda text, digits: digits >= 13),
    ("IP", _IPV4, _is_ipv4, lambda text, digits: digits >= 4 and "." in text),
    ("IP", _IPV6, lambda m: _is_ipv6(m.group(0)), lambda text, digits: text.count(":") >= 2),
    ("PHONE", _PHONE, _is_phone, lambda text, digits: digits >= 7),
]


def scrub(text: str) -> tuple[str, list[str]]:
    """Replace PII with typed placeholders (``<EMAIL>``, ``<PHONE>``…); also the kinds found.

    Text with compatibility characters (fullwidth digits and letters, ligatures) is searched
    in its NFKC form, which is what is returned when anything was found there: a number in
    fullwidth digits is a phone number to whoever reads it."""
    if not _may_hold_pii(text):
        return text, []
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        scrubbed, found = _scrub(unicodedata.normalize("NFKC", text))
        return (scrubbed, found) if found else (text, [])
    return _scrub(text)


def _scrub(text: str) -> tuple[str, list[str]]:
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
