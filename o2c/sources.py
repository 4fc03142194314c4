"""Configured sources (``sources.yaml``) and their connections outside Airflow.

A source names a connector kind, a connection id, its streams and options. Credentials are
never in the file: outside Airflow a connection id ``erp_tryton_demo`` is read from the
environment variable ``O2C_CONN_ERP_TRYTON_DEMO`` (or ``AIRFLOW_CONN_ERP_TRYTON_DEMO``) holding
a URI; inside Airflow the hook in ``o2c_airflow.hooks`` reads the Airflow connection of that id.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from connectors import REGISTRY
from connectors.base import ConnectionInfo
from mappings.mapper import Mapping, load_mapping, mapping_path
from schemas.errors import ConfigError

STREAM_DOCUMENTS = {"invoices": "invoice", "customers": "customer"}
SOURCE_KEYS = {"name", "kind", "connection", "streams", "mapping", "options", "start", "enabled"}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    connection: str
    streams: tuple[str, ...] = ("customers", "invoices")
    mapping: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    start: dt.datetime | None = None
    enabled: bool = True

    @property
    def mapping_folder(self) -> str:
        return self.mapping or self.kind

    def load_mapping(self, stream: str) -> Mapping:
        return load_mapping(mapping_path(self.mapping_folder, STREAM_DOCUMENTS[stream]))


def load_sources(path: str | Path) -> list[SourceConfig]:
    """Read and check the sources file; errors name the file, the source and the key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read sources file: {exc}") from exc
    items = raw.get("sources") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{path}: expected a top-level 'sources:' list")
    out: list[SourceConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"{path}: sources[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a mapping")
        unknown = set(item) - SOURCE_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
        for key in ("name", "kind", "connection"):
            if not item.get(key):
                raise ConfigError(f"{where}: missing {key!r}")
        name = item["name"]
        if not NAME_RE.match(name):
            raise ConfigError(f"{where}: name {name!r} must be lower-case letters, digits and _")
        if name in seen:
            raise ConfigError(f"{where}: duplicate source name {name!r}")
        seen.add(name)
        if item["kind"] not in REGISTRY:
            raise ConfigError(f"{where} ({name}): unknown kind {item['kind']!r} (known: {sorted(REGISTRY)})")
        streams = tuple(item.get("streams") or ("customers", "invoices"))
        bad = [s for s in streams if s not in STREAM_DOCUMENTS]
        if bad:
            raise ConfigError(f"{where} ({name}): unknown stream(s) {bad} (known: {sorted(STREAM_DOCUMENTS)})")
        start = item.get("start")
        if isinstance(start, str):
            start = dt.datetime.fromisoformat(start)
        if isinstance(start, dt.datetime) and start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
        src = SourceConfig(name=name, kind=item["kind"], connection=item["connection"], streams=streams,
                           mapping=item.get("mapping"), options=dict(item.get("options") or {}), start=start,
                           enabled=bool(item.get("enabled", True)))
        for stream in streams:  # a broken mapping fails here, before any run
            src.load_mapping(stream)
        out.append(src)
    return out


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
