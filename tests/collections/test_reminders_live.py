"""The collections scenario on the live Tryton and a real SMTP server on loopback, as of a fixed day.

The demo ERP's customers, invoices and dunning procedure (levels at 10, 30 and 60 days in Tryton;
the hub's policy here at 10, 60 and 280 days, so that levels differ between customers), then:

- Clinique Vétérinaire paid its invoices yesterday (cash applied in the hub, write-back pending):
  no reminder;
- one invoice of Transports Lefèvre is disputed: left out with its reason, the others reminded;
- Boulangeries Martin paid part of its oldest invoice: reminded for the rest, in one reminder at
  the highest level of its invoices (which are at three levels);
- Hôtel Le Grand Bleu promised to pay in five days: held; Menuiserie Dubois broke its promise:
  the risk flag is raised and the reminder goes out;
- cash not reviewed yet holds reminders: Librairie Rousseau's whole reminder (cash from it the
  engine could not apply), Garage Moreau's invoice (cash of exactly its amount from an unknown
  payer). Cash of an invoice's exact amount from its own customer is applied by the engine by
  itself (then the invoice is paid in the hub, as Clinique's);
- Müller Maschinenbau is reminded in German.

The e-mails are read back from the SMTP server (recipients, language, the PDF's text naming the
invoices and amounts) and the dunning levels read back from Tryton.

Dunnings change the ERP, so this test serves its own copy of the seeded database.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal

import pytest
from pypdf import PdfReader

from connectors.tryton import TrytonConnector
from demo.bank import camt053
from demo.tryton.server import TrytonServer, prepare_database
from o2c.config import CollectionsConfig, DunningLevel, EInvoicingConfig, SourceConfig
from o2c.jobs.bank import ingest_file
from o2c.jobs.cash import run_cash_application
from o2c.jobs.collections import reminders, run_dunning, skipped
from o2c.jobs.reminders import send_reminders
from o2c.jobs.risk import open_flags, run_risk_scoring
from o2c.jobs.sync import sync_source
from o2c.render.reminder import money
from o2c.store import Store
from o2c.store.audit import trail, verify
from o2c.store.collections import add_promise, open_dispute
from tests.cash.test_cash_application_live import stage
from tests.collections.smtp_server import smtp_server
from tests.connectors.test_tryton_live import FAR_FUTURE, conn_info
from tests.fixtures_tryton import TRYTON_INVOICES, TRYTON_SEED, tryton_cache_dir

pytestmark = [pytest.mark.tryton, pytest.mark.slow]
AS_OF = dt.date(2026, 12, 7)
SOURCE = SourceConfig(name="tryton_demo", kind="tryton", connection="x")
POLICY = CollectionsConfig(levels=(DunningLevel(level=1, days=10), DunningLevel(level=2, days=60),
                                   DunningLevel(level=3, days=280)), annual_rate=Decimal("0.1215"), indemnity=Decimal("40"),
                           sender_name="Acme Industrie — Recouvrement", sender_email="recouvrement@acme-industrie.example")


@pytest.fixture()
def dunning_tryton(tryton_server: TrytonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    """A private copy of the session's seeded Tryton (dunnings are written to it)."""
    db = prepare_database(tmp_path_factory.mktemp("tryton-dunning"), invoices=TRYTON_INVOICES, seed=TRYTON_SEED,
                          cache_dir=tryton_cache_dir())
    server = TrytonServer(db).start()
    try:
        yield server
    finally:
        server.stop()


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_collections_scenario(dunning_tryton, tmp_path):
    conn = conn_info(dunning_tryton)
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    sync_source(store, SOURCE, conn, until=FAR_FUTURE)
    inv = {r.number: r for r in store.invoices()}
    clinique = [n for n, r in inv.items() if r.buyer_name.startswith("Clinique")]
    yesterday = AS_OF - dt.timedelta(days=1)
    entries = [{"amount": inv[n].payable, "ref": f"CL{i}", "name": "CLINIQUE VETERINAIRE DU PARC", "text": [f"FACTURE {n}"]}
               for i, n in enumerate(sorted(clinique))]
    entries += [
        {"amount": Decimal("1838.40"), "ref": "BM1", "name": "BOULANGERIES MARTIN", "text": ["ACOMPTE FA2026-00003"]},
        # the engine applies cash of an invoice's exact amount from its customer by itself; what it
        # cannot apply waits for a person: cash from Librairie Rousseau matching nothing...
        {"amount": Decimal("1000.00"), "ref": "LR1", "name": "LIBRAIRIE ROUSSEAU", "text": ["VIREMENT"]},
        # ... and cash of exactly Garage Moreau's invoice from a payer nobody knows
        {"amount": inv["FA2026-00022"].payable, "ref": "XX1", "name": "M. PIERRE DURAND", "text": ["VIREMENT"]},
    ]
    assert ingest_file(store, "bnp", stage(tmp_path / "camt053_20261206.xml", camt053(entries, day=yesterday)),
                       run_id=None).outcome == "ingested"
    run_cash_application(store, einvoicing=EInvoicingConfig(channel={"kind": "folder", "path": str(tmp_path / "platform")}))
    open_dispute(store, "FA2026-00015", reason="quality", by="claire", comment="pièces rayées à la livraison",
                 on=AS_OF - dt.timedelta(days=5))
    hotel = sorted(n for n, r in inv.items() if r.buyer_name.startswith("Hôtel") and r.type_code == "380")
    add_promise(store, hotel, amount="17162.70", due_on=AS_OF + dt.timedelta(days=5), by="marc",
                on=AS_OF - dt.timedelta(days=2))
    add_promise(store, ["FA2026-00006", "FA2026-00013"], amount="6875.58", due_on=AS_OF - dt.timedelta(days=10), by="marc",
                on=AS_OF - dt.timedelta(days=20))

    planned = run_dunning(store, POLICY, AS_OF)
    assert planned.promises_broken == 1
    got = {r.customer_name: r for r in reminders(store, as_of=AS_OF)}
    assert sorted(got) == ["Boulangeries Martin SARL", "Menuiserie Dubois et Cie", "Müller Maschinenbau GmbH",
                           "Transports Lefèvre et Fils SAS"]
    rules = {sk.invoice_number: (sk.rule, sk.reason) for sk in skipped(store, AS_OF)}
    assert {n for n, (rule, _) in rules.items() if rule == "settled_in_hub"} >= {"FA2026-00008", "FA2026-00018",
                                                                                  "FA2026-00036", "FA2026-00037"}
    assert rules["FA2026-00015"][0] == "disputed" and "quality" in rules["FA2026-00015"][1]
    assert {n for n, (rule, _) in rules.items() if rule == "promised"} == set(hotel)
    librairie = sorted(n for n, r in inv.items() if r.buyer_name == "Librairie Rousseau" and r.type_code == "380")
    assert all(rules[n][0] == "possibly_paid" and "from this customer" in rules[n][1] and "LR1" in rules[n][1]
               for n in librairie)
    assert rules["FA2026-00022"][0] == "possibly_paid" and "of exactly its open amount" in rules["FA2026-00022"][1]

    boul = got["Boulangeries Martin SARL"]
    lines = {ln["number"]: ln for ln in boul.lines}
    assert boul.level == 3 and {ln["level"] for ln in boul.lines} == {1, 2, 3}
    assert lines["FA2026-00003"]["open"] == "3000.00" and lines["FA2026-00003"]["level"] == 3
    assert "FA2026-00040" not in lines and rules["FA2026-00040"][0] == "not_due"
    lef = got["Transports Lefèvre et Fils SAS"]
    assert lef.level == 2 and "FA2026-00015" not in {ln["number"] for ln in lef.lines}
    assert [c["number"] for c in lef.credit_notes] == ["AV2026-00002"]
    assert "Menuiserie Dubois et Cie" in got and got["Müller Maschinenbau GmbH"].language == "de"

    run_risk_scoring(store, AS_OF, kpi_days=1)
    broken = [f for f in open_flags(store, AS_OF) if f["kind"] == "promise_broken"]
    assert [f["customer"] for f in broken] == ["Menuiserie Dubois et Cie"]

    connector = TrytonConnector(conn)
    try:
        with smtp_server() as (box, smtp):
            summary = send_reminders(store, POLICY, smtp=smtp, erp=lambda source: connector if source == "tryton_demo" else None)
        assert (summary.sent, summary.failed, summary.erp_failed) == (4, 0, 0)
        mails = {r.rcpt_tos[0]: r.message for r in box.received}
        assert set(mails) == {"factures@boulangeries-martin.example", "relances@lefevre-transports.example",
                              "contact@menuiserie-dubois.example", "buchhaltung@mueller-maschinenbau.example"}
        assert {a: m["Content-Language"] for a, m in mails.items()}["buchhaltung@mueller-maschinenbau.example"] == "de"
        assert {m["Content-Language"] for a, m in mails.items() if "mueller" not in a} == {"fr"}
        assert mails["relances@lefevre-transports.example"]["To"] == \
            "Service comptabilité clients <relances@lefevre-transports.example>"  # the contact for invoices, not the general one

        letter = _pdf_text(next(p.get_content() for p in mails["factures@boulangeries-martin.example"].iter_attachments()))
        for number in lines:
            assert number in letter, number
        assert money(Decimal("3000.00"), "EUR", "fr") in letter and money(boul.total, "EUR", "fr") in letter
        assert "DERNIÈRE RELANCE" in letter and "Acme Industrie SAS" in letter
        german = _pdf_text(next(p.get_content() for p in mails["buchhaltung@mueller-maschinenbau.example"].iter_attachments()))
        muller = got["Müller Maschinenbau GmbH"]
        assert "LETZTE MAHNUNG" in german and money(muller.total, "EUR", "de") in german
        assert all(ln["number"] in german for ln in muller.lines)
        lef_text = _pdf_text(next(p.get_content() for p in mails["relances@lefevre-transports.example"].iter_attachments()))
        assert "FA2026-00015" not in lef_text and "AV2026-00002" in lef_text

        # the dunning levels in Tryton: each reminded invoice at its own level, nothing else
        def levels(number: str) -> list[int]:
            return [d["level"] for d in connector.dunning_levels(inv[number].source_id)]

        assert levels("FA2026-00003") == [3] and levels("FA2026-00038") == [1] and levels("FA2026-00028") == [2]
        assert levels("FA2026-00016") == [2] and levels("FA2026-00031") == [1]
        assert levels("FA2026-00015") == [] and levels("FA2026-00008") == [] and levels("FA2026-00026") == []
        assert levels("FA2026-00022") == [] and levels("FA2026-00004") == []
        assert all(d["state"] == "waiting" for d in connector.dunning_levels(inv["FA2026-00003"].source_id))
        assert summary.erp_written == sum(len(r.lines) for r in got.values())
        # again: nothing sent, nothing written twice
        with smtp_server() as (box2, smtp2):
            again = send_reminders(store, POLICY, smtp=smtp2, erp=lambda source: connector)
        assert (again.sent, again.erp_written, len(box2.received)) == (0, 0, 0)
        assert connector.push_dunning_level(inv["FA2026-00003"].source_id, 3)["unchanged"] == 1
    finally:
        connector.close()
    actions = [e.action for e in trail(store, "customer:")]
    assert actions.count("dunning.sent") == 4 and verify(store).ok
    assert len([e for e in trail(store, "invoice:tryton_demo:") if e.action == "dunning.erp_level"]) == summary.erp_written
