"""Configured sources (the ``sources:`` section, modelled and checked by :mod:`o2c.config`) and
their connections outside Airflow.

A source names a connector kind, a connection id, its streams and options. Credentials are
never in the file: outside Airflow a connection id ``erp_tryton_demo`` is read from the
environment variable ``O2C_CONN_ERP_TRYTON_DEMO`` (or ``AIRFLOW_CONN_ERP_TRYTON_DEMO``) holding
a URI; inside Airflow the hook in ``o2c_airflow.hooks`` reads the Airflow connection of that id.
"""

from __future__ import annotations

import os
from pathlib import Path

from connectors.base import ConnectionInfo
from o2c.config import SourceConfig, load_sources_section
from schemas.errors import ConfigError


def load_sources(path: str | Path | None = None) -> list[SourceConfig]:
    """The ``sources:`` section of ``path`` (default: the sources file), checked by
    :mod:`o2c.config`, then every source's mappings read: a broken mapping fails here, before any run."""
    sources = list(load_sources_section(path))
    for src in sources:
        for stream in src.streams:
            src.load_mapping(stream)
    return sources


def get_source(sources: list[SourceConfig], name: str) -> SourceConfig:
    for src in sources:
        if src.name == name:
            return src
    raise ConfigError(f"unknown source {name!r} (configured: {[s.name for s in sources]})")


def connection_from_env(conn_id: str) -> ConnectionInfo:
    """The connection ``conn_id`` from ``O2C_CONN_<ID>`` or ``AIRFLOW_CONN_<ID>`` (a URI, or
    Airflow's JSON form); a malformed one is a :class:`ConfigError` naming the variable."""
    key = conn_id.upper()
    for var in (f"O2C_CONN_{key}", f"AIRFLOW_CONN_{key}"):
        value = os.environ.get(var, "").strip()
        if value:
            info = ConnectionInfo.from_setting(value, var)
            if not info.host:
                raise ConfigError(f'{var}: the connection has no host; set "host" (or write a URI kind://login:password@host:port/database)')
            return info
    raise ConfigError(f"connection {conn_id!r} is not configured: set O2C_CONN_{key} (or an Airflow connection) to a URI like kind://login:password@host:port/database")
