"""Cash application results: allocations, unapplied cash, write-off candidates and flags, each with
the run that produced them; which bank entries a run has already decided; and the cash lock.

The cash lock (:func:`cash_session`) serialises everything that decides how much of an invoice is
paid: cash application runs and reviewer decisions. Each reads the open amounts and writes
allocations in one transaction holding it, so no one applies cash against an open amount that
another has just consumed (two runs both paying an invoice in full, an accepted suggestion on
an invoice a run has just settled), and two runs never decide the same bank entry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import math
import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column

from matching.learning import Decision, Learned
from o2c.store.models import Amount, Base, CustomerRow, InvoiceRow, UTCDateTime
from o2c.store.parties import PartyLink
from schemas.errors import ConfigError, RetriableError
from schemas.invoice import is_credit_note_type, receivable_amount

if TYPE_CHECKING:
    from o2c.store import Store

log = logging.getLogger(__name__)

# -- open items and applied cash, read by the cash, review, risk and write-back jobs ---------
#: allocation statuses that are applied cash
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


class Applied(dict[int, Decimal]):
    """Hub cash counted against each invoice (invoice id -> amount), and the ERP's own open amounts.

    For an invoice whose source sends its settlement state (``invoice_settlement``), the ERP's open
    amount is the base and only the hub's cash **in transit** counts against it: applied
    allocations (``auto``, ``accepted``) whose payment the ERP has not recorded yet, found by the
    key the write-back wrote in the ERP's payment description (a payment's, or a netting's for every
    allocation it carries out), and write-offs whose write-off the ERP does not show yet (by the key
    of their ``write_off`` command). An allocation the ERP shows is counted once, in the ERP's figure. For an invoice without
    an ERP state, all the hub's applied cash counts against BT-115 (the hub's own estimate).

    ``erp_open``: invoice id -> the ERP's open amount, receivable sign (negative for a credit note);
    ``recorded``: invoice id -> the hub cash the ERP has recorded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.erp_open: dict[int, Decimal] = {}
        self.recorded: dict[int, Decimal] = defaultdict(Decimal)
        self.matched: dict[int, str] = {}  # allocation id -> how the ERP's record of it was found
        self.matched_lines: set[tuple[int, str]] = set()  # (invoice id, ERP line id) taken as the hub's payments


#: how many days an ERP payment's date may be from the hub's booking date to be recognised as the
#: same payment when it carries no key of the hub (an ERP the hub does not write payments to)
SAME_PAYMENT_DAYS = 7


def applied_amounts(s: Any, invoice_ids: list[int] | None = None) -> Applied:
    """The hub's cash counted against each invoice (all invoices, or only ``invoice_ids``): see
    :class:`Applied`.

    The ERP records an allocation when one of the invoice's settlement lines carries the key of
    its write-back command. A payment someone entered in the ERP by hand (or an ERP the hub does
    not write payments to) carries no key: a settlement line of kind ``payment`` without a key, of
    the allocation's amount, dated within :data:`SAME_PAYMENT_DAYS` of the bank booking (or naming
    the bank reference), is taken as that same payment, each ERP line for one allocation at most.
    ``Applied.matched`` says which way each recorded allocation was recognised.
    """
    from o2c.store.receivables import SettlementRow
    from o2c.store.writeback import WriteBackRow
    from schemas.settlement import HUB_KEY

    applied = Applied()
    seen: dict[int, set[str]] = {}
    unkeyed: dict[int, list[dict[str, Any]]] = {}
    settled = select(SettlementRow.invoice_id, SettlementRow.open_amount, SettlementRow.lines, InvoiceRow.type_code) \
        .join(InvoiceRow, InvoiceRow.id == SettlementRow.invoice_id)
    allocs = select(CashAllocation.id, CashAllocation.invoice_id, CashAllocation.amount, CashAllocation.booking_date,
                    CashAllocation.bank_ref).where(CashAllocation.status.in_(APPLIED)).order_by(CashAllocation.id)
    offs = select(CashWriteOff.id, CashWriteOff.invoice_id, CashWriteOff.amount)
    if invoice_ids is not None:
        settled = settled.where(SettlementRow.invoice_id.in_(invoice_ids))
        allocs = allocs.where(CashAllocation.invoice_id.in_(invoice_ids))
        offs = offs.where(CashWriteOff.invoice_id.in_(invoice_ids))
    for inv_id, erp_open, lines, type_code in s.execute(settled):
        applied.erp_open[inv_id] = receivable_amount(type_code, erp_open)
        seen[inv_id] = set()
        unkeyed[inv_id] = []
        for line in lines or []:
            found = HUB_KEY.search(str(line.get("reference") or ""))
            if found:
                seen[inv_id].add(found.group(1))
            elif line.get("kind") == "payment":
                unkeyed[inv_id].append(line)
    rows = s.execute(allocs).all()
    # the keys of the commands that carry each allocation out (a payment, or a netting of several
    # allocations), and of each write-off's command: found in the ERP's settlement lines, the ERP
    # has recorded them (a reversed payment's key is no longer there)
    keys: dict[int, set[str]] = defaultdict(set)
    with_erp = [row[0] for row in rows if row[1] in seen]
    for i in range(0, len(with_erp), 500):
        for alloc_id, key in s.execute(select(WriteBackRow.allocation_id, WriteBackRow.idempotency_key)
                                       .where(WriteBackRow.allocation_id.in_(with_erp[i:i + 500]),
                                              WriteBackRow.kind.in_(("payment", "netting")))):
            keys[alloc_id].add(key)
    off_keys: dict[int, str] = {}
    # a netting's key is on the payment of its invoices' share, not on its credit notes: seen on
    # any document of the ERP, it is recorded for every allocation it carries out
    seen_anywhere = set().union(*seen.values()) if seen else set()
    netted: dict[int, set[str]] = defaultdict(set)
    if seen:
        for kind, key, payload in s.execute(select(WriteBackRow.kind, WriteBackRow.idempotency_key, WriteBackRow.payload)
                                            .where(WriteBackRow.kind.in_(("netting", "write_off")),
                                                   WriteBackRow.status.in_(("sent", "sending")))):
            if kind == "netting":
                for alloc_id in (payload or {}).get("allocations") or []:
                    netted[int(alloc_id)].add(key)
            elif (payload or {}).get("writeoff") is not None:
                off_keys[int(payload["writeoff"])] = key
    if netted:  # the other documents of those nettings may lie outside ``invoice_ids``
        docs = set(s.scalars(select(CashAllocation.invoice_id).where(CashAllocation.id.in_(sorted(netted)))))
        for lines in s.scalars(select(SettlementRow.lines).where(SettlementRow.invoice_id.in_(sorted(docs)))):
            seen_anywhere |= {m.group(1) for line in (lines or []) if (m := HUB_KEY.search(str(line.get("reference") or "")))}
    pending: list[tuple[int, int, Decimal, Any, str]] = []
    for alloc_id, inv_id, amount, booked, bank_ref in rows:
        if keys.get(alloc_id, set()) & seen.get(inv_id, set()) or (inv_id in seen and netted.get(alloc_id, set()) & seen_anywhere):
            applied.recorded[inv_id] += amount
            applied.matched[alloc_id] = "key"
        elif inv_id in unkeyed:
            pending.append((alloc_id, inv_id, amount, booked, bank_ref))
        else:
            applied[inv_id] = applied.get(inv_id, Decimal(0)) + amount
    for alloc_id, inv_id, amount, booked, bank_ref in pending:
        line = _same_payment(unkeyed[inv_id], amount, booked, bank_ref)
        if line is not None:
            unkeyed[inv_id].remove(line)
            applied.matched_lines.add((inv_id, str(line.get("id"))))
            applied.recorded[inv_id] += amount
            applied.matched[alloc_id] = f"ERP line {line.get('id')} (same amount and date, no key)"
        else:
            applied[inv_id] = applied.get(inv_id, Decimal(0)) + amount
    for off_id, inv_id, amount in s.execute(offs):
        if off_keys.get(off_id) in seen.get(inv_id, set()):
            applied.recorded[inv_id] += amount
        else:
            applied[inv_id] = applied.get(inv_id, Decimal(0)) + amount
    return applied


def _same_payment(lines: list[dict[str, Any]], amount: Decimal, booked: dt.date | None, bank_ref: str) -> dict[str, Any] | None:
    """The ERP payment line (without the hub's key) that is this allocation's payment, if any."""
    for line in lines:
        try:
            same_amount = Decimal(str(line.get("amount"))) == abs(amount)
        except ArithmeticError:
            continue
        if not same_amount:
            continue
        if bank_ref and bank_ref in str(line.get("reference") or ""):
            return line
        day = line.get("date")
        if booked is not None and day:
            try:
                if abs((dt.date.fromisoformat(str(day)[:10]) - booked).days) <= SAME_PAYMENT_DAYS:
                    return line
            except ValueError:
                continue
    return None


def open_amount(row: InvoiceRow, applied: dict[int, Decimal]) -> Decimal:
    """What is still open on an invoice (negative for a credit note): the ERP's open amount less
    the hub's cash in transit when the source sends its settlement state, else BT-115 less the
    hub's applied cash (``applied`` from :func:`applied_amounts`)."""
    erp = getattr(applied, "erp_open", {}).get(row.id)
    base = receivable_amount(row.type_code, row.payable) if erp is None else erp
    return base - applied.get(row.id, Decimal(0))


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


#: PostgreSQL advisory lock key of cash application: a fixed 64-bit number derived from its name
CASH_LOCK_KEY = int.from_bytes(hashlib.sha256(b"o2c-hub cash application").digest()[:8], "big", signed=True)
#: environment variable: how many seconds a run or a decision waits for the cash lock
CASH_LOCK_TIMEOUT_ENV = "O2C_CASH_LOCK_TIMEOUT"
DEFAULT_CASH_LOCK_TIMEOUT = 30.0


class CashLockBusy(RetriableError):
    """The cash lock stayed taken (another run or decision) for the whole wait: nothing was changed."""


def cash_lock_timeout() -> float:
    """Seconds to wait for the cash lock: ``O2C_CASH_LOCK_TIMEOUT``, else 30."""
    raw = os.environ.get(CASH_LOCK_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_CASH_LOCK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0 or value > 86400:
        raise ConfigError(f"{CASH_LOCK_TIMEOUT_ENV}={raw!r}: write a number of seconds between 0 and 86400, "
                          f"e.g. {DEFAULT_CASH_LOCK_TIMEOUT:g}")
    return value


def _busy(wait: float) -> CashLockBusy:
    return CashLockBusy(f"another cash application run or review decision is in progress (the cash lock stayed "
                        f"taken for {wait:g} s, {CASH_LOCK_TIMEOUT_ENV}); nothing was changed: try again once it "
                        "has finished")


def _sqlite_busy(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in str(exc.orig)


def take_cash_lock(s: Session, wait: float) -> None:
    """Take the cash lock for the rest of ``s``'s transaction, waiting at most ``wait`` seconds.

    Must come first in the transaction. PostgreSQL: the transaction-level advisory lock
    :data:`CASH_LOCK_KEY` (released at commit or rollback). SQLite: ``BEGIN IMMEDIATE``, the
    database's single write lock, taken before anything is read: the driver reads outside any
    transaction until the first write, which would let another writer commit between our reads.
    Raises :class:`CashLockBusy` when the wait runs out.
    """
    conn = s.connection()
    ms = max(1, int(wait * 1000))
    if conn.dialect.name == "postgresql":
        if conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": CASH_LOCK_KEY}).scalar():
            return
        log.info("waiting up to %g s for the cash lock (another cash application run or review decision holds it)", wait)
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
        try:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CASH_LOCK_KEY})
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
                raise _busy(wait) from None
            raise
        conn.exec_driver_sql("SET LOCAL lock_timeout = DEFAULT")
        return
    if conn.dialect.name != "sqlite":
        raise ConfigError(f"the hub store must be SQLite or PostgreSQL, not {conn.dialect.name} (O2C_DATABASE_URL)")
    before = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    try:
        conn.exec_driver_sql("PRAGMA busy_timeout = 0")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if not _sqlite_busy(exc):
                raise
        log.info("waiting up to %g s for the cash lock (another cash application run or review decision holds it)", wait)
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {ms}")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError as exc:
            if _sqlite_busy(exc):
                raise _busy(wait) from None
            raise
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(before or 0)}")


@contextmanager
def cash_session(store: Store, *, timeout: float | None = None) -> Iterator[Session]:
    """A store transaction holding the cash lock (:func:`take_cash_lock`): committed on success,
    rolled back on any error; the lock goes with the transaction. ``timeout``: seconds to wait for
    it (default :func:`cash_lock_timeout`). Open no other writing session inside it: on SQLite it
    would wait for this one."""
    wait = cash_lock_timeout() if timeout is None else timeout
    with store.session() as s:
        take_cash_lock(s, wait)
        yield s


class CashEntryDecision(Base):
    """A bank entry has been through cash application (so a re-run leaves it alone)."""

    __tablename__ = "cash_entry_decision"

    bank_entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entry.id", ondelete="CASCADE"), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))  # auto, suggested, unapplied, ignored
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class CashAllocation(Base):
    __tablename__ = "cash_allocation"
    __table_args__ = (
        UniqueConstraint("bank_entry_id", "invoice_id", name="uq_cash_allocation"),
        Index("ix_cash_allocation_invoice", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    bank_entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entry.id", ondelete="CASCADE"))
    bank_ref: Mapped[str] = mapped_column(String(100))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    invoice_number: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    confidence: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))  # auto, suggested, accepted, rejected
    rule: Mapped[str] = mapped_column(String(100))
    explanation: Mapped[str] = mapped_column(Text)
    booking_date: Mapped[dt.date | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class CashUnapplied(Base):
    __tablename__ = "cash_unapplied"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    bank_entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entry.id", ondelete="CASCADE"))
    bank_ref: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(100))
    customer_key: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # a reviewer placed this cash


class CashWriteOff(Base):
    __tablename__ = "cash_writeoff"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    bank_entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entry.id", ondelete="CASCADE"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(50))  # early_payment_discount, bank_charges
    explanation: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class CashFlag(Base):
    __tablename__ = "cash_flag"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    bank_entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entry.id", ondelete="CASCADE"))
    bank_ref: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(50))  # overpayment, duplicate_payment, ...
    message: Mapped[str] = mapped_column(Text)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id", ondelete="SET NULL"))
    amount: Mapped[Decimal | None] = mapped_column(Amount())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class RiskFlagRow(Base):
    """A customer risk flag computed by a risk-scoring run at an as-of date."""

    __tablename__ = "risk_flag"
    __table_args__ = (UniqueConstraint("as_of", "customer_key", "kind", "currency", name="uq_risk_flag"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[dt.date] = mapped_column()
    customer_key: Mapped[str] = mapped_column(String(100))
    customer_name: Mapped[str] = mapped_column(String(250))
    kind: Mapped[str] = mapped_column(String(50))
    severity: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Amount())
    currency: Mapped[str | None] = mapped_column(String(3))  # of ``amount`` (revision 0010)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class KpiDaily(Base):
    """Company KPIs of one day (DSO by count-back and simple method, CEI, ageing, cash application).

    One row per day in the company currency when every amount could be converted at the rates of
    that day (``converted``: amounts of other currencies are in it), else one row per currency,
    each in its own currency: amounts of different currencies are never added up (revision
    0010; rows computed before it, summed whatever their currency, carry ``XXX``).
    """

    __tablename__ = "kpi_daily"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    converted: Mapped[bool] = mapped_column(Boolean, default=False)
    run_id: Mapped[str] = mapped_column(String(64))
    receivables: Mapped[Decimal] = mapped_column(Amount())
    dso_countback: Mapped[Decimal | None] = mapped_column(Amount())
    dso_simple: Mapped[Decimal | None] = mapped_column(Amount())
    cei_30d: Mapped[Decimal | None] = mapped_column(Amount())
    not_due: Mapped[Decimal] = mapped_column(Amount())
    overdue_1_30: Mapped[Decimal] = mapped_column(Amount())
    overdue_31_60: Mapped[Decimal] = mapped_column(Amount())
    overdue_61_90: Mapped[Decimal] = mapped_column(Amount())
    overdue_90_plus: Mapped[Decimal] = mapped_column(Amount())
    unapplied_cash: Mapped[Decimal | None] = mapped_column(Amount())
    auto_match_rate: Mapped[float | None] = mapped_column(Float)
    invoice_hit_rate: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class CashReviewDecision(Base):
    """A reviewer's decision on one bank line: accept, reject or re-allocate its allocations.

    Kept for the audit trail, and replayed at every cash run to teach the engine the payer names
    and IBANs that belong to a customer (:mod:`matching.learning`).
    """

    __tablename__ = "cash_review_decision"
    __table_args__ = (Index("ix_cash_review_decision_entry", "bank_entry_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    bank_entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entry.id", ondelete="CASCADE"))
    bank_ref: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))  # accept, reject, reallocate
    customer_key: Mapped[str] = mapped_column(String(100))  # the party confirmed (or refused, for reject)
    previous_customer_key: Mapped[str | None] = mapped_column(String(100))  # the party the engine had proposed
    invoice_numbers: Mapped[str] = mapped_column(Text, default="")  # comma-separated, as allocated
    payer_name: Mapped[str | None] = mapped_column(String(200))
    payer_iban: Mapped[str | None] = mapped_column(String(50))
    reviewer: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


def learned_from_session(s: Any) -> Learned:
    """What reviewers taught (payer names and IBANs per customer), read in an open session (a cash run's,
    under the cash lock); :func:`o2c.jobs.cash_review.learned_from_store` reads it in a session of its own."""
    learned = Learned()
    for d in s.scalars(select(CashReviewDecision).order_by(CashReviewDecision.decided_at, CashReviewDecision.id)):
        if not d.customer_key:
            continue
        learned.record(Decision(d.action, bank_ref=d.bank_ref, customer_id=d.customer_key,
                                payer_name=d.payer_name or "", payer_iban=d.payer_iban or "",
                                previous_customer_id=d.previous_customer_key or ""))
    return learned
