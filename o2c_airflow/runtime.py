"""What the DAG tasks run: read Airflow's context, call the library, translate errors."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from schemas.errors import FatalError, RetriableError

log = logging.getLogger(__name__)


@contextmanager
def airflow_errors() -> Iterator[None]:
    """FatalError -> fail now, no retry; RetriableError -> fail, Airflow retries with backoff."""
    try:
        yield
    except FatalError as exc:
        raise AirflowFailException(f"{exc} (fatal: fix the configuration or credentials; not retried)") from exc
    except RetriableError as exc:
        raise AirflowException(f"{exc} (temporary: the task will be retried)") from exc


def _utc(value: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(value.timestamp(), dt.UTC)


def window_end(context: dict[str, Any]) -> dt.datetime:
    """The fixed end of this run's data window (never now()).

    A scheduled run ends its window at its data interval end; a manual run (an engineer's
    "sync now", ``dag.test()``) at the moment it was triggered. Both are stored on the DAG run,
    so re-running its tasks reads the same window.
    """
    dag_run = context.get("dag_run")
    run_type = str(getattr(dag_run, "run_type", "") or "").lower()
    if dag_run is not None and "manual" in run_type and getattr(dag_run, "run_after", None) is not None:
        return _utc(dag_run.run_after)
    for key in ("data_interval_end", "logical_date"):
        value = context.get(key)
        if value is not None:
            return _utc(value)
    if dag_run is not None and getattr(dag_run, "run_after", None) is not None:
        return _utc(dag_run.run_after)
    raise ValueError("no data interval, logical date or run_after in the task context")


def run_context(context: dict[str, Any]) -> Any:
    """The :class:`o2c.context.RunContext` of the running task: its DAG id, task id, run id and
    the fixed end of its data window; what every job records its sync run with."""
    from o2c.context import RunContext

    ti = context.get("ti")
    try:
        end: dt.datetime | None = window_end(context)
    except ValueError:
        end = None
    return RunContext(dag_id=getattr(ti, "dag_id", None), task_id=getattr(ti, "task_id", None),
                      run_id=getattr(ti, "run_id", None), window_end=end)


def task_store() -> Any:
    """The hub store of a task, its schema revision checked: a store not migrated yet (``o2c db
    upgrade`` is a deployment step) fails the task at once, not retried."""
    from o2c.settings import get_settings
    from o2c.store import Store

    with airflow_errors():
        store = Store(get_settings().database_url)
        store.check_revision()
    return store


def enabled_source_names() -> list[str]:
    from o2c.settings import get_settings
    from o2c.sources import load_sources

    with airflow_errors():
        return [s.name for s in load_sources(get_settings().sources_file) if s.enabled]


def run_source_sync(source_name: str, context: dict[str, Any]) -> dict[str, Any]:
    """Sync one configured source over this run's window; returns counts (never documents)."""
    from o2c.jobs.sync import sync_source
    from o2c.settings import get_settings
    from o2c.sources import get_source, load_sources
    from o2c_airflow.hooks import O2CSourceHook

    settings = get_settings()
    store = task_store()
    ctx = run_context(context)
    with airflow_errors():
        source = get_source(load_sources(settings.sources_file), source_name)
        conn = O2CSourceHook(source.connection).get_connection_info()
        summary = sync_source(store, source, conn, until=window_end(context), context=ctx)
    result = summary.as_dict()
    for st in result["streams"]:
        log.info("%s/%s: read %d, inserted %d, updated %d, unchanged %d, rejected %d (sync run %s)",
                 st["source"], st["stream"], st["read"], st["inserted"], st["updated"], st["unchanged"],
                 st["rejected"], st["run_id"])
        for rej in st["rejects"]:
            log.warning("quarantined %s: %s", rej["record"], rej["reason"])
        st["rejects"] = st["rejects"][:20]  # XCom carries counts and a sample, never documents
    return result


def report_runs(summaries: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Summarise the mapped syncs of this run; a failed source is reported, the others kept."""
    done = [s for s in summaries if s]
    totals = {k: sum(st[k] for s in done for st in s["streams"]) for k in ("read", "inserted", "updated", "unchanged", "rejected")}
    log.info("sources synced: %d; %s", len(done), ", ".join(f"{k} {v}" for k, v in totals.items()))
    return {"sources": len(done), **totals}
