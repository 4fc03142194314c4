"""E-invoice exchange: render stored invoices in each customer's format, validate, deliver once;
record the lifecycle statuses received from and sent to approved platforms.

Configuration (``einvoicing.yaml``, see ``config/einvoicing.example.yaml``; modelled, read and
checked by :mod:`o2c.config`, :func:`o2c.config.load_einvoicing`)::

    default_format: facturx-en16931       # edi.einvoice.FORMATS
    customers:                            # per buyer, by SIREN or VAT id
      - {siren: "512348707", format: ubl}
      - {vat_id: "DE814529638", format: cii}
    channel: {kind: folder, path: var/outbox/platform}    # or {kind: http, url: ..., connection: ...}
                                          # or {kind: sftp, folder: /in, connection: pa_sftp}
    sources: [tryton_demo]                # which sources' invoices are issued (default: all)
    payment_notes:                        # the seller's legal payment notes (BG-1), per seller SIREN,
      - {seller_siren: "843129453",       # per source, or for every invoice
         recovery_fee: "...", late_penalties: "...", early_payment_discount: "..."}

The payment notes (PMT, PMD, AAB: :class:`o2c.config.PaymentNotes`) are added to an invoice that
has no note of that subject, in every format (Factur-X MINIMUM has no notes and drops them);
EXTENDED-CTC-FR requires all three (BR-FR-05). Without them such a document is rejected with a
reason naming the setting.

Outbound is idempotent: one document per (invoice, invoice version, format). A document that
fails validation is stored with its findings (status ``rejected``) and quarantined with the
canonical invoice, never delivered; the run goes on. A rejection is final for the payment notes it
was rendered with: once the settings give other notes for it, the next run renders it again. A
delivered document is not delivered again; a failed delivery is retried on the next run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from edi.limits import check_size, max_bytes
from o2c.config import PAYMENT_NOTE_SUBJECTS, BankConfig, Channel, EInvoicingConfig, FolderChannel, SftpChannel
from o2c.context import RunContext
from o2c.store import Store, utcnow
from o2c.store.einvoice import EInvoiceDocument, LifecycleEvent
from o2c.store.models import InvoiceRow
from schemas.errors import RejectedDocument, RetriableError
from schemas.invoice import Invoice, Note
from schemas.jsonio import from_json

log = logging.getLogger(__name__)



# -- delivery channels --------------------------------------------------------------------
def deliver(channel: Channel, filename: str, content: bytes, *, connection: Any = None) -> str:
    """Put ``content`` on the channel; returns a reference (path or the platform's answer).

    ``sftp``: the platform's folder over SFTP, with key authentication and a pinned host key
    (the connection ``channel.connection`` read like a bank's: ``O2C_CONN_<ID>``); the file is
    written under a temporary name and renamed, so the platform never picks up half a file.
    """
    if isinstance(channel, SftpChannel):
        from o2c.banks import sftp_settings_from_env
        from transport.sftp import SftpClient

        settings = connection if connection is not None else sftp_settings_from_env(
            BankConfig(name="einvoicing", connection=channel.connection, folder=channel.folder, patterns=("*",)))
        with SftpClient(settings) as client:
            return client.upload(content, channel.folder, filename)
    if isinstance(channel, FolderChannel):
        folder = Path(channel.path)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / filename
        tmp = folder / f".{filename}.part"
        tmp.write_bytes(content)
        os.replace(tmp, target)  # the platform never sees half a file
        return str(target)
    import requests

    from transport.http import classify_response, with_retries

    url = channel.url
    headers = {"Content-Type": "application/pdf" if filename.endswith(".pdf") else "application/xml",
               "Idempotency-Key": hashlib.sha256(content).hexdigest()}
    auth = (connection.login, connection.password) if connection is not None and connection.login else None

    def once() -> str:
        resp = requests.post(url, data=content, headers={**headers, "X-Filename": filename}, auth=auth, timeout=60)
        classify_response(resp, f"e-invoice delivery {url}")
        return resp.headers.get("Location") or f"HTTP {resp.status_code}"

    return str(with_retries(once, what=f"e-invoice delivery {url}"))


# -- the seller's legal payment notes (BR-FR-05) ------------------------------------------------
def payment_notes(config: EInvoicingConfig, inv: Invoice, source: str | None) -> list[Note]:
    """The BG-1 notes the settings add to ``inv``: those of its :class:`~o2c.config.PaymentNotes`
    entry whose subject code (PMT, PMD, AAB) the invoice has no note for (the source's own wins)."""
    entry = config.payment_notes_for(inv, source)
    if entry is None:
        return []
    have = {n.subject_code for n in inv.notes}
    return [Note(text=text, subject_code=code) for code, text in entry.notes().items() if code not in have]


def notes_fingerprint(notes: list[Note]) -> str:
    """What a document records of the notes added to it: a rejection is final for these only."""
    if not notes:
        return ""
    blob = json.dumps([[n.subject_code, n.text] for n in notes], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def missing_notes_hint(result: Any, inv: Invoice, source: str | None) -> str:
    """What to set when the French rules miss the seller's payment notes (BR-FR-05), else ''."""
    failed = {f.rule.rsplit("_", 1)[-1] for f in result.errors if f.rule.startswith("BR-FR-05")}
    if not failed:
        return ""
    keys = {code: key for key, code in PAYMENT_NOTE_SUBJECTS.items()}
    missing = [code for code in keys if code in failed] + sorted(failed - set(keys))
    wanted = ", ".join(f"{keys.get(code, code)} ({code})" for code in missing)
    who = f"seller_siren: '{inv.seller.siren}'" if inv.seller.siren else f"source: {source}"
    example = ", ".join(f"{keys.get(code, code)}: ..." for code in missing)
    return (f"The seller's legal payment notes are missing (BR-FR-05: {wanted}) and the source has none: set them "
            f"in the e-invoicing settings, payment_notes: [{{{who}, {example}}}] (config/einvoicing.example.yaml).")


@dataclass
class OutboundSummary:
    run_id: str
    considered: int = 0
    rendered: int = 0
    rejected: int = 0
    delivered: int = 0
    failed: int = 0
    already_done: int = 0
    rejects: list[dict[str, str]] = field(default_factory=list)


def outbound(store: Store, config: EInvoicingConfig, *, limit: int | None = None, connection: Any = None,
             context: RunContext | None = None) -> OutboundSummary:
    """Render, validate and deliver every stored invoice version that has no document yet."""
    from edi import einvoice

    with store.run(source="einvoicing", stream="outbound", context=context) as run:
        summary = OutboundSummary(run_id=run.id)
        try:
            with store.session() as s:
                q = select(InvoiceRow).order_by(InvoiceRow.issue_date, InvoiceRow.id)
                if config.sources:
                    q = q.where(InvoiceRow.source.in_(config.sources))
                rows = s.scalars(q).all()
                # one read of what is already final, instead of one query per invoice on every run
                final = set(s.execute(select(EInvoiceDocument.invoice_id, EInvoiceDocument.invoice_version, EInvoiceDocument.format)
                                      .where(EInvoiceDocument.status == "delivered")).tuples())
                # a rejection is final for the payment notes it was rendered with (a new setting retries it)
                rejected = {(i, v, f): (report or {}).get("payment_notes", "") for i, v, f, report in s.execute(
                    select(EInvoiceDocument.invoice_id, EInvoiceDocument.invoice_version, EInvoiceDocument.format,
                           EInvoiceDocument.report).where(EInvoiceDocument.status == "rejected")).tuples()}
            for row in rows[:limit] if limit else rows:
                inv = from_json(Invoice, row.document)
                fmt = config.format_for(inv)
                added = payment_notes(config, inv, row.source)
                notes_key = notes_fingerprint(added)
                inv.notes = [*inv.notes, *added]
                summary.considered += 1
                key = (row.id, row.version, fmt)
                if key in final or rejected.get(key) == notes_key:
                    summary.already_done += 1
                    continue
                with store.session() as s:
                    doc = s.scalar(select(EInvoiceDocument).where(EInvoiceDocument.invoice_id == row.id,
                                                                  EInvoiceDocument.invoice_version == row.version,
                                                                  EInvoiceDocument.format == fmt))
                    if doc is not None and (doc.status == "delivered" or doc.status == "rejected"
                                            and (doc.report or {}).get("payment_notes", "") == notes_key):
                        summary.already_done += 1
                        continue
                    retried = doc is not None and doc.status == "rejected"
                    if retried:  # rejected with other payment notes: rendered again
                        s.delete(doc)
                        s.flush()
                        doc = None
                    if doc is None:
                        spec = einvoice.FORMATS.get(fmt)  # an unknown format is refused by render(), below
                        ext = spec.extension if spec is not None else "pdf"
                        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in inv.number)
                        filename = f"{safe}_v{row.version}.{ext}"
                        try:
                            content = einvoice.render(inv, fmt)
                            doc = EInvoiceDocument(invoice_id=row.id, invoice_version=row.version, invoice_number=inv.number,
                                                   format=fmt, filename=filename, content=content,
                                                   content_hash=hashlib.sha256(content).hexdigest(), valid=True,
                                                   report={"format": fmt, "payment_notes": notes_key}, status="rendered",
                                                   run_id=run.id, created_at=utcnow())
                            summary.rendered += 1
                            if retried:  # its rejection is settled by the new settings
                                store.resolve_quarantine(s, source=row.source, kind="einvoice", source_id=row.source_id,
                                                         resolution="replayed")
                        except einvoice.InvoiceRejected as exc:
                            result = exc.result
                            hint = missing_notes_hint(result, inv, row.source)
                            reason = f"{hint} {exc}" if hint else str(exc)
                            doc = EInvoiceDocument(invoice_id=row.id, invoice_version=row.version, invoice_number=inv.number,
                                                   format=fmt, filename=filename, content=None, content_hash=None, valid=False,
                                                   errors=len(result.errors), warnings=len(result.warnings),
                                                   report={"format": fmt, "payment_notes": notes_key,
                                                           **({"hint": hint} if hint else {}),
                                                           "errors": [_finding(f) for f in result.errors],
                                                           "warnings": [_finding(f) for f in result.warnings], "artefacts": result.artefacts},
                                                   status="rejected", run_id=run.id, created_at=utcnow())
                            store.quarantine(s, source=row.source, kind="einvoice", source_id=row.source_id, payload=row.document,
                                             reason=f"{fmt}: {reason}", field=result.errors[0].rule if result.errors else None, run_id=run.id)
                            summary.rejected += 1
                            summary.rejects.append({"invoice": inv.number, "format": fmt, "reason": reason[:500]})
                            s.add(doc)
                            continue
                        except RejectedDocument as exc:
                            store.quarantine(s, source=row.source, kind="einvoice", source_id=row.source_id, payload=row.document,
                                             reason=f"{fmt}: {exc}", field=exc.field, run_id=run.id)
                            summary.rejected += 1
                            summary.rejects.append({"invoice": inv.number, "format": fmt, "reason": str(exc)[:500]})
                            continue
                        s.add(doc)
                        s.flush()
                # deliver outside the render transaction: a delivered file is recorded right after
                try:
                    ref = deliver(config.channel, doc.filename, doc.content or b"", connection=connection)
                except RetriableError as exc:
                    with store.session() as s:
                        d = s.get(EInvoiceDocument, doc.id)
                        d.status = "delivery_failed"
                        d.delivery_ref = str(exc)[:500]
                    summary.failed += 1
                    continue
                with store.session() as s:
                    d = s.get(EInvoiceDocument, doc.id)
                    d.status, d.delivery_ref, d.delivered_at = "delivered", ref, utcnow()
                    d.channel = config.channel.kind
                    _record_status(s, direction="out", invoice_id=row.id, number=inv.number, siren=inv.seller.siren or "",
                                   code="200", when=utcnow(), source=ref)
                summary.delivered += 1
        finally:
            run.read = summary.considered
            run.inserted = summary.delivered
            run.unchanged = summary.already_done
            run.rejected = summary.rejected
    return summary


def _finding(f: Any) -> dict[str, Any]:
    return {k: getattr(f, k) for k in ("rule", "message", "location", "flag", "source") if hasattr(f, k)}


def _record_status(s: Any, *, direction: str, invoice_id: int | None, number: str, siren: str, code: str,
                   when: dt.datetime, source: str | None, reason_code: str | None = None, reason: str | None = None,
                   amount: Any = None, currency: str | None = None, message: bytes | None = None) -> LifecycleEvent | None:
    from edi.cdar import STATUSES

    existing = s.scalar(select(LifecycleEvent).where(
        LifecycleEvent.direction == direction, LifecycleEvent.invoice_number == number,
        LifecycleEvent.seller_siren == siren, LifecycleEvent.code == code, LifecycleEvent.status_date == when))
    if existing is not None:
        return None
    event = LifecycleEvent(direction=direction, invoice_id=invoice_id, invoice_number=number, seller_siren=siren, code=code,
                           label=STATUSES.get(code, f"Statut {code}"), status_date=when, reason_code=reason_code,
                           reason=reason, amount=amount, currency=currency, message=message, source=source,
                           recorded_at=utcnow())
    s.add(event)
    return event


@dataclass
class InboundSummary:
    read: int = 0
    recorded: int = 0
    duplicates: int = 0
    unknown_invoice: int = 0
    rejected: int = 0
    disputes: int = 0  # opened by a 207 En litige or 210 Refusée


def ingest_statuses(store: Store, folder: Path, *, run_id: str | None = None) -> InboundSummary:
    """Record the CDAR status messages found in ``folder`` (a platform's outbox for us).

    A 207 En litige or 210 Refusée on an invoice the hub has opens a dispute on it (origin
    ``lifecycle_207`` / ``lifecycle_210``, reason from the status's reason code, the platform's text
    as its comment; :func:`_dispute_from_status`): its reminders wait."""
    from edi import cdar

    summary = InboundSummary()
    for path in sorted(folder.glob("*.xml")):
        summary.read += 1
        size = path.stat().st_size
        too_large = size > max_bytes("lifecycle")
        data = b"" if too_large else path.read_bytes()  # an oversized message is quarantined unread
        with store.session() as s:
            try:
                check_size("lifecycle", size, document_id=path.name)
                status = cdar.parse(data, document_id=path.name)
            except RejectedDocument as exc:
                store.quarantine(s, source="platform", kind="lifecycle_status", source_id=path.name, payload=data,
                                 content_type="application/xml", reason=str(exc), field=exc.field, run_id=run_id)
                summary.rejected += 1
                continue
            inv = s.scalar(select(InvoiceRow).where(InvoiceRow.number == status.invoice_number).order_by(InvoiceRow.id))
            if inv is None:
                summary.unknown_invoice += 1
            when = dt.datetime.combine(status.status_date, dt.time(0), dt.UTC) if not isinstance(status.status_date, dt.datetime) else status.status_date
            event = _record_status(s, direction="in", invoice_id=inv.id if inv else None, number=status.invoice_number,
                                   siren=status.seller_siren or "", code=status.status_code, when=when, source=path.name,
                                   reason_code=status.reason_code, reason=status.reason, amount=status.amount,
                                   currency=status.currency, message=data)
            if event is None:
                summary.duplicates += 1
                continue
            summary.recorded += 1
            if inv is not None and status.status_code in DISPUTE_STATUSES:
                summary.disputes += _dispute_from_status(s, inv, status.status_code, status.reason_code, status.reason,
                                                         status.status_date, path.name)
    return summary


#: lifecycle statuses received for an invoice the hub issued that open a dispute on it
DISPUTE_STATUSES = {"207": "En litige", "210": "Refusée"}


def _dispute_from_status(s: Any, inv: InvoiceRow, code: str, reason_code: str | None, reason: str | None,
                         day: dt.date | dt.datetime, filename: str) -> int:
    """Open the dispute a received 207 En litige / 210 Refusée says, in the transaction that records
    the status (so a status recorded twice is a duplicate and opens nothing; a second status on an
    invoice already disputed adds its text to that dispute). Returns 1 when a dispute was opened."""
    from o2c.store.collections import LIFECYCLE_REASONS, open_dispute_in

    text = " ".join(p for p in (f"{code} {DISPUTE_STATUSES[code]}", f"[{reason_code}]" if reason_code else "",
                                reason or "") if p)
    _, created = open_dispute_in(
        s, inv, reason=LIFECYCLE_REASONS.get((reason_code or "").upper(), "other"), by="platform",
        comment=f"{text} (lifecycle status {filename})"[:2000], origin=f"lifecycle_{code}",
        on=day.date() if isinstance(day, dt.datetime) else day)
    return int(created)


def emit_encaissee(store: Store, config: EInvoicingConfig, invoice_row_id: int, amount: Any, paid_on: dt.date,
                   *, connection: Any = None) -> LifecycleEvent | None:
    """Send the 212 Encaissée status of a collected payment (services with VAT due on receipt
    need it for e-reporting); recorded once per (invoice, date)."""
    from edi import cdar

    with store.session() as s:
        row = s.get(InvoiceRow, invoice_row_id)
        inv = from_json(Invoice, row.document)
        status = cdar.encaissee(inv, amount, paid_on)
        when = dt.datetime.combine(paid_on, dt.time(0), dt.UTC)
        exists = s.scalar(select(LifecycleEvent).where(LifecycleEvent.direction == "out", LifecycleEvent.invoice_number == inv.number,
                                                       LifecycleEvent.code == "212", LifecycleEvent.status_date == when))
        if exists is not None:
            return None
    message = cdar.render(status)
    ref = deliver(config.channel, f"{status.message_id}.cdar.xml", message, connection=connection)
    with store.session() as s:
        return _record_status(s, direction="out", invoice_id=invoice_row_id, number=inv.number, siren=inv.seller.siren or "",
                              code="212", when=when, source=ref, amount=status.amount, currency=status.currency, message=message)
