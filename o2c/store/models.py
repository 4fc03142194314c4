"""Tables of the hub store (SQLAlchemy 2). The schema is created and changed by Alembic only.

Every canonical record row carries its source, source id, content hash and the sync run that
last changed it; each change is kept as a version row, so a finance person can always answer
"where did this number come from".
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Amount(TypeDecorator[Decimal]):
    """Exact decimal amounts: NUMERIC(20, 6) on PostgreSQL, text on SQLite (which has no decimal
    type and would go through float)."""

    impl = Numeric(20, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(20, 6, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"amounts must be Decimal, got {type(value).__name__}")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware timestamps stored in UTC (SQLite keeps no zone: we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the hub stores aware timestamps only")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SyncRun(Base):
    """One task's work on one source over one data window: the audit trail of every sync."""

    __tablename__ = "sync_run"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dag_id: Mapped[str | None] = mapped_column(String(250))
    task_id: Mapped[str | None] = mapped_column(String(250))
    airflow_run_id: Mapped[str | None] = mapped_column(String(250))
    source: Mapped[str] = mapped_column(String(100), index=True)
    stream: Mapped[str] = mapped_column(String(50))
    window_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    window_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    read: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))  # running, success, failed
    message: Mapped[str | None] = mapped_column(Text)


class Quarantine(Base):
    """A record or file that could not be taken, kept whole with the reason: nothing is lost."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("source", "kind", "source_id", "payload_hash", name="uq_quarantine_identity"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(50))  # invoice, customer, statement_file ...
    source_id: Mapped[str] = mapped_column(String(250))
    payload_hash: Mapped[str] = mapped_column(String(64))
    raw_payload: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(100), default="application/json")
    reason: Mapped[str] = mapped_column(Text)
    field: Mapped[str | None] = mapped_column(String(100))
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    seen_count: Mapped[int] = mapped_column(Integer, default=1)
    first_run_id: Mapped[str | None] = mapped_column(String(64))
    last_run_id: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str | None] = mapped_column(String(50))  # fixed_at_source, ignored, replayed
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resolution_note: Mapped[str | None] = mapped_column(Text)


class _Versioned:
    source: Mapped[str] = mapped_column(String(100))
    source_id: Mapped[str] = mapped_column(String(250))
    content_hash: Mapped[str] = mapped_column(String(64))
    # sha256 of the source record as pulled and of the mapping that made this version (revision
    # 0011, o2c.jobs.sync.raw_key): the same raw record seen again is not mapped again
    raw_hash: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    source_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_run_id: Mapped[str | None] = mapped_column(String(64))
    last_run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class InvoiceRow(_Versioned, Base):
    """The current version of a canonical invoice or credit note."""

    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_invoice_source"),
        Index("ix_invoice_number", "number"),
        Index("ix_invoice_buyer", "buyer_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(100))
    type_code: Mapped[str] = mapped_column(String(3))
    issue_date: Mapped[dt.date] = mapped_column()
    due_date: Mapped[dt.date | None] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3))
    buyer_name: Mapped[str] = mapped_column(String(250))
    buyer_key: Mapped[str | None] = mapped_column(String(100))  # SIREN, else VAT id, else source party id
    tax_exclusive: Mapped[Decimal] = mapped_column(Amount())
    tax_total: Mapped[Decimal | None] = mapped_column(Amount())
    tax_inclusive: Mapped[Decimal] = mapped_column(Amount())
    payable: Mapped[Decimal] = mapped_column(Amount())


class InvoiceVersion(Base):
    __tablename__ = "invoice_version"
    __table_args__ = (UniqueConstraint("invoice_id", "version", name="uq_invoice_version"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    run_id: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class CustomerRow(_Versioned, Base):
    """The current version of a customer as one source knows it."""

    __tablename__ = "customer"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_customer_source"),
        Index("ix_customer_siren", "siren"),
        Index("ix_customer_vat", "vat_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(250))
    code: Mapped[str | None] = mapped_column(String(100))
    siren: Mapped[str | None] = mapped_column(String(9))
    vat_id: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    credit_limit: Mapped[Decimal | None] = mapped_column(Amount())
    # the collections part of the master (revision 0010); the whole record is in ``document``
    payment_terms: Mapped[str | None] = mapped_column(String(100))
    payment_days: Mapped[int | None] = mapped_column(Integer)
    dunning_language: Mapped[str | None] = mapped_column(String(35))
    blocked: Mapped[bool | None] = mapped_column(Boolean)
    on_hold: Mapped[bool | None] = mapped_column(Boolean)


class CustomerVersion(Base):
    __tablename__ = "customer_version"
    __table_args__ = (UniqueConstraint("customer_id", "version", name="uq_customer_version"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    run_id: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Watermark(Base):
    """How far each (source, stream) has been pulled: advanced only after a committed batch."""

    __tablename__ = "watermark"

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    stream: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cursor: Mapped[str | None] = mapped_column(String(250))  # opaque resume token (page, last id)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[str | None] = mapped_column(String(64))


def utcnow() -> dt.datetime:
    """Now, aware, in UTC: how the store stamps its rows."""
    return dt.datetime.now(dt.UTC)
