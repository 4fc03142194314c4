"""Storing the ``settlements`` stream: upserts by content hash with history, and bad input.

Records are fed to the real sync (:func:`o2c.jobs.sync.sync_stream`, the Tryton settlement
mapping) by a connector that serves them from a list, shaped as connectors/tryton.py assembles
them (the live pull: tests/connectors/test_tryton_settlements_live.py).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

import pytest

from connectors.base import BaseConnector
from connectors.tryton import SETTLEMENT_SPECS
from o2c.config import SourceConfig
from o2c.jobs.sync import sync_stream
from o2c.store import Store
from o2c.store.receivables import findings, history, settlement_of
from schemas import SourceRef
from tests.schemas.test_validation import make_invoice

SOURCE = SourceConfig(name="erp", kind="tryton", connection="x", streams=["invoices", "settlements"])
T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
UNTIL = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


class ListConnector(BaseConnector):
    """Serves the settlement records it is given, changed in the window, oldest first."""

    kind = "tryton"
    stream_specs = SETTLEMENT_SPECS

    def __init__(self, records: list[dict[str, Any]], batch_size: int = 2) -> None:
        self.records, self.batch_size = records, batch_size

    def pull(self, stream, since, until):
        rows = sorted((r for r in self.records if (since is None or r["updated_at"] > since) and r["updated_at"] <= until),
                      key=lambda r: (r["updated_at"], r["id"]))
        return self.cursor_batches(stream, (rows[i:i + self.batch_size] for i in range(0, len(rows), self.batch_size)))


def record(invoice_id: int, to_pay: str, *, minutes: int = 0, state: str = "posted", total: str = "175.50",
           lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    stamp = T0 + dt.timedelta(minutes=minutes)
    return {"id": invoice_id, "number": f"FA{invoice_id}", "type": "out", "state": state, "total_amount": D(total),
            "amount_to_pay": D(to_pay), "currency": {"code": "EUR"}, "reconciled": None, "write_date": stamp,
            "create_date": stamp, "updated_at": stamp, "settlement_lines": lines or []}


def store_invoice(store: Store, invoice_id: int) -> None:
    inv = make_invoice(number=f"FA{invoice_id}")  # payable 175.50
    inv.source = SourceRef(system="erp", id=str(invoice_id), updated_at=T0)
    with store.session() as s:
        store.upsert_invoices(s, [inv], run_id=None)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path) -> Store:
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    st = Store(url)
    st.upgrade()
    if request.param == "postgres":  # the session database is shared: start from empty tables
        from o2c.store.models import Base

        with st.session() as s:
            for table in reversed(Base.metadata.sorted_tables):
                s.execute(table.delete())
    for invoice_id in (1, 2, 3, 4):
        store_invoice(st, invoice_id)
    return st


def sync(store: Store, records: list[dict[str, Any]], **kw: Any):
    return sync_stream(store, SOURCE, ListConnector(records), "settlements", until=UNTIL, **kw)


def test_insert_new_version_unchanged_and_history(store):
    pay = [{"id": 90, "kind": "payment", "amount": D("75.50"), "date": dt.date(2026, 11, 20), "reference": "chq 1"}]
    first = sync(store, [record(1, "175.50"), record(2, "175.50", minutes=1)])
    assert (first.read, first.inserted, first.updated, first.unchanged) == (2, 2, 0, 0)
    # invoice 1 partly paid; invoice 2 written for another reason (same facts, later stamp)
    second = sync(store, [record(1, "100.00", minutes=5, lines=pay), record(2, "175.50", minutes=6)])
    assert (second.read, second.inserted, second.updated, second.unchanged) == (2, 0, 1, 1)
    again = sync(store, [record(1, "100.00", minutes=5, lines=pay)], since=T0)
    assert (again.read, again.updated, again.unchanged) == (1, 0, 1)
    with store.session() as s:
        st = settlement_of(s, "erp", "1")
        assert (st.state, st.open_amount, st.lines[0].reference) == ("partial", D("100.00"), "chq 1")
        assert [(v.version, v.state, v.open_amount, v.source_updated_at) for v in history(s, "erp", "1")] == [
            (1, "open", D("175.50"), T0), (2, "partial", D("100.00"), T0 + dt.timedelta(minutes=5))]
        assert [v.version for v in history(s, "erp", "2")] == [1]


def test_unknown_invoice_is_quarantined_then_stored_when_the_invoice_arrives(store):
    first = sync(store, [record(1, "175.50"), record(77, "10.00", minutes=1), record(2, "0", state="paid", minutes=2)])
    assert (first.read, first.inserted, first.rejected) == (3, 2, 1)  # the rest of the batch goes on
    [row] = store.quarantined("erp")
    assert (row.kind, row.source_id, row.field) == ("settlement", "77", "invoice_id")
    assert "no invoice with that id" in row.reason and b'"amount_to_pay"' in row.raw_payload
    assert first.rejects[0]["id"] == "77"
    still = sync(store, [])  # the invoice has not come: nothing changes
    assert (still.inserted, still.rejected) == (0, 0) and len(store.quarantined("erp")) == 1

    store_invoice(store, 77)  # the invoices stream stores it
    later = sync(store, [])  # nothing new from the ERP: the quarantined record is taken again
    assert later.inserted == 1 and store.quarantined("erp") == []
    [row] = store.quarantined("erp", open_only=False)
    assert row.resolution == "superseded"
    with store.session() as s:
        st = settlement_of(s, "erp", "77")
    assert (st.state, st.open_amount, st.source.updated_at) == ("partial", D("10.00"), T0 + dt.timedelta(minutes=1))
    assert sync(store, []).inserted == 0  # and once only


def test_a_cancelled_document_the_hub_never_had_is_skipped(store):
    summary = sync(store, [record(88, "0", state="cancelled"), record(1, "175.50", minutes=1)])
    assert (summary.read, summary.inserted, summary.rejected) == (2, 1, 0) and store.quarantined("erp") == []


def test_impossible_open_amounts_are_findings_and_the_batch_goes_on(store):
    summary = sync(store, [record(1, "-5.00"), record(2, "200.00", minutes=1), record(3, "175.50", minutes=2),
                           record(4, "-200.00", total="-175.50", minutes=3)])  # a credit note with more to refund than its total
    assert (summary.read, summary.inserted, summary.rejected, summary.findings) == (4, 4, 0, 3)
    with store.session() as s:
        found = {(f.source_id, f.rule): f for f in findings(s, "erp")}
        assert set(found) == {("1", "open_amount_negative"), ("2", "open_amount_above_total"), ("4", "open_amount_above_total")}
        assert found[("2", "open_amount_above_total")].details == {
            "invoice_number": "FA2", "open_amount": "200.00", "total": "175.50", "currency": "EUR", "state": "open"}
        assert "erp: invoice FA1 (id 1)" in found[("1", "open_amount_negative")].message
        assert "-5.00" in found[("1", "open_amount_negative")].message
        assert settlement_of(s, "erp", "1").open_amount == D("-5.00")  # stored as the ERP says, never clamped
    [run] = [r for r in store.runs("erp") if r.id == summary.run_id]
    assert (run.status, run.message) == ("success", "3 data-quality finding(s)")

    fixed = sync(store, [record(1, "75.00", minutes=10)])  # corrected in the ERP
    assert (fixed.updated, fixed.findings) == (1, 0)
    with store.session() as s:
        assert {(f.source_id, f.rule) for f in findings(s, "erp")} == {("2", "open_amount_above_total"),
                                                                       ("4", "open_amount_above_total")}
        assert [f.resolved_at is not None for f in findings(s, "erp", open_only=False) if f.source_id == "1"] == [True]


def test_an_unreadable_record_is_quarantined_under_its_id(store):
    bad = record(2, "0", minutes=1)
    bad["amount_to_pay"] = "1E+999999"
    summary = sync(store, [record(1, "175.50"), bad])
    assert (summary.inserted, summary.rejected) == (1, 1)
    [row] = store.quarantined("erp")
    assert (row.kind, row.source_id) == ("settlement", "2") and "1E+999999" in row.reason
