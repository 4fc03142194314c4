"""Run one DAG with ``dag.test()`` in this process and print its final state as JSON.

Used by the end-to-end tests in a subprocess, so that Airflow's configuration (taken from the
environment at import) and logging stay out of the pytest process.
"""

from __future__ import annotations

import json
import sys

from airflow.dag_processing.dagbag import DagBag


def asset_events(dag_id: str, run_id: str) -> list[dict[str, object]]:
    """The asset events the run emitted (uri, the emitting task and map index, extra), oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = (select(AssetModel.uri, AssetEvent.source_task_id, AssetEvent.source_map_index, AssetEvent.extra)
             .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
             .where(AssetEvent.source_dag_id == dag_id, AssetEvent.source_run_id == run_id)
             .order_by(AssetEvent.id))
    with create_session() as session:
        return [{"uri": uri, "task": task_id, "map_index": map_index, "extra": extra}
                for uri, task_id, map_index, extra in session.execute(query)]


def return_values(dag_id: str, run_id: str) -> dict[str, object]:
    """The tasks' return values (``task[map_index]`` -> value) of the run."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.key == "return_value")
    with create_session() as session:
        return {x.task_id + (f"[{x.map_index}]" if x.map_index >= 0 else ""): XComModel.deserialize_value(x)
                for x in session.scalars(query)}


def main(dag_id: str, conf: dict[str, object] | None = None) -> int:
    bag = DagBag(dag_folder=None)
    if bag.import_errors:
        print(json.dumps({"import_errors": {k: str(v) for k, v in bag.import_errors.items()}}))
        return 2
    dag = bag.get_dag(dag_id)
    run = dag.test(run_conf=conf)
    states = {ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else ""): str(ti.state) for ti in run.get_task_instances()}
    print("O2C_RESULT " + json.dumps({"state": str(run.state), "run_id": run.run_id, "tasks": states,
                                      "asset_events": asset_events(dag_id, run.run_id),
                                      "xcom": return_values(dag_id, run.run_id)}, default=str))
    return 0 if str(run.state).endswith("success") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else None))
