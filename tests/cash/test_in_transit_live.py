"""Hub cash in transit, counted once, against the live Tryton.

The hub applies a bank credit to a Tryton invoice: its open amount drops at once (the ERP does not
know yet: the cash is "in transit"); the payment is written back to Tryton; until the next sync the
hub still counts it once (in transit, the ERP's figure unchanged in the store); after the sync the
ERP's figure holds it and the hub finds its own key in the payment's description: counted once,
never twice, never zero. The reconciliation explains every difference on the way.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from click.testing import CliRunner

from connectors.tryton import TrytonClient, TrytonConnector
from demo.bank import camt053
from o2c.cli import cli
from o2c.config import SourceConfig
from o2c.jobs.bank import ingest_file
from o2c.jobs.cash import run_cash_application
from o2c.jobs.cash_review import decide
from o2c.jobs.receivables import explain, reconcile
from o2c.jobs.sync import sync_source
from o2c.jobs.writeback import enqueue_payments, push_pending
from o2c.store import Store
from o2c.store.cash import ledger_frames
from tests.cash.test_cash_application_live import stage
from tests.cash.test_writeback_live import add_payment_method, writable_tryton  # noqa: F401 (fixture)
from tests.connectors.test_tryton_live import FAR_FUTURE, conn_info

pytestmark = [pytest.mark.tryton, pytest.mark.slow]
SOURCE = SourceConfig(name="tryton_demo", kind="tryton", connection="x", streams=["customers", "invoices", "settlements"],
                      writeback={"policy": {"payment": {"auto": True}}})  # every payment flows (no approval)


def _open_items(store: Store) -> dict[str, Decimal]:
    _, items = ledger_frames(store)
    return {r.invoice_number: Decimal(r.amount_open) for r in items.itertuples()}


def test_cash_in_transit_is_counted_once(writable_tryton, tmp_path, monkeypatch):  # noqa: F811
    conn = conn_info(writable_tryton)
    client = TrytonClient(conn)
    add_payment_method(client)
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    sync_source(store, SOURCE, conn, until=FAR_FUTURE)
    inv = next(r for r in store.invoices() if r.type_code == "380")
    total = inv.payable
    part = (total / 4).quantize(Decimal("0.01"))
    assert explain(store, f"tryton_demo:{inv.number}").basis == "erp"
    assert reconcile(store, "tryton_demo").unexplained == 0

    # cash applied in the hub: in transit, the open amount drops once
    data = camt053([{"amount": part, "ref": "T1", "name": inv.buyer_name, "text": [f"ACOMPTE {inv.number}"]}])
    assert ingest_file(store, "bnp", stage(tmp_path / "camt053_t1.xml", data), run_id=None).outcome == "ingested"
    run_cash_application(store)
    if explain(store, inv.number).allocations[0]["status"] == "suggested":
        decide(store, "T1", "accept", reviewer="test")
    ex = explain(store, inv.number)
    assert (ex.erp_open, ex.in_transit, ex.recorded_by_erp, ex.open) == (total, part, 0, total - part)
    assert _open_items(store)[inv.number] == total - part
    rec = reconcile(store, "tryton_demo")
    assert (rec.totals().in_transit, rec.unexplained) == (part, 0)

    # written back to Tryton; the store has not seen it yet: still counted once, as in transit
    assert enqueue_payments(store, sources=[SOURCE]) == 1
    assert push_pending(store, "tryton_demo", TrytonConnector(conn)).sent == 1
    assert client.read("account.invoice", [int(inv.source_id)], ["amount_to_pay"])[int(inv.source_id)]["amount_to_pay"] == total - part
    ex = explain(store, inv.number)
    assert (ex.in_transit, ex.open) == (part, total - part)
    assert ex.allocations[0]["writeback"] == "sent" and ex.allocations[0]["counted"] == "in transit"
    # the audit trail holds the enqueue and the send, chained and intact
    from o2c.store.audit import trail, verify

    entries = trail(store, f"invoice:tryton_demo:{inv.source_id}")
    assert [e.action for e in entries] == ["writeback.enqueued", "writeback.sent"]
    assert entries[0].details["key"] == entries[1].details["key"] and entries[1].details["remote_ref"]
    assert verify(store).ok

    # the next sync brings the ERP's figure with our key in it: counted once, by the ERP
    sync_source(store, SOURCE, conn, until=FAR_FUTURE)
    ex = explain(store, inv.number)
    assert (ex.erp_open, ex.in_transit, ex.recorded_by_erp, ex.open) == (total - part, 0, part, total - part)
    assert ex.allocations[0]["counted"] == "recorded by the ERP"
    assert [Decimal(v["open"]) for v in ex.erp_history][-2:] == [total, total - part]
    assert _open_items(store)[inv.number] == total - part
    rec = reconcile(store, "tryton_demo")
    assert (rec.totals().in_transit, rec.unexplained, rec.totals().hub_open) == (0, 0, rec.totals().erp_open)

    # the command line tells the same story
    monkeypatch.setenv("O2C_DATABASE_URL", store.url)
    out = CliRunner().invoke(cli, ["receivables", "show", f"tryton_demo:{inv.number}"])
    assert out.exit_code == 0, out.output
    assert f"open {total - part}" in out.output and "recorded by the ERP" in out.output
    out = CliRunner().invoke(cli, ["receivables", "reconcile", "tryton_demo"])
    assert out.exit_code == 0 and "unexplained 0" in out.output, out.output


def test_an_open_invoice_without_erp_state_fails_the_settlements_run(writable_tryton, tmp_path):  # noqa: F811
    """The hub holds an open invoice the ERP gave no settlement state for: the reconciliation cannot
    explain it, the settlements run is failed with a data-quality finding naming the customer, and
    a sync that brings the state back resolves it."""
    from sqlalchemy import delete, select

    from o2c.jobs.sync import sync_stream
    from o2c.store.models import SyncRun
    from o2c.store.receivables import SettlementRow

    conn = conn_info(writable_tryton)
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    sync_source(store, SOURCE, conn, until=FAR_FUTURE)
    assert reconcile(store, "tryton_demo").unexplained == 0 and not findings_of(store)
    inv = next(r for r in store.invoices() if r.type_code == "380")
    with store.session() as s:  # the state of one invoice lost (a window the ERP never answered)
        s.execute(delete(SettlementRow).where(SettlementRow.invoice_id == inv.id))
    summary = sync_stream(store, SOURCE, TrytonConnector(conn), "settlements", until=FAR_FUTURE)
    assert summary.status == "failed" and "no cause explains" in (summary.message or "")
    with store.session() as s:
        run = s.get(SyncRun, summary.run_id)
        assert (run.status, run.message) == ("failed", summary.message)
    [finding] = findings_of(store)
    assert finding.rule == "reconciliation_unexplained" and Decimal(finding.details["unexplained"]) == inv.payable
    assert reconcile(store, "tryton_demo").unexplained == inv.payable

    # the state pulled again (a full window): explained, the finding resolved
    store_mark_reset(store)
    fixed = sync_stream(store, SOURCE, TrytonConnector(conn), "settlements", until=FAR_FUTURE)
    assert fixed.status == "success", fixed.message
    assert not findings_of(store) and reconcile(store, "tryton_demo").unexplained == 0
    with store.session() as s:
        assert s.scalar(select(SettlementRow.id).where(SettlementRow.invoice_id == inv.id)) is not None


def findings_of(store: Store) -> list:
    from o2c.store.receivables import findings

    with store.session() as s:
        return [f for f in findings(s, "tryton_demo") if f.subject == "receivables"]


def store_mark_reset(store: Store) -> None:
    """Forget the settlements watermark: the next run reads the whole window again."""
    from sqlalchemy import delete

    from o2c.store.models import Watermark

    with store.session() as s:
        s.execute(delete(Watermark).where(Watermark.source == "tryton_demo", Watermark.stream == "settlements"))
