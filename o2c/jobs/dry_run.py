"""A dry run of the write-back (``o2c writeback push SOURCE --dry-run``, the ``erp_writeback``
DAG's ``dry_run`` parameter): per command a push would consider, the target record and the exact
change read from the ERP (before -> after), with nothing written anywhere.

The commands shown are those of the outbox that a push would send (``pending``), those waiting for
an approval (``awaiting_approval``, shown so that an approver sees what an approval would do) and
those an enqueue would add now: :func:`planned` runs the enqueue in a transaction that is rolled
back (the hub's outbox and audit trail are left as they were). Each is then asked of the connector
(``connector.preview(command)``, :class:`connectors.base.Connector`): a read, never a write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import NotSupported
from o2c.config import SourceConfig
from o2c.store import Store
from o2c.store.writeback import WriteBackRow
from schemas.errors import RejectedDocument
from schemas.receivables import WriteBackCommand

log = logging.getLogger(__name__)
SHOWN = ("pending", "awaiting_approval")


@dataclass
class Preview:
    """One command of a dry run and what it would change."""

    id: int | None  # None: not in the outbox yet (an enqueue would add it)
    status: str  # pending, awaiting_approval; "new pending" / "new awaiting_approval" for one not enqueued yet
    kind: str
    target_id: str
    amount: str | None
    currency: str | None
    target: str | None = None  # the record in the ERP, as the connector names it
    changes: list[dict[str, Any]] = field(default_factory=list)  # [{field, before, after}]
    note: str | None = None
    refused: str | None = None  # the reason the ERP would refuse it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The preview as text, one change a line."""
        head = f"{'new' if self.id is None else f'command {self.id}'} ({self.status}) {self.kind} " \
               f"{self.amount or ''} {self.currency or ''} -> {self.target or self.target_id}".replace("  ", " ")
        out = [head]
        if self.refused:
            out.append(f"    would be refused: {self.refused}")
        out.extend(f"    {c['field']}: {c['before']} -> {c['after']}" for c in self.changes)
        if self.note:
            out.append(f"    {self.note}")
        return out


class _RolledBack:
    """A stand-in for the store whose sessions are rolled back at the end instead of committed;
    the rows the source would then have waiting are kept (detached) in ``rows``."""

    def __init__(self, store: Store, source: str) -> None:
        self._store, self._source = store, source
        self.rows: list[WriteBackRow] = []

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self._store.engine, expire_on_commit=False) as s:
            s.begin()
            try:
                yield s
                s.flush()
                self.rows = list(s.scalars(select(WriteBackRow).where(WriteBackRow.source == self._source,
                                                                     WriteBackRow.status.in_(SHOWN))
                                           .order_by(WriteBackRow.id)))
                s.expunge_all()
            finally:
                s.rollback()


def planned(store: Store, source: SourceConfig, enqueue: Callable[..., Any] | None = None) -> list[WriteBackRow]:
    """The commands a push of ``source`` would consider now: the outbox's pending and awaiting
    ones plus those ``enqueue(store, sources=[source])`` (default: the payments' enqueue) would
    add, computed in a transaction that is rolled back (the new ones have no id)."""
    if enqueue is None:
        from o2c.jobs.writeback import enqueue_payments as enqueue
    with store.session() as s:
        stored = {r.id for r in s.scalars(select(WriteBackRow).where(WriteBackRow.source == source.name))}
    sandbox = _RolledBack(store, source.name)
    enqueue(sandbox, sources=[source])
    for row in sandbox.rows:
        if row.id not in stored:
            row.status = f"new {row.status}"
            row.id = None  # type: ignore[assignment]
    return sandbox.rows


def preview(rows: list[WriteBackRow], connector: Any) -> list[Preview]:
    """Ask the connector what each command would change; a command the ERP would refuse is shown
    with the reason, one it cannot preview with why."""
    out = []
    for row in rows:
        payload = row.payload or {}
        item = Preview(id=row.id, status=row.status, kind=row.kind, target_id=row.target_id,
                       amount=payload.get("amount"), currency=payload.get("currency"))
        command = WriteBackCommand(source=row.source, kind=row.kind, target_id=row.target_id,  # type: ignore[arg-type]
                                   payload=dict(payload), reason=row.reason)
        try:
            found = connector.preview(command)
        except RejectedDocument as exc:
            item.refused = str(exc)
        except NotSupported as exc:
            item.note = f"cannot be previewed: {exc}"
        else:
            item.target = found.get("target")
            item.changes = list(found.get("changes") or [])
            item.note = found.get("note")
        if row.status.endswith("awaiting_approval"):
            item.note = (f"{item.note}; " if item.note else "") + "waits for an approval: not sent by a push"
        out.append(item)
    return out


def dry_run(store: Store, source: SourceConfig, connector: Any) -> list[Preview]:
    """:func:`planned` then :func:`preview`: what a push of ``source`` would change, nothing written."""
    return preview(planned(store, source), connector)
