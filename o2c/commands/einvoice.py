"""``o2c einvoice``: render, parse and validate e-invoices (Factur-X, CII, UBL) from the shell; deliver
the stored invoices (``outbound``) and record the platforms' lifecycle statuses (``statuses``)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from edi.einvoice import FORMATS  # one list of formats for the CLI and the DAGs
from o2c.commands import one_line
from o2c.context import RunContext


@click.group()
def einvoice() -> None:
    """E-invoices: Factur-X PDF/A-3, UN/CEFACT CII D16B, UBL 2.1."""


def _fail(exc: Exception) -> None:
    from o2c.commands import one_line

    click.echo(f"error: {one_line(str(exc))}", err=True)
    sys.exit(1)


@einvoice.command()
@click.argument("invoice_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(tuple(FORMATS)), default="facturx-en16931", show_default=True,
              help="facturx-* writes a PDF/A-3 with factur-x.xml (facturx-extended-ctc-fr: French CTC CII XML); "
                   "cii writes EN 16931 CII XML; ubl writes UBL 2.1 XML.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="File to write.")
@click.option("--no-validate", is_flag=True, help="Skip the XSD + schematron check of the XML before writing.")
def render(invoice_json: Path, fmt: str, output: Path, no_validate: bool) -> None:
    """Render INVOICE_JSON (the hub's canonical invoice as JSON) to FORMAT."""
    from edi import einvoice as edi_einvoice  # not "einvoice": the command group has that name
    from schemas.errors import HubError
    from schemas.invoice import Invoice
    from schemas.jsonio import from_json

    try:
        inv = from_json(Invoice, json.loads(invoice_json.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        _fail(ValueError(f"{invoice_json}: not a canonical invoice: {exc}"))
        return
    try:
        data = edi_einvoice.render(inv, fmt, check=not no_validate)
    except edi_einvoice.InvoiceRejected as exc:
        click.echo(exc.result.report(), err=True)
        sys.exit(1)
    except HubError as exc:
        _fail(exc)
        return
    output.write_bytes(data)
    click.echo(f"{output}: {fmt}, {len(data)} bytes")


def _read_any(path: Path) -> bytes:
    """FILE's bytes (standard input for ``-``), refused as :class:`~schemas.errors.TooLarge` over
    the ``einvoice`` limit (:mod:`edi.limits`) before it is read whole."""
    from edi import limits

    bound = limits.max_bytes("einvoice")
    if str(path) == "-":
        data = sys.stdin.buffer.read(bound + 1)
    else:
        limits.check_size("einvoice", path.stat().st_size, document_id=path.name, limit=bound)
        with path.open("rb") as fh:
            data = fh.read(bound + 1)
    limits.check_size("einvoice", len(data), document_id=path.name, limit=bound)
    return data


@einvoice.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the canonical invoice as JSON (amounts as strings).")
def parse(file: Path, as_json: bool) -> None:
    """Parse FILE (Factur-X/ZUGFeRD PDF, CII or UBL XML) into the canonical invoice."""
    from edi import einvoice as edi_einvoice
    from schemas.errors import RejectedDocument
    from schemas.jsonio import to_json

    try:
        inv = edi_einvoice.parse(_read_any(file), document_id=file.name)
    except RejectedDocument as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps(to_json(inv), ensure_ascii=False, indent=2))
    else:
        t = inv.totals
        click.echo(f"{inv.number} ({inv.type_code}) {inv.issue_date} {inv.seller.name} -> {inv.buyer.name}: "
                   f"{len(inv.lines)} line(s), total {t.tax_inclusive} {inv.currency}, due {t.payable} {inv.currency}")


@einvoice.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--no-schematron", is_flag=True, help="XSD only (fast).")
def validate(file: Path, no_schematron: bool) -> None:
    """Validate FILE: the hub's reader, XSD, EN 16931 schematron, Factur-X profile rules. Exit 0 when valid, 1 otherwise."""
    from edi import einvoice as edi_einvoice
    from schemas.errors import RejectedDocument

    try:
        result = edi_einvoice.validate(_read_any(file), document_id=file.name, schematrons=not no_schematron)
    except RejectedDocument as exc:
        _fail(exc)
        return
    click.echo(result.report())
    sys.exit(0 if result.valid else 1)


@einvoice.command()
@click.option("--limit", type=click.IntRange(min=1), help="Consider at most this many stored invoices.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def outbound(limit: int | None, as_json: bool) -> None:
    """Render, validate and deliver every stored invoice that has no e-invoice yet (the
    e-invoicing DAG's job), with the e-invoicing settings (O2C_EINVOICING, or the 'einvoicing:'
    section of the sources file).

    An invoice that fails validation is quarantined and listed, not sent; a delivery that
    fails is counted and tried again on the next run. A second run sends nothing twice.
    """
    from o2c.commands import exit_on_hub_errors, open_store
    from o2c.config import HttpChannel, load_einvoicing
    from o2c.jobs.einvoice import outbound as run_outbound
    from o2c.sources import connection_from_env

    with exit_on_hub_errors():
        store = open_store()
        config = load_einvoicing()
        channel = config.channel
        # an SFTP channel's connection is read from O2C_CONN_<ID> by the delivery itself
        connection = connection_from_env(channel.connection) if isinstance(channel, HttpChannel) and channel.connection else None
        summary = run_outbound(store, config, limit=limit, connection=connection,
                               context=RunContext.command("einvoice outbound"))
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(summary), indent=2))
        return
    click.echo(f"e-invoices: {summary.considered} considered, {summary.delivered} delivered, {summary.rejected} rejected, "
               f"{summary.failed} failed deliveries, {summary.already_done} already done (run {summary.run_id})")
    for rej in summary.rejects:
        click.echo(f"  not sent: {rej['invoice']} ({rej['format']}): {one_line(rej['reason'])}")


@einvoice.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def statuses(folder: Path | None, as_json: bool) -> None:
    """Record the lifecycle statuses (CDAR XML) found in FOLDER (default: $O2C_HOME/inbox/statuses,
    the e-invoicing DAG's inbox). A message already recorded is counted as a duplicate; a bad one
    is quarantined."""
    from o2c.commands import exit_on_hub_errors, open_store
    from o2c.jobs.einvoice import ingest_statuses
    from o2c.settings import get_settings

    with exit_on_hub_errors():
        store = open_store()
        if folder is None:
            folder = get_settings().home / "inbox" / "statuses"
            folder.mkdir(parents=True, exist_ok=True)
        elif not folder.is_dir():
            raise click.BadParameter(f"{folder} is not a folder", param_hint="FOLDER")
        summary = ingest_statuses(store, folder)
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(summary), indent=2))
        return
    click.echo(f"lifecycle statuses from {folder}: {summary.read} read, {summary.recorded} recorded, "
               f"{summary.duplicates} duplicates, {summary.unknown_invoice} for unknown invoices, {summary.rejected} rejected, "
               f"{summary.disputes} dispute(s) opened (207 En litige / 210 Refusée)")
