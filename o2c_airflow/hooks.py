"""Hooks: the only place where an Airflow connection id becomes a connector's ConnectionInfo."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from connectors.base import ConnectionInfo


class O2CSourceHook(BaseHook):
    """Resolve an ERP/CRM connection (``erp_tryton_demo``...) to a :class:`ConnectionInfo`.

    The connection's host, port, login, password and schema (database) are used as they are;
    ``extra`` may hold ``scheme`` (http/https) and connector options such as ``batch_size``.
    """

    conn_name_attr = "o2c_conn_id"
    default_conn_name = "erp_default"
    conn_type = "o2c_source"
    hook_name = "o2c-hub source"

    def __init__(self, o2c_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.o2c_conn_id = o2c_conn_id

    def get_connection_info(self) -> ConnectionInfo:
        conn = self.get_connection(self.o2c_conn_id)
        extra = dict(conn.extra_dejson or {})
        scheme = extra.pop("scheme", "https" if conn.conn_type and conn.conn_type.endswith("https") else "http")
        return ConnectionInfo(host=conn.host or "", port=conn.port, login=conn.login, password=conn.password,
                              schema=conn.schema, scheme=scheme, extra=extra)
