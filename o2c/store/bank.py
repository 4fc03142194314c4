"""Bank statements in the store: the file ledger, statement identity, entries and sequence gaps.

Functions take the :class:`~o2c.store.Store` (reads) or an open ``Session`` (writes, inside
the caller's transaction), like ``Store.quarantine``.

- The **file ledger** (``bank_file``) is keyed by the sha256 of the file's content: the same
  content re-uploaded or renamed is recognised, whatever its name.
- A **statement** is keyed by its identity (account, statement id or sequence number, creation
  time; plus its content hash when the file gives no id or no creation time), UNIQUE in the
  table: the same statement inside another file is not stored twice.
- A **sequence gap** is flagged when a statement's sequence number is more than one above the
  previous statement stored for its account.
- A statement is **stored as its entries stream in** (:class:`StatementWriter`): a file of one
  statement with millions of entries is never held in memory. Its row is inserted at its first
  batch under a savepoint, its entries a few thousand at a time, and its identity, content hash
  and duplicate check are settled at its end (the line formats give the closing balance after
  the entries); a duplicate found then is rolled back to the savepoint, so nothing of it stays.

>>> sequence_no("00004/00001"), sequence_no("12312"), sequence_no("5/1"), sequence_no(None), sequence_no("A1")
(4, 12312, 5, None, None)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import tempfile
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from o2c.store.models import Amount, Base, UTCDateTime, utcnow
from schemas.jsonio import content_hash, to_json
from schemas.statement import BankEntry, BankStatement

if TYPE_CHECKING:
    from o2c.store import Store


# -- bank statements (revision 0002) ------------------------------------------------------


class BankFile(Base):
    """The file ledger: one row per distinct bank file content (sha256), however often it is sent.

    ``status``: ``received`` (downloaded, not yet stored: a crash leaves it so and the next run
    takes it again), ``ingested`` (its statements are stored), ``duplicate`` (new content, but
    every statement in it was already stored from another file), ``quarantined`` (rejected
    whole; the raw bytes are in ``quarantine``). The same content seen again under any name is
    not ingested again: ``seen_count`` and ``last_seen_at`` record it.
    """

    __tablename__ = "bank_file"
    __table_args__ = (
        UniqueConstraint("sha256", name="uq_bank_file_sha256"),
        Index("ix_bank_file_bank_path", "bank", "remote_path"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    bank: Mapped[str] = mapped_column(String(100))
    remote_path: Mapped[str] = mapped_column(String(1000))  # where it was first found
    file_name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    remote_mtime: Mapped[int | None] = mapped_column(BigInteger)  # seconds since the epoch, as the server says
    sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # received, ingested, duplicate, quarantined
    statement_count: Mapped[int] = mapped_column(Integer, default=0)  # statements in the file
    stored_count: Mapped[int] = mapped_column(Integer, default=0)  # of which new (stored from this file)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    seen_count: Mapped[int] = mapped_column(Integer, default=1)
    last_remote_path: Mapped[str | None] = mapped_column(String(1000))
    ingested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    run_id: Mapped[str | None] = mapped_column(String(64))  # sync run that stored (or rejected) it
    reason: Mapped[str | None] = mapped_column(Text)


class BankStatementRow(Base):
    """One stored bank statement. Its identity is UNIQUE: the same statement in another file is skipped.

    Identity: ``account`` (IBAN, else the bank's account number), ``statement_ref`` (statement id,
    else the electronic sequence number), ``created_ref`` (creation time as the file gives it)
    and ``content_ref``: empty when the statement has both a reference and a creation time,
    else the sha256 of its canonical content (MT940, CFONB and BAI2 statements often have no
    unique reference; two different statements must never collapse into one).
    """

    __tablename__ = "bank_statement"
    __table_args__ = (
        UniqueConstraint("account", "statement_ref", "created_ref", "content_ref", name="uq_bank_statement_identity"),
        Index("ix_bank_statement_account_seq", "account", "sequence_no"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("bank_file.id"), index=True)
    bank: Mapped[str] = mapped_column(String(100))
    account: Mapped[str] = mapped_column(String(64))
    statement_ref: Mapped[str] = mapped_column(String(100))
    created_ref: Mapped[str] = mapped_column(String(40))
    content_ref: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(40))
    account_iban: Mapped[str | None] = mapped_column(String(34))
    account_number: Mapped[str | None] = mapped_column(String(64))
    servicer_bic: Mapped[str | None] = mapped_column(String(11))
    statement_id: Mapped[str | None] = mapped_column(String(100))
    sequence_number: Mapped[str | None] = mapped_column(String(40))
    sequence_no: Mapped[int | None] = mapped_column(BigInteger)  # numeric part, for gap detection
    message_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # a zone-less time is read as UTC
    period_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    period_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    currency: Mapped[str] = mapped_column(String(3))
    opening_balance: Mapped[Decimal | None] = mapped_column(Amount())
    opening_date: Mapped[dt.date | None] = mapped_column()
    closing_balance: Mapped[Decimal | None] = mapped_column(Amount())
    closing_date: Mapped[dt.date | None] = mapped_column()
    entry_count: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[str | None] = mapped_column(String(64))
    stored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class BankEntryRow(Base):
    """One booked (or pending) movement of a stored statement; ``document`` is the canonical entry."""

    __tablename__ = "bank_entry"
    __table_args__ = (
        UniqueConstraint("statement_id", "position", name="uq_bank_entry_position"),
        Index("ix_bank_entry_end_to_end", "end_to_end_id"),
        Index("ix_bank_entry_booking", "booking_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("bank_statement.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # 0-based order in the statement
    amount: Mapped[Decimal] = mapped_column(Amount())  # signed: + credit, - debit
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10), default="BOOK")
    booking_date: Mapped[dt.date | None] = mapped_column()
    value_date: Mapped[dt.date | None] = mapped_column()
    bank_ref: Mapped[str | None] = mapped_column(String(100))
    entry_ref: Mapped[str | None] = mapped_column(String(100))
    end_to_end_id: Mapped[str | None] = mapped_column(String(100))
    counterparty_name: Mapped[str | None] = mapped_column(String(250))
    counterparty_iban: Mapped[str | None] = mapped_column(String(34))
    counterparty_bic: Mapped[str | None] = mapped_column(String(11))
    remittance_text: Mapped[str | None] = mapped_column(Text)
    creditor_references: Mapped[str | None] = mapped_column(String(500))  # space-separated
    bank_tx_code: Mapped[str | None] = mapped_column(String(50))
    proprietary_code: Mapped[str | None] = mapped_column(String(50))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)


class BankSequenceGap(Base):
    """Statements missing between two of an account: sequence numbers ``missing_from..missing_to``.

    Raised when a statement's sequence number is more than one above the highest stored for its
    account; ``resolved_at`` is set once every missing number has arrived.
    """

    __tablename__ = "bank_sequence_gap"
    __table_args__ = (UniqueConstraint("account", "missing_from", "missing_to", name="uq_bank_sequence_gap"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    bank: Mapped[str] = mapped_column(String(100))
    account: Mapped[str] = mapped_column(String(64))
    missing_from: Mapped[int] = mapped_column(BigInteger)
    missing_to: Mapped[int] = mapped_column(BigInteger)
    statement_id: Mapped[int] = mapped_column(ForeignKey("bank_statement.id"))  # the first statement after the gap
    file_id: Mapped[int] = mapped_column(ForeignKey("bank_file.id"))
    run_id: Mapped[str | None] = mapped_column(String(64))
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

FINAL_STATUSES = ("ingested", "duplicate", "quarantined")
ENTRY_BATCH = 5000  # entry rows sent in one executemany
_SEQ = re.compile(r"^\s*(\d{1,15})(?:\s*/\s*\d+)?\s*$")


@dataclass(frozen=True)
class StatementIdentity:
    account: str
    statement_ref: str
    created_ref: str
    content_ref: str  # "" when account + ref + creation time identify the statement, else its content hash
    content_hash: str


@dataclass(frozen=True)
class StatementResult:
    outcome: str  # stored, duplicate
    statement_id: int
    conflict: bool = False  # a duplicate whose content differs from the stored statement
    gap: tuple[int, int] | None = None  # sequence numbers missing before this statement


def sequence_no(value: str | None) -> int | None:
    """The statement number of an electronic sequence number (MT940 ``:28C:`` ``5/1`` -> 5)."""
    if not value:
        return None
    m = _SEQ.match(value)
    return int(m.group(1)) if m else None


def statement_identity(stmt: BankStatement) -> StatementIdentity:
    """The identity of a statement held whole (its entries in ``stmt.entries``)."""
    return _identity(stmt, content_hash(to_json(stmt)))


def _identity(stmt: BankStatement, digest: str) -> StatementIdentity:
    account, ref, created = stmt.identity
    strong = bool(account and ref and created)
    return StatementIdentity(account=account, statement_ref=ref, created_ref=created,
                             content_ref="" if strong else digest, content_hash=digest)


_ENTRIES = '"entries":[]'  # in the canonical JSON of a statement without entries: only as its own key
_SPOOL_IN_MEMORY = 4 * 2**20  # compressed entry JSON kept in memory before the spool goes to a file
_UNZIP_STEP = 2**20


class EntryDigest:
    """:func:`statement_identity` of a statement whose entries come a batch at a time.

    The content hash is the sha256 of the statement's canonical JSON (:func:`content_hash`),
    whose ``"entries"`` key sorts after ``"closing_balance"``: the line formats give that balance
    after the entries, so the hash cannot run as they come. Each entry's canonical JSON is
    written, compressed, to a spool (memory, a temporary file past a few MiB) and hashed in its
    place once the statement is whole: the same bytes as ``content_hash(to_json(stmt))``, so
    the same identity and hash as for the statement held whole.
    """

    def __init__(self) -> None:
        self._spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by identity()
        self._zip = zlib.compressobj(1)
        self._sep = b""

    def add(self, document: dict[str, Any]) -> None:
        """One entry, as ``to_json(entry)`` (in statement order)."""
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        self._spool.write(self._zip.compress(self._sep + text.encode()))
        self._sep = b","

    def identity(self, stmt: BankStatement) -> StatementIdentity:
        """The identity of ``stmt`` (whole now, its entries those added); closes the spool."""
        header = json.dumps(to_json(dataclasses.replace(stmt, entries=[])), sort_keys=True, separators=(",", ":"),
                            ensure_ascii=False)
        before, found, after = header.partition(_ENTRIES)
        if not found:  # a change of the canonical statement: fail loudly rather than hash something else
            raise ValueError("no entries key in the canonical JSON of a statement")
        digest = hashlib.sha256((before + _ENTRIES[:-1]).encode())
        with self._spool:
            self._spool.write(self._zip.flush())
            self._spool.seek(0)
            unzip = zlib.decompressobj()
            while chunk := self._spool.read(_UNZIP_STEP):
                while chunk:  # a bounded piece at a time: entries alike compress a thousandfold
                    digest.update(unzip.decompress(chunk, _UNZIP_STEP))
                    chunk = unzip.unconsumed_tail
            digest.update(unzip.flush())
        digest.update(("]" + after).encode())
        return _identity(stmt, digest.hexdigest())

    def close(self) -> None:
        self._spool.close()


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# -- the file ledger ------------------------------------------------------------------------
def file_by_hash(s: Session, sha256: str, *, lock: bool = False) -> BankFile | None:
    """The ledger row of this content; with ``lock``, held (``FOR UPDATE``) until the transaction ends.

    Locked, a row that a concurrent ingest is storing is read once that ingest has committed,
    so its final status is seen and counters such as ``seen_count`` are not lost.
    """
    q = select(BankFile).where(BankFile.sha256 == sha256)
    return s.scalar(q.with_for_update() if lock else q)


def known_remote(s: Session, bank: str, remote_path: str, size: int, mtime: int) -> BankFile | None:
    """A finished ledger row for the file at ``remote_path`` with this size and time (not worth downloading again)."""
    return s.scalar(
        select(BankFile).where(BankFile.bank == bank, BankFile.size == size, BankFile.remote_mtime == mtime,
                               BankFile.status.in_(FINAL_STATUSES),
                               (BankFile.remote_path == remote_path) | (BankFile.last_remote_path == remote_path))
        .limit(1))


def register_file(s: Session, *, bank: str, remote_path: str, file_name: str, size: int, mtime: int | None,
                  sha256: str, run_id: str | None) -> BankFile:
    """Record a downloaded file as ``received`` (not yet stored)."""
    now = utcnow()
    row = BankFile(bank=bank, remote_path=remote_path, file_name=file_name, size=size, remote_mtime=mtime,
                   sha256=sha256, status="received", statement_count=0, stored_count=0, first_seen=now,
                   last_seen_at=now, seen_count=1, last_remote_path=remote_path, run_id=run_id)
    s.add(row)
    s.flush()
    return row


def claim_file(s: Session, file_id: int) -> BankFile | None:
    """Hold the ledger row of ``file_id`` for this transaction if the file is not finished; else None.

    A conditional ``UPDATE ... WHERE status NOT IN (finished)``: on PostgreSQL it waits for a
    concurrent transaction that holds the row and is then evaluated against the status that
    transaction committed; on SQLite it takes the database's write lock. So of two overlapping
    ingests of one file, one stores it and the other finds it finished (its attempt is a
    duplicate): the second can no longer read ``received``, find every statement stored by the
    first, and overwrite the first one's ``ingested`` with ``duplicate`` (a lost update).
    """
    claimed = s.execute(update(BankFile).where(BankFile.id == file_id, BankFile.status.not_in(FINAL_STATUSES))
                        .values(status=BankFile.status).execution_options(synchronize_session=False))
    if not claimed.rowcount:
        return None
    return s.get(BankFile, file_id, populate_existing=True)


def mark_seen(row: BankFile, *, remote_path: str, mtime: int | None) -> None:
    """The same content was picked up again (re-uploaded, renamed, or not yet archived)."""
    row.seen_count += 1
    row.last_seen_at = utcnow()
    row.last_remote_path = remote_path
    if mtime is not None:
        row.remote_mtime = mtime


# -- statements -----------------------------------------------------------------------------
def find_statement(s: Session, ident: StatementIdentity) -> BankStatementRow | None:
    return s.scalar(select(BankStatementRow).where(
        BankStatementRow.account == ident.account, BankStatementRow.statement_ref == ident.statement_ref,
        BankStatementRow.created_ref == ident.created_ref, BankStatementRow.content_ref == ident.content_ref))


def store_statement(s: Session, stmt: BankStatement, *, bank: str, file_id: int, run_id: str | None,
                    writer: StatementWriter | None = None) -> StatementResult:
    """Insert ``stmt`` and its entries unless a statement of the same identity is stored.

    ``stmt`` holds its entries, or (streaming) they went through ``writer``
    (:class:`StatementWriter`), begun on this statement, and ``stmt`` is now whole: this
    settles its identity and stores or drops it. Inside the caller's transaction, after a write
    (a savepoint is taken: the SQLite driver begins the transaction at the first write).
    """
    if writer is None:
        ident = statement_identity(stmt)
        existing = find_statement(s, ident)
        if existing is not None:  # nothing to write: decided before anything is inserted
            return StatementResult("duplicate", existing.id, conflict=existing.content_hash != ident.content_hash)
        writer = StatementWriter(s, stmt, bank=bank, file_id=file_id, run_id=run_id)
        writer.add(stmt.entries)
    return writer.finish(stmt)


class StatementWriter:
    """One statement stored as its entries come, a batch at a time, in flat memory.

    Begun at the statement's first batch: a savepoint, and the statement's row inserted with
    what is known so far under a provisional identity (``content_ref`` a unique placeholder, no
    sequence number: neither a duplicate check nor the gap detection can see it). :meth:`add`
    sends the entry rows :data:`ENTRY_BATCH` at a time (one executemany, the columns of
    :func:`_entry_values`) and feeds the content hash (:class:`EntryDigest`). :meth:`finish`
    (through :func:`store_statement`) takes the statement whole: its identity, then either the
    duplicate (rolled back to the savepoint: nothing of it stays) or the row completed with its
    final values, entry count and sequence gap, exactly as a statement held whole is stored.
    """

    def __init__(self, s: Session, stmt: BankStatement, *, bank: str, file_id: int, run_id: str | None) -> None:
        self._s = s
        self._bank, self._file_id, self._run_id = bank, file_id, run_id
        self._savepoint: SessionTransaction = s.begin_nested()
        account, ref, created = stmt.identity
        pending = StatementIdentity(account=account, statement_ref=ref, created_ref=created,
                                    content_ref=f"pending:{uuid.uuid4().hex}", content_hash="")
        self.row = BankStatementRow(**_statement_values(stmt, pending, None), file_id=file_id, bank=bank,
                                    run_id=run_id, entry_count=0, stored_at=utcnow())
        s.add(self.row)
        s.flush()
        self.count = 0
        self._rows: list[dict[str, Any]] = []
        self._digest = EntryDigest()

    def add(self, entries: Iterable[BankEntry]) -> None:
        for e in entries:
            doc = to_json(e)
            self._digest.add(doc)
            self._rows.append(_entry_values(self.row.id, self.count, e, doc))
            self.count += 1
            if len(self._rows) >= ENTRY_BATCH:
                self._send()

    def _send(self) -> None:
        if self._rows:
            self._s.execute(insert(BankEntryRow.__table__), self._rows)
            self._rows = []

    def finish(self, stmt: BankStatement) -> StatementResult:
        s = self._s
        try:
            self._send()
            ident = self._digest.identity(stmt)
        finally:
            self._digest.close()
        existing = find_statement(s, ident)
        if existing is not None:
            self._savepoint.rollback()
            return StatementResult("duplicate", existing.id, conflict=existing.content_hash != ident.content_hash)
        seq = sequence_no(stmt.sequence_number)
        previous = None
        if seq is not None:  # the account's latest stored statement with a sequence number (not this one: none yet)
            previous = s.scalar(select(BankStatementRow.sequence_no)
                                .where(BankStatementRow.account == ident.account, BankStatementRow.sequence_no.is_not(None))
                                .order_by(BankStatementRow.id.desc()).limit(1))
        row = self.row
        for name, value in _statement_values(stmt, ident, seq).items():
            setattr(row, name, value)
        row.entry_count, row.stored_at = self.count, utcnow()
        s.flush()
        gap = None
        if seq is not None and previous is not None:
            if seq > previous + 1 and not _all_present(s, ident.account, previous + 1, seq - 1):
                gap = (previous + 1, seq - 1)
                s.add(BankSequenceGap(bank=self._bank, account=ident.account, missing_from=gap[0], missing_to=gap[1],
                                      statement_id=row.id, file_id=self._file_id, run_id=self._run_id,
                                      detected_at=utcnow()))
            elif seq < previous:
                _resolve_gaps(s, ident.account, seq)
        s.flush()
        self._savepoint.commit()
        return StatementResult("stored", row.id, gap=gap)


def _statement_values(stmt: BankStatement, ident: StatementIdentity, seq: int | None) -> dict[str, Any]:
    """The columns of a statement's row that come from the statement and its identity."""
    ob, cb = stmt.opening_balance, stmt.closing_balance
    return dict(
        account=ident.account, statement_ref=ident.statement_ref, created_ref=ident.created_ref,
        content_ref=ident.content_ref, content_hash=ident.content_hash, format=stmt.format,
        account_iban=stmt.account_iban, account_number=stmt.account_number, servicer_bic=stmt.servicer_bic,
        statement_id=stmt.statement_id, sequence_number=stmt.sequence_number, sequence_no=seq,
        message_id=stmt.message_id, created_at=_aware(stmt.created_at), period_start=_aware(stmt.from_date),
        period_end=_aware(stmt.to_date), currency=stmt.currency,
        opening_balance=ob.amount if ob else None, opening_date=ob.date if ob else None,
        closing_balance=cb.amount if cb else None, closing_date=cb.date if cb else None)


def _entry_values(statement_id: int, position: int, e: BankEntry, document: dict[str, Any]) -> dict[str, Any]:
    """The columns of an entry's row; ``document`` is ``to_json(e)``."""
    return dict(
        statement_id=statement_id, position=position, amount=e.amount, currency=e.currency, status=e.status,
        booking_date=e.booking_date, value_date=e.value_date, bank_ref=_cut(e.bank_ref, 100),
        entry_ref=_cut(e.entry_ref, 100), end_to_end_id=_cut(e.end_to_end_id, 100),
        counterparty_name=_cut(e.counterparty_name, 250), counterparty_iban=_cut(e.counterparty_iban, 34),
        counterparty_bic=_cut(e.counterparty_bic, 11), remittance_text=e.remittance_text or None,
        creditor_references=_cut(" ".join(e.creditor_references), 500) or None,
        bank_tx_code=_cut(e.bank_tx_code, 50), proprietary_code=_cut(e.proprietary_code, 50), document=document)


def _cut(value: str | None, n: int) -> str | None:
    """Indexed columns have a bounded width; the full value stays in ``document``."""
    return value[:n] if value else value


def _all_present(s: Session, account: str, lo: int, hi: int) -> bool:
    if hi - lo > 10000:
        return False
    n = s.scalar(select(func.count(func.distinct(BankStatementRow.sequence_no))).where(
        BankStatementRow.account == account, BankStatementRow.sequence_no.between(lo, hi)))
    return n == hi - lo + 1


def _resolve_gaps(s: Session, account: str, seq: int) -> None:
    for gap in s.scalars(select(BankSequenceGap).where(
            BankSequenceGap.account == account, BankSequenceGap.resolved_at.is_(None),
            BankSequenceGap.missing_from <= seq, BankSequenceGap.missing_to >= seq)):
        s.flush()
        if _all_present(s, account, gap.missing_from, gap.missing_to):
            gap.resolved_at = utcnow()


# -- reading --------------------------------------------------------------------------------
def bank_files(store: Store, bank: str | None = None) -> list[BankFile]:
    with store.session() as s:
        q = select(BankFile).order_by(BankFile.id)
        if bank:
            q = q.where(BankFile.bank == bank)
        return list(s.scalars(q))


def bank_statements(store: Store, *, bank: str | None = None, account: str | None = None) -> list[BankStatementRow]:
    with store.session() as s:
        q = select(BankStatementRow).order_by(BankStatementRow.id)
        if bank:
            q = q.where(BankStatementRow.bank == bank)
        if account:
            q = q.where(BankStatementRow.account == account)
        return list(s.scalars(q))


def statement_entries(store: Store, statement_id: int) -> list[BankEntryRow]:
    with store.session() as s:
        return list(s.scalars(select(BankEntryRow).where(BankEntryRow.statement_id == statement_id)
                              .order_by(BankEntryRow.position)))


def sequence_gaps(store: Store, *, open_only: bool = True) -> list[BankSequenceGap]:
    with store.session() as s:
        q = select(BankSequenceGap).order_by(BankSequenceGap.id)
        if open_only:
            q = q.where(BankSequenceGap.resolved_at.is_(None))
        return list(s.scalars(q))


def counts(store: Store) -> dict[str, int]:
    """Row counts of the bank tables (tests, summaries)."""
    with store.session() as s:
        return {name: int(s.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in (("files", BankFile), ("statements", BankStatementRow),
                                    ("entries", BankEntryRow), ("gaps", BankSequenceGap))}
