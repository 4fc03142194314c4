"""SAP S/4HANA connector against the documented OData V2 contract (tests/fixtures/sap_s4, on loopback)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from connectors.base import ConnectionInfo, NotSupported
from connectors.sap_s4 import SapS4Connector
from mappings.mapper import load_mapping, mapping_path
from o2c.config import SourceConfig
from o2c.jobs.sync import sync_source
from o2c.store import Store
from o2c.store.receivables import findings, settlements_of
from schemas.errors import AuthError, ConfigError, FatalError
from schemas.validation import customer_issues, invoice_issues
from tests.fixtures.sap_s4.server import FakeSap

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sap_s4"

UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
COMPANIES = {"1010": {"name": "Acme Industrie SAS", "siren": "732829320", "vat": "FR44732829320", "street": "1 rue de la Paix",
                      "city": "Paris", "zip": "75002", "country": "FR"}}
PULLED = ["90000001", "90000002", "90000003", "90000004", "90000005", "90000006"]


def connect(server, **kw) -> SapS4Connector:
    return SapS4Connector(ConnectionInfo.from_uri(server.uri()), companies=COMPANIES, **kw)


def pull(c, since=None, until=UNTIL, stream="invoices"):
    batches = list(c.pull(stream, since, until))
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


def test_bad_password_is_fatal_and_rates_are_not_offered():
    with FakeSap() as sap:
        c = SapS4Connector(ConnectionInfo.from_uri(sap.uri(password="nope")))
        with pytest.raises(AuthError):
            pull(c)
        assert len(sap.requests) == 1
        with pytest.raises(NotSupported):
            list(c.pull("rates", None, UNTIL))


# -- settlements: journal entry items (API_OPLACCTGDOCITEMCUBE_SRV) ------------------------------
SOURCE = SourceConfig(name="s4", kind="sap_s4", connection="x", streams=["customers", "invoices", "settlements"],
                      options={"companies": COMPANIES})
SERVED = json.loads((FIXTURES / "records" / "A_OperationalAcctgDocItemCube.json").read_text(encoding="utf-8"))


def served_open_amounts() -> dict[str, tuple[D, D]]:
    """(total, open amount) per billing document, worked out here from the served items themselves:
    its customer items (FinancialAccountType D, reference VBRK = the billing document) and those
    referring to its journal entry (InvoiceReference), open = not IsCleared; signs as served."""
    out = {}
    customer = [i for i in SERVED if i["FinancialAccountType"] == "D"]
    for own in (i for i in customer if i["ReferenceDocumentType"] == "VBRK"):
        refs = [i for i in customer if i["InvoiceReference"] == own["AccountingDocument"] and i["CompanyCode"] == own["CompanyCode"]
                and i["InvoiceReferenceFiscalYear"] == own["FiscalYear"]]
        total = D(own["AmountInTransactionCurrency"])
        still = sum((D(i["AmountInTransactionCurrency"]) for i in [own, *refs] if not i["IsCleared"]), D(0))
        out[own["OriginalReferenceDocument"]] = (total, still)
    return out


def test_settlements_in_order_with_their_items_and_clearing_lines():
    with FakeSap(server_page_size=3) as sap, connect(sap, batch_size=2) as c:
        batches, records = pull(c, stream="settlements")
    assert [r["BillingDocument"] for r in records] == ["90000003", "90000001", "90000004", "90000005", "90000002", "90000006"]
    # a change known by its day is read once the day is over: the end of the latest day entered, cleared or changed
    assert [r["updated_at"].isoformat()[:10] for r in records] == ["2026-01-16", "2026-02-06", "2026-02-06", "2026-02-11",
                                                                   "2026-02-13", "2026-02-21"]
    assert [b.watermark.isoformat()[:10] for b in batches] == ["2026-01-16", "2026-02-11", "2026-02-21"]  # the tie is not split
    by = {r["BillingDocument"]: r for r in records}
    assert by["90000004"]["settlement_lines"] == [{"id": "1010/2026/1400000003", "amount": "40.000", "date": dt.date(2026, 2, 5),
                                                   "kind": "payment", "reference": "CHQ 0012345 CLIENT SARL"}]
    assert [i["AccountingDocument"] for i in by["90000004"]["items"]] == ["94000004", "1400000003"]  # the residual item
    items = [r for r in sap.requests if r["path"].endswith("A_OperationalAcctgDocItemCube")]
    assert all(r["params"]["$filter"].startswith("FinancialAccountType eq 'D' and (") for r in items)
    assert all("AccountingDocumentItem" in r["params"]["$select"] for r in items)  # one row per item of the cube


def test_stored_open_amounts_equal_the_served_items(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    with FakeSap() as sap:
        summary = sync_source(store, SOURCE, ConnectionInfo.from_uri(sap.uri()), until=UNTIL)
    assert summary.ok, summary
    runs = {r.stream: r for r in summary.streams}
    assert (runs["settlements"].read, runs["settlements"].inserted, runs["settlements"].rejected, runs["settlements"].findings) == (6, 6, 0, 0)
    with store.session() as s:
        stored = {k[1]: v for k, v in settlements_of(s, [("s4", b) for b in PULLED]).items()}
        assert findings(s, "s4") == []
    truth = served_open_amounts()
    assert set(stored) == set(PULLED) == set(truth)
    for billing, settlement in stored.items():
        total, still = truth[billing]
        assert settlement.open_amount == (-still if total < 0 else still), billing  # positive for the credit memo too
        assert settlement.settled_amount() == abs(total) - settlement.open_amount, billing  # the lines explain the rest
    full, partial = stored["90000001"], stored["90000002"]
    assert (full.state, full.open_amount, full.settled_on) == ("paid", D("0"), dt.date(2026, 2, 5))
    assert [(ln.kind, ln.amount, ln.reference) for ln in full.lines] == [("payment", D("3420.000"), "VIR CLIENT SARL FA 90000001")]
    assert (partial.state, partial.open_amount, partial.settled_on) == ("partial", D("383.560"), None)
    assert [(ln.id, ln.kind, ln.amount, ln.date) for ln in partial.lines] == [("1010/2026/1400000002", "payment", D("500.000"),
                                                                              dt.date(2026, 2, 12))]
    assert (stored["90000004"].state, stored["90000004"].open_amount) == ("partial", D("28.200"))  # residual item
    assert [(ln.kind, ln.amount) for ln in stored["90000005"].lines] == [("credit_note", D("42.000"))]
    assert (stored["90000003"].state, stored["90000003"].open_amount) == ("open", D("120.000"))  # the credit memo
    assert (stored["90000006"].state, stored["90000006"].lines) == ("open", [])

    with FakeSap() as sap:  # again: nothing changed, nothing re-read into a new version
        again = sync_source(store, SOURCE, ConnectionInfo.from_uri(sap.uri()), until=UNTIL, streams=("settlements",))
    assert again.ok and (again.streams[0].read, again.streams[0].inserted, again.streams[0].updated) == (0, 0, 0)


def test_settlement_window_reads_only_documents_changed_in_it():
    since, until = dt.datetime(2026, 2, 6, tzinfo=dt.UTC), dt.datetime(2026, 2, 13, tzinfo=dt.UTC)
    with FakeSap() as sap, connect(sap) as c:
        _, records = pull(c, since=since, until=until, stream="settlements")
        scan = next(r for r in sap.requests if r["path"].endswith("A_OperationalAcctgDocItemCube"))
    # 90000001 and 90000004 (cleared on 5 February, cursor the 6th) are not after `since`; 90000006 changed after `until`
    assert [r["BillingDocument"] for r in records] == ["90000005", "90000002"]
    assert "ClearingCreationDate ge datetime'2026-02-06T00:00:00'" in scan["params"]["$filter"]


def test_an_item_without_its_key_is_a_broken_answer():
    with FakeSap() as sap, connect(sap) as c:
        del sap.state.entities["A_OperationalAcctgDocItemCube"][0]["AccountingDocumentItem"]
        with pytest.raises(FatalError, match="without its key"):
            pull(c, stream="settlements")


def test_system_time_zone_moves_the_end_of_the_day():
    with FakeSap() as sap, connect(sap, system_timezone="Europe/Paris") as c:
        _, records = pull(c, stream="settlements")
        _, customers = pull(c, stream="customers")
    assert records[0]["updated_at"] == dt.datetime(2026, 1, 15, 23, 0, tzinfo=dt.UTC)  # midnight in Paris
    assert customers[0]["updated_at"] == dt.datetime(2026, 1, 2, 9, 15, tzinfo=dt.UTC)  # 10:15 in Paris
    with pytest.raises(ConfigError, match="system_timezone"):
        connect(sap, system_timezone="Mars/Olympus")


# -- customers: the customer master (API_BUSINESS_PARTNER) ---------------------------------------
def test_customers_with_company_code_dunning_and_sales_area_data():
    mapping = load_mapping(mapping_path("sap_s4", "customer"))
    with FakeSap() as sap, connect(sap, batch_size=2) as c:
        batches, records = pull(c, stream="customers")
        full = [r for r in sap.requests if "$expand" in r["params"] and "to_Customer" in r["params"]["$expand"]]
    assert [r["Customer"] for r in records] == ["1000100", "1000300", "1000200"]  # the supplier 2000100 is no customer
    assert [len(b.records) for b in batches] == [2, 1]
    assert "to_Customer/to_CustomerCompany/to_CustomerDunning" in full[0]["params"]["$expand"]
    customers = {r["Customer"]: mapping.apply(r, "s4") for r in records}
    for cust in customers.values():
        assert [i for i in customer_issues(cust) if i.severity == "error"] == [], cust.name
    client, jean, boulangerie = customers["1000100"], customers["1000300"], customers["1000200"]
    assert (client.payment_terms, client.payment_days, client.dunning_language) == ("NT30", 30, "fr")
    assert (client.siren, client.vat_id, client.ibans) == ("552081317", "FR03552081317", ["FR7630006000011234567890189"])
    assert [(d.name, d.email) for d in client.dunning_contacts] == [("Service comptable", "compta@client-sarl.example")]
    assert (client.blocked, client.on_hold) == (False, False)  # SAP states its blocks: none is not "unknown"
    # a central posting block: no new business at all; the central delivery block: on hold
    assert (jean.blocked, jean.blocked_reason) == (True, "central posting block")
    assert (jean.on_hold, jean.on_hold_reason) == (True, "central delivery block 01")
    assert (jean.payment_terms, jean.payment_days, jean.dunning_language) == ("0002", None, "de")  # cash discount terms: no net days
    assert [(d.email, d.phone) for d in jean.dunning_contacts] == [(None, "+49 30 1234567")]
    # an order block in one sales area; the block of a sales area flagged for deletion is not read
    assert (boulangerie.on_hold, boulangerie.on_hold_reason) == (True, "order block 01 in sales area 1010/10/00")
    assert [d.email for d in boulangerie.dunning_contacts] == ["boulangerie.dupont@example.fr"]  # no clerk: the address e-mail
    assert (boulangerie.siren, boulangerie.siret) == ("542065479", "54206547900017")
    assert records[2]["dunning"]["DunningBlock"] == "A"  # read, not mapped (docs/customer-master.md)


def test_customer_window_uses_the_change_date_and_time():
    since = dt.datetime(2026, 1, 2, 10, 15, tzinfo=dt.UTC)  # 1000100's own change: excluded
    with FakeSap() as sap, connect(sap) as c:
        _, records = pull(c, since=since, until=dt.datetime(2026, 2, 14, 16, 40, tzinfo=dt.UTC), stream="customers")
        scan = sap.requests[0]["params"]
    assert [r["Customer"] for r in records] == ["1000300", "1000200"]
    assert scan["$filter"] == ("Customer ne '' and (LastChangeDate ge datetime'2026-01-02T00:00:00' or "
                               "CreationDate ge datetime'2026-01-02T00:00:00')")


def test_customers_are_stored_with_their_collections_columns(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    with FakeSap() as sap:
        summary = sync_source(store, SOURCE, ConnectionInfo.from_uri(sap.uri()), until=UNTIL, streams=("customers",))
    assert summary.ok and summary.streams[0].inserted == 3
    rows = {r.code: r for r in store.customers("s4")}
    assert {k: (r.payment_terms, r.payment_days, r.dunning_language, r.blocked, r.on_hold) for k, r in rows.items()} == {
        "1000100": ("NT30", 30, "fr", False, False), "1000200": ("0004", 30, "fr", False, True),
        "1000300": ("0002", None, "de", True, True)}
