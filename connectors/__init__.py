"""ERP/CRM connectors, one module per system, registered explicitly here.

Adding a system: a module with a connector class (see :mod:`connectors.base`) that declares its
streams (primary key and cursor field of each) and its write-back capabilities, one line in
``REGISTRY``, a mapping folder ``mappings/<kind>/`` and a samples folder. No DAG code.
The declarations are read here without connecting (:func:`stream_specs`, :func:`capabilities`).
"""

from __future__ import annotations

import importlib
from typing import Any

from connectors.base import (
    BaseConnector,
    Batch,
    Capabilities,
    ConnectionInfo,
    Connector,
    NotSupported,
    StreamSpec,
)
from schemas.errors import ConfigError

# kind -> "module:Class"
REGISTRY: dict[str, str] = {
    "tryton": "connectors.tryton:TrytonConnector",
    "sql": "connectors.sql:SqlConnector",
    "filedrop": "connectors.filedrop:FileDropConnector",
    "odoo": "connectors.odoo:OdooConnector",
    "sap_s4": "connectors.sap_s4:SapS4Connector",
    "salesforce": "connectors.salesforce:SalesforceConnector",
    "hubspot": "connectors.hubspot:HubSpotConnector",
}

__all__ = ["REGISTRY", "BaseConnector", "Batch", "Capabilities", "ConnectionInfo", "Connector", "NotSupported",
           "StreamSpec", "build", "capabilities", "connector_class", "stream_specs"]


def connector_class(kind: str) -> type[Any]:
    try:
        module, _, cls = REGISTRY[kind].partition(":")
    except KeyError:
        raise ConfigError(f"unknown connector kind {kind!r} (known: {sorted(REGISTRY)})") from None
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def stream_specs(kind: str) -> tuple[StreamSpec, ...]:
    """The streams the connector of ``kind`` declares (class defaults: a ``sql`` source's options
    can move its key and cursor, see :meth:`connectors.sql.SqlConnector.spec`)."""
    return connector_class(kind).stream_specs  # type: ignore[no-any-return]


def capabilities(kind: str) -> Capabilities:
    """The write-back the connector of ``kind`` declares (e.g. ``payments`` for ``tryton``)."""
    return connector_class(kind).capabilities  # type: ignore[no-any-return]


def build(kind: str, conn: ConnectionInfo, **options: Any) -> Any:
    """An authenticated connector of ``kind`` for ``conn``."""
    return connector_class(kind)(conn, **options)
