"""``o2c mapping``: check a source's mapping files, preview its records as canonical JSON.

- ``o2c mapping check SOURCE``: load and check the mapping files (and, for ``sql`` sources,
  the query files) of a configured source, or of a mapping folder (``o2c mapping check odoo``);
  exit 1 naming the file and the key of the first error.
- ``o2c mapping preview SOURCE --limit 5``: pull the first records of the source's window
  through its connector and print each one's canonical JSON and intake issues (or the reason
  it would be quarantined), under the id the connector declares as the stream's primary key
  (the id the sync would quarantine it under). Nothing is stored and no watermark moves.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from o2c.commands import exit_on_hub_errors
from o2c.settings import get_settings


def _when(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    d = dt.datetime.fromisoformat(value)
    return d if d.tzinfo else d.replace(tzinfo=dt.UTC)


def _source(name: str, sources_file: str | None) -> Any:
    from o2c.sources import get_source, load_sources

    return get_source(load_sources(sources_file or get_settings().sources_file), name)


@click.group()
def mapping() -> None:
    """Source-to-canonical mappings: check them, preview what they produce."""


@mapping.command()
@click.argument("source")
@click.option("--sources", "sources_file", type=click.Path(exists=True, dir_okay=False),
              help="Sources file (default: O2C_SOURCES or $O2C_HOME/sources.yaml).")
def check(source: str, sources_file: str | None) -> None:
    """Check SOURCE's mapping files (a configured source, or a folder under mappings/)."""
    from mappings.mapper import MAPPINGS_DIR, load_mapping, mapping_path
    from o2c.config import MAPPED_DOCUMENTS, STREAM_DOCUMENTS
    from schemas.errors import ConfigError

    try:
        folder = MAPPINGS_DIR / source
        src = None
        if sources_file or not folder.is_dir():
            src = _source(source, sources_file)
        if src is not None:
            files = [mapping_path(src.mapping_folder, STREAM_DOCUMENTS[s]) for s in src.streams
                     if STREAM_DOCUMENTS[s] in MAPPED_DOCUMENTS]
        else:
            files = sorted(folder.glob("*.yaml"))
            if not files:
                raise ConfigError(f"{folder}: no mapping files (*.yaml)")
        for path in files:
            m = load_mapping(path)
            groups = ", ".join(f"{g} from {gm.source_path} ({len(gm.terms)} terms)" for g, gm in m.groups.items())
            click.echo(f"ok  {path}: {m.document}, {len(m.terms)} terms" + (f", {groups}" if groups else ""))
        if src is not None and src.kind == "sql":
            from connectors.sql import MAPPINGS_DIR as QUERIES_BASE

            queries = Path(str(src.options.get("queries", "sql")))
            qdir = queries if queries.is_absolute() or not (QUERIES_BASE / queries).is_dir() else QUERIES_BASE / queries
            for stream in src.streams:
                qfile = qdir / f"{stream}.sql"
                if not qfile.is_file():
                    raise ConfigError(f"{qfile}: missing query file for stream {stream!r} (source option 'queries')")
                text = qfile.read_text(encoding="utf-8")
                for param in (":since", ":until"):
                    if param not in text:
                        raise ConfigError(f"{qfile}: the query must use the parameter {param} (the window)")
                click.echo(f"ok  {qfile}")
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@mapping.command()
@click.argument("source")
@click.option("--sources", "sources_file", type=click.Path(exists=True, dir_okay=False),
              help="Sources file (default: O2C_SOURCES or $O2C_HOME/sources.yaml).")
@click.option("--stream", default="invoices", show_default=True, type=click.Choice(["invoices", "customers"]))
@click.option("--limit", default=5, show_default=True, type=click.IntRange(min=1), help="How many records to show.")
@click.option("--since", help="Window start (ISO 8601; default: the source's start, else the beginning).")
@click.option("--until", help="Window end (ISO 8601; default: now).")
def preview(source: str, sources_file: str | None, stream: str, limit: int, since: str | None, until: str | None) -> None:
    """Pull the first records of SOURCE and print them as canonical JSON with their issues."""
    from connectors import build
    from o2c.sources import connection_from_env
    from schemas.errors import RejectedDocument
    from schemas.invoice import Invoice
    from schemas.jsonio import to_json
    from schemas.party import Customer
    from schemas.validation import customer_issues, invoice_issues

    with exit_on_hub_errors():
        src = _source(source, sources_file)
        mapping_ = src.load_mapping(stream)
        end = _when(until) or dt.datetime.now(dt.UTC).replace(microsecond=0)
        start = _when(since) or src.start
        out: list[dict[str, Any]] = []
        with build(src.kind, connection_from_env(src.connection), **src.options) as connector:
            spec = connector.spec(stream)
            batches = connector.pull(stream, start, end)
            try:
                for batch in batches:
                    for record in batch.records:
                        item: dict[str, Any] = {"source_id": spec.record_id(record) or "?"}
                        try:
                            canonical = mapping_.apply(record, src.name)
                        except RejectedDocument as exc:
                            item.update(canonical=None, rejected=str(exc), issues=[])
                        else:
                            issues = (invoice_issues(canonical) if isinstance(canonical, Invoice)
                                      else customer_issues(canonical) if isinstance(canonical, Customer) else [])
                            item.update(canonical=to_json(canonical), rejected=None,
                                        issues=[{"severity": i.severity, "term": i.term, "message": i.message,
                                                 "value": None if i.value is None else str(i.value)} for i in issues])
                        out.append(item)
                        if len(out) >= limit:
                            break
                    if len(out) >= limit:
                        break
            finally:
                close = getattr(batches, "close", None)
                if close:
                    close()
    click.echo(json.dumps({"source": src.name, "stream": stream, "window": [start.isoformat() if start else None, end.isoformat()],
                           "records": out}, indent=2, ensure_ascii=False))
