"""Issue e-invoices: every new or changed invoice in the store, rendered in its customer's format
(Factur-X, CII, UBL), validated against the official EN 16931 artefacts, delivered once.

Runs when an ERP sync has updated the store's invoices (Airflow asset), and daily as a safety net.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from o2c_airflow.assets import EINVOICES, INVOICES


@dag(
    dag_id="einvoice_outbound",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 6 * * *", timezone="UTC"), assets=INVOICES),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["o2c", "einvoicing"],
    default_args={"owner": "o2c-hub", "retries": 3, "retry_delay": dt.timedelta(minutes=2), "retry_exponential_backoff": True},
    doc_md=__doc__,
)
def einvoice_outbound() -> None:
    @task(outlets=[EINVOICES])
    def render_validate_deliver(**context) -> dict:  # type: ignore[no-untyped-def]
        from o2c_airflow.einvoice import run_outbound

        return run_outbound(context)

    render_validate_deliver()


einvoice_outbound()
