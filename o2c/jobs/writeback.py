"""Write applied cash back to the source ERPs through an outbox (no Airflow here).

Two steps, each safe to re-run:

1. :func:`enqueue_payments` turns every applied allocation (status ``auto`` or ``accepted``) of a
   positive amount on an invoice of a source whose connector declares it records payments
   (:class:`connectors.base.Capabilities`, :func:`supports_payments`) into one
   ``payment`` command (bank lines that net invoices with credit notes are held back: the
   invoices are not paid by the cash alone, the credit note must be reconciled in the ERP) (:class:`schemas.receivables.WriteBackCommand`) in the
   ``writeback_command`` table. The command's idempotency key is unique there: enqueuing again
   adds nothing. The payload names the bank transaction (the hub's line ``E<id>`` and its
   ``tx_index`` in a batch-booked entry), so two transactions of one batch paying one invoice
   the same amount are two commands, not one.
2. :func:`push_pending` sends the pending commands of one source through
   ``connector.push_payment(command)``, each after *claiming* it (``pending`` -> ``sending``,
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
   the ERP whether the command was applied (``connector.find_payment``), and only sends it when
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
from typing import Any

from sqlalchemy import select

from connectors import capabilities
from connectors.base import NotSupported
from o2c.config import SourceConfig
from o2c.store import Store, audit, utcnow
from o2c.store.bank import BankEntryRow
from o2c.store.cash import (
    APPLIED,  # allocation statuses that are applied cash
    CashAllocation,
)
from o2c.store.models import InvoiceRow
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
    ``find_payment``; today only ``tryton``)."""
    return capabilities(kind).payments


def payment_sources(sources: Iterable[SourceConfig] | None = None) -> list[str]:
    """Names of the configured sources (default: the sources file) that take payment write-back."""
    if sources is None:
        from o2c.settings import get_settings
        from o2c.sources import load_sources

        sources = load_sources(get_settings().sources_file)
    return [s.name for s in sources if s.enabled and supports_payments(s.kind)]


def payment_command(allocation: CashAllocation, invoice: InvoiceRow, tx_index: int = 0) -> WriteBackCommand:
    """The ``payment`` command of one applied allocation (amount as a string, never a float).

    ``bank_entry`` (the hub's bank line, one per transaction of a batch) and ``tx_index`` make
    the key differ for each transaction: one batch-booked entry (one bank reference) with two
    transactions of the same amount to one invoice is two payments."""
    day = allocation.booking_date or allocation.created_at.date()
    return WriteBackCommand(
        source=invoice.source,
        kind="payment",
        target_id=invoice.source_id,
        payload={
            "amount": str(allocation.amount),
            "currency": allocation.currency,
            "date": day.isoformat(),
            "bank_ref": allocation.bank_ref,
            "invoice_number": invoice.number,
            "bank_entry": f"E{allocation.bank_entry_id}",
            "tx_index": tx_index,
        },
        reason=f"cash allocation {allocation.id} ({allocation.status}, rule {allocation.rule}) of bank entry "
               f"{allocation.bank_ref} (line E{allocation.bank_entry_id})",
    )


def legacy_payment_key(command: WriteBackCommand) -> str:
    """The key the same payment had before payloads named the bank transaction (outbox rows
    written then keep it): the key of the payload without ``bank_entry`` and ``tx_index``."""
    payload = {k: v for k, v in command.payload.items() if k not in ("bank_entry", "tx_index")}
    return WriteBackCommand(source=command.source, kind=command.kind, target_id=command.target_id, payload=payload,
                            reason=command.reason).idempotency_key


def enqueue_payments(store: Store, *, sources: Iterable[SourceConfig] | None = None) -> int:
    """Add one ``payment`` command per applied allocation not yet in the outbox; return how many
    were added. ``sources`` limits it to these sources (default: the configured sources whose
    connector supports payments)."""
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
        # a bank line that nets invoices with credit notes is not a plain payment: recording the
        # invoices as paid would book more cash than the bank received. Such lines wait for a
        # reconciliation of the credit note in the ERP (not automated), and are held here.
        netted = set(s.scalars(select(CashAllocation.bank_entry_id).join(InvoiceRow, InvoiceRow.id == CashAllocation.invoice_id)
                               .where(CashAllocation.status.in_(APPLIED), InvoiceRow.type_code != INVOICE_TYPE)))
        held = {alloc.bank_entry_id for alloc, _, _ in rows if alloc.bank_entry_id in netted}
        if held:
            log.info("write-back: %d bank line(s) net invoices with credit notes; not sent as payments "
                     "(reconcile the credit notes in the ERP)", len(held))
        # amounts are stored as exact decimal text: compared here, not in SQL
        commands = [(alloc, payment_command(alloc, inv, int((doc or {}).get("tx_index") or 0))) for alloc, inv, doc in rows
                    if alloc.amount > 0 and alloc.bank_entry_id not in netted]
        keys = [cmd.idempotency_key for _, cmd in commands]
        known: set[str] = set()
        for i in range(0, len(keys), 500):
            known.update(s.scalars(select(WriteBackRow.idempotency_key)
                                   .where(WriteBackRow.idempotency_key.in_(keys[i:i + 500]))))
        # rows enqueued before the payload named the bank transaction carry the legacy key; only
        # a row of the same allocation counts (another transaction of the batch had the same one)
        alloc_ids = [alloc.id for alloc, _ in commands]
        earlier: set[tuple[int | None, str]] = set()
        for i in range(0, len(alloc_ids), 500):
            earlier.update(s.execute(select(WriteBackRow.allocation_id, WriteBackRow.idempotency_key)
                                     .where(WriteBackRow.allocation_id.in_(alloc_ids[i:i + 500]))).tuples())
        now = utcnow()
        for alloc, cmd in commands:
            key = cmd.idempotency_key
            if key in known or (alloc.id, legacy_payment_key(cmd)) in earlier:
                continue
            known.add(key)
            s.add(WriteBackRow(source=cmd.source, kind=cmd.kind, target_id=cmd.target_id, payload=cmd.payload,
                               reason=cmd.reason, idempotency_key=key, allocation_id=alloc.id, status="pending",
                               attempts=0, created_at=now))
            audit.append(s, actor=ACTOR, action="writeback.enqueued", subject=f"invoice:{cmd.source}:{cmd.target_id}",
                         details={"kind": cmd.kind, "key": key, "allocation": alloc.id, "allocation_status": alloc.status,
                                  "payload": cmd.payload}, at=now)
            added += 1
    log.info("write-back: %d payment command(s) enqueued", added)
    return added


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
                audit.append(s, actor=ACTOR, action=action, subject=f"invoice:{row.source}:{row.target_id}",
                             details={"kind": row.kind, "key": row.idempotency_key, "remote_ref": values.get("remote_ref"),
                                      "error": values.get("last_error"), "attempts": values.get("attempts", row.attempts)})
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
        if command.kind != "payment":
            raise NotSupported(f"write-back of kind {command.kind!r} is not implemented")
        if recovered:
            # the pusher that claimed it died: the ERP may have applied it already
            find = getattr(connector, "find_payment", None)
            try:
                if find is None:
                    raise NotSupported("the connector cannot look payments up")
                remote_ref = find(command)
            except NotSupported:
                _record(store, row, owner, status="failed", attempts=row.attempts + 1,
                        last_error="a push stopped while sending this payment and the connector cannot look payments "
                               "up: check in the ERP whether it was recorded before sending it again")
                summary.failed += 1
                return True
            if remote_ref is not None:
                log.info("write-back %s: command %s found in the ERP (%s); not sent again", row.source, row.id, remote_ref)
                _record(store, row, owner, status="sent", remote_ref=str(remote_ref), last_error=None, sent_at=utcnow())
                summary.sent += 1
                return True
        # a payment whose allocation a reviewer rejected since it was enqueued must not leave
        if row.allocation_id is not None:
            with store.session() as s:
                alloc = s.get(CashAllocation, row.allocation_id)
                applied = alloc is not None and alloc.status in APPLIED
            if not applied:
                _record(store, row, owner, status="failed", last_error="the allocation was rejected or removed before "
                        "the payment was sent; nothing was written to the source")
                summary.withdrawn += 1
                return True
        remote_ref = connector.push_payment(command)
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
