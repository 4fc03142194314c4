"""ERP write-back: the cash applied in the hub (auto and reviewer-accepted allocations) is recorded
as payments in the source ERPs, through an idempotent outbox (a command is sent once, even after a
lost answer), behind the source's approval policy.

Per source whose connector records payments (a mapped task group, one source never waits for
another):

1. ``enqueue``: applied allocations become commands, ``pending`` when the source's policy lets them
   flow without a person, else ``awaiting_approval``;
2. ``approve``: Airflow's human-in-the-loop task asks the source's approvers about the commands
   waiting (Approve / Refuse, a reason; no answer in time refuses, never approves); skipped when
   none waits;
3. ``record``: the response is recorded (who, when, the option, the reason) and the commands turn
   ``pending`` or ``refused``;
4. ``push``: the pending commands are sent.

The ``dry_run`` parameter enqueues nothing, asks nothing and sends nothing: ``push`` logs, per
command, the ERP record and the change it would make (before -> after, read from the ERP).
Triggered by new cash allocations (asset written by cash_application).
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import Param, dag, task, task_group

from o2c_airflow.approval import WriteBackApprovalOperator
from o2c_airflow.assets import ALLOCATIONS


@dag(
    dag_id="erp_writeback",
    schedule=[ALLOCATIONS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["o2c", "writeback"],
    default_args={"owner": "o2c-hub", "retries": 3, "retry_delay": dt.timedelta(minutes=5)},
    params={"dry_run": Param(False, type="boolean", title="Dry run",
                             description="show what each command would change in the ERP; write nothing")},
    doc_md=__doc__,
)
def erp_writeback() -> None:
    @task
    def sources() -> list[str]:
        from o2c_airflow.writeback import payment_source_names

        return payment_source_names()

    @task_group(group_id="writeback")
    def per_source(source_name: str) -> None:
        @task
        def enqueue(source_name: str, **context) -> dict:  # type: ignore[no-untyped-def]
            from o2c_airflow.writeback import approval_request

            return approval_request(source_name, context)

        @task
        def record(response: dict, **context) -> dict:  # type: ignore[no-untyped-def]
            from o2c_airflow.writeback import record_response

            return record_response(response, context)

        @task(trigger_rule="none_failed")  # also when nothing awaited approval (approve and record skipped)
        def push(source_name: str, **context) -> dict:  # type: ignore[no-untyped-def]
            from o2c_airflow.writeback import run_writeback

            return run_writeback(source_name, context)

        approval = WriteBackApprovalOperator(task_id="approve", request=enqueue(source_name), retries=0)
        record(approval.output) >> push(source_name)

    per_source.expand(source_name=sources())


erp_writeback()
