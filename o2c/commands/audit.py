"""``o2c audit``: the hash-chained audit trail (:mod:`o2c.store.audit`)."""

from __future__ import annotations

import json

import click

from o2c.commands import exit_on_hub_errors, open_store


@click.group()
def audit() -> None:
    """The audit trail of write-backs, decisions and approvals."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(as_json: bool) -> None:
    """Recompute the chain; name the first entry that does not check (exit status 1 then).

    The head hash printed can be kept somewhere the database's users cannot write: a later
    verify whose chain does not pass through it shows a rewritten log."""
    from o2c.store.audit import verify as run

    with exit_on_hub_errors():
        result = run(open_store())
    if as_json:
        click.echo(json.dumps({"ok": result.ok, "entries": result.entries, "head": result.head,
                               "broken_seq": result.broken_seq, "reason": result.reason}))
    elif result.ok:
        click.echo(f"audit trail intact: {result.entries} entries, head {result.head}")
    else:
        click.echo(f"audit trail BROKEN at entry {result.broken_seq}: {result.reason} "
                   f"(entries before it check; last good head {result.head})", err=True)
    if not result.ok:
        raise SystemExit(1)


@audit.command("show")
@click.argument("subject")
@click.option("--limit", default=200, show_default=True, help="At most this many entries.")
def show(subject: str, limit: int) -> None:
    """The entries about SUBJECT (``invoice:SOURCE:ID``, ``bank_entry:E12``) or a family (``invoice:tryton_demo:``)."""
    from o2c.store.audit import trail

    with exit_on_hub_errors():
        entries = trail(open_store(), subject, limit=limit)
    for e in entries:
        click.echo(f"#{e.seq} {e.at:%Y-%m-%d %H:%M:%S} {e.actor} {e.action} {e.subject} "
                   f"{json.dumps(e.details, ensure_ascii=False, sort_keys=True)}")
    if not entries:
        click.echo(f"no audit entry about {subject}")
