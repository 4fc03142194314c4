"""``o2c cash run``: the cash application of the hub store now, without Airflow.

The same job as the ``cash_application`` DAG (:func:`o2c.cash_application.run_cash_application`
with the e-invoicing settings, so Encaissée statuses are emitted the same way); ``cash-apply``
stays the file-to-file run of the benchmark contract, ``cash-review`` the reviewer's decision.
"""

from __future__ import annotations

import dataclasses
import json

import click

from o2c.commands import exit_on_hub_errors, open_store


@click.group()
def cash() -> None:
    """Cash application over the hub store (the cash_application DAG's job)."""


@cash.command("run")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def run(as_json: bool) -> None:
    """Decide every stored bank entry not decided yet; store allocations; emit Encaissée.

    A second run decides nothing again. Exit status 75 when another cash run holds the cash
    lock (retry later), 2 for a configuration to fix.
    """
    from o2c.cash_application import run_cash_application
    from o2c.config import load_einvoicing

    with exit_on_hub_errors():
        store = open_store()
        summary = run_cash_application(store, einvoicing=load_einvoicing())
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(summary), indent=2))
        return
    click.echo(f"cash application: {summary.entries} entries ({summary.credits} credits), {summary.auto_lines} lines auto, "
               f"{summary.suggested_lines} suggested, {summary.allocations} allocations, {summary.unapplied} unapplied, "
               f"{summary.write_offs} write-off candidates, {summary.flags} flags, {summary.encaissee_sent} Encaissée sent "
               f"(run {summary.run_id})")
