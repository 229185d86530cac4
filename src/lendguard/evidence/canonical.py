"""Canonical JSON bytes of a record (RFC 8785 JCS), so the same record always hashes to the same leaf.

The rule, in full:

- objects: keys must be strings; members sorted by the UTF-16 code units of their keys (JCS);
  no whitespace anywhere; `,` and `:` as separators;
- strings: UTF-8, escaped as JCS / ECMAScript `JSON.stringify` does (`\\"`, `\\\\`, `\\b \\f \\n \\r \\t`,
  other control characters as `\\u00xx`, everything else literal); lone surrogates are rejected;
- integers: as digits within ±(2**53 - 1); beyond that only integers an IEEE double holds
  exactly, written as that double (JCS: `10**21` -> `1e+21`); others are rejected (pass a
  string or a `Decimal`); `bool` as `true`/`false`, `None` as `null`;
- floats: ECMAScript shortest round-trip form (`1.5`, `1e+21`, `1e-7`, `0` for -0.0);
  NaN and infinities are rejected;
- `Decimal`: a JSON **string** in plain notation keeping its scale (`Decimal("12.50")` ->
  `"12.50"`, `Decimal("1E+2")` -> `"100"`); NaN and infinities are rejected;
- `datetime`: must be timezone-aware; a JSON string, converted to UTC, ISO 8601 with `Z`
  (`2026-11-24T03:02:53Z`, with `.ffffff` only when there are microseconds); naive ones are
  rejected; `date`: `YYYY-MM-DD`;
- `UUID` -> its string; `Enum` -> its value; msgspec Structs and dataclasses -> objects of
  their fields; lists and tuples -> arrays. Anything else (bytes, sets, naive datetimes) is rejected.

Every value that is not native JSON becomes a string, so the canonical form survives a JSON
round trip: `canonical_json(json.loads(canonical_json(r))) == canonical_json(r)`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json.encoder
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from operator import itemgetter
from typing import Any

import msgspec

from lendguard.evidence.merkle import leaf_hash

MAX_SAFE_INTEGER = 2**53 - 1
_first_item = itemgetter(0)
_encode_string = json.encoder.encode_basestring  # the C encoder: JCS escaping with ensure_ascii off
_UTC = dt.timezone.utc


class CanonicalJSONError(ValueError):
    """A record that has no canonical JSON form (NaN, naive datetime, non-string key, ...)."""


def canonical_json(record: Any) -> bytes:
    """The canonical JSON bytes of a record (see the module docstring for the rule)."""
    try:
        text = _value(record)
    except _Located as located:
        raise CanonicalJSONError(f"{located.where()}: {located.message}") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJSONError(f"record holds a string that is not valid Unicode (lone surrogate): {exc}") from None


def record_hash(record: Any) -> bytes:
    """The RFC 6962 leaf hash of a record: SHA-256(0x00 || canonical_json(record))."""
    return leaf_hash(canonical_json(record))


class _Located(Exception):
    """A canonical-form error on its way up, collecting the path to the bad value."""

    def __init__(self, message: str):
        self.message = message
        self.path: list[str] = []

    def where(self) -> str:
        return "$" + "".join(reversed(self.path))


def _value(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _encode_string(value)
    if kind is dict:
        return _object(value)
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return str(value)
        return _big_integer(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is Decimal:
        return _encode_string(_decimal_text(value))
    if kind is dt.datetime:
        return _encode_string(_datetime_text(value))
    if kind is list or kind is tuple:
        return _array(value)
    if kind is float:
        return _es_number(value)
    return _other(value)


def _big_integer(value: int) -> str:
    """An integer beyond ±(2**53 - 1): a JSON number is an IEEE double (JCS), so only exact doubles pass."""
    try:
        as_double = float(value)
    except OverflowError:
        as_double = math.inf
    if math.isfinite(as_double) and int(as_double) == value:
        return es_number(as_double)
    raise _Located(f"integer {value} has no exact IEEE double form (beyond ±(2**53 - 1)); pass it as a string or Decimal")


def _other(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return _value(value.value)
    if isinstance(value, str):
        return _encode_string(str(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _value(int(value))
    if isinstance(value, float):
        return _es_number(float(value))
    if isinstance(value, Decimal):
        return _encode_string(_decimal_text(value))
    if isinstance(value, dt.datetime):
        return _encode_string(_datetime_text(value))
    if isinstance(value, dt.date):
        return _encode_string(value.isoformat())
    if isinstance(value, uuid.UUID):
        return _encode_string(str(value))
    if isinstance(value, Mapping):
        return _object(value)
    if isinstance(value, (list, tuple)):
        return _array(value)
    if isinstance(value, msgspec.Struct):
        return _object(msgspec.structs.asdict(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _object({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    raise _Located(f"a {type(value).__name__} has no canonical JSON form")


def _object(value: Mapping[Any, Any]) -> str:
    members = list(value.items())
    try:
        joined = "".join([key for key, _ in members])
    except TypeError:
        bad = next(key for key, _ in members if not isinstance(key, str))
        raise _Located(f"object key {bad!r} is not a string") from None
    if joined.isascii():
        members.sort(key=_first_item)  # keys are unique: values are never compared
    else:
        members.sort(key=_utf16_first)
    try:
        return "{" + ",".join([_encode_string(key) + ":" + (_encode_string(item) if type(item) is str else _value(item)) for key, item in members]) + "}"
    except _Located as located:
        located.path.append(_member_path(value, [key for key, _ in members]))
        raise


def _utf16_first(member: tuple[str, Any]) -> bytes:
    return member[0].encode("utf-16-be", "surrogatepass")


def _member_path(value: Mapping[Any, Any], keys: list[str]) -> str:
    """Which member failed: the first whose value does not serialise (found again, on the error path only)."""
    for key in keys:
        try:
            _value(value[key])
        except _Located:
            return f".{key}"
    return ".?"


def _array(value: list | tuple) -> str:
    try:
        return "[" + ",".join([_value(item) for item in value]) + "]"
    except _Located as located:
        for position, item in enumerate(value):
            try:
                _value(item)
            except _Located:
                located.path.append(f"[{position}]")
                break
        raise


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise _Located(f"Decimal {value} is not finite")
    return format(value, "f")


def _datetime_text(value: dt.datetime) -> str:
    offset = value.utcoffset()
    if offset is None:
        raise _Located(f"datetime {value.isoformat()} has no time zone")
    if offset:
        value = value.astimezone(_UTC)
    return value.isoformat()[:-6] + "Z"  # isoformat ends with the offset, +00:00 here


def _es_number(value: float) -> str:
    try:
        return es_number(value)
    except CanonicalJSONError as exc:
        raise _Located(str(exc)) from None


def es_number(value: float) -> str:
    """A float as ECMAScript's Number.prototype.toString writes it (the JCS number form)."""
    if not math.isfinite(value):
        raise CanonicalJSONError(f"{value} is not a finite number")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    digits_tuple, exponent = Decimal(repr(abs(value))).as_tuple()[1:]
    digits = "".join(map(str, digits_tuple)).rstrip("0")
    exponent += len(digits_tuple) - len(digits)
    k = len(digits)
    n = exponent + k  # value = 0.digits * 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
        text = f"{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"
    return sign + text
