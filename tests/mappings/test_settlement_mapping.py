"""``document: settlement`` mappings: the Tryton one on records shaped as connectors/tryton.py
assembles them (the live ones: tests/connectors/test_tryton_settlements_live.py), and the checks
of the loader."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from mappings.mapper import MappingError, load_mapping, mapping_path
from schemas.errors import RejectedDocument
from schemas.settlement import Settlement

STAMP = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def tryton_settlement(**over):
    rec = {
        "id": 36, "number": "AV2026-00004", "type": "out", "state": "posted",
        "total_amount": D("-144.65"), "amount_to_pay": D("-44.65"), "currency": {"id": 1, "code": "eur"},
        "reconciled": None, "write_date": STAMP, "create_date": STAMP, "updated_at": STAMP,
        "settlement_lines": [{"id": 189, "kind": "payment", "amount": D("100.00"), "date": dt.date(2026, 11, 20),
                              "reference": "o2c:" + "ab" * 16 + " REF1"}],
    }
    rec.update(over)
    return rec


@pytest.fixture(scope="module")
def mapping():
    return load_mapping(mapping_path("tryton", "settlement"))


def test_credit_note_open_amount_is_positive_and_partial(mapping):
    st = mapping.apply(tryton_settlement(), "tryton_demo")
    assert isinstance(st, Settlement)
    assert (st.invoice_id, st.state, st.open_amount, st.currency, st.settled_on) == ("36", "partial", D("44.65"), "EUR", None)
    assert st.source.system == "tryton_demo" and st.source.id == "36" and st.source.updated_at == STAMP
    [line] = st.lines
    assert (line.id, line.kind, line.amount, line.date) == ("189", "payment", D("100.00"), dt.date(2026, 11, 20))
    assert st.hub_keys() == {"ab" * 16} and st.settled_amount() == D("100.00")


@pytest.mark.parametrize(("state", "to_pay", "expected"), [
    ("posted", "-144.65", "open"), ("paid", "0", "paid"), ("cancelled", "0", "cancelled"), ("posted", "-0.01", "partial"),
])
def test_states(mapping, state, to_pay, expected):
    st = mapping.apply(tryton_settlement(state=state, amount_to_pay=D(to_pay), reconciled=dt.date(2026, 11, 21)), "t")
    assert st.state == expected and st.settled_on == dt.date(2026, 11, 21)


def test_invoice_amounts_keep_their_sign_and_an_overpayment_shows(mapping):
    st = mapping.apply(tryton_settlement(total_amount=D("500.00"), amount_to_pay=D("-20.00")), "t")
    assert (st.state, st.open_amount) == ("paid", D("-20.00"))  # not clamped: the sync records a finding


@pytest.mark.parametrize(("over", "field"), [
    ({"amount_to_pay": "1E+999999"}, "state"),  # the first term reading it
    ({"currency": None}, "currency"),
    ({"settlement_lines": [{"id": 1, "kind": "payment", "amount": "12,3,4"}]}, "lines/amount"),
])
def test_unreadable_values_reject_the_record_naming_the_field(mapping, over, field):
    with pytest.raises(RejectedDocument) as err:
        mapping.apply(tryton_settlement(**over), "t")
    assert field in str(err.value.field) and "t:36" in str(err.value)


def test_an_unknown_line_kind_is_refused(mapping):
    with pytest.raises(RejectedDocument, match="kind"):
        mapping.apply(tryton_settlement(settlement_lines=[{"id": 1, "kind": "barter", "amount": D("1")}]), "t")


@pytest.mark.parametrize(("text", "message"), [
    ("version: 1\ndocument: settlement\nsource_id: id\nterms:\n  BT-115: {from: x}\n", "terms.BT-115: unknown settlement field"),
    ("version: 1\ndocument: settlement\nsource_id: id\nterms: {}\ngroups:\n  BG-25: {from: l, terms: {}}\n",
     "groups.BG-25: unknown group (known: ['lines'])"),
    ("version: 1\ndocument: settlement\nsource_id: id\nterms: {}\ngroups:\n  lines: {from: l, terms: {BT-1: {from: x}}}\n",
     "groups.lines.terms.BT-1: not a term of lines"),
])
def test_bad_settlement_mapping_names_the_key(tmp_path, text, message):
    path = tmp_path / "settlement.yaml"
    path.write_text(text)
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    assert message in str(err.value)


def test_invoice_id_defaults_to_the_record_id(tmp_path):
    path = tmp_path / "settlement.yaml"
    path.write_text("version: 1\ndocument: settlement\nsource_id: key\nterms:\n  state: {value: paid}\n"
                    "  open_amount: {value: '0'}\n  currency: {value: EUR}\n")
    st = load_mapping(path).apply({"key": "9000001"}, "sql_erp")
    assert (st.invoice_id, st.state, st.open_amount, st.lines) == ("9000001", "paid", D("0"), [])
