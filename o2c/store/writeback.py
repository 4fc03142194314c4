"""The write-back outbox: commands the hub sends to source systems (payments, nettings, write-offs,
reversals, credit holds, notes, dunning blocks: docs/writeback.md).

A command is enqueued once (its idempotency key is unique), then sent by
:func:`o2c.jobs.writeback.push_pending` until it is ``sent`` or ``failed``; a transient failure keeps it
``pending`` with the number of attempts and the last error, so nothing is lost and nothing is sent
twice.

Two pushers may run at once (the ``erp_writeback`` DAG and ``o2c writeback push``): a pusher
first *claims* a command, ``pending`` -> ``sending`` with its name (``claimed_by``) and the time
(``claimed_at``), in one conditional UPDATE (on PostgreSQL its row is picked with ``FOR UPDATE
SKIP LOCKED``, so pushers skip each other's rows instead of waiting), and only the claim's owner
sends it and records the outcome. A claim left by a pusher that died is *stale* after a timeout;
another pusher then takes it over the same way and looks the command up in the ERP before
anything else (:func:`o2c.jobs.writeback.push_pending`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column

from o2c.store.models import Base, UTCDateTime

#: ``awaiting_approval``: enqueued under the source's approval policy, never claimed nor sent until a
#: person approves it (then ``pending``) or refuses it (then ``refused``, never sent); migration 0012
WRITEBACK_STATUSES = ("awaiting_approval", "pending", "sending", "sent", "failed", "refused")


class WriteBackRow(Base):
    """One write-back command (:class:`schemas.receivables.WriteBackCommand`) and its delivery state."""

    __tablename__ = "writeback_command"
    __table_args__ = (Index("ix_writeback_command_source_status", "source", "status"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # schemas.receivables.WriteBackKind: payment, netting, write_off...
    target_id: Mapped[str] = mapped_column(String(200))  # the record in the source system
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    allocation_id: Mapped[int | None] = mapped_column(ForeignKey("cash_allocation.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, sending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    remote_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # the pusher that holds (or last held) the command, and since when (migration 0008)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # the approval that released (or refused) the command (migration 0012, o2c/store/approval.py)
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("writeback_approval.id", ondelete="SET NULL"))


def claim_next(s: Any, source: str, owner: str, now: dt.datetime, *, stale_before: dt.datetime | None = None) -> int | None:
    """Claim ``source``'s oldest ``pending`` command for ``owner``, or, with ``stale_before``, its
    oldest ``sending`` command claimed before that time (a pusher that died); return its id, or
    None when there is none left.

    One UPDATE whose WHERE repeats the expected state: of two pushers racing for one row, one
    changes it and the other changes nothing (SQLite runs the statement under its write lock;
    PostgreSQL re-checks the WHERE after waiting for the row, and ``SKIP LOCKED`` lets the second
    pusher take the next row instead)."""
    W = WriteBackRow
    if stale_before is None:
        expected = [W.source == source, W.status == "pending"]
    else:
        expected = [W.source == source, W.status == "sending", W.claimed_at < stale_before]
    pick = select(W.id).where(*expected).order_by(W.id).limit(1)
    if s.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    claimed = s.execute(update(W).where(W.id == pick.scalar_subquery(), *expected)
                        .values(status="sending", claimed_by=owner, claimed_at=now)
                        .returning(W.id).execution_options(synchronize_session=False)).scalars().all()
    return claimed[0] if claimed else None


def finish_claim(s: Any, row_id: int, owner: str, **values: Any) -> bool:
    """Record the outcome of a command ``owner`` holds; False (nothing written) when the claim
    was taken over meanwhile (its owner was too slow and the claim went stale)."""
    W = WriteBackRow
    result = s.execute(update(W).where(W.id == row_id, W.status == "sending", W.claimed_by == owner).values(**values)
                       .execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)
