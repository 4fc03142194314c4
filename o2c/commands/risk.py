"""``o2c risk run``: credit-risk flags and daily KPIs of the hub store now, without Airflow
(the ``risk_scoring`` DAG's job, :func:`o2c.jobs.risk.run_risk_scoring`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import click

from o2c.commands import exit_on_hub_errors, open_store
from o2c.context import RunContext


@click.group()
def risk() -> None:
    """Credit risk and receivables KPIs over the hub store (the risk_scoring DAG's job)."""


@risk.command("run")
@click.option("--date", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Score as of this day (YYYY-MM-DD; default: today, UTC). The DAG uses its run's day.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def run(as_of: dt.datetime | None, as_json: bool) -> None:
    """Flag customers at risk and store the day's KPIs; a re-run for the same day replaces them."""
    from o2c.jobs.risk import run_risk_scoring

    day = as_of.date() if as_of is not None else dt.datetime.now(dt.UTC).date()
    with exit_on_hub_errors():
        store = open_store()
        summary = run_risk_scoring(store, day, context=RunContext.command("risk run"))
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(summary), indent=2))
        return
    click.echo(f"risk scoring at {summary.as_of}: {summary.customers} customers, {summary.flags} flags "
               f"({summary.high} high), {summary.kpi_days} KPI day(s) (run {summary.run_id})")
