"""Task runtimes of the cash_application and risk_scoring DAGs."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from o2c_airflow.runtime import airflow_errors, run_context, task_store, window_end

log = logging.getLogger(__name__)


def run_cash(context: dict[str, Any]) -> dict[str, Any]:
    from o2c.config import load_einvoicing
    from o2c.jobs.cash import run_cash_application

    store = task_store()
    with airflow_errors():
        summary = run_cash_application(store, einvoicing=load_einvoicing(), context=run_context(context))
    log.info("cash application: %d entries (%d credits), %d lines auto, %d suggested, %d allocations, %d unapplied, "
             "%d write-off candidates, %d flags, %d Encaissée sent (run %s)", summary.entries, summary.credits,
             summary.auto_lines, summary.suggested_lines, summary.allocations, summary.unapplied, summary.write_offs,
             summary.flags, summary.encaissee_sent, summary.run_id)
    return dataclasses.asdict(summary)


def run_risk(context: dict[str, Any]) -> dict[str, Any]:
    from o2c.jobs.risk import run_risk_scoring

    as_of = window_end(context).date()
    store = task_store()
    with airflow_errors():
        summary = run_risk_scoring(store, as_of, context=run_context(context))
    log.info("risk scoring at %s: %d customers, %d flags (%d high)", as_of, summary.customers, summary.flags, summary.high)
    return dataclasses.asdict(summary)
