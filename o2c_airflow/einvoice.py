"""Task runtimes of the e-invoicing DAGs (outbound documents, inbound lifecycle statuses)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from o2c_airflow.runtime import airflow_errors, run_context, task_store

log = logging.getLogger(__name__)


def run_outbound(context: dict[str, Any]) -> dict[str, Any]:
    from o2c.config import HttpChannel, SftpChannel, load_einvoicing
    from o2c.jobs.einvoice import outbound

    store = task_store()
    with airflow_errors():
        config = load_einvoicing()
        channel = config.channel
        connection = None
        if isinstance(channel, SftpChannel):
            from o2c_airflow.bank import O2CSftpHook

            connection = O2CSftpHook(channel.connection).get_sftp_settings()
        elif isinstance(channel, HttpChannel) and channel.connection:
            from o2c_airflow.hooks import O2CSourceHook

            connection = O2CSourceHook(channel.connection).get_connection_info()
        summary = outbound(store, config, connection=connection, context=run_context(context))
    log.info("e-invoices: %d considered, %d delivered, %d rejected, %d failed deliveries, %d already done (run %s)",
             summary.considered, summary.delivered, summary.rejected, summary.failed, summary.already_done, summary.run_id)
    for rej in summary.rejects:
        log.warning("not sent: %s (%s): %s", rej["invoice"], rej["format"], rej["reason"])
    out = dataclasses.asdict(summary)
    out["rejects"] = out["rejects"][:20]
    return out


def run_status_inbound(context: dict[str, Any]) -> dict[str, Any]:
    from o2c.jobs.einvoice import ingest_statuses
    from o2c.settings import get_settings

    settings = get_settings()
    inbox = Path(settings.home / "inbox" / "statuses")
    store = task_store()
    with airflow_errors():
        inbox.mkdir(parents=True, exist_ok=True)
        summary = ingest_statuses(store, inbox)
    log.info("lifecycle statuses from %s: %s", inbox, summary)
    return dataclasses.asdict(summary)
