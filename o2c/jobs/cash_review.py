"""Reviewer decisions on cash application: accept, reject or re-allocate a bank line.

The engine posts what it is sure of (``auto``) and proposes the rest (``suggested``). A person
then decides, bank line by bank line:

- **accept**: the suggested allocations of the line become ``accepted`` (they count as applied
  cash from now on, and the invoices they settle get their Encaissée status). A suggestion does
  not reserve its invoice: another line may have paid it since (an accepted suggestion, a later
  run). Accepting re-reads each invoice's open amount and refuses the whole line, naming the
  invoice and the amounts, when a suggested amount is more than what is still open: nothing is
  posted that the reviewer did not see, and re-allocating the line applies what is open and
  leaves the rest unapplied;
- **reject**: the line's allocations become ``rejected`` (the open items stay open; the cash
  is left unapplied for a person to follow up);
- **reallocate**: the line's allocations become ``rejected`` and the cash goes to the invoices the
  reviewer names instead (``accepted``), oldest first, each up to its open amount; any excess
  stays unapplied (the unapplied cash recorded for the line before is marked resolved).

With ``dispute`` (a dispute reason code, ``deduction`` for a deduction the customer took), an
accepted or re-allocated line that leaves an invoice it pays partly open is a **short payment the
reviewer disputes**: the unpaid rest of each such invoice becomes a dispute (origin
``short_payment``, the amount left open, the reviewer as who opened it), in the decision's
transaction, so the rest is never reminded while the dispute is open. A decision with ``dispute``
that leaves nothing unpaid is refused (nothing recorded).

Every decision is stored (:class:`~o2c.store.cash.CashReviewDecision`, with the reviewer, the
payer's name and IBAN as the bank wrote them, and the customers concerned) and replayed at every
cash run by :func:`learned_from_store`: an IBAN or a bank-side name confirmed for a customer is
used to identify that customer's later payments, one refused is not (:mod:`matching.learning`).

A decision reads the open amounts and writes in one transaction holding the cash lock
(:func:`o2c.store.cash.cash_session`, shared with cash application runs), with the invoices it
applies cash to locked (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the lock is the
database's single writer): two decisions, or a decision and a run, never both apply cash against
the same open amount.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from matching.learning import ACCEPT, REALLOCATE, REJECT, Learned
from o2c.jobs.cash import emit_collected
from o2c.store import Store, audit, utcnow
from o2c.store.bank import BankEntryRow
from o2c.store.cash import (
    APPLIED,
    CashAllocation,
    CashReviewDecision,
    CashUnapplied,
    applied_amounts,
    cash_session,
    learned_from_session,
    open_amount,
    parties_by_buyer_key,
)
from o2c.store.models import InvoiceRow
from schemas.errors import ConfigError
from schemas.invoice import is_credit_note_type

ACTIONS = (ACCEPT, REJECT, REALLOCATE)
_LIVE = (*APPLIED, "suggested")


@dataclass
class ReviewResult:
    """What a decision changed."""

    bank_entry_id: int
    bank_ref: str
    action: str
    customer_key: str
    allocations: list[tuple[str, Decimal, str]] = field(default_factory=list)  # (invoice number, amount, status)
    unapplied: Decimal = Decimal(0)
    encaissee_sent: int = 0
    disputes: list[tuple[str, Decimal, int]] = field(default_factory=list)  # (invoice number, unpaid rest, dispute id)


def _entry(s: Any, line: str | int) -> BankEntryRow:
    """The stored bank line named by its id (``E12`` or ``12``) or its bank reference."""
    text = str(line).strip()
    ident = text[1:] if text[:1] in "Ee" and text[1:].isdigit() else text
    if ident.isdigit():
        row = s.get(BankEntryRow, int(ident))
        if row is not None:
            return row
    rows = s.scalars(select(BankEntryRow).where(BankEntryRow.bank_ref == text)).all()
    if not rows:
        raise ConfigError(f"bank line {text!r} not found: give the bank reference (AcctSvcrRef) or the hub's "
                          "entry id shown on the review page (E123)")
    if len(rows) > 1:
        ids = ", ".join(f"E{r.id}" for r in rows)
        raise ConfigError(f"bank reference {text!r} names {len(rows)} stored lines ({ids}): give the entry id instead")
    return rows[0]


def _party_of_invoice(s: Any, inv: InvoiceRow) -> str:
    parties = parties_by_buyer_key(s)
    key = inv.buyer_key or ""
    party = parties.get((inv.source, key)) or parties.get(("*", key))
    return str(party) if party else f"{inv.source}:{inv.buyer_key or inv.buyer_name}"


def _locked_invoices(s: Any, ids: Sequence[int]) -> dict[int, InvoiceRow]:
    """The invoices ``ids``, re-read and row-locked until the decision commits (``FOR UPDATE`` on
    PostgreSQL, nothing to add on SQLite where the cash lock is the single writer), so their amount
    due cannot change under the decision; in id order, as every locker takes them."""
    rows = s.scalars(select(InvoiceRow).where(InvoiceRow.id.in_(sorted(set(ids)))).order_by(InvoiceRow.id)
                     .with_for_update().execution_options(populate_existing=True)).all()
    return {r.id: r for r in rows}


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def _over_applied(amount: Decimal, open_: Decimal) -> bool:
    """Whether applying ``amount`` to an item with ``open_`` still open goes past zero (a payment
    beyond an invoice's open amount, or a credit beyond a credit note's)."""
    return (amount > 0 and amount > open_) or (amount < 0 and amount < open_)


def _invoice(s: Any, number: str) -> InvoiceRow:
    source, _, num = number.partition(":") if ":" in number else ("", "", number)
    q = select(InvoiceRow).where(InvoiceRow.number == num.strip())
    if source:
        q = q.where(InvoiceRow.source == source)
    rows = s.scalars(q).all()
    if not rows:
        raise ConfigError(f"invoice {number!r} not found in the hub store")
    if len(rows) > 1:
        srcs = ", ".join(sorted(f"{r.source}:{r.number}" for r in rows))
        raise ConfigError(f"invoice number {number!r} exists in several sources ({srcs}): write SOURCE:NUMBER")
    return rows[0]


def decide(store: Store, line: str | int, action: str, *, reviewer: str, invoices: Sequence[str] = (),
           note: str = "", einvoicing: Any = None, lock_timeout: float | None = None,
           dispute: str | None = None) -> ReviewResult:
    """Record a reviewer's decision on one bank line and apply it to the stored allocations.

    ``line`` is the hub's entry id (``E123``) or the bank reference; ``invoices`` (reallocate
    only) are invoice numbers, ``SOURCE:NUMBER`` when a number exists in several sources.
    ``dispute``: a reason code; the unpaid rest of every invoice the line pays short becomes a
    dispute with it (accept and reallocate only). Holds the cash lock; ``lock_timeout`` is how long to wait for it (default
    ``O2C_CASH_LOCK_TIMEOUT``, 30 s) before :class:`~o2c.store.cash.CashLockBusy`.
    """
    if action not in ACTIONS:
        raise ConfigError(f"unknown decision {action!r}: use accept, reject or reallocate")
    if not reviewer.strip():
        raise ConfigError("a decision needs the reviewer's name")
    if action == REALLOCATE and not invoices:
        raise ConfigError("reallocate needs the invoice numbers the cash goes to")
    if action != REALLOCATE and invoices:
        raise ConfigError(f"{action} takes no invoice numbers: choose re-allocate to send the cash to them")
    if dispute is not None:
        from o2c.store.collections import DEFAULT_REASONS

        dispute = dispute.strip() or "deduction"
        if action == REJECT:
            raise ConfigError("a rejected line pays nothing short: open the dispute on the invoice itself")
        if dispute not in DEFAULT_REASONS:
            raise ConfigError(f"unknown dispute reason {dispute!r}; use one of {', '.join(DEFAULT_REASONS)}")
    now = utcnow()
    settled: dict[int, tuple[Decimal, dt.date | None]] = {}
    with cash_session(store, timeout=lock_timeout) as s:
        entry = _entry(s, line)
        if entry.amount <= 0 and action != REJECT:
            raise ConfigError(f"bank line E{entry.id} is a debit of {entry.amount} {entry.currency}: only credits "
                              "(customer receipts) are applied to invoices")
        doc = entry.document or {}
        current = s.scalars(select(CashAllocation).where(CashAllocation.bank_entry_id == entry.id,
                                                         CashAllocation.status.in_(_LIVE))
                            .order_by(CashAllocation.id)).all()
        proposed = ""
        if current:
            inv0 = s.get(InvoiceRow, current[0].invoice_id)
            proposed = _party_of_invoice(s, inv0) if inv0 is not None else ""
        result = ReviewResult(entry.id, entry.bank_ref or f"E{entry.id}", action, proposed)
        if action == ACCEPT:
            waiting = [a for a in current if a.status == "suggested"]
            if not waiting:
                raise ConfigError(f"bank line E{entry.id} has no suggested allocation to accept")
            # the open amounts now, not when the engine suggested: another line may have paid since
            locked = _locked_invoices(s, [a.invoice_id for a in waiting])
            applied = applied_amounts(s, list(locked))
            too_much = []
            for a in waiting:
                inv = locked[a.invoice_id]
                open_ = open_amount(inv, applied)
                if _over_applied(a.amount, open_):
                    signed = open_ + applied.get(inv.id, Decimal(0))
                    too_much.append(f"{_money(a.amount, a.currency)} on invoice {inv.number}, which has "
                                    f"{_money(open_, inv.currency)} open ({_money(signed, inv.currency)} due, "
                                    f"{_money(applied.get(inv.id, Decimal(0)), inv.currency)} already applied)")
            if too_much:
                raise ConfigError(f"bank line E{entry.id} cannot be accepted as suggested: it would put "
                                  f"{'; '.join(too_much)}. Nothing was changed: re-allocate the line (each invoice "
                                  "gets at most its open amount, the rest stays unapplied) or reject it")
            for a in waiting:
                a.status = "accepted"
                result.allocations.append((a.invoice_number, a.amount, a.status))
                paid, _ = settled.get(a.invoice_id, (Decimal(0), None))
                settled[a.invoice_id] = (paid + a.amount, entry.booking_date)
        elif action == REJECT:
            if not current:
                raise ConfigError(f"bank line E{entry.id} has no allocation to reject")
            for a in current:
                a.status = "rejected"
                result.allocations.append((a.invoice_number, a.amount, a.status))
            result.unapplied = sum((a.amount for a in current), Decimal(0))
            s.add(CashUnapplied(run_id=f"review:{reviewer}", bank_entry_id=entry.id, bank_ref=result.bank_ref,
                                amount=result.unapplied, currency=entry.currency, reason="rejected by reviewer",
                                customer_key=proposed or None, created_at=now))
        else:
            for a in current:
                a.status = "rejected"
            # the cash the engine left unapplied on this line is now placed by the reviewer
            for u in s.scalars(select(CashUnapplied).where(CashUnapplied.bank_entry_id == entry.id,
                                                           CashUnapplied.resolved_at.is_(None))):
                u.resolved_at = now
            s.flush()
            targets = [_invoice(s, n) for n in invoices]
            locked = _locked_invoices(s, [t.id for t in targets])
            targets = [locked[t.id] for t in targets]
            wrong = [t.number for t in targets if t.currency != entry.currency]
            if wrong:
                raise ConfigError(f"invoices {', '.join(wrong)} are not in the line's currency {entry.currency}")
            result.customer_key = _party_of_invoice(s, targets[0])
            # credit notes first (they add to the cash to share), then invoices oldest due first
            targets.sort(key=lambda t: (not is_credit_note_type(t.type_code), t.due_date or t.issue_date, t.number))
            remaining = entry.amount
            for inv in targets:
                open_ = open_amount(inv, applied_amounts(s, [inv.id]))
                if open_ == 0 or (open_ < 0) != is_credit_note_type(inv.type_code):
                    raise ConfigError(f"invoice {inv.number} is already settled "
                                      f"({_money(open_, inv.currency)} open)")
                amount = open_ if open_ < 0 else min(open_, remaining)
                if amount == 0:
                    break
                remaining -= amount
                row = next((a for a in s.scalars(select(CashAllocation).where(
                    CashAllocation.bank_entry_id == entry.id, CashAllocation.invoice_id == inv.id))), None)
                why = f"re-allocated by {reviewer}" + (f": {note}" if note else "")
                if row is None:
                    row = CashAllocation(run_id=f"review:{reviewer}", bank_entry_id=entry.id, bank_ref=result.bank_ref,
                                         invoice_id=inv.id, invoice_number=inv.number, created_at=now,
                                         booking_date=entry.booking_date, currency=entry.currency)
                    s.add(row)
                row.amount, row.status, row.confidence, row.rule, row.explanation = amount, "accepted", 1.0, "reviewer", why
                result.allocations.append((inv.number, amount, "accepted"))
                if amount > 0:
                    paid, _ = settled.get(inv.id, (Decimal(0), None))
                    settled[inv.id] = (paid + amount, entry.booking_date)
            if remaining > 0:
                result.unapplied = remaining
                s.add(CashUnapplied(run_id=f"review:{reviewer}", bank_entry_id=entry.id, bank_ref=result.bank_ref,
                                    amount=remaining, currency=entry.currency, reason="overpayment (reviewer)",
                                    customer_key=result.customer_key, created_at=now))
        if dispute is not None:
            result.disputes = _dispute_short_payments(s, entry, result, reviewer.strip(), dispute, note)
        s.add(CashReviewDecision(
            bank_entry_id=entry.id, bank_ref=result.bank_ref, action=action,
            customer_key=result.customer_key, previous_customer_key=(proposed if action == REALLOCATE else None) or None,
            invoice_numbers=", ".join(n for n, _, st in result.allocations if st == "accepted"),
            payer_name=doc.get("counterparty_name") or entry.counterparty_name,
            payer_iban=doc.get("counterparty_iban") or entry.counterparty_iban,
            reviewer=reviewer.strip(), note=note or None, decided_at=now))
        audit.append(s, actor=reviewer.strip(), action=f"review.{action}", subject=f"bank_entry:E{entry.id}",
                     details={"bank_ref": result.bank_ref, "customer": result.customer_key, "note": note or None,
                              "allocations": [[n, str(a), st] for n, a, st in result.allocations],
                              "unapplied": str(result.unapplied) if result.unapplied else None,
                              "disputes": [[n, str(a), i] for n, a, i in result.disputes] or None}, at=now)
    if einvoicing is not None and settled:
        result.encaissee_sent = emit_collected(store, einvoicing, settled)
    return result


def _dispute_short_payments(s: Any, entry: BankEntryRow, result: ReviewResult, reviewer: str, reason: str,
                            note: str) -> list[tuple[str, Decimal, int]]:
    """Open a dispute for the unpaid rest of each invoice the decision pays partly (its open amount
    after the decision, the hub's cash counted); refused when the line leaves no invoice short."""
    from o2c.store.collections import open_dispute_in

    s.flush()
    paid: dict[str, Decimal] = {}
    for number, amount, status in result.allocations:
        if status == "accepted" and amount > 0:
            paid[number] = paid.get(number, Decimal(0)) + amount
    rows = s.scalars(select(CashAllocation).where(CashAllocation.bank_entry_id == entry.id,
                                                  CashAllocation.status == "accepted")).all()
    out: list[tuple[str, Decimal, int]] = []
    for inv_id in sorted({a.invoice_id for a in rows if a.invoice_number in paid}):
        inv = s.get(InvoiceRow, inv_id)
        if inv is None or is_credit_note_type(inv.type_code):
            continue
        rest = open_amount(inv, applied_amounts(s, [inv.id]))
        if rest <= 0:
            continue
        why = (f"short payment: {_money(paid[inv.number], inv.currency)} paid by bank line E{entry.id} "
               f"({result.bank_ref}), {_money(rest, inv.currency)} left unpaid") + (f"; {note}" if note else "")
        row, _ = open_dispute_in(s, inv, reason=reason, by=reviewer, amount=rest, comment=why, origin="short_payment",
                                 on=entry.booking_date)
        out.append((inv.number, rest, row.id))
    if not out:
        raise ConfigError(f"bank line E{entry.id} leaves no invoice partly unpaid: there is no short payment to "
                          "dispute (record the decision without a dispute)")
    return out


def learned_from_store(store: Store) -> Learned:
    """Every stored decision replayed, oldest first, into what the engine learns from reviewers."""
    with store.session() as s:
        return learned_from_session(s)
