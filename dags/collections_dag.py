"""Collections (relance): every morning and after each cash application, promises to pay are
refreshed (kept or broken), the day's reminders planned per customer at the highest level due and
sent over SMTP (skipped when no SMTP connection is configured),
every overdue invoice left out recorded with why (paid in the hub, disputed, promised, blocked,
possibly paid, not due). Disputes come in through the review page, the CLI, received lifecycle
statuses (einvoice_status_inbound) and reviewers' short-payment decisions.

(The file is not named collections.py: Airflow puts the DAG folder on sys.path, where that name
would stand for the standard library's module.)"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from o2c_airflow.assets import ALLOCATIONS


@dag(
    dag_id="collections",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 7 * * *", timezone="Europe/Paris"), assets=ALLOCATIONS),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["o2c", "collections"],
    default_args={"owner": "o2c-hub", "retries": 2, "retry_delay": dt.timedelta(minutes=2)},
    doc_md=__doc__,
)
def collections() -> None:
    @task
    def refresh_promises(**context) -> dict:  # type: ignore[no-untyped-def]
        from o2c_airflow.collections import refresh_promises

        return refresh_promises(context)

    @task
    def plan_reminders(**context) -> dict:  # type: ignore[no-untyped-def]
        from o2c_airflow.collections import plan_reminders

        return plan_reminders(context)

    @task
    def send_reminders(**context) -> dict:  # type: ignore[no-untyped-def]
        from o2c_airflow.collections import send_planned

        return send_planned(context)

    refresh_promises() >> plan_reminders() >> send_reminders()


collections()
