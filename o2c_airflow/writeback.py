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
    """Enqueue the source's applied allocations as payment commands and send the pending ones
    (those awaiting an approval stay); with the DAG run's ``dry_run`` parameter, only show what
    would change (:func:`dry_run_writeback`).

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

    if _dry_run(context):
        return dry_run_writeback(source_name)
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


def _dry_run(context: dict[str, Any]) -> bool:
    """The DAG run's ``dry_run`` parameter."""
    params = context.get("params") or {}
    return bool(params.get("dry_run", False))


def _payment_source(source_name: str) -> Any:
    from o2c.jobs.writeback import supports_payments
    from o2c.settings import get_settings
    from o2c.sources import get_source, load_sources
    from schemas.errors import ConfigError

    source = get_source(load_sources(get_settings().sources_file), source_name)
    if not supports_payments(source.kind):  # the task is mapped over payment_source_names(): a stale mapping
        raise ConfigError(f"source {source_name!r} ({source.kind}) does not support payment write-back")
    return source


def approval_request(source_name: str, context: dict[str, Any]) -> dict[str, Any]:
    """Enqueue the source's applied allocations (each ``pending`` or ``awaiting_approval`` by the
    source's policy) and return what the approval task asks about: the commands waiting (with
    amount, target and why they wait), the approvers, the timeout. A dry run enqueues nothing and
    asks nothing (the push task shows what would change)."""
    from o2c.jobs.approval import awaiting, describe
    from o2c.jobs.writeback import enqueue_payments
    from o2c.store import audit
    from o2c_airflow.runtime import task_store

    with airflow_errors():
        source = _payment_source(source_name)
        request: dict[str, Any] = {"source": source.name, "commands": [], "approvers": list(source.writeback.approvers),
                                   "response_timeout_seconds": int(source.writeback.response_timeout.total_seconds()),
                                   "on_timeout": source.writeback.on_timeout}
        if _dry_run(context):
            log.info("%s: dry run: nothing enqueued, no approval asked", source.name)
            return request
        store = task_store()
        enqueued = enqueue_payments(store, sources=[source])
        rows = awaiting(store, source.name)
        why = {e.details.get("key"): e.details.get("policy") for r in rows
               for e in audit.trail(store, f"invoice:{r.source}:{r.target_id}") if e.action == "writeback.enqueued"}
        request["commands"] = [{**{k: v for k, v in describe(r).items() if k != "reason"},
                                "policy": why.get(r.idempotency_key)} for r in rows]
        log.info("%s: enqueued %d, %d command(s) await approval", source.name, enqueued, len(rows))
    return request


def record_response(response: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Record the approval task's response through :func:`o2c.jobs.approval.decide`: the responding
    user, the option chosen (``Approve`` / ``Refuse``) and the reason, over the commands the
    request listed. A timeout (no user: Airflow applied the default, ``Refuse``) refuses them as
    ``airflow:timeout``, or, with the source's ``on_timeout: wait``, leaves them waiting."""
    from o2c.jobs.approval import TIMEOUT_ACTOR, ApprovalError, decide
    from o2c_airflow.approval import APPROVE, REFUSE
    from o2c_airflow.runtime import task_store

    chosen = list(response.get("chosen_options") or [])
    user = response.get("responded_by_user") or {}
    reason = str((response.get("params_input") or {}).get("reason") or "").strip()
    with airflow_errors():
        source = _payment_source(str(response["source"]))
        store = task_store()
        if not user:  # the scheduler's timeout applied the default
            if source.writeback.on_timeout == "wait":
                log.warning("%s: no answer in time; %d command(s) keep waiting (on_timeout: wait)", source.name,
                            len(response.get("commands") or []))
                return {"source": source.name, "decision": None, "commands": [], "timed_out": True}
            by = TIMEOUT_ACTOR
            reason = f"no answer in Airflow within {source.writeback.response_timeout} (on_timeout: refuse)"
            decision = "refuse"
        else:
            by = str(user.get("name") or user.get("id") or "")
            if chosen not in ([APPROVE], [REFUSE]):
                raise ApprovalError(f"{source.name}: unexpected answer {chosen!r}; expected {APPROVE} or {REFUSE}")
            decision = "approve" if chosen == [APPROVE] else "refuse"
            reason = reason or f"{decision}d in Airflow (no reason given)"
        result = decide(store, source, decision, by=by, reason=reason,  # type: ignore[arg-type]
                        commands=response.get("commands") or [], via="airflow")
    log.info("%s: %s %s %d command(s) %s: %s", source.name, result.decided_by, result.decision, len(result.commands),
             result.commands, reason)
    return result.as_dict()


def dry_run_writeback(source_name: str) -> dict[str, Any]:
    """What a push of the source would change in its ERP (before -> after, read from it), logged;
    nothing written (:func:`o2c.jobs.dry_run.dry_run`)."""
    from connectors import build
    from o2c.jobs.dry_run import dry_run
    from o2c_airflow.hooks import O2CSourceHook
    from o2c_airflow.runtime import task_store

    with airflow_errors():
        source = _payment_source(source_name)
        store = task_store()
        conn = O2CSourceHook(source.connection).get_connection_info()
        with build(source.kind, conn, **source.options) as connector:
            previews = dry_run(store, source, connector)
    log.info("%s: dry run, nothing written; %d command(s)", source.name, len(previews))
    for p in previews:
        for line in p.lines():
            log.info("  %s", line)
    return {"source": source.name, "dry_run": True, "commands": [p.as_dict() for p in previews[:200]]}
