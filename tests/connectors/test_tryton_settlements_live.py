"""The ERP's settlement state, pulled from the live Tryton into the hub store.

In Tryton (over JSON-RPC, as a person would with the client): one invoice paid in full and one in
part with the pay wizard, a credit note reconciled by hand against its invoice, a small difference
written off with the reconcile wizard, a cheque entered as a manual move and reconciled by hand,
a posted invoice cancelled. After the next sync the hub's open amounts equal Tryton's amount to pay
to the cent, the states are right, and only the documents that changed were read again.

Changing the ERP needs a private copy of the seeded database (a file copy of the session's cache),
served for this module only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from connectors.tryton import TrytonClient, TrytonConnector
from demo.tryton.server import TrytonServer, prepare_database
from o2c.config import SourceConfig
from o2c.jobs.sync import sync_source, sync_stream
from o2c.store import Store
from o2c.store.receivables import findings, history, settlement_of, settlements_of
from tests.cash.test_writeback_live import add_payment_method
from tests.connectors.test_tryton_live import FAR_FUTURE, conn_info
from tests.fixtures_tryton import TRYTON_INVOICES, TRYTON_SEED, tryton_cache_dir

pytestmark = [pytest.mark.tryton, pytest.mark.slow]
SOURCE = SourceConfig(name="tryton_settle", kind="tryton", connection="x", streams=["customers", "invoices", "settlements"])
HUB_KEY = "5e" * 16
DOC_FIELDS = ["number", "state", "total_amount", "amount_to_pay", "lines_to_pay", "payment_lines", "account", "party", "lines"]


@pytest.fixture(scope="module")
def erp(tryton_server: TrytonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    """A private copy of the session's seeded Tryton for this module (free to change)."""
    db = prepare_database(tmp_path_factory.mktemp("tryton-settle"), invoices=TRYTON_INVOICES, seed=TRYTON_SEED,
                          cache_dir=tryton_cache_dir())
    server = TrytonServer(db).start()
    try:
        yield server
    finally:
        server.stop()


class Erp:
    """What a person does in Tryton, over RPC."""

    def __init__(self, server: TrytonServer) -> None:
        self.c = TrytonClient(conn_info(server))
        self.method = add_payment_method(self.c)
        c = self.c
        journal = c.search_read("account.journal", [("type", "=", "write-off")], fields=["id"])[0]["id"]
        accounts = {a["code"]: a["id"] for a in c.search_read("account.account", [("code", "in", ["658", "758", "5121"])],
                                                               fields=["code"])}
        (self.writeoff,) = c.call("account.move.reconcile.write_off", "create", [{
            "name": "Ecarts de règlement", "company": c.context["company"], "journal": journal,
            "credit_account": accounts["758"], "debit_account": accounts["658"]}])
        self.bank = accounts["5121"]
        self.cash_journal = c.search_read("account.journal", [("type", "=", "cash")], fields=["id"])[0]["id"]
        c.call("company.company", "write", [c.context["company"]], {"cancel_invoice_out": True})

    def doc(self, invoice_id: int) -> dict[str, Any]:
        return self.c.read("account.invoice", [invoice_id], DOC_FIELDS)[invoice_id]

    def posted(self) -> list[dict[str, Any]]:
        return self.c.search_read("account.invoice", [("type", "=", "out"), ("state", "=", "posted")], order=[["id", "ASC"]],
                                  fields=DOC_FIELDS)

    def pay(self, invoice_id: int, amount: Decimal, description: str) -> None:
        wizard, c = "account.invoice.pay", self.c
        ctx = {**c.context, "active_model": "account.invoice", "active_id": invoice_id, "active_ids": [invoice_id]}
        sid, state, _ = c.wizard(wizard, "create")
        defaults = c.wizard(wizard, "execute", sid, {}, state, context=ctx)["view"]["defaults"]
        start = {"payee": defaults["payee"], "payees": defaults.get("payees", []), "company": defaults["company"],
                 "currency": defaults["currency"], "invoice_account": defaults["invoice_account"], "amount": amount,
                 "description": description, "payment_method": self.method, "date": dt.date(2026, 11, 20)}
        answer = c.wizard(wizard, "execute", sid, {"start": start}, "choice", context=ctx)
        if answer and "view" in answer:  # less than the amount to pay: a partial payment
            ask = {k: v for k, v in answer["view"]["defaults"].items() if "." not in k}
            ask["type"] = "partial"
            c.wizard(wizard, "execute", sid, {"start": start, "ask": ask}, "pay", context=ctx)
        c.wizard(wizard, "delete", sid)

    def reconcile(self, line_ids: list[int], *, writeoff_description: str | None = None) -> None:
        """The "Reconcile Lines" wizard of the move lines list; a difference goes to the write-off method."""
        wizard, c = "account.move.reconcile_lines", self.c
        ctx = {**c.context, "active_model": "account.move.line", "active_id": line_ids[0], "active_ids": line_ids}
        sid, state, _ = c.wizard(wizard, "create")
        answer = c.wizard(wizard, "execute", sid, {}, state, context=ctx)
        if answer and "view" in answer:
            assert writeoff_description is not None, "the lines do not balance"
            values = {k: v for k, v in answer["view"]["defaults"].items() if "." not in k}
            values.update(writeoff=self.writeoff, description=writeoff_description, date=dt.date(2026, 11, 21))
            c.wizard(wizard, "execute", sid, {"writeoff": values}, "reconcile", context=ctx)
        c.wizard(wizard, "delete", sid)

    def manual_cheque(self, doc: dict[str, Any], amount: Decimal) -> int:
        """A cheque entered as a journal entry (no pay wizard); returns its receivable line."""
        c = self.c
        day = dt.date(2026, 11, 22)
        period = c.search_read("account.period", [("start_date", "<=", day), ("end_date", ">=", day), ("type", "=", "standard")],
                               fields=["id"])[0]["id"]
        (move,) = c.call("account.move", "create", [{
            "journal": self.cash_journal, "period": period, "date": day, "description": "cheque 0042 manuel",
            "company": c.context["company"], "lines": [["create", [
                {"account": doc["account"], "party": doc["party"], "credit": amount, "debit": Decimal(0)},
                {"account": self.bank, "debit": amount, "credit": Decimal(0)}]]]}])
        c.call("account.move", "post", [move])
        return c.search_read("account.move.line", [("move", "=", move), ("account", "=", doc["account"])], fields=["id"])[0]["id"]

    def credit_note_and_invoice(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """A posted credit note and the posted invoice it credits (through its line's origin)."""
        for note in self.c.search_read("account.invoice", [("type", "=", "out"), ("state", "=", "posted"), ("total_amount", "<", 0)],
                                       fields=DOC_FIELDS):
            origins = self.c.read("account.invoice.line", note["lines"], ["origin"])
            credited = [int(o["origin"].split(",")[1]) for o in origins.values() if str(o["origin"]).startswith("account.invoice.line,")]
            if credited:
                invoice = self.c.read("account.invoice.line", credited[:1], ["invoice"])[credited[0]]["invoice"]
                return note, self.doc(invoice)
        raise AssertionError("the seed has no credit note of a posted invoice")


def tryton_open(erp: Erp) -> dict[str, tuple[str, Decimal]]:
    """Tryton's own (state, amount to pay with the sign of the document) per posted/paid/cancelled document."""
    rows = erp.c.search_read("account.invoice", [("type", "=", "out"), ("state", "in", ["posted", "paid", "cancelled"]),
                                                 ("move", "!=", None)], fields=["state", "total_amount", "amount_to_pay"])
    return {str(r["id"]): (r["state"], r["amount_to_pay"] if r["total_amount"] >= 0 else -r["amount_to_pay"]) for r in rows}


def stored(store: Store) -> dict[str, Any]:
    with store.session() as s:
        keys = [("tryton_settle", r.source_id) for r in store.invoices("tryton_settle")]
        return {k[1]: v for k, v in settlements_of(s, keys).items()}


def test_settlement_state_follows_tryton_payments_reconciliations_writeoffs_and_cancellations(erp, tmp_path):
    person = Erp(erp)
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    conn = conn_info(erp)

    first = sync_source(store, SOURCE, conn, until=FAR_FUTURE)
    assert first.ok
    runs = {s.stream: s for s in first.streams}
    truth = tryton_open(person)
    assert (runs["settlements"].read, runs["settlements"].inserted, runs["settlements"].rejected) == (len(truth), len(truth), 0)
    invoices = {r.source_id: r for r in store.invoices("tryton_settle")}
    before = stored(store)
    assert set(before) == set(truth) == set(invoices)
    for sid, settlement in before.items():  # nothing settled in the seed: every document open for its total
        assert (settlement.state, settlement.open_amount, settlement.lines) == ("open", invoices[sid].payable, []), sid

    # -- a person works in Tryton ------------------------------------------------------------
    posted = [d for d in person.posted() if d["total_amount"] > 0]
    note, credited = person.credit_note_and_invoice()
    posted = [d for d in posted if d["id"] != credited["id"]]
    full, part, small, cheque, cancel = posted[0], posted[1], posted[4], posted[6], posted[8]
    person.pay(full["id"], full["amount_to_pay"], "cheque 1")
    half = (part["amount_to_pay"] / 2).quantize(Decimal("0.01"))
    person.pay(part["id"], half, "virement partiel")
    # the credit note nets the invoice; a transfer pays the rest, then the three lines are reconciled by hand
    person.pay(credited["id"], credited["amount_to_pay"] + note["total_amount"], "virement solde")
    credited = person.doc(credited["id"])
    person.reconcile(credited["lines_to_pay"] + credited["payment_lines"] + note["lines_to_pay"])
    # 0.50 short, written off with the reconcile wizard
    person.pay(small["id"], small["amount_to_pay"] - Decimal("0.50"), "virement client")
    small = person.doc(small["id"])
    person.reconcile(small["lines_to_pay"] + small["payment_lines"], writeoff_description="écart de règlement")
    # a cheque entered by hand in the journal, reconciled by hand with the invoice
    person.reconcile(cheque["lines_to_pay"] + [person.manual_cheque(cheque, cheque["total_amount"])])
    person.c.call("account.invoice", "cancel", [cancel["id"]])

    changed = {str(d["id"]) for d in (full, part, note, credited, small, cheque, cancel)}
    second = sync_stream(store, SOURCE, TrytonConnector(conn), "settlements", until=FAR_FUTURE)
    # incremental: only the documents that changed are read again, and each gets a new version
    assert (second.read, second.updated, second.inserted, second.rejected, second.findings) == (7, 7, 0, 0, 0)
    truth = tryton_open(person)
    after = stored(store)
    for sid, settlement in after.items():  # the hub's open amount is Tryton's, to the cent
        assert settlement.open_amount == truth[sid][1], sid
        assert settlement.settled_amount() == (invoices[sid].payable - settlement.open_amount
                                              if settlement.state != "cancelled" else invoices[sid].payable), sid
    assert {sid for sid in after if after[sid] != before[sid]} == changed
    states = {sid: after[sid].state for sid in changed}
    assert states == {str(full["id"]): "paid", str(part["id"]): "partial", str(note["id"]): "paid",
                      str(credited["id"]): "paid", str(small["id"]): "paid", str(cheque["id"]): "paid",
                      str(cancel["id"]): "cancelled"}
    assert truth[str(part["id"])] == ("posted", part["total_amount"] - half)

    def kinds(doc: dict[str, Any]) -> list[tuple[str, Decimal, str | None]]:
        return [(ln.kind, ln.amount, ln.reference) for ln in after[str(doc["id"])].lines]

    assert kinds(full) == [("payment", full["total_amount"], "cheque 1")]
    assert kinds(part) == [("payment", half, "virement partiel")]
    assert kinds(credited) == [("payment", credited["total_amount"] + note["total_amount"], "virement solde"),
                               ("credit_note", -note["total_amount"], note["number"])]
    assert kinds(note) == [("other", -note["total_amount"], credited["number"])]
    assert kinds(small) == [("payment", small["total_amount"] - Decimal("0.50"), "virement client"),
                            ("write_off", Decimal("0.50"), "écart de règlement")]
    assert kinds(cheque) == [("payment", cheque["total_amount"], "cheque 0042 manuel")]
    assert [k for k, _a, _r in kinds(cancel)] == ["other"]
    assert after[str(full["id"])].settled_on == dt.date(2026, 11, 20)
    assert after[str(small["id"])].settled_on == dt.date(2026, 11, 21)
    assert after[str(part["id"])].settled_on is None

    # again: nothing to read from the watermark; a full re-read changes nothing
    again = sync_stream(store, SOURCE, TrytonConnector(conn), "settlements", until=FAR_FUTURE)
    assert (again.read, again.updated, again.inserted) == (0, 0, 0)
    reread = sync_stream(store, SOURCE, TrytonConnector(conn), "settlements", until=FAR_FUTURE,
                         since=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert (reread.read, reread.unchanged, reread.updated, reread.inserted) == (len(truth), len(truth), 0, 0)
    with store.session() as s:
        versions = history(s, "tryton_settle", str(part["id"]))
        assert [(v.version, v.state, v.open_amount) for v in versions] == \
            [(1, "open", part["total_amount"]), (2, "partial", part["total_amount"] - half)]
        assert findings(s, "tryton_settle") == []

    # the hub's own payment, written back with its key, arrives on the next sync: only that invoice is read
    later = posted[10]
    person.pay(later["id"], Decimal("100.00"), f"o2c:{HUB_KEY} BANKREF7")
    third = sync_stream(store, SOURCE, TrytonConnector(conn), "settlements", until=FAR_FUTURE)
    assert (third.read, third.updated) == (1, 1)
    with store.session() as s:
        settlement = settlement_of(s, "tryton_settle", str(later["id"]))
    assert settlement is not None and settlement.hub_keys() == {HUB_KEY}
    assert (settlement.state, settlement.open_amount) == ("partial", later["total_amount"] - Decimal("100.00"))


def test_a_change_seen_only_on_move_lines_is_pulled(erp):
    """With a queue worker, Tryton writes the invoice's state after the reconciliation (or never,
    while the worker is down): the receivable move lines alone must bring the document in."""

    class LinesOnly(TrytonConnector):
        def _scan(self, model, domain, fields):
            return iter(()) if model == "account.invoice" else super()._scan(model, domain, fields)

    person = Erp(erp)
    with TrytonConnector(conn_info(erp)) as c:
        start = max(r["updated_at"] for b in c.pull("settlements", None, FAR_FUTURE) for r in b.records)
    doc = next(d for d in person.posted() if d["total_amount"] > 0)
    line = person.manual_cheque(doc, doc["total_amount"])
    person.reconcile(doc["lines_to_pay"] + [line])
    with LinesOnly(conn_info(erp)) as c:
        records = [r for b in c.pull("settlements", start, FAR_FUTURE) for r in b.records]
    assert [r["id"] for r in records] == [doc["id"]]
    assert records[0]["state"] == "paid" and records[0]["updated_at"] > start
    assert [(ln["kind"], ln["amount"]) for ln in records[0]["settlement_lines"]] == [("payment", doc["total_amount"])]
