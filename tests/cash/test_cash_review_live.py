"""Reviewer decisions over the store (Tryton invoices, statements ingested exactly once): a line the
engine could not place is re-allocated by a person; the payer's IBAN is learned and the next
payment from it is placed by the engine; suggestions accepted and rejected; errors say what to do."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from demo.bank import camt053
from o2c.config import EInvoicingConfig, SourceConfig
from o2c.jobs.bank import ingest_file
from o2c.jobs.cash import run_cash_application
from o2c.jobs.cash_review import decide, learned_from_store
from o2c.jobs.sync import sync_source
from o2c.store import Store
from o2c.store.cash import CashAllocation, CashReviewDecision, CashUnapplied, ledger_frames
from o2c.store.einvoice import LifecycleEvent
from schemas.errors import ConfigError
from tests.cash.test_cash_application_live import stage
from tests.connectors.test_tryton_live import FAR_FUTURE, conn_info

pytestmark = [pytest.mark.tryton, pytest.mark.slow]

NEW_IBAN = "DE89370400440532013000"  # a payer account nobody told the hub about


def _allocs(store: Store, ref: str) -> list[tuple[str, Decimal, str]]:
    with store.session() as s:
        return [(a.invoice_number, a.amount, a.status) for a in
                s.scalars(select(CashAllocation).where(CashAllocation.bank_ref == ref).order_by(CashAllocation.id))]


@pytest.fixture()
def synced(tryton_server, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    sync_source(store, SourceConfig(name="tryton_demo", kind="tryton", connection="x"), conn_info(tryton_server), until=FAR_FUTURE)
    by_buyer: dict[str, list] = defaultdict(list)
    for r in store.invoices():
        if r.type_code == "380":
            by_buyer[r.buyer_key or r.buyer_name].append(r)
    # one customer with four invoices of distinct amounts (the demo ERP has several)
    invoices = next(sorted(v, key=lambda r: r.number) for v in by_buyer.values()
                    if len({r.payable for r in v}) >= 4)
    return store, invoices


def test_reallocation_is_stored_and_teaches_the_payer_iban(synced, tmp_path):
    store, (a, b, c, d, *_) = synced
    cfg = EInvoicingConfig(channel={"kind": "folder", "path": str(tmp_path / "platform")})
    day1 = camt053([{"amount": a.payable, "ref": "N1", "name": "SOC NOUVELLE HOLDING", "iban": NEW_IBAN,
                     "text": ["VIREMENT"]}], day=dt.date(2026, 11, 20), stmt_id="S-20", seq=1)
    assert ingest_file(store, "bnp", stage(tmp_path / "d1.xml", day1), run_id=None).outcome == "ingested"
    run_cash_application(store, einvoicing=cfg)
    assert _allocs(store, "N1") == []  # neither the payer nor a reference: left unapplied

    res = decide(store, "N1", "reallocate", reviewer="claire", invoices=[a.number], note="called the customer",
                 einvoicing=cfg)
    assert res.allocations == [(a.number, a.payable, "accepted")] and res.unapplied == 0
    assert _allocs(store, "N1") == [(a.number, a.payable, "accepted")]
    assert res.encaissee_sent == 1
    with store.session() as s:
        dec = s.scalars(select(CashReviewDecision)).one()
        assert (dec.action, dec.reviewer, dec.payer_iban, dec.invoice_numbers) == ("reallocate", "claire", NEW_IBAN, a.number)
        assert dec.note == "called the customer"
        # the cash the engine had left unapplied on the line is resolved by the decision
        left = s.scalars(select(CashUnapplied).where(CashUnapplied.bank_ref == "N1")).all()
        assert left and all(u.resolved_at is not None for u in left)
        assert s.scalars(select(LifecycleEvent).where(LifecycleEvent.code == "212",
                                                      LifecycleEvent.invoice_number == a.number)).first() is not None
    # the finance review page lists the decision with the hub's line id
    from o2c.review import overview
    from o2c_airflow.review import render_overview

    html = render_overview(overview(store), "claire")
    assert f"E{res.bank_entry_id} · N1" in html and "called the customer" in html and ">reallocate<" in html
    # the accepted allocation counts as applied cash: the invoice is no longer open
    _, open_items = ledger_frames(store)
    assert a.number not in set(open_items["invoice_number"])
    learned = learned_from_store(store)
    assert learned.ibans == {NEW_IBAN: dec.customer_key}

    # the next payment from that account, again without any reference, is placed by the engine
    day2 = camt053([{"amount": b.payable, "ref": "N2", "name": "SOC NOUVELLE HOLDING", "iban": NEW_IBAN,
                     "text": ["VIREMENT"]}], day=dt.date(2026, 11, 21), stmt_id="S-21", seq=2)
    assert ingest_file(store, "bnp", stage(tmp_path / "d2.xml", day2), run_id=None).outcome == "ingested"
    run_cash_application(store, einvoicing=cfg)
    placed = _allocs(store, "N2")
    assert placed == [(b.number, b.payable, "auto")], placed
    with store.session() as s:
        row = s.scalars(select(CashAllocation).where(CashAllocation.bank_ref == "N2")).one()
        assert row.rule == "amount" and "only open invoice" in row.explanation


def test_suggestions_accepted_and_rejected(synced, tmp_path):
    store, (a, b, c, d, *_) = synced
    # two invoices quoted, less money than both and no discount or charges to explain it: a suggestion
    short_cd = (c.payable + d.payable) * Decimal("0.6")
    short_ab = (a.payable + b.payable) * Decimal("0.6")
    day = camt053([
        {"amount": short_cd.quantize(Decimal("0.01")), "ref": "S1", "name": c.buyer_name, "text": [f"{c.number} {d.number}"]},
        {"amount": short_ab.quantize(Decimal("0.01")), "ref": "S2", "name": a.buyer_name, "text": [f"{a.number} {b.number}"]},
        {"amount": Decimal("-40.00"), "ref": "D1", "name": "URSSAF", "text": ["COTISATIONS"]},
    ], stmt_id="S-22", seq=3)
    assert ingest_file(store, "bnp", stage(tmp_path / "d.xml", day), run_id=None).outcome == "ingested"
    run_cash_application(store)
    assert {st for _, _, st in _allocs(store, "S1")} == {"suggested"}
    assert {st for _, _, st in _allocs(store, "S2")} == {"suggested"}

    acc = decide(store, "S1", "accept", reviewer="marc")
    assert {st for _, _, st in acc.allocations} == {"accepted"}
    assert {st for _, _, st in _allocs(store, "S1")} == {"accepted"}
    rej = decide(store, "S2", "reject", reviewer="marc", note="customer disputes both")
    assert {st for _, _, st in _allocs(store, "S2")} == {"rejected"}
    assert rej.unapplied == sum((amt for _, amt, _ in rej.allocations), Decimal(0))
    with store.session() as s:
        un = s.scalars(select(CashUnapplied).where(CashUnapplied.bank_ref == "S2",
                                                   CashUnapplied.reason == "rejected by reviewer")).one()
        assert un.amount == rej.unapplied
    # the rejected invoices are still open; the accepted ones are open only for what was not paid
    _, open_items = ledger_frames(store)
    still = dict(zip(open_items["invoice_number"], open_items["amount_open"], strict=True))
    assert Decimal(still[a.number]) == a.payable and Decimal(still[b.number]) == b.payable
    paid_cd = sum((amt for _, amt, _ in acc.allocations), Decimal(0))
    assert Decimal(still.get(c.number, "0")) + Decimal(still.get(d.number, "0")) == c.payable + d.payable - paid_cd

    # a name refused for a customer is remembered as refused
    assert any(cust == rej.customer_key for cust, _ in learned_from_store(store).rejected)

    # what a person gets when a decision cannot be applied
    with pytest.raises(ConfigError, match="no suggested allocation to accept"):
        decide(store, "S1", "accept", reviewer="marc")
    with pytest.raises(ConfigError, match="not found"):
        decide(store, "NOPE", "reject", reviewer="marc")
    with pytest.raises(ConfigError, match="needs the invoice numbers"):
        decide(store, "S2", "reallocate", reviewer="marc")
    with pytest.raises(ConfigError, match="already settled|not found"):
        decide(store, "S2", "reallocate", reviewer="marc", invoices=["NO-SUCH-INVOICE"])
    with pytest.raises(ConfigError, match="a debit of -40.00 EUR"):
        decide(store, "D1", "reallocate", reviewer="marc", invoices=[a.number])

    # the two decisions taken (and none of the refused ones) are in the audit trail, by marc
    from o2c.store.audit import trail, verify

    entries = trail(store, "bank_entry:")
    assert [(e.actor, e.action) for e in entries] == [("marc", "review.accept"), ("marc", "review.reject")]
    assert entries[1].details["note"] == "customer disputes both" and verify(store).ok


def test_cli_review(synced, tmp_path, monkeypatch):
    from o2c.cli import cli

    store, (a, *_) = synced
    day = camt053([{"amount": a.payable, "ref": "C1", "name": "INCONNU", "text": ["VIREMENT"]}], stmt_id="S-23", seq=4)
    assert ingest_file(store, "bnp", stage(tmp_path / "c.xml", day), run_id=None).outcome == "ingested"
    run_cash_application(store)
    monkeypatch.setenv("O2C_DATABASE_URL", store.url)
    out = CliRunner().invoke(cli, ["cash-review", "C1", "--reallocate", a.number, "--reviewer", "ines"])
    assert out.exit_code == 0, out.output
    assert f"{a.number}  {a.payable}  accepted" in out.output
    bad = CliRunner().invoke(cli, ["cash-review", "C1", "--accept", "--reviewer", "ines"])
    assert bad.exit_code != 0 and "no suggested allocation" in bad.output
