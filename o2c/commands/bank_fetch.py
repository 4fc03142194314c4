"""``o2c bank fetch BANK``: one pick-up of a bank's statement files now, without Airflow."""

from __future__ import annotations

import datetime as dt
import json
import sys

import click


@click.command("fetch")
@click.argument("bank_name", metavar="BANK")
@click.option("--banks", "banks_path", type=click.Path(exists=True, dir_okay=False),
              help="File with the 'banks:' section (default: O2C_BANKS, else the sources file).")
@click.option("--settle", type=float, default=None,
              help="Seconds between the two looks at the folder (default: the bank's settle_seconds).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def fetch(bank_name: str, banks_path: str | None, settle: float | None, as_json: bool) -> None:
    """Download BANK's new files over SFTP, ingest them exactly once, archive them, print a summary.

    The connection is read from O2C_CONN_<ID> (or AIRFLOW_CONN_<ID>), a URI or Airflow's JSON
    form, with the private key and the pinned host key in its extras. Exit status: 0 done,
    2 configuration or credentials to fix (do not retry), 75 temporary failure (retry later).
    A file refused by the transport (a listed name that is not a plain file name, a file over
    the size limit) is counted in the summary as "refused" with its name, size and reason,
    like a quarantined file: it stays on the server, the other files are taken, and the exit
    status stays 0.
    """
    from o2c.banks import get_bank, sftp_settings_from_env
    from o2c.commands import open_store
    from o2c.context import RunContext
    from o2c.jobs.bank import pickup
    from o2c.settings import get_settings
    from schemas.errors import FatalError, HubError
    from transport.redact import redact

    settings = get_settings()
    try:
        bank = get_bank(bank_name, banks_path)
        if settle is not None:
            bank = bank.model_copy(update={"settle_seconds": settle})
        sftp = sftp_settings_from_env(bank)
        store = open_store()
        run_key = "cli-" + dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        summary = pickup(store, bank, sftp, staging_root=settings.home / "staging" / "bank", run_key=run_key,
                         context=RunContext.command("bank fetch"))
    except FatalError as exc:
        click.echo(f"error (fix the configuration or credentials, do not retry): {redact(str(exc))}", err=True)
        sys.exit(2)
    except HubError as exc:
        click.echo(f"error (temporary, retry later): {redact(str(exc))}", err=True)
        sys.exit(75)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2, default=str))
        return
    for line in summary.lines():
        click.echo(line)
