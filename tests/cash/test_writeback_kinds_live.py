"""Every kind of write-back to the live Tryton, each asserted on Tryton's state afterwards: a bank
line netting an invoice with a credit note (paid, and the credit note reconciled with it), a
write-off (an early-payment discount, through the configured write-off method), reversals (a
payment whose allocation a reviewer rejects or re-allocates is cancelled, then paid again under a
new key), credit holds (the hub's party category and the credit limit, then released) with their
note, a reviewer's note on the invoice, and dunning blocks (account_dunning is not activated in the
demo: refused, naming the module). Each command is written once: pushed again, or found by its key
after a lost answer, nothing changes in Tryton.

Changes the ERP: served from a private copy of the seeded database (``writable_tryton``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from connectors.tryton import TrytonClient, TrytonConnector
from demo.bank import camt053
from o2c.config import SourceConfig
from o2c.jobs.bank import ingest_file
from o2c.jobs.cash import run_cash_application
from o2c.jobs.cash_review import decide
from o2c.jobs.sync import sync_source
from o2c.jobs.writeback import (
    HOLD_CATEGORY,
    enqueue_all,
    enqueue_credit_holds,
    enqueue_dunning_block,
    outbox,
    push_pending,
)
from o2c.store import Store, utcnow
from o2c.store.audit import trail, verify
from o2c.store.cash import CashAllocation, CashWriteOff, RiskFlagRow
from o2c.store.models import CustomerRow
from o2c.store.parties import PartyLink
from o2c.store.writeback import WriteBackRow
from schemas.errors import ConfigError
from tests.cash.test_cash_application_live import stage
from tests.cash.test_writeback_live import add_payment_method, payment_lines_by_key, writable_tryton  # noqa: F401
from tests.connectors.test_tryton_live import FAR_FUTURE, conn_info

pytestmark = [pytest.mark.tryton, pytest.mark.slow]
#: every kind flows without a person here (approvals are tested in test_writeback_approval.py)
AUTO = {"policy": {k: {"auto": True} for k in ("payment", "netting", "write_off", "reversal", "credit_hold", "note",
                                               "dunning_block", "status")}}
SOURCE = SourceConfig(name="tryton_demo", kind="tryton", connection="x", writeback=AUTO)
WRITE_OFFS = {"early_payment_discount": "Escompte", "bank_charges": "Frais bancaires", "small_difference": "Ecarts"}


def add_write_off_methods(client: TrytonClient) -> None:
    """Write-off methods on the write-off journal: 665 discounts, 6278 bank charges, 658/758 differences."""
    journal = client.search_read("account.journal", [("type", "=", "write-off")], limit=1, fields=["id"])[0]["id"]
    acc = {a["code"]: a["id"] for a in client.search_read("account.account", [("code", "in", ["665", "6278", "658", "758"])],
                                                          fields=["code"])}
    company = client.context["company"]
    client.call("account.move.reconcile.write_off", "create", [
        {"name": "Escompte", "company": company, "journal": journal, "credit_account": acc["665"], "debit_account": acc["665"]},
        {"name": "Frais bancaires", "company": company, "journal": journal, "credit_account": acc["6278"],
         "debit_account": acc["6278"]},
        {"name": "Ecarts", "company": company, "journal": journal, "credit_account": acc["758"], "debit_account": acc["658"]},
    ])


def state(client: TrytonClient, *ids: int) -> dict[int, tuple[str, Decimal]]:
    return {i: (r["state"], r["amount_to_pay"]) for i, r in client.read("account.invoice", ids, ["state", "amount_to_pay"]).items()}


def hub(tmp_path, server) -> tuple[Store, TrytonClient]:
    conn = conn_info(server)
    client = TrytonClient(conn)
    add_payment_method(client)
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    sync_source(store, SOURCE, conn, until=FAR_FUTURE)
    return store, client


def ingest(store: Store, tmp_path, name: str, entries: list[dict]) -> None:
    assert ingest_file(store, "bnp", stage(tmp_path / name, camt053(entries)), run_id=None).outcome == "ingested"
    run_cash_application(store)


def test_netting_and_write_off_reach_tryton_once(writable_tryton, tmp_path):  # noqa: F811
    store, client = hub(tmp_path, writable_tryton)
    add_write_off_methods(client)
    rows = store.invoices()
    credit = next(r for r in rows if r.type_code != "380")
    invoice = next(r for r in rows if r.type_code == "380" and r.buyer_key == credit.buyer_key and r.payable > credit.payable)
    other = next(r for r in rows if r.type_code == "380" and r.buyer_key != credit.buyer_key and r.payable > 100)
    net = invoice.payable - credit.payable
    discounted = (other.payable * Decimal("0.98")).quantize(Decimal("0.01"))
    ingest(store, tmp_path, "camt_net.xml", [
        {"amount": net, "ref": "N1", "name": invoice.buyer_name, "text": [f"{invoice.number} MOINS {credit.number}"]},
        {"amount": discounted, "ref": "D1", "name": other.buyer_name, "text": [f"FACTURE {other.number} ESCOMPTE 2%"]},
    ])
    with store.session() as s:
        allocs = {a.bank_ref: a for a in s.scalars(select(CashAllocation))}
        offs = list(s.scalars(select(CashWriteOff)))
    # the netted line as a reviewer places it: the credit note and the invoice, in full
    decide(store, "N1", "reallocate", reviewer="claire", invoices=[invoice.number, credit.number], note="avoir déduit")
    accepted = allocs["D1"].status == "suggested"
    if accepted:
        decide(store, "D1", "accept", reviewer="claire")
    assert [(o.reason, o.amount) for o in offs] == [("early_payment_discount", other.payable - discounted)]
    ids = (int(invoice.source_id), int(credit.source_id), int(other.source_id))
    assert state(client, *ids) == {ids[0]: ("posted", invoice.payable), ids[1]: ("posted", -credit.payable),
                                   ids[2]: ("posted", other.payable)}

    counts = enqueue_all(store, sources=[SOURCE])
    assert (counts["netting"], counts["payment"], counts["write_off"]) == (1, 1, 1), counts
    # the reviewers' decisions, noted on the documents they placed cash on
    notes = {r.target_id: r for r in outbox(store) if r.kind == "note"}
    assert set(notes) == {invoice.source_id, credit.source_id} | ({other.source_id} if accepted else set())
    assert counts["note"] == len(notes)
    assert sum(enqueue_all(store, sources=[SOURCE]).values()) == 0
    netting = next(r for r in outbox(store) if r.kind == "netting")
    assert netting.payload["invoices"] == [{"id": invoice.source_id, "number": invoice.number, "amount": str(invoice.payable),
                                            "cash": str(net)}]
    assert netting.payload["credit_notes"] == [{"id": credit.source_id, "number": credit.number, "amount": str(-credit.payable)}]

    # no write-off method configured: the target stops at once, naming the setting; what went before is sent
    with pytest.raises(ConfigError, match=r"options\.write_offs\.early_payment_discount"):
        push_pending(store, "tryton_demo", TrytonConnector(conn_info(writable_tryton)))
    assert {r.kind: r.status for r in outbox(store)}["write_off"] == "pending"

    connector = TrytonConnector(conn_info(writable_tryton), write_offs=WRITE_OFFS)
    summary = push_pending(store, "tryton_demo", connector)
    assert summary.failed == 0 and summary.stopped is None, summary
    assert {(r.kind, r.status) for r in outbox(store)} == {(k, "sent") for k in ("netting", "payment", "write_off", "note")}
    after = state(client, *ids)
    assert after == {ids[0]: ("paid", Decimal(0)), ids[1]: ("paid", Decimal(0)), ids[2]: ("paid", Decimal(0))}
    # the credit note's receivable line is reconciled with the invoice's and the hub's payment of the rest
    (cn,) = client.read("account.invoice", [ids[1]], ["lines_to_pay"]).values()
    (inv,) = client.read("account.invoice", [ids[0]], ["lines_to_pay", "payment_lines"]).values()
    recs = client.read("account.move.line", cn["lines_to_pay"] + inv["lines_to_pay"] + inv["payment_lines"], ["reconciliation"])
    assert len({r["reconciliation"] for r in recs.values()}) == 1 and None not in {r["reconciliation"] for r in recs.values()}
    assert payment_lines_by_key(client, ids[0]) == {f"o2c:{netting.idempotency_key}": 1}
    pay = client.read("account.move.line", inv["payment_lines"], ["credit"])
    assert sum(p["credit"] for p in pay.values()) == net  # the cash the bank received, not the invoice's total
    # the write-off: on the 665 account, through the write-off journal, tagged with its key
    write_off = next(r for r in outbox(store) if r.kind == "write_off")
    (line,) = client.read("account.move.line", [int(write_off.remote_ref)], ["credit", "move_description_used", "reconciliation"]).values()
    assert line["credit"] == other.payable - discounted and line["reconciliation"]
    assert line["move_description_used"].startswith(f"o2c:{write_off.idempotency_key} early_payment_discount")
    expense = client.search_read("account.move.line", [("move.description", "like", f"o2c:{write_off.idempotency_key}%"),
                                                       ("account.code", "=", "665")], fields=["debit"])
    assert [e["debit"] for e in expense] == [other.payable - discounted]
    note = notes[invoice.source_id]
    (text,) = [n["message"] for n in client.search_read("ir.note", [("resource", "=", f"account.invoice,{invoice.source_id}")],
                                                        fields=["message"])]
    assert text.startswith(f"o2c:{note.idempotency_key} re-allocated by claire") and "avoir déduit" in text

    # a lost answer: every command pending again; each is found by its key, Tryton unchanged
    with store.session() as s:
        for row in s.scalars(select(WriteBackRow)):
            row.status = "pending"
    again = push_pending(store, "tryton_demo", connector)
    assert (again.sent, again.failed) == (3 + len(notes), 0), again
    assert state(client, *ids) == after
    assert len(client.search_read("ir.note", [("resource", "=", f"account.invoice,{invoice.source_id}")], fields=["id"])) == 1
    assert len(client.search_read("account.move.line", [("move.description", "like", f"o2c:{write_off.idempotency_key}%")],
                                  fields=["id"])) == 2

    # the hub counts each once: in transit before the sync, recorded by the ERP after it
    from o2c.jobs.receivables import explain

    sync_source(store, SourceConfig(name="tryton_demo", kind="tryton", connection="x", writeback=AUTO,
                                    streams=["customers", "invoices", "settlements"]), conn_info(writable_tryton),
                until=FAR_FUTURE)
    for number in (invoice.number, credit.number, other.number):
        ex = explain(store, f"tryton_demo:{number}")
        assert (ex.erp_open, ex.in_transit, ex.open) == (0, 0, 0), (number, ex)
    assert verify(store).ok
    connector.close()
    client.close()


def test_rejected_and_reallocated_payments_are_reversed(writable_tryton, tmp_path):  # noqa: F811
    store, client = hub(tmp_path, writable_tryton)
    first, second = [r for r in store.invoices() if r.type_code == "380"][:2]
    ingest(store, tmp_path, "camt_rev.xml", [
        {"amount": first.payable, "ref": "R1", "name": first.buyer_name, "text": [f"FACTURE {first.number}"]},
        {"amount": second.payable, "ref": "R2", "name": second.buyer_name, "text": [f"FACTURE {second.number}"]},
    ])
    for ref in ("R1", "R2"):
        with store.session() as s:
            status = s.scalar(select(CashAllocation.status).where(CashAllocation.bank_ref == ref))
        if status == "suggested":
            decide(store, ref, "accept", reviewer="claire")
    connector = TrytonConnector(conn_info(writable_tryton))
    enqueue_all(store, sources=[SOURCE])
    assert push_pending(store, "tryton_demo", connector).sent == 2
    ids = (int(first.source_id), int(second.source_id))
    assert state(client, *ids) == {ids[0]: ("paid", 0), ids[1]: ("paid", 0)}
    paid = {r.payload["bank_ref"]: r for r in outbox(store) if r.kind == "payment"}

    # R1 rejected after it reached Tryton; R2 re-allocated by a reviewer to the same invoice
    decide(store, "R1", "reject", reviewer="paul", note="not this customer's money")
    decide(store, "R2", "reallocate", reviewer="paul", invoices=[second.number], note="confirmed by phone")
    counts = enqueue_all(store, sources=[SOURCE])
    assert (counts["reversal"], counts["payment"]) == (2, 1), counts
    new = next(r for r in outbox(store) if r.kind == "payment" and r.status == "pending")
    # the re-allocated line is a new payment with a key of its own (it reused R2's key before)
    assert new.payload["bank_ref"] == "R2" and new.idempotency_key != paid["R2"].idempotency_key
    assert new.payload["decision"].startswith("D")
    assert sum(enqueue_all(store, sources=[SOURCE]).values()) == 0
    kinds = [r.kind for r in outbox(store) if r.status == "pending"]
    assert kinds.index("reversal") < kinds.index("payment")  # reversed before it is paid again

    summary = push_pending(store, "tryton_demo", connector)
    assert (summary.sent, summary.failed) == (len(kinds), 0), summary
    # R1: its payment cancelled, the invoice open again in Tryton
    assert state(client, *ids) == {ids[0]: ("posted", first.payable), ids[1]: ("paid", 0)}
    reversal = next(r for r in outbox(store) if r.kind == "reversal" and r.payload["payment_key"] == paid["R1"].idempotency_key)
    move_id = int(reversal.remote_ref.split(",")[1])
    (move,) = client.read("account.move", [move_id], ["description", "state", "origin"]).values()
    assert move["state"] == "posted" and move["description"].startswith(f"o2c:{reversal.idempotency_key} reversal of")
    # R2: the old payment cancelled, the new one pays the invoice: one live payment
    (inv,) = client.read("account.invoice", [ids[1]], ["payment_lines", "lines_to_pay"]).values()
    lines = client.read("account.move.line", inv["lines_to_pay"], ["reconciliation"])
    rec = client.read("account.move.reconciliation", [ln["reconciliation"] for ln in lines.values()], ["lines"])
    in_rec = client.read("account.move.line", [i for r in rec.values() for i in r["lines"]], ["move_description_used"])
    words = sorted((ln["move_description_used"] or "").split(" ", 1)[0] for ln in in_rec.values())
    assert f"o2c:{new.idempotency_key}" in words and f"o2c:{paid['R2'].idempotency_key}" not in words

    # sent again (a lost answer): the reversals are found by their keys, nothing cancelled twice
    with store.session() as s:
        for row in s.scalars(select(WriteBackRow).where(WriteBackRow.kind == "reversal")):
            row.status = "pending"
    assert push_pending(store, "tryton_demo", connector).sent == 2
    assert state(client, *ids) == {ids[0]: ("posted", first.payable), ids[1]: ("paid", 0)}
    assert len(client.search_read("account.move", [("description", "like", "o2c:% reversal of %")], fields=["id"])) == 2
    actions = [e.action for e in trail(store, f"invoice:tryton_demo:{first.source_id}")]
    assert actions[-2:] == ["writeback.sent", "writeback.reversed"] and "writeback.enqueued" in actions
    assert verify(store).ok
    connector.close()
    client.close()


def test_credit_hold_then_release_with_notes(writable_tryton, tmp_path):  # noqa: F811
    store, client = hub(tmp_path, writable_tryton)
    with store.session() as s:
        cust, party_id = next((c, p) for c, p in s.execute(select(CustomerRow, PartyLink.party_id)
                                                           .join(PartyLink, PartyLink.customer_id == CustomerRow.id))
                              if c.credit_limit is not None)
        limit = cust.credit_limit
        s.add(RiskFlagRow(run_id="risk", as_of=dt.date(2026, 12, 1), customer_key=str(party_id), customer_name=cust.name,
                          kind="credit_limit_exceeded", severity="high", reason="exposure 140 % of the limit",
                          amount=limit * Decimal("1.4"), currency="EUR", created_at=utcnow()))
        s.add(RiskFlagRow(run_id="risk", as_of=dt.date(2026, 12, 1), customer_key="999999", customer_name="other",
                          kind="overdue_beyond_policy", severity="medium", reason="late", amount=None, currency=None,
                          created_at=utcnow()))
    assert enqueue_credit_holds(store, sources=[SOURCE]) == 2  # the hold and its note on the party
    assert enqueue_credit_holds(store, sources=[SOURCE]) == 0
    hold = next(r for r in outbox(store) if r.kind == "credit_hold")
    assert hold.target_id == cust.source_id and hold.payload["hold"] is True
    assert hold.payload["previous_limit"] == str(limit) and Decimal(hold.payload["credit_limit"]) <= limit
    connector = TrytonConnector(conn_info(writable_tryton))
    assert push_pending(store, "tryton_demo", connector).sent == 2
    (party,) = client.read("party.party", [int(cust.source_id)], ["categories", "credit_limit_amount"]).values()
    names = {c["name"] for c in client.read("party.category", party["categories"], ["name"]).values()}
    assert HOLD_CATEGORY in names and party["credit_limit_amount"] == Decimal(hold.payload["credit_limit"])
    (note,) = client.search_read("ir.note", [("resource", "=", f"party.party,{cust.source_id}")], fields=["message"])
    assert "credit hold by the hub on 2026-12-01: credit_limit_exceeded (high)" in note["message"]
    # the sync reads the hold back as a hold category when the source names it (hold_categories)
    assert TrytonConnector(conn_info(writable_tryton), hold_categories=[HOLD_CATEGORY])._parties(
        [int(cust.source_id)])[int(cust.source_id)]["holds"] == [HOLD_CATEGORY]

    # a later risk run without a high flag for it: released, its limit as before the hold
    with store.session() as s:
        s.add(RiskFlagRow(run_id="risk2", as_of=dt.date(2026, 12, 8), customer_key=str(party_id), customer_name=cust.name,
                          kind="credit_limit_exceeded", severity="low", reason="back under", amount=None, currency=None,
                          created_at=utcnow()))
    assert enqueue_credit_holds(store, sources=[SOURCE]) == 2
    assert push_pending(store, "tryton_demo", connector).sent == 2
    (party,) = client.read("party.party", [int(cust.source_id)], ["categories", "credit_limit_amount"]).values()
    names = {c["name"] for c in client.read("party.category", party["categories"], ["name"]).values()}
    assert HOLD_CATEGORY not in names and party["credit_limit_amount"] == limit
    assert len(client.search_read("ir.note", [("resource", "=", f"party.party,{cust.source_id}")], fields=["id"])) == 2
    assert enqueue_credit_holds(store, sources=[SOURCE]) == 0
    subjects = {e.subject for e in trail(store, "party:tryton_demo:")}
    assert subjects == {f"party:tryton_demo:{cust.source_id}"}
    connector.close()
    client.close()


def test_a_dispute_blocks_trytons_own_dunning_once_and_its_resolution_lifts_it(writable_tryton, tmp_path):  # noqa: F811
    """Blocked before Tryton ever dunned the invoice: a draft dunning, blocked, at the procedure's
    first level (so Tryton's dunning run leaves it alone); sent again, nothing changes; unblocked
    when the dispute is resolved."""
    store, client = hub(tmp_path, writable_tryton)
    inv = next(r for r in store.invoices() if r.type_code == "380")
    lines = client.read("account.invoice", [int(inv.source_id)], ["lines_to_pay"])[int(inv.source_id)]["lines_to_pay"]

    def dunnings() -> list[tuple[int, bool, str]]:
        rows = client.search_read("account.dunning", [("line", "in", lines)], fields=["line", "blocked", "state"],
                                  context={"active_test": False})
        return sorted((r["line"], bool(r["blocked"]), r["state"]) for r in rows)

    assert dunnings() == []
    assert enqueue_dunning_block(store, "tryton_demo", inv.source_id, blocked=True, reason="disputed", actor="claire",
                                 identity="D1:open", policy=SOURCE.writeback)
    assert not enqueue_dunning_block(store, "tryton_demo", inv.source_id, blocked=True, reason="disputed", actor="claire",
                                     identity="D1:open", policy=SOURCE.writeback)
    connector = TrytonConnector(conn_info(writable_tryton))
    assert push_pending(store, "tryton_demo", connector).sent == 1
    blocked = dunnings()
    assert blocked and all(b and st == "draft" for _, b, st in blocked)
    cmd = outbox(store)[0]
    assert connector.find_dunning_block(_command_of(cmd)) == cmd.remote_ref  # a lost answer finds it done
    assert enqueue_dunning_block(store, "tryton_demo", inv.source_id, blocked=False, reason="resolved", actor="claire",
                                 identity="D1:resolved", policy=SOURCE.writeback)
    assert push_pending(store, "tryton_demo", connector).sent == 1
    assert [b for _, b, _ in dunnings()] == [False] * len(blocked)
    assert [(r.kind, r.status) for r in outbox(store)] == [("dunning_block", "sent")] * 2


def _command_of(row):
    from schemas.receivables import WriteBackCommand

    return WriteBackCommand(source=row.source, kind=row.kind, target_id=row.target_id, payload=dict(row.payload), reason=row.reason)


def test_lifecycle_statuses_reach_the_tryton_invoice_once(writable_tryton, tmp_path):  # noqa: F811
    """A status a platform sent about a Tryton invoice (here 204 Prise en charge) is written to that
    invoice, as a note Tryton's users see (Tryton has no field for the French lifecycle), once."""
    import datetime as dt

    from edi import cdar
    from o2c.jobs.einvoice import ingest_statuses

    store, client = hub(tmp_path, writable_tryton)
    inv = next(r for r in store.invoices() if r.type_code == "380")
    inbox = tmp_path / "statuses"
    inbox.mkdir()
    seller = ((inv.document.get("seller") or {}).get("legal_registration") or {}).get("value") or ""
    status = cdar.LifecycleStatus(invoice_number=inv.number, invoice_issue_date=inv.issue_date, seller_siren=seller,
                                  status_code="204",
                                  status_date=dt.date(2026, 11, 25), issuer_id="0042", issuer_role="WK")
    (inbox / "s.xml").write_bytes(cdar.render(status))
    assert ingest_statuses(store, inbox).recorded == 1
    counts = enqueue_all(store, sources=[SOURCE])
    assert counts["status"] == 1 and enqueue_all(store, sources=[SOURCE])["status"] == 0
    connector = TrytonConnector(conn_info(writable_tryton))
    assert push_pending(store, "tryton_demo", connector).sent >= 1
    notes = client.search_read("ir.note", [("resource", "=", f"account.invoice,{inv.source_id}")], fields=["message"])
    mine = [n["message"] for n in notes if "e-invoice status 204" in (n["message"] or "")]
    assert len(mine) == 1 and "2026-11-25" in mine[0] and "(received)" in mine[0]
    [row] = [r for r in outbox(store) if r.kind == "status"]
    assert connector.find_status(_command_of(row)) == row.remote_ref  # a lost answer finds it, not sent again
