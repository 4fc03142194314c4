"""Cash application (lettrage): match the newly ingested bank credits to open invoices of every
source, store allocations, unapplied cash, write-off candidates and flags, emit Encaissée.

Triggered by new bank statements in the store (asset written by bank_statement_ingest).
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import dag, task

from o2c_airflow.assets import ALLOCATIONS, BANK_STATEMENTS


@dag(
    dag_id="cash_application",
    schedule=[BANK_STATEMENTS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["o2c", "cash"],
    default_args={"owner": "o2c-hub", "retries": 2, "retry_delay": dt.timedelta(minutes=2)},
    doc_md=__doc__,
)
def cash_application() -> None:
    @task(outlets=[ALLOCATIONS])
    def apply(**context) -> dict:  # type: ignore[no-untyped-def]
        from o2c_airflow.cash import run_cash

        return run_cash(context)

    apply()


cash_application()
