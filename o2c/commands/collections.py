"""``o2c dispute`` and ``o2c promise``: disputes (litiges) and promises to pay (:mod:`o2c.store.collections`)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from o2c.commands import exit_on_hub_errors, open_store

DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.group()
def dispute() -> None:
    """Disputes: an open dispute keeps its invoice out of every reminder."""


@dispute.command("open")
@click.argument("invoice")
@click.option("--reason", required=True, help="A reason code: price, quantity, quality, delivery, duplicate, deduction, other.")
@click.option("--by", "by", required=True, help="Who opens it (kept in the audit trail).")
@click.option("--amount", default=None, help="The amount in dispute (default: the whole open amount).")
@click.option("--owner", default=None, help="Who follows it up.")
@click.option("--comment", default=None, help="What the customer says.")
def open_(invoice: str, reason: str, by: str, amount: str | None, owner: str | None, comment: str | None) -> None:
    """Open a dispute on INVOICE (its number, SOURCE:NUMBER or SOURCE:ID)."""
    from o2c.store.collections import open_dispute

    with exit_on_hub_errors():
        row = open_dispute(open_store(), invoice, reason=reason, by=by, amount=amount, owner=owner, comment=comment)
    click.echo(f"dispute {row.id} on {row.source}:{row.invoice_number}: {row.reason_code}, {row.status}"
               f"{'' if row.amount is None else f', {row.amount} {row.currency} in dispute'}")


@dispute.command("resolve")
@click.argument("dispute_id", type=int)
@click.option("--outcome", required=True, type=click.Choice(["credit_note", "rejected", "paid"]))
@click.option("--by", "by", required=True, help="Who resolves it.")
@click.option("--comment", default=None)
def resolve(dispute_id: int, outcome: str, by: str, comment: str | None) -> None:
    """Resolve a dispute: a credit note follows, the claim is rejected (reminders resume), or it was paid."""
    from o2c.store.collections import resolve_dispute

    with exit_on_hub_errors():
        row = resolve_dispute(open_store(), dispute_id, outcome=outcome, by=by, comment=comment)
    click.echo(f"dispute {row.id} on {row.source}:{row.invoice_number}: resolved, {row.outcome}")


@dispute.command("list")
@click.option("--all", "show_all", is_flag=True, help="Resolved ones too.")
@click.option("--json", "as_json", is_flag=True)
def list_(show_all: bool, as_json: bool) -> None:
    """The open disputes (oldest first)."""
    from o2c.store.collections import disputes

    with exit_on_hub_errors():
        rows = disputes(open_store(), open_only=not show_all)
    if as_json:
        click.echo(json.dumps([{"id": d.id, "invoice": f"{d.source}:{d.invoice_number}", "reason": d.reason_code,
                                "adjustment_code": d.adjustment_code, "amount": None if d.amount is None else str(d.amount),
                                "currency": d.currency, "status": d.status, "outcome": d.outcome, "owner": d.owner,
                                "opened_on": d.opened_on.isoformat(), "opened_by": d.opened_by} for d in rows], indent=2))
        return
    for d in rows:
        click.echo(f"{d.id}  {d.opened_on}  {d.source}:{d.invoice_number}  {d.reason_code}  {d.status}"
                   f"{'' if d.outcome is None else ' (' + d.outcome + ')'}  owner {d.owner or '-'}")
    if not rows:
        click.echo("no dispute")


@click.group()
def promise() -> None:
    """Promises to pay: the reminders of their invoices wait until the promised date."""


@promise.command("add")
@click.argument("invoices", nargs=-1, required=True)
@click.option("--amount", required=True)
@click.option("--due", "due", required=True, type=DATE, help="The date the cash is promised for (YYYY-MM-DD).")
@click.option("--by", "by", required=True, help="Who took the promise.")
@click.option("--note", default=None)
@click.option("--on", "taken_on", type=DATE, default=None, help="The day the customer promised (default today).")
def add(invoices: tuple[str, ...], amount: str, due: dt.datetime, by: str, note: str | None,
        taken_on: dt.datetime | None) -> None:
    """Record that the customer of INVOICES promises AMOUNT by DUE."""
    from o2c.store.collections import add_promise

    with exit_on_hub_errors():
        row = add_promise(open_store(), invoices, amount=amount, due_on=due.date(), by=by, note=note,
                          on=taken_on.date() if taken_on else None)
    click.echo(f"promise {row.id}: {row.customer_name} promises {row.amount} {row.currency} by {row.due_on}")


@promise.command("check")
@click.option("--date", "as_of", type=DATE, default=None, help="As of this day (default today).")
@click.option("--grace", default=3, show_default=True, help="Days after the promised date before it is broken.")
def check(as_of: dt.datetime | None, grace: int) -> None:
    """Mark open promises kept (cash applied covers them) or broken (date and grace passed)."""
    from o2c.store.collections import check_promises

    day = as_of.date() if as_of else dt.datetime.now(dt.UTC).date()
    with exit_on_hub_errors():
        res = check_promises(open_store(), day, grace_days=grace)
    click.echo(f"promises at {day}: {res.kept} kept, {res.broken} broken, {res.open} still open")


@promise.command("list")
@click.option("--status", default="open", type=click.Choice(["open", "kept", "broken", "all"]))
def plist(status: str) -> None:
    """Promises (open ones by default), soonest first."""
    from o2c.store.collections import promises

    with exit_on_hub_errors():
        rows = promises(open_store(), status=None if status == "all" else status)
    for p in rows:
        click.echo(f"{p.id}  due {p.due_on}  {p.customer_name}  {p.amount} {p.currency}  paid {p.paid_amount}  {p.status}")
    if not rows:
        click.echo("no promise")


@click.group()
def dunning() -> None:
    """Reminders (relance): planned from the policy in the sources file's ``collections:`` section."""


@dunning.command("run")
@click.option("--as-of", "as_of", type=DATE, default=None, help="Plan as of this day (default today, UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def dunning_run(as_of: dt.datetime | None, as_json: bool) -> None:
    """Check promises, plan the day's reminders and record why each other overdue invoice is left out."""
    from o2c.config import load_collections
    from o2c.context import RunContext
    from o2c.jobs.collections import run_dunning

    day = as_of.date() if as_of else dt.datetime.now(dt.UTC).date()
    with exit_on_hub_errors():
        summary = run_dunning(open_store(), load_collections(), day, context=RunContext.command("dunning run"))
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
        return
    rules = ", ".join(f"{n} {rule}" for rule, n in sorted(summary.skipped_by_rule.items())) or "none"
    click.echo(f"dunning at {summary.as_of}: {summary.reminders} reminder(s) due ({summary.new_reminders} new, "
               f"{summary.cannot_send} cannot be sent), {summary.skipped} overdue invoice(s) left out ({rules}); "
               f"promises {summary.promises_kept} kept, {summary.promises_broken} broken (run {summary.run_id})")
    for d in summary.details:
        click.echo(f"  {d['customer']}: level {d['level']}, {d['total']} {d['currency']} ({d['status']})")


@dunning.command("list")
@click.option("--as-of", "as_of", type=DATE, default=None, help="The day's reminders and skips (default today).")
def dunning_list(as_of: dt.datetime | None) -> None:
    """The day's reminders and the overdue invoices left out, with why."""
    from o2c.jobs.collections import reminders, skipped

    day = as_of.date() if as_of else dt.datetime.now(dt.UTC).date()
    with exit_on_hub_errors():
        store = open_store()
        rows, skips = reminders(store, as_of=day), skipped(store, day)
    for r in rows:
        click.echo(f"reminder {r.id}: {r.customer_name}, level {r.level}, {r.total} {r.currency}, {r.status}"
                   f"{'' if not r.error else ' (' + r.error + ')'}: " + ", ".join(ln["number"] for ln in r.lines))
    for sk in skips:
        click.echo(f"left out {sk.invoice_number} [{sk.rule}]: {sk.reason}")
    if not rows and not skips:
        click.echo(f"nothing planned on {day}")


@dunning.command("send")
@click.option("--dry-run", "dry_run", type=click.Path(file_okay=False), default=None,
              help="Write each pending reminder's e-mail (.eml) and PDF to this folder; send nothing, change nothing.")
@click.option("--sources", "sources_file", type=click.Path(exists=True, dir_okay=False),
              help="Sources file (default: O2C_SOURCES or $O2C_HOME/sources.yaml).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Send at most this many reminders.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def dunning_send(dry_run: str | None, sources_file: str | None, limit: int | None, as_json: bool) -> None:
    """Send the pending reminders over SMTP (collections.smtp_connection) and write their level to the ERP."""
    import sys
    from contextlib import nullcontext

    from o2c.config import load_collections
    from o2c.context import RunContext
    from o2c.jobs.reminders import erp_connectors, send_reminders, smtp_settings
    from o2c.settings import get_settings

    with exit_on_hub_errors():
        config = load_collections()
        store = open_store()
        context = RunContext.command("dunning send")
        if dry_run:
            summary = send_reminders(store, config, dry_run=dry_run, context=context, limit=limit)
        else:
            smtp = smtp_settings(config)
            from pathlib import Path

            from o2c.config import load_config

            path = Path(sources_file or get_settings().sources_file)
            if config.write_erp_level and path.is_file() and load_config(path).sources:
                from o2c.sources import load_sources

                erp_cm: Any = erp_connectors(load_sources(path))  # the ERPs that take dunning levels
            else:
                erp_cm = nullcontext(None)
            with erp_cm as erp:
                summary = send_reminders(store, config, smtp=smtp, erp=erp, context=context, limit=limit)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2, default=str))
    elif dry_run:
        click.echo(f"dry run: {summary.written} reminder(s) written to {summary.dry_run}, nothing sent "
                   f"({summary.awaiting_approval} awaiting approval)")
        for d in summary.details:
            click.echo(f"  {d['reminder']} {d['customer']} -> {d['to']} [{d['language']}] {d['subject']}: "
                       + ", ".join(d["files"]) + (f" ({d['fallback']})" if d.get("fallback") else ""))
    else:
        click.echo(f"reminders: {summary.sent} sent, {summary.retry_later} to retry, {summary.failed} failed, "
                   f"{summary.awaiting_approval} awaiting approval; ERP levels {summary.erp_written} written, "
                   f"{summary.erp_pending} to retry, {summary.erp_failed} failed (run {summary.run_id})")
        for d in summary.details:
            if d.get("error"):
                click.echo(f"  {d['reminder']} {d['customer']}: {d['status']}: {d['error']}")
        if summary.left_sending:
            click.echo(f"  left 'sending' by a run that stopped (check the mailbox): {summary.left_sending}")
        if summary.stopped:
            click.echo(f"  stopped: {summary.stopped}")
    if summary.stopped:
        sys.exit(75)


@dunning.command("approve")
@click.argument("reminder_id", type=int)
@click.option("--by", "by", required=True, help="Who approves (kept in the audit trail).")
@click.option("--reason", default=None, help="Why.")
def dunning_approve(reminder_id: int, by: str, reason: str | None) -> None:
    """Approve a reminder that waits for approval: the next send sends it."""
    from o2c.jobs.reminders import approve

    with exit_on_hub_errors():
        row = approve(open_store(), reminder_id, by=by, reason=reason)
    click.echo(f"reminder {row.id} ({row.customer_name}, level {row.level}, {row.total} {row.currency}) approved by {by}: "
               "pending, sent by the next run")


@click.group("collections")
def collections_() -> None:
    """The collector's view: whom to work on today, and what to do."""


@collections_.command("worklist")
@click.option("--as-of", "as_of", type=DATE, default=None, help="As of this day (default today, UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print the worklist as JSON.")
@click.option("--limit", default=0, help="Show the first N customers only (default: all).")
def worklist_cmd(as_of: dt.datetime | None, as_json: bool, limit: int) -> None:
    """Customers with overdue invoices ranked by what collecting them is worth (amount overdue x
    days late x risk weight), each with its reason, open disputes and promises, last contacts and
    the next action (send level N reminder, call: promise broken, wait: dispute in review, cannot be
    reminded: no contact ...)."""
    from o2c.config import load_collections
    from o2c.jobs.worklist import worklist

    day = as_of.date() if as_of else dt.datetime.now(dt.UTC).date()
    with exit_on_hub_errors():
        rows = worklist(open_store(), load_collections(), day)
    if limit > 0:
        rows = rows[:limit]
    if as_json:
        click.echo(json.dumps({"as_of": day.isoformat(), "customers": [r.as_dict() for r in rows]}, indent=2))
        return
    for i, r in enumerate(rows, 1):
        click.echo(f"{i}. {r.customer_name} ({r.currency}): {r.next_action}  [worth {r.worth} {r.worth_currency}]")
        click.echo(f"   {r.reason}")
        for d in r.disputes:
            click.echo(f"   dispute {d['id']} on {d['invoice']}: {d['reason']}, {d['status']} since {d['opened_on']}")
        for p in r.promises:
            click.echo(f"   promise {p['id']}: {p['amount']} {p['currency']} by {p['due_on']} ({p['status']})")
        for c in r.last_contacts[:3]:
            click.echo(f"   {c['on']}: {c['what']} ({c['by']})")
    if not rows:
        click.echo(f"nothing overdue on {day}")
