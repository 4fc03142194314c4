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
