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

>>> sequence_no("00004/00001"), sequence_no("12312"), sequence_no("5/1"), sequence_no(None), sequence_no("A1")
(4, 12312, 5, None, None)
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from o2c.store import Store, utcnow
from o2c.store.models import BankEntryRow, BankFile, BankSequenceGap, BankStatementRow
from schemas.jsonio import content_hash, to_json
from schemas.statement import BankStatement

FINAL_STATUSES = ("ingested", "duplicate", "quarantined")
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
    account, ref, created = stmt.identity
    digest = content_hash(to_json(stmt))
    strong = bool(account and ref and created)
    return StatementIdentity(account=account, statement_ref=ref, created_ref=created,
                             content_ref="" if strong else digest, content_hash=digest)


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


def store_statement(s: Session, stmt: BankStatement, *, bank: str, file_id: int, run_id: str | None) -> StatementResult:
    """Insert ``stmt`` and its entries unless a statement of the same identity is stored."""
    ident = statement_identity(stmt)
    existing = find_statement(s, ident)
    if existing is not None:
        return StatementResult("duplicate", existing.id, conflict=existing.content_hash != ident.content_hash)
    seq = sequence_no(stmt.sequence_number)
    previous = None
    if seq is not None:  # the account's latest stored statement with a sequence number
        previous = s.scalar(select(BankStatementRow.sequence_no)
                            .where(BankStatementRow.account == ident.account, BankStatementRow.sequence_no.is_not(None))
                            .order_by(BankStatementRow.id.desc()).limit(1))
    ob, cb = stmt.opening_balance, stmt.closing_balance
    row = BankStatementRow(
        file_id=file_id, bank=bank, account=ident.account, statement_ref=ident.statement_ref,
        created_ref=ident.created_ref, content_ref=ident.content_ref, content_hash=ident.content_hash,
        format=stmt.format, account_iban=stmt.account_iban, account_number=stmt.account_number,
        servicer_bic=stmt.servicer_bic, statement_id=stmt.statement_id, sequence_number=stmt.sequence_number,
        sequence_no=seq, message_id=stmt.message_id, created_at=_aware(stmt.created_at),
        period_start=_aware(stmt.from_date), period_end=_aware(stmt.to_date), currency=stmt.currency,
        opening_balance=ob.amount if ob else None, opening_date=ob.date if ob else None,
        closing_balance=cb.amount if cb else None, closing_date=cb.date if cb else None,
        entry_count=len(stmt.entries), run_id=run_id, stored_at=utcnow())
    s.add(row)
    s.flush()
    s.add_all(_entry_row(row.id, i, e) for i, e in enumerate(stmt.entries))
    gap = None
    if seq is not None and previous is not None:
        if seq > previous + 1 and not _all_present(s, ident.account, previous + 1, seq - 1):
            gap = (previous + 1, seq - 1)
            s.add(BankSequenceGap(bank=bank, account=ident.account, missing_from=gap[0], missing_to=gap[1],
                                  statement_id=row.id, file_id=file_id, run_id=run_id, detected_at=utcnow()))
        elif seq < previous:
            _resolve_gaps(s, ident.account, seq)
    s.flush()
    return StatementResult("stored", row.id, gap=gap)


def _entry_row(statement_id: int, position: int, e: Any) -> BankEntryRow:
    return BankEntryRow(
        statement_id=statement_id, position=position, amount=e.amount, currency=e.currency, status=e.status,
        booking_date=e.booking_date, value_date=e.value_date, bank_ref=_cut(e.bank_ref, 100),
        entry_ref=_cut(e.entry_ref, 100), end_to_end_id=_cut(e.end_to_end_id, 100),
        counterparty_name=_cut(e.counterparty_name, 250), counterparty_iban=_cut(e.counterparty_iban, 34),
        counterparty_bic=_cut(e.counterparty_bic, 11), remittance_text=e.remittance_text or None,
        creditor_references=_cut(" ".join(e.creditor_references), 500) or None,
        bank_tx_code=_cut(e.bank_tx_code, 50), proprietary_code=_cut(e.proprietary_code, 50), document=to_json(e))


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
