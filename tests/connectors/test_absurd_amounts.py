"""Absurd or junk amounts from an ERP: that one record is quarantined, the pull goes on (hardening, defect 8).

The connectors add line amounts up into VAT breakdowns and the mappings compute unit prices
and percentages; those sums and results are checked like every outside amount
(:mod:`schemas.money`). A value that is not a plain, bounded amount makes its record a
RejectedDocument naming the business term, never an exception that stops the whole pull, and
never a Decimal of a billion digits handed on to a renderer.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connectors.base import ConnectionInfo
from connectors.odoo import OdooConnector
from connectors.sap_s4 import SapS4Connector
from connectors.tryton import _decode
from mappings.mapper import load_mapping, mapping_path
from schemas.errors import RejectedDocument
from tests.connectors.test_sap_s4 import COMPANIES, PULLED
from tests.fixtures.odoo.server import FakeOdoo
from tests.fixtures.sap_s4.server import FakeSap

UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _sap_records(sap: FakeSap) -> list[dict]:
    with SapS4Connector(ConnectionInfo.from_uri(sap.uri()), companies=COMPANIES) as c:
        return [r for b in c.pull("invoices", None, UNTIL) for r in b.records]


def _outcomes(mapping, records, source: str, key: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for r in records:
        try:
            out[str(r[key])] = mapping.apply(r, source)
        except RejectedDocument as exc:
            out[str(r[key])] = exc
    return out


@pytest.mark.parametrize("bad", ["not a number", "1E+999999999", "1_0", "9" * 5000])
def test_sap_item_amount_that_is_no_amount_rejects_its_invoice_only(bad):
    with FakeSap() as sap:
        doc = next(d for d in sap.state.entities["A_BillingDocument"] if d["BillingDocument"] == "90000002")
        doc["to_Item"]["results"][0]["TaxAmount"] = bad  # only summed into the VAT breakdown (BG-23) by the connector
        records = _sap_records(sap)
    assert [r["BillingDocument"] for r in records] == PULLED
    results = _outcomes(load_mapping(mapping_path("sap_s4", "invoice")), records, "s4", "BillingDocument")
    rejected = results.pop("90000002")
    assert isinstance(rejected, RejectedDocument) and rejected.field == "BG-23/BT-117", rejected
    assert len(str(rejected)) < 400
    assert not any(isinstance(v, Exception) for v in results.values()), results


def test_sap_computed_unit_price_past_the_store_is_refused():
    """99999999999 (an amount) for 0.00001 of a unit (a quantity): a unit price of 1e16, computed by the mapping."""
    with FakeSap() as sap:
        doc = next(d for d in sap.state.entities["A_BillingDocument"] if d["BillingDocument"] == "90000002")
        doc["to_Item"]["results"][0]["NetAmount"] = "99999999999.000"
        doc["to_Item"]["results"][0]["BillingQuantity"] = "0.00001"
        records = _sap_records(sap)
    results = _outcomes(load_mapping(mapping_path("sap_s4", "invoice")), records, "s4", "BillingDocument")
    rejected = results["90000002"]
    assert isinstance(rejected, RejectedDocument), rejected
    assert "more than 14 integer digits" in str(rejected) and rejected.field == "BG-25/BT-146 (line 1)"


def test_odoo_junk_line_amount_and_absurd_tax_rate_reject_their_invoices_only():
    with FakeOdoo(version=17) as odoo:
        lines = odoo.state.records["account.move.line"]
        next(ln for ln in lines if ln["id"] == 1005)["price_subtotal"] = False  # move 102
        next(t for t in odoo.state.records["account.tax"] if t["id"] == 2)["amount"] = 1e300  # 10 %, used by move 105
        with OdooConnector(ConnectionInfo.from_uri(odoo.uri())) as c:
            records = [r for b in c.pull("invoices", None, UNTIL) for r in b.records]
    results = _outcomes(load_mapping(mapping_path("odoo", "invoice")), records, "odoo", "id")
    assert isinstance(results.pop("102"), RejectedDocument)
    rate = results.pop("105")
    assert isinstance(rate, RejectedDocument) and "decimal_from_number" in str(rate), rate
    assert not any(isinstance(v, Exception) for v in results.values()), results


def test_tryton_decimal_that_is_no_number_stays_text_for_the_mapping_to_refuse():
    assert _decode({"__class__": "Decimal", "decimal": "12.50"}) == Decimal("12.50")
    assert _decode({"__class__": "Decimal", "decimal": "1E+2"}) == Decimal("100")  # str() of a Decimal: legitimate
    for junk in ("abc", "NaN", "1_0", "١٢٣", "9" * 100_000):
        value = _decode({"__class__": "Decimal", "decimal": junk})
        assert isinstance(value, str) and len(value) <= 41
