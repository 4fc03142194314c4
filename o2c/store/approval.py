"""Write-back approvals: who approved or refused which outbox commands, when, why, and from where.

A command a source's policy does not let flow (:class:`o2c.config.WriteBackApprovalConfig`) is
enqueued ``awaiting_approval``; one :class:`WriteBackApproval` row records a person's decision
over some of them (``approved``: they turn ``pending`` and are sent by the next push;
``refused``: they turn ``refused`` and are never sent), and each command keeps the id of the
approval that decided it (``writeback_command.approval_id``). The rows are written by
:func:`o2c.jobs.approval.decide`, in the transaction that changes the commands and appends the
audit entries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from o2c.store.models import Base, UTCDateTime

APPROVAL_DECISIONS = ("approved", "refused")
#: where a decision was given
APPROVAL_CHANNELS = ("cli", "page", "airflow")


class WriteBackApproval(Base):
    __tablename__ = "writeback_approval"
    __table_args__ = (Index("ix_writeback_approval_source", "source", "decided_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(20))  # approved, refused
    decided_by: Mapped[str] = mapped_column(String(200))  # the person (an Airflow user name), or airflow:timeout
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)
    via: Mapped[str] = mapped_column(String(20))  # cli, page, airflow
    # the commands decided: [{id, key, kind, target_id, amount, currency}]
    commands: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
