"""The collections job: promises checked, then the day's reminders planned and stored, with why
every other overdue invoice was left out (the ``collections`` DAG and ``o2c dunning run``).

Reading the store: open items as the hub counts them (the ERP's open amount less the cash in
transit: :func:`o2c.store.cash.applied_amounts`), open disputes, open promises, the customers the
ERP blocks or holds, and cash received but not reviewed yet (unapplied, or only suggested). The
decision is :func:`matching.dunning.plan`. A reminder is keyed by customer, currency and day: a
second run the same day plans the same reminders and stores nothing new; a customer reminded at
the same level or higher within ``repeat_days`` is not reminded again. A customer without a
dunning contact gets a reminder ``cannot_send`` ("no contact"), never a silent skip. A reminder
the policy wants approved (``approval_above``, ``approval_levels``) is stored
``awaiting_approval`` with the reason; sending is :mod:`o2c.jobs.reminders`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select

from matching.dunning import Cash, Item, Plan, plan
from o2c.config import CollectionsConfig
from o2c.context import RunContext
from o2c.store import Store, utcnow
from o2c.store.audit import append as audit_append
from o2c.store.bank import BankEntryRow
from o2c.store.cash import CashAllocation, CashUnapplied, applied_amounts, open_amount, parties_by_buyer_key
from o2c.store.collections import (
    OPEN_STATES,
    DisputeRow,
    PromiseRow,
    ReminderRow,
    SkipRow,
    check_promises,
)
from o2c.store.models import CustomerRow, InvoiceRow
from o2c.store.parties import PartyLink
from schemas.invoice import is_credit_note_type


@dataclass
class DunningSummary:
    run_id: str
    as_of: str
    reminders: int = 0
    new_reminders: int = 0
    cannot_send: int = 0
    skipped: int = 0
    skipped_by_rule: dict[str, int] = field(default_factory=dict)
    promises_kept: int = 0
    promises_broken: int = 0
    details: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Customer:
    name: str
    language: str | None = None
    contacts: list[dict[str, Any]] = field(default_factory=list)
    blocked: str | None = None


def _customers(s: Any) -> dict[str, _Customer]:
    """Party id (as the ledger names customers) -> name, dunning language and contacts, and why the
    ERP blocks or holds it (any of its source records)."""
    out: dict[str, _Customer] = {}
    for link, cust in s.execute(select(PartyLink, CustomerRow).join(CustomerRow, CustomerRow.id == PartyLink.customer_id)
                                .order_by(CustomerRow.id)):
        c = out.setdefault(str(link.party_id), _Customer(name=cust.name))
        doc = cust.document or {}
        c.language = c.language or cust.dunning_language
        for contact in doc.get("dunning_contacts") or []:
            contact = {k: v for k, v in contact.items() if v}
            if contact.get("email") and contact not in c.contacts:
                c.contacts.append(contact)
        if not c.contacts and (doc.get("contact") or {}).get("email"):
            c.contacts.append({"name": cust.name, "email": doc["contact"]["email"]})
        if cust.blocked:
            c.blocked = f"blocked in {cust.source}" + (f": {doc['blocked_reason']}" if doc.get("blocked_reason") else "")
        elif cust.on_hold and not c.blocked:
            c.blocked = f"on hold in {cust.source}" + (f": {doc['on_hold_reason']}" if doc.get("on_hold_reason") else "")
    return out


def gather(s: Any, as_of: dt.date) -> tuple[list[Item], dict[int, str], dict[int, dt.date], dict[str, str], list[Cash],
                                                dict[str, _Customer], dict[int, str]]:
    """What the plan reads, from the store."""
    applied = applied_amounts(s)
    parties = parties_by_buyer_key(s)
    customers = _customers(s)
    items: list[Item] = []
    customer_of: dict[int, str] = {}
    for inv in s.scalars(select(InvoiceRow)):
        party = parties.get((inv.source, inv.buyer_key or "")) or parties.get(("*", inv.buyer_key or ""))
        cid = str(party) if party else f"{inv.source}:{inv.buyer_key or inv.buyer_name}"
        customer_of[inv.id] = cid
        customers.setdefault(cid, _Customer(name=inv.buyer_name))
        open_ = open_amount(inv, applied)
        transit = applied.get(inv.id, Decimal(0))
        if open_ == 0 and transit == 0:
            continue  # settled in the ERP: nothing to say
        items.append(Item(invoice_id=inv.id, number=inv.number, customer_id=cid, currency=inv.currency,
                          due_date=inv.due_date or inv.issue_date, open_amount=open_, in_transit=transit,
                          is_credit_note=is_credit_note_type(inv.type_code)))
    disputes = {d.invoice_id: f"{d.reason_code}, dispute {d.id} opened {d.opened_on.isoformat()}"
                for d in s.scalars(select(DisputeRow).where(DisputeRow.status.in_(OPEN_STATES)))}
    promises: dict[int, dt.date] = {}
    for p in s.scalars(select(PromiseRow).where(PromiseRow.status == "open")):
        for inv_id in p.invoice_ids:
            promises[inv_id] = max(promises.get(inv_id, p.due_on), p.due_on)
    blocked = {cid: c.blocked for cid, c in customers.items() if c.blocked}
    cash: list[Cash] = []
    for u, booked in s.execute(select(CashUnapplied, BankEntryRow.booking_date)
                               .join(BankEntryRow, BankEntryRow.id == CashUnapplied.bank_entry_id)
                               .where(CashUnapplied.resolved_at.is_(None))):
        cash.append(Cash(u.amount, u.currency, booked or u.created_at.date(), u.customer_key, u.bank_ref))
    for a in s.scalars(select(CashAllocation).where(CashAllocation.status == "suggested")):
        cash.append(Cash(a.amount, a.currency, a.booking_date or a.created_at.date(), customer_of.get(a.invoice_id),
                         f"{a.bank_ref}, suggested for {a.invoice_number}"))
    return items, disputes, promises, blocked, cash, customers, customer_of


def run_dunning(store: Store, config: CollectionsConfig, as_of: dt.date, *, context: RunContext | None = None) -> DunningSummary:
    """Check promises, plan the day's reminders and store them (``pending``, or ``cannot_send`` with
    the reason) with the invoices left out; an audit entry per new reminder."""
    policy = config.policy()
    with store.run(source="collections", stream="dunning", context=context) as run:
        summary = DunningSummary(run_id=run.id, as_of=as_of.isoformat())
        checked = check_promises(store, as_of, grace_days=config.promise_grace_days)
        summary.promises_kept, summary.promises_broken = checked.kept, checked.broken
        now = utcnow()
        with store.session() as s:
            items, disputes, promises, blocked, cash, customers, _ = gather(s, as_of)
            result: Plan = plan(items, policy, as_of, disputes=disputes, promises=promises, blocked=blocked, unreviewed=cash)
            recent = _recent_levels(s, as_of, config.repeat_days)
            s.execute(delete(SkipRow).where(SkipRow.as_of == as_of))
            by_rule: dict[str, int] = defaultdict(int)
            for sk in result.skipped:
                s.add(SkipRow(run_id=run.id, as_of=as_of, invoice_id=sk.invoice_id, invoice_number=sk.number,
                              customer_id=sk.customer_id, rule=sk.rule, reason=sk.reason))
                by_rule[sk.rule] += 1
            for r in result.reminders:
                key = f"{r.customer_id}|{r.currency}|{as_of.isoformat()}"
                last = recent.get((r.customer_id, r.currency))
                if last is not None and last[0] >= r.level and last[1] != as_of:
                    for ln in r.lines:
                        s.add(SkipRow(run_id=run.id, as_of=as_of, invoice_id=ln.invoice_id, invoice_number=ln.number,
                                      customer_id=r.customer_id, rule="reminded_recently",
                                      reason=f"{ln.number}: the customer was reminded at level {last[0]} on "
                                             f"{last[1].isoformat()} (again after {config.repeat_days} days)"))
                        by_rule["reminded_recently"] += 1
                    continue
                summary.reminders += 1
                who = customers.get(r.customer_id) or _Customer(name=r.customer_id)
                if s.scalar(select(ReminderRow.id).where(ReminderRow.key == key)) is not None:
                    continue  # planned earlier today
                status, error = ("pending", None) if who.contacts else ("cannot_send", "no dunning contact with an e-mail")
                if status == "pending" and (why := config.needs_approval(r.level, r.total)):
                    status, error = "awaiting_approval", why  # o2c dunning approve ID moves it to pending
                row = ReminderRow(
                    key=key, run_id=run.id, as_of=as_of, customer_id=r.customer_id, customer_name=who.name, currency=r.currency,
                    level=r.level, due=r.due, credits=r.credits, interest=r.interest, indemnity=r.indemnity, total=r.total,
                    lines=[{"invoice_id": ln.invoice_id, "number": ln.number, "due_date": ln.due_date.isoformat(),
                            "days_late": ln.days_late, "level": ln.level, "open": str(ln.open_amount),
                            "interest": str(ln.interest), "indemnity": str(ln.indemnity)} for ln in r.lines],
                    credit_notes=[{"invoice_id": i, "number": n, "open": str(a)} for i, n, a in r.credit_notes],
                    language=who.language, recipients=who.contacts, status=status, error=error, attempts=0, created_at=now)
                s.add(row)
                s.flush()
                audit_append(s, actor="o2c:collections", action="dunning.planned", subject=f"customer:{r.customer_id}",
                             details={"reminder": row.id, "level": r.level, "currency": r.currency, "total": str(r.total),
                                      "invoices": [ln.number for ln in r.lines], "status": status}, at=now)
                summary.new_reminders += 1
                summary.cannot_send += status == "cannot_send"
                summary.details.append({"customer": who.name, "level": r.level, "currency": r.currency,
                                        "total": str(r.total), "status": status})
            summary.skipped = sum(by_rule.values())
            summary.skipped_by_rule = dict(by_rule)
        run.read, run.inserted, run.unchanged = len(items), summary.new_reminders, summary.skipped
    return summary


def _recent_levels(s: Any, as_of: dt.date, days: int) -> dict[tuple[str, str], tuple[int, dt.date]]:
    """(customer, currency) -> (the highest level, its day) of the reminders planned in the last ``days``."""
    out: dict[tuple[str, str], tuple[int, dt.date]] = {}
    since = as_of - dt.timedelta(days=days)
    for r in s.scalars(select(ReminderRow).where(ReminderRow.as_of > since, ReminderRow.as_of <= as_of,
                                                 ReminderRow.status.not_in(("withdrawn", "failed")))):
        key = (r.customer_id, r.currency)
        if key not in out or r.level > out[key][0]:
            out[key] = (r.level, r.as_of)
    return out


def reminders(store: Store, *, as_of: dt.date | None = None, status: str | None = None) -> list[ReminderRow]:
    with store.session() as s:
        q = select(ReminderRow).order_by(ReminderRow.as_of.desc(), ReminderRow.customer_name)
        if as_of is not None:
            q = q.where(ReminderRow.as_of == as_of)
        if status is not None:
            q = q.where(ReminderRow.status == status)
        return list(s.scalars(q))


def skipped(store: Store, as_of: dt.date) -> list[SkipRow]:
    with store.session() as s:
        return list(s.scalars(select(SkipRow).where(SkipRow.as_of == as_of).order_by(SkipRow.customer_id, SkipRow.invoice_number)))




# -- write-back of disputes ---------------------------------------------------------------------
@dataclass(frozen=True)
class DisputeWriteBack:
    """One change a dispute asks of its ERP: block (or unblock) the dunning of the invoice, or a note
    on it. Not enqueued here: the write-back outbox takes them (see :func:`dispute_writeback_commands`)."""

    kind: str  # dunning_block, note
    source: str
    target_id: str  # the invoice's id in its source
    invoice_number: str
    blocked: bool | None  # dunning_block: True while the dispute is open, False once resolved
    message: str  # the note's text, or why the block is set / lifted
    identity: str  # what the command records, part of its idempotency key: D<id>:open / D<id>:resolved
    actor: str  # who opened / resolved the dispute


def dispute_writeback_commands(store: Store) -> list[DisputeWriteBack]:
    """What every dispute asks of its ERP, computed from the store (the same list every time for the
    same disputes, so enqueuing it again adds nothing): for an open dispute, a dunning block on its
    invoice and a note saying why; for a resolved one, the block lifted and a note of the outcome.

    The outbox's enqueuers (``o2c.jobs.writeback.enqueue_dunning_block`` / ``enqueue_note``) take
    these as they are, e.g.::

        for c in dispute_writeback_commands(store):
            if c.kind == "dunning_block":
                enqueue_dunning_block(store, c.source, c.target_id, blocked=c.blocked, reason=c.message,
                                      actor=c.actor, identity=c.identity)
            else:
                enqueue_note(store, c.source, "invoice", c.target_id, c.message, actor=c.actor, identity=c.identity)

    (for the sources whose connector declares ``dunning_blocks`` / ``notes``)."""
    from o2c.store.collections import DEFAULT_REASONS

    out: list[DisputeWriteBack] = []
    with store.session() as s:
        rows = s.execute(select(DisputeRow, InvoiceRow.source_id).join(InvoiceRow, InvoiceRow.id == DisputeRow.invoice_id)
                         .order_by(DisputeRow.id)).all()
        for d, source_id in rows:
            label = DEFAULT_REASONS.get(d.reason_code, (d.reason_code, ""))[0]
            amount = f"{d.amount} {d.currency}" if d.amount is not None else "the whole open amount"
            first = d.comments[0]["text"] if d.comments else ""
            opened = (f"Dispute {d.id} opened on {d.opened_on.isoformat()} by {d.opened_by} ({d.origin}): {d.reason_code}, "
                      f"{label}; {amount} in dispute" + (f". {first}" if first else "") + ". Dunning blocked by the hub.")
            common = {"source": d.source, "target_id": source_id, "invoice_number": d.invoice_number}
            out.append(DisputeWriteBack(kind="dunning_block", blocked=True, message=opened[:1000], identity=f"D{d.id}:open",
                                        actor=d.opened_by, **common))
            out.append(DisputeWriteBack(kind="note", blocked=None, message=opened[:3000], identity=f"D{d.id}:open",
                                        actor=d.opened_by, **common))
            if d.status not in OPEN_STATES:
                resolved = (f"Dispute {d.id} resolved on {(d.resolved_on or d.opened_on).isoformat()} by {d.resolved_by}: "
                            f"{d.outcome}. Dunning block lifted by the hub.")
                actor = d.resolved_by or "o2c:collections"
                out.append(DisputeWriteBack(kind="dunning_block", blocked=False, message=resolved[:1000],
                                            identity=f"D{d.id}:resolved", actor=actor, **common))
                out.append(DisputeWriteBack(kind="note", blocked=None, message=resolved[:3000], identity=f"D{d.id}:resolved",
                                            actor=actor, **common))
    return out
