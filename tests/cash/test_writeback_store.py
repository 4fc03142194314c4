"""The write-back outbox on the store alone (no ERP): which applied cash becomes payment commands."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal as D

from o2c.bank_ingest import ingest_file
from o2c.demo_bank import camt053
from o2c.sources import SourceConfig
from o2c.store import Store, utcnow
from o2c.store.cash import CashAllocation
from o2c.store.models import BankEntryRow, InvoiceRow
from o2c.transport.sftp import StagedFile
from o2c.writeback import enqueue_payments, outbox
from schemas import SourceRef
from tests.schemas.test_validation import make_invoice

SOURCE = SourceConfig(name="erp1", kind="tryton", connection="x")


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
