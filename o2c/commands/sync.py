"""``o2c sync SOURCE``: pull one configured source now, without Airflow."""

from __future__ import annotations

import datetime as dt
import json

import click

from o2c.commands import exit_on_hub_errors, open_store
from o2c.settings import get_settings


def _when(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    d = dt.datetime.fromisoformat(value)
    return d if d.tzinfo else d.replace(tzinfo=dt.UTC)


@click.command()
@click.argument("source")
@click.option("--sources", "sources_file", type=click.Path(exists=True, dir_okay=False), help="Sources file (default: O2C_SOURCES or $O2C_HOME/sources.yaml).")
@click.option("--stream", "streams", multiple=True, help="Only this stream (repeatable): customers, invoices.")
@click.option("--since", help="Window start (ISO 8601; default: the stored watermark).")
@click.option("--until", help="Window end (ISO 8601; default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def sync(source: str, sources_file: str | None, streams: tuple[str, ...], since: str | None, until: str | None, as_json: bool) -> None:
    """Pull SOURCE's customers and invoices into the hub store (incrementally)."""
    from o2c.context import RunContext
    from o2c.jobs.sync import sync_source
    from o2c.sources import connection_from_env, get_source, load_sources

    with exit_on_hub_errors():  # a bad sources file, database URL or connection: one line, exit 2
        settings = get_settings()
        src = get_source(load_sources(sources_file or settings.sources_file), source)
        store = open_store()
        end = _when(until) or dt.datetime.now(dt.UTC).replace(microsecond=0)
        summary = sync_source(store, src, connection_from_env(src.connection), until=end, since=_when(since),
                              streams=streams or None, context=RunContext.command("sync", window_end=end))
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
        return
    for st in summary.streams:
        click.echo(f"{st.source}/{st.stream}: read {st.read}, inserted {st.inserted}, updated {st.updated}, "
                   f"unchanged {st.unchanged}, rejected {st.rejected}"
                   + (f", data-quality findings {st.findings}" if st.findings else "") + f" (run {st.run_id})")
        for rej in st.rejects:
            click.echo(f"  quarantined {rej['record']}: {rej['reason']}")
