"""Collections in the store: disputes (litiges) and promises to pay.

A **dispute** is a customer contesting (part of) an invoice: while it is open (``open`` or
``in_review``) the invoice is never dunned, and past an age the risk scoring flags it. It ends
``resolved`` with an outcome: ``credit_note`` (the seller agreed: a credit note follows),
``rejected`` (the claim was refused: dunning resumes) or ``paid``. Reason codes come from the
configured list (:data:`DEFAULT_REASONS`), each mapped to the UN/EDIFACT adjustment reason code
(UNCL 4465) a remittance advice would carry.

A **promise to pay** is a customer's word that an amount arrives by a date: the reminders of its
invoices wait until that date (plus a grace period); it is ``kept`` when the cash applied to its
invoices since it was taken covers it, ``broken`` once the date and grace have passed without.

Every change is an audit entry (``dispute.opened``, ``dispute.resolved``, ``promise.taken`` ...),
in the transaction of the change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from o2c.store.audit import append as audit_append
from o2c.store.models import Amount, Base, InvoiceRow, UTCDateTime, utcnow
from schemas.errors import ConfigError
from schemas.invoice import receivable_amount
from schemas.money import AmountError, parse_amount

if TYPE_CHECKING:
    from o2c.store import Store

_ID = BigInteger().with_variant(Integer, "sqlite")

#: reason code -> (label, UNCL 4465 adjustment reason code)
DEFAULT_REASONS: dict[str, tuple[str, str]] = {
    "price": ("price differs from the order or contract", "5"),
    "quantity": ("quantity invoiced differs from quantity delivered", "6"),
    "quality": ("goods or service not as agreed (quality)", "9"),
    "delivery": ("not delivered, late or incomplete", "11"),
    "duplicate": ("invoiced twice", "52"),
    "deduction": ("deduction taken by the customer (promotion, penalty, allowance)", "28"),
    "other": ("other reason (see the comment)", "ZZZ"),
}
OPEN_STATES = ("open", "in_review")
OUTCOMES = ("credit_note", "rejected", "paid")
#: where a dispute comes from: the review page, ``o2c dispute open``, a lifecycle status 207 En litige
#: or 210 Refusée received for an invoice the hub issued, a short payment a reviewer disputes
ORIGINS = ("page", "cli", "lifecycle_207", "lifecycle_210", "short_payment")
#: the reason codes of a received lifecycle status (XP Z12-012, the list of BR-FR-CDV-CL-09)
#: -> the dispute reason; any other code is ``other`` (the platform's text is the comment)
LIFECYCLE_REASONS: dict[str, str] = {
    "PU_ERR": "price", "REM_ERR": "price", "TX_TVA_ERR": "price", "MONTANTTOTAL_ERR": "price", "CALCUL_ERR": "price",
    "QTE_ERR": "quantity", "QUALITE_ERR": "quality", "ART_ERR": "quality", "LIVR_INCOMP": "delivery",
    "DOUBLON": "duplicate", "DOUBLE_FACT": "duplicate",
}


class DisputeRow(Base):
    __tablename__ = "dispute"
    __table_args__ = (Index("ix_dispute_invoice_status", "invoice_id", "status"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(100))
    invoice_number: Mapped[str] = mapped_column(String(100))
    customer_key: Mapped[str | None] = mapped_column(String(100))  # the invoice's buyer key (SIREN, VAT id...)
    amount: Mapped[Decimal | None] = mapped_column(Amount())  # in dispute; None: the whole open amount
    currency: Mapped[str] = mapped_column(String(3))
    reason_code: Mapped[str] = mapped_column(String(30))
    adjustment_code: Mapped[str] = mapped_column(String(3))  # UNCL 4465
    status: Mapped[str] = mapped_column(String(20))  # open, in_review, resolved
    outcome: Mapped[str | None] = mapped_column(String(20))  # credit_note, rejected, paid
    owner: Mapped[str | None] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(30))  # page, cli, lifecycle_207, lifecycle_210, short_payment
    opened_by: Mapped[str] = mapped_column(String(200))
    opened_on: Mapped[dt.date] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_on: Mapped[dt.date | None] = mapped_column()
    comments: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{at, by, text}]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PromiseRow(Base):
    __tablename__ = "payment_promise"
    __table_args__ = (Index("ix_payment_promise_status", "status", "due_on"),
                      UniqueConstraint("source", "source_id", name="uq_payment_promise_source"))

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    customer_key: Mapped[str] = mapped_column(String(100))
    customer_name: Mapped[str] = mapped_column(String(250))
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    promised_on: Mapped[dt.date] = mapped_column()  # when the customer promised
    due_on: Mapped[dt.date] = mapped_column()  # the date the cash is promised for
    invoice_ids: Mapped[list[int]] = mapped_column(JSON)
    taken_by: Mapped[str] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(30))  # page, cli, crm
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # open, kept, broken
    paid_amount: Mapped[Decimal] = mapped_column(Amount())  # applied to its invoices since it was taken
    checked_on: Mapped[dt.date | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # a promise synced from a CRM task (revision 0015): the source's name and the task id; None for page and CLI
    source: Mapped[str | None] = mapped_column(String(100))
    source_id: Mapped[str | None] = mapped_column(String(100))


def _reasons(reasons: dict[str, tuple[str, str]] | None) -> dict[str, tuple[str, str]]:
    return reasons or DEFAULT_REASONS


def _invoice(s: Session, ref: str) -> InvoiceRow:
    """The invoice ``ref`` names: its number, ``SOURCE:NUMBER`` or ``SOURCE:ID``."""
    from sqlalchemy import or_

    source, _, key = ref.rpartition(":")
    q = select(InvoiceRow)
    q = q.where(InvoiceRow.source == source, or_(InvoiceRow.number == key, InvoiceRow.source_id == key)) if source \
        else q.where(InvoiceRow.number == key)
    rows = s.scalars(q.limit(3)).all()
    if not rows:
        raise ConfigError(f"no invoice {ref!r} in the hub store; give its number, SOURCE:NUMBER or SOURCE:ID")
    if len(rows) > 1:
        raise ConfigError(f"{ref!r} names {len(rows)} invoices; give SOURCE:NUMBER")
    return rows[0]


def _amount(text: str | Decimal | None, what: str) -> Decimal | None:
    if text is None or text == "":
        return None
    try:
        value = text if isinstance(text, Decimal) else parse_amount(str(text))
    except AmountError as exc:
        raise ConfigError(f"{what}: {exc}; write an amount such as 120.50") from None
    if value <= 0:
        raise ConfigError(f"{what}: {value} is not a positive amount")
    return value


def open_dispute(store: Store, invoice: str, *, reason: str, by: str, amount: str | Decimal | None = None,
                 owner: str | None = None, comment: str | None = None, origin: str = "cli",
                 on: dt.date | None = None, reasons: dict[str, tuple[str, str]] | None = None) -> DisputeRow:
    """Open a dispute on ``invoice`` (an open one on the same invoice is returned as it is, with the
    comment added: one dispute per invoice at a time)."""
    with store.session() as s:
        inv = _invoice(s, invoice)
        row, _ = open_dispute_in(s, inv, reason=reason, by=by, amount=amount, owner=owner, comment=comment,
                                 origin=origin, on=on, reasons=reasons)
        s.expunge(row)
    return row


def open_dispute_in(s: Session, inv: InvoiceRow, *, reason: str, by: str, amount: str | Decimal | None = None,
                    owner: str | None = None, comment: str | None = None, origin: str = "cli",
                    on: dt.date | None = None, reasons: dict[str, tuple[str, str]] | None = None,
                    ) -> tuple[DisputeRow, bool]:
    """:func:`open_dispute` inside the caller's transaction ``s`` (a received lifecycle status, a
    reviewer's decision on a short payment: the dispute is recorded with what caused it, or not at
    all). Returns the dispute and whether it is new (False: the invoice's open dispute, the
    comment added to it)."""
    table = _reasons(reasons)
    if reason not in table:
        raise ConfigError(f"unknown dispute reason {reason!r}; use one of {', '.join(table)}")
    if origin not in ORIGINS:
        raise ConfigError(f"unknown dispute origin {origin!r}; one of {', '.join(ORIGINS)}")
    if not by.strip():
        raise ConfigError("say who opens the dispute (--by)")
    value = _amount(amount, "the amount in dispute")
    now = utcnow()
    if value is not None and value > inv.payable:
        raise ConfigError(f"{value} {inv.currency} in dispute is more than invoice {inv.number}'s total {inv.payable}")
    row = s.scalar(select(DisputeRow).where(DisputeRow.invoice_id == inv.id, DisputeRow.status.in_(OPEN_STATES)))
    if row is not None:
        if comment:
            row.comments = [*row.comments, {"at": now.isoformat(), "by": by, "text": comment}]
            row.updated_at = now
            s.flush()
        return row, False
    row = DisputeRow(invoice_id=inv.id, source=inv.source, invoice_number=inv.number, customer_key=inv.buyer_key,
                     amount=value, currency=inv.currency, reason_code=reason, adjustment_code=table[reason][1],
                     status="open", owner=owner, origin=origin, opened_by=by, opened_on=on or now.date(),
                     comments=[{"at": now.isoformat(), "by": by, "text": comment}] if comment else [],
                     created_at=now, updated_at=now)
    s.add(row)
    s.flush()
    audit_append(s, actor=by, action="dispute.opened", subject=f"invoice:{inv.source}:{inv.source_id}",
                 details={"dispute": row.id, "reason": reason, "amount": str(value) if value is not None else None,
                          "origin": origin, "comment": comment}, at=now)
    return row, True


def resolve_dispute(store: Store, dispute_id: int, *, outcome: str, by: str, comment: str | None = None,
                    on: dt.date | None = None) -> DisputeRow:
    if outcome not in OUTCOMES:
        raise ConfigError(f"unknown outcome {outcome!r}; use one of {', '.join(OUTCOMES)}")
    now = utcnow()
    with store.session() as s:
        row = s.get(DisputeRow, dispute_id)
        if row is None:
            raise ConfigError(f"no dispute {dispute_id}")
        if row.status not in OPEN_STATES:
            raise ConfigError(f"dispute {dispute_id} is already resolved ({row.outcome})")
        inv = s.get(InvoiceRow, row.invoice_id)
        row.status, row.outcome, row.resolved_by, row.resolved_on, row.updated_at = "resolved", outcome, by, on or now.date(), now
        if comment:
            row.comments = [*row.comments, {"at": now.isoformat(), "by": by, "text": comment}]
        audit_append(s, actor=by, action="dispute.resolved",
                     subject=f"invoice:{row.source}:{inv.source_id if inv else row.invoice_id}",
                     details={"dispute": row.id, "outcome": outcome, "comment": comment}, at=now)
        s.flush()
        s.expunge(row)
    return row


def disputes(store: Store, *, open_only: bool = True, source: str | None = None) -> list[DisputeRow]:
    with store.session() as s:
        q = select(DisputeRow).order_by(DisputeRow.opened_on, DisputeRow.id)
        if open_only:
            q = q.where(DisputeRow.status.in_(OPEN_STATES))
        if source:
            q = q.where(DisputeRow.source == source)
        return list(s.scalars(q))


def disputed_invoice_ids(s: Session) -> dict[int, DisputeRow]:
    """Invoice id -> its open dispute."""
    return {d.invoice_id: d for d in s.scalars(select(DisputeRow).where(DisputeRow.status.in_(OPEN_STATES)))}


def add_promise(store: Store, invoices: Iterable[str], *, amount: str | Decimal, due_on: dt.date, by: str,
                note: str | None = None, origin: str = "cli", on: dt.date | None = None) -> PromiseRow:
    """Record a customer's promise to pay ``amount`` by ``due_on`` for ``invoices`` (all of one customer)."""
    value = _amount(amount, "the promised amount")
    if value is None:
        raise ConfigError("give the promised amount")
    if not by.strip():
        raise ConfigError("say who took the promise (--by)")
    now = utcnow()
    with store.session() as s:
        rows = [_invoice(s, ref) for ref in invoices]
        if not rows:
            raise ConfigError("name the invoice(s) the promise covers")
        buyers = {(r.buyer_key or r.buyer_name) for r in rows}
        if len(buyers) > 1:
            raise ConfigError(f"the invoices belong to {len(buyers)} customers; a promise covers one customer's invoices")
        currencies = {r.currency for r in rows}
        if len(currencies) > 1:
            raise ConfigError("the invoices are in several currencies; record one promise per currency")
        taken = on or now.date()
        if due_on < taken:
            raise ConfigError(f"the promised date {due_on} is before the day the promise is taken ({taken})")
        row = PromiseRow(customer_key=rows[0].buyer_key or rows[0].buyer_name, customer_name=rows[0].buyer_name,
                         amount=value, currency=rows[0].currency, promised_on=taken, due_on=due_on,
                         invoice_ids=[r.id for r in rows], taken_by=by, origin=origin, note=note, status="open",
                         paid_amount=Decimal(0), created_at=now)
        s.add(row)
        s.flush()
        audit_append(s, actor=by, action="promise.taken", subject=f"customer:{row.customer_key}",
                     details={"promise": row.id, "amount": str(value), "currency": row.currency, "due_on": due_on.isoformat(),
                              "invoices": [f"{r.source}:{r.number}" for r in rows], "origin": origin}, at=now)
        s.expunge(row)
    return row


def upsert_crm_promise(s: Session, *, source: str, source_id: str, invoices: list[InvoiceRow], amount: Decimal,
                       due_on: dt.date, promised_on: dt.date, taken_by: str, note: str | None) -> str:
    """Store the promise a CRM task records, keyed by (``source``, ``source_id``): ``inserted``,
    ``updated`` (an open promise whose amount, date, invoices, owner or note changed in the CRM) or
    ``unchanged`` (the same again, or a promise already kept or broken: its outcome stands)."""
    now = utcnow()
    first = invoices[0]
    values = {"amount": amount, "due_on": due_on, "invoice_ids": [r.id for r in invoices], "taken_by": taken_by,
              "note": note}
    row = s.scalar(select(PromiseRow).where(PromiseRow.source == source, PromiseRow.source_id == source_id))
    details = {"amount": str(amount), "currency": first.currency, "due_on": due_on.isoformat(),
               "invoices": [f"{r.source}:{r.number}" for r in invoices], "origin": "crm", "task": f"{source}:{source_id}"}
    if row is None:
        row = PromiseRow(customer_key=first.buyer_key or first.buyer_name, customer_name=first.buyer_name,
                         currency=first.currency, promised_on=min(promised_on, due_on), origin="crm", status="open",
                         paid_amount=Decimal(0), created_at=now, source=source, source_id=source_id, **values)
        s.add(row)
        s.flush()
        audit_append(s, actor=taken_by, action="promise.taken", subject=f"customer:{row.customer_key}",
                     details={"promise": row.id, **details}, at=now)
        return "inserted"
    if row.status != "open" or all(getattr(row, k) == v for k, v in values.items()):
        return "unchanged"
    for k, v in values.items():
        setattr(row, k, v)
    row.customer_key, row.customer_name, row.currency = first.buyer_key or first.buyer_name, first.buyer_name, first.currency
    s.flush()
    audit_append(s, actor=taken_by, action="promise.updated", subject=f"customer:{row.customer_key}",
                 details={"promise": row.id, **details}, at=now)
    return "updated"


@dataclass
class PromiseCheck:
    kept: int = 0
    broken: int = 0
    open: int = 0


def check_promises(store: Store, as_of: dt.date, *, grace_days: int = 3) -> PromiseCheck:
    """Mark each open promise ``kept`` when the cash applied to its invoices since it was taken
    (allocations auto or accepted, booked on or before ``as_of``) covers it, ``broken`` when its
    date plus ``grace_days`` has passed without; the paid amount is kept up to date either way."""
    from o2c.store.cash import APPLIED, CashAllocation

    out = PromiseCheck()
    now = utcnow()
    with store.session() as s:
        for p in s.scalars(select(PromiseRow).where(PromiseRow.status == "open")):
            paid = Decimal(0)
            for amount, booked, created in s.execute(
                    select(CashAllocation.amount, CashAllocation.booking_date, CashAllocation.created_at)
                    .where(CashAllocation.invoice_id.in_(p.invoice_ids), CashAllocation.status.in_(APPLIED))):
                day = booked or created.date()
                if p.promised_on <= day <= as_of:
                    paid += amount
            p.paid_amount, p.checked_on = paid, as_of
            if paid >= p.amount:
                p.status = "kept"
                out.kept += 1
            elif as_of > p.due_on + dt.timedelta(days=grace_days):
                p.status = "broken"
                out.broken += 1
            else:
                out.open += 1
                continue
            audit_append(s, actor="o2c:collections", action=f"promise.{p.status}", subject=f"customer:{p.customer_key}",
                         details={"promise": p.id, "amount": str(p.amount), "paid": str(paid), "due_on": p.due_on.isoformat(),
                                  "as_of": as_of.isoformat()}, at=now)
    return out


def promises(store: Store, *, status: str | None = "open") -> list[PromiseRow]:
    with store.session() as s:
        q = select(PromiseRow).order_by(PromiseRow.due_on, PromiseRow.id)
        if status:
            q = q.where(PromiseRow.status == status)
        return list(s.scalars(q))


def risk_frames(store: Store, party_of_invoice: dict[int, str]) -> tuple[Any, Any]:
    """(disputes, promises) frames in the layout :func:`matching.risk.risk_flags` reads, keyed by
    the risk job's customer ids (``party_of_invoice``: invoice id -> customer id)."""
    import pandas as pd

    with store.session() as s:
        ds = [{"customer_id": party_of_invoice.get(d.invoice_id, d.customer_key or ""), "invoice_id": d.invoice_number,
               "opened_date": d.opened_on.isoformat(), "status": "open",
               "amount": str(d.amount if d.amount is not None else _open_of(s, d.invoice_id))}
              for d in s.scalars(select(DisputeRow).where(DisputeRow.status.in_(OPEN_STATES)))]
        ps = [{"customer_id": next((party_of_invoice[i] for i in p.invoice_ids if i in party_of_invoice), p.customer_key),
               "promised_date": p.due_on.isoformat(), "amount": str(p.amount), "paid_amount": str(p.paid_amount)}
              for p in s.scalars(select(PromiseRow).where(PromiseRow.status.in_(("open", "broken"))))]
    return (pd.DataFrame(ds, columns=["customer_id", "invoice_id", "opened_date", "status", "amount"]),
            pd.DataFrame(ps, columns=["customer_id", "promised_date", "amount", "paid_amount"]))


def _open_of(s: Session, invoice_id: int) -> Decimal:
    from o2c.store.cash import applied_amounts, open_amount

    inv = s.get(InvoiceRow, invoice_id)
    if inv is None:
        return Decimal(0)
    return abs(open_amount(inv, applied_amounts(s, [inv.id]))) or receivable_amount(inv.type_code, inv.payable)


# -- dunning (relance) -------------------------------------------------------------------------
REMINDER_STATES = ("draft", "awaiting_approval", "pending", "sending", "sent", "failed", "cannot_send", "withdrawn")


class ReminderRow(Base):
    """One reminder: a customer, a currency, a day, the level; what it asks for, line by line."""

    __tablename__ = "dunning_reminder"
    __table_args__ = (
        Index("ix_dunning_reminder_customer", "customer_id", "currency", "as_of"),
        Index("ix_dunning_reminder_status", "status"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # customer|currency|as_of: one per day
    run_id: Mapped[str | None] = mapped_column(String(64))
    as_of: Mapped[dt.date] = mapped_column()
    customer_id: Mapped[str] = mapped_column(String(200))
    customer_name: Mapped[str] = mapped_column(String(250))
    currency: Mapped[str] = mapped_column(String(3))
    level: Mapped[int] = mapped_column(Integer)
    due: Mapped[Decimal] = mapped_column(Amount())
    credits: Mapped[Decimal] = mapped_column(Amount())
    interest: Mapped[Decimal] = mapped_column(Amount())
    indemnity: Mapped[Decimal] = mapped_column(Amount())
    total: Mapped[Decimal] = mapped_column(Amount())
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    credit_notes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    language: Mapped[str | None] = mapped_column(String(35))
    recipients: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SkipRow(Base):
    """An overdue invoice a dunning run left out, and why (one row per invoice and day)."""

    __tablename__ = "dunning_skip"
    __table_args__ = (Index("ix_dunning_skip_as_of", "as_of", "invoice_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    as_of: Mapped[dt.date] = mapped_column()
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    invoice_number: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text)
