"""Write the hub's results back to the source ERPs through an outbox (no Airflow here).

Every kind (payments, nettings, write-offs, reversals, credit holds, notes, dunning blocks) has its
enqueue function here and its connector method pair ``push_<kind>`` / ``find_<kind>``;
:func:`enqueue_all` runs them in the order the ERP must see them (docs/writeback.md). Payments:

Two steps, each safe to re-run:

1. :func:`enqueue_payments` turns every applied allocation (status ``auto`` or ``accepted``) of a
   positive amount on an invoice of a source whose connector declares it records payments
   (:class:`connectors.base.Capabilities`, :func:`supports_payments`) into one
   ``payment`` command (a bank line that nets invoices with credit notes is one ``netting``
   command instead, :func:`enqueue_nettings`, or held back for a source that takes none), each
   ``pending`` or, when the source's approval policy does not let it flow, ``awaiting_approval``
   (:mod:`o2c.jobs.approval`) (:class:`schemas.receivables.WriteBackCommand`) in the
   ``writeback_command`` table. The command's idempotency key is unique there: enqueuing again
   adds nothing. The payload names the bank transaction (the hub's line ``E<id>`` and its
   ``tx_index`` in a batch-booked entry), so two transactions of one batch paying one invoice
   the same amount are two commands, not one.
2. :func:`push_pending` sends the pending commands of one source through
   ``connector.push_<kind>(command)`` (``push_payment`` for payments), each after *claiming* it (``pending`` -> ``sending``,
   :func:`o2c.store.writeback.claim_next`), so two pushers running at once never send one
   command twice. Success marks the command ``sent`` with the remote
   reference; a :class:`RetriableError` puts it back to ``pending`` (attempts + 1, the error kept) and
   stops the run, since the system is unwell; a :class:`RejectedDocument` or a per-command
   :class:`FatalError` marks it ``failed`` with the reason; an :class:`OutcomeUnknown` (the call that
   writes timed out, lost its connection or got a 5xx: the ERP may have applied it, or still be
   applying it) keeps it ``sending`` under its claim, renewed, and stops the run: after the claim
   timeout it is looked up in the ERP like a stale claim, never re-sent blindly. Configuration and credential errors
   (:class:`ConfigError`, :class:`AuthError`, :class:`NotSupported`) leave every command pending
   and propagate: a person fixes the setting and runs again. Any other error leaves the command
   ``sending`` (whether the ERP applied it is unknown). A claim older than
   :func:`claim_timeout` is stale (its pusher died): the next push takes it over and first asks
   the ERP whether the command was applied (``connector.find_<kind>``), and only sends it when
   it was not. Connectors are expected to be idempotent on their side as well (the Tryton
   connector finds a payment by its key), so a command whose answer was lost is not applied twice.

Keys of older outboxes: rows enqueued before the payload named the bank transaction keep their
payload and key (the key is a hash of the stored payload, so it still checks, and the ERP finds
their payments by it); :func:`enqueue_payments` counts an allocation as enqueued when a row of
that allocation carries its current key or that older key (:func:`legacy_payment_key`).

>>> from o2c.store import Store
>>> store = Store("sqlite://")
>>> store.upgrade()
>>> enqueue_payments(store, sources=[])
0
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from connectors import capabilities
from connectors.base import WRITE_METHODS, NotSupported
from o2c.config import SourceConfig
from o2c.jobs.approval import enqueue_status
from o2c.store import Store, audit, utcnow
from o2c.store.bank import BankEntryRow
from o2c.store.cash import (
    APPLIED,  # allocation statuses that are applied cash
    CashAllocation,
    CashReviewDecision,
    CashWriteOff,
    RiskFlagRow,
    applied_amounts,
    open_amount,
)
from o2c.store.models import CustomerRow, InvoiceRow
from o2c.store.parties import PartyLink
from o2c.store.writeback import WriteBackRow, claim_next, finish_claim
from schemas.errors import AuthError, ConfigError, FatalError, OutcomeUnknown, RejectedDocument, RetriableError
from schemas.receivables import WriteBackCommand
from transport import faults

log = logging.getLogger(__name__)
ACTOR = "o2c:writeback"  # who the audit trail names for what the write-back job does by itself

INVOICE_TYPE = "380"  # commercial invoices take payments; credit notes are settled otherwise
ERROR_CHARS = 2000  # last_error is kept readable, not a whole traceback
CLAIM_TIMEOUT_ENV = "O2C_WRITEBACK_CLAIM_TIMEOUT"
#: seconds after which a ``sending`` claim counts as left by a pusher that died. It must exceed the
#: longest a live push of one command can take (the Tryton client: 60 s per call, 4 attempts, a
#: handful of calls), or a slow pusher and the one taking its claim over could both send it.
DEFAULT_CLAIM_TIMEOUT = 3600


def claim_timeout() -> dt.timedelta:
    """The stale-claim timeout in force: ``O2C_WRITEBACK_CLAIM_TIMEOUT`` seconds, else the default."""
    raw = os.environ.get(CLAIM_TIMEOUT_ENV, "").strip()
    if not raw:
        return dt.timedelta(seconds=DEFAULT_CLAIM_TIMEOUT)
    try:
        seconds = int(raw)
    except ValueError:
        seconds = -1
    if seconds < 0:
        raise ConfigError(f"{CLAIM_TIMEOUT_ENV}={raw!r}: write a whole number of seconds, e.g. {DEFAULT_CLAIM_TIMEOUT}")
    return dt.timedelta(seconds=seconds)


def supports_payments(kind: str) -> bool:
    """Whether the connector of ``kind`` declares that it records payments (``push_payment`` and
    ``find_payment``: ``tryton`` and ``odoo``)."""
    return capabilities(kind).payments


def supports(kind: str, command_kind: str) -> bool:
    """Whether the connector of ``kind`` declares that it takes commands of ``command_kind``."""
    return capabilities(kind).supports(command_kind)


def _configured(sources: Iterable[SourceConfig] | None) -> list[SourceConfig]:
    if sources is None:
        from o2c.settings import get_settings
        from o2c.sources import load_sources

        sources = load_sources(get_settings().sources_file)
    return [s for s in sources if s.enabled]


def sources_taking(command_kind: str, sources: Iterable[SourceConfig] | None = None) -> list[str]:
    """Names of the configured sources (default: the sources file) that take ``command_kind`` commands."""
    return [s.name for s in _configured(sources) if supports(s.kind, command_kind)]


def payment_sources(sources: Iterable[SourceConfig] | None = None) -> list[str]:
    """Names of the configured sources (default: the sources file) that take payment write-back."""
    return sources_taking("payment", sources)


def payment_command(allocation: CashAllocation, invoice: InvoiceRow, tx_index: int = 0,
                    decision: int | None = None) -> WriteBackCommand:
    """The ``payment`` command of one applied allocation (amount as a string, never a float).

    ``bank_entry`` (the hub's bank line, one per transaction of a batch) and ``tx_index`` make
    the key differ for each transaction: one batch-booked entry (one bank reference) with two
    transactions of the same amount to one invoice is two payments. ``decision``: the reviewer's
    decision that (re-)allocated the cash (``D<id>``): an allocation rejected, or re-allocated,
    then re-allocated to the same invoice is a new payment with a key of its own (the one sent
    before it is reversed, :func:`enqueue_reversals`)."""
    day = allocation.booking_date or allocation.created_at.date()
    payload: dict[str, Any] = {
        "amount": str(allocation.amount),
        "currency": allocation.currency,
        "date": day.isoformat(),
        "bank_ref": allocation.bank_ref,
        "invoice_number": invoice.number,
        "bank_entry": f"E{allocation.bank_entry_id}",
        "tx_index": tx_index,
    }
    if decision is not None:
        payload["decision"] = f"D{decision}"
    return WriteBackCommand(
        source=invoice.source,
        kind="payment",
        target_id=invoice.source_id,
        payload=payload,
        reason=f"cash allocation {allocation.id} ({allocation.status}, rule {allocation.rule}) of bank entry "
               f"{allocation.bank_ref} (line E{allocation.bank_entry_id})",
    )


def legacy_payment_key(command: WriteBackCommand) -> str:
    """The key the same payment had before payloads named the bank transaction (outbox rows
    written then keep it): the key of the payload without ``bank_entry`` and ``tx_index``."""
    payload = {k: v for k, v in command.payload.items() if k not in ("bank_entry", "tx_index", "decision")}
    return WriteBackCommand(source=command.source, kind=command.kind, target_id=command.target_id, payload=payload,
                            reason=command.reason).idempotency_key


def _reallocations(s: Any, entry_ids: Iterable[int]) -> dict[int, tuple[int, dt.datetime]]:
    """Bank entry id -> (id, time) of the latest reviewer decision that re-allocated its cash."""
    ids = sorted(set(entry_ids))
    out: dict[int, tuple[int, dt.datetime]] = {}
    for i in range(0, len(ids), 500):
        latest = (select(CashReviewDecision.bank_entry_id, func.max(CashReviewDecision.id).label("last"))
                  .where(CashReviewDecision.bank_entry_id.in_(ids[i:i + 500]), CashReviewDecision.action == "reallocate")
                  .group_by(CashReviewDecision.bank_entry_id).subquery())
        for entry_id, decision_id, at in s.execute(
                select(latest.c.bank_entry_id, latest.c.last, CashReviewDecision.decided_at)
                .join(CashReviewDecision, CashReviewDecision.id == latest.c.last)):
            out[entry_id] = (decision_id, at)
    return out


def _decision_of(alloc: CashAllocation, reallocations: dict[int, tuple[int, dt.datetime]]) -> tuple[int, dt.datetime] | None:
    """The reallocation decision an allocation was placed by (rule ``reviewer``), else None."""
    return reallocations.get(alloc.bank_entry_id) if alloc.rule == "reviewer" else None


def _subject(command: WriteBackCommand) -> str:
    """The audit subject of a command: the invoice or the party it changes."""
    on_party = command.kind == "credit_hold" or (command.kind == "note" and command.payload.get("on") == "party")
    return f"{'party' if on_party else 'invoice'}:{command.source}:{command.target_id}"


def _policy(sources: Iterable[SourceConfig] | None, name: str) -> Any:
    """The write-back approval policy of source ``name`` (``SourceConfig.writeback``), or None when
    it is not among ``sources`` (default: the sources file)."""
    for src in _configured(sources):
        if src.name == name:
            return src.writeback
    return None


def _add(s: Any, cmd: WriteBackCommand, now: dt.datetime, *, allocation_id: int | None = None, actor: str = ACTOR,
         details: dict[str, Any] | None = None, policy: Any = None, allocation_status: str | None = None) -> bool:
    """Add ``cmd`` to the outbox with its audit entry, unless its key is there already: ``pending``
    when the source's approval ``policy`` lets it flow, else ``awaiting_approval`` (a source with no
    policy known here: waits), with why in the audit entry."""
    from o2c.jobs.approval import AWAITING

    key = cmd.idempotency_key
    if s.scalar(select(WriteBackRow.id).where(WriteBackRow.idempotency_key == key)) is not None:
        return False
    if policy is None:
        status, why = AWAITING, f"no write-back policy known for source {cmd.source!r}: every command waits for a person"
    else:
        status, why = enqueue_status(policy, cmd, allocation_status)
    s.add(WriteBackRow(source=cmd.source, kind=cmd.kind, target_id=cmd.target_id, payload=cmd.payload, reason=cmd.reason,
                       idempotency_key=key, allocation_id=allocation_id, status=status, attempts=0, created_at=now))
    audit.append(s, actor=actor, action="writeback.enqueued", subject=_subject(cmd),
                 details={"kind": cmd.kind, "key": key, "allocation": allocation_id, **(details or {}), "payload": cmd.payload,
                          "status": status, "policy": why},
                 at=now)
    return True


def _netted_entries(s: Any, names: list[str]) -> set[int]:
    """Bank entries whose applied cash nets invoices with credit notes (of these sources)."""
    return set(s.scalars(select(CashAllocation.bank_entry_id).join(InvoiceRow, InvoiceRow.id == CashAllocation.invoice_id)
                         .where(CashAllocation.status.in_(APPLIED), InvoiceRow.type_code != INVOICE_TYPE)))


def enqueue_payments(store: Store, *, sources: Iterable[SourceConfig] | None = None) -> int:
    """Add one ``payment`` command per applied allocation not yet in the outbox; return how many
    were added. ``sources`` limits it to these sources (default: the configured sources whose
    connector supports payments). A bank line that nets invoices with credit notes is not a
    plain payment (recording the invoices as paid would book more cash than the bank received):
    it is one ``netting`` command (:func:`enqueue_nettings`) where the source takes them, and is
    held back otherwise."""
    names = payment_sources(sources)
    if not names:
        return 0
    added = 0
    with store.session() as s:
        rows = s.execute(
            select(CashAllocation, InvoiceRow, BankEntryRow.document)
            .join(InvoiceRow, InvoiceRow.id == CashAllocation.invoice_id)
            .join(BankEntryRow, BankEntryRow.id == CashAllocation.bank_entry_id)
            .where(CashAllocation.status.in_(APPLIED), InvoiceRow.source.in_(names), InvoiceRow.type_code == INVOICE_TYPE)
            .order_by(CashAllocation.id)
        ).all()
        netted = _netted_entries(s, names)
        netting = set(sources_taking("netting", sources)) if netted else set()
        held = {alloc.bank_entry_id for alloc, inv, _ in rows if alloc.bank_entry_id in netted and inv.source not in netting}
        if held:
            log.info("write-back: %d bank line(s) net invoices with credit notes for a source that takes no netting "
                     "commands; not sent as payments (reconcile the credit notes in the ERP)", len(held))
        reallocations = _reallocations(s, [alloc.bank_entry_id for alloc, _, _ in rows])
        # amounts are stored as exact decimal text: compared here, not in SQL
        commands = [(alloc, payment_command(alloc, inv, int((doc or {}).get("tx_index") or 0),
                                            (_decision_of(alloc, reallocations) or (None,))[0]))
                    for alloc, inv, doc in rows if alloc.amount > 0 and alloc.bank_entry_id not in netted]
        keys = [cmd.idempotency_key for _, cmd in commands]
        known: set[str] = set()
        for i in range(0, len(keys), 500):
            known.update(s.scalars(select(WriteBackRow.idempotency_key)
                                   .where(WriteBackRow.idempotency_key.in_(keys[i:i + 500]))))
        # rows enqueued before the payload named the bank transaction carry the legacy key; only
        # a row of the same allocation counts (another transaction of the batch had the same one).
        # A re-allocated allocation counts as enqueued only by a row written after its decision.
        alloc_ids = [alloc.id for alloc, _ in commands]
        earlier: dict[int, list[tuple[str, dt.datetime]]] = {}
        for i in range(0, len(alloc_ids), 500):
            for alloc_id, key, at in s.execute(select(WriteBackRow.allocation_id, WriteBackRow.idempotency_key,
                                                      WriteBackRow.created_at)
                                               .where(WriteBackRow.allocation_id.in_(alloc_ids[i:i + 500]),
                                                      WriteBackRow.kind == "payment")):
                earlier.setdefault(alloc_id, []).append((key, at))
        now = utcnow()
        for alloc, cmd in commands:
            key = cmd.idempotency_key
            decision = _decision_of(alloc, reallocations)
            mine = earlier.get(alloc.id, [])
            if decision is not None:
                done = any(at >= decision[1] for _, at in mine)
            else:
                done = any(k == legacy_payment_key(cmd) for k, _ in mine)
            if key in known or done:
                continue
            known.add(key)
            added += _add(s, cmd, now, allocation_id=alloc.id, details={"allocation_status": alloc.status},
                          policy=_policy(sources, cmd.source), allocation_status=alloc.status)
    log.info("write-back: %d payment command(s) enqueued", added)
    return added


def enqueue_nettings(store: Store, *, sources: Iterable[SourceConfig] | None = None) -> int:
    """One ``netting`` command per applied bank line that nets invoices with credit notes, for the
    sources that take them (Tryton: pay each invoice its share of the cash, then reconcile the
    credit notes with the invoices). The payload lists the invoices (their allocation and their
    share of the cash: oldest due first), the credit notes (their allocation, negative) and the
    allocations it carries out, whose ids are part of the key. Return how many were added."""
    names = sources_taking("netting", sources)
    if not names:
        return 0
    added = 0
    with store.session() as s:
        netted = _netted_entries(s, names)
        if not netted:
            return 0
        rows = s.execute(select(CashAllocation, InvoiceRow, BankEntryRow.document)
                         .join(InvoiceRow, InvoiceRow.id == CashAllocation.invoice_id)
                         .join(BankEntryRow, BankEntryRow.id == CashAllocation.bank_entry_id)
                         .where(CashAllocation.status.in_(APPLIED), CashAllocation.bank_entry_id.in_(sorted(netted)))
                         .order_by(CashAllocation.bank_entry_id, CashAllocation.id)).all()
        lines: dict[int, list[tuple[CashAllocation, InvoiceRow, Any]]] = {}
        for alloc, inv, doc in rows:
            lines.setdefault(alloc.bank_entry_id, []).append((alloc, inv, doc))
        reallocations = _reallocations(s, lines)
        now = utcnow()
        for entry_id, allocs in lines.items():
            sources_of = {inv.source for _, inv, _ in allocs}
            if len(sources_of) != 1 or not sources_of <= set(names):
                continue
            invoices = sorted([(a, inv) for a, inv, _ in allocs if inv.type_code == INVOICE_TYPE],
                              key=lambda p: (p[1].due_date or p[1].issue_date, p[1].number))
            credits = [(a, inv) for a, inv, _ in allocs if inv.type_code != INVOICE_TYPE]
            if not invoices:
                continue
            cash = sum((a.amount for a, _, _ in allocs), Decimal(0))
            shares = []
            for a, inv in invoices:
                share = max(Decimal(0), min(a.amount, cash))
                cash -= share
                shares.append({"id": inv.source_id, "number": inv.number, "amount": str(a.amount), "cash": str(share)})
            first, inv0, doc = allocs[0][0], invoices[0][1], allocs[0][2]
            decision = next((d for a, _, _ in allocs if (d := _decision_of(a, reallocations))), None)
            payload: dict[str, Any] = {
                "bank_entry": f"E{entry_id}", "tx_index": int((doc or {}).get("tx_index") or 0), "bank_ref": first.bank_ref,
                "date": (first.booking_date or first.created_at.date()).isoformat(), "currency": first.currency,
                "invoices": shares,
                "credit_notes": [{"id": inv.source_id, "number": inv.number, "amount": str(a.amount)} for a, inv in credits],
                "allocations": sorted(a.id for a, _, _ in allocs),
            }
            if decision is not None:
                payload["decision"] = f"D{decision[0]}"
            cmd = WriteBackCommand(source=inv0.source, kind="netting", target_id=inv0.source_id, payload=payload,
                                   reason=f"bank line E{entry_id} ({first.bank_ref}) nets "
                                          f"{', '.join(inv.number for _, inv in invoices)} with "
                                          f"{', '.join(inv.number for _, inv in credits)}")
            added += _add(s, cmd, now, allocation_id=first.id, details={"allocations": payload["allocations"]},
                          policy=_policy(sources, cmd.source), allocation_status=first.status)
    log.info("write-back: %d netting command(s) enqueued", added)
    return added


#: what the hub writes off (o2c.store.cash.CashWriteOff.reason) -> the source option that names the ERP's method
WRITE_OFF_REASONS = ("early_payment_discount", "bank_charges", "small_difference")


def enqueue_write_offs(store: Store, *, sources: Iterable[SourceConfig] | None = None) -> int:
    """One ``write_off`` command per write-off of the hub (an early-payment discount, bank charges, a
    small difference) whose bank line's cash on that invoice is applied, for the sources that take
    them. Its key holds the write-off's id; it is sent after the payment of the same line (the
    outbox goes oldest first) and writes off what the payment left open. Return how many were added."""
    names = sources_taking("write_off", sources)
    if not names:
        return 0
    added = 0
    with store.session() as s:
        rows = s.execute(select(CashWriteOff, InvoiceRow, CashAllocation)
                         .join(InvoiceRow, InvoiceRow.id == CashWriteOff.invoice_id)
                         .join(CashAllocation, (CashAllocation.bank_entry_id == CashWriteOff.bank_entry_id)
                               & (CashAllocation.invoice_id == CashWriteOff.invoice_id))
                         .where(CashAllocation.status.in_(APPLIED), InvoiceRow.source.in_(names))
                         .order_by(CashWriteOff.id)).all()
        now = utcnow()
        for off, inv, alloc in rows:
            if off.amount <= 0:
                continue
            reason = off.reason if off.reason in WRITE_OFF_REASONS else "small_difference"
            cmd = WriteBackCommand(source=inv.source, kind="write_off", target_id=inv.source_id, payload={
                "writeoff": off.id, "reason": reason, "amount": str(off.amount), "currency": off.currency,
                "date": (alloc.booking_date or alloc.created_at.date()).isoformat(), "invoice_number": inv.number,
                "bank_entry": f"E{off.bank_entry_id}", "bank_ref": alloc.bank_ref,
            }, reason=off.explanation or f"write-off {off.id} ({reason})")
            added += _add(s, cmd, now, allocation_id=alloc.id, details={"writeoff": off.id},
                          policy=_policy(sources, cmd.source), allocation_status=alloc.status)
    log.info("write-back: %d write-off command(s) enqueued", added)
    return added


def enqueue_reversals(store: Store, *, sources: Iterable[SourceConfig] | None = None) -> int:
    """One ``reversal`` command per payment already in the ERP (``sent``) whose allocation a reviewer
    has since rejected or re-allocated (it is no longer applied, or a re-allocation newer than the
    payment placed it again: that new placement is a new payment, :func:`enqueue_payments`). The
    key holds the reversed payment's key: a payment is reversed once. Return how many were added."""
    names = sources_taking("reversal", sources)
    if not names:
        return 0
    added = 0
    with store.session() as s:
        sent = s.execute(select(WriteBackRow, CashAllocation)
                         .join(CashAllocation, CashAllocation.id == WriteBackRow.allocation_id)
                         .where(WriteBackRow.kind == "payment", WriteBackRow.status == "sent", WriteBackRow.source.in_(names))
                         .order_by(WriteBackRow.id)).all()
        if not sent:
            return 0
        reversed_ = {str((r.payload or {}).get("payment_key")) for r in s.scalars(
            select(WriteBackRow).where(WriteBackRow.kind == "reversal", WriteBackRow.source.in_(names)))}
        decisions = _reallocations(s, [alloc.bank_entry_id for _, alloc in sent])
        now = utcnow()
        for row, alloc in sent:
            if row.idempotency_key in reversed_:
                continue
            decision = _decision_of(alloc, decisions)
            applied = alloc.status in APPLIED
            if applied and (decision is None or decision[1] <= row.created_at):
                continue  # still the allocation the payment carried out
            last = s.scalar(select(CashReviewDecision).where(CashReviewDecision.bank_entry_id == alloc.bank_entry_id)
                            .order_by(CashReviewDecision.id.desc()).limit(1))
            why = "re-allocated" if applied or (last is not None and last.action == "reallocate") else "rejected"
            cmd = WriteBackCommand(source=row.source, kind="reversal", target_id=row.target_id, payload={
                "payment_key": row.idempotency_key, "payment_ref": row.remote_ref, "amount": row.payload.get("amount"),
                "invoice_number": row.payload.get("invoice_number"), "allocation": alloc.id, "why": why,
                "decision": f"D{last.id}" if last is not None else None,
            }, reason=f"payment {row.idempotency_key} of allocation {alloc.id} {why}"
                      + (f" by {last.reviewer}" if last is not None else ""))
            added += _add(s, cmd, now, policy=_policy(sources, cmd.source), actor=last.reviewer if last is not None else ACTOR,
                          details={"reverses": row.idempotency_key, "allocation_status": alloc.status})
    log.info("write-back: %d reversal command(s) enqueued", added)
    return added


#: the party category the hub manages in the ERP for its credit holds
HOLD_CATEGORY = "o2c: credit hold"
#: the risk flags that put a customer on credit hold (docs/writeback.md): high severity, of these kinds
HOLD_KINDS = ("credit_limit_exceeded", "overdue_beyond_policy")


def _hold_flags(s: Any, as_of: dt.date | None) -> tuple[dt.date | None, dict[str, list[RiskFlagRow]]]:
    day = as_of or s.scalar(select(func.max(RiskFlagRow.as_of)))
    if day is None:
        return None, {}
    out: dict[str, list[RiskFlagRow]] = {}
    for f in s.scalars(select(RiskFlagRow).where(RiskFlagRow.as_of == day).order_by(RiskFlagRow.id)):
        if f.severity == "high" and f.kind in HOLD_KINDS:
            out.setdefault(f.customer_key, []).append(f)
    return day, out


def enqueue_credit_holds(store: Store, *, sources: Iterable[SourceConfig] | None = None, as_of: dt.date | None = None) -> int:
    """Credit holds from the risk flags of ``as_of`` (default: the latest risk run), for the sources
    that take them: a customer with a **high** flag of a kind in :data:`HOLD_KINDS` (credit limit
    exceeded, overdue beyond policy) is put on hold in each source that has it: the hub's party
    category :data:`HOLD_CATEGORY` and a credit limit of what it owes there now (under its own limit
    when lower: the sale module refuses any new order beyond it), with a note on the party saying
    why; a customer held by the hub without such a flag any more is released (its limit as before
    the hold). A command is enqueued only when the state changes; its key holds the flags (kind and
    date) that decided it. Return how many commands were added."""
    names = sources_taking("credit_hold", sources)
    if not names:
        return 0
    noted = set(sources_taking("note", sources))
    added = 0
    with store.session() as s:
        day, flagged = _hold_flags(s, as_of)
        if day is None:
            return 0
        last: dict[tuple[str, str], WriteBackRow] = {}
        for row in s.scalars(select(WriteBackRow).where(WriteBackRow.kind == "credit_hold", WriteBackRow.source.in_(names),
                                                        WriteBackRow.status != "failed").order_by(WriteBackRow.id)):
            last[(row.source, row.target_id)] = row
        customers = s.execute(select(CustomerRow, PartyLink.party_id)
                              .join(PartyLink, PartyLink.customer_id == CustomerRow.id, isouter=True)
                              .where(CustomerRow.source.in_(names))).all()
        applied = applied_amounts(s)
        now = utcnow()
        for cust, party_id in customers:
            flags = flagged.get(str(party_id)) or flagged.get(f"{cust.source}:{cust.siren or cust.vat_id or cust.source_id}") or []
            before = last.get((cust.source, cust.source_id))
            held = before is not None and bool(before.payload.get("hold"))
            if bool(flags) == held:
                continue
            # what it owes in that source now, and the part past due (CRM risk fields: docs/writeback.md)
            keys = {k for k in (cust.siren, cust.vat_id, cust.source_id) if k}
            owed = overdue = Decimal(0)
            for inv in s.scalars(select(InvoiceRow).where(InvoiceRow.source == cust.source, InvoiceRow.buyer_key.in_(keys))):
                left = open_amount(inv, applied)
                owed += left
                overdue += left if inv.due_date is not None and inv.due_date < day and left > 0 else Decimal(0)
            owed = max(owed, Decimal(0)).quantize(Decimal("0.01"))
            exposure = {"exposure": str(owed), "overdue": str(overdue.quantize(Decimal("0.01")))}
            if flags:
                limit = owed if cust.credit_limit is None else min(cust.credit_limit, owed)
                payload: dict[str, Any] = {
                    "hold": True, "category": HOLD_CATEGORY, "credit_limit": str(limit),
                    "previous_limit": None if cust.credit_limit is None else str(cust.credit_limit),
                    "as_of": day.isoformat(), "flags": sorted(f.kind for f in flags), **exposure,
                }
                why = "; ".join(f"{f.kind} ({f.severity}): {f.reason}" for f in flags)
                message = f"credit hold by the hub on {day.isoformat()}: {why}"
            else:
                previous = before.payload.get("previous_limit") if before is not None else None
                payload = {"hold": False, "category": HOLD_CATEGORY, "credit_limit": previous, "as_of": day.isoformat(),
                           "released": before.idempotency_key if before is not None else None, **exposure}
                message = f"credit hold released by the hub on {day.isoformat()}: no high risk flag any more"
            cmd = WriteBackCommand(source=cust.source, kind="credit_hold", target_id=cust.source_id, payload=payload,
                                   reason=message[:2000])
            if _add(s, cmd, now, details={"party": party_id}, policy=_policy(sources, cmd.source)):
                added += 1
                if cust.source in noted:
                    note = WriteBackCommand(source=cust.source, kind="note", target_id=cust.source_id, reason=message[:2000],
                                            payload={"on": "party", "message": message[:3000], "for": cmd.idempotency_key})
                    added += _add(s, note, now, policy=_policy(sources, note.source))
    log.info("write-back: %d credit hold command(s) enqueued", added)
    return added


def enqueue_notes(store: Store, *, sources: Iterable[SourceConfig] | None = None) -> int:
    """A note on each invoice a reviewer's decision placed cash on (who decided, when, the bank line,
    their note), for the sources that take notes; the key holds the decision. Return how many were added."""
    names = sources_taking("note", sources)
    if not names:
        return 0
    added = 0
    with store.session() as s:
        now = utcnow()
        for d in s.scalars(select(CashReviewDecision).where(CashReviewDecision.invoice_numbers != "").order_by(CashReviewDecision.id)):
            allocs = s.execute(select(CashAllocation, InvoiceRow).join(InvoiceRow, InvoiceRow.id == CashAllocation.invoice_id)
                               .where(CashAllocation.bank_entry_id == d.bank_entry_id, InvoiceRow.source.in_(names))).all()
            numbers = {n.strip() for n in d.invoice_numbers.split(",")}
            for alloc, inv in allocs:
                if inv.number not in numbers:
                    continue
                verb = {"accept": "accepted", "reallocate": "re-allocated"}.get(d.action, d.action)
                message = (f"{verb} by {d.reviewer} on {d.decided_at:%Y-%m-%d %H:%M} UTC: bank line E{d.bank_entry_id} "
                           f"({d.bank_ref}) pays {alloc.amount} {alloc.currency} of {inv.number}"
                           + (f". Note: {d.note}" if d.note else ""))
                cmd = WriteBackCommand(source=inv.source, kind="note", target_id=inv.source_id, reason=message[:2000],
                                       payload={"on": "invoice", "message": message[:3000], "decision": f"D{d.id}"})
                added += _add(s, cmd, now, actor=d.reviewer, policy=_policy(sources, cmd.source))
    log.info("write-back: %d note command(s) enqueued", added)
    return added


def enqueue_note(store: Store, source: str, on: str, target_id: str, message: str, *, actor: str, identity: str,
                 policy: Any = None) -> bool:
    """Enqueue one note (``on``: ``invoice`` or ``party``) for another part of the hub (an approval,
    collections); ``identity`` names what the note records (an approval id) and is part of its key."""
    cmd = WriteBackCommand(source=source, kind="note", target_id=target_id, reason=message[:2000],
                           payload={"on": on, "message": message[:3000], "for": identity})
    with store.session() as s:
        return _add(s, cmd, utcnow(), actor=actor, policy=policy if policy is not None else _policy(None, source))


def enqueue_dunning_block(store: Store, source: str, invoice_id: str, *, blocked: bool, reason: str, actor: str,
                          identity: str, policy: Any = None) -> bool:
    """Enqueue blocking (or unblocking) the ERP's dunning of one invoice (collections); ``identity``
    names the decision (a dispute id) and is part of the key."""
    cmd = WriteBackCommand(source=source, kind="dunning_block", target_id=invoice_id, reason=reason[:2000],
                           payload={"blocked": blocked, "why": reason[:1000], "for": identity})
    with store.session() as s:
        return _add(s, cmd, utcnow(), actor=actor, policy=policy if policy is not None else _policy(None, source))


def enqueue_statuses(store: Store, *, sources: Iterable[SourceConfig] | None = None) -> int:
    """Each e-invoice lifecycle status the hub exchanged about an invoice (received from a platform,
    or emitted: Déposée, Encaissée...) as a ``status`` command for the sources that take them; the
    key holds the status event. Return how many were added."""
    from o2c.store.einvoice import LifecycleEvent

    names = sources_taking("status", sources)
    if not names:
        return 0
    added = 0
    with store.session() as s:
        now = utcnow()
        rows = s.execute(select(LifecycleEvent, InvoiceRow).join(InvoiceRow, InvoiceRow.id == LifecycleEvent.invoice_id)
                         .where(InvoiceRow.source.in_(names)).order_by(LifecycleEvent.id)).all()
        for ev, inv in rows:
            payload = {"code": ev.code, "label": ev.label, "date": ev.status_date.date().isoformat(),
                       "direction": "received" if ev.direction == "in" else "sent", "reason": ev.reason or None,
                       "event": ev.id}
            cmd = WriteBackCommand(source=inv.source, kind="status", target_id=inv.source_id,
                                   reason=f"e-invoice {inv.number}: status {ev.code} {ev.label}", payload=payload)
            added += _add(s, cmd, now, policy=_policy(sources, inv.source))
    log.info("write-back: %d status command(s) enqueued", added)
    return added


def enqueue_disputes(store: Store, *, sources: Iterable[SourceConfig] | None = None) -> int:
    """What every dispute asks of its ERP (:func:`o2c.jobs.collections.dispute_writeback_commands`):
    a dunning block and a note when it is opened, the block lifted and a note when it is resolved,
    for the sources that take dunning blocks / notes. Keys hold the dispute and its phase, so the
    same disputes enqueue nothing twice. Return how many were added."""
    from o2c.jobs.collections import dispute_writeback_commands

    srcs = _configured(sources)
    blocks, notes = set(sources_taking("dunning_block", srcs)), set(sources_taking("note", srcs))
    if not blocks and not notes:
        return 0
    added = 0
    for c in dispute_writeback_commands(store):
        if c.kind == "dunning_block" and c.source in blocks:
            added += enqueue_dunning_block(store, c.source, c.target_id, blocked=bool(c.blocked), reason=c.message,
                                           actor=c.actor, identity=c.identity, policy=_policy(srcs, c.source))
        elif c.kind == "note" and c.source in notes:
            added += enqueue_note(store, c.source, "invoice", c.target_id, c.message, actor=c.actor, identity=c.identity,
                                  policy=_policy(srcs, c.source))
    log.info("write-back: %d dispute command(s) enqueued", added)
    return added


def enqueue_all(store: Store, *, sources: Iterable[SourceConfig] | None = None) -> dict[str, int]:
    """Every kind, in the order they must reach the ERP: reversals (before the re-payment of a
    re-allocated line), payments, nettings, write-offs (after the payment that leaves them open),
    notes, credit holds, the disputes' dunning blocks and notes. Return the count added per kind."""
    srcs = _configured(sources)
    return {
        "reversal": enqueue_reversals(store, sources=srcs),
        "payment": enqueue_payments(store, sources=srcs),
        "netting": enqueue_nettings(store, sources=srcs),
        "write_off": enqueue_write_offs(store, sources=srcs),
        "note": enqueue_notes(store, sources=srcs),
        "credit_hold": enqueue_credit_holds(store, sources=srcs),
        "dispute": enqueue_disputes(store, sources=srcs),
        "status": enqueue_statuses(store, sources=srcs),
    }


@dataclass
class PushSummary:
    """What one :func:`push_pending` run did."""

    source: str
    sent: int = 0
    failed: int = 0
    retry_later: int = 0
    withdrawn: int = 0  # the allocation was rejected or removed before the command left
    recovered: int = 0  # stale claims taken over (counted again as sent/failed/... by their outcome)
    stopped: str | None = None  # why the run stopped early (a transient error)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def capabilities_of(connector: Any) -> Any:
    """The declared :class:`connectors.base.Capabilities` of a connector object (any kind's, for a
    connector of another class, e.g. a test double: its class attribute)."""
    from connectors.base import Capabilities

    declared = getattr(connector, "capabilities", None)
    return declared if isinstance(declared, Capabilities) else Capabilities(payments=True)


def _command(row: WriteBackRow) -> WriteBackCommand:
    return WriteBackCommand(source=row.source, kind=row.kind, target_id=row.target_id,  # type: ignore[arg-type]
                            payload=dict(row.payload), reason=row.reason)


def _claim_owner() -> str:
    """A name for this push run, unique across hosts, processes and threads (seen in the outbox)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _claim(store: Store, source: str, owner: str, stale_before: dt.datetime | None = None) -> WriteBackRow | None:
    """Claim the next command (a stale claim with ``stale_before``) in its own transaction."""
    with store.session() as s:
        row_id = claim_next(s, source, owner, utcnow(), stale_before=stale_before)
        if row_id is not None:
            faults.point("claiming")  # kill points: transport/faults.py (off unless O2C_FAULT is set)
        return s.get(WriteBackRow, row_id) if row_id is not None else None


def _record(store: Store, row: WriteBackRow, owner: str, **values: Any) -> None:
    """Write the outcome of one claimed command in its own transaction (each result is kept at
    once); a claim taken over meanwhile is left to its new owner."""
    with store.session() as s:
        if finish_claim(s, row.id, owner, **values):
            status = values.get("status")
            if status in ("sent", "failed") or values.get("last_error"):
                action = {"sent": "writeback.sent", "failed": "writeback.failed"}.get(str(status), "writeback.retry_later")
                subject = _subject(_command(row))
                audit.append(s, actor=ACTOR, action=action, subject=subject,
                             details={"kind": row.kind, "key": row.idempotency_key, "remote_ref": values.get("remote_ref"),
                                      "error": values.get("last_error"), "attempts": values.get("attempts", row.attempts)})
                if status == "sent" and row.kind == "reversal":
                    audit.append(s, actor=ACTOR, action="writeback.reversed", subject=subject,
                                 details={"key": row.idempotency_key, "reversed": (row.payload or {}).get("payment_key"),
                                          "remote_ref": values.get("remote_ref"), "why": (row.payload or {}).get("why")})
        else:
            log.warning("write-back %s: command %s was taken over by another pusher before its outcome was recorded "
                        "(is %s shorter than a push?); the new owner checks it in the ERP", row.source, row.id,
                        CLAIM_TIMEOUT_ENV)
        faults.point("recording")


def push_pending(store: Store, source_name: str, connector: Any, *, limit: int | None = None,
                 stale_after: dt.timedelta | None = None) -> PushSummary:
    """Send ``source_name``'s pending commands (oldest first, at most ``limit``) with ``connector``.

    Each command is claimed before it is sent and its outcome committed before the next one, so
    an interrupted run loses nothing and a concurrent run never sends the same command. Claims
    older than ``stale_after`` (default :func:`claim_timeout`) are taken over first: the command
    is looked up in the ERP (``connector.find_payment``), recorded as sent when it is there, sent
    when it is not; a connector that cannot look a payment up leaves it ``failed`` for a person
    to check. Commands already ``sent`` or ``failed`` are never sent again.
    """
    summary = PushSummary(source=source_name)
    owner = _claim_owner()
    stale_before = utcnow() - (claim_timeout() if stale_after is None else stale_after)
    done = 0
    while limit is None or done < limit:
        row = _claim(store, source_name, owner, stale_before)
        recovered = row is not None
        if row is None:
            row = _claim(store, source_name, owner)
        if row is None:
            break
        faults.point("claimed")
        done += 1
        if recovered:
            summary.recovered += 1
            log.warning("write-back %s: command %s was left 'sending' by %s since %s; checking the ERP before "
                        "anything else", source_name, row.id, row.claimed_by, row.claimed_at)
        if not _send(store, row, owner, connector, summary, recovered=recovered):
            break
    return summary


def _send(store: Store, row: WriteBackRow, owner: str, connector: Any, summary: PushSummary, *, recovered: bool) -> bool:
    """Send one claimed command and record its outcome; False when the run must stop."""
    command = _command(row)
    if command.idempotency_key != row.idempotency_key:  # the stored payload was edited by hand
        _record(store, row, owner, status="failed", last_error="the stored payload no longer matches its idempotency key")
        summary.failed += 1
        return True
    try:
        push_name, find_name = WRITE_METHODS.get(command.kind, ("", ""))
        if not push_name or not capabilities_of(connector).supports(command.kind):
            raise NotSupported(f"write-back of kind {command.kind!r} is not supported by this connector")
        if recovered:
            # the pusher that claimed it died: the ERP may have applied it already
            find = getattr(connector, find_name, None)
            try:
                if find is None:
                    raise NotSupported(f"the connector cannot look {command.kind} commands up")
                remote_ref = find(command)
            except NotSupported:
                _record(store, row, owner, status="failed", attempts=row.attempts + 1,
                        last_error=f"a push stopped while sending this {command.kind} and the connector cannot look it "
                               "up: check in the ERP whether it was recorded before sending it again")
                summary.failed += 1
                return True
            if remote_ref is not None:
                log.info("write-back %s: command %s found in the ERP (%s); not sent again", row.source, row.id, remote_ref)
                _record(store, row, owner, status="sent", remote_ref=str(remote_ref), last_error=None, sent_at=utcnow())
                summary.sent += 1
                return True
        # cash whose allocation a reviewer rejected since it was enqueued must not leave
        if row.allocation_id is not None or command.kind == "netting":
            wanted = {row.allocation_id} if row.allocation_id is not None else set()
            wanted |= {int(a) for a in (command.payload.get("allocations") or []) if str(a).isdigit()}
            with store.session() as s:
                allocs = list(s.scalars(select(CashAllocation).where(CashAllocation.id.in_(sorted(wanted)))))
                applied = len(allocs) == len(wanted) and all(a.status in APPLIED for a in allocs)
            if not applied:
                _record(store, row, owner, status="failed", last_error="the allocation was rejected or removed before "
                        f"the {command.kind} was sent; nothing was written to the source")
                summary.withdrawn += 1
                return True
        remote_ref = getattr(connector, push_name)(command)
    except (ConfigError, AuthError, NotSupported):
        _record(store, row, owner, status="pending", claimed_by=None, claimed_at=None)
        raise  # a setting to fix: every command stays pending
    except OutcomeUnknown as exc:
        # the ERP may have applied it, or may still be applying it: a search right away could miss
        # it and send it twice. The claim is kept (renewed): after the claim timeout a pusher looks
        # the command up in the ERP before anything else, as for a pusher that died.
        _record(store, row, owner, claimed_at=utcnow(), attempts=row.attempts + 1, last_error=str(exc)[:ERROR_CHARS])
        summary.retry_later += 1
        summary.stopped = f"outcome unknown, checked in the ERP after the claim timeout: {exc}"
        summary.errors.append({"id": row.id, "target_id": row.target_id, "error": str(exc)})
        log.warning("write-back %s: command %s may have been applied (%s); kept claimed, looked up in the ERP after "
                    "%s", row.source, row.id, exc, CLAIM_TIMEOUT_ENV)
        return False
    except RetriableError as exc:
        _record(store, row, owner, status="pending", claimed_by=None, claimed_at=None, attempts=row.attempts + 1,
                last_error=str(exc)[:ERROR_CHARS])
        summary.retry_later += 1
        summary.stopped = f"transient error, retry later: {exc}"
        summary.errors.append({"id": row.id, "target_id": row.target_id, "error": str(exc)})
        log.warning("write-back %s: command %s kept pending: %s", row.source, row.id, exc)
        return False
    except (RejectedDocument, FatalError) as exc:
        message = str(exc)
        _record(store, row, owner, status="failed", attempts=row.attempts + 1, last_error=message[:ERROR_CHARS])
        summary.failed += 1
        summary.errors.append({"id": row.id, "target_id": row.target_id, "error": message})
        log.warning("write-back %s: command %s failed: %s", row.source, row.id, message)
        return True
    faults.point("erp_applied")
    _record(store, row, owner, status="sent", attempts=row.attempts + 1, remote_ref=str(remote_ref), last_error=None,
            sent_at=utcnow())
    summary.sent += 1
    return True


def outbox(store: Store, source: str | None = None) -> list[WriteBackRow]:
    """The outbox rows (of one source), oldest first."""
    with store.session() as s:
        q = select(WriteBackRow).order_by(WriteBackRow.id)
        if source:
            q = q.where(WriteBackRow.source == source)
        return list(s.scalars(q))
