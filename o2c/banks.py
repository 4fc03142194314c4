"""The banks of the ``banks:`` section (modelled and checked by :mod:`o2c.config`) and their
SFTP connections outside Airflow.

The section is read from ``$O2C_BANKS`` when set, else from the sources file (``$O2C_SOURCES``,
``$O2C_HOME/sources.yaml``); the format is documented in ``config/banks.example.yaml``.
Credentials are never in the file: a bank names a connection id, read from an Airflow
connection in DAGs (``o2c_airflow/bank.py``) or, outside Airflow, from
``O2C_CONN_<ID>`` / ``AIRFLOW_CONN_<ID>`` holding a URI
(``sftp://o2c@sftp.bank.example:22?key_file=/secrets/id_ed25519&host_key=ssh-ed25519%20AAAA...``)
or Airflow's JSON form (``{"conn_type": "sftp", "host": ..., "login": ..., "extra": {...}}``).

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "sources.yaml"
>>> _ = p.write_text("banks:\\n  - name: bnp\\n    connection: sftp_bank_bnp\\n    folder: /out\\n    patterns: ['*.xml']\\n")
>>> [b] = load_banks(p)
>>> b.name, b.folder, b.patterns, b.settle_seconds, b.archive_folder, b.delete_after
('bnp', '/out', ('*.xml',), 10.0, None, False)
>>> _ = p.write_text("banks:\\n  - name: bnp\\n    connection: c\\n    password: x\\n")
>>> load_banks(p)
Traceback (most recent call last):
...
schemas.errors.ConfigError: ...sources.yaml: banks[0].password: unknown key (known: ...); credentials belong in the connection, not in this file
"""

from __future__ import annotations

import os
from pathlib import Path

from o2c.config import BankConfig, load_banks_section
from schemas.errors import ConfigError
from transport.sftp import SftpSettings


def load_banks(path: str | Path | None = None) -> list[BankConfig]:
    """The ``banks:`` section of ``path`` (default: ``$O2C_BANKS``, else the sources file)."""
    return list(load_banks_section(path))


def get_bank(name: str, path: str | Path | None = None) -> BankConfig:
    banks = load_banks(path)
    for bank in banks:
        if bank.name == name:
            return bank
    raise ConfigError(f"unknown bank {name!r} (configured: {[b.name for b in banks]})")


def sftp_settings_from_env(bank: BankConfig) -> SftpSettings:
    """The bank's SFTP settings from ``O2C_CONN_<ID>`` or ``AIRFLOW_CONN_<ID>`` (URI or JSON)."""
    key = bank.connection.upper()
    for var in (f"O2C_CONN_{key}", f"AIRFLOW_CONN_{key}"):
        value = os.environ.get(var, "").strip()
        if value:
            return _settings_from_value(value, var).with_address(bank.host, bank.port)
    raise ConfigError(f"connection {bank.connection!r} of bank {bank.name!r} is not configured: set O2C_CONN_{key} "
                      "(or an Airflow connection) to sftp://login@host:port?key_file=...&host_key=...")


def _settings_from_value(value: str, var: str) -> SftpSettings:
    from connectors.base import ConnectionInfo

    info = ConnectionInfo.from_setting(value, var)  # a URI or Airflow's JSON form; errors name the variable
    return SftpSettings.from_connection(host=info.host, port=info.port, login=info.login, password=info.password,
                                        extra=dict(info.extra))
