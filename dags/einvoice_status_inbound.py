"""Record the lifecycle statuses (CDAR: Déposée, Rejetée, Refusée, Encaissée...) that approved
platforms drop for us, and link them to the invoices in the store."""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="einvoice_status_inbound",
    schedule="*/30 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["o2c", "einvoicing"],
    default_args={"owner": "o2c-hub", "retries": 3, "retry_delay": dt.timedelta(minutes=2)},
    doc_md=__doc__,
)
def einvoice_status_inbound() -> None:
    @task
    def ingest(**context) -> dict:  # type: ignore[no-untyped-def]
        from o2c_airflow.einvoice import run_status_inbound

        return run_status_inbound(context)

    ingest()


einvoice_status_inbound()
