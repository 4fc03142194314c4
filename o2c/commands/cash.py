"""``o2c cash``: cash application from the shell.

``o2c cash run`` is the cash application of the hub store now, without Airflow.

The same job as the ``cash_application`` DAG (:func:`o2c.jobs.cash.run_cash_application`
with the e-invoicing settings, so Encaissée statuses are emitted the same way); ``cash-apply``
stays the file-to-file run of the benchmark contract, ``cash-review`` the reviewer's decision.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time

import click

from o2c.commands import exit_on_hub_errors, open_store

log = logging.getLogger(__name__)


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
    from o2c.config import load_einvoicing
    from o2c.context import RunContext
    from o2c.jobs.cash import run_cash_application

    with exit_on_hub_errors():
        store = open_store()
        summary = run_cash_application(store, einvoicing=load_einvoicing(), context=RunContext.command("cash run"))
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(summary), indent=2))
        return
    click.echo(f"cash application: {summary.entries} entries ({summary.credits} credits), {summary.auto_lines} lines auto, "
               f"{summary.suggested_lines} suggested, {summary.allocations} allocations, {summary.unapplied} unapplied, "
               f"{summary.write_offs} write-off candidates, {summary.flags} flags, {summary.encaissee_sent} Encaissée sent "
               f"(run {summary.run_id})")



@click.command("cash-apply")
@click.option("--customers", "customers_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="customers.csv: customer_id,name,country,vat_id,ibans,aliases")
@click.option("--open-items", "open_items_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="open_items.csv: invoice_id,customer_id,document_type,invoice_number,...,amount_open,creditor_reference")
@click.option("--statements", "statements", required=True, multiple=True, type=click.Path(exists=True),
              help="Statement file or folder (camt.052/053/054, MT940, CFONB 120, BAI2); repeatable, also space-separated.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="allocations.csv to write: bank_ref,invoice_id,amount_applied,confidence,status")
@click.option("--workers", default=2, show_default=True, help="Processes parsing statement files.")
@click.option("--decide-workers", default=2, show_default=True,
              help="Cores deciding lines (this process and N-1 forked speculating workers; same results; about 0.7 GB more per worker at 1M lines; 1: one process; see docs).")
@click.option("--auto-threshold", default=None, type=float, help="Confidence from which an allocation is auto-posted.")
@click.option("--details", "details_dir", default=None, type=click.Path(file_okay=False),
              help="Also write allocations (with rule and explanation), unapplied, write-offs and flags here.")
@click.option("--learned", "learned_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="JSON of reviewer-taught aliases and IBANs (matching.learning.Learned.to_dict()).")
@click.argument("more_statements", nargs=-1, type=click.Path(exists=True))
def cash_apply(customers_path: str, open_items_path: str, statements: tuple[str, ...], out_path: str, workers: int,
               decide_workers: int, auto_threshold: float | None, details_dir: str | None, learned_path: str | None,
               more_statements: tuple[str, ...]) -> None:
    """Match bank credits to open items and write the allocations."""
    from dataclasses import replace
    from pathlib import Path

    from matching.io import apply_cash_files, write_allocations
    from matching.model import MatchConfig

    t0 = time.time()
    cfg = MatchConfig()
    if auto_threshold is not None:
        cfg = replace(cfg, auto_threshold=auto_threshold)
    learned = None
    if learned_path:
        from matching.learning import Learned

        learned = Learned.from_dict(json.loads(Path(learned_path).read_text(encoding="utf-8")))
    result = apply_cash_files(customers_path, open_items_path, list(statements) + list(more_statements),
                              config=cfg, learned=learned, workers=workers,
                              decide_workers=decide_workers)
    write_allocations(result, out_path)
    if details_dir:
        d = Path(details_dir)
        d.mkdir(parents=True, exist_ok=True)
        for name, frame in result.frames().items():
            frame.to_csv(d / f"{name}.csv", index=False)
    summary = result.summary()
    summary["seconds"] = round(time.time() - t0, 2)
    click.echo(json.dumps(summary))


@click.command("cash-review")
@click.argument("line")
@click.option("--accept", "action", flag_value="accept", help="Post the line's suggested allocations.")
@click.option("--reject", "action", flag_value="reject", help="Refuse the line's allocations; the cash stays unapplied.")
@click.option("--reallocate", "invoices", multiple=True, metavar="INVOICE",
              help="Send the cash to these invoice numbers instead (repeatable; SOURCE:NUMBER when ambiguous).")
@click.option("--reviewer", required=True, help="Who decides (kept with the decision).")
@click.option("--note", default="", help="Why, for the audit trail.")
@click.option("--dispute", "dispute", default=None, metavar="REASON",
              help="A short payment: the unpaid rest of each invoice the line pays partly becomes a dispute with "
                   "this reason (deduction, price, quantity, quality, delivery, duplicate, other).")
def cash_review(line: str, action: str | None, invoices: tuple[str, ...], reviewer: str, note: str,
                dispute: str | None) -> None:
    """Decide on one bank LINE of the hub store (its entry id E123 or its bank reference).

    Decisions are stored, change the allocations (accepted / rejected / re-allocated), and teach
    the next cash runs the payer's name and IBAN for that customer.
    """
    from o2c.jobs.cash_review import decide
    from schemas.errors import HubError

    if invoices and action:
        raise click.UsageError("give one of --accept, --reject or --reallocate")
    chosen = "reallocate" if invoices else action
    if not chosen:
        raise click.UsageError("give one of --accept, --reject or --reallocate INVOICE")
    store = open_store()
    try:
        res = decide(store, line, chosen, reviewer=reviewer, invoices=invoices, note=note, dispute=dispute)
    except HubError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"E{res.bank_entry_id} ({res.bank_ref}): {res.action}, customer {res.customer_key or '-'}")
    for number, amount, status in res.allocations:
        click.echo(f"  {number}  {amount}  {status}")
    if res.unapplied:
        click.echo(f"  unapplied: {res.unapplied}")
    for number, rest, dispute_id in res.disputes:
        click.echo(f"  dispute {dispute_id} on {number}: {rest} unpaid")
