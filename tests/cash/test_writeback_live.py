"""Applied cash written back to Tryton through the outbox: a full and a partial payment recorded with
the pay wizard, nothing sent twice (neither by the hub nor on Tryton's side), a bad command failed
with its reason.

Paying invoices changes the ERP, so this test serves its own copy of the seeded database (a file
copy of the cache the session ``tryton_server`` built, and about 3 s to start) instead of the
shared read-mostly server.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from connectors.tryton import TrytonClient, TrytonConnector
from demo.bank import camt053
from demo.tryton.server import TrytonServer, prepare_database
from o2c.config import EInvoicingConfig, SourceConfig
from o2c.jobs.bank import ingest_file
from o2c.jobs.cash import run_cash_application
from o2c.jobs.cash_review import decide
from o2c.jobs.sync import sync_source
from o2c.jobs.writeback import PushSummary, enqueue_payments, outbox, push_pending
from o2c.store import Store, utcnow
from o2c.store.bank import BankEntryRow
from o2c.store.cash import CashAllocation
from o2c.store.writeback import WriteBackRow
from schemas.receivables import WriteBackCommand
from tests.cash.test_cash_application_live import stage
from tests.connectors.test_tryton_live import FAR_FUTURE, conn_info
from tests.fixtures_tryton import TRYTON_INVOICES, TRYTON_SEED, tryton_cache_dir

pytestmark = [pytest.mark.tryton, pytest.mark.slow]
SOURCE = SourceConfig(name="tryton_demo", kind="tryton", connection="x",
                      writeback={"policy": {"payment": {"auto": True}}})  # every payment flows (no approval)


@pytest.fixture()
def writable_tryton(tryton_server: TrytonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    """A private copy of the session's seeded Tryton, served on its own port (free to change)."""
    db = prepare_database(tmp_path_factory.mktemp("tryton-writeback"), invoices=TRYTON_INVOICES, seed=TRYTON_SEED,
                          cache_dir=tryton_cache_dir())
    server = TrytonServer(db).start()
    try:
        yield server
    finally:
        server.stop()


def add_payment_method(client: TrytonClient) -> int:
    """The seed creates no invoice payment method: a bank transfer one on the cash journal and 5121."""
    journal = client.search_read("account.journal", [("type", "=", "cash")], limit=1, fields=["id"])[0]["id"]
    bank = client.search_read("account.account", [("code", "=", "5121")], limit=1, fields=["id"])[0]["id"]
    company = client.context["company"]
    (method,) = client.call("account.invoice.payment.method", "create",
                            [{"name": "Virement SEPA", "company": company, "journal": journal,
                              "credit_account": bank, "debit_account": bank}])
    return int(method)


def tryton_state(client: TrytonClient, ids: list[int]) -> dict[int, tuple[str, Decimal, int]]:
    """(state, amount to pay, number of payment lines) of invoices, read over RPC."""
    rows = client.read("account.invoice", ids, ["state", "amount_to_pay", "payment_lines"])
    return {i: (r["state"], r["amount_to_pay"], len(r["payment_lines"])) for i, r in rows.items()}


def test_payments_written_back_once(writable_tryton, tmp_path, monkeypatch):
    conn = conn_info(writable_tryton)
    client = TrytonClient(conn)
    add_payment_method(client)
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    sync_source(store, SOURCE, conn, until=FAR_FUTURE)
    invoices = [r for r in store.invoices() if r.type_code == "380"]
    full, part = invoices[0], invoices[3]
    half = (part.payable / 2).quantize(Decimal("0.01"))
    entries = [
        {"amount": full.payable, "ref": "R1", "name": full.buyer_name, "text": [f"FACTURE {full.number}"]},
        {"amount": half, "ref": "R3", "name": part.buyer_name, "text": [f"ACOMPTE {part.number}"]},
    ]
    assert ingest_file(store, "bnp", stage(tmp_path / "camt053_20261120.xml", camt053(entries)), run_id=None).outcome == "ingested"
    run_cash_application(store, einvoicing=EInvoicingConfig(channel={"kind": "folder", "path": str(tmp_path / "platform")}))
    with store.session() as s:
        allocs = {a.bank_ref: a for a in s.scalars(select(CashAllocation))}
    assert (allocs["R1"].invoice_number, allocs["R1"].amount) == (full.number, full.payable)
    assert (allocs["R3"].invoice_number, allocs["R3"].amount) == (part.number, half)
    for ref, alloc in allocs.items():  # a suggestion becomes applied cash once a person accepts it
        if alloc.status == "suggested":
            decide(store, ref, "accept", reviewer="test")

    ids = [int(full.source_id), int(part.source_id)]
    before = tryton_state(client, ids)
    assert before[ids[0]][:2] == ("posted", full.payable) and before[ids[1]][:2] == ("posted", part.payable)

    # the outbox: one command per applied allocation, enqueued once
    assert enqueue_payments(store, sources=[SOURCE]) == 2
    assert enqueue_payments(store, sources=[SOURCE]) == 0
    rows = {r.payload["bank_ref"]: r for r in outbox(store, "tryton_demo")}
    assert rows["R1"].payload == {"amount": str(full.payable), "currency": "EUR", "date": "2026-11-20",
                                  "bank_ref": "R1", "invoice_number": full.number,
                                  "bank_entry": f"E{allocs['R1'].bank_entry_id}", "tx_index": 0}
    assert rows["R1"].target_id == full.source_id and rows["R1"].status == "pending"

    connector = TrytonConnector(conn)
    first = push_pending(store, "tryton_demo", connector)
    assert (first.sent, first.failed, first.retry_later) == (2, 0, 0), first
    after = tryton_state(client, ids)
    assert after[ids[0]] == ("paid", Decimal("0"), 1)
    assert after[ids[1]] == ("posted", part.payable - half, 1)
    sent = {r.payload["bank_ref"]: r for r in outbox(store, "tryton_demo")}
    assert {r.status for r in sent.values()} == {"sent"} and all(r.remote_ref and r.sent_at for r in sent.values())
    line = client.read("account.move.line", [int(sent["R3"].remote_ref)], ["credit", "move_description_used"])
    assert line[int(sent["R3"].remote_ref)]["credit"] == half
    assert line[int(sent["R3"].remote_ref)]["move_description_used"].startswith(f"o2c:{sent['R3'].idempotency_key}")

    # again: nothing to enqueue, nothing to send, Tryton unchanged
    assert enqueue_payments(store, sources=[SOURCE]) == 0
    again = push_pending(store, "tryton_demo", connector)
    assert (again.sent, again.failed) == (0, 0)
    assert tryton_state(client, ids) == after

    # an answer lost after Tryton paid: the command is still pending, Tryton finds it by its key
    with store.session() as s:
        for row in s.scalars(select(WriteBackRow)):
            row.status, row.remote_ref = "pending", None
    resent = push_pending(store, "tryton_demo", connector)
    assert (resent.sent, resent.failed) == (2, 0)
    assert {r.payload["bank_ref"]: r.remote_ref for r in outbox(store, "tryton_demo")} == \
        {k: r.remote_ref for k, r in sent.items()}
    assert tryton_state(client, ids) == after

    # a command for an invoice Tryton does not have fails with a readable reason; the rest goes on
    ghost = WriteBackCommand(source="tryton_demo", kind="payment", target_id="999999", reason="test",
                             payload={"amount": "10.00", "currency": "EUR", "date": "2026-11-20", "bank_ref": "RX",
                                      "invoice_number": "FA-GHOST"})
    with store.session() as s:
        s.add(WriteBackRow(source=ghost.source, kind=ghost.kind, target_id=ghost.target_id, payload=ghost.payload,
                           reason=ghost.reason, idempotency_key=ghost.idempotency_key, status="pending", attempts=0,
                           created_at=utcnow()))
    bad = push_pending(store, "tryton_demo", connector)
    assert (bad.sent, bad.failed) == (0, 1)
    failed = next(r for r in outbox(store, "tryton_demo") if r.target_id == "999999")
    assert failed.status == "failed" and failed.attempts == 1
    assert "no invoice with id 999999" in failed.last_error and "FA-GHOST" in failed.last_error
    assert push_pending(store, "tryton_demo", connector).failed == 0  # a failed command is not retried
    assert tryton_state(client, ids) == after

    # the finance review page shows the failure first, with its reason, then what was sent

    from o2c.review import overview
    from o2c_airflow.review import render_overview

    html = render_overview(overview(store), "test")
    assert "Write-back to the ERPs (1 failed, 2 sent)" in html
    section = html[html.index("Write-back to the ERPs"):html.index("Risk flags")]
    assert section.index("FA-GHOST") < section.index(full.number) and "no invoice with id 999999" in section

    # the command line: enqueue then push, nothing left to do
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - name: tryton_demo\n    kind: tryton\n    connection: erp_tryton_wb\n")
    monkeypatch.setenv("O2C_DATABASE_URL", store.url)
    monkeypatch.setenv("O2C_HOME", str(tmp_path))
    monkeypatch.setenv("O2C_CONN_ERP_TRYTON_WB",
                       f"tryton://{conn.login}:{conn.password}@127.0.0.1:{conn.port}/{conn.schema}")
    from o2c.cli import cli
    result = CliRunner().invoke(cli, ["writeback", "push", "tryton_demo", "--sources", str(sources)])
    assert result.exit_code == 0, result.output
    # nothing left of the payments; the two Encaissée statuses the cash run emitted become status
    # commands, which wait for a person: this sources file gives no policy for them
    assert "enqueued 2, sent 0, failed 0" in result.output, result.output
    assert sorted((r.kind, r.status) for r in outbox(store, "tryton_demo") if r.kind != "payment") == \
        [("status", "awaiting_approval")] * 2
    assert tryton_state(client, ids) == after
    assert dt.date.fromisoformat(sent["R1"].payload["date"]) == dt.date(2026, 11, 20)
    client.close()
    connector.close()


def test_unconfigured_payment_method_keeps_commands_pending(writable_tryton, tmp_path):
    """Without a payment method in Tryton the command stays pending and the error names the fix."""
    from schemas.errors import ConfigError

    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    sync_source(store, SOURCE, conn_info(writable_tryton), until=FAR_FUTURE)
    inv = next(r for r in store.invoices() if r.type_code == "380")
    cmd = WriteBackCommand(source="tryton_demo", kind="payment", target_id=inv.source_id, reason="test",
                           payload={"amount": "1.00", "currency": "EUR", "date": "2026-11-20", "bank_ref": "RZ",
                                    "invoice_number": inv.number})
    with store.session() as s:
        s.add(WriteBackRow(source=cmd.source, kind=cmd.kind, target_id=cmd.target_id, payload=cmd.payload,
                           reason=cmd.reason, idempotency_key=cmd.idempotency_key, status="pending", attempts=0,
                           created_at=utcnow()))
    with pytest.raises(ConfigError, match="payment method"):
        push_pending(store, "tryton_demo", TrytonConnector(conn_info(writable_tryton)))
    assert [r.status for r in outbox(store)] == ["pending"]


@pytest.mark.airflow
def test_erp_writeback_dag_pays_in_tryton(airflow_db, writable_tryton, tmp_path):
    """The DAG end to end (``dag.test()`` in a subprocess): the connection comes from Airflow, the
    mapped task pushes the outbox, and a second run sends nothing."""
    from tests.dags.test_erp_invoice_sync_e2e import run_dag
    from tests.fixtures_airflow import REPO

    conn = conn_info(writable_tryton)
    client = TrytonClient(conn)
    add_payment_method(client)
    db_url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    store = Store(db_url)
    store.upgrade()
    sync_source(store, SOURCE, conn, until=FAR_FUTURE)
    inv = next(r for r in store.invoices() if r.type_code == "380")
    data = camt053([{"amount": inv.payable, "ref": "W1", "name": inv.buyer_name, "text": [f"FACTURE {inv.number}"]}])
    assert ingest_file(store, "bnp", stage(tmp_path / "camt.xml", data), run_id=None).outcome == "ingested"
    run_cash_application(store)
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - {name: tryton_demo, kind: tryton, connection: erp_tryton_demo,\n"
                       "     writeback: {policy: {payment: {auto: true}}}}\n"  # flows without approval: nobody is asked
                       "  - {name: drops, kind: filedrop, connection: drop_compta}\n")
    env = {
        **airflow_db,
        "O2C_HOME": str(tmp_path),
        "O2C_DATABASE_URL": db_url,
        "O2C_SOURCES": str(sources),
        "AIRFLOW_CONN_ERP_TRYTON_DEMO": f"tryton://{conn.login}:{conn.password}@127.0.0.1:{conn.port}/{conn.schema}",
        "PYTHONPATH": str(REPO),
    }
    first = run_dag(env, "erp_writeback")
    assert first["state"].endswith("success"), first
    assert first["tasks"]["writeback.push[0]"].endswith("success") and "writeback.push[1]" not in first["tasks"]  # filedrop takes no payments
    assert first["tasks"]["writeback.approve[0]"].endswith("skipped")  # nothing awaited approval
    rows = outbox(store, "tryton_demo")
    assert [(r.payload["bank_ref"], r.status) for r in rows] == [("W1", "sent")]
    assert tryton_state(client, [int(inv.source_id)])[int(inv.source_id)] == ("paid", Decimal("0"), 1)
    again = run_dag(env, "erp_writeback")
    assert again["state"].endswith("success"), again
    assert [(r.payload["bank_ref"], r.status, r.attempts) for r in outbox(store, "tryton_demo")] == \
        [("W1", "sent", rows[0].attempts)]
    assert tryton_state(client, [int(inv.source_id)])[int(inv.source_id)] == ("paid", Decimal("0"), 1)


def payment_lines_by_key(client: TrytonClient, invoice_id: int) -> dict[str, int]:
    """How many payment move lines of an invoice carry each o2c key (the first word of the move
    description), read over RPC."""
    (inv,) = client.read("account.invoice", [invoice_id], ["payment_lines"]).values()
    lines = client.read("account.move.line", inv["payment_lines"], ["move_description_used"])
    counts: dict[str, int] = {}
    for line in lines.values():
        word = (line["move_description_used"] or "").split(" ", 1)[0]
        counts[word] = counts.get(word, 0) + 1
    return counts


def batch_paid_twice(server: TrytonServer, tmp_path) -> tuple[Store, TrytonClient, Any, Decimal, list[CashAllocation]]:
    """A hub synced from ``server`` and a statement with one batch-booked entry (one AcctSvcrRef
    B1, two TxDtls, no end-to-end ids) paying one invoice in two equal halves, both applied: the
    engine settles the first transaction, a reviewer places the second on the same invoice."""
    conn = conn_info(server)
    client = TrytonClient(conn)
    add_payment_method(client)
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    sync_source(store, SOURCE, conn, until=FAR_FUTURE)
    inv = next(r for r in store.invoices() if r.type_code == "380" and (r.payable * 100) % 2 == 0)
    half = inv.payable / 2
    tx = {"amount": half, "name": inv.buyer_name, "text": [f"ACOMPTE {inv.number}"]}
    data = camt053([{"ref": "B1", "txs": [tx, dict(tx)]}])
    assert ingest_file(store, "bnp", stage(tmp_path / "camt053_batch.xml", data), run_id=None).outcome == "ingested"
    run_cash_application(store)
    with store.session() as s:
        lines = list(s.scalars(select(BankEntryRow.id).where(BankEntryRow.bank_ref == "B1").order_by(BankEntryRow.id)))
        placed = set(s.scalars(select(CashAllocation.bank_entry_id).where(CashAllocation.invoice_id == inv.id)))
    assert len(lines) == 2  # one hub line per transaction
    for line in lines:
        if line not in placed:
            decide(store, f"E{line}", "reallocate", reviewer="test", invoices=[inv.number])
    with store.session() as s:
        allocs = list(s.scalars(select(CashAllocation).where(CashAllocation.invoice_id == inv.id).order_by(CashAllocation.bank_entry_id)))
    for alloc in allocs:
        if alloc.status == "suggested":
            decide(store, f"E{alloc.bank_entry_id}", "accept", reviewer="test")
    assert [(a.bank_entry_id, a.bank_ref, a.amount) for a in allocs] == [(lines[0], "B1", half), (lines[1], "B1", half)]
    return store, client, inv, half, allocs


def hub_open(store: Store, invoice_id: int) -> Decimal:
    from o2c.store.cash import applied_amounts, open_amount
    from o2c.store.models import InvoiceRow

    with store.session() as s:
        row = s.get(InvoiceRow, invoice_id)
        return open_amount(row, applied_amounts(s, [invoice_id]))


def test_batch_entry_paying_one_invoice_twice_is_two_payments(writable_tryton, tmp_path):
    """Two transactions of one batch-booked entry (same bank reference, amount, date, invoice)
    are two payments: the key names the bank transaction, and Tryton finds each by its own key."""
    store, client, inv, half, allocs = batch_paid_twice(writable_tryton, tmp_path)
    assert enqueue_payments(store, sources=[SOURCE]) == 2
    rows = outbox(store, "tryton_demo")
    assert len({r.idempotency_key for r in rows}) == 2
    assert [(r.payload["bank_entry"], r.payload["tx_index"]) for r in rows] == \
        [(f"E{allocs[0].bank_entry_id}", 0), (f"E{allocs[1].bank_entry_id}", 1)]
    connector = TrytonConnector(conn_info(writable_tryton))
    summary = push_pending(store, "tryton_demo", connector)
    assert (summary.sent, summary.failed) == (2, 0), summary
    rows = outbox(store, "tryton_demo")
    assert len({r.remote_ref for r in rows}) == 2  # two payment lines, not the first one twice
    state, to_pay, lines = tryton_state(client, [int(inv.source_id)])[int(inv.source_id)]
    assert (state, lines) == ("paid", 2)
    assert to_pay == 0 == hub_open(store, inv.id)
    assert payment_lines_by_key(client, int(inv.source_id)) == {f"o2c:{r.idempotency_key}": 1 for r in rows}
    assert push_pending(store, "tryton_demo", connector).sent == 0
    connector.close()
    client.close()


def test_outbox_with_keys_of_older_versions_keeps_working(writable_tryton, tmp_path):
    """A store whose outbox was written before keys named the bank transaction: its row (the old
    payload and key) is still sent and found by its key, and the transaction it had swallowed
    is enqueued now."""
    store, client, inv, half, allocs = batch_paid_twice(writable_tryton, tmp_path)
    old = WriteBackCommand(source="tryton_demo", kind="payment", target_id=inv.source_id, reason="enqueued by 0.x",
                           payload={"amount": str(half), "currency": "EUR", "date": "2026-11-20", "bank_ref": "B1",
                                    "invoice_number": inv.number})
    with store.session() as s:  # what the old enqueue wrote, for the first allocation only
        s.add(WriteBackRow(source=old.source, kind=old.kind, target_id=old.target_id, payload=old.payload,
                           reason=old.reason, idempotency_key=old.idempotency_key, allocation_id=allocs[0].id,
                           status="pending", attempts=0, created_at=utcnow()))
    assert enqueue_payments(store, sources=[SOURCE]) == 1  # the second transaction, not the first again
    assert enqueue_payments(store, sources=[SOURCE]) == 0
    rows = outbox(store, "tryton_demo")
    assert [(r.allocation_id, "bank_entry" in r.payload) for r in rows] == [(allocs[0].id, False), (allocs[1].id, True)]
    connector = TrytonConnector(conn_info(writable_tryton))
    summary = push_pending(store, "tryton_demo", connector)
    assert (summary.sent, summary.failed) == (2, 0), summary
    keys = {f"o2c:{r.idempotency_key}": 1 for r in outbox(store, "tryton_demo")}
    assert f"o2c:{old.idempotency_key}" in keys
    assert payment_lines_by_key(client, int(inv.source_id)) == keys
    assert tryton_state(client, [int(inv.source_id)])[int(inv.source_id)][1] == inv.payable - 2 * half == hub_open(store, inv.id)
    # the old row's payment is found by its old key: sending it again records nothing new
    with store.session() as s:
        s.get(WriteBackRow, rows[0].id).status = "pending"
    assert push_pending(store, "tryton_demo", connector).sent == 1
    assert payment_lines_by_key(client, int(inv.source_id)) == keys
    connector.close()
    client.close()


@pytest.fixture(params=["sqlite", "postgres"])
def hub_store(request, tmp_path) -> Iterator[Store]:
    """An empty hub store on SQLite (a file) or on the local PostgreSQL (the session database,
    emptied first)."""
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    store = Store(url)
    store.upgrade()
    if request.param == "postgres":
        from o2c.store.models import Base

        with store.session() as s:
            for table in reversed(Base.metadata.sorted_tables):
                s.execute(table.delete())
    yield store
    store.engine.dispose()


def queue_payments(store: Store, client: TrytonClient, parts: list[tuple[int, int]]) -> list[WriteBackRow]:
    """Pending payment commands written straight into the outbox: ``(n, d)`` pays n/d of the
    (n+1)-th posted customer invoice of Tryton; returns the rows, oldest first."""
    invoices = client.search_read("account.invoice", [("type", "=", "out"), ("state", "=", "posted"),
                                                      ("total_amount", ">", 0)],
                                  order=[["id", "ASC"]], fields=["number", "amount_to_pay"])
    with store.session() as s:
        for i, (n, d) in enumerate(parts):
            inv = invoices[i]
            cmd = WriteBackCommand(source="tryton_demo", kind="payment", target_id=str(inv["id"]), reason="test",
                                   payload={"amount": str((inv["amount_to_pay"] * n / d).quantize(Decimal("0.01"))),
                                            "currency": "EUR", "date": "2026-11-20", "bank_ref": f"C{i}",
                                            "invoice_number": inv["number"]})
            s.add(WriteBackRow(source=cmd.source, kind=cmd.kind, target_id=cmd.target_id, payload=cmd.payload,
                               reason=cmd.reason, idempotency_key=cmd.idempotency_key, status="pending", attempts=0,
                               created_at=utcnow()))
    return outbox(store, "tryton_demo")


def payments_of(client: TrytonClient, rows: list[WriteBackRow]) -> dict[str, int]:
    """How many payment lines in Tryton carry each command's key."""
    counts = {f"o2c:{r.idempotency_key}": 0 for r in rows}
    for r in rows:
        for key, n in payment_lines_by_key(client, int(r.target_id)).items():
            if key in counts:
                counts[key] = n
    return counts


class PayCounter(TrytonConnector):
    """The Tryton connector, noting the description of every payment it makes (what it sent)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.paid: list[str] = []

    def _run_pay_wizard(self, invoice: dict[str, Any], amount: Decimal, date: dt.date, description: str, method: int) -> None:
        super()._run_pay_wizard(invoice, amount, date, description, method)
        self.paid.append(description.split(" ", 1)[0])


class HeldBeforePaying(PayCounter):
    """Stops in its first payment after Tryton was searched for the key and before the pay wizard
    runs (the window of "find by key, then pay"), until the test lets it go."""

    def __init__(self, *args: Any, in_window: threading.Event, go: threading.Event, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_window, self.go = in_window, go

    def _run_pay_wizard(self, *args: Any) -> None:
        if not self.in_window.is_set():
            self.in_window.set()
            if not self.go.wait(120):
                raise RuntimeError("the test never let the held push go on")
        super()._run_pay_wizard(*args)


def test_overlapping_pushes_send_each_command_once(writable_tryton, hub_store):
    """Two pushes of one source at once (the DAG and the command line): the first is held between
    finding no payment for its command and paying it, the second runs to its end meanwhile.
    Every command is paid exactly once in Tryton and recorded sent once in the hub."""
    conn = conn_info(writable_tryton)
    client = TrytonClient(conn)
    add_payment_method(client)
    rows = queue_payments(hub_store, client, [(1, 3), (1, 2), (1, 4)])  # partial payments: a second one would go through
    in_window, go = threading.Event(), threading.Event()
    held = HeldBeforePaying(conn, in_window=in_window, go=go)
    other = PayCounter(conn)
    second_store = Store(hub_store.url)  # the other pusher: its own engine and connections
    outcome: dict[str, Any] = {}

    def first_push() -> None:
        try:
            outcome["first"] = push_pending(hub_store, "tryton_demo", held)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["first"] = exc

    thread = threading.Thread(target=first_push, name="first-push")
    thread.start()
    try:
        assert in_window.wait(120), outcome
        outcome["second"] = push_pending(second_store, "tryton_demo", other)
    finally:
        go.set()
        thread.join(120)
    assert not thread.is_alive()
    first, second = outcome["first"], outcome["second"]
    assert isinstance(first, PushSummary), first
    assert first.sent + second.sent == 3 and first.failed == second.failed == 0, (first, second)
    assert sorted(held.paid + other.paid) == sorted(f"o2c:{r.idempotency_key}" for r in rows)
    assert held.paid[0] == f"o2c:{rows[0].idempotency_key}" and held.paid[0] not in other.paid
    assert payments_of(client, rows) == {f"o2c:{r.idempotency_key}": 1 for r in rows}
    done = outbox(hub_store, "tryton_demo")
    assert [r.status for r in done] == ["sent"] * 3 and all(r.remote_ref for r in done)
    assert len({r.claimed_by for r in done}) == 2  # each pusher sent its own
    second_store.engine.dispose()
    for c in (held, other, client):
        c.close()


class PusherDied(Exception):
    """Stands for a pusher killed mid-send (the process gone): push_pending does not handle it."""


class DiesAfterPaying(TrytonConnector):
    def push_payment(self, command: WriteBackCommand) -> str:
        super().push_payment(command)
        raise PusherDied("killed after Tryton recorded the payment, before the hub did")


class DiesBeforePaying(TrytonConnector):
    def push_payment(self, command: WriteBackCommand) -> str:
        raise PusherDied("killed before anything reached Tryton")


def test_stale_claim_is_checked_in_tryton_before_sending(writable_tryton, hub_store, monkeypatch):
    """A pusher that died while sending leaves its command 'sending'. Before the claim timeout
    nobody touches it; after it, the next push looks the command up in Tryton first: a payment
    already made is recorded, not made again; a payment never made is made once."""
    conn = conn_info(writable_tryton)
    client = TrytonClient(conn)
    add_payment_method(client)
    rows = queue_payments(hub_store, client, [(1, 3), (1, 2), (1, 4)])
    keys = [f"o2c:{r.idempotency_key}" for r in rows]
    monkeypatch.delenv("O2C_WRITEBACK_CLAIM_TIMEOUT", raising=False)  # the default: one hour
    with pytest.raises(PusherDied):
        push_pending(hub_store, "tryton_demo", DiesAfterPaying(conn))
    with pytest.raises(PusherDied):
        push_pending(hub_store, "tryton_demo", DiesBeforePaying(conn))
    left = outbox(hub_store, "tryton_demo")
    assert [r.status for r in left] == ["sending", "sending", "pending"]
    assert all(r.claimed_by and r.claimed_at for r in left[:2]) and left[0].claimed_by != left[1].claimed_by
    assert payments_of(client, rows) == {keys[0]: 1, keys[1]: 0, keys[2]: 0}

    # within the timeout the claims are left alone; the pending command goes
    live = PayCounter(conn)
    summary = push_pending(hub_store, "tryton_demo", live)
    assert (summary.sent, summary.recovered, live.paid) == (1, 0, [keys[2]])
    assert [r.status for r in outbox(hub_store, "tryton_demo")] == ["sending", "sending", "sent"]

    # past the timeout: the first is found in Tryton (not paid again), the second is paid once
    monkeypatch.setenv("O2C_WRITEBACK_CLAIM_TIMEOUT", "0")
    recover = PayCounter(conn)
    summary = push_pending(hub_store, "tryton_demo", recover)
    assert (summary.sent, summary.recovered, summary.failed) == (2, 2, 0), summary
    assert recover.paid == [keys[1]]
    assert payments_of(client, rows) == {k: 1 for k in keys}
    done = outbox(hub_store, "tryton_demo")
    assert [r.status for r in done] == ["sent"] * 3
    (paid,) = client.read("account.invoice", [int(rows[0].target_id)], ["payment_lines"]).values()
    (first_line,) = paid["payment_lines"]  # the payment the dead pusher made is the one recorded
    assert done[0].remote_ref == str(first_line)
    assert push_pending(hub_store, "tryton_demo", recover).sent == 0
    for c in (live, recover, client):
        c.close()


def test_tryton_takes_only_a_payment_with_exactly_the_key_for_its_own(writable_tryton):
    """A payment whose description merely starts with a command's key (the key and more) is
    another payment: the command is still paid, and its own payment is the one returned."""
    conn = conn_info(writable_tryton)
    client = TrytonClient(conn)
    add_payment_method(client)
    (inv,) = client.search_read("account.invoice", [("type", "=", "out"), ("state", "=", "posted"), ("total_amount", ">", 0)],
                                limit=1, order=[["id", "ASC"]], fields=["number", "amount_to_pay"])
    quarter = (inv["amount_to_pay"] / 4).quantize(Decimal("0.01"))
    cmd = WriteBackCommand(source="tryton_demo", kind="payment", target_id=str(inv["id"]), reason="test",
                           payload={"amount": str(quarter), "currency": "EUR", "date": "2026-11-20", "bank_ref": "K1",
                                    "invoice_number": inv["number"]})
    connector = TrytonConnector(conn)
    (invoice,) = client.read("account.invoice", [inv["id"]], ["number", "amount_to_pay", "company"]).values()
    connector._run_pay_wizard(invoice, quarter, dt.date(2026, 11, 20), f"o2c:{cmd.idempotency_key}0 K0",
                              connector._payment_method(invoice["company"]))
    (lookalike,) = client.read("account.invoice", [inv["id"]], ["payment_lines"])[inv["id"]]["payment_lines"]
    ref = connector.push_payment(cmd)
    assert ref != str(lookalike)
    assert payment_lines_by_key(client, inv["id"]) == {f"o2c:{cmd.idempotency_key}0": 1, f"o2c:{cmd.idempotency_key}": 1}
    assert connector.push_payment(cmd) == ref  # and found again by its exact key
    connector.close()
    client.close()


def test_dry_run_shows_the_change_read_from_tryton_and_writes_nothing(writable_tryton, tmp_path, monkeypatch):
    """``o2c writeback push SOURCE --dry-run``: per command (waiting, pending, or one an enqueue
    would add) the invoice and its amount to pay and state before -> after, read from Tryton;
    neither Tryton, nor the outbox, nor the audit trail change."""
    from o2c.cli import cli
    from o2c.store import audit

    conn = conn_info(writable_tryton)
    client = TrytonClient(conn)
    add_payment_method(client)
    home = tmp_path / "home"
    home.mkdir()
    (home / "sources.yaml").write_text("sources:\n  - name: tryton_demo\n    kind: tryton\n    connection: erp_dry\n")
    monkeypatch.setenv("O2C_HOME", str(home))
    monkeypatch.setenv("O2C_SOURCES", str(home / "sources.yaml"))
    monkeypatch.delenv("O2C_DATABASE_URL", raising=False)
    monkeypatch.setenv("O2C_CONN_ERP_DRY", f"tryton://{writable_tryton.admin_login}:{writable_tryton.admin_password}"
                                           f"@127.0.0.1:{writable_tryton.port}/{writable_tryton.database}")
    from o2c.settings import get_settings

    store = Store(get_settings().database_url)
    store.upgrade()
    sync_source(store, SOURCE, conn, until=FAR_FUTURE)
    full, part = [r for r in store.invoices() if r.type_code == "380"][:2]
    half = (part.payable / 2).quantize(Decimal("0.01"))
    entries = [{"amount": full.payable, "ref": "D1", "name": full.buyer_name, "text": [f"FACTURE {full.number}"]}]
    assert ingest_file(store, "bnp", stage(tmp_path / "camt053_20261120.xml", camt053(entries)), run_id=None).outcome == "ingested"
    run_cash_application(store, einvoicing=EInvoicingConfig(channel={"kind": "folder", "path": str(tmp_path / "platform")}))
    bare = SourceConfig(name="tryton_demo", kind="tryton", connection="erp_dry")  # no policy: the payment waits
    assert enqueue_payments(store, sources=[bare]) == 1
    entries = [{"amount": half, "ref": "D2", "name": part.buyer_name, "text": [f"ACOMPTE {part.number}"]}]
    assert ingest_file(store, "bnp", stage(tmp_path / "camt053_20261121.xml",
                                           camt053(entries, day=dt.date(2026, 11, 21), stmt_id="STMT-2026-11-21", seq=321)),
                       run_id=None).outcome == "ingested"
    run_cash_application(store, einvoicing=EInvoicingConfig(channel={"kind": "folder", "path": str(tmp_path / "platform")}))

    ids = [int(full.source_id), int(part.source_id)]
    before = tryton_state(client, ids)
    rows_before = [(r.id, r.status, r.idempotency_key) for r in outbox(store)]
    head_before = audit.verify(store)
    res = CliRunner().invoke(cli, ["writeback", "push", "tryton_demo", "--dry-run", "--json"])
    assert res.exit_code == 0, res.output
    shown = {c["target_id"]: c for c in json.loads(res.output)["commands"]}
    assert shown[full.source_id]["status"] == "awaiting_approval" and shown[full.source_id]["id"] == rows_before[0][0]
    assert shown[full.source_id]["target"] == f"account.invoice {full.source_id} ({full.number})"
    assert shown[full.source_id]["changes"] == [
        {"field": "amount_to_pay", "before": str(before[ids[0]][1]), "after": str(before[ids[0]][1] - full.payable)},
        {"field": "state", "before": "posted", "after": "paid"}]
    assert "waits for an approval" in shown[full.source_id]["note"]
    assert shown[part.source_id]["status"] == "new awaiting_approval" and shown[part.source_id]["id"] is None
    assert shown[part.source_id]["changes"] == [
        {"field": "amount_to_pay", "before": str(before[ids[1]][1]), "after": str(before[ids[1]][1] - half)},
        {"field": "state", "before": "posted", "after": "posted"}]
    text = CliRunner().invoke(cli, ["writeback", "push", "tryton_demo", "--dry-run"])
    assert text.exit_code == 0 and f"amount_to_pay: {before[ids[0]][1]} -> 0.00" in text.output
    # nothing written anywhere
    assert tryton_state(client, ids) == before
    assert [(r.id, r.status, r.idempotency_key) for r in outbox(store)] == rows_before
    assert audit.verify(store) == head_before
