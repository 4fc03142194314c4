"""Pull, map, validate and store one source: the work behind ``erp_invoice_sync`` and ``o2c sync``.

Each stream of a source is one sync run over a fixed window ``(since, until]``: ``since`` is the
stored watermark (or the given window start), ``until`` the window end fixed by the caller
(the DAG run's data interval end). Each batch is one transaction: its records are upserted
(insert / new version / no-op by content hash), rejected records are quarantined whole with
the reason, and the watermark advances only with the committed batch. Re-running a window
changes nothing.

A rejected record is quarantined under the primary key its connector declares for the stream
(:class:`connectors.base.StreamSpec`: ``BillingDocument`` for SAP, ``Id`` for Salesforce), the
same id its mapping's ``source_id`` reads: when a corrected version of it is stored, the
quarantine row is marked ``superseded``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import pickle
import queue
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from connectors import build
from connectors.base import ConnectionInfo
from o2c.config import STREAM_DOCUMENTS, SourceConfig
from o2c.context import RunContext
from o2c.jobs import promises as _promises
from o2c.jobs import settlements as _settlements
from o2c.store import KnownRow, Store, known_rows
from o2c.store.models import CustomerRow, InvoiceRow
from o2c.store.parties import consolidate
from schemas.errors import HubError, RejectedDocument
from schemas.invoice import Invoice
from schemas.party import Customer
from schemas.promise import Promise
from schemas.settlement import Settlement
from schemas.validation import validate_customer, validate_invoice
from transport.redact import redact

log = logging.getLogger(__name__)


@dataclass
class StreamSummary:
    source: str
    stream: str
    run_id: str
    status: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    findings: int = 0  # data-quality findings (settlements: an ERP open amount below zero or above the total)
    window_start: str | None = None
    window_end: str | None = None
    message: str | None = None
    rejects: list[dict[str, str]] = field(default_factory=list)


@dataclass
class SourceSummary:
    source: str
    streams: list[StreamSummary]

    @property
    def ok(self) -> bool:
        return all(s.status == "success" for s in self.streams)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "ok": self.ok, "streams": [asdict(s) for s in self.streams]}


def _record_label(record: dict[str, Any], fallback: str) -> str:
    return str(record.get("number") or record.get("name") or fallback)


def sync_stream(
    store: Store,
    source: SourceConfig,
    connector: Any,
    stream: str,
    *,
    until: dt.datetime,
    since: dt.datetime | None = None,
    context: RunContext | None = None,
) -> StreamSummary:
    """Sync one stream of one source over ``(since or watermark, until]`` with ``connector``
    (a :class:`connectors.base.Connector`: its ``spec(stream)`` names the records' primary key)."""
    if until.tzinfo is None:
        raise ValueError("window end must be timezone-aware")
    mapping = source.load_mapping(stream)
    if since is None:
        mark = store.get_watermark(source.name, stream)
        since = mark.value if mark and mark.value else source.start
    with store.run(source=source.name, stream=stream, context=context, window_start=since, window_end=until) as run:
        return _sync_window(store, source, connector, stream, mapping, since, until, run)


def _sync_window(store: Store, source: SourceConfig, connector: Any, stream: str, mapping: Any,
                 since: dt.datetime | None, until: dt.datetime, run: Any) -> StreamSummary:
    summary = StreamSummary(source=source.name, stream=stream, run_id=run.id, status="running",
                            window_start=since.isoformat() if since else None, window_end=until.isoformat())
    document = STREAM_DOCUMENTS[stream]
    try:
        if document == "settlement":  # settlements kept until their invoice arrived: stored now if it has
            _count_settlements(summary, _settlements.retry_quarantined(store, source.name, mapping, run_id=run.id), source.name)
        if document == "promise":  # CRM tasks kept until their invoices arrived: stored now if they have
            _count_promises(summary, _promises.retry_quarantined(store, source.name, mapping, run_id=run.id), source.name)
        if since is not None and since >= until:
            log.info("%s/%s: window (%s, %s] is empty: nothing to pull", source.name, stream, since, until)
        else:
            spec = connector.spec(stream)  # NotSupported for a stream it does not offer: a failed run, as pull()
            if mapping is not None and spec.primary_key != (mapping.source_id,):
                log.warning("%s/%s: the mapping %s reads the record id at %r but the connector declares the key %s: "
                            "a quarantined record will not be marked superseded by its corrected version",
                            source.name, stream, mapping.name, mapping.source_id, "/".join(spec.primary_key))
            pulled = connector.pull(stream, since, until)
            batches = _pull_ahead(pulled) if getattr(connector, "pull_ahead", False) else pulled
            with contextlib.closing(batches) if batches is not pulled else contextlib.nullcontext():  # type: ignore[attr-defined]
                for batch in batches:
                    if mapping is None:  # currency rates: no mapping, checked and stored as they come
                        _store_rates(store, source.name, spec, batch, summary, run.id)
                        continue
                    with store.session() as s:
                        accepted: list[Invoice | Customer] = []
                        accepted_raw: list[str | None] = []
                        settled: list[tuple[Settlement, dict[str, Any]]] = []
                        promised: list[tuple[Promise, dict[str, Any]]] = []
                        # records pulled again as they were stored, under the same mapping and code: not mapped again
                        raw_hashes, known = _known_records(s, source.name, document, mapping, batch.records)
                        mapped_ids: set[str] = set()
                        for record, raw_hash in zip(batch.records, raw_hashes, strict=True):
                            summary.read += 1
                            if raw_hash is not None:
                                rid = raw_hash[0]
                                row = known.get(rid)
                                if row is not None and row.raw_hash == raw_hash[1] and rid not in mapped_ids:
                                    summary.unchanged += 1
                                    continue
                                mapped_ids.add(rid)  # a later copy in this batch compares with this one
                            try:
                                canonical = mapping.apply(record, source.name)
                                if isinstance(canonical, Invoice):
                                    validate_invoice(canonical)
                                elif isinstance(canonical, Customer):
                                    validate_customer(canonical)
                            except RejectedDocument as exc:
                                summary.rejected += 1
                                rid = spec.record_id(record) or "?"
                                field_name = getattr(exc, "first_term", None) or exc.field
                                store.quarantine(s, source=source.name, kind=document, source_id=rid, payload=record,
                                                 reason=str(exc), field=field_name, run_id=run.id)
                                summary.rejects.append({"id": rid, "record": _record_label(record, rid), "reason": str(exc)})
                                log.warning("%s/%s: quarantined %s: %s", source.name, stream, rid, exc)
                                continue
                            if isinstance(canonical, Settlement):
                                settled.append((canonical, record))
                                continue
                            if isinstance(canonical, Promise):
                                promised.append((canonical, record))
                                continue
                            accepted.append(canonical)
                            accepted_raw.append(raw_hash[1] if raw_hash is not None else None)
                        if document == "settlement":
                            done = _settlements.store_batch(store, s, source.name, settled, run_id=run.id)
                            _count_settlements(summary, done, source.name)
                            store.resolve_quarantine_many(s, source=source.name, kind=document, resolution="superseded",
                                                          source_ids=[st.invoice_id for st, outcome in done.outcomes
                                                                      if outcome != "unchanged"])
                            if batch.watermark is not None:
                                store.set_watermark(s, source.name, stream, batch.watermark, cursor=batch.cursor, run_id=run.id)
                            continue
                        if document == "promise":
                            stored = _promises.store_batch(store, s, source.name, promised, run_id=run.id)
                            _count_promises(summary, stored, source.name)
                            store.resolve_quarantine_many(s, source=source.name, kind=document, resolution="superseded",
                                                          source_ids=[p.task_id for p, outcome in stored.outcomes
                                                                      if outcome != "unchanged"])
                            if batch.watermark is not None:
                                store.set_watermark(s, source.name, stream, batch.watermark, cursor=batch.cursor, run_id=run.id)
                            continue
                        # one SELECT and one flush for the whole batch
                        if document == "invoice":
                            results = store.upsert_invoices(s, accepted, run_id=run.id, raw_hashes=accepted_raw,  # type: ignore[arg-type]
                                                            known={source.name: known})
                        else:
                            results = store.upsert_customers(s, accepted, run_id=run.id, raw_hashes=accepted_raw,  # type: ignore[arg-type]
                                                             known={source.name: known})
                        changed = []
                        for canonical, result in zip(accepted, results, strict=True):
                            setattr(summary, result.outcome, getattr(summary, result.outcome) + 1)
                            if result.outcome != "unchanged":
                                changed.append(canonical.source.id)  # type: ignore[union-attr]
                                if document == "customer":
                                    consolidate(s, s.get(CustomerRow, result.row_id))
                        store.resolve_quarantine_many(s, source=source.name, kind=document, source_ids=changed,
                                                      resolution="superseded")
                        if batch.watermark is not None:
                            store.set_watermark(s, source.name, stream, batch.watermark, cursor=batch.cursor, run_id=run.id)
        summary.status = "success"
        if document == "settlement":
            _check_reconciliation(store, source.name, summary, run.id)
    except HubError as exc:
        summary.status = "failed"
        summary.message = run.message = f"{exc.__class__.__name__}: {redact(str(exc))}"
        raise
    except Exception as exc:
        summary.status = "failed"
        summary.message = run.message = f"unexpected {exc.__class__.__name__}: {redact(str(exc))}"
        raise
    finally:
        for key in ("read", "inserted", "updated", "unchanged", "rejected"):
            setattr(run, key, getattr(summary, key))
        if summary.findings and summary.message is None:
            summary.message = f"{summary.findings} data-quality finding(s)"
        run.message = summary.message
        if summary.status == "failed":
            run.status = "failed"
    return summary


def _pull_ahead(batches: Iterator[Any]) -> Iterator[Any]:
    """``batches`` fetched one batch ahead in a thread: the source prepares batch k+1 while the hub
    maps and stores batch k, instead of each waiting for the other.

    For a connector that says so (``pull_ahead = True``: its pull uses nothing tied to the calling
    thread, and the sync makes no other call on it meanwhile). At most two batches are held (the one
    being stored and the next); an error of the pull is raised here, where the batch it would have
    given is taken; when the sync stops early (an error while storing), the thread finishes the
    call under way, the generator is closed and nothing else is pulled. Each batch is still stored
    and its watermark set in its own transaction, in order.
    """
    ready: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue()
    permits = threading.Semaphore(1)  # one batch fetched ahead of the one being stored
    stop = threading.Event()
    done = object()

    def fetch() -> None:
        try:
            while True:
                while not permits.acquire(timeout=0.2):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                try:
                    batch = next(batches)
                except StopIteration:
                    ready.put((done, None))
                    return
                ready.put((batch, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the sync's thread, raised there
            ready.put((None, exc))

    worker = threading.Thread(target=fetch, name="o2c-pull-ahead", daemon=True)
    worker.start()
    try:
        while True:
            batch, error = ready.get()
            if error is not None:
                raise error
            if batch is done:
                return
            permits.release()  # fetch the next one while this one is stored
            yield batch
    finally:
        stop.set()
        worker.join()
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def raw_key(record: Any, source: str, fingerprint: str) -> str | None:
    """sha256 of a source record as pulled, of the source's name and of the mapping's fingerprint
    (:attr:`mappings.mapper.Mapping.fingerprint`: the mapping file and the mapping code).

    The record is written with :mod:`pickle` (only written, never read back): it keeps every type
    (a Decimal is not its text, an int key not a string key) and takes a third of the time of
    typed JSON. Equal bytes unpickle to equal records, so equal keys mean the same canonical record;
    the same record written differently (keys in another order) only costs a mapping. None when
    the record cannot be written (then it is mapped every time).
    """
    try:
        data = pickle.dumps(record, protocol=5)
    except (pickle.PicklingError, TypeError, ValueError, AttributeError, RecursionError):
        return None
    digest = hashlib.sha256(f"{fingerprint}\n{source}\n".encode())
    digest.update(data)
    return digest.hexdigest()


def _known_records(s: Any, source: str, document: str, mapping: Any,
                   records: list[dict[str, Any]]) -> tuple[list[tuple[str, str] | None], dict[str, KnownRow]]:
    """For an invoice or customer batch: each record's (source id, :func:`raw_key`), None where it has
    none, and the stored rows of those ids (one SELECT per 500). Other documents: nothing known."""
    model = {"invoice": InvoiceRow, "customer": CustomerRow}.get(document)
    fingerprint = getattr(mapping, "fingerprint", None)
    if model is None or not fingerprint:
        return [None] * len(records), {}
    keys: list[tuple[str, str] | None] = []
    for record in records:
        try:
            rid = mapping.record_id(record)
        except RejectedDocument:
            keys.append(None)
            continue
        digest = raw_key(record, source, fingerprint)
        keys.append((rid, digest) if digest is not None else None)
    ids = {key[0] for key in keys if key is not None}
    return keys, known_rows(s, model, source, ids) if ids else {}


def _check_reconciliation(store: Store, source: str, summary: StreamSummary, run_id: str) -> None:
    """After the settlements: the hub's open total must be the ERP's less the cash in transit. A
    difference no cause explains (an open invoice the ERP gave no state for) is a data-quality
    failure of this run: a finding naming the customers and amounts, and the run marked failed
    (what was stored stays stored)."""
    from o2c.jobs.receivables import reconcile
    from o2c.store.receivables import record_finding, resolve_findings

    rec = reconcile(store, source, sends_settlements=True)
    with store.session() as s:
        if not rec.unexplained:
            resolve_findings(s, source=source, subject="receivables", source_id=source)
            return
        wrong = [c for c in rec.customers if c.unexplained]
        message = (f"{source}: the hub's open total differs from the ERP's by {rec.unexplained} that no cause explains "
                   f"(open invoices without an ERP settlement state: {', '.join(c.customer for c in wrong[:5])}); "
                   "check the settlements stream's mapping and window, then sync again")
        record_finding(s, source=source, subject="receivables", source_id=source, rule="reconciliation_unexplained",
                       message=message, details={"unexplained": str(rec.unexplained),
                                                 "customers": {c.customer: str(c.unexplained) for c in wrong[:50]}},
                       run_id=run_id)
    summary.findings += 1
    summary.status = "failed"
    summary.message = message
    log.warning("data-quality failure: %s", message)


def _count_batch(summary: StreamSummary, outcomes: Any, rejected: Any, findings: Any, source: str, stream: str) -> None:
    """Add a stored batch (settlements: :func:`o2c.jobs.settlements.store_batch`; promises:
    :func:`o2c.jobs.promises.store_batch`) to the stream's summary: outcomes, quarantined records, findings."""
    for _item, outcome in outcomes:
        setattr(summary, outcome, getattr(summary, outcome) + 1)
    for record_id, reason in rejected:
        summary.rejected += 1
        summary.rejects.append({"id": record_id, "record": record_id, "reason": reason})
        log.warning("%s/%s: quarantined %s: %s", source, stream, record_id, reason)
    for message in findings:
        summary.findings += 1
        log.warning("data-quality finding: %s", message)


def _count_settlements(summary: StreamSummary, done: _settlements.SettlementBatch, source: str) -> None:
    _count_batch(summary, done.outcomes, done.rejected, done.findings, source, "settlements")


def _count_promises(summary: StreamSummary, done: _promises.PromiseBatch, source: str) -> None:
    _count_batch(summary, done.outcomes, done.rejected, (), source, "promises")


def _store_rates(store: Store, source: str, spec: Any, batch: Any, summary: StreamSummary, run_id: str) -> None:
    """One batch of the ``rates`` stream in one transaction: each record checked
    (:func:`o2c.store.rates.check_rate`) and upserted, or quarantined; then the watermark."""
    from o2c.store import utcnow
    from o2c.store.rates import check_rate, upsert_rates

    with store.session() as s:
        accepted = []
        for record in batch.records:
            summary.read += 1
            rid = spec.record_id(record)
            try:
                accepted.append(check_rate(record, rid))
            except RejectedDocument as exc:
                summary.rejected += 1
                store.quarantine(s, source=source, kind="currency_rate", source_id=rid or "?", payload=record,
                                 reason=str(exc), field=exc.field, run_id=run_id)
                summary.rejects.append({"id": rid or "?", "record": str(record.get("currency")), "reason": str(exc)})
                log.warning("%s/rates: quarantined %s: %s", source, rid, exc)
        for outcome in upsert_rates(s, source, accepted, run_id=run_id, now=utcnow()):
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        store.resolve_quarantine_many(s, source=source, kind="currency_rate", source_ids=[r.source_id for r in accepted],
                                      resolution="superseded")
        if batch.watermark is not None:
            store.set_watermark(s, source, "rates", batch.watermark, cursor=batch.cursor, run_id=run_id)


def sync_source(
    store: Store,
    source: SourceConfig,
    conn: ConnectionInfo,
    *,
    until: dt.datetime,
    since: dt.datetime | None = None,
    streams: tuple[str, ...] | None = None,
    context: RunContext | None = None,
) -> SourceSummary:
    """Sync every configured stream of ``source`` (customers first, then invoices)."""
    connector = build(source.kind, conn, **source.options)
    results = []
    try:
        for stream in streams or source.streams:
            results.append(sync_stream(store, source, connector, stream, until=until, since=since, context=context))
    finally:
        connector.close()
    return SourceSummary(source.name, results)
