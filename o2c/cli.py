"""The ``o2c`` command line: the hub's library functions, without Airflow.

Each command group lives in ``o2c/commands/<name>.py`` and is registered in ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import logging

import click

# (module, attribute) of each command or group, in help order.
COMMANDS: list[tuple[str, str]] = [
    ("o2c.commands.db", "db"),
    ("o2c.commands.bank", "bank"),
    ("o2c.commands.sync", "sync"),
    ("o2c.commands.cash", "cash_apply"),
    ("o2c.commands.cash", "cash_review"),
    ("o2c.commands.cash", "cash"),
    ("o2c.commands.risk", "risk"),
    ("o2c.commands.receivables", "receivables"),
    ("o2c.commands.audit", "audit"),
    ("o2c.commands.collections", "dispute"),
    ("o2c.commands.collections", "promise"),
    ("o2c.commands.collections", "dunning"),
    ("o2c.commands.collections", "collections_"),
    ("o2c.commands.writeback", "writeback"),
    ("o2c.commands.einvoice", "einvoice"),
    ("o2c.commands.mapping", "mapping"),
]


class HubGroup(click.Group):
    """The top-level group: no error reaches the user as a traceback.

    Every command runs inside :meth:`invoke`; an error that a command did not turn into its own
    message and exit status ends here as ONE line on stderr (typed errors say what to do next,
    see :func:`o2c.commands.describe_error`) with a status a scheduler understands: 1 rejected
    or unexpected, 2 fix the configuration, 75 retry later. Tracebacks can hold the data being
    processed (SQLAlchemy's messages hold the statement, a driver's the values): they are shown
    only with ``-v``, and then with credentials and account numbers masked.
    """

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise  # click's own: usage errors, --help, ctx.exit(), Ctrl-C
        except Exception as exc:  # noqa: BLE001 - the one place every error ends
            from o2c.commands import describe_error, redacted_traceback

            code, message = describe_error(exc)
            if ctx.params.get("verbose"):
                click.echo(redacted_traceback(exc), err=True, nl=False)
            click.echo(message, err=True)
            ctx.exit(code)


@click.group(cls=HubGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="o2c-hub")
def cli(verbose: int) -> None:
    """o2c-hub: order-to-cash integration hub (ERP pull, e-invoices, bank statements, cash application)."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


for _module, _attr in COMMANDS:
    cli.add_command(getattr(importlib.import_module(_module), _attr))


def main() -> None:
    cli(prog_name="o2c")


if __name__ == "__main__":
    main()
