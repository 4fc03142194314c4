"""``o2c writeback push SOURCE``: enqueue the hub's results (payments, nettings, write-offs, reversals, notes,
credit holds) as commands and send them, without Airflow."""

from __future__ import annotations

import json
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
def push(source: str, sources_file: str | None, limit: int | None, as_json: bool) -> None:
    """Enqueue SOURCE's commands of every kind it takes (docs/writeback.md), then send its pending commands."""
    from connectors import build
    from o2c.jobs.writeback import enqueue_all, push_pending, supports_payments
    from o2c.sources import connection_from_env, get_source, load_sources

    settings = get_settings()
    src = get_source(load_sources(sources_file or settings.sources_file), source)
    if not supports_payments(src.kind):
        click.echo(f"error: source {source!r} ({src.kind}) does not support payment write-back", err=True)
        sys.exit(2)
    store = open_store()
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
