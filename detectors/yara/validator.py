"""Citizen-data validators: YARA finds candidates, these confirm them before anything alerts.

A rule names its validator in its metadata (``validator = "cn_resident_id"``) and how many
distinct confirmed values one scan needs (``min_valid``). Values are never reported in full:
``redact`` keeps the last four characters, as PCI DSS allows for card numbers.

Written by hand: the checks are a few lines each, and the libraries that offer them (python-stdnum)
would be a dependency for two functions whose specifications are short and stable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

#: ISO 7064 MOD 11-2 weights for the 17 digits of a resident ID (GB 11643-1999 section 7).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
#: Province-level codes that open an administrative division code (GB/T 2260).
_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52}
    | {53, 54, 61, 62, 63, 64, 65, 71, 81, 82}
)
_ID_SHAPE = re.compile(r"(?<![0-9])([1-8][0-9]{16}[0-9Xx])(?![0-9])")
_CARD_SHAPE = re.compile(r"(?<![0-9])([0-9](?:[ -]?[0-9]){12,18})(?![0-9])")


def resident_id(candidate: str) -> str | None:
    """The 18-character mainland resident ID in ``candidate`` (upper-case X) if one is valid:
    a known province, a real birth date (1900-2099) and a correct MOD 11-2 check character."""
    for found in _ID_SHAPE.finditer(candidate):
        value = found.group(1).upper()
        if int(value[:2]) not in _PROVINCES or not _birth_date_ok(value[6:14]):
            continue
        total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
        if _ID_CHECK[total % 11] == value[17]:
            return value
    return None


def _birth_date_ok(yyyymmdd: str) -> bool:
    year, month, day = int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:])
    if not 1900 <= year <= 2099:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def luhn_ok(digits: str) -> bool:
    """The Luhn (ISO/IEC 7812-1 annex B) check over a string of digits."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


#: (first digits low, high, prefix length, allowed lengths) of the card networks seen in China.
_ISSUERS: tuple[tuple[str, int, int, int, frozenset[int]], ...] = (
    ("visa", 4, 4, 1, frozenset({13, 16, 19})),
    ("mastercard", 51, 55, 2, frozenset({16})),
    ("mastercard", 2221, 2720, 4, frozenset({16})),
    ("amex", 34, 34, 2, frozenset({15})),
    ("amex", 37, 37, 2, frozenset({15})),
    ("unionpay", 62, 62, 2, frozenset(range(16, 20))),
    ("discover", 6011, 6011, 4, frozenset(range(16, 20))),
    ("discover", 644, 649, 3, frozenset(range(16, 20))),
    ("discover", 65, 65, 2, frozenset(range(16, 20))),
    ("jcb", 3528, 3589, 4, frozenset(range(16, 20))),
)


def card_issuer(digits: str) -> str | None:
    """The card network a number's prefix and length belong to (None: no known network)."""
    for name, low, high, width, lengths in _ISSUERS:
        head = digits[:width]
        if len(digits) in lengths and head.isdigit() and low <= int(head) <= high:
            return name
    return None


def payment_card(candidate: str) -> str | None:
    """The card number in ``candidate`` (digits only) if one has a known issuer and passes Luhn."""
    for found in _CARD_SHAPE.finditer(candidate):
        digits = found.group(1).replace(" ", "").replace("-", "")
        if len(set(digits)) > 1 and card_issuer(digits) and luhn_ok(digits):
            return digits
    return None


def redact(value: str) -> str:
    """All but the last four characters masked."""
    keep = min(4, len(value) // 2)
    return "*" * (len(value) - keep) + value[len(value) - keep :]


#: Validators by the name rules give in ``meta: validator = "..."``.
VALIDATORS: dict[str, Callable[[str], str | None]] = {
    "cn_resident_id": resident_id,
    "payment_card": payment_card,
}
