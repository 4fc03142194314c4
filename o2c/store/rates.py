"""Currency rates pulled from a source (the ``rates`` stream; revision 0010), and the
:class:`schemas.rates.RateTable` the KPIs and the risk scoring convert with.

A row is one rate of one currency from one date on, as the source keeps it (Tryton: units of the
currency for one unit of the currency whose rate is 1), with the source's company currency.
Rows are keyed by the source's own id; a rate moved to another date moves its row, and a rate
recreated under a new id for a date already stored replaces the old row (the source allows one
rate per currency and date).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Date, Index, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from o2c.store.models import Amount, Base, UTCDateTime
from schemas.errors import RejectedDocument
from schemas.money import is_currency
from schemas.rates import RateTable

MAX_RATE = Decimal("1E12")


class CurrencyRateRow(Base):
    """One rate of one currency, from ``day`` on, as source ``source`` keeps it."""

    __tablename__ = "currency_rate"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_currency_rate_source"),
        UniqueConstraint("source", "currency", "day", name="uq_currency_rate_day"),
        Index("ix_currency_rate_currency_day", "currency", "day"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(100))
    source_id: Mapped[str] = mapped_column(String(250))
    currency: Mapped[str] = mapped_column(String(3))
    day: Mapped[dt.date] = mapped_column(Date)
    rate: Mapped[Decimal] = mapped_column(Amount())
    company_currency: Mapped[str | None] = mapped_column(String(3))
    source_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    run_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Rate:
    """A rate record checked at intake."""

    source_id: str
    currency: str
    day: dt.date
    rate: Decimal
    company_currency: str | None
    updated_at: dt.datetime | None


def check_rate(record: dict[str, Any], source_id: str | None) -> Rate:
    """A connector's rate record ({id, currency, date, rate, company_currency, updated_at}) checked:
    :class:`RejectedDocument` naming the field for an unknown currency, a date that is no date, a
    rate that is not a positive number."""
    rid = source_id or "?"
    currency = record.get("currency")
    if not isinstance(currency, str) or not is_currency(currency):
        raise RejectedDocument(f"unknown ISO 4217 currency code {currency!r}", document_id=rid, field="currency")
    company = record.get("company_currency")
    if company is not None and (not isinstance(company, str) or not is_currency(company)):
        raise RejectedDocument(f"unknown ISO 4217 company currency {company!r}", document_id=rid, field="company_currency")
    day = record.get("date")
    if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
        try:
            day = dt.date.fromisoformat(str(day))
        except ValueError:
            raise RejectedDocument(f"rate date {str(day)[:40]!r} is not a date", document_id=rid, field="date") from None
    rate = record.get("rate")
    if not isinstance(rate, Decimal) or not rate.is_finite() or not Decimal(0) < rate < MAX_RATE:
        raise RejectedDocument(f"rate {str(rate)[:40]!r} is not a positive number below {MAX_RATE}", document_id=rid, field="rate")
    return Rate(rid, currency, day, rate, company, record.get("updated_at"))


def upsert_rates(s: Session, source: str, rates: list[Rate], *, run_id: str | None, now: dt.datetime) -> list[str]:
    """Insert or update each rate; the outcome of each (``inserted``, ``updated``, ``unchanged``)."""
    outcomes = []
    for r in rates:
        row = s.scalar(select(CurrencyRateRow).where(CurrencyRateRow.source == source, CurrencyRateRow.source_id == r.source_id))
        same_day = s.scalar(select(CurrencyRateRow).where(CurrencyRateRow.source == source, CurrencyRateRow.currency == r.currency,
                                                          CurrencyRateRow.day == r.day))
        if same_day is not None and same_day is not row:
            if row is None:
                row = same_day  # the same date's rate, recreated under another id
            else:
                s.delete(same_day)  # this rate moved onto a date whose old rate is gone
                s.flush()
        values = {"source_id": r.source_id, "currency": r.currency, "day": r.day, "rate": r.rate,
                  "company_currency": r.company_currency, "source_updated_at": r.updated_at}
        if row is None:
            s.add(CurrencyRateRow(source=source, run_id=run_id, updated_at=now, **values))
            outcomes.append("inserted")
        elif all(getattr(row, k) == v for k, v in values.items() if k != "source_updated_at"):
            outcomes.append("unchanged")
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.run_id, row.updated_at = run_id, now
            outcomes.append("updated")
        s.flush()
    return outcomes


def rate_table(s: Session, company_currency: str | None = None) -> RateTable:
    """The stored rates as a :class:`RateTable` in ``company_currency`` (default: the one the
    sources give; none when they give none, or several different ones: then nothing converts).

    Two sources giving a rate for the same currency and date: the one changed last in its
    source wins."""
    rows = list(s.scalars(select(CurrencyRateRow).order_by(CurrencyRateRow.source_updated_at, CurrencyRateRow.id)))
    if company_currency is None:
        companies = {r.company_currency for r in rows if r.company_currency}
        company_currency = companies.pop() if len(companies) == 1 else None
    by_currency: dict[str, dict[dt.date, Decimal]] = defaultdict(dict)
    for r in rows:
        by_currency[r.currency][r.day] = r.rate
    return RateTable(company_currency, {c: list(days.items()) for c, days in by_currency.items()})
