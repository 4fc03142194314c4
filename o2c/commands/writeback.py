"""``o2c writeback push SOURCE [--dry-run]``: enqueue the hub's results (payments, nettings,
write-offs, reversals, notes, credit holds, the disputes' dunning blocks) as commands and send them,
without Airflow; ``o2c writeback awaiting|approve|refuse SOURCE``: the commands waiting for a
person, and a person's decision over them (:mod:`o2c.jobs.approval`)."""

from __future__ import annotations

import json
import re
import sys

import click

from o2c.commands import exit_on_hub_errors, open_store
from o2c.settings import get_settings


@click.group()
def writeback() -> None:
    """Write hub results (applied cash) back to the source ERPs through the outbox."""


@writeback.command("push")
@click.argument("source")
@click.option("--sources", "sources_file", type=click.Path(exists=True, dir_okay=False), help="Sources file (default: O2C_SOURCES or $O2C_HOME/sources.yaml).")
@click.option("--limit", type=click.IntRange(min=1), help="Send at most this many pending commands.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--dry-run", is_flag=True, help="Print, per command, the ERP record and the change it would make "
                                                "(before -> after, read from the ERP); write nothing.")
def push(source: str, sources_file: str | None, limit: int | None, as_json: bool, dry_run: bool) -> None:
    """Enqueue SOURCE's commands of every kind it takes (docs/writeback.md), then send its pending
    commands (those waiting for an approval stay: `o2c writeback approve`)."""
    from connectors import build
    from o2c.jobs.writeback import enqueue_all, push_pending, supports_payments
    from o2c.sources import connection_from_env, get_source, load_sources

    settings = get_settings()
    src = get_source(load_sources(sources_file or settings.sources_file), source)
    if not supports_payments(src.kind):
        click.echo(f"error: source {source!r} ({src.kind}) does not support payment write-back", err=True)
        sys.exit(2)
    store = open_store()
    if dry_run:
        _dry_run(store, src, as_json)
        return
    with exit_on_hub_errors():
        counts = enqueue_all(store, sources=[src])
        enqueued = sum(counts.values())
        with build(src.kind, connection_from_env(src.connection), **src.options) as connector:
            summary = push_pending(store, src.name, connector, limit=limit)
    if as_json:
        click.echo(json.dumps({"enqueued": enqueued, **summary.as_dict()}, indent=2))
    else:
        click.echo(f"{src.name}: enqueued {enqueued}, sent {summary.sent}, failed {summary.failed}, "
                   f"retry later {summary.retry_later}, withdrawn {summary.withdrawn}")
        for err in summary.errors:
            click.echo(f"  command {err['id']} (target {err['target_id']}): {err['error']}")
        if summary.stopped:
            click.echo(f"  stopped: {summary.stopped}")
    if summary.stopped:
        sys.exit(75)


def _dry_run(store, src, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    from connectors import build
    from o2c.jobs.dry_run import dry_run
    from o2c.sources import connection_from_env

    with exit_on_hub_errors(), build(src.kind, connection_from_env(src.connection), **src.options) as connector:
        previews = dry_run(store, src, connector)
    if as_json:
        click.echo(json.dumps({"source": src.name, "dry_run": True, "commands": [p.as_dict() for p in previews]}, indent=2))
        return
    click.echo(f"{src.name}: dry run, nothing written; {len(previews)} command(s)")
    for p in previews:
        for line in p.lines():
            click.echo(f"  {line}")


def _source(source: str, sources_file: str | None):  # type: ignore[no-untyped-def]
    from o2c.sources import get_source, load_sources

    with exit_on_hub_errors():
        return get_source(load_sources(sources_file or get_settings().sources_file), source)


@writeback.command("awaiting")
@click.argument("source")
@click.option("--sources", "sources_file", type=click.Path(exists=True, dir_okay=False), help="Sources file (default: O2C_SOURCES or $O2C_HOME/sources.yaml).")
@click.option("--json", "as_json", is_flag=True, help="Print the commands as JSON.")
def awaiting_cmd(source: str, sources_file: str | None, as_json: bool) -> None:
    """List SOURCE's commands waiting for an approval."""
    from o2c.jobs.approval import awaiting, describe

    src = _source(source, sources_file)
    rows = [describe(r) for r in awaiting(open_store(), src.name)]
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    approvers = ", ".join(src.writeback.approvers) or "anyone allowed to approve"
    click.echo(f"{src.name}: {len(rows)} command(s) awaiting approval (approvers: {approvers})")
    for c in rows:
        click.echo(f"  {c['id']}: {c['kind']} {c['amount'] or ''} {c['currency'] or ''} -> {c['target']} "
                   f"({c['bank_ref'] or c['reason']})")


def _decision_command(decision: str):  # type: ignore[no-untyped-def]
    verb = {"approve": "Approve", "refuse": "Refuse"}[decision]
    effect = {"approve": "they turn pending and leave with the next push",
              "refuse": "they turn refused and are never sent"}[decision]

    @click.argument("source")
    @click.option("--commands", "commands", multiple=True, help="Command ids, e.g. 12,13 (repeatable), or --all.")
    @click.option("--all", "all_", is_flag=True, help="Every command of SOURCE awaiting approval.")
    @click.option("--by", "by", required=True, help="Who decides: the approver's Airflow user name.")
    @click.option("--reason", required=True, help="Why (stored with the approval and in the audit trail).")
    @click.option("--sources", "sources_file", type=click.Path(exists=True, dir_okay=False), help="Sources file (default: O2C_SOURCES or $O2C_HOME/sources.yaml).")
    @click.option("--json", "as_json", is_flag=True, help="Print what was recorded as JSON.")
    def command(source: str, commands: tuple[str, ...], all_: bool, by: str, reason: str, sources_file: str | None,
                as_json: bool) -> None:
        from o2c.jobs.approval import decide

        if bool(commands) == all_:
            click.echo("error: give the commands (--commands 12,13) or --all, not both", err=True)
            sys.exit(2)
        try:
            ids = [int(c) for text in commands for c in re.split(r"[\s,;]+", text) if c]
        except ValueError:
            click.echo(f"error: --commands takes command ids such as 12,13 (got {' '.join(commands)!r})", err=True)
            sys.exit(2)
        src = _source(source, sources_file)
        store = open_store()
        with exit_on_hub_errors():
            res = decide(store, src, decision, by=by, reason=reason,  # type: ignore[arg-type]
                         commands=None if all_ else ids, via="cli")
        if as_json:
            click.echo(json.dumps(res.as_dict(), indent=2))
            return
        click.echo(f"{src.name}: approval {res.approval_id}: {res.decided_by} {res.decision} command(s) "
                   f"{', '.join(map(str, res.commands))}")
        for cid, status in res.skipped.items():
            click.echo(f"  command {cid} left as it is: {status}")

    command.__doc__ = f"{verb} SOURCE's commands awaiting approval: {effect}."
    return command


writeback.command("approve")(_decision_command("approve"))
writeback.command("refuse")(_decision_command("refuse"))
