"""Masks for personal data wherever it could be shown or logged: a phone keeps its first
three and last four digits, an ID number its first and last four characters... the way
Chinese financial apps show them. `mask_text` finds such values inside free text (a log
message, an exception) so nothing reaches a log in clear."""

from __future__ import annotations

import re

# Order matters: an 18-character ID and a 16–19-digit card before an 11-digit phone.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
_BANK_CARD = re.compile(r"(?<!\d)(\d{4})(?:[ -]?\d){8,11}(?:[ -]?(\d{4}))(?!\d)")
_PHONE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?(1[3-9]\d)[ -]?\d{4}[ -]?(\d{4})(?!\d)")


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)[-11:]
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 7 else "****"


def mask_id_number(value: str) -> str:
    return f"{value[:4]}**********{value[-4:]}" if len(value) >= 8 else "****"


def mask_bank_card(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return f"{digits[:4]} **** **** {digits[-4:]}" if len(digits) >= 8 else "****"


def mask_name(value: str) -> str:
    return value[0] + "*" * max(1, len(value) - 1) if value else value


MASKS = {"phone": mask_phone, "id_number": mask_id_number, "bank_card": mask_bank_card, "name": mask_name}


def mask_text(text: str) -> str:
    """Free text with every ID number, bank card and mobile number in it masked."""
    text = _ID_NUMBER.sub(lambda m: f"{m.group(1)[:4]}**********{m.group(2)}", text)
    text = _BANK_CARD.sub(lambda m: f"{m.group(1)} **** **** {m.group(2)}", text)
    return _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
