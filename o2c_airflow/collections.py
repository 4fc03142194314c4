"""Task runtimes of the collections DAG: promises refreshed, the day's reminders planned and
recorded (:func:`o2c.jobs.collections.run_dunning`)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from o2c_airflow.runtime import airflow_errors, run_context, task_store, window_end

log = logging.getLogger(__name__)


def refresh_promises(context: dict[str, Any]) -> dict[str, Any]:
    """Mark the open promises kept (cash applied covers them) or broken (date and grace passed) as
    of the run's day, before the plan reads them."""
    from o2c.config import load_collections
    from o2c.store.collections import check_promises

    as_of = window_end(context).date()
    store = task_store()
    with airflow_errors():
        config = load_collections()
        checked = check_promises(store, as_of, grace_days=config.promise_grace_days)
    log.info("promises at %s: %d kept, %d broken, %d still open", as_of, checked.kept, checked.broken, checked.open)
    return {"as_of": as_of.isoformat(), **dataclasses.asdict(checked)}


def plan_reminders(context: dict[str, Any]) -> dict[str, Any]:
    """The day's reminders planned and stored (``pending``, or ``cannot_send`` with the reason),
    every overdue invoice left out recorded with its rule; a re-run the same day adds nothing."""
    from o2c.config import load_collections
    from o2c.jobs.collections import run_dunning

    as_of = window_end(context).date()
    store = task_store()
    with airflow_errors():
        summary = run_dunning(store, load_collections(), as_of, context=run_context(context))
    rules = ", ".join(f"{n} {rule}" for rule, n in sorted(summary.skipped_by_rule.items())) or "none"
    log.info("dunning at %s: %d reminder(s) due (%d new, %d cannot be sent), %d overdue invoice(s) left out (%s) (run %s)",
             summary.as_of, summary.reminders, summary.new_reminders, summary.cannot_send, summary.skipped, rules,
             summary.run_id)
    out = summary.as_dict()
    out["details"] = out["details"][:20]  # XCom carries counts and a sample
    return out


def send_planned(context: dict[str, Any]) -> dict[str, Any]:
    """Send the pending reminders over the SMTP connection ``collections.smtp_connection`` (an
    Airflow connection) and write their level to the ERPs that take it; skipped, with why, when no
    SMTP connection is configured (the reminders stay pending, visible on the worklist)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from connectors import build, connector_class
    from o2c.config import load_collections, load_config
    from o2c.jobs.reminders import send_reminders
    from o2c.settings import get_settings
    from o2c.sources import load_sources
    from o2c_airflow.hooks import O2CSourceHook
    from transport.smtp import SmtpSettings

    store = task_store()
    with airflow_errors():
        config = load_collections()
        if not config.smtp_connection:
            raise AirflowSkipException("collections.smtp_connection is not set: the planned reminders stay pending")
        conn = O2CSourceHook(config.smtp_connection).get_connection_info()
        smtp = SmtpSettings.from_connection(conn.host, conn.port, conn.login, conn.password, conn.scheme, conn.extra,
                                            setting=f"connection {config.smtp_connection!r}")
        path = get_settings().sources_file
        with_sources = config.write_erp_level and path.is_file() and load_config(path).sources
        sources = {s.name: s for s in load_sources(path) if s.enabled} if with_sources else {}
        built: dict[str, Any] = {}

        def erp(name: str) -> Any:
            if name not in built:
                src = sources.get(name)
                ok = src is not None and hasattr(connector_class(src.kind), "push_dunning_level")
                built[name] = build(src.kind, O2CSourceHook(src.connection).get_connection_info(), **src.options) if ok else None
            return built[name]

        try:
            summary = send_reminders(store, config, smtp=smtp, erp=erp, context=run_context(context))
        finally:
            for connector in built.values():
                if connector is not None:
                    connector.close()
    out = summary.as_dict()
    log.info("reminders: %s", {k: v for k, v in out.items() if isinstance(v, int)})
    out["details"] = out.get("details", [])[:20]
    return out
