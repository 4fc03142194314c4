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
from sqlalchemy.orm import Session, sessionmaker

from o2c.store import cash as _cash  # noqa: F401  (registers the cash application tables)
from o2c.store import einvoices as _einvoices  # noqa: F401  (registers the e-invoice tables)
from o2c.store import parties as _parties  # noqa: F401  (registers the party tables)
from o2c.store.models import (
    Base,
    CustomerRow,
    CustomerVersion,
    InvoiceRow,
    InvoiceVersion,
    Quarantine,
    SyncRun,
    Watermark,
)
from schemas.invoice import Invoice
from schemas.jsonio import content_hash, to_json
from schemas.party import Customer

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

__all__ = ["Base", "Store", "UpsertResult", "utcnow"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class UpsertResult:
    outcome: str  # inserted, updated, unchanged
    row_id: int
    version: int


# Built once: building the WHERE clause per record cost more than running it (same SQL as before).
_INVOICE_BY_SOURCE = select(InvoiceRow).where(InvoiceRow.source == bindparam("source"),
                                              InvoiceRow.source_id == bindparam("source_id"))
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
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
            if url in ("sqlite://", "sqlite:///:memory:"):
                from sqlalchemy.pool import StaticPool

                kwargs["poolclass"] = StaticPool
                kwargs["connect_args"]["check_same_thread"] = False
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
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
    ) -> SyncRun:
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
        with self.session() as s:
            s.add(run)
        return run

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
        if inv.source is None:
            raise ValueError(f"{inv.number}: an invoice needs its source reference to be stored")
        doc = to_json(inv)
        digest = content_hash(doc)
        now = utcnow()
        with _query_session(s, InvoiceRow):
            row = s.scalar(_INVOICE_BY_SOURCE, {"source": inv.source.system, "source_id": inv.source.id})
        fields = dict(
            number=inv.number,
            type_code=inv.type_code,
            issue_date=inv.issue_date,
            due_date=inv.due_date,
            currency=inv.currency,
            buyer_name=inv.buyer.name,
            buyer_key=inv.buyer.siren or inv.buyer.vat_id,
            tax_exclusive=inv.totals.tax_exclusive,
            tax_total=inv.totals.tax_total,
            tax_inclusive=inv.totals.tax_inclusive,
            payable=inv.totals.payable,
            source_updated_at=inv.source.updated_at,
            document=doc,
            content_hash=digest,
            last_run_id=run_id,
            updated_at=now,
        )
        if row is None:
            row = InvoiceRow(source=inv.source.system, source_id=inv.source.id, version=1, first_run_id=run_id,
                             created_at=now, **fields)
            s.add(row)
            s.flush()
            s.add(InvoiceVersion(invoice_id=row.id, version=1, content_hash=digest, document=doc, run_id=run_id, recorded_at=now))
            return UpsertResult("inserted", row.id, 1)
        if row.content_hash == digest:
            return UpsertResult("unchanged", row.id, row.version)
        for key, value in fields.items():
            setattr(row, key, value)
        row.version += 1
        s.add(InvoiceVersion(invoice_id=row.id, version=row.version, content_hash=digest, document=doc, run_id=run_id, recorded_at=now))
        return UpsertResult("updated", row.id, row.version)

    def upsert_customer(self, s: Session, cust: Customer, *, run_id: str | None) -> UpsertResult:
        if cust.source is None:
            raise ValueError(f"{cust.name}: a customer needs its source reference to be stored")
        doc = to_json(cust)
        digest = content_hash(doc)
        now = utcnow()
        row = s.scalar(select(CustomerRow).where(CustomerRow.source == cust.source.system, CustomerRow.source_id == cust.source.id))
        fields = dict(
            name=cust.name,
            code=cust.code,
            siren=cust.siren,
            vat_id=cust.vat_id,
            country=cust.address.country if cust.address else None,
            credit_limit=cust.credit_limit,
            source_updated_at=cust.source.updated_at,
            document=doc,
            content_hash=digest,
            last_run_id=run_id,
            updated_at=now,
        )
        if row is None:
            row = CustomerRow(source=cust.source.system, source_id=cust.source.id, version=1, first_run_id=run_id,
                              created_at=now, **fields)
            s.add(row)
            s.flush()
            s.add(CustomerVersion(customer_id=row.id, version=1, content_hash=digest, document=doc, run_id=run_id, recorded_at=now))
            return UpsertResult("inserted", row.id, 1)
        if row.content_hash == digest:
            return UpsertResult("unchanged", row.id, row.version)
        for key, value in fields.items():
            setattr(row, key, value)
        row.version += 1
        s.add(CustomerVersion(customer_id=row.id, version=row.version, content_hash=digest, document=doc, run_id=run_id, recorded_at=now))
        return UpsertResult("updated", row.id, row.version)

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
