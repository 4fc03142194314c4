"""Cash application over the hub store: the stored bank credits against the stored open items.

Reads what earlier tasks stored (invoices of every source, parties across sources, bank entries
ingested from statements), runs the pure engine (:func:`matching.engine.apply_cash`), and stores
its allocations, unapplied cash, write-off candidates and flags with the run id. Each bank entry
is decided once: a re-run leaves decided entries alone. Invoices settled by ``auto`` allocations
get their French lifecycle status 212 Encaissée emitted once (see :mod:`o2c.jobs.einvoice`).

A run reads the open items and the undecided entries, decides and stores its results in one
transaction holding the cash lock (:func:`o2c.store.cash.cash_session`), as reviewer decisions do:
a second run waits for the first and then sees its results (the invoices it settled, the entries
it decided), instead of paying an invoice a second time from open amounts read before the first
committed, or deciding the same entries again.

Open items: an invoice's open amount is its amount due (BT-115, negative for a credit note) less
what ``auto`` or accepted allocations and write-offs already applied to it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.store import Store, utcnow
from o2c.store.cash import (
    CashAllocation,
    CashEntryDecision,
    CashFlag,
    CashUnapplied,
    CashWriteOff,
    cash_session,
)
from o2c.store.models import BankEntryRow, CustomerRow, InvoiceRow
from o2c.store.parties import PartyLink
from schemas.invoice import is_credit_note_type, receivable_amount
from schemas.jsonio import from_json
from schemas.statement import BankEntry

log = logging.getLogger(__name__)
APPLIED = ("auto", "accepted")


def parties_by_buyer_key(s: Any) -> dict[tuple[str, str], int]:
    """(source, buyer key) -> party id, where buyer key is the SIREN or VAT id of a customer record."""
    out: dict[tuple[str, str], int] = {}
    for link, cust in s.execute(select(PartyLink, CustomerRow).join(CustomerRow, CustomerRow.id == PartyLink.customer_id)):
        for key in (cust.siren, cust.vat_id, cust.source_id):
            if key:
                out[(cust.source, key)] = link.party_id
                out[("*", key)] = link.party_id
    return out


def applied_amounts(s: Any, invoice_ids: list[int] | None = None) -> dict[int, Decimal]:
    """Cash applied (``auto`` and ``accepted`` allocations) plus write-offs, per invoice id
    (all invoices, or only ``invoice_ids``)."""
    applied: dict[int, Decimal] = defaultdict(Decimal)
    allocs = select(CashAllocation.invoice_id, CashAllocation.amount).where(CashAllocation.status.in_(APPLIED))
    offs = select(CashWriteOff.invoice_id, CashWriteOff.amount)
    if invoice_ids is not None:
        allocs = allocs.where(CashAllocation.invoice_id.in_(invoice_ids))
        offs = offs.where(CashWriteOff.invoice_id.in_(invoice_ids))
    for q in (allocs, offs):
        for inv_id, amount in s.execute(q):
            applied[inv_id] += amount
    return applied


def open_amount(row: InvoiceRow, applied: dict[int, Decimal]) -> Decimal:
    """What is still open on an invoice: its amount due (negative for a credit note) less what was applied."""
    signed = receivable_amount(row.type_code, row.payable)
    return signed - applied.get(row.id, Decimal(0))


def ledger_frames(store: Store, session: Session | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(customers, open_items) in the engine's layout, from the store (read in ``session`` when
    given: a cash run reads them under the cash lock)."""
    with store.session() if session is None else contextlib.nullcontext(session) as s:
        applied = applied_amounts(s)
        parties = parties_by_buyer_key(s)
        items = []
        for row in s.scalars(select(InvoiceRow)):
            signed = receivable_amount(row.type_code, row.payable)
            open_amount_ = open_amount(row, applied)
            if open_amount_ == 0:
                continue
            party = parties.get((row.source, row.buyer_key or "")) or parties.get(("*", row.buyer_key or ""))
            doc = row.document
            rf = ((doc.get("payment") or {}).get("remittance_info") or "")
            items.append({
                "invoice_id": str(row.id), "customer_id": str(party) if party else f"{row.source}:{row.buyer_key or row.buyer_name}",
                "document_type": "credit_note" if is_credit_note_type(row.type_code) else "invoice", "invoice_number": row.number,
                "issue_date": row.issue_date.isoformat(), "due_date": (row.due_date or row.issue_date).isoformat(),
                "currency": row.currency, "amount_total": str(signed), "amount_open": str(open_amount_),
                "creditor_reference": rf if rf.upper().startswith("RF") else "",
            })
        members: dict[int, list[CustomerRow]] = defaultdict(list)
        for link, cust in s.execute(select(PartyLink, CustomerRow).join(CustomerRow, CustomerRow.id == PartyLink.customer_id)):
            members[link.party_id].append(cust)
        customers = []
        for party_id, custs in members.items():
            names = [c.name for c in custs]
            ibans = sorted({i for c in custs for i in (c.document.get("ibans") or [])})
            aliases = sorted({a for c in custs for a in (c.document.get("aliases") or [])} | set(names[1:]))
            customers.append({"customer_id": str(party_id), "name": names[0], "country": custs[0].country or "",
                              "vat_id": next((c.vat_id for c in custs if c.vat_id), "") or "",
                              "ibans": ";".join(ibans), "aliases": ";".join(aliases)})
    cust_cols = ["customer_id", "name", "country", "vat_id", "ibans", "aliases"]
    item_cols = ["invoice_id", "customer_id", "document_type", "invoice_number", "issue_date", "due_date", "currency",
                 "amount_total", "amount_open", "creditor_reference"]
    return pd.DataFrame(customers, columns=cust_cols), pd.DataFrame(items, columns=item_cols)


@dataclass
class CashRunSummary:
    run_id: str
    entries: int = 0
    credits: int = 0
    auto_lines: int = 0
    suggested_lines: int = 0
    allocations: int = 0
    unapplied: int = 0
    write_offs: int = 0
    flags: int = 0
    encaissee_sent: int = 0
    amount_auto: str = "0"
    notes: list[str] = field(default_factory=list)


def run_cash_application(store: Store, *, einvoicing: Any = None, dag_id: str | None = None,
                         airflow_run_id: str | None = None, lock_timeout: float | None = None) -> CashRunSummary:
    """Decide every stored bank entry not decided yet; store the results; emit Encaissée.

    Reading, deciding and storing hold the cash lock; ``lock_timeout`` is how long to wait for it
    (default ``O2C_CASH_LOCK_TIMEOUT``, 30 s) before giving up with
    :class:`~o2c.store.cash.CashLockBusy` (a retriable error; nothing is stored).
    """
    from matching.engine import apply_cash

    # what reviewers confirmed or refused (payer names, IBANs) identifies payers from now on
    from o2c.store.cash import learned_from_session

    summary = CashRunSummary(run_id="")
    run = None
    status = "failed"
    try:
        outcome: dict[str, str] = {}
        settled: dict[int, tuple[Decimal, dt.date | None]] = {}
        with cash_session(store, timeout=lock_timeout) as s:
            # recorded in the locked transaction: on SQLite a write from another session would wait for it
            run = store.start_run(source="cash_application", stream="bank_entries", dag_id=dag_id, task_id="apply",
                                  airflow_run_id=airflow_run_id, session=s)
            summary.run_id = run.id
            customers, open_items = ledger_frames(store, s)
            decided = select(CashEntryDecision.bank_entry_id)
            rows = s.scalars(select(BankEntryRow).where(BankEntryRow.id.not_in(decided), BankEntryRow.status == "BOOK")
                             .order_by(BankEntryRow.booking_date, BankEntryRow.id)).all()
            entries: list[BankEntry] = []
            by_ref: dict[str, BankEntryRow] = {}
            for row in rows:
                entry = from_json(BankEntry, row.document)
                # the engine keys its output by bank reference: make it unique per stored entry
                entry.bank_ref = f"E{row.id}"
                by_ref[entry.bank_ref] = row
                entries.append(entry)
            summary.entries = len(entries)
            summary.credits = sum(1 for e in entries if e.amount > 0)
            learned = learned_from_session(s) if entries else None
            result = apply_cash(customers, open_items, entries, learned=learned) if entries else None
            now = utcnow()
            numbers = dict(zip(open_items["invoice_id"], open_items["invoice_number"], strict=True))
            outcome.update({ref: "ignored" for ref in by_ref})
            if result is not None:
                for a in result.allocations:
                    row = by_ref[a.bank_ref]
                    s.add(CashAllocation(run_id=run.id, bank_entry_id=row.id, bank_ref=row.bank_ref or a.bank_ref,
                                         invoice_id=int(a.invoice_id), invoice_number=numbers.get(a.invoice_id, ""),
                                         amount=a.amount_applied, currency=a.currency or row.currency, confidence=a.confidence,
                                         status=a.status, rule=a.rule, explanation=a.explanation,
                                         booking_date=row.booking_date, created_at=now))
                    summary.allocations += 1
                    if a.status == "auto":
                        outcome[a.bank_ref] = "auto"
                        paid, _ = settled.get(int(a.invoice_id), (Decimal(0), None))
                        settled[int(a.invoice_id)] = (paid + a.amount_applied, row.booking_date)
                    elif outcome[a.bank_ref] != "auto":
                        outcome[a.bank_ref] = "suggested"
                for u in result.unapplied:
                    row = by_ref[u.bank_ref]
                    s.add(CashUnapplied(run_id=run.id, bank_entry_id=row.id, bank_ref=row.bank_ref or u.bank_ref, amount=u.amount,
                                        currency=u.currency, reason=u.reason, customer_key=u.customer_id or None, created_at=now))
                    summary.unapplied += 1
                    if outcome[u.bank_ref] == "ignored":
                        outcome[u.bank_ref] = "unapplied"
                for w in result.write_offs:
                    row = by_ref[w.bank_ref]
                    s.add(CashWriteOff(run_id=run.id, bank_entry_id=row.id, invoice_id=int(w.invoice_id), amount=w.amount,
                                       currency=w.currency, reason=w.reason, explanation=w.explanation, created_at=now))
                    summary.write_offs += 1
                for f in result.flags:
                    row = by_ref[f.bank_ref]
                    s.add(CashFlag(run_id=run.id, bank_entry_id=row.id, bank_ref=row.bank_ref or f.bank_ref, kind=f.kind,
                                   message=f.explanation, invoice_id=int(f.invoice_id) if f.invoice_id else None,
                                   amount=f.amount, created_at=now))
                    summary.flags += 1
            for ref, row in by_ref.items():
                s.add(CashEntryDecision(bank_entry_id=row.id, run_id=run.id, outcome=outcome[ref], decided_at=now))
        summary.auto_lines = sum(1 for v in outcome.values() if v == "auto")
        summary.suggested_lines = sum(1 for v in outcome.values() if v == "suggested")
        summary.amount_auto = str(sum((paid for paid, _ in settled.values()), Decimal(0)))
        if einvoicing is not None:
            summary.encaissee_sent = emit_collected(store, einvoicing, settled)
        status = "success"
    finally:
        if run is not None:  # None: the cash lock was not had (CashLockBusy), nothing was stored
            run.read, run.inserted, run.unchanged = summary.entries, summary.allocations, 0
            run.rejected = 0
            store.finish_run(run, status=status)
    return summary


def emit_collected(store: Store, config: Any, settled: dict[int, tuple[Decimal, dt.date | None]]) -> int:
    """212 Encaissée for each invoice whose auto allocations of this run were received."""
    from o2c.jobs.einvoice import emit_encaissee

    sent = 0
    for invoice_id, (amount, booked) in settled.items():
        if amount <= 0 or booked is None:
            continue  # credit notes and netting carry no collection
        try:
            if emit_encaissee(store, config, invoice_id, amount, booked) is not None:
                sent += 1
        except Exception as exc:  # noqa: BLE001 - one status must not undo the cash run
            log.warning("Encaissée for invoice %s not sent: %s", invoice_id, exc)
    return sent
