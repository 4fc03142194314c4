from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from schemas import Address, Customer, Identifier, Invoice, InvoiceLine, Totals, TradeParty, VatBreakdown
from schemas.errors import ValidationFailed
from schemas.jsonio import content_hash, from_json, to_json
from schemas.money import to_decimal
from schemas.validation import customer_issues, invoice_issues, validate_invoice


def make_invoice(**over) -> Invoice:
    fields = dict(
        number="FA2026-0001",
        issue_date=dt.date(2026, 3, 2),
        type_code="380",
        currency="EUR",
        seller=TradeParty(name="Acme SAS", address=Address(country="FR"),
                          legal_registration=Identifier(value="732829320", scheme="0002"), vat_id="FR44732829320"),
        buyer=TradeParty(name="Client SARL", address=Address(country="FR")),
        totals=Totals(line_total=D("150.00"), tax_exclusive=D("150.00"), tax_total=D("25.50"),
                      tax_inclusive=D("175.50"), payable=D("175.50")),
        lines=[
            InvoiceLine(id="1", quantity=D("1"), unit_code="C62", net_amount=D("100.00"), net_price=D("100.00"),
                        item_name="Service", vat_category="S", vat_rate=D("20")),
            InvoiceLine(id="2", quantity=D("10"), unit_code="KGM", net_amount=D("50.00"), net_price=D("5.00"),
                        item_name="Goods", vat_category="S", vat_rate=D("11")),
        ],
        vat_breakdown=[
            VatBreakdown(category="S", rate=D("20"), taxable_amount=D("100.00"), tax_amount=D("20.00")),
            VatBreakdown(category="S", rate=D("11"), taxable_amount=D("50.00"), tax_amount=D("5.50")),
        ],
    )
    fields.update(over)
    return Invoice(**fields)


def test_valid_invoice_has_no_issues():
    assert invoice_issues(make_invoice()) == []


@pytest.mark.parametrize(
    ("change", "term"),
    [
        ({"currency": "EUX"}, "BT-5"),
        ({"number": ""}, "BT-1"),
        ({"type_code": "999"}, "BT-3"),
        ({"totals": Totals(line_total=D("150.00"), tax_exclusive=D("150.00"), tax_total=D("25.50"),
                           tax_inclusive=D("175.51"), payable=D("175.51"))}, "BT-112"),
        ({"totals": Totals(line_total=D("151.00"), tax_exclusive=D("151.00"), tax_total=D("25.50"),
                           tax_inclusive=D("176.50"), payable=D("176.50"))}, "BT-106"),
        ({"buyer": TradeParty(name="X", address=Address(country="FR"),
                              legal_registration=Identifier(value="732829321", scheme="0002"))}, "BT-47"),
        ({"buyer": TradeParty(name="X", address=Address(country="FR"), vat_id="FR45732829320")}, "BT-48"),
        ({"buyer": TradeParty(name="X", address=None)}, "BT-55"),
    ],
)
def test_bad_invoice_names_the_business_term(change, term):
    inv = make_invoice(**change)
    terms = [i.term for i in invoice_issues(inv) if i.severity == "error"]
    assert term in terms
    with pytest.raises(ValidationFailed) as err:
        validate_invoice(inv)
    assert term in str(err.value) and inv.record_id in str(err.value)


def test_json_round_trip_keeps_decimals_and_hash():
    inv = make_invoice()
    data = to_json(inv)
    assert data["totals"]["payable"] == "175.50"
    back = from_json(Invoice, data)
    assert back == inv
    assert content_hash(back) == content_hash(inv)
    assert content_hash(make_invoice(number="FA2026-0002")) != content_hash(inv)


def test_amounts_refuse_float_and_read_french_format():
    assert to_decimal("1 234,56") == D("1234.56")
    assert to_decimal("1.234,56") == D("1234.56")
    assert to_decimal("1,234.56") == D("1234.56")
    with pytest.raises(TypeError):
        to_decimal(0.1)
    with pytest.raises(ValueError):
        to_decimal("12a")


def test_customer_identifiers_checked():
    good = Customer(name="Acme", siren="732829320", siret="73282932000074", vat_id="FR44732829320",
                    ibans=["FR7630006000011234567890189"])
    assert customer_issues(good) == []
    bad = Customer(name="Acme", siren="732829321", ibans=["FR7630006000011234567890188"])
    assert {i.term for i in customer_issues(bad)} == {"siren", "ibans"}


def test_customer_master_fields_checked():
    from schemas.invoice import Contact

    good = Customer(name="Dumont SAS", dunning_language="fr-FR", payment_days=30, credit_limit=D("0"),
                    dunning_contacts=[Contact(name="AP", email="ap@dumont.example")], blocked=False, on_hold=True,
                    on_hold_reason="Blocage encours")
    assert customer_issues(good) == []
    assert from_json(Customer, to_json(good)) == good
    bad = Customer(name="Dumont SAS", dunning_language="fr_FR", payment_days=-1, credit_limit=D("-5"),
                   dunning_contacts=[Contact(name="Nobody")])
    assert sorted(i.term for i in customer_issues(bad)) == ["credit_limit", "dunning_contacts", "dunning_language", "payment_days"]
