"""Promises to pay from the CRMs: Salesforce Tasks and HubSpot tasks (documented-contract servers on
loopback) synced by the ``promises`` stream into the promise store, idempotently by (source, task id);
a task naming invoices the hub does not have is quarantined and stored once they arrive."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from connectors.base import ConnectionInfo
from connectors.hubspot import HubSpotConnector
from connectors.salesforce import SalesforceConnector
from o2c.config import SourceConfig
from o2c.jobs.sync import sync_stream
from o2c.store import Store
from o2c.store.audit import trail, verify
from o2c.store.collections import PromiseRow, check_promises
from o2c.store.models import InvoiceRow, Quarantine
from schemas import Identifier, SourceRef
from tests.connectors.test_hubspot import PROPS
from tests.connectors.test_salesforce import EXTRA
from tests.fixtures.hubspot.server import FakeHubSpot
from tests.fixtures.salesforce.server import FakeSalesforce
from tests.schemas.test_validation import make_invoice

UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
CLIENT, BOULANGERIE, MARTIN, EPICERIE = "552081317", "542065479", "775672272", "443061841"


def _store(tmp_path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()  # revision 0015 among them
    return store


def _invoice(store: Store, number: str, siren: str, amount: str) -> None:
    inv = make_invoice(number=number)
    inv.buyer.name = f"Client {siren}"
    inv.buyer.legal_registration = Identifier(value=siren, scheme="0002")
    inv.totals.payable = Decimal(amount)
    inv.source = SourceRef(system="erp1", id=number, updated_at=dt.datetime(2026, 1, 15, tzinfo=dt.UTC))
    with store.session() as s:
        store.upsert_invoice(s, inv, run_id=None)


def _invoices(store: Store) -> None:
    _invoice(store, "FA-1001", CLIENT, "400.00")
    _invoice(store, "FA-1002", CLIENT, "800.00")
    _invoice(store, "FA-2001", BOULANGERIE, "350.50")
    _invoice(store, "FA-4001", MARTIN, "90.00")
    _invoice(store, "FA-5001", EPICERIE, "300.00")  # the task also names FA-9999, not in the hub yet


def _promises(store: Store, source: str) -> dict[str, PromiseRow]:
    with store.session() as s:
        return {p.source_id: p for p in s.scalars(select(PromiseRow).where(PromiseRow.source == source))}


def _quarantine(store: Store, source: str) -> dict[str, Quarantine]:
    return {q.source_id: q for q in store.quarantined(source) if q.kind == "promise"}


def _numbers(store: Store, ids: list[int]) -> list[str]:
    with store.session() as s:
        return [s.get(InvoiceRow, i).number for i in ids]


def test_salesforce_tasks_become_promises_once_and_wait_for_their_invoices(tmp_path):
    store = _store(tmp_path)
    _invoices(store)
    source = SourceConfig(name="sf", kind="salesforce", connection="x", streams=["customers", "promises"])
    with FakeSalesforce() as sf:
        def sync(stream: str, **kw):
            with SalesforceConnector(ConnectionInfo.from_uri(sf.uri()), extra_fields=EXTRA, batch_size=2) as c:
                return sync_stream(store, source, c, stream, until=UNTIL, **kw)

        assert sync("customers").inserted == 5  # the accounts: the task's account says whose invoices they are
        first = sync("promises")
        assert (first.read, first.inserted, first.rejected, first.status) == (6, 2, 4, "success")
        got = _promises(store, "sf")
        roux = got["00T5g00000Pr0001AAA"]
        assert (roux.customer_key, roux.amount, roux.currency, roux.due_on, roux.promised_on, roux.taken_by, roux.origin,
                roux.note, roux.status) == (CLIENT, Decimal("1200.0"), "EUR", dt.date(2026, 2, 20), dt.date(2026, 2, 10),
                                            "Claire Martin", "crm", "Promise to pay - call with Mme Roux", "open")
        assert _numbers(store, roux.invoice_ids) == ["FA-1001", "FA-1002"]
        assert got["00T5g00000Pr0002AAA"].taken_by == "Marc Petit"
        held = _quarantine(store, "sf")
        assert sorted(held) == ["00T5g00000Pr0004AAA", "00T5g00000Pr0005AAA", "00T5g00000Pr0006AAA", "00T5g00000Pr0007AAA"]
        assert held["00T5g00000Pr0004AAA"].field == "invoice_numbers" and "no invoice FA-9999" in held["00T5g00000Pr0004AAA"].reason
        assert held["00T5g00000Pr0005AAA"].field == "promise" and "no positive promised amount" in held["00T5g00000Pr0005AAA"].reason
        # the task is on Client SARL's account but names Boulangerie Dupont's invoice
        assert "FA-2001 belong to another customer" in held["00T5g00000Pr0006AAA"].reason
        assert "no invoice FA-3001" in held["00T5g00000Pr0007AAA"].reason

        again = sync("promises", since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # the same window again: nothing changes
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2) and len(_promises(store, "sf")) == 2
        assert {q.source_id: q.seen_count for q in store.quarantined("sf")} == {k: 2 for k in held}

        # the collector moves the amount in Salesforce; FA-9999 reaches the hub
        task = next(t for t in sf.promise_tasks if t["Id"] == "00T5g00000Pr0002AAA")
        task["O2C_Promised_Amount__c"], task["SystemModstamp"] = 300.0, "2026-02-20T08:00:00.000+0000"
        _invoice(store, "FA-9999", EPICERIE, "200.00")
        later = sync("promises")  # from the watermark: the changed task, and the quarantined one retried
        assert (later.inserted, later.updated) == (1, 1)
    got = _promises(store, "sf")
    assert got["00T5g00000Pr0002AAA"].amount == Decimal("300.0")
    assert _numbers(store, got["00T5g00000Pr0004AAA"].invoice_ids) == ["FA-5001", "FA-9999"]
    assert sorted(_quarantine(store, "sf")) == ["00T5g00000Pr0005AAA", "00T5g00000Pr0006AAA", "00T5g00000Pr0007AAA"]
    actions = [e.action for e in trail(store, f"customer:{BOULANGERIE}")]
    assert actions == ["promise.taken", "promise.updated"] and verify(store).ok
    # a CRM promise is a promise like the others: broken once its date and grace have passed unpaid
    assert check_promises(store, dt.date(2026, 3, 1), grace_days=3).broken == 2


def test_hubspot_tasks_become_promises_of_their_company(tmp_path):
    store = _store(tmp_path)
    _invoices(store)
    source = SourceConfig(name="hs", kind="hubspot", connection="x", streams=["customers", "promises"])
    with FakeHubSpot() as hs:
        def sync(stream: str):
            with HubSpotConnector(ConnectionInfo.from_uri(hs.uri()), properties=PROPS, batch_size=2) as c:
                return sync_stream(store, source, c, stream, until=UNTIL, since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))

        assert sync("customers").inserted == 5
        first = sync("promises")
        assert (first.read, first.inserted, first.rejected) == (6, 2, 4)
        assert sync("promises").unchanged == 2
    got = _promises(store, "hs")
    roux = got["51000000001"]
    assert (roux.customer_key, roux.amount, roux.due_on, roux.taken_by, roux.origin) == (
        CLIENT, Decimal("1200.00"), dt.date(2026, 2, 20), "hubspot owner 40111", "crm")
    assert "belong to another customer than the task's account 9876543201" in _quarantine(store, "hs")["51000000006"].reason
