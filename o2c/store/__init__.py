"""The hub store: engine, schema upgrade, and the idempotent writes every task uses.

>>> store = Store("sqlite://")
>>> store.upgrade()
>>> run = store.start_run(source="demo", stream="invoices")
>>> store.finish_run(run, status="success").status
'success'
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from o2c.context import RunContext
from o2c.store import approval as _approval  # noqa: F401  (registers the write-back approvals)
from o2c.store import audit as _audit  # noqa: F401  (registers the audit trail)
from o2c.store import bank as _bank  # noqa: F401  (registers the bank statement tables)
from o2c.store import cash as _cash  # noqa: F401  (registers the cash application tables)
from o2c.store import collections as _collections  # noqa: F401  (registers disputes and promises)
from o2c.store import einvoice as _einvoice  # noqa: F401  (registers the e-invoice tables)
from o2c.store import parties as _parties  # noqa: F401  (registers the party tables)
from o2c.store import rates as _rates  # noqa: F401  (registers the currency rates)
from o2c.store import receivables as _receivables  # noqa: F401  (registers the settlement and data-quality tables)
from o2c.store import writeback as _writeback  # noqa: F401  (registers the write-back outbox)
from o2c.store.models import (
    Base,
    CustomerRow,
    CustomerVersion,
    InvoiceRow,
    InvoiceVersion,
    Quarantine,
    SyncRun,
    Watermark,
    utcnow,
)
from schemas.errors import ConfigError
from schemas.invoice import Invoice
from schemas.jsonio import content_hash, to_json
from schemas.party import Customer

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

__all__ = ["Base", "KnownRow", "Store", "UpsertResult", "known_rows", "utcnow"]


DATABASE_SETTING = "the database URL (O2C_DATABASE_URL, or --url)"
DATABASE_URL_EXAMPLE = "postgresql+psycopg://o2c@db-host:5432/o2c (password in ~/.pgpass or PGPASSWORD) or sqlite:////path/to/o2c.sqlite"


def _bad_database_url(url: str, exc: Exception) -> str:
    """What is wrong with a database URL that SQLAlchemy refused, without its password (the URL is
    shown only when it parses, with the password masked; SQLAlchemy's own messages can hold it).

    >>> _bad_database_url("postgresql+psycopg://u:s3cret@h:x/db", ValueError("invalid literal for int()"))
    'the database URL (O2C_DATABASE_URL, or --url) has a port that is not a number; write a SQLAlchemy URL such as postgresql+psycopg://o2c@db-host:5432/o2c (password in ~/.pgpass or PGPASSWORD) or sqlite:////path/to/o2c.sqlite'
    """
    if isinstance(exc, ArgumentError) and not isinstance(exc, NoSuchModuleError):
        what = "cannot be read as a SQLAlchemy URL"
    elif isinstance(exc, ValueError):
        what = "has a port that is not a number"
    else:
        try:
            shown = make_url(url).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - only for the message
            shown = "?"
        driver = f" ({exc})" if isinstance(exc, NoSuchModuleError) else f" (module {getattr(exc, 'name', None) or '?'} is missing)"
        what = f"{shown} names a database driver that is not installed or does not exist{driver}"
    return f"{DATABASE_SETTING} {what}; write a SQLAlchemy URL such as {DATABASE_URL_EXAMPLE}"


@dataclass(frozen=True)
class UpsertResult:
    outcome: str  # inserted, updated, unchanged
    row_id: int
    version: int


# Built once: building the WHERE clause per record cost more than running it (same SQL as before).
_OPEN_QUARANTINE = select(Quarantine).where(Quarantine.source == bindparam("source"), Quarantine.kind == bindparam("kind"),
                                            Quarantine.source_id == bindparam("source_id"), Quarantine.resolution.is_(None))


def _has_pending(s: Session, model: type) -> bool:
    """Whether the session holds unflushed changes to ``model`` rows (new, modified or deleted)."""
    return any(isinstance(obj, model) for objs in (s.new, s.dirty, s.deleted) for obj in objs)


def _query_session(s: Session, model: type) -> Any:
    """A context for a SELECT on ``model``'s table: autoflush only when unflushed ``model`` rows could
    change its result. Flushing the other pending rows (the previous record's version row) there
    cost one flush per record; they are flushed with the next flush or at commit instead."""
    return contextlib.nullcontext() if _has_pending(s, model) else s.no_autoflush


@dataclass
class KnownRow:
    """What the upsert needs of a stored row: not the row itself (its document is not loaded)."""

    id: int | None
    version: int
    content_hash: str
    raw_hash: str | None


def known_rows(s: Session, model: Any, source: str, source_ids: list[str] | set[str]) -> dict[str, KnownRow]:
    """The stored rows of ``source`` among ``source_ids`` (one SELECT per 500 ids), by source id."""
    table = model.__table__
    cols = (table.c.source_id, table.c.id, table.c.version, table.c.content_hash, table.c.raw_hash)
    found: dict[str, KnownRow] = {}
    id_list = sorted(set(source_ids))
    with _query_session(s, model):
        for i in range(0, len(id_list), 500):
            stmt = select(*cols).where(table.c.source == source, table.c.source_id.in_(id_list[i:i + 500]))
            for sid, rid, version, digest, raw in s.execute(stmt):
                found[sid] = KnownRow(rid, version or 1, digest, raw)
    return found


def _upsert_versioned(s: Session, model: Any, version_model: Any, fk: str,
                      items: list[tuple[str, str, dict[str, Any], dict[str, Any]]], run_id: str | None,
                      raw_hashes: list[str | None] | None = None,
                      known: dict[str, dict[str, KnownRow]] | None = None) -> list[UpsertResult]:
    """Insert, version or skip each (source, source id, canonical JSON, columns) of a batch.

    An unchanged record (same content hash) is a no-op; a changed one gets its next version and
    a version row (history kept). One SELECT finds the batch's existing rows (``known``, by source
    then source id, when the caller has read them already), and the new rows, the changed rows and
    the version rows are each written with one multi-row statement, not row by row through the ORM.
    ``raw_hashes`` (one per item, see :func:`o2c.jobs.sync.raw_key`) is kept beside the row so that
    the next sync can tell an unchanged source record before mapping it; an unchanged record whose
    raw hash differs only gets its ``raw_hash`` set.
    """
    now = utcnow()
    table, vtable = model.__table__, version_model.__table__
    if known is None:
        by_source: dict[str, set[str]] = {}
        for source, source_id, _, _ in items:
            by_source.setdefault(source, set()).add(source_id)
        known = {source: known_rows(s, model, source, ids) for source, ids in by_source.items()}
    state = {(source, sid): row for source, rows in known.items() for sid, row in rows.items()}
    new_rows: dict[tuple[str, str], dict[str, Any]] = {}  # inserted in this batch, by key (their ids come after)
    changed: dict[int, dict[str, Any]] = {}  # stored rows to update, by id
    raw_only: dict[int, str | None] = {}  # unchanged rows whose raw hash is new
    versions: list[tuple[tuple[str, str] | int, dict[str, Any]]] = []  # (new row key or row id, version row)
    results: list[tuple[str, tuple[str, str] | int, int]] = []
    for pos, (source, source_id, doc, columns) in enumerate(items):
        key = (source, source_id)
        digest = content_hash(doc)
        raw = raw_hashes[pos] if raw_hashes is not None else None
        row = state.get(key)
        fields = {**columns, "document": doc, "content_hash": digest, "raw_hash": raw, "last_run_id": run_id,
                  "updated_at": now}
        version_row = {"content_hash": digest, "document": doc, "run_id": run_id, "recorded_at": now}
        if row is None:
            new_rows[key] = {"source": source, "source_id": source_id, "version": 1, "first_run_id": run_id,
                             "created_at": now, **fields}
            state[key] = KnownRow(None, 1, digest, raw)  # the same record twice in a batch becomes a new version
            versions.append((key, {**version_row, "version": 1}))
            results.append(("inserted", key, 1))
            continue
        ref: tuple[str, str] | int = key if row.id is None else row.id
        if row.content_hash == digest:
            if raw != row.raw_hash:
                row.raw_hash = raw
                if row.id is None:
                    new_rows[key]["raw_hash"] = raw
                elif row.id in changed:
                    changed[row.id]["raw_hash"] = raw
                else:
                    raw_only[row.id] = raw
            results.append(("unchanged", ref, row.version))
            continue
        row.version, row.content_hash, row.raw_hash = row.version + 1, digest, raw
        if row.id is None:
            new_rows[key].update(fields, version=row.version)
        else:
            changed[row.id] = {**fields, "version": row.version}
            raw_only.pop(row.id, None)
        versions.append((ref, {**version_row, "version": row.version}))
        results.append(("updated", ref, row.version))
    ids: dict[tuple[str, str], int] = {}
    if new_rows:
        keys = list(new_rows)
        stmt = table.insert().returning(table.c.id, sort_by_parameter_order=True)
        for key, (new_id,) in zip(keys, s.execute(stmt, [new_rows[k] for k in keys]), strict=True):
            ids[key] = new_id
    if changed:
        # executemany: the SET clause is made of the parameters' keys
        s.execute(table.update().where(table.c.id == bindparam("_id")),
                  [{"_id": rid, **values} for rid, values in changed.items()])
    if raw_only:
        s.execute(table.update().where(table.c.id == bindparam("_id")),
                  [{"_id": rid, "raw_hash": raw} for rid, raw in raw_only.items()])
    if versions:
        s.execute(vtable.insert(), [{fk: ids[ref] if isinstance(ref, tuple) else ref, **v} for ref, v in versions])
    for rid in (*changed, *raw_only):  # rows of this session loaded before: read again when used
        obj = s.identity_map.get(s.identity_key(model, rid))  # type: ignore[no-untyped-call]
        if obj is not None:
            s.expire(obj)
    return [UpsertResult(outcome, ids[ref] if isinstance(ref, tuple) else ref, version) for outcome, ref, version in results]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Store:
    """The hub's database. One instance per process; sessions are short transactions."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            folder = Path(url.removeprefix("sqlite:///")).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"{DATABASE_SETTING}: cannot create the folder {folder} of the SQLite store "
                                  f"({exc.strerror}); set O2C_HOME or O2C_DATABASE_URL to a writable place") from None
        # hide_parameters: an error or an echoed statement never shows the values sent (account
        # numbers, names, amounts of outside files), only the SQL and the driver's message
        kwargs: dict[str, Any] = {"echo": echo, "future": True, "hide_parameters": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
            if url in ("sqlite://", "sqlite:///:memory:"):
                from sqlalchemy.pool import StaticPool

                kwargs["poolclass"] = StaticPool
                kwargs["connect_args"]["check_same_thread"] = False
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
            raise ConfigError(_bad_database_url(url, exc)) from None
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls) -> Store:
        from o2c.settings import get_settings

        return cls(get_settings().database_url)

    # -- schema ---------------------------------------------------------------------------
    def alembic_config(self) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def upgrade(self, revision: str = "head") -> None:
        """Create or upgrade the schema with Alembic (``o2c db upgrade``)."""
        from alembic import command

        with self.engine.begin() as conn:
            cfg = self.alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest schema revision of this code (the head of ``o2c/migrations``)."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self.alembic_config()).get_current_head()

    def check_revision(self) -> None:
        """Refuse to work on a store whose schema is not this code's: a :class:`ConfigError`
        saying to run ``o2c db upgrade``.

        Migrating is a deployment step, run once (``o2c db upgrade``), not something each
        Airflow task does: mapped tasks starting together on a fresh PostgreSQL would race to
        create the same tables. Reading the version creates nothing.
        """
        current, head = self.current_revision(), self.head_revision()
        if current == head:
            return
        where = make_url(self.url).render_as_string(hide_password=True)
        if current is None:
            state = "is empty"
        else:
            from alembic.script import ScriptDirectory
            from alembic.util import CommandError

            try:
                known = ScriptDirectory.from_config(self.alembic_config()).get_revision(current) is not None
            except CommandError:
                known = False
            if not known:
                raise ConfigError(f"the hub store at {where} is at revision {current}, which this code does not know "
                                  f"(its newest is {head}): deploy the code that migrated it, or a newer one")
            state = f"is at revision {current}"
        raise ConfigError(f"the hub store at {where} {state}, this code needs {head}: run 'o2c db upgrade' "
                          "(a deployment step)")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        with self._sessions() as s, s.begin():
            yield s

    # -- sync runs ------------------------------------------------------------------------
    def start_run(
        self,
        *,
        source: str,
        stream: str,
        window_start: dt.datetime | None = None,
        window_end: dt.datetime | None = None,
        dag_id: str | None = None,
        task_id: str | None = None,
        airflow_run_id: str | None = None,
        session: Session | None = None,
    ) -> SyncRun:
        """Record a run as ``running`` (in its own transaction, or in ``session``'s when given: a
        cash run records itself under the cash lock, which on SQLite no other session may write past)."""
        run = SyncRun(
            id=uuid.uuid4().hex,
            source=source,
            stream=stream,
            window_start=window_start,
            window_end=window_end,
            dag_id=dag_id,
            task_id=task_id,
            airflow_run_id=airflow_run_id,
            read=0,
            inserted=0,
            updated=0,
            unchanged=0,
            rejected=0,
            started_at=utcnow(),
            status="running",
        )
        if session is not None:
            session.add(run)
            return run
        with self.session() as s:
            s.add(run)
        return run

    @contextmanager
    def run(self, *, source: str, stream: str, context: RunContext | None = None,
            window_start: dt.datetime | None = None, window_end: dt.datetime | None = None) -> Iterator[SyncRun]:
        """Record one job run: a ``sync_run`` row started now and finished when the block ends.

        The block sets the counts (``read``, ``inserted``, ``updated``, ``unchanged``,
        ``rejected``) and may set ``status`` and ``message`` on the yielded row; a block that ends
        normally finishes it ``success`` (or the status it set), one that raises finishes it
        ``failed`` with the error's class and its masked message, and the error goes on. The ids
        come from ``context`` (:class:`o2c.context.RunContext`), built once by the Airflow glue or
        by the command.

        >>> store = Store("sqlite://"); store.upgrade()
        >>> with store.run(source="demo", stream="invoices") as run:
        ...     run.read = 3
        >>> (run.status, run.read)
        ('success', 3)
        """
        from transport.redact import redact

        run = self.start_run(source=source, stream=stream, window_start=window_start, window_end=window_end,
                             **(context or RunContext()).run_info())
        try:
            yield run
        except BaseException as exc:
            message = run.message or f"{exc.__class__.__name__}: {redact(str(exc))}"
            self.finish_run(run, status="failed", message=message)
            raise
        self.finish_run(run, status="success" if run.status == "running" else run.status, message=run.message)

    def finish_run(self, run: SyncRun, *, status: str, message: str | None = None) -> SyncRun:
        run.status = status
        run.message = message
        run.ended_at = utcnow()
        with self.session() as s:
            s.merge(run)
        return run

    def runs(self, source: str | None = None, limit: int = 50) -> list[SyncRun]:
        with self.session() as s:
            q = select(SyncRun).order_by(SyncRun.started_at.desc()).limit(limit)
            if source:
                q = q.where(SyncRun.source == source)
            return list(s.scalars(q))

    # -- canonical records ----------------------------------------------------------------
    def upsert_invoice(self, s: Session, inv: Invoice, *, run_id: str | None) -> UpsertResult:
        """Insert, version or skip ``inv`` keyed by (source, source id) and its content hash."""
        return self.upsert_invoices(s, [inv], run_id=run_id)[0]

    def upsert_customer(self, s: Session, cust: Customer, *, run_id: str | None) -> UpsertResult:
        return self.upsert_customers(s, [cust], run_id=run_id)[0]

    def upsert_invoices(self, s: Session, invoices: list[Invoice], *, run_id: str | None,
                        raw_hashes: list[str | None] | None = None,
                        known: dict[str, dict[str, KnownRow]] | None = None) -> list[UpsertResult]:
        """:meth:`upsert_invoice` for a batch: one SELECT (none with ``known``, the stored rows by source
        and source id from :func:`known_rows`) and one multi-row statement per table for all of it;
        ``raw_hashes``: the source records' hashes, one per invoice, kept beside the rows."""
        items = []
        for inv in invoices:
            if inv.source is None:
                raise ValueError(f"{inv.number}: an invoice needs its source reference to be stored")
            items.append((inv.source.system, inv.source.id, to_json(inv), dict(
                number=inv.number, type_code=inv.type_code, issue_date=inv.issue_date, due_date=inv.due_date,
                currency=inv.currency, buyer_name=inv.buyer.name, buyer_key=inv.buyer.siren or inv.buyer.vat_id,
                tax_exclusive=inv.totals.tax_exclusive, tax_total=inv.totals.tax_total,
                tax_inclusive=inv.totals.tax_inclusive, payable=inv.totals.payable,
                source_updated_at=inv.source.updated_at)))
        return _upsert_versioned(s, InvoiceRow, InvoiceVersion, "invoice_id", items, run_id, raw_hashes, known)

    def upsert_customers(self, s: Session, customers: list[Customer], *, run_id: str | None,
                         raw_hashes: list[str | None] | None = None,
                         known: dict[str, dict[str, KnownRow]] | None = None) -> list[UpsertResult]:
        """:meth:`upsert_invoices` for customers."""
        items = []
        for cust in customers:
            if cust.source is None:
                raise ValueError(f"{cust.name}: a customer needs its source reference to be stored")
            items.append((cust.source.system, cust.source.id, to_json(cust), dict(
                name=cust.name, code=cust.code, siren=cust.siren, vat_id=cust.vat_id,
                country=cust.address.country if cust.address else None, credit_limit=cust.credit_limit,
                payment_terms=(cust.payment_terms or "")[:100] or None, payment_days=cust.payment_days,
                dunning_language=cust.dunning_language, blocked=cust.blocked, on_hold=cust.on_hold,
                source_updated_at=cust.source.updated_at)))
        return _upsert_versioned(s, CustomerRow, CustomerVersion, "customer_id", items, run_id, raw_hashes, known)

    def quarantine(
        self,
        s: Session,
        *,
        source: str,
        kind: str,
        source_id: str,
        payload: bytes | dict[str, Any] | list[Any] | str,
        reason: str,
        field: str | None = None,
        run_id: str | None = None,
        content_type: str | None = None,
    ) -> Quarantine:
        """Keep a rejected record whole with its reason; the same payload seen again is counted."""
        if isinstance(payload, bytes):
            raw, ctype = payload, content_type or "application/octet-stream"
        elif isinstance(payload, str):
            raw, ctype = payload.encode(), content_type or "text/plain"
        else:
            raw = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False).encode()
            ctype = content_type or "application/json"
        digest = hashlib.sha256(raw).hexdigest()
        now = utcnow()
        row = s.scalar(
            select(Quarantine).where(
                Quarantine.source == source, Quarantine.kind == kind, Quarantine.source_id == source_id,
                Quarantine.payload_hash == digest,
            )
        )
        if row is None:
            row = Quarantine(source=source, kind=kind, source_id=source_id, payload_hash=digest, raw_payload=raw,
                             content_type=ctype, reason=reason, field=field, first_seen=now, last_seen=now,
                             seen_count=1, first_run_id=run_id, last_run_id=run_id)
            s.add(row)
        else:
            if row.last_run_id != run_id:
                row.seen_count += 1
            row.last_seen = now
            row.last_run_id = run_id
            row.reason = reason
            row.field = field
        return row

    def quarantined(self, source: str | None = None, *, open_only: bool = True) -> list[Quarantine]:
        with self.session() as s:
            q = select(Quarantine).order_by(Quarantine.id)
            if source:
                q = q.where(Quarantine.source == source)
            if open_only:
                q = q.where(Quarantine.resolution.is_(None))
            return list(s.scalars(q))

    def resolve_quarantine_many(self, s: Session, *, source: str, kind: str, source_ids: list[str], resolution: str) -> int:
        """:meth:`resolve_quarantine` for the records of a batch (one SELECT)."""
        if not source_ids:
            return 0
        count = 0
        with _query_session(s, Quarantine):
            for i in range(0, len(source_ids), 500):
                rows = s.scalars(select(Quarantine).where(
                    Quarantine.source == source, Quarantine.kind == kind, Quarantine.source_id.in_(source_ids[i:i + 500]),
                    Quarantine.resolution.is_(None))).all()
                for row in rows:
                    row.resolution = resolution
                    row.resolved_at = utcnow()
                count += len(rows)
        return count

    def resolve_quarantine(self, s: Session, *, source: str, kind: str, source_id: str, resolution: str) -> int:
        """Mark open quarantine rows of a record resolved (e.g. when a corrected version arrives)."""
        with _query_session(s, Quarantine):
            rows = s.scalars(_OPEN_QUARANTINE, {"source": source, "kind": kind, "source_id": source_id}).all()
        for row in rows:
            row.resolution = resolution
            row.resolved_at = utcnow()
        return len(rows)

    # -- watermarks -----------------------------------------------------------------------
    def get_watermark(self, source: str, stream: str) -> Watermark | None:
        with self.session() as s:
            return s.get(Watermark, (source, stream))

    def set_watermark(self, s: Session, source: str, stream: str, value: dt.datetime | None,
                      cursor: str | None = None, run_id: str | None = None) -> None:
        row = s.get(Watermark, (source, stream))
        if row is None:
            s.add(Watermark(source=source, stream=stream, value=value, cursor=cursor, updated_at=utcnow(), run_id=run_id))
            return
        if value is not None and (row.value is None or value > row.value):
            row.value = value
        row.cursor = cursor
        row.updated_at = utcnow()
        row.run_id = run_id

    # -- reading --------------------------------------------------------------------------
    def invoices(self, source: str | None = None) -> list[InvoiceRow]:
        with self.session() as s:
            q = select(InvoiceRow).order_by(InvoiceRow.source, InvoiceRow.number)
            if source:
                q = q.where(InvoiceRow.source == source)
            return list(s.scalars(q))

    def customers(self, source: str | None = None) -> list[CustomerRow]:
        with self.session() as s:
            q = select(CustomerRow).order_by(CustomerRow.source, CustomerRow.name)
            if source:
                q = q.where(CustomerRow.source == source)
            return list(s.scalars(q))
