"""Reminders that reach people: the planned reminders (:mod:`o2c.jobs.collections`) rendered as a
PDF and an e-mail in the customer's language (:mod:`o2c.render.reminder`), sent over SMTP
(:mod:`transport.smtp`) to the dunning contacts with the invoices' PDFs attached, and the level
written to the ERP (Tryton ``account_dunning``). ``o2c dunning send`` and the collections DAG.

A reminder is sent once it is ``pending``: one that waits for approval (``awaiting_approval``,
set when it is planned: ``approval_above`` / ``approval_levels`` of the policy) is moved to
``pending`` by :func:`approve` (``o2c dunning approve ID --by NAME --reason ...``), with an audit
entry. Each send first *claims* its reminder (``pending`` -> ``sending`` in one conditional
UPDATE), so two runs at once never send it twice, then records the outcome in its own
transaction with an audit entry:

- accepted by the server: ``sent`` with ``sent_at`` (``dunning.sent``; recipients the server
  refused while it accepted others are kept in ``error``);
- a transient failure (4xx, server unreachable or dropping the connection): back to ``pending``
  with the server's answer in ``error`` and ``attempts`` + 1, retried by the next run
  (``dunning.retry_later``); after ``send_attempts`` attempts it is ``failed``;
- a permanent refusal (5xx for the sender, the message or every recipient): ``failed`` with the
  answer (``dunning.failed``);
- a refused SMTP login or a missing setting: the reminder stays ``pending`` and the error goes
  to the caller (a person fixes the setting).

A reminder left ``sending`` by a run that died is not sent again automatically (whether the
server took it is unknown): the summary lists it. The Message-ID is the same at each attempt.

After a reminder is sent, the level of each of its invoices (the line's level: Tryton's levels
are per receivable line, by days late) is written to the invoice's ERP (a connector with
``push_dunning_level``: Tryton) and the outcome kept on the reminder's line (``erp``: ``written``
with the ERP's reference, ``pending`` with the error of a transient failure, retried by the next
run, or ``failed``), with an audit entry ``dunning.erp_level``.

A dry run (``dry_run=FOLDER``) writes each pending reminder's e-mail (``.eml``, attachments
included) and PDF to the folder and changes nothing: no status, no audit, no ERP.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from o2c.config import CollectionsConfig
from o2c.context import RunContext
from o2c.render.reminder import (
    PartyView,
    ReminderDoc,
    ReminderLineView,
    filename,
    pick_language,
    render_email,
    render_pdf,
    tone_for,
)
from o2c.store import Store, utcnow
from o2c.store.audit import append as audit_append
from o2c.store.collections import ReminderRow
from o2c.store.einvoice import EInvoiceDocument
from o2c.store.models import InvoiceRow
from schemas.errors import AuthError, ConfigError, RejectedDocument, RetriableError

log = logging.getLogger(__name__)
ACTOR = "o2c:collections"
ERROR_CHARS = 2000
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # invoices' PDFs beyond this total are left out (the letter still lists them)


@dataclass
class SendSummary:
    run_id: str
    dry_run: str | None = None
    sent: int = 0
    failed: int = 0
    retry_later: int = 0
    written: int = 0  # dry run: reminders written to the folder
    awaiting_approval: int = 0
    left_sending: list[int] = field(default_factory=list)
    erp_written: int = 0
    erp_pending: int = 0
    erp_failed: int = 0
    stopped: str | None = None
    details: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- what a reminder shows -------------------------------------------------------------------
def _party(doc: dict[str, Any] | None, fallback: str) -> PartyView:
    doc = doc or {}
    a = doc.get("address") or {}
    lines = [s for s in (a.get("line1"), a.get("line2"), a.get("line3")) if s]
    city = " ".join(s for s in (a.get("postcode"), a.get("city")) if s)
    if city or a.get("country"):
        lines.append(city + (f" ({a['country']})" if a.get("country") and a.get("country") != "FR" else ""))
    reg = doc.get("legal_registration") or {}
    contact = doc.get("contact") or {}
    return PartyView(name=doc.get("name") or fallback, address=tuple(x for x in lines if x.strip()),
                     siren=reg.get("value") if reg.get("scheme") in ("0002", None) and reg.get("value") else None,
                     vat_id=doc.get("vat_id"), email=contact.get("email"))


def build_doc(s: Any, row: ReminderRow, config: CollectionsConfig) -> tuple[ReminderDoc, str | None]:
    """The :class:`ReminderDoc` of ``row`` and, when its language fell back, why."""
    language, fallback = pick_language(row.language, config.default_language)
    ids = [int(ln["invoice_id"]) for ln in row.lines]
    invoices = {i.id: i for i in s.scalars(select(InvoiceRow).where(InvoiceRow.id.in_(ids)))} if ids else {}
    first = next((invoices[i] for i in ids if i in invoices), None)
    document = (first.document if first is not None else None) or {}
    seller = _party(document.get("seller"), config.sender_name)
    pay = document.get("payment") or {}
    if pay.get("iban"):
        seller = PartyView(**{**asdict(seller), "iban": pay["iban"], "bic": pay.get("bic")})
    customer = _party(document.get("buyer"), row.customer_name)
    customer = PartyView(**{**asdict(customer), "name": row.customer_name, "email": None})
    levels = [lv.level for lv in config.levels]
    doc = ReminderDoc(
        reference=str(row.id), as_of=row.as_of, level=row.level, tone=tone_for(row.level, levels), language=language,
        currency=row.currency, seller=seller, customer=customer,
        lines=[ReminderLineView(ln["number"], dt.date.fromisoformat(ln["due_date"]), int(ln["days_late"]),
                                Decimal(ln["open"]), Decimal(ln["interest"]), Decimal(ln["indemnity"])) for ln in row.lines],
        credit_notes=[(c["number"], Decimal(c["open"])) for c in row.credit_notes],
        annual_rate=config.annual_rate, indemnity_per_invoice=config.indemnity, indemnity_currency=config.indemnity_currency)
    return doc, fallback


def invoice_pdfs(s: Any, invoice_ids: list[int]) -> list[tuple[str, bytes]]:
    """The PDFs of the invoices the hub delivered (Factur-X, the latest version of each), up to
    :data:`MAX_ATTACHMENT_BYTES` in all."""
    out: list[tuple[str, bytes]] = []
    size = 0
    for inv_id in invoice_ids:
        doc = s.scalars(select(EInvoiceDocument).where(EInvoiceDocument.invoice_id == inv_id,
                                                       EInvoiceDocument.status == "delivered",
                                                       EInvoiceDocument.content.is_not(None))
                        .order_by(EInvoiceDocument.invoice_version.desc(), EInvoiceDocument.id.desc())).first()
        if doc is None or not doc.content or not bytes(doc.content[:5]).startswith(b"%PDF-"):
            continue
        if size + len(doc.content) > MAX_ATTACHMENT_BYTES:
            log.warning("reminder: %s's PDF left out, the attachments would pass %s bytes", doc.invoice_number,
                        MAX_ATTACHMENT_BYTES)
            continue
        size += len(doc.content)
        out.append((doc.filename if doc.filename.lower().endswith(".pdf") else f"{doc.invoice_number}.pdf", bytes(doc.content)))
    return out


def _sender(config: CollectionsConfig) -> tuple[str, str]:
    if not config.sender_email:
        raise ConfigError("collections.sender_email: set the From address of the reminders, e.g. recouvrement@example.com")
    return config.sender_name, config.sender_email


def compose(s: Any, row: ReminderRow, config: CollectionsConfig, now: dt.datetime | None = None) -> tuple[Any, bytes, str | None, list[str]]:
    """(the e-mail, the reminder PDF, the language fallback note, the invoices attached) of ``row``."""
    doc, fallback = build_doc(s, row, config)
    pdf = render_pdf(doc)
    attached = invoice_pdfs(s, [int(ln["invoice_id"]) for ln in row.lines]) if config.attach_invoices else []
    to = [(r.get("name"), r["email"]) for r in row.recipients if r.get("email")]
    msg = render_email(doc, sender=_sender(config), to=to, reply_to=config.reply_to, pdf=pdf, invoices=attached, now=now)
    return msg, pdf, fallback, [name for name, _ in attached]


# -- approval --------------------------------------------------------------------------------
def approve(store: Store, reminder_id: int, *, by: str, reason: str | None = None) -> ReminderRow:
    """Move a reminder that waits for approval to ``pending`` (sent by the next run), with an
    audit entry naming who approved it and why."""
    if not by.strip():
        raise ConfigError("say who approves the reminder (--by)")
    now = utcnow()
    with store.session() as s:
        row = s.get(ReminderRow, reminder_id)
        if row is None:
            raise ConfigError(f"no reminder {reminder_id}")
        if row.status != "awaiting_approval":
            raise ConfigError(f"reminder {reminder_id} does not wait for approval (it is {row.status})")
        row.status, row.error = "pending", None
        audit_append(s, actor=by, action="dunning.approved", subject=f"customer:{row.customer_id}",
                     details={"reminder": row.id, "level": row.level, "total": str(row.total), "currency": row.currency,
                              "reason": reason}, at=now)
        s.flush()
        s.expunge(row)
    return row


# -- sending ---------------------------------------------------------------------------------
def _claim(store: Store, reminder_id: int) -> bool:
    with store.session() as s:
        done = s.execute(update(ReminderRow).where(ReminderRow.id == reminder_id, ReminderRow.status == "pending")
                         .values(status="sending").execution_options(synchronize_session=False))
        return bool(done.rowcount == 1)


def _record(store: Store, reminder_id: int, action: str, details: dict[str, Any], **values: Any) -> None:
    with store.session() as s:
        row = s.get(ReminderRow, reminder_id)
        assert row is not None
        for k, v in values.items():
            setattr(row, k, v)
        audit_append(s, actor=ACTOR, action=action, subject=f"customer:{row.customer_id}",
                     details={"reminder": row.id, "level": row.level, "total": str(row.total), "currency": row.currency,
                              **details})


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:60].strip("_") or "reminder"


def send_reminders(store: Store, config: CollectionsConfig, *, smtp: Any = None, dry_run: str | Path | None = None,
                   erp: Callable[[str], Any] | None = None, context: RunContext | None = None,
                   limit: int | None = None, now: dt.datetime | None = None) -> SendSummary:
    """Send the pending reminders (oldest first, at most ``limit``) with ``smtp``
    (:class:`transport.smtp.SmtpSettings`), or write them to ``dry_run``; then write the levels
    of the sent reminders to the ERPs ``erp(source)`` returns a connector for."""
    from transport.smtp import send

    folder = Path(dry_run) if dry_run is not None else None
    if folder is None and smtp is None:
        raise ConfigError("collections.smtp_connection: name the SMTP connection reminders are sent through "
                          "(or use a dry run)")
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    with store.run(source="collections", stream="reminders", context=context) as run:
        summary = SendSummary(run_id=run.id, dry_run=str(folder) if folder else None)
        with store.session() as s:
            ids = list(s.scalars(select(ReminderRow.id).where(ReminderRow.status == "pending").order_by(ReminderRow.id)))
            summary.awaiting_approval = len(s.scalars(select(ReminderRow.id).where(ReminderRow.status == "awaiting_approval")).all())
            summary.left_sending = list(s.scalars(select(ReminderRow.id).where(ReminderRow.status == "sending")))
        if limit is not None:
            ids = ids[:limit]
        for rid in ids:
            with store.session() as s:
                row = s.get(ReminderRow, rid)
                assert row is not None
                msg, pdf, fallback, attached = compose(s, row, config, now)
                customer, attempts = row.customer_name, row.attempts
            if folder is not None:
                stem = f"{rid}-{_safe(customer)}"
                (folder / f"{stem}.eml").write_bytes(bytes(msg))
                (folder / f"{stem}.pdf").write_bytes(pdf)
                summary.written += 1
                summary.details.append({"reminder": rid, "customer": customer, "to": msg["To"], "subject": msg["Subject"],
                                        "language": msg["Content-Language"], "fallback": fallback,
                                        "attachments": [f"{stem}.pdf", *attached], "files": [f"{stem}.eml", f"{stem}.pdf"]})
                continue
            if not _claim(store, rid):
                continue  # another run took it
            info = {"to": msg["To"], "subject": msg["Subject"], "message_id": msg["Message-ID"],
                    "language": msg["Content-Language"], "language_fallback": fallback, "invoices_attached": attached}
            try:
                delivery = send(msg, smtp)
            except (AuthError, ConfigError) as exc:
                _record(store, rid, "dunning.retry_later", {**info, "error": str(exc)[:ERROR_CHARS]}, status="pending",
                        error=str(exc)[:ERROR_CHARS])
                raise
            except RetriableError as exc:
                tries = attempts + 1
                status = "failed" if tries >= config.send_attempts else "pending"
                _record(store, rid, "dunning.failed" if status == "failed" else "dunning.retry_later",
                        {**info, "error": str(exc)[:ERROR_CHARS], "attempts": tries}, status=status, attempts=tries,
                        error=str(exc)[:ERROR_CHARS])
                summary.failed += status == "failed"
                summary.retry_later += status == "pending"
                summary.details.append({"reminder": rid, "customer": customer, "status": status, "error": str(exc)})
                summary.stopped = f"transient error, retry later: {exc}"
                break  # the server is unwell: the others wait for the next run
            except RejectedDocument as exc:
                _record(store, rid, "dunning.failed", {**info, "error": str(exc)[:ERROR_CHARS]}, status="failed",
                        attempts=attempts + 1, error=str(exc)[:ERROR_CHARS])
                summary.failed += 1
                summary.details.append({"reminder": rid, "customer": customer, "status": "failed", "error": str(exc)})
                continue
            except Exception:
                log.exception("reminder %s: unexpected error while sending; left 'sending' (check the mailbox)", rid)
                raise
            refused = "; ".join(f"{r}: {a}" for r, a in delivery.refused.items()) or None
            _record(store, rid, "dunning.sent", {**info, "accepted": list(delivery.accepted), "refused": delivery.refused},
                    status="sent", sent_at=utcnow(), attempts=attempts + 1,
                    error=f"refused by the server: {refused}" if refused else None)
            summary.sent += 1
            summary.details.append({"reminder": rid, "customer": customer, "status": "sent", "to": list(delivery.accepted),
                                    "language": msg["Content-Language"], "fallback": fallback})
        if folder is None and erp is not None and config.write_erp_level:
            write_erp_levels(store, erp, summary)
        run.read, run.inserted = len(ids), summary.sent + summary.written
        run.unchanged = summary.awaiting_approval
    return summary


# -- the level in the ERP --------------------------------------------------------------------
def write_erp_levels(store: Store, erp: Callable[[str], Any], summary: SendSummary | None = None) -> SendSummary:
    """Write the level of every sent reminder's invoices whose ERP write is not done yet
    (``erp`` missing or ``pending``) with ``erp(source).push_dunning_level``; a source without
    such a connector is left alone."""
    summary = summary or SendSummary(run_id="")
    with store.session() as s:
        rows = [r.id for r in s.scalars(select(ReminderRow).where(ReminderRow.status == "sent").order_by(ReminderRow.id))
                if any((ln.get("erp") or {}).get("status") in (None, "pending") for ln in r.lines)]
    for rid in rows:
        with store.session() as s:
            row = s.get(ReminderRow, rid)
            assert row is not None
            invoices = {i.id: i for i in s.scalars(select(InvoiceRow).where(
                InvoiceRow.id.in_([int(ln["invoice_id"]) for ln in row.lines])))}
            lines = [dict(ln) for ln in row.lines]
            level, customer = row.level, row.customer_id
        changed = False
        for ln in lines:
            state = ln.get("erp") or {}
            if state.get("status") not in (None, "pending"):
                continue
            inv = invoices.get(int(ln["invoice_id"]))
            connector = erp(inv.source) if inv is not None else None
            if inv is None or connector is None or not hasattr(connector, "push_dunning_level"):
                if state.get("status") is None:
                    ln["erp"] = {"status": "not_supported"}
                    changed = True
                continue
            try:
                # each invoice at its own level (Tryton's levels are per receivable line, by days late)
                result = connector.push_dunning_level(inv.source_id, int(ln.get("level") or level),
                                                      reference=f"o2c reminder {rid}")
            except RetriableError as exc:
                ln["erp"] = {"status": "pending", "error": str(exc)[:ERROR_CHARS], "attempts": int(state.get("attempts", 0)) + 1}
                summary.erp_pending += 1
            except (RejectedDocument, ConfigError) as exc:
                ln["erp"] = {"status": "failed", "error": str(exc)[:ERROR_CHARS]}
                summary.erp_failed += 1
            else:
                ln["erp"] = {"status": "written", "at": utcnow().isoformat(), "ref": result}
                summary.erp_written += 1
            changed = True
            with store.session() as s:
                audit_append(s, actor=ACTOR, action="dunning.erp_level", subject=f"invoice:{inv.source}:{inv.source_id}",
                             details={"reminder": rid, "customer": customer, "level": int(ln.get("level") or level),
                                      **ln["erp"]})
        if changed:
            with store.session() as s:
                row = s.get(ReminderRow, rid)
                assert row is not None
                row.lines = lines
    return summary


@contextmanager
def erp_connectors(sources: list[Any]) -> Iterator[Callable[[str], Any]]:
    """``source name -> connector`` for the configured sources whose connector writes dunning
    levels (built on first use, closed at the end)."""
    from connectors import build, connector_class
    from o2c.sources import connection_from_env

    by_name = {src.name: src for src in sources if src.enabled}
    built: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in built:
            src = by_name.get(name)
            if src is None or not hasattr(connector_class(src.kind), "push_dunning_level"):
                built[name] = None
            else:
                built[name] = build(src.kind, connection_from_env(src.connection), **src.options)
        return built[name]

    try:
        yield get
    finally:
        for c in built.values():
            if c is not None:
                c.close()


def smtp_settings(config: CollectionsConfig) -> Any:
    """The SMTP settings of ``collections.smtp_connection`` (``O2C_CONN_<ID>``)."""
    from o2c.sources import connection_from_env
    from transport.smtp import SmtpSettings

    if not config.smtp_connection:
        raise ConfigError("collections.smtp_connection: name the SMTP connection reminders are sent through, e.g. "
                          "smtp_relay (O2C_CONN_SMTP_RELAY=smtp://login:password@host:587?security=starttls)")
    conn = connection_from_env(config.smtp_connection)
    return SmtpSettings.from_connection(conn.host, conn.port, conn.login, conn.password, conn.scheme, conn.extra,
                                        setting=f"connection {config.smtp_connection!r}")


__all__ = ["SendSummary", "approve", "build_doc", "compose", "erp_connectors", "filename", "send_reminders",
           "smtp_settings", "write_erp_levels"]
