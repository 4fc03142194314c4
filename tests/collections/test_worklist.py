"""The collector's worklist as of a fixed day: who is worth working on first, why, and what to do
(send a reminder, call about a broken promise, wait for a dispute, cannot be reminded: no contact)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from click.testing import CliRunner

from o2c.cli import cli
from o2c.jobs.cash import run_cash_application
from o2c.jobs.collections import run_dunning
from o2c.jobs.risk import run_risk_scoring
from o2c.jobs.worklist import worklist
from o2c.store import Store
from o2c.store.collections import add_promise, open_dispute
from o2c.store.models import CustomerRow
from o2c.store.parties import consolidate
from schemas import Contact, Customer, SourceRef
from tests.collections.test_dunning_run import AS_OF, CONFIG, SIRENS, _bank, _invoice


def _customer(store: Store, i: int, name: str, *, contact: bool = True, language: str | None = "fr") -> None:
    cust = Customer(source=SourceRef(system="erp1", id=f"c{i}"), name=name, siren=SIRENS[i], dunning_language=language,
                    dunning_contacts=[Contact(name="Compta", email=f"compta{i}@example.com")] if contact else [])
    with store.session() as s:
        res = store.upsert_customer(s, cust, run_id=None)
        consolidate(s, s.get(CustomerRow, res.row_id))


def _scenario(tmp_path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    _customer(store, 0, "Payé Hier SA")
    _customer(store, 1, "Litige SARL")
    _customer(store, 2, "Gros Retard SA")
    _customer(store, 3, "Promesse SA")
    _customer(store, 4, "Promesse Rompue SA")
    _customer(store, 5, "Sans Contact SA", contact=False)
    _customer(store, 6, "Sans Langue SA", language=None)
    _customer(store, 7, "Petit Retard SA")
    _invoice(store, 0, "A-1", "500.00", 40)     # paid yesterday: not on the list
    _invoice(store, 1, "B-1", "800.00", 40)     # disputed
    _invoice(store, 2, "C-1", "3000.00", 75)    # big and late: level 3
    _invoice(store, 2, "C-2", "1000.00", 15)
    _invoice(store, 3, "D-1", "300.00", 40)     # promise not yet due
    _invoice(store, 4, "E-1", "250.00", 40)     # promise broken
    _invoice(store, 5, "F-1", "400.00", 40)     # no dunning contact
    _invoice(store, 6, "G-1", "400.00", 40)     # no dunning language
    _invoice(store, 7, "H-1", "100.00", 12)     # level 1
    _invoice(store, 7, "H-2", "100.00", 2)      # late, not yet at level 1
    _bank(store, tmp_path, [{"amount": Decimal("500.00"), "ref": "P1", "name": "PAYE HIER SA", "text": ["FACTURE A-1"]}])
    run_cash_application(store)
    open_dispute(store, "B-1", reason="quality", by="claire", comment="rayures", on=AS_OF - dt.timedelta(days=3))
    add_promise(store, ["D-1"], amount="300.00", due_on=AS_OF + dt.timedelta(days=5), by="marc", on=AS_OF - dt.timedelta(days=2))
    add_promise(store, ["E-1"], amount="250.00", due_on=AS_OF - dt.timedelta(days=10), by="marc",
                on=AS_OF - dt.timedelta(days=20))
    return store


def test_the_worklist_ranks_customers_and_says_what_to_do(tmp_path, monkeypatch):
    store = _scenario(tmp_path)
    run_dunning(store, CONFIG, AS_OF)  # promises checked (E-1's broken), the day's reminders planned
    run_risk_scoring(store, AS_OF)     # the flags the weights come from
    rows = worklist(store, CONFIG, AS_OF)
    by = {r.customer_name: r for r in rows}
    assert "Payé Hier SA" not in by  # paid yesterday, cash in transit: nothing overdue as the hub counts it
    assert {n: r.next_action for n, r in by.items()} == {
        "Gros Retard SA": "send level 3 reminder",
        "Litige SARL": "wait: dispute in review",
        "Sans Contact SA": "cannot be reminded: no contact",
        "Sans Langue SA": "cannot be reminded: no contact",
        "Promesse SA": f"wait: promise due {(AS_OF + dt.timedelta(days=5)).isoformat()}",
        "Promesse Rompue SA": "call: promise broken",
        "Petit Retard SA": "send level 1 reminder",
    }
    big = by["Gros Retard SA"]
    # worth: (3000 x 75 + 1000 x 15) x the weight of its worst flag (overdue beyond policy, high: 2)
    assert (big.overdue, big.days_late, big.risk_weight, big.worth) == (Decimal("4000.00"), Decimal("60.0"), Decimal("2"),
                                                                        Decimal("480000"))
    assert big.flags[0]["kind"] == "overdue_beyond_policy" and big.level == 3
    assert big.reason == ("Gros Retard SA owes 4,000.00 EUR on 2 overdue invoices, 60.0 days late on average, risk high "
                          "(overdue beyond policy); a level 3 reminder of 4,159.89 EUR is due (pending).")
    # (with interest 74.90 + 4.99 and two 40 EUR indemnities)
    # the broken promise: high flag, weight 2: 250 x 40 x 2
    broken = by["Promesse Rompue SA"]
    assert (broken.worth, broken.action, broken.risk_weight) == (Decimal("20000"), "call", Decimal("2"))
    assert "250.00 EUR promised by" in broken.reason and broken.promises[0]["status"] == "broken"
    assert [c["kind"] for c in broken.last_contacts] == ["reminder", "promise"]
    # the disputed customer: its dispute and its contact shown
    lit = by["Litige SARL"]
    assert lit.disputes[0]["invoice"] == "B-1" and lit.disputes[0]["comment"] == "rayures"
    assert lit.last_contacts[0]["what"].startswith("dispute 1 on B-1: quality (open, from cli)")
    assert "B-1 is disputed" in lit.reason
    assert by["Sans Langue SA"].reason.endswith("; the customer master has no dunning language.")
    assert by["Sans Contact SA"].reason.endswith("; the customer master has no dunning contact with an e-mail.")
    assert by["Sans Contact SA"].action == "cannot_remind" and by["Sans Contact SA"].contacts == []
    small = by["Petit Retard SA"]
    assert [(i["number"], i["rule"]) for i in small.invoices] == [("H-1", "due"), ("H-2", "not_due")]
    # ranked by worth, most first
    assert [r.worth for r in rows] == sorted((r.worth for r in rows), reverse=True)
    assert rows[0].customer_name == "Gros Retard SA" and rows[-1].customer_name == "Petit Retard SA"

    # the same from the command line, as JSON
    monkeypatch.setenv("O2C_DATABASE_URL", store.url)
    monkeypatch.setenv("O2C_SOURCES", str(tmp_path / "none.yaml"))
    out = CliRunner().invoke(cli, ["collections", "worklist", "--as-of", AS_OF.isoformat(), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["as_of"] == AS_OF.isoformat()
    assert [c["customer_name"] for c in data["customers"]] == [r.customer_name for r in rows]
    first = data["customers"][0]
    assert (first["next_action"], first["overdue"], first["worth"]) == ("send level 3 reminder", "4000.00", "480000")
    text = CliRunner().invoke(cli, ["collections", "worklist", "--as-of", AS_OF.isoformat()])
    assert text.exit_code == 0 and "1. Gros Retard SA (EUR): send level 3 reminder" in text.output


def test_a_customer_reminded_recently_waits(tmp_path):
    store = _scenario(tmp_path)
    run_dunning(store, CONFIG, AS_OF)
    later = AS_OF + dt.timedelta(days=2)
    by = {r.customer_name: r for r in worklist(store, CONFIG, later)}
    assert by["Gros Retard SA"].next_action == f"wait: reminded at level 3 on {AS_OF.isoformat()}"
    assert by["Gros Retard SA"].action == "wait"
    # no risk run yet at that day: the weights of the latest run before it (none here): 1
    assert by["Gros Retard SA"].risk_weight == Decimal(1)
