"""What the source ERPs say is left to pay on each invoice (their settlement state), its history,
and the data-quality findings about what they say.

``invoice_settlement`` holds, per (source, invoice source id), the current
:class:`schemas.settlement.Settlement` pulled by the ``settlements`` stream: state, open amount,
currency, settlement date and the settling lines (JSON), with its content hash, the sync run that
last changed it and when. Every changed version is also kept in ``invoice_settlement_version``
("the ERP said X on date D": its state and open amount, the source's change time and when the hub
recorded it). Upserts go by content hash: a new invoice is inserted, a changed one gets a new
version, an unchanged one is left as it is (the source's change time alone is no change), so
re-running a window changes nothing.

``data_quality_finding`` keeps what the hub found wrong in a source's figures (an ERP open amount
below zero or above the document's total...), one open row per (source, subject, id, rule): seen
again it is updated, no longer true it is marked resolved.

Readers for the next steps (the combined open amount, ``o2c receivables``):
:func:`settlement_of` and :func:`settlements_of` return canonical settlements, :func:`history`
the versions of one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select, tuple_
from sqlalchemy.orm import Mapped, Session, mapped_column

from o2c.store.models import Amount, Base, UTCDateTime
from schemas.jsonio import content_hash, from_json, to_json
from schemas.settlement import Settlement

_ID = BigInteger().with_variant(Integer, "sqlite")


class SettlementRow(Base):
    """The current settlement state of one invoice or credit note, as its source ERP says it."""

    __tablename__ = "invoice_settlement"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_invoice_settlement_source"),
        Index("ix_invoice_settlement_invoice", "invoice_id"),
        Index("ix_invoice_settlement_state", "source", "state"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(100))
    source_id: Mapped[str] = mapped_column(String(250))  # the invoice's id in the source (= invoice.source_id)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20))  # open, partial, paid, cancelled
    open_amount: Mapped[Decimal] = mapped_column(Amount())  # document currency, sign of BT-115
    currency: Mapped[str] = mapped_column(String(3))
    settled_on: Mapped[dt.date | None] = mapped_column()
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # SettlementLine as JSON
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    source_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    first_run_id: Mapped[str | None] = mapped_column(String(64))
    last_run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SettlementVersion(Base):
    """One version of a settlement as it was recorded: what the ERP said, and when."""

    __tablename__ = "invoice_settlement_version"
    __table_args__ = (UniqueConstraint("settlement_id", "version", name="uq_invoice_settlement_version"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("invoice_settlement.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))
    open_amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    settled_on: Mapped[dt.date | None] = mapped_column()
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    source_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # the ERP's change time
    run_id: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class DataQualityFinding(Base):
    """Something wrong in a source's figures, found by the hub while storing them.

    ``subject`` is the kind of record (``settlement``), ``source_id`` its id in the source, ``rule``
    what was checked (``open_amount_negative``, ``open_amount_above_total``), ``details`` the values.
    ``resolved_at`` is set once a later version of the record no longer breaks the rule.
    """

    __tablename__ = "data_quality_finding"
    __table_args__ = (
        UniqueConstraint("source", "subject", "source_id", "rule", name="uq_data_quality_finding_identity"),
        Index("ix_data_quality_finding_open", "source", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(50))
    source_id: Mapped[str] = mapped_column(String(250))
    rule: Mapped[str] = mapped_column(String(50))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_run_id: Mapped[str | None] = mapped_column(String(64))
    last_run_id: Mapped[str | None] = mapped_column(String(64))
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _document(settlement: Settlement) -> dict[str, Any]:
    """The settlement's JSON without the source's change time: the same facts at a later write
    date are no change."""
    doc = to_json(settlement)
    if isinstance(doc.get("source"), dict):
        doc["source"] = {k: v for k, v in doc["source"].items() if k != "updated_at"}
    return doc


def upsert_settlements(s: Session, items: list[tuple[Settlement, int]], *, run_id: str | None) -> list[str]:
    """Insert, version or leave each (settlement, hub invoice row id) of a batch; return the
    outcome of each (``inserted``, ``updated``, ``unchanged``), in order. One SELECT for the batch."""
    now = _now()
    keys: dict[str, set[str]] = {}
    for settlement, _ in items:
        if settlement.source is None:
            raise ValueError(f"settlement of {settlement.invoice_id}: a settlement needs its source reference to be stored")
        keys.setdefault(settlement.source.system, set()).add(settlement.invoice_id)
    existing: dict[tuple[str, str], SettlementRow] = {}
    for source, ids in keys.items():
        id_list = sorted(ids)
        for i in range(0, len(id_list), 500):
            query = select(SettlementRow).where(SettlementRow.source == source, SettlementRow.source_id.in_(id_list[i:i + 500]))
            for row in s.scalars(query):
                existing[(row.source, row.source_id)] = row
    outcomes: list[str] = []
    for settlement, invoice_row_id in items:
        assert settlement.source is not None
        doc = _document(settlement)
        digest = content_hash(doc)
        key = (settlement.source.system, settlement.invoice_id)
        row = existing.get(key)
        values = dict(invoice_id=invoice_row_id, state=settlement.state, open_amount=settlement.open_amount,
                      currency=settlement.currency, settled_on=settlement.settled_on, lines=doc["lines"], content_hash=digest,
                      source_updated_at=settlement.source.updated_at, last_run_id=run_id, updated_at=now)
        if row is None:
            row = SettlementRow(source=key[0], source_id=key[1], version=1, first_run_id=run_id, created_at=now, **values)
            s.add(row)
            existing[key] = row
            outcomes.append("inserted")
        elif row.content_hash == digest:
            outcomes.append("unchanged")
            continue
        else:
            for name, value in values.items():
                setattr(row, name, value)
            row.version += 1
            outcomes.append("updated")
        s.flush()  # the version row needs the settlement's id
        s.add(SettlementVersion(settlement_id=row.id, version=row.version, state=row.state, open_amount=row.open_amount,
                                currency=row.currency, settled_on=row.settled_on, lines=row.lines, content_hash=digest,
                                source_updated_at=row.source_updated_at, run_id=run_id, recorded_at=now))
    return outcomes


def _canonical(row: SettlementRow) -> Settlement:
    return from_json(Settlement, {
        "invoice_id": row.source_id, "state": row.state, "open_amount": str(row.open_amount), "currency": row.currency,
        "settled_on": row.settled_on.isoformat() if row.settled_on else None, "lines": row.lines,
        "source": {"system": row.source, "id": row.source_id,
                   "updated_at": row.source_updated_at.isoformat() if row.source_updated_at else None},
    })


def settlement_of(s: Session, source: str, invoice_source_id: str) -> Settlement | None:
    """The ERP's settlement state of one invoice (its id in ``source``), or None when the source
    has not sent one (the hub's open amount is then its own estimate)."""
    row = s.scalar(select(SettlementRow).where(SettlementRow.source == source, SettlementRow.source_id == invoice_source_id))
    return None if row is None else _canonical(row)


def settlements_of(s: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Settlement]:
    """:func:`settlement_of` for many (source, invoice source id) at once; keys without one are left out."""
    wanted = sorted(set(keys))
    out: dict[tuple[str, str], Settlement] = {}
    for i in range(0, len(wanted), 500):
        query = select(SettlementRow).where(tuple_(SettlementRow.source, SettlementRow.source_id).in_(wanted[i:i + 500]))
        for row in s.scalars(query):
            out[(row.source, row.source_id)] = _canonical(row)
    return out


def history(s: Session, source: str, invoice_source_id: str) -> list[SettlementVersion]:
    """Every recorded version of one invoice's settlement, oldest first."""
    query = (select(SettlementVersion).join(SettlementRow, SettlementVersion.settlement_id == SettlementRow.id)
             .where(SettlementRow.source == source, SettlementRow.source_id == invoice_source_id)
             .order_by(SettlementVersion.version))
    return list(s.scalars(query))


# -- data-quality findings ------------------------------------------------------------------
def record_finding(s: Session, *, source: str, subject: str, source_id: str, rule: str, message: str,
                   details: dict[str, Any], run_id: str | None) -> DataQualityFinding:
    """Record (or refresh) an open finding; a resolved one found again is opened again."""
    now = _now()
    row = s.scalar(select(DataQualityFinding).where(
        DataQualityFinding.source == source, DataQualityFinding.subject == subject,
        DataQualityFinding.source_id == source_id, DataQualityFinding.rule == rule))
    if row is None:
        row = DataQualityFinding(source=source, subject=subject, source_id=source_id, rule=rule, message=message,
                                 details=details, first_run_id=run_id, last_run_id=run_id, first_seen=now, last_seen=now)
        s.add(row)
    else:
        row.message, row.details, row.last_run_id, row.last_seen, row.resolved_at = message, details, run_id, now, None
    return row


def resolve_findings(s: Session, *, source: str, subject: str, source_id: str, keep: Iterable[str] = ()) -> int:
    """Mark the open findings of one record resolved, but those whose rule is in ``keep``."""
    rows = s.scalars(select(DataQualityFinding).where(
        DataQualityFinding.source == source, DataQualityFinding.subject == subject, DataQualityFinding.source_id == source_id,
        DataQualityFinding.resolved_at.is_(None), DataQualityFinding.rule.not_in(list(keep)))).all()
    for row in rows:
        row.resolved_at = _now()
    return len(rows)


def findings(s: Session, source: str | None = None, *, open_only: bool = True) -> list[DataQualityFinding]:
    """The data-quality findings (of ``source``), oldest first."""
    query = select(DataQualityFinding).order_by(DataQualityFinding.id)
    if source:
        query = query.where(DataQualityFinding.source == source)
    if open_only:
        query = query.where(DataQualityFinding.resolved_at.is_(None))
    return list(s.scalars(query))
