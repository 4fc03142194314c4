"""Bank statements, exactly once: pick files up over SFTP, ledger them, parse, store, archive.

The work behind the ``bank_statement_ingest`` DAG and ``o2c bank fetch``, in three steps that
each can be re-run safely:

1. :func:`check` lists the bank's folder and keeps the files that have settled (same size and
   time over ``settle_seconds``) and are not already in the ledger with the same path, size and
   time (a bank that keeps files on its server is not downloaded again every run).
2. :func:`fetch` downloads them into a staging folder keyed by the run
   (``$O2C_HOME/staging/bank/<bank>/<run key>/``), hashing while it reads. A file the SFTP
   client refuses (a listed name that is not a plain file name, a file over the bank's size
   limit) is not downloaded, stays on the server and is counted as ``refused`` in the summary.
3. :func:`ingest` takes each staged file: ledger by sha256 (the same content under any name is
   a duplicate and is not stored again), then, in one transaction, read it as it streams
   (:func:`edi.bank.iter_batches`: memory stays flat whatever the size of the file; the
   parser checks every statement as :func:`edi.bank.parse_file` does: balances reconcile,
   currencies agree; camt.054 has no balances), store the statements and their entries as they
   come (:class:`o2c.store.bank.StatementWriter`) **and** mark the file ingested.
   Statement identity is UNIQUE, so the same statement in another file is skipped. A file that
   fails is quarantined whole (raw bytes, reason) and nothing of it is stored, whether the
   parser refuses it or the database does (a value its columns cannot hold: the transaction
   is rolled back, the reason keeps the driver's first line, never SQL or parameters; the
   parser's verdict comes first, as when the file was parsed whole before storing); its
   ledger row is then final (``quarantined``), so no later run takes it again, and the run goes
   on with the next file. Only after the commit is the remote file archived or deleted (when
   configured).

Two ingests of the same content at once (two ``o2c bank ingest``, a CLI run beside the DAG)
store it once: the storing transaction first claims the ledger row
(:func:`o2c.store.bank.claim_file`, a conditional UPDATE that waits for a concurrent holder),
so the second finds the file finished and reports a duplicate instead of overwriting the
first one's ``ingested`` with ``duplicate``.

A crash anywhere leaves either nothing committed (the ledger row stays ``received`` or does not
exist, the remote file is still there: the next run takes it again) or everything committed
(the next run sees the hash and only finishes the archiving). Logs and summaries mask account
numbers (``FR76…0189``) and never show credentials.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError, StatementError

from o2c.config import BankConfig
from o2c.context import RunContext
from o2c.store import Store
from o2c.store import bank as ledger
from schemas.errors import RejectedDocument
from transport.redact import mask_account, redact
from transport.sftp import FileChanged, RemoteFile, SftpClient, SftpSettings, StagedFile

if TYPE_CHECKING:
    from edi.bank import Batch
    from schemas.statement import BankStatement

log = logging.getLogger(__name__)

STREAM = "bank_statements"


@dataclass
class FileOutcome:
    name: str
    remote_path: str
    sha256: str
    size: int
    outcome: str  # ingested, duplicate, quarantined, already_seen
    file_id: int | None = None
    format: str | None = None
    statements: int = 0
    stored: int = 0
    entries: int = 0
    duplicate_statements: int = 0
    conflicts: int = 0
    gaps: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    remote_action: str | None = None  # archived, deleted, kept, failed: ...


@dataclass
class BankRunSummary:
    bank: str
    run_id: str | None = None
    checked: int = 0
    growing: list[str] = field(default_factory=list)
    left_for_later: list[str] = field(default_factory=list)
    files: list[FileOutcome] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)  # RefusedFile.as_dict(): unsafe name, too large

    def count(self, outcome: str) -> int:
        return sum(1 for f in self.files if f.outcome == outcome)

    @property
    def gaps(self) -> list[dict[str, Any]]:
        return [g for f in self.files for g in f.gaps]

    def as_dict(self) -> dict[str, Any]:
        return {
            "bank": self.bank, "run_id": self.run_id, "checked": self.checked,
            "ingested": self.count("ingested"), "duplicates": self.count("duplicate") + self.count("already_seen"),
            "quarantined": self.count("quarantined"),
            "statements_stored": sum(f.stored for f in self.files),
            "entries_stored": sum(f.entries for f in self.files),
            "duplicate_statements": sum(f.duplicate_statements for f in self.files),
            "conflicts": sum(f.conflicts for f in self.files),
            "sequence_gaps": self.gaps, "growing": list(self.growing), "left_for_later": list(self.left_for_later),
            "refused": len(self.refused), "refused_files": list(self.refused),
            "files": [_shown(f) for f in self.files],
        }

    def lines(self) -> list[str]:
        d = self.as_dict()
        out = [f"{self.bank}: {len(self.files)} file(s): ingested {d['ingested']}, duplicates {d['duplicates']}, "
               f"quarantined {d['quarantined']}; statements stored {d['statements_stored']} "
               f"(entries {d['entries_stored']}), already stored {d['duplicate_statements']}"
               + (f"; still being written: {len(self.growing)}" if self.growing else "")
               + (f"; left for later: {len(self.left_for_later)}" if self.left_for_later else "")
               + (f"; refused (left on the server): {len(self.refused)}" if self.refused else "")]
        for f in self.files:
            extra = f" ({redact(f.reason)})" if f.reason else ""
            out.append(f"  {f.outcome:<12} {redact(f.name)}: {f.stored}/{f.statements} statement(s) stored{extra}")
        for r in self.refused:  # name and reason already escaped and masked by the SFTP client
            out.append(f"  {'refused':<12} {r['name']}: {r['size']} bytes listed: {r['error']}: {r['reason']}")
        for g in self.gaps:
            out.append(f"  SEQUENCE GAP account {g['account']}: statements {g['missing_from']}..{g['missing_to']} missing")
        return out


def _shown(f: FileOutcome) -> dict[str, Any]:
    """A file's outcome as it may be logged and passed through XCom: account numbers masked."""
    d = asdict(f)
    for key in ("name", "remote_path", "reason"):
        if d[key]:
            d[key] = redact(d[key])
    return d


def staging_dir(root: str | Path, bank: str, run_key: str) -> Path:
    """``root/bank/run_key`` with the run key made safe for a folder name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", run_key).strip("._") or "run"
    return Path(root) / bank / safe


def _log_files(bank: str, verb: str, files: Sequence[RemoteFile]) -> None:
    for f in files:
        log.info("%s: %s %s (%d bytes)", bank, verb, redact(f.name), f.size)


# -- step 1: check --------------------------------------------------------------------------
def check(client: SftpClient, bank: BankConfig, store: Store, *,
          sleep: Callable[[float], None] = time.sleep) -> tuple[list[RemoteFile], list[RemoteFile], list[RemoteFile]]:
    """``(new, growing, known)``: settled files to fetch, files still being written, and files
    the ledger already holds (same path, size and time) that are only waiting to be archived."""
    ready, growing = client.settled_files(bank.folder, bank.patterns, bank.settle_seconds, sleep=sleep)
    new: list[RemoteFile] = []
    known: list[RemoteFile] = []
    with store.session() as s:
        for f in ready:
            (known if ledger.known_remote(s, bank.name, f.path, f.size, f.mtime) else new).append(f)
    _log_files(bank.name, "new file", new)
    _log_files(bank.name, "still being written, left for later:", growing)
    return new, growing, known


# -- step 2: fetch --------------------------------------------------------------------------
def fetch(client: SftpClient, bank: BankConfig, files: Sequence[RemoteFile], folder: str | Path, *,
          progress: Callable[[int], None] | None = None) -> tuple[list[StagedFile], list[str]]:
    """Download ``files`` into ``folder``; ``(staged, left_for_later)``."""
    staged, later = [], []
    for f in files:
        try:
            sf = client.download(f, folder, progress=progress, max_bytes=bank.max_file_bytes)
        except FileChanged as exc:
            log.warning("%s: %s", bank.name, exc)
            later.append(f.name)
            continue
        except RejectedDocument:  # unsafe name or too large: logged, left on the server, in client.refused
            continue
        log.info("%s: fetched %s (%d bytes, sha256 %s…)", bank.name, redact(f.name), sf.size, sf.sha256[:12])
        staged.append(sf)
    return staged, later


# -- step 3: ingest -------------------------------------------------------------------------
def ingest_file(store: Store, bank: str, staged: StagedFile, *, run_id: str | None,
                max_bytes: int | None = None) -> FileOutcome:
    """Ledger, parse, check and store one staged file, exactly once (see the module docstring).

    ``max_bytes``: the bank's ``max_file_bytes`` (None: the ``bank_file`` limit of :mod:`edi.limits`).
    """
    out = FileOutcome(name=staged.name, remote_path=staged.remote_path, sha256=staged.sha256, size=staged.size,
                      outcome="ingested")
    for attempt in (1, 2):
        try:
            with store.session() as s:
                row = ledger.file_by_hash(s, staged.sha256, lock=True)
                if row is not None and row.status in ledger.FINAL_STATUSES:
                    ledger.mark_seen(row, remote_path=staged.remote_path, mtime=staged.mtime)
                    return _duplicate_of(bank, staged, row, out)
                if row is None:
                    row = ledger.register_file(s, bank=bank, remote_path=staged.remote_path, file_name=staged.name,
                                               size=staged.size, mtime=staged.mtime, sha256=staged.sha256, run_id=run_id)
                else:
                    log.warning("%s: %s was received before but never stored (interrupted run): taking it again",
                                bank, redact(staged.name))
                file_id = row.id
            break
        except IntegrityError:  # another worker registered the same content just now: look again
            if attempt == 2:
                raise
    out.file_id = file_id

    for attempt in (1, 2):
        try:
            finished = _store_statements(store, bank, staged, file_id, run_id, out, max_bytes)
            break
        except (RejectedDocument, _Unreadable) as exc:  # the parser's verdict: the transaction was rolled back
            _reset(out)
            return _rejected(store, bank, staged, file_id, exc, run_id, out)
        except SQLAlchemyError as exc:
            _reset(out)
            if isinstance(exc, IntegrityError) and attempt == 1:
                continue  # a concurrent run stored one of these statements first: look again
            reason = refused_by_database(exc)
            if reason is None:  # the connection or the server, not this file: the run stops, the file stays 'received'
                raise
            try:  # the parser's verdict comes first, as when the file was read whole before anything was stored
                out.format, out.statements = _read_through(staged, max_bytes)
            except (RejectedDocument, _Unreadable) as rejected:
                return _rejected(store, bank, staged, file_id, rejected, run_id, out)
            return _quarantine(store, bank, staged, file_id, f"{staged.name}: {reason}", None, run_id, out)
    if finished is not None:  # a concurrent ingest of the same content stored (or rejected) it first
        return _duplicate_of(bank, staged, finished, out)
    out.outcome = "ingested" if out.stored else "duplicate"
    if out.outcome == "duplicate":
        out.reason = "every statement in it was already stored from another file"
    for g in out.gaps:
        log.warning("%s: sequence gap on account %s: statements %s..%s missing", bank, g["account"],
                    g["missing_from"], g["missing_to"])
    log.info("%s: %s %s: %d statement(s), %d stored, %d already stored", bank, out.outcome, redact(staged.name),
             out.statements, out.stored, out.duplicate_statements)
    return out


class _Unreadable(Exception):
    """The parser failed on odd input with an error that is not a rejection (a parser bug)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(f"unreadable: {cause.__class__.__name__}: {cause}")


def _batches(staged: StagedFile, max_bytes: int | None) -> Iterator[Batch]:
    """The file's statements in batches, checked (:func:`edi.bank.iter_batches`); a parser bug
    raises :class:`_Unreadable`, so it is told from a failure of the code that stores."""
    from edi.bank import iter_batches

    with closing(iter_batches(staged.local_path, max_bytes=max_bytes)) as batches:  # the file closed on any exit
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (RejectedDocument, MemoryError, OSError):
                raise
            except Exception as exc:  # noqa: BLE001 - a parser bug on odd input must not block the bank's other files
                raise _Unreadable(exc) from exc
            yield batch


def _read_through(staged: StagedFile, max_bytes: int | None) -> tuple[str, int]:
    """Read the file without storing: the format of its first statement and how many it has."""
    fmt, count = "", 0
    for stmt, _entries, complete in _batches(staged, max_bytes):
        if complete:
            fmt, count = fmt or stmt.format, count + 1
    if not count:
        raise RejectedDocument("no statement in the file", document_id=staged.name)
    return fmt, count


def _reset(out: FileOutcome) -> None:
    out.format, out.statements = None, 0
    out.stored = out.entries = out.duplicate_statements = out.conflicts = 0
    out.gaps = []


def _rejected(store: Store, bank: str, staged: StagedFile, file_id: int, exc: Exception, run_id: str | None,
              out: FileOutcome) -> FileOutcome:
    """Quarantine a file the parser refused (or failed on), with the reason parsing it whole gave."""
    if isinstance(exc, RejectedDocument):
        return _quarantine(store, bank, staged, file_id, str(exc).replace(staged.local_path, staged.name),
                           exc.field, run_id, out)
    return _quarantine(store, bank, staged, file_id, str(exc), None, run_id, out)


def _duplicate_of(bank: str, staged: StagedFile, row: Any, out: FileOutcome) -> FileOutcome:
    """This content is already in the ledger, finished (``row``): the file is a duplicate."""
    out.outcome, out.file_id, out.format = "duplicate", row.id, row.format
    out.reason = (f"same content as file #{row.id} {row.file_name!r} "
                  f"({row.status} {row.first_seen:%Y-%m-%d %H:%M})")
    log.info("%s: %s is a duplicate of file #%d: not ingested again", bank, redact(staged.name), row.id)
    return out


def refused_by_database(exc: SQLAlchemyError) -> str | None:
    """Why the database refused a file's data, without SQL or parameters; None for a failure that is not the file's.

    A value the store cannot hold (``DataError``: a numeric overflow, a text too long for its
    column, a NUL byte), a constraint still violated after the retry (``IntegrityError``), or
    a value the driver could not send make the file's reason: it is quarantined and the run
    goes on. A lost connection, a server error or a bug (``OperationalError``,
    ``ProgrammingError``...) would fail every file alike and is raised instead. SQLAlchemy's
    own message holds the statement and its parameters (account numbers): only the driver's
    first line is kept, account numbers masked.
    """
    if isinstance(exc, DBAPIError):
        if not isinstance(exc, (DataError, IntegrityError)):
            return None
    elif not isinstance(exc, StatementError):  # an ORM or configuration error: a bug, not the file
        return None
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    detail = redact(lines[0][:300]) if lines else ""
    return f"the database refused the file ({orig.__class__.__name__}{': ' + detail if detail else ''})"


def _store_statements(store: Store, bank: str, staged: StagedFile, file_id: int, run_id: str | None,
                      out: FileOutcome, max_bytes: int | None) -> Any | None:
    """ONE transaction: every statement and entry of the file, and the ledger row marked done.

    The ledger row is claimed first (:func:`o2c.store.bank.claim_file`); when a concurrent run
    finished the file meanwhile, nothing is stored and that row is returned (else None). The
    file is then read and stored as it streams (:func:`edi.bank.iter_batches`), each statement
    through a :class:`~o2c.store.bank.StatementWriter`: memory stays flat whatever the size of
    the file. The parser's refusal (a format error anywhere, a statement that does not add up)
    raises out of the transaction, which rolls everything of the file back.
    """
    with store.session() as s:
        row = ledger.claim_file(s, file_id)
        if row is None:  # a concurrent run finished this file first: it keeps its status
            finished = ledger.file_by_hash(s, staged.sha256, lock=True)
            assert finished is not None
            ledger.mark_seen(finished, remote_path=staged.remote_path, mtime=staged.mtime)
            return finished
        current: BankStatement | None = None
        writer: ledger.StatementWriter | None = None
        with closing(_batches(staged, max_bytes)) as batches:  # closed (the file too) if storing fails
            for stmt, entries, complete in batches:
                if writer is None:  # the statement's first batch (or its only one)
                    current = stmt
                    writer = ledger.StatementWriter(s, stmt, bank=bank, file_id=file_id, run_id=run_id)
                elif stmt is not current:  # the parsers end each statement before the next: a bug otherwise
                    raise _Unreadable(RuntimeError("a statement began before the previous one ended"))
                writer.add(entries)
                if not complete:
                    continue
                res = ledger.store_statement(s, stmt, bank=bank, file_id=file_id, run_id=run_id, writer=writer)
                out.statements += 1
                out.format = out.format or stmt.format
                if res.outcome == "stored":
                    out.stored += 1
                    out.entries += writer.count
                else:
                    out.duplicate_statements += 1
                    if res.conflict:
                        out.conflicts += 1
                        log.warning("%s: statement %s of account %s is already stored with different content: kept the "
                                    "stored one", bank, stmt.statement_id or stmt.sequence_number or "?",
                                    mask_account(stmt.account_iban or stmt.account_number))
                if res.gap:
                    out.gaps.append({"account": mask_account(stmt.account_iban or stmt.account_number),
                                     "missing_from": res.gap[0], "missing_to": res.gap[1],
                                     "statement": stmt.statement_id or stmt.sequence_number})
                current = writer = None
        if not out.statements:
            raise RejectedDocument("no statement in the file", document_id=staged.name)
        row.status = "ingested" if out.stored else "duplicate"
        row.format = out.format
        row.statement_count = out.statements
        row.stored_count = out.stored
        row.ingested_at = dt.datetime.now(dt.UTC)
        row.run_id = run_id
        row.reason = None if out.stored else "every statement in it was already stored from another file"
    return None


def _quarantine(store: Store, bank: str, staged: StagedFile, file_id: int, reason: str, field_name: str | None,
                run_id: str | None, out: FileOutcome) -> FileOutcome:
    from o2c.store.bank import BankFile

    raw = Path(staged.local_path).read_bytes()
    with store.session() as s:
        store.quarantine(s, source=bank, kind="statement_file", source_id=staged.name, payload=raw, reason=reason,
                         field=field_name, run_id=run_id, content_type="application/octet-stream")
        row = s.get(BankFile, file_id)
        assert row is not None
        row.status, row.reason, row.run_id = "quarantined", reason, run_id
    out.outcome, out.reason = "quarantined", reason
    log.warning("%s: quarantined %s: %s", bank, redact(staged.name), redact(reason))
    return out


def ingest(store: Store, bank: str, staged: Sequence[StagedFile], *, run_id: str | None,
           max_bytes: int | None = None) -> list[FileOutcome]:
    return [ingest_file(store, bank, sf, run_id=run_id, max_bytes=max_bytes) for sf in staged]


def finish_remote(client: SftpClient, bank: BankConfig, outcomes: Sequence[FileOutcome]) -> None:
    """Archive or delete the remote files whose content is now in the ledger (ingested, duplicate or quarantined)."""
    for o in outcomes:
        if not (bank.archive_folder or bank.delete_after):
            o.remote_action = "kept"
            continue
        try:
            if bank.archive_folder:
                client.archive(o.remote_path, bank.archive_folder)
                o.remote_action = "archived"
            else:
                client.delete(o.remote_path)
                o.remote_action = "deleted"
        except OSError as exc:  # stays on the server; recognised by its hash next time, archived then
            o.remote_action = f"failed: {exc.__class__.__name__}"
            log.warning("%s: could not %s %s: %s", bank.name, "archive" if bank.archive_folder else "delete",
                        redact(o.remote_path), exc)


def known_outcomes(known: Sequence[RemoteFile]) -> list[FileOutcome]:
    return [FileOutcome(name=f.name, remote_path=f.path, sha256="", size=f.size, outcome="already_seen",
                        reason="in the ledger with the same path, size and time") for f in known]


# -- all three, once ------------------------------------------------------------------------
def pickup(store: Store, bank: BankConfig, settings: SftpSettings, *, staging_root: str | Path, run_key: str,
           sleep: Callable[[float], None] = time.sleep, progress: Callable[[int], None] | None = None,
           context: RunContext | None = None) -> BankRunSummary:
    """Check, fetch, ingest and archive one bank's new files now (``o2c bank fetch``)."""
    summary = BankRunSummary(bank=bank.name)
    with store.run(source=bank.name, stream=STREAM, context=context) as run:
        summary.run_id = run.id
        try:
            with SftpClient(settings) as client:
                new, growing, known = check(client, bank, store, sleep=sleep)
                summary.checked = len(new) + len(growing) + len(known)
                summary.growing = [f.name for f in growing]
                staged, summary.left_for_later = fetch(client, bank, new, staging_dir(staging_root, bank.name, run_key),
                                                       progress=progress)
                summary.refused = [r.as_dict() for r in client.refused]
                summary.files = ingest(store, bank.name, staged, run_id=run.id, max_bytes=bank.max_file_bytes)
                done = summary.files + (known_outcomes(known) if (bank.archive_folder or bank.delete_after) else [])
                finish_remote(client, bank, done)
        finally:
            record_run(run, summary)
    return summary


def record_run(run: Any, summary: BankRunSummary) -> None:
    """Copy a bank run's counts onto its ``sync_run`` row (see :meth:`o2c.store.Store.run`)."""
    d = summary.as_dict()
    run.read = len(summary.files)
    run.inserted = d["statements_stored"]
    run.unchanged = d["duplicates"]
    run.rejected = d["quarantined"] + d["refused"]
    notes = [f"{len(d['sequence_gaps'])} sequence gap(s)"] if d["sequence_gaps"] else []
    if d["refused"]:
        notes.append(f"{d['refused']} file(s) refused")
    if notes and not run.message:
        run.message = "; ".join(notes)
