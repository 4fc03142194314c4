"""SAP S/4HANA connector against the documented OData V2 contract (tests/fixtures/sap_s4, on loopback)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from connectors.base import ConnectionInfo, NotSupported
from connectors.sap_s4 import SapS4Connector
from mappings.mapper import load_mapping, mapping_path
from schemas.errors import AuthError
from schemas.validation import invoice_issues
from tests.fixtures.sap_s4.server import FakeSap

UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
COMPANIES = {"1010": {"name": "Acme Industrie SAS", "siren": "732829320", "vat": "FR44732829320", "street": "1 rue de la Paix",
                      "city": "Paris", "zip": "75002", "country": "FR"}}
PULLED = ["90000001", "90000002", "90000003", "90000004", "90000005", "90000006"]


def connect(server, **kw) -> SapS4Connector:
    return SapS4Connector(ConnectionInfo.from_uri(server.uri()), companies=COMPANIES, **kw)


def pull(c, since=None, until=UNTIL):
    batches = list(c.pull("invoices", since, until))
    return batches, [r for b in batches for r in b.records]


@pytest.mark.parametrize("server_page_size", [None, 2], ids=["client-paging", "server-next"])
def test_billing_documents_in_order_with_items_and_bill_to(server_page_size):
    with FakeSap(server_page_size=server_page_size) as sap, connect(sap, batch_size=4) as c:
        batches, records = pull(c)
    assert [r["BillingDocument"] for r in records] == PULLED  # the S1 cancellation is filtered out
    assert [len(b.records) for b in batches] == ([4, 2] if server_page_size is None else [2, 2, 2])
    first = records[0]
    assert [i["BillingDocumentItem"] for i in first["items"]] == ["000010", "000020"]
    assert first["items"][0]["tax"]["TaxCode"] == "A1" and first["bill_to"]["BusinessPartnerFullName"] == "Client SARL"
    assert first["updated_at"] == dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC)
    assert records[3]["bill_to"]["id"] == "1000100"  # sold to 1000300, billed to 1000100 (partner function RE)
    params = sap.requests[0]["params"]
    assert params["$expand"] == "to_Item,to_Partner,to_Item/to_PricingElement" and params["sap-client"] == "100"
    assert params["$filter"].startswith("LastChangeDateTime le datetimeoffset'2026-03-01T00:00:00Z'")
    if server_page_size:  # __next names the server's own host: followed on the configured one
        assert any("$skiptoken" in r["params"] for r in sap.requests)


def test_window_filter():
    since = dt.datetime(2026, 1, 11, 10, 0, tzinfo=dt.UTC)
    with FakeSap() as sap, connect(sap) as c:
        _, records = pull(c, since=since, until=dt.datetime(2026, 1, 20, 12, 0, tzinfo=dt.UTC))
    assert [r["BillingDocument"] for r in records] == ["90000003", "90000004", "90000005"]


def test_billing_documents_map_to_valid_canonical_invoices():
    mapping = load_mapping(mapping_path("sap_s4", "invoice"))
    with FakeSap() as sap, connect(sap) as c:
        _, records = pull(c)
    invoices = {r["BillingDocument"]: mapping.apply(r, "s4") for r in records}
    for inv in invoices.values():
        assert [i for i in invoice_issues(inv) if i.severity == "error"] == [], inv.number
    inv = invoices["90000001"]
    assert (inv.type_code, inv.issue_date, inv.totals.payable) == ("380", dt.date(2026, 1, 9), D("3420.000"))
    assert inv.buyer.siren == "552081317" and inv.buyer.vat_id.startswith("FR") and inv.seller.siren == "732829320"
    assert inv.lines[1].net_price == D("0.35") and inv.lines[1].unit_code == "C62" and inv.lines[0].unit_code == "HUR"
    assert inv.lines[0].vat_rate == D("20.000") and inv.vat_breakdown[0].tax_amount == D("570.000")
    assert invoices["90000003"].type_code == "381" and invoices["90000005"].type_code == "383"
    assert invoices["90000002"].buyer.siren == "542065479"  # from the SIRET (FR2)


def test_csrf_token_fetch_for_writes():
    with FakeSap() as sap, connect(sap) as c:
        token = c.client.fetch_csrf_token()
        assert token == sap.state.csrf and c.client.csrf_token == token
        req = sap.requests[-1]
        assert req["headers"]["x-csrf-token"] == "Fetch" and req["path"].endswith("API_BILLING_DOCUMENT_SRV/")
        assert "SAP_SESSIONID_S4H_100" in c.client.http.cookies


def test_bad_password_is_fatal_and_customers_are_not_offered():
    with FakeSap() as sap:
        c = SapS4Connector(ConnectionInfo.from_uri(sap.uri(password="nope")))
        with pytest.raises(AuthError):
            pull(c)
        assert len(sap.requests) == 1
        with pytest.raises(NotSupported):
            list(c.pull("customers", None, UNTIL))
