"""Disputes from everywhere: a lifecycle status 207 En litige / 210 Refusée received for an invoice
the hub issued, a short payment a reviewer disputes; and what an open dispute asks of the ERP
(dunning block and note), computed for the write-back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from edi import cdar
from o2c.cli import cli
from o2c.jobs.cash import run_cash_application
from o2c.jobs.cash_review import decide
from o2c.jobs.collections import dispute_writeback_commands, run_dunning, skipped
from o2c.jobs.einvoice import ingest_statuses
from o2c.store import Store
from o2c.store.audit import trail, verify
from o2c.store.cash import CashAllocation, CashReviewDecision
from o2c.store.collections import disputes, resolve_dispute
from schemas.errors import ConfigError
from tests.collections.test_dunning_run import AS_OF, CONFIG, _bank, _customer, _invoice


def _store(tmp_path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    return store


def _status(number: str, code: str, day: dt.date, reason_code: str | None = None, reason: str | None = None) -> bytes:
    return cdar.render(cdar.LifecycleStatus(invoice_number=number, invoice_issue_date=AS_OF - dt.timedelta(days=70),
                                            seller_siren="732829320", status_code=code, status_date=day,
                                            issuer_id="100015833", issuer_role="BY", reason_code=reason_code, reason=reason))


def test_a_received_207_or_210_opens_one_dispute_and_dunning_skips_the_invoice(tmp_path):
    store = _store(tmp_path)
    for i, name in enumerate(["Litige SARL", "Refus SA", "Approuve SA"], start=1):
        _customer(store, i, name)
    _invoice(store, 1, "B-1", "800.00", 40)
    _invoice(store, 2, "C-1", "300.00", 40)
    _invoice(store, 3, "D-1", "200.00", 40)
    inbox = tmp_path / "statuses"
    inbox.mkdir()
    day = AS_OF - dt.timedelta(days=5)
    (inbox / "s1.xml").write_bytes(_status("B-1", "207", day, "QTE_ERR", "3 palettes manquantes sur 10"))
    (inbox / "s2.xml").write_bytes(_status("C-1", "210", day, "DOUBLON", "déjà facturée sous FA-0999"))
    (inbox / "s3.xml").write_bytes(_status("D-1", "205", day))  # Approuvée: no dispute
    (inbox / "s4.xml").write_bytes(_status("Z-404", "207", day, "AUTRE", "inconnue"))  # not an invoice of the hub

    first = ingest_statuses(store, inbox)
    assert (first.recorded, first.unknown_invoice, first.disputes) == (4, 1, 2)
    got = {d.invoice_number: d for d in disputes(store)}
    assert sorted(got) == ["B-1", "C-1"]
    b, c = got["B-1"], got["C-1"]
    assert (b.origin, b.reason_code, b.adjustment_code, b.opened_by, b.opened_on, b.amount) == (
        "lifecycle_207", "quantity", "6", "platform", day, None)
    assert b.comments[0]["text"] == "207 En litige [QTE_ERR] 3 palettes manquantes sur 10 (lifecycle status s1.xml)"
    assert (c.origin, c.reason_code) == ("lifecycle_210", "duplicate") and "déjà facturée sous FA-0999" in c.comments[0]["text"]

    # the same statuses again: duplicates, no second dispute
    again = ingest_statuses(store, inbox)
    assert (again.recorded, again.duplicates, again.disputes) == (0, 4, 0) and len(disputes(store)) == 2
    # a later 207 on the disputed invoice: recorded, its text added to the open dispute
    (inbox / "s5.xml").write_bytes(_status("B-1", "207", day + dt.timedelta(days=2), "QTE_ERR", "relance: toujours 3 manquantes"))
    later = ingest_statuses(store, inbox)
    assert (later.recorded, later.disputes) == (1, 0)
    [b] = [d for d in disputes(store) if d.invoice_number == "B-1"]
    assert [cm["text"][:28] for cm in b.comments] == ["207 En litige [QTE_ERR] 3 pa", "207 En litige [QTE_ERR] rela"]
    assert [e.action for e in trail(store, "invoice:erp1:B-1")] == ["dispute.opened"] and verify(store).ok

    run_dunning(store, CONFIG, AS_OF)
    rules = {sk.invoice_number: (sk.rule, sk.reason) for sk in skipped(store, AS_OF)}
    assert rules["B-1"][0] == rules["C-1"][0] == "disputed" and "quantity" in rules["B-1"][1]
    assert "D-1" not in rules  # reminded

    # once resolved, a status already recorded opens nothing again
    resolve_dispute(store, b.id, outcome="credit_note", by="claire")
    assert ingest_statuses(store, inbox).disputes == 0 and [d.invoice_number for d in disputes(store)] == ["C-1"]


def _short_payment_store(tmp_path) -> Store:
    store = _store(tmp_path)
    _customer(store, 2, "Partiel SAS")
    _customer(store, 3, "Exact SA")
    _invoice(store, 2, "C-1", "1000.00", 40)
    _invoice(store, 3, "D-1", "300.00", 40)
    _bank(store, tmp_path, [
        {"amount": Decimal("950.00"), "ref": "S1", "name": "SOCIETE INCONNUE", "text": ["VIREMENT"]},
        {"amount": Decimal("300.00"), "ref": "S2", "name": "AUTRE INCONNU", "text": ["VIREMENT"]},
    ])
    run_cash_application(store)
    return store


def _decisions(store: Store) -> list[tuple[str, str]]:
    with store.session() as s:
        return [(d.bank_ref, d.action) for d in s.scalars(select(CashReviewDecision).order_by(CashReviewDecision.id))]


def test_a_short_payment_the_reviewer_disputes_becomes_a_dispute_for_the_rest(tmp_path, monkeypatch):
    store = _short_payment_store(tmp_path)
    res = decide(store, "S1", "reallocate", reviewer="claire", invoices=["C-1"], note="remise promo déduite",
                 dispute="deduction")
    assert res.allocations == [("C-1", Decimal("950.00"), "accepted")]
    [(number, rest, dispute_id)] = res.disputes
    assert (number, rest) == ("C-1", Decimal("50.00"))
    [d] = disputes(store)
    assert (d.id, d.invoice_number, d.amount, d.reason_code, d.adjustment_code, d.origin, d.opened_by) == (
        dispute_id, "C-1", Decimal("50.00"), "deduction", "28", "short_payment", "claire")
    assert d.comments[0]["text"].startswith("short payment: 950.00 EUR paid by bank line E1 (S1), 50.00 EUR left unpaid")
    assert "remise promo déduite" in d.comments[0]["text"]
    review = [e for e in trail(store, "bank_entry:E1") if e.action == "review.reallocate"]
    assert review[0].details["disputes"] == [["C-1", "50.00", dispute_id]] and verify(store).ok
    # the rest is not reminded while the dispute is open
    run_dunning(store, CONFIG, AS_OF)
    # (D-1 waits for the review of S2, of exactly its amount)
    assert {sk.invoice_number: sk.rule for sk in skipped(store, AS_OF)} == {"C-1": "disputed", "D-1": "possibly_paid"}

    # a line that pays its invoice in full leaves nothing to dispute: refused, nothing recorded
    with pytest.raises(ConfigError, match="leaves no invoice partly unpaid"):
        decide(store, "S2", "reallocate", reviewer="claire", invoices=["D-1"], dispute="deduction")
    with store.session() as s:
        assert s.scalars(select(CashAllocation.status).where(CashAllocation.bank_ref == "S2")).all() == []
    assert _decisions(store) == [("S1", "reallocate")]
    with pytest.raises(ConfigError, match="a rejected line pays nothing short"):
        decide(store, "S2", "reject", reviewer="claire", dispute="deduction")
    with pytest.raises(ConfigError, match="unknown dispute reason 'rabais'"):
        decide(store, "S2", "reallocate", reviewer="claire", invoices=["D-1"], dispute="rabais")
    assert _decisions(store) == [("S1", "reallocate")] and len(disputes(store)) == 1


def test_the_cli_records_a_short_payment_dispute(tmp_path, monkeypatch):
    store = _short_payment_store(tmp_path)
    monkeypatch.setenv("O2C_DATABASE_URL", store.url)
    out = CliRunner().invoke(cli, ["cash-review", "S1", "--reallocate", "C-1", "--reviewer", "marc", "--dispute", "price"])
    assert out.exit_code == 0, out.output
    assert "dispute 1 on C-1: 50.00 unpaid" in out.output
    [d] = disputes(store)
    assert (d.reason_code, d.origin, d.amount) == ("price", "short_payment", Decimal("50.00"))


def test_what_a_dispute_asks_of_the_erp(tmp_path):
    store = _short_payment_store(tmp_path)
    from o2c.store.collections import open_dispute

    one = open_dispute(store, "C-1", reason="quality", by="claire", amount="120.00", comment="rayures", on=AS_OF)
    two = open_dispute(store, "D-1", reason="delivery", by="marc", on=AS_OF)
    resolve_dispute(store, two.id, outcome="rejected", by="marc", on=AS_OF + dt.timedelta(days=1))
    cmds = dispute_writeback_commands(store)
    assert [(c.invoice_number, c.kind, c.blocked, c.identity, c.actor) for c in cmds] == [
        ("C-1", "dunning_block", True, f"D{one.id}:open", "claire"),
        ("C-1", "note", None, f"D{one.id}:open", "claire"),
        ("D-1", "dunning_block", True, f"D{two.id}:open", "marc"),
        ("D-1", "note", None, f"D{two.id}:open", "marc"),
        ("D-1", "dunning_block", False, f"D{two.id}:resolved", "marc"),
        ("D-1", "note", None, f"D{two.id}:resolved", "marc"),
    ]
    assert {(c.source, c.target_id) for c in cmds} == {("erp1", "C-1"), ("erp1", "D-1")}
    assert cmds[1].message == (f"Dispute {one.id} opened on {AS_OF.isoformat()} by claire (cli): quality, goods or service "
                               "not as agreed (quality); 120.00 EUR in dispute. rayures. Dunning blocked by the hub.")
    assert cmds[5].message.startswith(f"Dispute {two.id} resolved on {(AS_OF + dt.timedelta(days=1)).isoformat()} by marc: "
                                      "rejected")
    # the same disputes give the same commands (the outbox's keys make a second enqueue a no-op)
    open_dispute(store, "C-1", reason="quality", by="claire", comment="photos reçues")
    assert dispute_writeback_commands(store) == cmds
