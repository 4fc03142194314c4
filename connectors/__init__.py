"""ERP/CRM connectors, one module per system, registered explicitly here.

Adding a system: a module with a connector class (see :mod:`connectors.base`), one line in
``REGISTRY``, a mapping folder ``mappings/<kind>/`` and a samples folder. No DAG code.
"""

from __future__ import annotations

import importlib
from typing import Any

from connectors.base import BaseConnector, Batch, ConnectionInfo, Connector, NotSupported
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

__all__ = ["REGISTRY", "BaseConnector", "Batch", "ConnectionInfo", "Connector", "NotSupported", "connector_class", "build"]


def connector_class(kind: str) -> type[Any]:
    try:
        module, _, cls = REGISTRY[kind].partition(":")
    except KeyError:
        raise ConfigError(f"unknown connector kind {kind!r} (known: {sorted(REGISTRY)})") from None
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def build(kind: str, conn: ConnectionInfo, **options: Any) -> Any:
    """An authenticated connector of ``kind`` for ``conn``."""
    return connector_class(kind)(conn, **options)
