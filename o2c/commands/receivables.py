"""``o2c receivables``: the hub's open items against the ERPs' (:mod:`o2c.jobs.receivables`)."""

from __future__ import annotations

import json

import click

from o2c.commands import exit_on_hub_errors, open_store


@click.group()
def receivables() -> None:
    """Open items: why an invoice is open for what it is, and the hub against each ERP."""


@receivables.command("show")
@click.argument("invoice")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def show(invoice: str, as_json: bool) -> None:
    """The history behind INVOICE's open amount (its number, SOURCE:NUMBER or SOURCE:ID): the ERP's
    state and its versions, the hub's allocations and their write-back."""
    from o2c.jobs.receivables import explain

    with exit_on_hub_errors():
        ex = explain(open_store(), invoice)
    if as_json:
        click.echo(json.dumps(ex.as_dict(), indent=2))
        return
    cur = ex.currency
    click.echo(f"{ex.source}:{ex.number} (id {ex.source_id}): total {ex.total} {cur}, open {ex.open} {cur}")
    if ex.basis == "erp":
        click.echo(f"  = ERP open {ex.erp_open} {cur} (state {ex.erp_state}) less hub cash in transit {ex.in_transit} {cur}"
                   f"; hub cash the ERP has recorded: {ex.recorded_by_erp} {cur}")
    else:
        click.echo(f"  = total less the hub's applied cash {ex.in_transit} {cur} (the source sends no settlement state: "
                   "the hub's own estimate)")
    for v in ex.erp_history:
        click.echo(f"  ERP v{v['version']}: {v['state']}, open {v['open']} (changed {v['erp_changed']}, recorded {v['recorded']})")
    for line in ex.erp_lines:
        click.echo(f"  ERP line {line.get('id')}: {line.get('kind')} {line.get('amount')} on {line.get('date')} "
                   f"({line.get('reference') or '-'})")
    for a in ex.allocations:
        click.echo(f"  hub allocation {a['allocation']} ({a['bank_ref']}): {a['amount']} {a['status']}, "
                   f"write-back {a['writeback'] or '-'}: {a['counted']}")
    for w in ex.write_offs:
        click.echo(f"  hub write-off {w['amount']}: {w['reason']}")


@receivables.command("reconcile")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def reconcile(source: str, as_json: bool) -> None:
    """SOURCE's open total in the hub against the ERP's, per customer, differences with their cause.
    Exit status 1 when a difference no cause explains remains."""
    from o2c.jobs.receivables import reconcile as run

    with exit_on_hub_errors():
        rec = run(open_store(), source)
    if as_json:
        click.echo(json.dumps(rec.as_dict(), indent=2))
    else:
        t = rec.totals()
        click.echo(f"{source}: {t.invoices} invoices, hub open {t.hub_open}, ERP open {t.erp_open}, in transit {t.in_transit}, "
                   f"settled in the ERP only {t.settled_in_erp_only}, without ERP state {t.without_erp_state}, "
                   f"unexplained {t.unexplained}" + ("" if rec.sends_settlements else " (the source sends no settlement "
                                                     "state: its open amounts are the hub's estimate)"))
        for c in rec.customers:
            if c.hub_open != c.erp_open or c.unexplained:
                click.echo(f"  {c.customer}: hub {c.hub_open}, ERP {c.erp_open}, in transit {c.in_transit}, "
                           f"without ERP state {c.without_erp_state}, unexplained {c.unexplained}")
        for u in rec.unknown_to_hub:
            click.echo(f"  unknown to the hub: ERP invoice {u['source_id']}: {u['reason']}")
    if rec.unexplained:
        raise SystemExit(1)
