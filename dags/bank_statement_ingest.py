"""Pick up bank statement files over SFTP and store them exactly once.

One mapped task group per configured bank (the ``banks:`` section of the sources file):
``check`` lists the bank's folder and keeps the files that have settled and are not in the
ledger (skips the bank when there is nothing new), ``fetch`` downloads them into a staging
folder keyed by this run, ``ingest`` ledgers each file by content hash, parses and checks it,
stores its statements in one transaction (or quarantines it whole), then archives it on the
server. ``publish`` updates the asset ``o2c://store/bank_statements`` (which triggers the
cash-application DAG) only when the bank stored at least one new statement: it is skipped, and
no asset event is emitted, when the pick-up found only duplicates. ``summary`` reports the
counts (files refused by the transport too: an unsafe name, over the size limit; they stay on
the server) and any statement sequence gap.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import dag, task, task_group

from o2c_airflow.assets import BANK_STATEMENTS


@dag(
    dag_id="bank_statement_ingest",
    schedule="*/15 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["o2c", "bank", "sftp"],
    default_args={"owner": "o2c-hub", "retries": 3, "retry_delay": dt.timedelta(minutes=1), "retry_exponential_backoff": True},
    doc_md=__doc__,
)
def bank_statement_ingest() -> None:
    @task(retries=0)
    def configured_banks() -> list[str]:
        from o2c_airflow.bank import enabled_bank_names

        return enabled_bank_names()

    @task(show_return_value_in_logs=False)  # remote file names may hold account numbers
    def check(bank: str) -> dict:  # type: ignore[type-arg]
        from o2c_airflow.bank import check_bank

        return check_bank(bank)

    @task(show_return_value_in_logs=False)
    def fetch(listing: dict, run_id=None) -> dict:  # type: ignore[no-untyped-def, type-arg]
        from o2c_airflow.bank import fetch_bank

        return fetch_bank(listing, run_id)

    @task
    def ingest(fetched: dict, **context) -> dict:  # type: ignore[no-untyped-def, type-arg]
        from o2c_airflow.bank import ingest_bank

        return ingest_bank(fetched, context)

    # The outlet sits on its own task: Airflow emits the asset event when a task with outlets
    # succeeds and none when it is skipped, and this one skips when nothing new was stored.
    @task(outlets=[BANK_STATEMENTS])
    def publish(ingested: dict, outlet_events=None) -> dict:  # type: ignore[no-untyped-def, type-arg]
        from o2c_airflow.bank import publish_bank

        return publish_bank(ingested, outlet_events[BANK_STATEMENTS])

    @task_group
    def pickup(bank: str):  # type: ignore[no-untyped-def]
        ingested = ingest(fetch(check(bank)))
        publish(ingested)
        return ingested

    @task(trigger_rule="all_done", retries=0)
    def summary(results) -> dict:  # type: ignore[no-untyped-def, type-arg]
        from o2c_airflow.bank import report_banks

        return report_banks(results)

    summary(pickup.expand(bank=configured_banks()))


bank_statement_ingest()
