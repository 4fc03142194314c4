"""Every DAG imports cleanly, is well-formed, and does no work at parse time."""

from __future__ import annotations

import ast
import time

import pytest

from tests.fixtures_airflow import REPO

pytestmark = pytest.mark.airflow
LIBRARY = ["schemas", "connectors", "mappings", "edi", "matching", "o2c"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    start = time.perf_counter()
    bag = DagBag(dag_folder=str(REPO / "dags"))
    bag.parse_seconds = time.perf_counter() - start
    return bag


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "erp_invoice_sync" in dagbag.dags


def test_every_dag_has_tags_owner_retries(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        for t in dag.tasks:
            assert t.owner and t.owner != "airflow", f"{dag_id}.{t.task_id} has no owner"
        assert any(t.retries >= 2 for t in dag.tasks), f"{dag_id}: no task retries"


def test_dag_files_do_no_work_at_parse_time():
    """DAG files import only Airflow, pendulum, the assets and the operators of the glue at module
    level (o2c_airflow.approval: an Airflow operator class, importing only Airflow itself, as the
    next test checks); the library loads inside tasks."""
    allowed = {"__future__", "datetime", "pendulum", "airflow", "airflow.sdk", "o2c_airflow.assets",
               "o2c_airflow.approval"}
    for path in sorted((REPO / "dags").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name in allowed or name.startswith("airflow."), f"{path.name} imports {name} at parse time"


def test_the_glue_a_dag_file_imports_imports_only_airflow():
    """What DAG files import of o2c_airflow imports nothing but Airflow and the standard library at
    module level (the library, read at parse time by every DAG file, would be work at parse time)."""
    import sys

    for module in ("o2c_airflow/assets.py", "o2c_airflow/approval.py"):
        tree = ast.parse((REPO / module).read_text())
        for node in tree.body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top in ("airflow", "__future__") or top in sys.stdlib_module_names, f"{module} imports {name}"


def _importers(packages: list[str], top: str) -> list[str]:
    """Files of ``packages`` that import the top-level module ``top`` (or one of its submodules)."""
    offenders = []
    for pkg in packages:
        for path in (REPO / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                mods = []
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    mods = [node.module or ""]
                if any(m == top or m.startswith(f"{top}.") for m in mods):
                    offenders.append(str(path.relative_to(REPO)))
    return offenders


def test_only_dags_and_the_airflow_glue_import_airflow():
    """Airflow is imported by dags/, plugins/ and o2c_airflow/ only (the library runs without it)."""
    assert _importers(LIBRARY, "airflow") == []


def test_the_library_imports_neither_the_glue_nor_the_demo():
    """o2c_airflow sits on the library, the demo (not in the wheel) on both; never the other way round."""
    assert _importers(LIBRARY, "o2c_airflow") == []
    assert _importers([*LIBRARY, "o2c_airflow"], "demo") == []
