"""A dunning run over the store, as of a fixed day: who gets a reminder, at which level, for what,
and why every other overdue invoice is left out (paid yesterday, disputed, promised, possibly paid,
no contact)."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

from click.testing import CliRunner

from demo.bank import camt053
from o2c.cli import cli
from o2c.config import CollectionsConfig, DunningLevel
from o2c.jobs.bank import ingest_file
from o2c.jobs.cash import run_cash_application
from o2c.jobs.collections import reminders, run_dunning, skipped
from o2c.store import Store
from o2c.store.audit import trail, verify
from o2c.store.collections import add_promise, open_dispute
from o2c.store.models import CustomerRow
from o2c.store.parties import consolidate
from schemas import Contact, Customer, Identifier, SourceRef
from tests.schemas.test_validation import make_invoice
from transport.sftp import StagedFile

AS_OF = dt.date(2026, 12, 7)
SIRENS = ['100007913', '100015833', '100023753', '100031673', '100039593', '100047513', '100055433', '100063353']
CONFIG = CollectionsConfig(levels=(DunningLevel(level=1, days=10), DunningLevel(level=2, days=30),
                                   DunningLevel(level=3, days=60)), annual_rate=Decimal("0.1215"), indemnity=Decimal("40"))


def _customer(store: Store, i: int, name: str, *, contact: bool = True) -> None:
    cust = Customer(source=SourceRef(system="erp1", id=f"c{i}"), name=name, siren=SIRENS[i], dunning_language="fr",
                    dunning_contacts=[Contact(name="Compta", email=f"compta{i}@example.com")] if contact else [])
    with store.session() as s:
        res = store.upsert_customer(s, cust, run_id=None)
        consolidate(s, s.get(CustomerRow, res.row_id))


def _invoice(store: Store, i: int, number: str, amount: str, days_late: int) -> None:
    inv = make_invoice(number=number)
    inv.buyer.name = f"Client {i}"
    inv.buyer.legal_registration = Identifier(value=SIRENS[i], scheme="0002")
    inv.issue_date = AS_OF - dt.timedelta(days=days_late + 30)
    inv.due_date = AS_OF - dt.timedelta(days=days_late)
    inv.totals.payable = Decimal(amount)
    inv.source = SourceRef(system="erp1", id=number, updated_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    with store.session() as s:
        store.upsert_invoice(s, inv, run_id=None)


def _bank(store: Store, tmp_path, entries) -> None:
    data = camt053(entries, day=AS_OF - dt.timedelta(days=1))
    path = tmp_path / "camt.xml"
    path.write_bytes(data)
    staged = StagedFile(local_path=str(path), remote_path="/in/camt.xml", name="camt.xml", size=len(data), mtime=0,
                        sha256=hashlib.sha256(data).hexdigest())
    assert ingest_file(store, "bnp", staged, run_id=None).outcome == "ingested"


def test_the_days_reminders_and_why_the_others_wait(tmp_path, monkeypatch):
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    names = ["Payé Hier SA", "Litige SARL", "Partiel SAS", "Promesse SA", "Promesse Rompue SA", "Deux Niveaux SA",
             "Virement Inconnu SA", "Sans Contact SA"]
    for i, name in enumerate(names):
        _customer(store, i, name, contact=i != 7)
    _invoice(store, 0, "A-1", "500.00", 40)      # paid yesterday: cash applied in the hub
    _invoice(store, 1, "B-1", "800.00", 40)      # disputed
    _invoice(store, 2, "C-1", "1000.00", 40)     # partly paid: reminded for the rest
    _invoice(store, 3, "D-1", "300.00", 40)      # a promise not yet due
    _invoice(store, 4, "E-1", "250.00", 40)      # a broken promise
    _invoice(store, 5, "F-1", "120.00", 15)      # two invoices at two levels: one reminder at the higher
    _invoice(store, 5, "F-2", "230.00", 45)
    _invoice(store, 6, "G-1", "777.70", 40)      # cash of exactly its amount, unknown payer, not reviewed
    _invoice(store, 7, "H-1", "90.00", 40)       # no dunning contact
    _bank(store, tmp_path, [
        {"amount": Decimal("500.00"), "ref": "P1", "name": "PAYE HIER SA", "text": ["FACTURE A-1"]},
        {"amount": Decimal("400.00"), "ref": "P2", "name": "PARTIEL SAS", "text": ["ACOMPTE C-1"]},
        {"amount": Decimal("777.70"), "ref": "P3", "name": "SOCIETE INCONNUE", "text": ["VIREMENT"]},
    ])
    run_cash_application(store)
    open_dispute(store, "B-1", reason="quality", by="claire", on=AS_OF - dt.timedelta(days=3))
    add_promise(store, ["D-1"], amount="300.00", due_on=AS_OF + dt.timedelta(days=5), by="marc", on=AS_OF - dt.timedelta(days=2))
    add_promise(store, ["E-1"], amount="250.00", due_on=AS_OF - dt.timedelta(days=10), by="marc",
                on=AS_OF - dt.timedelta(days=20))

    summary = run_dunning(store, CONFIG, AS_OF)
    got = {r.customer_name: r for r in reminders(store, as_of=AS_OF)}
    assert sorted(got) == ["Deux Niveaux SA", "Partiel SAS", "Promesse Rompue SA", "Sans Contact SA"]
    assert summary.promises_broken == 1 and summary.cannot_send == 1
    partial = got["Partiel SAS"]
    assert (partial.level, partial.due, [ln["open"] for ln in partial.lines]) == (2, Decimal("600.00"), ["600.00"])
    # interest 600 x 12.15 % x 40 / 365 = 7.99, and the 40 EUR indemnity
    assert (partial.interest, partial.indemnity, partial.total) == (Decimal("7.99"), Decimal("40"), Decimal("647.99"))
    two = got["Deux Niveaux SA"]
    assert (two.level, [(ln["number"], ln["level"]) for ln in two.lines]) == (2, [("F-2", 2), ("F-1", 1)])
    assert (got["Sans Contact SA"].status, got["Sans Contact SA"].error) == ("cannot_send", "no dunning contact with an e-mail")
    assert got["Partiel SAS"].recipients == [{"name": "Compta", "email": "compta2@example.com"}]
    assert got["Partiel SAS"].language == "fr"
    rules = {sk.invoice_number: sk.rule for sk in skipped(store, AS_OF)}
    assert rules == {"A-1": "settled_in_hub", "B-1": "disputed", "D-1": "promised", "G-1": "possibly_paid"}

    # the same day again: nothing new; the next day: not reminded again so soon
    again = run_dunning(store, CONFIG, AS_OF)
    assert (again.reminders, again.new_reminders) == (4, 0) and len(reminders(store)) == 4
    later = run_dunning(store, CONFIG, AS_OF + dt.timedelta(days=1))
    assert later.new_reminders == 0 and later.skipped_by_rule.get("reminded_recently") == 5
    assert [e.action for e in trail(store, "customer:")].count("dunning.planned") == 4 and verify(store).ok

    monkeypatch.setenv("O2C_DATABASE_URL", store.url)
    out = CliRunner().invoke(cli, ["dunning", "list", "--as-of", AS_OF.isoformat()])
    assert out.exit_code == 0 and "left out B-1 [disputed]" in out.output and "Partiel SAS, level 2, 647.99 EUR" in out.output
