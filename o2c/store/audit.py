"""The audit trail: an append-only, hash-chained log of what the hub did and who decided it.

Every write-back enqueued, sent, failed or reversed, every reviewer decision, approval and
lifecycle status is one entry, appended **in the same transaction** as the change it records (both
are committed, or neither). Each entry holds the hash of the entry before it::

    hash = sha256(prev_hash | seq | at | actor | action | subject | canonical JSON of details)

so changing, removing or re-ordering any entry breaks the chain from there on, and
:func:`verify` (``o2c audit verify``) names the first entry that does not check. The chain is
linear: appends take a transaction-scoped lock on PostgreSQL (``pg_advisory_xact_lock``); on
SQLite the database's single writer does the same; ``prev_hash`` is unique, so two appends that
raced past the lock would fail rather than fork the chain.

The log proves the entries were not changed after the fact by someone without the means to
recompute every later hash. To detect even that, the head hash (``o2c audit verify`` prints it)
can be copied somewhere the database's users cannot write (a ticket, a signed e-mail) from time
to time: a rewritten chain will not end on a head hash recorded earlier.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, UniqueConstraint, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from o2c.store.models import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from o2c.store import Store

#: the ``prev_hash`` of the first entry
GENESIS = "0" * 64
#: PostgreSQL advisory lock key of the audit chain
AUDIT_LOCK_KEY = int.from_bytes(hashlib.sha256(b"o2c-hub audit chain").digest()[:8], "big", signed=True)
MAX_DETAILS_BYTES = 64 * 1024


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        UniqueConstraint("seq", name="uq_audit_log_seq"),
        UniqueConstraint("prev_hash", name="uq_audit_log_prev_hash"),
        Index("ix_audit_log_subject", "subject"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger)  # 1, 2, 3... in chain order
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))  # a person (reviewer, approver) or the job (o2c:writeback)
    action: Mapped[str] = mapped_column(String(100))  # writeback.enqueued, writeback.sent, review.accept ...
    subject: Mapped[str] = mapped_column(String(300))  # invoice:SOURCE:ID, writeback:KEY, bank_entry:E12 ...
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


def canonical(details: dict[str, Any]) -> str:
    """The details as the one JSON text the hash covers: sorted keys, no spaces; Decimals,
    dates and other values as their text (what the database gives back is then the same).

    >>> canonical({"b": Decimal("1.50"), "a": dt.date(2026, 12, 7)})
    '{"a":"2026-12-07","b":"1.50"}'
    """
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(prev_hash: str, seq: int, at: dt.datetime, actor: str, action: str, subject: str, details_json: str) -> str:
    at_text = at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = "\n".join([prev_hash, str(seq), at_text, actor, action, subject, details_json])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _lock(s: Session) -> None:
    """Serialise appends until the transaction ends: PostgreSQL's advisory lock; on SQLite a write
    statement (one that changes nothing) takes the database's write lock before the last entry is
    read, so a second appender waits instead of reading the same last entry."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    else:
        s.execute(text("UPDATE audit_log SET seq = seq WHERE 1 = 0"))


def append(s: Session, *, actor: str, action: str, subject: str, details: dict[str, Any] | None = None,
           at: dt.datetime | None = None) -> AuditEntry:
    """Append one entry in ``s`` (the transaction of the change it records)."""
    text_ = canonical(details or {})
    if len(text_.encode("utf-8")) > MAX_DETAILS_BYTES:
        raise ValueError(f"audit entry {action} {subject}: details over {MAX_DETAILS_BYTES} bytes")
    _lock(s)
    last = s.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    when = (at or utcnow()).astimezone(dt.UTC)
    entry = AuditEntry(seq=seq, at=when, actor=actor[:200], action=action[:100], subject=subject[:300],
                       details=json.loads(text_), prev_hash=prev,
                       hash=entry_hash(prev, seq, when, actor[:200], action[:100], subject[:300], text_))
    s.add(entry)
    s.flush()
    return entry


@dataclass(frozen=True)
class Verification:
    entries: int
    head: str  # the last entry's hash (GENESIS when the log is empty)
    broken_seq: int | None = None  # the first entry that does not check
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def _walk(store: Store, batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        with store.session() as s:
            rows = s.scalars(select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1].seq


def verify(store: Store) -> Verification:
    """Recompute the chain from the first entry; the first entry whose hash, link or number does
    not check is named, with why."""
    prev, expected, count = GENESIS, 1, 0
    for e in _walk(store):
        count += 1
        if e.seq != expected:
            return Verification(count, prev, expected, f"entry {expected} is missing (the next one is {e.seq})")
        if e.prev_hash != prev:
            return Verification(count, prev, e.seq, "it does not link to the entry before it (removed, re-ordered or rewritten)")
        if entry_hash(e.prev_hash, e.seq, e.at, e.actor, e.action, e.subject, canonical(e.details)) != e.hash:
            return Verification(count, prev, e.seq, "its content does not match its hash (changed after it was written)")
        prev, expected = e.hash, expected + 1
    return Verification(count, prev)


def trail(store: Store, subject_prefix: str, *, limit: int = 200) -> list[AuditEntry]:
    """The entries about one subject (``invoice:tryton_demo:12``) or a family (``writeback:``), in order."""
    with store.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.subject.startswith(subject_prefix, autoescape=True))
                              .order_by(AuditEntry.seq).limit(limit)))


def money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
