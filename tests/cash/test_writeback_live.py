"""Applied cash written back to Tryton through the outbox: a full and a partial payment recorded with
the pay wizard, nothing sent twice (neither by the hub nor on Tryton's side), a bad command failed
with its reason.

Paying invoices changes the ERP, so this test serves its own copy of the seeded database (a file
copy of the cache the session ``tryton_server`` built, and about 3 s to start) instead of the
shared read-mostly server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from connectors.tryton import TrytonClient, TrytonConnector
from o2c.bank_ingest import ingest_file
from o2c.cash_application import run_cash_application
from o2c.cash_review import decide
from o2c.demo_bank import camt053
from o2c.einvoicing import EInvoicingConfig
from o2c.sources import SourceConfig
from o2c.store import Store, utcnow
from o2c.store.cash import CashAllocation
from o2c.store.writeback import WriteBackRow
from o2c.sync import sync_source
from o2c.tryton_demo.server import TrytonServer, prepare_database
from o2c.writeback import enqueue_payments, outbox, push_pending
from schemas.receivables import WriteBackCommand
from tests.cash.test_cash_application_live import stage
from tests.connectors.test_tryton_live import FAR_FUTURE, conn_info
from tests.fixtures_tryton import TRYTON_INVOICES, TRYTON_SEED, tryton_cache_dir

pytestmark = [pytest.mark.tryton, pytest.mark.slow]
SOURCE = SourceConfig(name="tryton_demo", kind="tryton", connection="x")


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
                                  "bank_ref": "R1", "invoice_number": full.number}
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
    import sys

    from tests.fixtures_airflow import REPO

    sys.path.insert(0, str(REPO / "plugins"))
    from o2c_airflow.review import render_overview

    from o2c.review import overview

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
    assert "enqueued 0, sent 0, failed 0" in result.output
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
    sources.write_text("sources:\n  - {name: tryton_demo, kind: tryton, connection: erp_tryton_demo}\n"
                       "  - {name: drops, kind: filedrop, connection: drop_compta}\n")
    env = {
        **airflow_db,
        "O2C_HOME": str(tmp_path),
        "O2C_DATABASE_URL": db_url,
        "O2C_SOURCES": str(sources),
        "AIRFLOW_CONN_ERP_TRYTON_DEMO": f"tryton://{conn.login}:{conn.password}@127.0.0.1:{conn.port}/{conn.schema}",
        "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}",
    }
    first = run_dag(env, "erp_writeback")
    assert first["state"].endswith("success"), first
    assert first["tasks"]["push[0]"].endswith("success") and "push[1]" not in first["tasks"]  # filedrop takes no payments
    rows = outbox(store, "tryton_demo")
    assert [(r.payload["bank_ref"], r.status) for r in rows] == [("W1", "sent")]
    assert tryton_state(client, [int(inv.source_id)])[int(inv.source_id)] == ("paid", Decimal("0"), 1)
    again = run_dag(env, "erp_writeback")
    assert again["state"].endswith("success"), again
    assert [(r.payload["bank_ref"], r.status, r.attempts) for r in outbox(store, "tryton_demo")] == \
        [("W1", "sent", rows[0].attempts)]
    assert tryton_state(client, [int(inv.source_id)])[int(inv.source_id)] == ("paid", Decimal("0"), 1)
