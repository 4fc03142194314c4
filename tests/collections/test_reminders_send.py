"""Reminders sent over a real SMTP server on loopback (aiosmtpd) and read back: one per customer
in its language (French, English, German; another language falls back to the configured default,
and says so), the PDF attached and readable, the invoice's Factur-X attached when the hub has
it, the customer's name escaped in the HTML. SMTP failures: a transient answer leaves the
reminder pending with the server's answer and it goes out on the next run; a permanent refusal
fails it; an unreachable server is transient. Approval, the dry run and the commands."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from edi.facturx import render_pdf as facturx_pdf
from o2c.cli import cli
from o2c.config import CollectionsConfig, DunningLevel, load_config
from o2c.jobs.collections import reminders, run_dunning
from o2c.jobs.reminders import send_reminders
from o2c.render.reminder import money
from o2c.store import Store, utcnow
from o2c.store.audit import trail, verify
from o2c.store.collections import ReminderRow
from o2c.store.einvoice import EInvoiceDocument
from o2c.store.models import CustomerRow, InvoiceRow
from o2c.store.parties import consolidate
from schemas import Contact, Customer, Identifier, SourceRef
from schemas.errors import ConfigError
from tests.collections.smtp_server import free_port, smtp_server
from tests.schemas.test_validation import make_invoice
from transport.smtp import SmtpSettings

AS_OF = dt.date(2026, 12, 7)
SIRENS = ["100007913", "100015833", "100023753", "100031673"]
CONFIG = CollectionsConfig(levels=(DunningLevel(level=1, days=10), DunningLevel(level=2, days=30),
                                   DunningLevel(level=3, days=60)), annual_rate=Decimal("0.1215"), indemnity=Decimal("40"),
                           sender_name="Acme Recouvrement", sender_email="recouvrement@acme.example", default_language="en")


def _customer(store: Store, i: int, name: str, language: str | None) -> None:
    cust = Customer(source=SourceRef(system="erp1", id=f"c{i}"), name=name, siren=SIRENS[i], dunning_language=language,
                    dunning_contacts=[Contact(name=f"Compta {i}", email=f"compta{i}@example.com")])
    with store.session() as s:
        res = store.upsert_customer(s, cust, run_id=None)
        consolidate(s, s.get(CustomerRow, res.row_id))


def _invoice(store: Store, i: int, number: str, amount: str, days_late: int, *, delivered: bool = False) -> None:
    inv = make_invoice(number=number)
    inv.buyer.legal_registration = Identifier(value=SIRENS[i], scheme="0002")
    inv.issue_date = AS_OF - dt.timedelta(days=days_late + 30)
    inv.due_date = AS_OF - dt.timedelta(days=days_late)
    inv.totals.payable = Decimal(amount)
    inv.source = SourceRef(system="erp1", id=number, updated_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    with store.session() as s:
        res = store.upsert_invoice(s, inv, run_id=None)
        if delivered:  # what the outbound e-invoicing job keeps of a delivered Factur-X
            s.add(EInvoiceDocument(invoice_id=res.row_id, invoice_version=1, invoice_number=number, format="facturx-en16931",
                                   filename=f"{number}.pdf", content=facturx_pdf(inv), valid=True, report={},
                                   status="delivered", created_at=utcnow()))


def _store(tmp_path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    return store


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_reminders_in_each_language_read_back_from_the_server(tmp_path):
    store = _store(tmp_path)
    for i, (name, lang) in enumerate([("Dupont <& Fils> SARL", "fr"), ("Smith Ltd", "en-GB"), ("Müller GmbH", "de"),
                                      ("Rossi SpA", "it")]):
        _customer(store, i, name, lang)
    _invoice(store, 0, "FA-1", "1234.50", 40, delivered=True)
    _invoice(store, 1, "FA-2", "300.00", 15)
    _invoice(store, 2, "FA-3", "800.00", 70)
    _invoice(store, 3, "FA-4", "90.00", 12)
    run_dunning(store, CONFIG, AS_OF)
    with smtp_server() as (box, smtp):
        summary = send_reminders(store, CONFIG, smtp=smtp)
        assert (summary.sent, summary.failed, summary.retry_later) == (4, 0, 0)
        again = send_reminders(store, CONFIG, smtp=smtp)
    assert again.sent == 0 and len(box.received) == 4  # nothing sent twice
    mails = {r.rcpt_tos[0]: r for r in box.received}
    assert set(mails) == {f"compta{i}@example.com" for i in range(4)}
    assert all(r.mail_from == "recouvrement@acme.example" for r in box.received)
    lang = {addr: r.message["Content-Language"] for addr, r in mails.items()}
    assert lang == {"compta0@example.com": "fr", "compta1@example.com": "en", "compta2@example.com": "de",
                    "compta3@example.com": "en"}  # Italian: no text, the configured default
    subjects = {addr: r.message["Subject"] for addr, r in mails.items()}
    assert subjects["compta0@example.com"].startswith("Relance :")  # 40 days late: level 2, firm
    assert subjects["compta1@example.com"].startswith("Reminder:")  # level 1, friendly
    assert subjects["compta2@example.com"].startswith("Letzte Mahnung")  # 70 days: level 3, the final notice

    fr = mails["compta0@example.com"].message
    html = fr.get_body(("html",)).get_content()
    assert "<table" in html and "FA-1" in html
    assert "Dupont &lt;&amp; Fils&gt; SARL" in html and "<& Fils>" not in html  # escaped, not markup
    text = fr.get_body(("plain",)).get_content()
    assert "FA-1" in text and money(Decimal("1234.50"), "EUR", "fr") in text
    attachments = {p.get_filename(): p.get_content() for p in fr.iter_attachments()}
    assert sorted(attachments) == ["FA-1.pdf", f"relance-{AS_OF.isoformat()}-{_id(store, 'FA-1')}.pdf"]
    letter = _pdf_text(attachments[f"relance-{AS_OF.isoformat()}-{_id(store, 'FA-1')}.pdf"])
    # 1234.50 x 12.15 % x 40 / 365 = 16.44 interest, 40 EUR indemnity
    for expected in ("RELANCE", "FA-1", "Dupont <& Fils> SARL", money(Decimal("1234.50"), "EUR", "fr"),
                     money(Decimal("16.44"), "EUR", "fr"), money(Decimal("1290.94"), "EUR", "fr"), "L441-10"):
        assert expected in letter, expected
    assert _pdf_text(attachments["FA-1.pdf"]).count("FA-1") >= 1  # the invoice's own Factur-X
    de = _pdf_text(next(p.get_content() for p in mails["compta2@example.com"].message.iter_attachments()))
    assert "LETZTE MAHNUNG" in de and money(Decimal("800.00"), "EUR", "de") == "800,00 EUR" and "800,00 EUR" in de

    rows = {r.customer_name: r for r in reminders(store)}
    assert {r.status for r in rows.values()} == {"sent"} and all(r.sent_at and r.attempts == 1 for r in rows.values())
    sent = [e for e in trail(store, "customer:") if e.action == "dunning.sent"]
    assert len(sent) == 4 and verify(store).ok
    rossi = next(e for e in sent if e.details["to"].endswith("compta3@example.com>"))
    assert rossi.details["language_fallback"] == "no reminder text in 'it': written in 'en', the configured default"


def _id(store: Store, number: str) -> int:
    with store.session() as s:
        inv = s.scalar(select(InvoiceRow.id).where(InvoiceRow.number == number))
        for r in s.scalars(select(ReminderRow)):
            if any(ln["invoice_id"] == inv for ln in r.lines):
                return r.id
    raise AssertionError(number)


def test_smtp_failures_keep_the_server_answer(tmp_path):
    store = _store(tmp_path)
    _customer(store, 0, "Client Un SARL", "fr")
    _customer(store, 1, "Client Deux SAS", "fr")
    _invoice(store, 0, "FA-1", "500.00", 40)
    _invoice(store, 1, "FA-2", "700.00", 40)
    run_dunning(store, CONFIG, AS_OF)
    one, two = _id(store, "FA-1"), _id(store, "FA-2")

    # nobody listens: transient, both stay pending (the run stops at the first)
    down = send_reminders(store, CONFIG, smtp=SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout=3))
    assert (down.sent, down.retry_later) == (0, 1) and down.stopped
    status = {r.id: (r.status, r.attempts, r.error) for r in reminders(store)}
    assert status[one][:2] == ("pending", 1) and "could not be reached" in status[one][2]
    assert status[two] == ("pending", 0, None)

    with smtp_server() as (box, smtp):
        box.refuse_data = "451 4.3.0 Mailbox temporarily unavailable, try again later"
        busy = send_reminders(store, CONFIG, smtp=smtp)
        row = {r.id: r for r in reminders(store)}[one]
        assert (busy.retry_later, row.status, row.attempts) == (1, "pending", 2)
        assert "451 4.3.0 Mailbox temporarily unavailable" in row.error
        box.refuse_data = None
        box.refuse_rcpt["compta1@example.com"] = "550 5.1.1 No such user here"
        later = send_reminders(store, CONFIG, smtp=smtp)
    assert (later.sent, later.failed) == (1, 1)
    rows = {r.id: r for r in reminders(store)}
    assert (rows[one].status, rows[one].attempts, rows[one].error) == ("sent", 3, None)
    assert rows[two].status == "failed" and "550 5.1.1 No such user here" in rows[two].error
    assert [r.rcpt_tos for r in box.received] == [["compta0@example.com"]]
    actions = [e.action for e in trail(store, "customer:") if e.action.startswith("dunning.") and e.action != "dunning.planned"]
    assert actions == ["dunning.retry_later", "dunning.retry_later", "dunning.sent", "dunning.failed"]


def test_approval_dry_run_and_commands(tmp_path, monkeypatch):
    store = _store(tmp_path)
    _customer(store, 0, "Petit Client SARL", "fr")
    _customer(store, 1, "Gros Client SA", "de")
    _invoice(store, 0, "FA-1", "120.00", 40)
    _invoice(store, 1, "FA-2", "25000.00", 40)
    sources = tmp_path / "sources.yaml"
    sources.write_text("collections:\n  levels:\n    - {level: 1, days: 10}\n    - {level: 2, days: 30}\n"
                       "  sender_email: recouvrement@acme.example\n  approval_above: \"10000.00\"\n"
                       "  smtp_connection: smtp_test\n")
    monkeypatch.setenv("O2C_DATABASE_URL", store.url)
    monkeypatch.setenv("O2C_SOURCES", str(sources))
    runner = CliRunner()
    assert runner.invoke(cli, ["dunning", "run", "--as-of", AS_OF.isoformat()]).exit_code == 0
    big = _id(store, "FA-2")
    row = {r.id: r for r in reminders(store)}[big]
    assert (row.status, row.error) == ("awaiting_approval", "25000.00 is above the approval threshold of 10000.00")

    out = runner.invoke(cli, ["dunning", "send", "--dry-run", str(tmp_path / "preview")])
    assert out.exit_code == 0, out.output
    assert "1 reminder(s) written" in out.output and "1 awaiting approval" in out.output
    files = sorted(p.name for p in (tmp_path / "preview").iterdir())
    small = _id(store, "FA-1")
    assert files == [f"{small}-Petit_Client_SARL.eml", f"{small}-Petit_Client_SARL.pdf"]
    assert "FA-1" in _pdf_text((tmp_path / "preview" / files[1]).read_bytes())
    assert b"To: Compta 0 <compta0@example.com>" in (tmp_path / "preview" / files[0]).read_bytes()
    assert {r.status for r in reminders(store)} == {"pending", "awaiting_approval"}  # the dry run changed nothing

    refused = runner.invoke(cli, ["dunning", "approve", str(small), "--by", "claire"])
    assert refused.exit_code == 2 and "does not wait for approval" in refused.output
    ok = runner.invoke(cli, ["dunning", "approve", str(big), "--by", "claire", "--reason", "client prévenu par téléphone"])
    assert ok.exit_code == 0, ok.output
    approved = [e for e in trail(store, "customer:") if e.action == "dunning.approved"]
    assert [(e.actor, e.details["reason"], e.details["reminder"]) for e in approved] == [
        ("claire", "client prévenu par téléphone", big)]

    with smtp_server() as (box, smtp):
        monkeypatch.setenv("O2C_CONN_SMTP_TEST", f"smtp://127.0.0.1:{smtp.port}?security=none")
        sent = runner.invoke(cli, ["dunning", "send"])
        assert sent.exit_code == 0, sent.output
        assert "2 sent" in sent.output
    assert sorted(r.rcpt_tos[0] for r in box.received) == ["compta0@example.com", "compta1@example.com"]


def test_the_policy_is_checked_at_load(tmp_path):
    path = tmp_path / "sources.yaml"
    for body, says in [
        ("collections:\n  levels:\n    - {level: 1, days: -5}\n", "collections.levels[0].days"),
        ("collections:\n  levels:\n    - {level: 1, days: 10}\n    - {level: 2, days: 30}\n  approval_levels: [4]\n",
         "collections.approval_levels[0]: level 4 is not one of the levels (1, 2)"),
        ("collections:\n  levels:\n    - {level: 12, days: 10}\n", "collections.levels[0].level"),
        ("collections:\n  levels:\n    - {level: 1, days: 30}\n    - {level: 2, days: 10}\n", "collections.levels[1]"),
        ("collections:\n  default_language: it\n", "collections.default_language"),
        ("collections:\n  smtp_conection: relay\n", "collections.smtp_conection: unknown key"),
    ]:
        path.write_text(body)
        with pytest.raises(ConfigError) as err:
            load_config(path)
        assert says in str(err.value), str(err.value)
