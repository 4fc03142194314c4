"""Approval before anything leaves (no ERP): the source's policy decides which commands wait, a
person's decision (library, command line) releases or refuses them, stored with the audit trail."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal as D

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from demo.bank import camt053
from o2c.cli import cli
from o2c.config import SourceConfig
from o2c.jobs.approval import ApprovalError, approvals, approve, awaiting, refuse
from o2c.jobs.bank import ingest_file
from o2c.jobs.writeback import enqueue_payments, outbox
from o2c.store import Store, audit, utcnow
from o2c.store.approval import WriteBackApproval
from o2c.store.bank import BankEntryRow
from o2c.store.cash import CashAllocation
from o2c.store.writeback import WriteBackRow, claim_next
from tests.cash.test_writeback_store import _invoice, store  # noqa: F401 (the fixture: SQLite and PostgreSQL)
from transport.sftp import StagedFile

POLICY = {"policy": {"payment": {"auto_below": "5000.00", "allocation_status": ["auto"]}}, "approvers": ["alice", "bob"]}
SOURCE = SourceConfig(name="erp1", kind="tryton", connection="x", writeback=POLICY)


def _three_payments(store: Store, tmp_path) -> dict[str, CashAllocation]:  # noqa: F811
    """Three applied allocations on three invoices: auto 100.00, auto 6000.00, accepted 100.00."""
    invoices = [_invoice(store, f"FA-{i}", str(10 + i)) for i in range(3)]
    lines = [("A1", D("100.00"), "auto"), ("A2", D("6000.00"), "auto"), ("A3", D("100.00"), "accepted")]
    data = camt053([{"amount": amount, "ref": ref, "name": "CLIENT SARL", "text": [inv.number]}
                    for (ref, amount, _), inv in zip(lines, invoices, strict=True)])
    path = tmp_path / "camt.xml"
    path.write_bytes(data)
    staged = StagedFile(local_path=str(path), remote_path="/in/camt.xml", name="camt.xml", size=len(data), mtime=0,
                        sha256=hashlib.sha256(data).hexdigest())
    assert ingest_file(store, "bnp", staged, run_id=None).outcome == "ingested"
    with store.session() as s:
        entries = {e.bank_ref: e for e in s.scalars(select(BankEntryRow))}
        for (ref, amount, status), inv in zip(lines, invoices, strict=True):
            s.add(CashAllocation(run_id="r", bank_entry_id=entries[ref].id, bank_ref=ref, invoice_id=inv.id,
                                 invoice_number=inv.number, amount=amount, currency="EUR", confidence=1.0, status=status,
                                 rule="reference", explanation="test", booking_date=dt.date(2026, 11, 20),
                                 created_at=utcnow()))
    with store.session() as s:
        return {a.bank_ref: a for a in s.scalars(select(CashAllocation))}


def _status(store: Store) -> dict[str, str]:  # noqa: F811
    return {r.payload["bank_ref"]: r.status for r in outbox(store, "erp1")}


def _approval_rows(store: Store) -> int:  # noqa: F811
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(WriteBackApproval)) or 0


def test_the_policy_decides_what_waits(store, tmp_path):  # noqa: F811
    _three_payments(store, tmp_path)
    assert enqueue_payments(store, sources=[SOURCE]) == 3
    # auto and under 5000 flows; auto over it waits; a reviewer-accepted one is not among the statuses that flow
    assert _status(store) == {"A1": "pending", "A2": "awaiting_approval", "A3": "awaiting_approval"}
    entries = {e.details["payload"]["bank_ref"]: e.details for e in audit.trail(store, "invoice:erp1:")
               if e.action == "writeback.enqueued"}
    # (amounts as the store gives them back: 100.00 on SQLite, 100.000000 from PostgreSQL's NUMERIC(20,6))
    assert entries["A1"]["status"] == "pending" and entries["A1"]["policy"] == f"{entries['A1']['payload']['amount']} is below 5000.00"
    assert entries["A2"]["policy"] == f"{entries['A2']['payload']['amount']} is not below 5000.00"
    assert entries["A3"]["policy"] == "accepted is not among the statuses that flow (auto)"
    # a push only ever claims pending commands: the waiting ones are never sent
    with store.session() as s:
        claimed = claim_next(s, "erp1", "pusher", utcnow())
        assert s.get(WriteBackRow, claimed).payload["bank_ref"] == "A1"
        assert claim_next(s, "erp1", "pusher", utcnow()) is None


def test_a_kind_without_policy_waits(store, tmp_path):  # noqa: F811
    _three_payments(store, tmp_path)
    bare = SourceConfig(name="erp1", kind="tryton", connection="x")
    assert enqueue_payments(store, sources=[bare]) == 3
    assert set(_status(store).values()) == {"awaiting_approval"}
    assert audit.trail(store, "invoice:erp1:")[0].details["policy"] == "no policy for payment commands: they wait for approval"


def test_approve_and_refuse_are_stored_audited_and_final(store, tmp_path):  # noqa: F811
    _three_payments(store, tmp_path)
    enqueue_payments(store, sources=[SOURCE])
    waiting = {r.payload["bank_ref"]: r.id for r in awaiting(store, "erp1")}
    assert set(waiting) == {"A2", "A3"}
    entries_before = audit.verify(store).entries

    # refused before anything changes: not an approver, no reason, a command of nobody, nothing named
    with pytest.raises(ApprovalError, match="'mallory' is not an approver of source 'erp1'.*writeback.approvers"):
        approve(store, SOURCE, by="mallory", reason="looks fine", commands=[waiting["A2"]])
    with pytest.raises(ApprovalError, match="give the reason"):
        approve(store, SOURCE, by="alice", reason="  ", commands=[waiting["A2"]])
    with pytest.raises(ApprovalError, match="no command 999 of source 'erp1'"):
        approve(store, SOURCE, by="alice", reason="ok", commands=[waiting["A2"], 999])
    assert _status(store) == {"A1": "pending", "A2": "awaiting_approval", "A3": "awaiting_approval"}
    assert _approval_rows(store) == 0 and audit.verify(store).entries == entries_before

    given = approve(store, SOURCE, by="alice", reason="customer confirmed the transfer", commands=[waiting["A2"]], via="page")
    assert (given.decision, given.decided_by, given.commands, given.skipped) == ("approved", "alice", [waiting["A2"]], {})
    refused = refuse(store, SOURCE, by="bob", reason="paid twice by the customer: refund instead")  # every one awaiting
    assert refused.commands == [waiting["A3"]]
    assert _status(store) == {"A1": "pending", "A2": "pending", "A3": "refused"}
    rows = {r.payload["bank_ref"]: r for r in outbox(store, "erp1")}
    assert rows["A2"].approval_id == given.approval_id and rows["A3"].approval_id == refused.approval_id
    assert rows["A3"].last_error == "refused by bob: paid twice by the customer: refund instead"

    (second, first) = approvals(store, "erp1")
    assert (first.decision, first.decided_by, first.reason, first.via) == \
        ("approved", "alice", "customer confirmed the transfer", "page")
    assert first.commands == [{"id": waiting["A2"], "key": rows["A2"].idempotency_key, "kind": "payment",
                               "target_id": rows["A2"].target_id, "target": "FA-1", "amount": rows["A2"].payload["amount"],
                               "currency": "EUR", "bank_ref": "A2"}]
    assert (second.decision, second.decided_by, second.via) == ("refused", "bob", "cli")

    entries = [(e.actor, e.action, e.details["command"], e.details["approval"]) for e in audit.trail(store, "invoice:erp1:")
               if e.action.startswith("approval.")]
    assert entries == [("alice", "approval.given", waiting["A2"], given.approval_id),
                       ("bob", "approval.refused", waiting["A3"], refused.approval_id)]
    assert audit.verify(store).ok

    # a decision is final: neither command awaits any more
    with pytest.raises(ApprovalError, match=r"commands .* awaiting approval \(now .*: refused\)"):
        approve(store, SOURCE, by="alice", reason="changed my mind", commands=[waiting["A3"]])
    with store.session() as s:  # the refused one is never claimed; the approved one now is
        claimed = [claim_next(s, "erp1", "p", utcnow()) for _ in range(3)]
    assert sorted(c for c in claimed if c) == sorted([rows["A1"].id, waiting["A2"]])


def test_an_approval_of_commands_already_decided_covers_the_rest(store, tmp_path):  # noqa: F811
    """Airflow asks about the commands waiting when it asks; one approved meanwhile on the page is
    left as it is and reported, the others are decided."""
    _three_payments(store, tmp_path)
    enqueue_payments(store, sources=[SOURCE])
    a2, a3 = (r.id for r in awaiting(store, "erp1"))
    approve(store, SOURCE, by="bob", reason="ok", commands=[a2])
    res = approve(store, SOURCE, by="alice", reason="batch ok", commands=[a2, a3], via="airflow")
    assert res.commands == [a3] and res.skipped == {a2: "pending"}


def test_the_command_line_lists_approves_and_refuses(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    sources = home / "sources.yaml"
    sources.write_text("sources:\n  - name: erp1\n    kind: tryton\n    connection: x\n    writeback:\n"
                       "      policy: {payment: {auto_below: '5000.00', allocation_status: [auto]}}\n"
                       "      approvers: [alice]\n")
    monkeypatch.setenv("O2C_HOME", str(home))
    monkeypatch.setenv("O2C_SOURCES", str(sources))
    monkeypatch.delenv("O2C_DATABASE_URL", raising=False)
    from o2c.settings import get_settings

    store = Store(get_settings().database_url)  # noqa: F811
    store.upgrade()
    _three_payments(store, tmp_path)
    enqueue_payments(store, sources=[SourceConfig(name="erp1", kind="tryton", connection="x", writeback=POLICY)])
    a2, a3 = (r.id for r in awaiting(store, "erp1"))

    listed = CliRunner().invoke(cli, ["writeback", "awaiting", "erp1"])
    assert listed.exit_code == 0, listed.output
    assert "erp1: 2 command(s) awaiting approval (approvers: alice)" in listed.output
    assert f"{a2}: payment 6000.00 EUR -> FA-1 (A2)" in listed.output

    not_approver = CliRunner().invoke(cli, ["writeback", "approve", "erp1", "--commands", str(a2), "--by", "bob",
                                            "--reason", "ok"])
    assert not_approver.exit_code == 2 and "'bob' is not an approver of source 'erp1'" in not_approver.output
    neither = CliRunner().invoke(cli, ["writeback", "approve", "erp1", "--by", "alice", "--reason", "ok"])
    assert neither.exit_code == 2 and "--all" in neither.output
    ok = CliRunner().invoke(cli, ["writeback", "approve", "erp1", "--commands", f"{a2}", "--by", "alice",
                                  "--reason", "checked with the customer", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["commands"] == [a2] and json.loads(ok.output)["decision"] == "approved"
    no = CliRunner().invoke(cli, ["writeback", "refuse", "erp1", "--all", "--by", "alice", "--reason", "duplicate"])
    assert no.exit_code == 0 and f"alice refused command(s) {a3}" in no.output
    assert _status(store) == {"A1": "pending", "A2": "pending", "A3": "refused"}
    again = CliRunner().invoke(cli, ["writeback", "refuse", "erp1", "--all", "--by", "alice", "--reason", "x"])
    assert again.exit_code == 2 and "no command awaiting approval" in again.output
    assert [e.action for e in audit.trail(store, "invoice:erp1:") if e.action.startswith("approval.")] == \
        ["approval.given", "approval.refused"]
    verify = CliRunner().invoke(cli, ["audit", "verify"])
    assert verify.exit_code == 0, verify.output
