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
    ("o2c.commands.cashapp", "cash_apply"),
    ("o2c.commands.cashapp", "cash_review"),
    ("o2c.commands.writeback", "writeback"),
    ("o2c.commands.einvoice", "einvoice"),
    ("o2c.commands.mapping", "mapping"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
