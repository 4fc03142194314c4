"""Write applied cash back to the source ERPs through an outbox (no Airflow here).

Two steps, each safe to re-run:

1. :func:`enqueue_payments` turns every applied allocation (status ``auto`` or ``accepted``) of a
   positive amount on an invoice of a source whose connector can record payments into one
   ``payment`` command (bank lines that net invoices with credit notes are held back: the
   invoices are not paid by the cash alone, the credit note must be reconciled in the ERP) (:class:`schemas.receivables.WriteBackCommand`) in the
   ``writeback_command`` table. The command's idempotency key is unique there: enqueuing again
   adds nothing.
2. :func:`push_pending` sends the pending commands of one source through
   ``connector.push_payment(command)``. Success marks the command ``sent`` with the remote
   reference; a :class:`RetriableError` keeps it ``pending`` (attempts + 1, the error kept) and
   stops the run, since the system is unwell; a :class:`RejectedDocument` or a per-command
   :class:`FatalError` marks it ``failed`` with the reason. Configuration and credential errors
   (:class:`ConfigError`, :class:`AuthError`, :class:`NotSupported`) leave every command pending
   and propagate: a person fixes the setting and runs again. Connectors are expected to be
   idempotent on their side as well (the Tryton connector finds a payment by its key), so a
   command whose answer was lost is not applied twice.

>>> from o2c.store import Store
>>> store = Store("sqlite://")
>>> store.upgrade()
>>> enqueue_payments(store, sources=[])
0
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from connectors import connector_class
from connectors.base import BaseConnector, NotSupported
from o2c.cash_application import APPLIED  # allocation statuses that are applied cash
from o2c.sources import SourceConfig
from o2c.store import Store, utcnow
from o2c.store.cash import CashAllocation
from o2c.store.models import InvoiceRow
from o2c.store.writeback import WriteBackRow
from schemas.errors import AuthError, ConfigError, FatalError, RejectedDocument, RetriableError
from schemas.receivables import WriteBackCommand

log = logging.getLogger(__name__)

INVOICE_TYPE = "380"  # commercial invoices take payments; credit notes are settled otherwise
ERROR_CHARS = 2000  # last_error is kept readable, not a whole traceback


def supports_payments(kind: str) -> bool:
    """Whether the connector of ``kind`` implements :meth:`BaseConnector.push_payment`."""
    cls = connector_class(kind)
    return getattr(cls, "push_payment", BaseConnector.push_payment) is not BaseConnector.push_payment


def payment_sources(sources: Iterable[SourceConfig] | None = None) -> list[str]:
    """Names of the configured sources (default: the sources file) that take payment write-back."""
    if sources is None:
        from o2c.settings import get_settings
        from o2c.sources import load_sources

        sources = load_sources(get_settings().sources_file)
    return [s.name for s in sources if s.enabled and supports_payments(s.kind)]


def payment_command(allocation: CashAllocation, invoice: InvoiceRow) -> WriteBackCommand:
    """The ``payment`` command of one applied allocation (amount as a string, never a float)."""
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
        },
        reason=f"cash allocation {allocation.id} ({allocation.status}, rule {allocation.rule}) of bank entry "
               f"{allocation.bank_ref}",
    )


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
            select(CashAllocation, InvoiceRow)
            .join(InvoiceRow, InvoiceRow.id == CashAllocation.invoice_id)
            .where(CashAllocation.status.in_(APPLIED), InvoiceRow.source.in_(names), InvoiceRow.type_code == INVOICE_TYPE)
            .order_by(CashAllocation.id)
        ).all()
        # a bank line that nets invoices with credit notes is not a plain payment: recording the
        # invoices as paid would book more cash than the bank received. Such lines wait for a
        # reconciliation of the credit note in the ERP (not automated), and are held here.
        netted = set(s.scalars(select(CashAllocation.bank_entry_id).join(InvoiceRow, InvoiceRow.id == CashAllocation.invoice_id)
                               .where(CashAllocation.status.in_(APPLIED), InvoiceRow.type_code != INVOICE_TYPE)))
        held = {alloc.bank_entry_id for alloc, _ in rows if alloc.bank_entry_id in netted}
        if held:
            log.info("write-back: %d bank line(s) net invoices with credit notes; not sent as payments "
                     "(reconcile the credit notes in the ERP)", len(held))
        # amounts are stored as exact decimal text: compared here, not in SQL
        commands = [(alloc, payment_command(alloc, inv)) for alloc, inv in rows
                    if alloc.amount > 0 and alloc.bank_entry_id not in netted]
        keys = [cmd.idempotency_key for _, cmd in commands]
        known: set[str] = set()
        for i in range(0, len(keys), 500):
            known.update(s.scalars(select(WriteBackRow.idempotency_key)
                                   .where(WriteBackRow.idempotency_key.in_(keys[i:i + 500]))))
        now = utcnow()
        for alloc, cmd in commands:
            key = cmd.idempotency_key
            if key in known:
                continue
            known.add(key)
            s.add(WriteBackRow(source=cmd.source, kind=cmd.kind, target_id=cmd.target_id, payload=cmd.payload,
                               reason=cmd.reason, idempotency_key=key, allocation_id=alloc.id, status="pending",
                               attempts=0, created_at=now))
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
    stopped: str | None = None  # why the run stopped early (a transient error)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _command(row: WriteBackRow) -> WriteBackCommand:
    return WriteBackCommand(source=row.source, kind=row.kind, target_id=row.target_id,  # type: ignore[arg-type]
                            payload=dict(row.payload), reason=row.reason)


def _record(store: Store, row_id: int, **values: Any) -> None:
    """Write the outcome of one command in its own transaction (each result is kept at once)."""
    with store.session() as s:
        row = s.get(WriteBackRow, row_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)


def push_pending(store: Store, source_name: str, connector: Any, *, limit: int | None = None) -> PushSummary:
    """Send ``source_name``'s pending commands (oldest first, at most ``limit``) with ``connector``.

    Each outcome is committed before the next command is sent, so an interrupted run loses nothing.
    Commands already ``sent`` or ``failed`` are never sent again.
    """
    summary = PushSummary(source=source_name)
    with store.session() as s:
        q = (select(WriteBackRow).where(WriteBackRow.source == source_name, WriteBackRow.status == "pending")
             .order_by(WriteBackRow.id))
        if limit is not None:
            q = q.limit(limit)
        pending = list(s.scalars(q))
        alloc_ids = [r.allocation_id for r in pending if r.allocation_id is not None]
        status: dict[int, str] = {}
        if alloc_ids:
            status = dict(s.execute(select(CashAllocation.id, CashAllocation.status)
                                    .where(CashAllocation.id.in_(alloc_ids))).tuples().all())
    for row in pending:
        # a payment whose allocation a reviewer rejected since it was enqueued must not leave
        if row.allocation_id is not None and status.get(row.allocation_id) not in APPLIED:
            _record(store, row.id, status="failed", last_error="the allocation was rejected or removed before the "
                    "payment was sent; nothing was written to the source")
            summary.withdrawn += 1
            continue
        command = _command(row)
        if command.idempotency_key != row.idempotency_key:  # the stored payload was edited by hand
            _record(store, row.id, status="failed", last_error="the stored payload no longer matches its idempotency key")
            summary.failed += 1
            continue
        try:
            if command.kind != "payment":
                raise NotSupported(f"write-back of kind {command.kind!r} is not implemented")
            remote_ref = connector.push_payment(command)
        except (ConfigError, AuthError, NotSupported):
            raise  # a setting to fix: every command stays pending
        except RetriableError as exc:
            _record(store, row.id, attempts=row.attempts + 1, last_error=str(exc)[:ERROR_CHARS])
            summary.retry_later += 1
            summary.stopped = f"transient error, retry later: {exc}"
            summary.errors.append({"id": row.id, "target_id": row.target_id, "error": str(exc)})
            log.warning("write-back %s: command %s kept pending: %s", source_name, row.id, exc)
            break
        except (RejectedDocument, FatalError) as exc:
            message = str(exc)
            _record(store, row.id, status="failed", attempts=row.attempts + 1, last_error=message[:ERROR_CHARS])
            summary.failed += 1
            summary.errors.append({"id": row.id, "target_id": row.target_id, "error": message})
            log.warning("write-back %s: command %s failed: %s", source_name, row.id, message)
            continue
        _record(store, row.id, status="sent", attempts=row.attempts + 1, remote_ref=str(remote_ref), last_error=None,
                sent_at=utcnow())
        summary.sent += 1
    return summary


def outbox(store: Store, source: str | None = None) -> list[WriteBackRow]:
    """The outbox rows (of one source), oldest first."""
    with store.session() as s:
        q = select(WriteBackRow).order_by(WriteBackRow.id)
        if source:
            q = q.where(WriteBackRow.source == source)
        return list(s.scalars(q))
