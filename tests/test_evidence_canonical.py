"""Canonical JSON of records (RFC 8785 JCS rules, plus lendguard's rules for Decimal and datetime)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.evidence import merkle
from lendguard.evidence.canonical import (
    CanonicalJSONError,
    canonical_json,
    es_number,
    record_hash,
)
from lendguard.evidence.verify import parse_record


def test_keys_sorted_no_whitespace_utf8():
    record = {"b": 1, "a": [True, False, None], "c": {"z": "é", "y": "中文"}}
    assert canonical_json(record) == '{"a":[true,false,null],"b":1,"c":{"y":"中文","z":"é"}}'.encode()


def test_same_record_in_any_key_order_hashes_the_same():
    assert record_hash({"a": 1, "b": 2}) == record_hash({"b": 2, "a": 1})
    assert record_hash({"a": 1}) == merkle.leaf_hash(b'{"a":1}')


def test_rfc8785_key_order_is_by_utf16_code_units():
    # RFC 8785 §3.2.3 sorting example: code points sort U+FB33 before U+1F600, UTF-16 the other way
    record = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}
    keys = list(json.loads(canonical_json(record)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_string_escapes_follow_jcs():
    value = "\u0000\u0008\u0009\u000a\u000c\u000d\u001f\"\\/\u007f\u2028é"
    assert canonical_json(value) == b'"\\u0000\\b\\t\\n\\f\\r\\u001f\\"\\\\/\x7f\xe2\x80\xa8\xc3\xa9"'


@pytest.mark.parametrize(
    ("number", "text"),
    [
        # from RFC 8785 Appendix B and ECMAScript Number::toString
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (9007199254740992.0, "9007199254740992"),
        (295147905179352830000.0, "295147905179352830000"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (333333333.3333333, "333333333.3333333"),
        (0.1, "0.1"),
        (123e-20, "1.23e-18"),
    ],
)
def test_floats_use_the_ecmascript_form(number, text):
    assert es_number(number) == text
    assert canonical_json(number) == text.encode()


def test_big_integers_only_when_a_double_holds_them_exactly():
    assert canonical_json(2**53) == b"9007199254740992"
    assert canonical_json(10**21) == b"1e+21"
    with pytest.raises(CanonicalJSONError, match="no exact IEEE double"):
        canonical_json(10**400)


def test_decimal_is_a_string_that_keeps_its_scale():
    assert canonical_json({"amount": Decimal("12.50")}) == b'{"amount":"12.50"}'
    assert canonical_json(Decimal("1E+2")) == b'"100"'
    assert canonical_json(Decimal("-0.001")) == b'"-0.001"'


def test_datetimes_become_utc_with_z():
    shanghai = dt.datetime(2026, 11, 24, 11, 2, 53, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert canonical_json(shanghai) == b'"2026-11-24T03:02:53Z"'
    assert canonical_json(shanghai.replace(microsecond=120)) == b'"2026-11-24T03:02:53.000120Z"'
    assert canonical_json(shanghai) == canonical_json(shanghai.astimezone(dt.timezone.utc))
    assert canonical_json(dt.date(2026, 1, 2)) == b'"2026-01-02"'


def test_other_types():
    class Colour(enum.Enum):
        RED = "red"

    class Level(enum.IntEnum):
        R2 = 2

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    class Offer(msgspec.Struct):
        apr: Decimal
        term: int

    uid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    record = {"c": Colour.RED, "l": Level.R2, "p": Point(1, 2), "o": Offer(Decimal("0.18"), 12), "u": uid, "t": (1, 2)}
    assert canonical_json(record) == b'{"c":"red","l":2,"o":{"apr":"0.18","term":12},"p":{"x":1,"y":2},"t":[1,2],"u":"12345678-1234-5678-1234-567812345678"}'


@pytest.mark.parametrize(
    ("record", "where"),
    [
        ({"a": float("nan")}, "$.a"),
        ({"a": [1, float("inf")]}, "$.a[1]"),
        ({"a": Decimal("NaN")}, "$.a"),
        ({"when": dt.datetime(2026, 1, 1)}, "$.when"),
        ({1: "x"}, "$"),
        ({"big": 2**53 + 1}, "$.big"),
        ({"b": b"bytes"}, "$.b"),
        ({"s": {1, 2}}, "$.s"),
        ({"x": {"y": [{"z": object()}]}}, "$.x.y[0].z"),
    ],
)
def test_values_without_a_canonical_form_are_rejected_with_their_path(record, where):
    with pytest.raises(CanonicalJSONError, match=rf"^{__import__('re').escape(where)}:"):
        canonical_json(record)


def test_lone_surrogates_are_rejected():
    with pytest.raises(CanonicalJSONError, match="not valid Unicode"):
        canonical_json({"a": "\ud800"})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.decimals(allow_nan=False, allow_infinity=False, places=2)
    | st.datetimes(timezones=st.sampled_from([dt.timezone.utc, ZoneInfo("Asia/Shanghai"), dt.timezone(dt.timedelta(hours=-5))])),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_form_survives_a_json_round_trip(value):
    """What `lendguard evidence verify --record FILE` relies on: the record file re-hashes to the same leaf."""
    first = canonical_json(value)
    assert canonical_json(parse_record(first)) == first
