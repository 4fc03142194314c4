"""The collections DAG end to end with dag.test(): promises refreshed, the day's reminders planned
and recorded under the DAG's task, the invoices left out with their rule; a second run adds nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from o2c.store import Store
from o2c.store.collections import PromiseRow, ReminderRow, SkipRow, add_promise, open_dispute
from o2c.store.models import CustomerRow
from o2c.store.parties import consolidate
from schemas import Contact, Customer, Identifier, SourceRef
from tests.collections.smtp_server import smtp_server
from tests.collections.test_dunning_run import SIRENS
from tests.dags.test_erp_invoice_sync_e2e import run_dag
from tests.fixtures_airflow import REPO
from tests.schemas.test_validation import make_invoice

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def _seed(store: Store, today: dt.date) -> None:
    for i, name in enumerate(["Relance SA", "Litige SARL", "Promesse Rompue SA"]):
        cust = Customer(source=SourceRef(system="erp1", id=f"c{i}"), name=name, siren=SIRENS[i], dunning_language="fr",
                        dunning_contacts=[Contact(name="Compta", email=f"compta{i}@example.com")])
        with store.session() as s:
            consolidate(s, s.get(CustomerRow, store.upsert_customer(s, cust, run_id=None).row_id))
    for i, number, days in [(0, "R-1", 45), (1, "L-1", 45), (2, "P-1", 45)]:
        inv = make_invoice(number=number)
        inv.buyer.legal_registration = Identifier(value=SIRENS[i], scheme="0002")
        inv.issue_date, inv.due_date = today - dt.timedelta(days=days + 30), today - dt.timedelta(days=days)
        inv.source = SourceRef(system="erp1", id=number, updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        with store.session() as s:
            store.upsert_invoice(s, inv, run_id=None)
    open_dispute(store, "L-1", reason="price", by="claire", on=today - dt.timedelta(days=2))
    add_promise(store, ["P-1"], amount="100.00", due_on=today - dt.timedelta(days=10), by="marc",
                on=today - dt.timedelta(days=20))


def test_the_collections_dag_plans_and_records_the_days_reminders(airflow_db, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    sources = tmp_path / "sources.yaml"
    sources.write_text("collections:\n  levels:\n    - {level: 1, days: 10}\n    - {level: 2, days: 40}\n"
                       "  indemnity: \"40.00\"\n  smtp_connection: smtp_test\n"
                       "  sender_email: recouvrement@acme.example\n")
    box_cm = smtp_server()
    box, smtp = box_cm.__enter__()
    env = {**airflow_db, "O2C_HOME": str(tmp_path), "O2C_DATABASE_URL": db_url, "O2C_SOURCES": str(sources),
           "PYTHONPATH": str(REPO), "AIRFLOW_CONN_SMTP_TEST": f"smtp://{smtp.host}:{smtp.port}?security=none"}
    store = Store(db_url)
    store.upgrade()  # a deployment step: the tasks only check the revision
    today = dt.datetime.now(dt.UTC).date()  # a manual dag.test() run's window ends when it is triggered
    _seed(store, today)

    first = run_dag(env, "collections")
    assert first["state"].endswith("success"), first
    assert sorted(first["tasks"]) == ["plan_reminders", "refresh_promises", "send_reminders"], first
    assert all(state.endswith("success") for state in first["tasks"].values()), first
    with store.session() as s:
        reminders = {(r.customer_name, r.level, r.status, r.indemnity) for r in s.scalars(select(ReminderRow))}
        skips = {(k.invoice_number, k.rule) for k in s.scalars(select(SkipRow))}
        promise = s.scalars(select(PromiseRow)).one()
    assert reminders == {("Relance SA", 2, "sent", Decimal("40.00")),
                         ("Promesse Rompue SA", 2, "sent", Decimal("40.00"))}
    assert skips == {("L-1", "disputed")}
    assert promise.status == "broken" and promise.checked_on >= today
    # sent over the SMTP connection the DAG's task read from Airflow, to each customer's contact
    assert sorted(tuple(m.rcpt_tos) for m in box.received) == [("compta0@example.com",), ("compta2@example.com",)]
    assert all(m.message["From"].endswith("<recouvrement@acme.example>") for m in box.received)
    [run] = [r for r in store.runs("collections") if r.stream == "dunning"]
    assert (run.dag_id, run.task_id, run.airflow_run_id, run.status, run.inserted) == (
        "collections", "plan_reminders", first["run_id"], "success", 2)

    again = run_dag(env, "collections")
    assert again["state"].endswith("success"), again
    with store.session() as s:
        assert len(s.scalars(select(ReminderRow)).all()) == 2
    latest = [r for r in store.runs("collections") if r.airflow_run_id == again["run_id"]]
    assert ("plan_reminders", 0) in [(r.task_id, r.inserted) for r in latest]
    assert len(box.received) == 2  # nothing sent twice
    box_cm.__exit__(None, None, None)
