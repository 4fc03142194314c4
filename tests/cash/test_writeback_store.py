"""The write-back outbox on the store alone (no ERP): which applied cash becomes payment commands."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import select, text

from demo.bank import camt053
from o2c.config import SourceConfig
from o2c.jobs.bank import ingest_file
from o2c.jobs.writeback import enqueue_payments, outbox
from o2c.store import Store, utcnow
from o2c.store.bank import BankEntryRow
from o2c.store.cash import CashAllocation
from o2c.store.models import InvoiceRow
from o2c.store.writeback import WriteBackRow, claim_next, finish_claim
from schemas import SourceRef
from schemas.receivables import WriteBackCommand
from tests.schemas.test_validation import make_invoice
from transport.sftp import StagedFile

SOURCE = SourceConfig(name="erp1", kind="tryton", connection="x",
                      writeback={"policy": {"payment": {"auto": True}}})  # every payment flows (no approval)


def _invoice(store: Store, number: str, source_id: str, type_code: str = "380") -> InvoiceRow:
    inv = make_invoice(number=number, type_code=type_code)
    inv.source = SourceRef(system="erp1", id=source_id, updated_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    with store.session() as s:
        store.upsert_invoice(s, inv, run_id=None)
    return next(r for r in store.invoices("erp1") if r.number == number)


def test_netting_lines_are_held_and_plain_payments_enqueued_once(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    fa1, av1, fa2 = _invoice(store, "FA-1", "11"), _invoice(store, "AV-1", "12", "381"), _invoice(store, "FA-2", "13")
    data = camt053([{"amount": D("100.00"), "ref": "N1", "name": "CLIENT SARL", "text": ["FA-1 AV-1"]},
                    {"amount": fa2.payable, "ref": "P1", "name": "CLIENT SARL", "text": ["FA-2"]}])
    path = tmp_path / "camt.xml"
    path.write_bytes(data)
    staged = StagedFile(local_path=str(path), remote_path="/in/camt.xml", name="camt.xml", size=len(data), mtime=0,
                        sha256=hashlib.sha256(data).hexdigest())
    assert ingest_file(store, "bnp", staged, run_id=None).outcome == "ingested"
    with store.session() as s:
        entries = {e.bank_ref: e for e in s.query(BankEntryRow)}
        for ref, inv, amount in (("N1", fa1, fa1.payable), ("N1", av1, D("-75.50")), ("P1", fa2, fa2.payable)):
            s.add(CashAllocation(run_id="r", bank_entry_id=entries[ref].id, bank_ref=ref, invoice_id=inv.id,
                                 invoice_number=inv.number, amount=amount, currency="EUR", confidence=0.97,
                                 status="auto", rule="reference+netting" if ref == "N1" else "reference",
                                 explanation="test", booking_date=dt.date(2026, 11, 20), created_at=utcnow()))
    # the netting line would book 175.50 paid on FA-1 for 100.00 received: held for a reconciliation
    assert enqueue_payments(store, sources=[SOURCE]) == 1
    rows = outbox(store, "erp1")
    assert [(r.target_id, r.payload["amount"], r.payload["bank_ref"], r.status) for r in rows] == \
        [("13", str(fa2.payable), "P1", "pending")]
    assert D(rows[0].payload["amount"]) == fa2.payable
    assert enqueue_payments(store, sources=[SOURCE]) == 0


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path) -> Iterator[Store]:
    """An empty hub store on SQLite (a file) or on the local PostgreSQL (the session database,
    emptied first)."""
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    st = Store(url)
    st.upgrade()
    if request.param == "postgres":
        from o2c.store.models import Base

        with st.session() as s:
            for table in reversed(Base.metadata.sorted_tables):
                s.execute(table.delete())
    yield st
    st.engine.dispose()


def _batch_paying_twice(store: Store, tmp_path) -> tuple[InvoiceRow, list[CashAllocation]]:
    """One batch-booked camt entry (AcctSvcrRef B1, two TxDtls of 87.75) and its two applied
    allocations to one invoice."""
    fa = _invoice(store, "FA-9", "19")
    tx = {"amount": D("87.75"), "name": "CLIENT SARL", "text": ["FA-9"]}
    data = camt053([{"ref": "B1", "txs": [tx, dict(tx)]}])
    path = tmp_path / "camt.xml"
    path.write_bytes(data)
    staged = StagedFile(local_path=str(path), remote_path="/in/camt.xml", name="camt.xml", size=len(data), mtime=0,
                        sha256=hashlib.sha256(data).hexdigest())
    assert ingest_file(store, "bnp", staged, run_id=None).outcome == "ingested"
    with store.session() as s:
        entries = list(s.scalars(select(BankEntryRow).order_by(BankEntryRow.id)))
        assert [(e.bank_ref, e.amount, e.document["tx_index"]) for e in entries] == [("B1", D("87.75"), 0), ("B1", D("87.75"), 1)]
        for e in entries:
            s.add(CashAllocation(run_id="r", bank_entry_id=e.id, bank_ref="B1", invoice_id=fa.id, invoice_number=fa.number,
                                 amount=D("87.75"), currency="EUR", confidence=1.0, status="accepted", rule="reviewer",
                                 explanation="test", booking_date=dt.date(2026, 11, 20), created_at=utcnow()))
    with store.session() as s:
        return fa, list(s.scalars(select(CashAllocation).order_by(CashAllocation.id)))


def test_two_transactions_of_a_batch_are_two_commands(store, tmp_path):
    """Same bank reference, amount, date and invoice: the transactions differ, so do the keys."""
    fa, allocs = _batch_paying_twice(store, tmp_path)
    assert enqueue_payments(store, sources=[SOURCE]) == 2
    rows = outbox(store, "erp1")
    assert [(r.allocation_id, r.payload["bank_entry"], r.payload["tx_index"]) for r in rows] == \
        [(a.id, f"E{a.bank_entry_id}", i) for i, a in enumerate(allocs)]
    assert len({r.idempotency_key for r in rows}) == 2
    assert sum(D(r.payload["amount"]) for r in rows) == D("175.50")
    assert enqueue_payments(store, sources=[SOURCE]) == 0


def test_rows_with_keys_of_the_older_format_stay_and_are_not_enqueued_again(store, tmp_path):
    """An outbox written before keys named the bank transaction: its row for the first
    transaction counts as that allocation's command; the second transaction is enqueued."""
    fa, allocs = _batch_paying_twice(store, tmp_path)
    old = WriteBackCommand(source="erp1", kind="payment", target_id="19", reason="old",  # as the old enqueue wrote it
                           payload={"amount": str(allocs[0].amount), "currency": "EUR", "date": "2026-11-20", "bank_ref": "B1",
                                    "invoice_number": "FA-9"})
    with store.session() as s:
        s.add(WriteBackRow(source="erp1", kind="payment", target_id="19", payload=old.payload, reason=old.reason,
                           idempotency_key=old.idempotency_key, allocation_id=allocs[0].id, status="sent", attempts=1,
                           remote_ref="77", created_at=utcnow()))
    assert enqueue_payments(store, sources=[SOURCE]) == 1
    rows = outbox(store, "erp1")
    assert [(r.allocation_id, r.idempotency_key == old.idempotency_key, r.status) for r in rows] == \
        [(allocs[0].id, True, "sent"), (allocs[1].id, False, "pending")]
    assert enqueue_payments(store, sources=[SOURCE]) == 0


def _pending(store: Store, n: int) -> list[int]:
    with store.session() as s:
        for i in range(n):
            cmd = WriteBackCommand(source="erp1", kind="payment", target_id=str(i), reason="t",
                                   payload={"amount": "1.00", "currency": "EUR", "date": "2026-11-20", "bank_ref": f"P{i}"})
            s.add(WriteBackRow(source=cmd.source, kind=cmd.kind, target_id=cmd.target_id, payload=cmd.payload,
                               reason=cmd.reason, idempotency_key=cmd.idempotency_key, status="pending", attempts=0,
                               created_at=utcnow()))
    return [r.id for r in outbox(store, "erp1")]


def test_claims_are_exclusive_and_stale_ones_can_be_taken_over(store):
    """Two pushers claiming at once get different commands: on PostgreSQL the second one skips
    the row the first holds in its still open transaction (it does not wait for it); a finished
    claim is not claimed again; a claim is taken over only once it is older than the cut-off,
    and the old owner can no longer record an outcome."""
    ids = _pending(store, 3)
    now = utcnow()
    other = Store(store.url)
    with store.session() as a:
        first = claim_next(a, "erp1", "pusher-a", now)
        with other.session() as b:
            if store.engine.dialect.name == "postgresql":
                b.execute(text("SET LOCAL lock_timeout = '10s'"))  # a wait for A's row would fail, not hang
                second = claim_next(b, "erp1", "pusher-b", now)
            else:  # SQLite: one writer at a time; B claims after A committed
                second = None
        assert first == ids[0]
    if second is None:
        with other.session() as b:
            second = claim_next(b, "erp1", "pusher-b", now)
    assert second == ids[1]
    with store.session() as s:
        assert claim_next(s, "erp1", "pusher-c", now) == ids[2]
        assert claim_next(s, "erp1", "pusher-c", now) is None  # nothing pending is left
    rows = {r.id: r for r in outbox(store, "erp1")}
    assert [(rows[i].status, rows[i].claimed_by) for i in ids] == \
        [("sending", "pusher-a"), ("sending", "pusher-b"), ("sending", "pusher-c")]
    with store.session() as s:  # not stale yet at this cut-off
        assert claim_next(s, "erp1", "pusher-d", utcnow(), stale_before=now - dt.timedelta(seconds=1)) is None
    with store.session() as s:
        assert claim_next(s, "erp1", "pusher-d", utcnow(), stale_before=now + dt.timedelta(seconds=1)) == ids[0]
    with store.session() as s:
        assert not finish_claim(s, ids[0], "pusher-a", status="sent")  # pusher-a lost it
        assert finish_claim(s, ids[0], "pusher-d", status="sent", remote_ref="9")
        assert finish_claim(s, ids[1], "pusher-b", status="pending", claimed_by=None, claimed_at=None)
    rows = {r.id: r for r in outbox(store, "erp1")}
    assert [(rows[i].status, rows[i].claimed_by) for i in ids] == \
        [("sent", "pusher-d"), ("pending", None), ("sending", "pusher-c")]
    other.engine.dispose()


def test_migration_0008_keeps_the_outbox(store):
    """An outbox written under 0007 keeps its rows, statuses and keys through 0008; going back
    to 0007 turns a command in flight into a pending one (the old code knows no claims)."""
    from alembic import command

    def migrate(fn: Any, revision: str) -> None:
        with store.engine.begin() as conn:
            cfg = store.alembic_config()
            cfg.attributes["connection"] = conn
            fn(cfg, revision)

    migrate(command.downgrade, "0007")
    try:
        cmd = WriteBackCommand(source="erp1", kind="payment", target_id="5", reason="t",
                               payload={"amount": "2.00", "currency": "EUR", "date": "2026-11-20", "bank_ref": "M1",
                                        "invoice_number": "FA-5"})
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO writeback_command (source, kind, target_id, payload, reason, idempotency_key, "
                              "status, attempts, created_at) VALUES ('erp1', 'payment', '5', :payload, 't', :key, "
                              "'pending', 0, :now)"),
                         {"payload": json.dumps(cmd.payload), "key": cmd.idempotency_key, "now": utcnow()})
        migrate(command.upgrade, "head")
        (row,) = outbox(store, "erp1")
        assert (row.status, row.claimed_by, row.claimed_at, row.idempotency_key) == ("pending", None, None, cmd.idempotency_key)
        assert WriteBackCommand(source=row.source, kind=row.kind, target_id=row.target_id, payload=row.payload,
                                reason=row.reason).idempotency_key == row.idempotency_key
        with store.session() as s:
            assert claim_next(s, "erp1", "p", utcnow()) == row.id
        migrate(command.downgrade, "0007")
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT status FROM writeback_command")).scalar_one() == "pending"
    finally:
        migrate(command.upgrade, "head")
