"""The Airflow glue translates library errors and fixes the data window."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pendulum
import pytest

pytestmark = pytest.mark.airflow


def test_fatal_fails_without_retry_and_retriable_retries():
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from o2c_airflow.runtime import airflow_errors
    from schemas.errors import AuthError, RetriableError

    with pytest.raises(AirflowFailException, match="not retried"):
        with airflow_errors():
            raise AuthError("Tryton: HTTP 401")
    with pytest.raises(AirflowException) as err:
        with airflow_errors():
            raise RetriableError("Tryton: HTTP 503")
    assert not isinstance(err.value, AirflowFailException)
    assert "will be retried" in str(err.value)


def test_window_end_scheduled_and_manual():
    from o2c_airflow.runtime import window_end

    end = pendulum.datetime(2026, 3, 1, 10, tz="Europe/Paris")
    scheduled = {"dag_run": SimpleNamespace(run_type="scheduled", run_after=end.add(minutes=5)), "data_interval_end": end}
    assert window_end(scheduled) == dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    manual = {"dag_run": SimpleNamespace(run_type="manual", run_after=end.add(minutes=5)), "data_interval_end": end}
    assert window_end(manual) == dt.datetime(2026, 3, 1, 9, 5, tzinfo=dt.UTC)


def test_publish_updates_the_bank_statements_asset_only_when_statements_were_stored():
    from airflow.sdk.exceptions import AirflowSkipException

    from o2c_airflow.bank import publish_bank

    event = SimpleNamespace(extra={})
    only_duplicates = {"bank": "beta", "statements_stored": 0, "entries_stored": 0, "duplicates": 2, "quarantined": 0}
    with pytest.raises(AirflowSkipException, match="beta: no new statement stored"):
        publish_bank(only_duplicates, event)
    assert event.extra == {}

    stored = {**only_duplicates, "statements_stored": 3, "entries_stored": 12}
    assert publish_bank(stored, event) == {"bank": "beta", "statements_stored": 3, "entries_stored": 12}
    assert event.extra == {"bank": "beta", "statements_stored": 3, "entries_stored": 12}


def test_writeback_maps_over_sources_that_record_payments(tmp_path, monkeypatch):
    from o2c_airflow.writeback import payment_source_names

    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n"
        "  - {name: erp_tryton, kind: tryton, connection: erp_tryton}\n"
        "  - {name: drops, kind: filedrop, connection: drop_compta}\n"
        "  - {name: erp_old, kind: tryton, connection: erp_old, enabled: false}\n",
        encoding="utf-8")
    monkeypatch.setenv("O2C_SOURCES", str(sources))
    assert payment_source_names() == ["erp_tryton"]


def test_writeback_refuses_a_source_that_does_not_record_payments(tmp_path, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    from o2c_airflow.writeback import run_writeback

    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - {name: drops, kind: filedrop, connection: drop_compta}\n", encoding="utf-8")
    monkeypatch.setenv("O2C_SOURCES", str(sources))
    with pytest.raises(AirflowFailException, match="'drops' \\(filedrop\\) does not support payment write-back"):
        run_writeback("drops", {})


def test_a_task_on_a_store_not_migrated_fails_at_once_and_creates_nothing(tmp_path, monkeypatch):
    """Migrating is a deployment step (``o2c db upgrade``): a task only checks the revision, so
    mapped tasks starting together on a fresh database never race to create the tables."""
    import sqlalchemy as sa
    from airflow.sdk.exceptions import AirflowFailException
    from click.testing import CliRunner

    from o2c.cli import cli
    from o2c.store import Store
    from o2c_airflow.cash import run_risk

    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    monkeypatch.setenv("O2C_HOME", str(tmp_path))
    monkeypatch.setenv("O2C_DATABASE_URL", url)
    context = {"data_interval_end": dt.datetime(2026, 11, 30, tzinfo=dt.UTC)}
    head = Store(url).head_revision()
    with pytest.raises(AirflowFailException, match=f"is empty, this code needs {head}: run 'o2c db upgrade'"):
        run_risk(context)
    assert sa.inspect(sa.create_engine(url)).get_table_names() == []

    assert CliRunner().invoke(cli, ["db", "upgrade"]).exit_code == 0
    assert run_risk(context)["as_of"] == "2026-11-30"


def test_check_revision_names_the_store_without_its_password_and_both_revisions(monkeypatch):
    from o2c.store import Store
    from schemas.errors import ConfigError

    store = Store("postgresql+psycopg://hub:s3cret@db.example:5432/hub")  # never connected: the revision is stubbed
    head = store.head_revision()
    monkeypatch.setattr(Store, "current_revision", lambda self: "0001")
    with pytest.raises(ConfigError) as err:
        store.check_revision()
    assert str(err.value) == (f"the hub store at postgresql+psycopg://hub:***@db.example:5432/hub is at revision 0001, "
                              f"this code needs {head}: run 'o2c db upgrade' (a deployment step)")
    monkeypatch.setattr(Store, "current_revision", lambda self: "ffffffffffff")
    with pytest.raises(ConfigError, match="which this code does not know"):
        store.check_revision()
    monkeypatch.setattr(Store, "current_revision", lambda self: head)
    store.check_revision()


@pytest.mark.parametrize("on_timeout", ["refuse", "wait"])
def test_an_approval_nobody_answered_never_approves(tmp_path, monkeypatch, on_timeout):
    """At its timeout Airflow resumes the approval task with its default, Refuse, and no user: the
    commands are refused as airflow:timeout (or, with on_timeout: wait, left waiting); an answer
    from a user the source does not name fails the task, nothing recorded."""
    from airflow.sdk.exceptions import AirflowFailException

    from o2c.config import SourceConfig
    from o2c.jobs.approval import approvals, awaiting
    from o2c.jobs.writeback import enqueue_payments, outbox
    from o2c.store import Store
    from o2c_airflow.approval import WriteBackApprovalOperator, request_body
    from o2c_airflow.writeback import record_response
    from tests.cash.test_writeback_approval import _three_payments

    assert WriteBackApprovalOperator(task_id="t", request={}).defaults == ["Refuse"]
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - name: erp1\n    kind: tryton\n    connection: x\n"
                       f"    writeback: {{approvers: [alice], response_timeout: 2h, on_timeout: {on_timeout}}}\n")
    db = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    monkeypatch.setenv("O2C_SOURCES", str(sources))
    monkeypatch.setenv("O2C_DATABASE_URL", db)
    store = Store(db)
    store.upgrade()
    _three_payments(store, tmp_path)
    enqueue_payments(store, sources=[SourceConfig(name="erp1", kind="tryton", connection="x")])
    ids = [r.id for r in awaiting(store, "erp1")]
    assert len(ids) == 3
    body = request_body({"source": "erp1", "commands": [{"id": 1, "kind": "payment", "target": "FA-1|x", "amount": "1.00",
                                                        "currency": "EUR", "bank_ref": "[x](http://e.example)"}]})
    assert "| 1 | payment | FA-1\\|x | 1.00 EUR | \\[x\\]\\(http://e.example\\) |" in body  # outside text stays text

    stranger = {"chosen_options": ["Approve"], "params_input": {"reason": "ok"}, "responded_by_user": {"id": "eve", "name": "eve"},
                "source": "erp1", "commands": ids, "timed_out": False}
    with pytest.raises(AirflowFailException, match="'eve' is not an approver of source 'erp1'"):
        record_response(stranger, {})
    timeout = {"chosen_options": ["Refuse"], "params_input": {"reason": ""}, "responded_by_user": None,
               "source": "erp1", "commands": ids, "timed_out": True}
    done = record_response(timeout, {})
    statuses = {r.status for r in outbox(store, "erp1")}
    if on_timeout == "refuse":
        assert done["decided_by"] == "airflow:timeout" and done["commands"] == ids and statuses == {"refused"}
        (approval,) = approvals(store, "erp1")
        assert approval.reason == "no answer in Airflow within 2:00:00 (on_timeout: refuse)"
    else:
        assert done["decision"] is None and statuses == {"awaiting_approval"} and approvals(store, "erp1") == []
