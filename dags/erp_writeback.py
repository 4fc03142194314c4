"""ERP write-back: the cash applied in the hub (auto and reviewer-accepted allocations) is recorded
as payments in the source ERPs, through an idempotent outbox (one mapped task per source whose
connector records payments; a command is sent once, even after a lost answer).

Triggered by new cash allocations (asset written by cash_application).
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import dag, task

from o2c_airflow.assets import ALLOCATIONS


@dag(
    dag_id="erp_writeback",
    schedule=[ALLOCATIONS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["o2c", "writeback"],
    default_args={"owner": "o2c-hub", "retries": 3, "retry_delay": dt.timedelta(minutes=5)},
    doc_md=__doc__,
)
def erp_writeback() -> None:
    @task
    def sources() -> list[str]:
        from o2c_airflow.writeback import payment_source_names

        return payment_source_names()

    @task(map_index_template="{{ task.op_kwargs['source_name'] }}")
    def push(source_name: str, **context) -> dict:  # type: ignore[no-untyped-def]
        from o2c_airflow.writeback import run_writeback

        return run_writeback(source_name, context)

    push.expand(source_name=sources())


erp_writeback()
