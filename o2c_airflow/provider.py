"""What Airflow's ProvidersManager learns about o2c-hub, through the ``apache_airflow_provider`` entry point.

Installed with the ``airflow`` extra, the hub is discovered like any Airflow provider package: its
``o2c_source`` connection type (:class:`~o2c_airflow.hooks.O2CSourceHook`) appears in the UI's connection
form and in ``airflow connections`` without a plugin on sys.path. Airflow reads this dictionary at
discovery time, validates it against its ``provider_info.schema.json`` and requires ``package-name`` to be
the distribution's own name; hook classes are imported only when a connection type is used.

The bank hook (:class:`~o2c_airflow.bank.O2CSftpHook`) is listed under ``hooks`` but registers no
connection type: it reads the ``sftp`` connections whose form belongs to apache-airflow-providers-sftp,
and a second ``sftp`` entry would race that provider's for the form (whichever package Airflow meets first
wins), changing the SFTP form of every connection.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

PACKAGE = "o2c-hub"


def get_provider_info() -> dict[str, Any]:
    """The provider-info dictionary (the runtime schema's fields; ``versions`` as provider packages give it)."""
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:  # imported from a checkout that was never installed
        version = "0+unknown"
    return {
        "package-name": PACKAGE,
        "name": "o2c-hub",
        "description": "Order-to-cash hub: ERP/CRM pull, e-invoices, bank statements, cash application, write-back.",
        "versions": [version],
        "hooks": [
            {"integration-name": "o2c-hub", "python-modules": ["o2c_airflow.hooks", "o2c_airflow.bank"]},
        ],
        "connection-types": [
            {"connection-type": "o2c_source", "hook-class-name": "o2c_airflow.hooks.O2CSourceHook",
             "hook-name": "o2c-hub source"},
        ],
    }
