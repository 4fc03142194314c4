"""The write-back outbox: commands the hub sends to source systems (payments first).

A command is enqueued once (its idempotency key is unique), then sent by
:func:`o2c.writeback.push_pending` until it is ``sent`` or ``failed``; a transient failure keeps it
``pending`` with the number of attempts and the last error, so nothing is lost and nothing is sent
twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from o2c.store.models import Base, UTCDateTime

WRITEBACK_STATUSES = ("pending", "sent", "failed")


class WriteBackRow(Base):
    """One write-back command (:class:`schemas.receivables.WriteBackCommand`) and its delivery state."""

    __tablename__ = "writeback_command"
    __table_args__ = (Index("ix_writeback_command_source_status", "source", "status"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # payment, credit_hold, note, status, crm_field
    target_id: Mapped[str] = mapped_column(String(200))  # the record in the source system
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    allocation_id: Mapped[int | None] = mapped_column(ForeignKey("cash_allocation.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    remote_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
