"""E-invoices exchanged with customers and platforms, and their lifecycle statuses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from o2c.store.models import Amount, Base, UTCDateTime


class EInvoiceDocument(Base):
    """One rendering of one invoice version in one format: validated, then delivered once."""

    __tablename__ = "einvoice_document"
    __table_args__ = (UniqueConstraint("invoice_id", "invoice_version", "format", name="uq_einvoice_document"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    invoice_version: Mapped[int] = mapped_column(Integer)
    invoice_number: Mapped[str] = mapped_column(String(100))
    format: Mapped[str] = mapped_column(String(30))
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    valid: Mapped[bool] = mapped_column(Boolean)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)  # findings and artefact versions
    status: Mapped[str] = mapped_column(String(20))  # rejected, rendered, delivered, delivery_failed
    channel: Mapped[str | None] = mapped_column(String(100))
    delivery_ref: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class LifecycleEvent(Base):
    """A French CDAR lifecycle status of an invoice, received from or sent to a platform."""

    __tablename__ = "lifecycle_status"
    __table_args__ = (
        UniqueConstraint("direction", "invoice_number", "seller_siren", "code", "status_date", name="uq_lifecycle_status"),
        Index("ix_lifecycle_invoice", "invoice_number"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    direction: Mapped[str] = mapped_column(String(3))  # in, out
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id", ondelete="SET NULL"))
    invoice_number: Mapped[str] = mapped_column(String(100))
    seller_siren: Mapped[str] = mapped_column(String(20), default="")
    code: Mapped[str] = mapped_column(String(3))
    label: Mapped[str] = mapped_column(String(100))
    status_date: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    reason_code: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Amount())
    currency: Mapped[str | None] = mapped_column(String(3))
    message: Mapped[bytes | None] = mapped_column(LargeBinary)  # the CDAR message as exchanged
    source: Mapped[str | None] = mapped_column(String(200))  # file or platform it came from / went to
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
