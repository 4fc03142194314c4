"""erp_invoice_sync end to end: dag.test() against the live Tryton server, twice; then einvoice_outbound."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from o2c.store import Store
from tests.connectors.tryton_truth import posted_invoices
from tests.fixtures_airflow import REPO

pytestmark = [pytest.mark.airflow, pytest.mark.tryton, pytest.mark.slow]


def run_dag(env: dict[str, str], dag_id: str) -> dict:
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "dags" / "run_dag.py"), dag_id], env=env,
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("O2C_RESULT ")]
    assert lines, f"no result (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1].removeprefix("O2C_RESULT "))


def test_dag_syncs_tryton_and_a_rerun_changes_nothing(airflow_db, tryton_server, tmp_path):
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n"
        "  - name: tryton_demo\n    kind: tryton\n    connection: erp_tryton_demo\n    streams: [customers, invoices]\n"
    )
    db_url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    einvoicing = tmp_path / "einvoicing.yaml"
    einvoicing.write_text("default_format: facturx-en16931\n"
                          "customers:\n  - {siren: '512348707', format: ubl}\n"
                          f"channel: {{kind: folder, path: {tmp_path / 'platform'}}}\n")
    env = {
        **airflow_db,
        "O2C_HOME": str(tmp_path),
        "O2C_DATABASE_URL": db_url,
        "O2C_SOURCES": str(sources),
        "O2C_EINVOICING": str(einvoicing),
        "AIRFLOW_CONN_ERP_TRYTON_DEMO": f"tryton://{tryton_server.admin_login}:{tryton_server.admin_password}"
                                        f"@127.0.0.1:{tryton_server.port}/{tryton_server.database}",
        "PYTHONPATH": str(REPO),
    }
    Store(db_url).upgrade()  # a deployment step, once: the DAG tasks only check the revision
    first = run_dag(env, "erp_invoice_sync")
    assert first["state"].endswith("success"), first
    assert first["tasks"]["sync[0]"].endswith("success")

    truth = posted_invoices(tryton_server)
    store = Store(db_url)
    stored = {r.number: r for r in store.invoices("tryton_demo")}
    assert set(stored) == set(truth)
    assert {n: (r.payable if r.type_code == "380" else -r.payable) for n, r in stored.items()} == truth
    runs = store.runs("tryton_demo")
    assert {r.stream for r in runs} == {"customers", "invoices"}
    inv_run = next(r for r in runs if r.stream == "invoices")
    assert (inv_run.dag_id, inv_run.task_id, inv_run.inserted, inv_run.status) == ("erp_invoice_sync", "sync", len(truth), "success")
    before = [(r.number, r.version, r.content_hash) for r in store.invoices()]

    second = run_dag(env, "erp_invoice_sync")
    assert second["state"].endswith("success"), second
    assert [(r.number, r.version, r.content_hash) for r in store.invoices()] == before
    latest = [r for r in store.runs("tryton_demo") if r.airflow_run_id == second["run_id"]]
    assert latest and all(r.inserted == r.updated == r.rejected == 0 for r in latest)

    # the invoices now leave as validated e-invoices, each once
    outbound = run_dag(env, "einvoice_outbound")
    assert outbound["state"].endswith("success"), outbound
    delivered = sorted((tmp_path / "platform").iterdir())
    assert len(delivered) == len(truth)  # intra-community supplies too: their delivery comes from the shipment
    assert {p.suffix for p in delivered} == {".pdf", ".xml"}  # Factur-X by default, UBL for one customer
    assert run_dag(env, "einvoice_outbound")["state"].endswith("success")
    assert len(list((tmp_path / "platform").iterdir())) == len(delivered)
