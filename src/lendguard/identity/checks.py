"""Whether a personal field is well formed: a mainland mobile number, an 18-character
resident ID (GB 11643 check character), a bank card (Luhn). Messages never repeat the value."""

from __future__ import annotations

import re

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_number_ok(value: str) -> bool:
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    return _CHECK[sum(int(d) * w for d, w in zip(value[:17], _WEIGHTS)) % 11] == value[17]


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        n = int(digit) * (2 if position % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def field_problem(field: str, value: str) -> str | None:
    """What is wrong with `value` as `field`, or None."""
    if field == "phone" and not re.fullmatch(r"1[3-9]\d{9}", value):
        return "a mobile number is 11 digits starting 13–19"
    if field == "id_number" and not id_number_ok(value):
        return "an ID number is 17 digits and a check character (0–9 or X) that matches them"
    if field == "bank_card" and not (re.fullmatch(r"\d{12,19}", value) and luhn_ok(value)):
        return "a bank card number is 12 to 19 digits passing the Luhn check"
    if field == "name" and not 1 <= len(value.strip()) <= 64:
        return "a name is 1 to 64 characters"
    return None
