"""The ``banks:`` section of the sources file: where each bank drops its statement files.

The file is ``$O2C_BANKS`` when set, else the sources file (``$O2C_SOURCES``,
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
schemas.errors.ConfigError: ...: banks[0] (bnp): unknown key(s) ['password'] (credentials belong in the connection, not in this file)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from o2c.transport.sftp import SftpSettings
from schemas.errors import ConfigError

BANK_KEYS = {"name", "connection", "host", "port", "folder", "patterns", "archive_folder", "delete_after",
             "settle_seconds", "enabled", "max_file_bytes"}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


@dataclass(frozen=True)
class BankConfig:
    name: str
    connection: str
    folder: str = "."
    patterns: tuple[str, ...] = ("*",)
    archive_folder: str | None = None
    delete_after: bool = False
    settle_seconds: float = 10.0
    host: str | None = None  # overrides the connection's host
    port: int | None = None  # overrides the connection's port
    enabled: bool = True
    # larger files are refused at download; None: edi.limits.max_bytes("bank_file") (O2C_MAX_BANK_FILE_BYTES)
    max_file_bytes: int | None = None


def banks_file() -> Path:
    """Where the ``banks:`` section is read from."""
    from o2c.settings import get_settings

    env = os.environ.get("O2C_BANKS")
    return Path(env) if env else get_settings().sources_file


def load_banks(path: str | Path | None = None) -> list[BankConfig]:
    """Read and check the ``banks:`` section; errors name the file, the bank and the key."""
    path = Path(path) if path is not None else banks_file()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read banks file: {exc}") from exc
    items = raw.get("banks", []) if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{path}: 'banks:' must be a list")
    out: list[BankConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"{path}: banks[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a mapping")
        name = item.get("name")
        if not name or not isinstance(name, str) or not NAME_RE.match(name):
            raise ConfigError(f"{where}: name {name!r} must be lower-case letters, digits and _")
        where = f"{where} ({name})"
        unknown = set(item) - BANK_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} (credentials belong in the connection, not in this file)")
        if name in seen:
            raise ConfigError(f"{where}: duplicate bank name")
        seen.add(name)
        if not item.get("connection"):
            raise ConfigError(f"{where}: missing 'connection' (a connection id such as sftp_bank_{name})")
        patterns = item.get("patterns", ["*"])
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p for p in patterns):
            raise ConfigError(f"{where}: 'patterns' must be a list of file name patterns such as '*.xml'")
        if item.get("archive_folder") and item.get("delete_after"):
            raise ConfigError(f"{where}: give either 'archive_folder' or 'delete_after', not both")
        try:
            settle = float(item.get("settle_seconds", 10))
            port = int(item["port"]) if item.get("port") is not None else None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: settle_seconds and port must be numbers ({exc})") from None
        if settle < 0:
            raise ConfigError(f"{where}: settle_seconds must be >= 0")
        max_file_bytes = item.get("max_file_bytes")
        if max_file_bytes is not None and (isinstance(max_file_bytes, bool) or not isinstance(max_file_bytes, int)
                                           or max_file_bytes <= 0):
            raise ConfigError(f"{where}: max_file_bytes must be a positive whole number of bytes "
                              f"(got {max_file_bytes!r})")
        out.append(BankConfig(name=name, connection=str(item["connection"]), folder=str(item.get("folder") or "."),
                              patterns=tuple(patterns), archive_folder=item.get("archive_folder") or None,
                              delete_after=bool(item.get("delete_after", False)), settle_seconds=settle,
                              host=item.get("host") or None, port=port, enabled=bool(item.get("enabled", True)),
                              max_file_bytes=max_file_bytes))
    return out


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
