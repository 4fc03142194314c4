"""Hostile values inside well-formed e-invoices: absurd numbers (``1E+999999999``, 100 000 digits,
``1_0``) and impossible dates. The CII and UBL readers refuse them with :class:`InvalidFormat`
naming the business term (``field="BT-115"``) and the value (see test_validate_hostile.py for
``o2c einvoice validate``)."""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from edi import cii, samples, ubl
from o2c.commands.einvoice import einvoice
from schemas.errors import InvalidFormat

INV = samples.sample_invoice(1)
CII = cii.render(INV, "en16931")
UBL = ubl.render(INV)

ABSURD = {
    "exponent": "1E+999999999",
    "100k-digits": "1" * 100_000,
    "underscore": "1_0",
    "nan": "NaN",
    "infinity": "-Infinity",
    "trailing-minus": "27.0-",
    "15-integer-digits": "1" + "0" * 14,
}


def _set(xml: bytes, element: bytes, value: str) -> bytes:
    """``xml`` with the text of the first ``element`` (prefixed name, attributes kept) replaced."""
    new, count = re.subn(rb"(<%s(?:\s[^>]*)?>)[^<]*<" % element, lambda m: m.group(1) + value.encode() + b"<", xml, count=1)
    assert count == 1, element
    return new


# (syntax, element, business term) for one number of every kind: amount, price, quantity, percentage
NUMBERS = [
    ("cii", b"ram:DuePayableAmount", "BT-115"),
    ("cii", b"ram:TaxBasisTotalAmount", "BT-109"),
    ("cii", b"ram:BilledQuantity", "BT-129"),
    ("cii", b"ram:ChargeAmount", "BT-148"),  # the first ChargeAmount is the gross price of line 1
    ("cii", b"ram:RateApplicablePercent", "BT-152"),
    ("cii", b"ram:CalculatedAmount", "BT-117"),
    ("ubl", b"cbc:PayableAmount", "BT-115"),
    ("ubl", b"cbc:InvoicedQuantity", "BT-129"),
    ("ubl", b"cbc:PriceAmount", "BT-146"),
    ("ubl", b"cbc:TaxableAmount", "BT-116"),
]


@pytest.mark.parametrize("value", ABSURD.values(), ids=ABSURD.keys())
@pytest.mark.parametrize(("syntax", "element", "term"), NUMBERS, ids=[f"{s}-{t}" for s, _, t in NUMBERS])
def test_absurd_numbers_are_refused_naming_the_term(syntax: str, element: bytes, term: str, value: str) -> None:
    xml = _set(CII if syntax == "cii" else UBL, element, value)
    parse = cii.parse if syntax == "cii" else ubl.parse
    with pytest.raises(InvalidFormat) as exc:
        parse(xml, document_id="hostile.xml")
    assert exc.value.field == term
    assert str(exc.value).startswith(f"hostile.xml, {term}: ")
    assert len(str(exc.value)) < 300  # a 100 000-digit value is not echoed back
    if len(value) < 64:
        assert value in str(exc.value)


def test_decimals_per_kind_of_number() -> None:
    """Amounts: up to 6 decimals are read (BR-DEC-* of the schematron flags more than 2);
    prices, quantities and percentages: up to 10."""
    assert cii.parse(_set(CII, b"ram:TaxBasisTotalAmount", "7323.000001")).totals.tax_exclusive == Decimal("7323.000001")
    with pytest.raises(InvalidFormat, match="BT-109: amount: amount 7323.0000001 has more than 6 decimals"):
        cii.parse(_set(CII, b"ram:TaxBasisTotalAmount", "7323.0000001"))
    assert ubl.parse(_set(UBL, b"cbc:PriceAmount", "32.9000000001")).lines[0].net_price == Decimal("32.9000000001")
    with pytest.raises(InvalidFormat, match="BT-146: price: amount 32.90000000001 has more than 10 decimals"):
        ubl.parse(_set(UBL, b"cbc:PriceAmount", "32.90000000001"))
    assert cii.parse(_set(CII, b"ram:BilledQuantity", "1.2500000000")).lines[0].quantity == Decimal("1.25")


def test_cli_parse_refuses_an_absurd_amount(tmp_path: Path) -> None:
    path = tmp_path / "absurd.xml"
    path.write_bytes(_set(CII, b"ram:DuePayableAmount", "1E+999999999"))
    result = CliRunner().invoke(einvoice, ["parse", str(path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    # the CLI masks long digit runs in every message it prints (account numbers): the value shows as 1E+9999…9999
    assert "absurd.xml, BT-115: amount: not a plain decimal amount: '1E+9999…9999'" in result.output
    assert "Traceback" not in result.output


# --- dates --------------------------------------------------------------------------------

DATES = [
    ("cii", rb"(<ram:IssueDateTime>\s*<udt:DateTimeString format=\"102\">)\d+", b"20260230", "BT-2"),
    ("ubl", rb"(<cbc:IssueDate>)[^<]+", b"2026-02-30", "BT-2"),
    ("ubl", rb"(<cbc:DueDate>)[^<]+", b"2026-13-01", "BT-9"),
    ("ubl", rb"(<cbc:ActualDeliveryDate>)[^<]+", b"2026-04-31", "BT-72"),
]


@pytest.mark.parametrize(("syntax", "pattern", "value", "term"), DATES, ids=[f"{s}-{t}" for s, _, _, t in DATES])
def test_impossible_dates_name_the_term_and_the_value(syntax: str, pattern: bytes, value: bytes, term: str) -> None:
    xml, count = re.subn(pattern, lambda m: m.group(1) + value, CII if syntax == "cii" else UBL, count=1)
    assert count == 1
    with pytest.raises(InvalidFormat) as exc:
        (cii.parse if syntax == "cii" else ubl.parse)(xml, document_id="d.xml")
    assert exc.value.field == term
    assert str(exc.value).startswith(f"d.xml, {term}: not a date") and repr(value.decode()) in str(exc.value)


def test_unreadable_optional_cii_date_is_logged_with_its_term(caplog: pytest.LogCaptureFixture) -> None:
    """CII optional dates stay lenient (a real ZUGFeRD 1.0 file has 20139102 as a period end),
    but the warning says which term and which value."""
    xml, count = re.subn(rb"(<ram:DueDateDateTime>\s*<udt:DateTimeString format=\"102\">)\d+", rb"\g<1>20261301", CII, count=1)
    assert count == 1
    with caplog.at_level(logging.WARNING, logger="edi.cii"):
        assert cii.parse(xml, document_id="d.xml").due_date is None
    assert "d.xml: BT-9 (ram:DueDateDateTime): not a date: '20261301' (format 102: CCYYMMDD)" in caplog.text
