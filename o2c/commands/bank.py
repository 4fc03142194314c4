"""``o2c bank``: read bank statement files (camt.052/053/054, MT940/MT942, CFONB 120, BAI2)."""

from __future__ import annotations

import json
import sys

import click

from schemas.errors import RejectedDocument


@click.group()
def bank() -> None:
    """Bank statement files: fetch, parse and check them."""


@bank.command("parse")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the canonical statements as JSON (amounts as strings).")
def parse_cmd(file: str, as_json: bool) -> None:
    """Parse FILE, check its balances, and print its statements.

    Exits with status 1 and a one-line reason when the file is rejected.
    """
    from edi.bank import parse_file
    from schemas.jsonio import to_json

    try:
        statements = parse_file(file)
    except RejectedDocument as exc:
        from o2c.commands import one_line

        click.echo(f"rejected: {one_line(str(exc))}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"cannot read {file}: {exc.strerror or exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps([to_json(s) for s in statements], ensure_ascii=False, indent=2))
        return
    for s in statements:
        account = s.account_iban or s.account_number or "?"
        opening = s.opening_balance.amount if s.opening_balance else "-"
        closing = s.closing_balance.amount if s.closing_balance else "-"
        click.echo(f"{s.format} {account} {s.statement_id or s.sequence_number or ''} {s.currency} "
                   f"opening {opening} closing {closing} entries {len(s.entries)}")


# ``o2c bank fetch`` lives in o2c/commands/bank_fetch.py and joins this group.
from o2c.commands.bank_fetch import fetch  # noqa: E402
from o2c.commands.bank_ingest import ingest  # noqa: E402

bank.add_command(fetch)
bank.add_command(ingest)
