"""Cash application results: allocations, unapplied cash, write-off candidates and flags, each with
the run that produced them; and which bank entries a run has already decided."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from o2c.store.models import Amount, Base, UTCDateTime


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
    __table_args__ = (UniqueConstraint("as_of", "customer_key", "kind", name="uq_risk_flag"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[dt.date] = mapped_column()
    customer_key: Mapped[str] = mapped_column(String(100))
    customer_name: Mapped[str] = mapped_column(String(250))
    kind: Mapped[str] = mapped_column(String(50))
    severity: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Amount())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class KpiDaily(Base):
    """Company KPIs of one day (DSO by count-back and simple method, CEI, ageing, cash application)."""

    __tablename__ = "kpi_daily"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
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
