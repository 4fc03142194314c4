"""The one amount parser for outside data: plain decimals, bounded digits (hardening, defect 8)."""

from decimal import Decimal

import pytest

from schemas.money import MAX_INTEGER_DIGITS, AmountError, check_amount, parse_amount, to_decimal


@pytest.mark.parametrize("text,expected", [
    ("0", "0"), ("-12.50", "-12.50"), ("+7", "7"), (".5", "0.5"), ("5.", "5"), (" 42.10 ", "42.10"),
    ("99999999999999.99999", "99999999999999.99999"), ("1.500000000", "1.500000000"),
])
def test_plain_amounts_are_read_exactly(text: str, expected: str) -> None:
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize("text", [
    "1E+999999999", "1e3", "1E+309", "NaN", "-Infinity", "inf", "1_0", "1 0", "", "-", ".", "1.2.3",
    "١٢٣",  # Arabic-Indic digits: int() and Decimal() take them, an amount must not
    "9" * 100_000, "100000000000000", "1.123456",
])
def test_absurd_amounts_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(AmountError) as info:
        parse_amount(text, field="BT-112")
    assert str(info.value).startswith("BT-112: ")
    assert len(str(info.value)) < 200  # never echoes a 100k-digit value


def test_limits_are_the_stores() -> None:
    assert parse_amount("9" * MAX_INTEGER_DIGITS) == Decimal("9" * MAX_INTEGER_DIGITS)
    with pytest.raises(AmountError):
        parse_amount("1" + "0" * MAX_INTEGER_DIGITS)
    assert parse_amount("0.123", decimals=3) == Decimal("0.123")
    with pytest.raises(AmountError, match="more than 2 decimals"):
        parse_amount("0.123", decimals=2)


def test_decimals_already_built_are_checked_too() -> None:
    assert check_amount(Decimal("10.00")) == Decimal("10.00")
    for bad in (Decimal("NaN"), Decimal("Infinity"), Decimal("1E+14"), Decimal("1E-9")):
        with pytest.raises(AmountError):
            check_amount(bad)


def test_to_decimal_keeps_its_separators_and_refuses_exponents() -> None:
    assert to_decimal("1 234,56") == Decimal("1234.56")
    assert to_decimal("1.234,56") == Decimal("1234.56")
    assert to_decimal(12) == Decimal(12)
    for bad in ("1E+999999999", "1_0", "NaN", 10**20, Decimal("1E+20")):
        with pytest.raises(ValueError):
            to_decimal(bad)
