"""Who runs a job, and over which window: built once, by the Airflow glue or by the ``o2c`` command.

A job takes a :class:`RunContext` and passes it to :meth:`o2c.store.Store.run`, which records the
sync run (``sync_run``: DAG id, task id, run id, window, counts, status). The library never names
an Airflow task itself: the glue (``o2c_airflow.runtime.run_context``) copies the running task's
ids, a command (:meth:`RunContext.command`) records ``o2c <command>`` and a run id of its own, so a
run started by hand is told apart from a scheduled one in the same table.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """The identity of one job run.

    ``window_end`` is the fixed end of the data window (a DAG run's data interval end, or the
    moment a command was started): never ``now()`` read again during the run, so a re-run of the
    same DAG run reads the same window.

    >>> ctx = RunContext.command("cash run", window_end=dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
    >>> ctx.dag_id, ctx.task_id, ctx.run_id.startswith("cli__20261207T000000_")
    (None, 'o2c cash run', True)
    >>> RunContext().run_info()
    {'dag_id': None, 'task_id': None, 'airflow_run_id': None}
    """

    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    window_end: dt.datetime | None = None

    @classmethod
    def command(cls, name: str, *, window_end: dt.datetime | None = None) -> RunContext:
        """The context of ``o2c <name>`` started now (its window ends now unless given)."""
        end = window_end or dt.datetime.now(dt.UTC)
        if end.tzinfo is None:
            raise ValueError("window end must be timezone-aware")
        return cls(task_id=f"o2c {name}", run_id=f"cli__{end:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}", window_end=end)

    def run_info(self) -> dict[str, str | None]:
        """The ids as the ``sync_run`` row names them."""
        return {"dag_id": self.dag_id, "task_id": self.task_id, "airflow_run_id": self.run_id}
