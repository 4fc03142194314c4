"""Pull customers, invoices and credit notes from every configured ERP/CRM source.

One mapped task per source (dynamic task mapping): a failing source does not stop the others.
Each task pulls its window, maps, validates, upserts and records a sync run; data passes
through the store, XCom carries only counts.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import dag, task

from o2c_airflow.assets import INVOICES


@dag(
    dag_id="erp_invoice_sync",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["o2c", "erp", "sync"],
    default_args={"owner": "o2c-hub", "retries": 3, "retry_delay": dt.timedelta(minutes=1), "retry_exponential_backoff": True},
    doc_md=__doc__,
)
def erp_invoice_sync() -> None:
    @task(retries=0)
    def configured_sources() -> list[str]:
        from o2c_airflow.runtime import enabled_source_names

        return enabled_source_names()

    @task(map_index_template="{{ task.op_kwargs['source'] }}", outlets=[INVOICES])
    def sync(source: str, **context) -> dict:  # type: ignore[no-untyped-def]
        from o2c_airflow.runtime import run_source_sync

        return run_source_sync(source, context)

    @task(trigger_rule="all_done", retries=0)
    def report(summaries: list) -> dict:  # type: ignore[type-arg]
        from o2c_airflow.runtime import report_runs

        return report_runs(list(summaries))

    report(sync.expand(source=configured_sources()))


erp_invoice_sync()
