"""Citizen-data validators: known good and bad values, and Hypothesis properties (bounded)."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.yara.validator import (
    _ID_CHECK,
    _ID_WEIGHTS,
    card_issuer,
    luhn_ok,
    payment_card,
    redact,
    resident_id,
)


def with_check(body17: str) -> str:
    total = sum(int(d) * w for d, w in zip(body17, _ID_WEIGHTS, strict=True))
    return body17 + _ID_CHECK[total % 11]


def test_resident_id_known_values() -> None:
    assert resident_id("11010519491231002X") == "11010519491231002X"  # GB 11643 example
    assert resident_id("id: 11010519491231002x;") == "11010519491231002X"
    assert resident_id("110105194912310021") is None  # wrong check digit
    assert resident_id("990105194912310021") is None  # no such province
    assert resident_id(with_check("11010519490230002")) is None  # 30 February
    assert resident_id(with_check("11010518491231002")) is None  # born 1849
    assert resident_id("111010519491231002X") is None  # inside a longer number


def test_luhn_and_issuers() -> None:
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")
    assert not luhn_ok("41111x1111111111")
    assert card_issuer("4111111111111111") == "visa"
    assert card_issuer("6222029015443424642") == "unionpay"
    assert card_issuer("370865650389032") == "amex"
    assert card_issuer("9111111111111111") is None
    assert payment_card(",4111111111111111,") == "4111111111111111"
    assert payment_card("4111 1111 1111 1111") == "4111111111111111"
    assert payment_card("0000000000000000") is None


def test_redaction_keeps_at_most_the_last_four() -> None:
    assert redact("11010519491231002X") == "**************002X"
    assert redact("4111111111111111") == "************1111"
    assert redact("123") == "**3"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_validators_never_fail_on_any_text(text: str) -> None:
    for check in (resident_id, payment_card):
        value = check(text)
        assert value is None or value.replace("X", "").isdigit()


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["11", "31", "44", "51", "65"]),
    st.integers(0, 9999),
    st.dates(min_value=date(1800, 1, 1), max_value=date(2200, 12, 31)),
    st.integers(0, 999),
)
def test_every_generated_resident_id_validates(prov: str, area: int, born: date, seq: int) -> None:
    body = f"{prov}{area:04d}{born:%Y%m%d}{seq:03d}"
    value = with_check(body)
    expected = value if 1900 <= int(body[6:10]) <= 2099 else None
    assert resident_id(f" {value} ") == expected
    # Any single changed character of a valid ID is caught by the check character.
    wrong = value[:17] + ("0" if value[17] != "0" else "1")
    assert resident_id(wrong) is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=12, max_size=18), st.integers(0, 17))
def test_luhn_catches_every_single_digit_error(body: str, where: int) -> None:
    check = next(c for c in "0123456789" if luhn_ok(body + c))
    number = body + check
    i = where % len(number)
    wrong = number[:i] + str((int(number[i]) + 1) % 10) + number[i + 1 :]
    assert not luhn_ok(wrong)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=40))
def test_redact_never_reveals_more_than_four_or_half(value: str) -> None:
    masked = redact(value)
    assert len(masked) == len(value)
    shown = len(masked) - masked.count("*") if "*" not in value else None
    if shown is not None:
        assert shown <= min(4, len(value) // 2)
