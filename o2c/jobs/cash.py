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

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from o2c.context import RunContext
from o2c.store import Store, utcnow
from o2c.store.bank import BankEntryRow
from o2c.store.cash import (
    CashAllocation,
    CashEntryDecision,
    CashFlag,
    CashUnapplied,
    CashWriteOff,
    cash_session,
    ledger_frames,
)
from schemas.jsonio import from_json
from schemas.statement import BankEntry

log = logging.getLogger(__name__)
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


def run_cash_application(store: Store, *, einvoicing: Any = None, context: RunContext | None = None,
                         lock_timeout: float | None = None) -> CashRunSummary:
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
            run = store.start_run(source="cash_application", stream="bank_entries", session=s,
                                  **(context or RunContext()).run_info())
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
