"""Cash application over the store: Tryton invoices, a bank statement ingested exactly once,
allocations stored with the run, Encaissée emitted, a re-run deciding nothing twice."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pytest
from sqlalchemy import select

from demo.bank import camt053
from o2c.config import EInvoicingConfig, SourceConfig
from o2c.jobs.bank import ingest_file
from o2c.jobs.cash import run_cash_application
from o2c.jobs.sync import sync_source
from o2c.store import Store
from o2c.store.cash import CashAllocation, CashUnapplied
from o2c.store.einvoice import LifecycleEvent
from tests.connectors.test_tryton_live import FAR_FUTURE, conn_info
from transport.sftp import StagedFile

pytestmark = [pytest.mark.tryton, pytest.mark.slow]


def stage(path, data: bytes) -> StagedFile:
    path.write_bytes(data)
    return StagedFile(local_path=str(path), remote_path=f"/in/{path.name}", name=path.name, size=len(data),
                      mtime=0, sha256=hashlib.sha256(data).hexdigest())


def test_statement_settles_tryton_invoices(tryton_server, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    sync_source(store, SourceConfig(name="tryton_demo", kind="tryton", connection="x"), conn_info(tryton_server), until=FAR_FUTURE)
    invoices = [r for r in store.invoices() if r.type_code == "380"]
    a, b, c, d = invoices[0], invoices[1], invoices[2], invoices[3]
    entries = [
        # the number, written the way payers write it
        {"amount": a.payable, "ref": "R1", "name": a.buyer_name.upper(), "text": [f"FACTURE {a.number.replace('-', ' ')}"]},
        # two invoices of one payment, both numbers quoted
        {"amount": b.payable + c.payable, "ref": "R2", "name": b.buyer_name, "text": [f"PAIEMENT {b.number} {c.number}"]}
        if b.buyer_name == c.buyer_name else {"amount": b.payable, "ref": "R2", "name": b.buyer_name, "text": [b.number]},
        # a partial payment
        {"amount": (d.payable / 2).quantize(Decimal("0.01")), "ref": "R3", "name": d.buyer_name, "text": [f"ACOMPTE {d.number}"]},
        # nobody's: a supplier refund without a reference
        {"amount": Decimal("17.45"), "ref": "R4", "name": "FOURNISSEUR XYZ", "text": ["REMBOURSEMENT TROP PERCU"]},
        # a debit: left alone
        {"amount": Decimal("-250.00"), "ref": "R5", "name": "URSSAF", "text": ["COTISATIONS"]},
    ]
    staged = stage(tmp_path / "camt053_20261120.xml", camt053(entries))
    assert ingest_file(store, "bnp", staged, run_id=None).outcome == "ingested"
    cfg = EInvoicingConfig(channel={"kind": "folder", "path": str(tmp_path / "platform")})

    first = run_cash_application(store, einvoicing=cfg)
    assert (first.entries, first.credits) == (5, 4)
    with store.session() as s:
        allocs = s.scalars(select(CashAllocation)).all()
        by_ref = {}
        for al in allocs:
            by_ref.setdefault(al.bank_ref, []).append(al)
        assert [(x.invoice_number, x.amount, x.status) for x in by_ref["R1"]] == [(a.number, a.payable, "auto")]
        assert by_ref["R1"][0].explanation  # a sentence for the finance team
        assert {x.invoice_number for x in by_ref["R2"]} <= {b.number, c.number} and by_ref["R2"][0].status == "auto"
        assert by_ref["R3"][0].invoice_number == d.number and by_ref["R3"][0].amount == entries[2]["amount"]
        assert "R4" not in by_ref and "R5" not in by_ref
        assert s.scalars(select(CashUnapplied.bank_ref)).all().count("R4") == 1
        encaissee = s.scalars(select(LifecycleEvent).where(LifecycleEvent.code == "212")).all()
        assert a.number in {e.invoice_number for e in encaissee}
        assert next(e for e in encaissee if e.invoice_number == a.number).amount == a.payable
    assert first.encaissee_sent >= 2

    # the same statement again (renamed) is not ingested twice; a re-run decides nothing new
    assert ingest_file(store, "bnp", stage(tmp_path / "copy.xml", staged_bytes(staged)), run_id=None).outcome == "duplicate"
    again = run_cash_application(store, einvoicing=cfg)
    assert (again.entries, again.allocations, again.encaissee_sent) == (0, 0, 0)

    # the partially paid invoice is still open for the rest
    from o2c.store.cash import ledger_frames

    _, open_items = ledger_frames(store)
    rest = open_items.loc[open_items["invoice_number"] == d.number, "amount_open"].iloc[0]
    assert Decimal(rest) == d.payable - entries[2]["amount"]
    assert a.number not in set(open_items["invoice_number"])


def staged_bytes(staged: StagedFile) -> bytes:
    with open(staged.local_path, "rb") as fh:
        return fh.read()


def test_risk_scoring_flags_and_kpis(tryton_server, tmp_path):
    from o2c.jobs.risk import open_flags, run_risk_scoring
    from o2c.store.cash import KpiDaily

    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    sync_source(store, SourceConfig(name="tryton_demo", kind="tryton", connection="x"), conn_info(tryton_server), until=FAR_FUTURE)
    as_of = dt.date(2026, 11, 23)
    first = run_risk_scoring(store, as_of, kpi_days=3)
    flags = open_flags(store, as_of)
    # Garage Moreau has a credit limit of 0.00 in Tryton (on hold) and open invoices
    garage = [f for f in flags if f["customer"].startswith("Garage Moreau") and f["kind"] == "credit_limit_exceeded"]
    assert garage and garage[0]["severity"] == "high" and "no credit allowed" in garage[0]["reason"]
    # nothing is paid in the demo ERP: invoices due long ago are overdue beyond policy
    assert any(f["kind"] == "overdue_beyond_policy" for f in flags)
    assert first.flags == len(flags) and first.kpi_days == 3
    with store.session() as s:
        day = s.get(KpiDaily, (as_of, "EUR"))  # every demo invoice is in EUR: no conversion, one row
        total_open = sum((r.payable if r.type_code == "380" else -r.payable) for r in store.invoices())
        assert day.receivables == total_open
        assert day.not_due + day.overdue_1_30 + day.overdue_31_60 + day.overdue_61_90 + day.overdue_90_plus == total_open
        assert day.dso_countback is not None and day.dso_simple is not None
    again = run_risk_scoring(store, as_of, kpi_days=3)
    assert again.flags == first.flags and len(open_flags(store, as_of)) == len(flags)
