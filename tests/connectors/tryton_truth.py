"""Read Tryton's own figures with plain JSON-RPC (independent of connectors/tryton.py)."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import requests


def tryton_session(server: Any) -> tuple[requests.Session, dict[str, Any]]:
    http = requests.Session()
    body = http.post(server.rpc_url, json={"id": 1, "method": "common.db.login",
                                           "params": [server.admin_login, {"password": server.admin_password}]}, timeout=30).json()
    user_id, session = body["result"][0], body["result"][1]
    token = base64.b64encode(f"{server.admin_login}:{user_id}:{session}".encode()).decode()
    http.headers["Authorization"] = f"Session {token}"
    ctx = http.post(server.rpc_url, json={"id": 2, "method": "model.res.user.get_preferences", "params": [True, {}]}, timeout=30).json()["result"]
    return http, ctx


def posted_invoices(server: Any) -> dict[str, Decimal]:
    """Tryton's posted/paid customer invoices: number -> total_amount (signed, as Tryton keeps it)."""
    http, ctx = tryton_session(server)
    rows = http.post(server.rpc_url, json={"id": 3, "method": "model.account.invoice.search_read", "params": [
        [["type", "=", "out"], ["state", "in", ["posted", "paid"]]], 0, None, None, ["number", "total_amount"], ctx]}, timeout=60).json()["result"]
    return {r["number"]: Decimal(r["total_amount"]["decimal"]) for r in rows}


def write_dates(server: Any) -> list[Any]:
    http, ctx = tryton_session(server)
    rows = http.post(server.rpc_url, json={"id": 4, "method": "model.account.invoice.search_read", "params": [
        [["type", "=", "out"], ["state", "in", ["posted", "paid"]]], 0, None, [["write_date", "ASC"]], ["write_date"], ctx]}, timeout=60).json()["result"]
    return [r["write_date"] for r in rows]
