"""Find and replace personal data: emails, phone numbers, card numbers, IBANs, IP addresses.

Hand-written because the maintained detectors (presidio, scrubadub) pull in spaCy models that
cannot be downloaded here and run ~100x slower; these patterns are validated where a checksum
exists (Luhn for cards, mod-97 for IBANs) so that order numbers do not count as cards.
"""

import re
from collections.abc import Callable

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_IPV6 = re.compile(r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b")
# A phone number: optional +country, then 9-15 digits in groups split by space, dot, dash or
# parentheses. Plain digit runs without separators or + are not taken (ids, amounts).
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?![\w])"
    r"|(?<![\w+])\+\d{9,15}\b"
)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    """ISO 13616 mod-97 check."""
    s = candidate.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _is_card(match: str) -> bool:
    digits = re.sub(r"\D", "", match)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _is_phone(match: str) -> bool:
    return 9 <= sum(ch.isdigit() for ch in match) <= 15


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
KINDS: list[tuple[str, re.Pattern[str], Callable[[str], bool] | None, Gate]] = [
    ("EMAIL", _EMAIL, None, lambda text, digits: "@" in text),
    ("IBAN", _IBAN, iban_ok, lambda text, digits: digits >= 2),
    ("CARD", _CARD, _is_card, lambda text, digits: digits >= 13),
    ("IP", _IPV4, None, lambda text, digits: digits >= 4 and "." in text),
    ("IP", _IPV6, None, lambda text, digits: ":" in text),
    ("PHONE", _PHONE, _is_phone, lambda text, digits: digits >= 9),
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

        def replace(m: re.Match[str], kind: str = kind, valid=valid) -> str:  # type: ignore[no-untyped-def]
            if valid is None or valid(m.group(0)):
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
