"""Task runtimes of the erp_writeback DAG: applied cash written back to the source ERPs."""

from __future__ import annotations

import logging
from typing import Any

from o2c_airflow.runtime import airflow_errors

log = logging.getLogger(__name__)


def payment_source_names() -> list[str]:
    """Enabled sources whose connector declares that it records payments (``Capabilities.payments``;
    the DAG maps one task over them)."""
    from o2c.jobs.writeback import payment_sources

    with airflow_errors():
        return payment_sources()


def run_writeback(source_name: str, context: dict[str, Any]) -> dict[str, Any]:
    """Enqueue the source's applied allocations as payment commands and send the pending ones.

    A transient failure leaves the commands pending and fails the task so that Airflow retries;
    a command the ERP refuses is marked failed with its reason (shown in the log) and the run goes on.
    """
    from connectors import build
    from o2c.jobs.writeback import enqueue_all, push_pending, supports_payments
    from o2c.settings import get_settings
    from o2c.sources import get_source, load_sources
    from o2c.store import Store
    from o2c_airflow.hooks import O2CSourceHook
    from schemas.errors import ConfigError, RetriableError

    settings = get_settings()
    with airflow_errors():
        source = get_source(load_sources(settings.sources_file), source_name)
        if not supports_payments(source.kind):  # the task is mapped over payment_source_names(): a stale mapping
            raise ConfigError(f"source {source_name!r} ({source.kind}) does not support payment write-back")
        store = Store(settings.database_url)
        store.check_revision()
        enqueued = sum(enqueue_all(store, sources=[source]).values())
        conn = O2CSourceHook(source.connection).get_connection_info()
        with build(source.kind, conn, **source.options) as connector:
            summary = push_pending(store, source.name, connector)
        for err in summary.errors:
            log.warning("write-back command %s (target %s) failed: %s", err["id"], err["target_id"], err["error"])
        log.info("%s: enqueued %d, sent %d, failed %d, retry later %d, withdrawn %d", source.name, enqueued,
                 summary.sent, summary.failed, summary.retry_later, summary.withdrawn)
        if summary.stopped:
            raise RetriableError(f"{source.name}: write-back stopped: {summary.stopped}")
    return {"source": source_name, "enqueued": enqueued, **{k: v for k, v in summary.as_dict().items() if k != "errors"},
            "errors": summary.errors[:20]}
