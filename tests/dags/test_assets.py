"""The assets that chain the DAGs: every one a DAG waits for is emitted by another DAG, and all of them
come from ``o2c_airflow.assets`` (a URI typed twice could differ by a letter and never trigger)."""

from __future__ import annotations

import ast

import pytest

from tests.fixtures_airflow import REPO

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag


def _uris(condition) -> set[str]:  # type: ignore[no-untyped-def]
    """The asset URIs of a schedule's condition (an Asset, or AssetAll/AssetAny of them)."""
    if condition is None:
        return set()
    if hasattr(condition, "objects"):
        return set().union(*(_uris(o) for o in condition.objects))
    return {condition.uri}


def _consumed(dag) -> set[str]:  # type: ignore[no-untyped-def]
    return _uris(getattr(dag.timetable, "asset_condition", None))


def _produced(dag) -> set[str]:  # type: ignore[no-untyped-def]
    return {outlet.uri for task in dag.tasks for outlet in task.outlets}


def test_every_consumed_asset_has_a_producer(dagbag):
    produced = set().union(*(_produced(d) for d in dagbag.dags.values()))
    orphans = {dag_id: sorted(_consumed(d) - produced) for dag_id, d in dagbag.dags.items() if _consumed(d) - produced}
    assert orphans == {}


def test_the_chain_is_the_documented_one(dagbag):
    """Sync -> e-invoicing; bank ingest -> cash application -> write-back, risk scoring and collections."""
    from o2c_airflow import assets

    consumers = {dag_id: _consumed(d) for dag_id, d in dagbag.dags.items() if _consumed(d)}
    assert consumers == {
        "einvoice_outbound": {assets.INVOICES.uri},
        "cash_application": {assets.BANK_STATEMENTS.uri},
        "erp_writeback": {assets.ALLOCATIONS.uri},
        "risk_scoring": {assets.ALLOCATIONS.uri},
        "collections": {assets.ALLOCATIONS.uri},
    }
    producers = {dag_id: _produced(d) for dag_id, d in dagbag.dags.items() if _produced(d)}
    assert producers == {
        "erp_invoice_sync": {assets.INVOICES.uri},
        "einvoice_outbound": {assets.EINVOICES.uri},
        "bank_statement_ingest": {assets.BANK_STATEMENTS.uri},
        "cash_application": {assets.ALLOCATIONS.uri},
    }
    used = set().union(*consumers.values(), *producers.values())
    assert used == {a.uri for a in assets.ALL}


def test_dags_define_no_asset_of_their_own():
    """No ``Asset(...)`` call in dags/: the URIs are written once, in o2c_airflow/assets.py."""
    offenders = []
    for path in sorted((REPO / "dags").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Asset":
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
