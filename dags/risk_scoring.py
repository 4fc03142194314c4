"""Risk flags per customer (credit limit, overdue, disputes, promises, behaviour) and company KPIs
(DSO count-back and simple, CEI, ageing, unapplied cash, match rates), after each cash
application and every morning."""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from o2c_airflow.assets import ALLOCATIONS


@dag(
    dag_id="risk_scoring",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 5 * * *", timezone="Europe/Paris"), assets=ALLOCATIONS),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["o2c", "risk"],
    default_args={"owner": "o2c-hub", "retries": 2, "retry_delay": dt.timedelta(minutes=2)},
    doc_md=__doc__,
)
def risk_scoring() -> None:
    @task
    def score(**context) -> dict:  # type: ignore[no-untyped-def]
        from o2c_airflow.cash import run_risk

        return run_risk(context)

    score()


risk_scoring()
