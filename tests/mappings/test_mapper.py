from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from mappings.mapper import MappingError, all_mapping_files, load_mapping, mapping_path
from schemas.errors import RejectedDocument
from schemas.validation import invoice_issues


def test_every_mapping_file_is_valid():
    files = all_mapping_files()
    assert files, "no mapping files found"
    for path in files:
        load_mapping(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\ndocument: invoice\nsource_id: id\nterms:\n  BT-999: {from: x}\n", "terms.BT-999: unknown EN 16931 business term"),
        ("version: 1\ndocument: invoice\nsource_id: id\nterms:\n  BT-1: {form: x}\n", "BT-1: unknown key(s) ['form']"),
        ("version: 1\ndocument: invoice\nsource_id: id\nterms:\n  BT-1: {from: x, as: money}\n", "BT-1: unknown converter 'money'"),
        ("version: 1\ndocument: invoice\nsource_id: id\nterms:\n  BT-1: {from: x, table: t}\n", "BT-1: table 't' is not defined"),
        ("version: 1\ndocument: invoice\nsource_id: id\nterms:\n  BT-1: {fn: nope}\n", "BT-1: unknown function 'nope'"),
        ("version: 1\ndocument: order\nsource_id: id\nterms: {}\n", "document: must be one of 'invoice', 'customer', 'settlement'"),
        ("version: 1\ndocument: invoice\nterms: {}\n", "missing required key 'source_id'"),
        ("version: 1\ndocument: customer\nsource_id: id\nterms:\n  BT-44: {from: name}\n", "terms.BT-44: unknown customer field"),
        ("version: 1\ndocument: invoice\nsource_id: id\nterms: {}\ngroups:\n  BG-25: {from: lines, terms: {BT-1: {from: x}}}\n", "groups.BG-25.terms.BT-1: not a term of BG-25"),
        ("version: 1\ndocument: invoice\nsource_id: id\nterms: [\n", "not valid YAML"),
    ],
)
def test_bad_mapping_names_file_and_key(tmp_path, text, message):
    path = tmp_path / "broken" / "invoice.yaml"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def tryton_like_record(**over):
    """The shape connectors/tryton.py assembles (see tests/connectors for the live one)."""
    rec = {
        "id": 7, "number": "FA-0007", "invoice_date": dt.date(2026, 2, 3), "due_date": dt.date(2026, 3, 5),
        "reference": "PO-55", "state": "posted", "type": "out",
        "updated_at": dt.datetime(2026, 2, 3, 9, 0, tzinfo=dt.UTC),
        "currency": {"id": 1, "code": "EUR"},
        "payment_term": {"name": "30 jours net"},
        "untaxed_amount": D("150.00"), "tax_amount": D("25.50"), "total_amount": D("175.50"),
        "company": {"party": {"name": "Acme Industrie SAS", "identifiers": [{"type": "fr_siren", "code": "732829320"},
                                                                           {"type": "eu_vat", "code": "FR44732829320"}],
                              "address": {"street": "1 rue de la Paix\nBat. A", "city": "Paris", "postal_code": "75002", "country_code": "FR"}}},
        "party": {"name": "Client SARL", "identifiers": [{"type": "fr_siren", "code": "552081317"}],
                  "contact_mechanisms": [{"type": "email", "value": "ap@client.example"}]},
        "invoice_address": {"street": "5 avenue Foch", "city": "Lyon", "postal_code": "69006", "country_code": "fr"},
        "lines": [
            {"id": 11, "quantity": D("1"), "unit": {"unece_code": "C62"}, "unit_price": D("100.00"), "amount": D("100.00"),
             "product": {"rec_name": "Audit", "code": "SRV1"}, "tax": {"rate": D("0.2"), "unece_category_code": "S"}},
            {"id": 12, "quantity": D("10"), "unit": {"unece_code": "KGM"}, "unit_price": D("5.00"), "amount": D("50.00"),
             "product": {"rec_name": "Vis", "code": "G1"}, "tax": {"rate": D("0.11"), "unece_category_code": "S"}},
        ],
        "taxes": [
            {"base": D("100.00"), "amount": D("20.00"), "tax": {"rate": D("0.2"), "unece_category_code": "S"}},
            {"base": D("50.00"), "amount": D("5.50"), "tax": {"rate": D("0.11"), "unece_category_code": "S"}},
        ],
    }
    rec.update(over)
    return rec


def test_tryton_invoice_maps_to_canonical():
    inv = load_mapping(mapping_path("tryton", "invoice")).apply(tryton_like_record(), "erp1")
    assert (inv.number, inv.type_code, inv.currency, inv.issue_date) == ("FA-0007", "380", "EUR", dt.date(2026, 2, 3))
    assert inv.seller.siren == "732829320" and inv.seller.vat_id == "FR44732829320"
    assert inv.seller.address.line2 == "Bat. A"
    assert inv.buyer.siren == "552081317" and inv.buyer.address.country == "FR"
    # a French buyer's address in the e-invoicing directory is its SIREN (0225), not its e-mail
    assert (inv.buyer.electronic_address.value, inv.buyer.electronic_address.scheme) == ("552081317", "0225")
    assert [ln.vat_rate for ln in inv.lines] == [D("20"), D("11")]
    assert inv.lines[1].unit_code == "KGM"
    assert inv.totals.payable == D("175.50")
    assert inv.source.system == "erp1" and inv.source.id == "7"
    assert invoice_issues(inv) == []


def test_tryton_buyer_without_siren_keeps_its_email_address():
    rec = tryton_like_record()
    rec["party"] = {**rec["party"], "identifiers": [{"type": "eu_vat", "code": "DE136695976"}]}
    inv = load_mapping(mapping_path("tryton", "invoice")).apply(rec, "erp1")
    assert (inv.buyer.electronic_address.value, inv.buyer.electronic_address.scheme) == ("ap@client.example", "EM")
    assert inv.delivery is None and inv.operation_category is None and inv.vat_on_debits is False


def test_negative_tryton_invoice_becomes_positive_credit_note():
    rec = tryton_like_record(
        untaxed_amount=D("-100.00"), tax_amount=D("-20.00"), total_amount=D("-120.00"),
        lines=[{"id": 1, "quantity": D("-1"), "unit": {"unece_code": "C62"}, "unit_price": D("100.00"), "amount": D("-100.00"),
                "product": {"rec_name": "Avoir"}, "tax": {"rate": D("0.2"), "unece_category_code": "S"}}],
        taxes=[{"base": D("-100.00"), "amount": D("-20.00"), "tax": {"rate": D("0.2"), "unece_category_code": "S"}}],
    )
    inv = load_mapping(mapping_path("tryton", "invoice")).apply(rec, "erp1")
    assert inv.type_code == "381"
    assert (inv.totals.payable, inv.lines[0].quantity, inv.vat_breakdown[0].tax_amount) == (D("120.00"), D("1"), D("20.00"))
    assert inv.signed_payable() == D("-120.00")
    assert invoice_issues(inv) == []


def test_missing_required_value_is_rejected_naming_the_term():
    rec = tryton_like_record(number=None)
    with pytest.raises(RejectedDocument) as err:
        load_mapping(mapping_path("tryton", "invoice")).apply(rec, "erp1")
    assert err.value.field == "BT-1" and "erp1:7" in str(err.value)


def test_unknown_vat_category_is_rejected():
    rec = tryton_like_record()
    rec["lines"][0]["tax"] = {"rate": D("0.2"), "unece_category_code": "X"}
    with pytest.raises(RejectedDocument) as err:
        load_mapping(mapping_path("tryton", "invoice")).apply(rec, "erp1")
    assert "BG-25/BT-151" in str(err.value) and "'X'" in str(err.value)
