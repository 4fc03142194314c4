"""bank_statement_ingest end to end against the test sshd: a dag.test() with three banks (files, files,
nothing new) that updates the bank statements asset, then one that sees only a duplicate and does not.

Re-runs changing nothing are proven on the library in test_ingest.py (each dag.test() costs about 20 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from o2c.store import Store
from o2c.store import bank as ledger
from tests.bank.helpers import CAMT053, CAMT053_INVALID, MT940, mt940
from tests.fixtures_airflow import REPO

pytestmark = [pytest.mark.airflow, pytest.mark.sftp, pytest.mark.slow]
BANK_STATEMENTS = "o2c://store/bank_statements"


def run_dag(env: dict[str, str], dag_id: str) -> dict:
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "dags" / "run_dag.py"), dag_id], env=env,
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("O2C_RESULT ")]
    assert lines, f"no result (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1].removeprefix("O2C_RESULT ")), proc.stdout + proc.stderr


def test_dag_ingests_each_bank_once(airflow_db, sshd, tmp_path):
    key = uuid.uuid4().hex[:8]
    inbox = sshd.folder(f"{key}/alpha/out")
    beta = sshd.folder(f"{key}/beta/out")
    (beta / "b.sta").write_bytes(mt940(1, account="FR7630006000011234567890189"))
    # refused, left on the server, reported: over beta's max_file_bytes, and a name holding a control character
    (beta / "big.sta").write_bytes(b"".join(mt940(i, account="FR7630006000011234567890189") for i in range(10, 20)))
    (beta / "evil\x1b[2J.sta").write_bytes(mt940(30, account="FR7630006000011234567890189"))
    sshd.folder(f"{key}/gamma/out")  # a bank with nothing new: its tasks are skipped
    (inbox / "stmt.xml").write_bytes(CAMT053.read_bytes())
    (inbox / "stmt.sta").write_bytes(MT940.read_bytes())
    (inbox / "seq.sta").write_bytes(mt940(1) + mt940(3))  # statement 2 missing
    (inbox / "wrong.xml").write_bytes(CAMT053_INVALID.read_bytes())
    banks = tmp_path / "sources.yaml"
    banks.write_text(
        "banks:\n"
        f"  - {{name: alpha, connection: sftp_bank_test, folder: {key}/alpha/out, patterns: ['*.xml', '*.sta'],"
        f" archive_folder: {key}/alpha/archive, settle_seconds: 1}}\n"
        f"  - {{name: beta, connection: sftp_bank_test, folder: {key}/beta/out, settle_seconds: 0, max_file_bytes: 1000}}\n"
        f"  - {{name: gamma, connection: sftp_bank_test, folder: {key}/gamma/out, settle_seconds: 0}}\n")
    db_url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    env = {**airflow_db, "O2C_HOME": str(tmp_path), "O2C_DATABASE_URL": db_url, "O2C_BANKS": str(banks),
           "AIRFLOW_CONN_SFTP_BANK_TEST": sshd.conn_json(), "PYTHONPATH": str(REPO)}

    Store(db_url).upgrade()  # a deployment step, once: the DAG tasks only check the revision
    first, output = run_dag(env, "bank_statement_ingest")
    (tmp_path / "dag-run-1.log").write_text(output)
    assert first["state"].endswith("success"), (first, output[-12000:])
    tasks = first["tasks"]
    assert tasks["pickup.ingest[0]"].endswith("success") and tasks["pickup.check[2]"].endswith("skipped"), tasks
    assert tasks["summary"].endswith("success")

    store = Store(db_url)
    files = {f.file_name: f.status for f in ledger.bank_files(store, "alpha")}
    assert files == {"stmt.xml": "ingested", "stmt.sta": "ingested", "seq.sta": "ingested", "wrong.xml": "quarantined"}
    assert ledger.counts(store)["statements"] == 7 and [f.status for f in ledger.bank_files(store, "beta")] == ["ingested"]
    assert "banks with new files: 2; ingested 4, duplicates 0, quarantined 1, statements_stored 7" in output
    assert "conflicts 0, refused 2" in output and "\x1b" not in output
    [beta_run] = [r for r in store.runs("beta") if r.airflow_run_id == first["run_id"]]
    assert (beta_run.status, beta_run.rejected, beta_run.message) == ("success", 2, "2 file(s) refused")
    [gap] = ledger.sequence_gaps(store)
    assert (gap.missing_from, gap.missing_to) == (2, 2)
    [run] = [r for r in store.runs("alpha") if r.airflow_run_id == first["run_id"]]
    assert (run.dag_id, run.task_id, run.status, run.rejected) == ("bank_statement_ingest", "pickup.ingest", "success", 1)
    assert sorted(p.name for p in (sshd.home / key / "alpha" / "archive").iterdir()) == sorted(files)
    assert "NL26VAYB8060476890" not in output and "PRIVATE KEY" not in output

    # the asset that triggers cash_application: one event per bank that stored statements
    events = sorted(first["asset_events"], key=lambda e: e["map_index"])  # the banks run in parallel
    assert [(e["uri"], e["task"], e["map_index"]) for e in events] == [
        (BANK_STATEMENTS, "pickup.publish", 0), (BANK_STATEMENTS, "pickup.publish", 1)], events
    assert [(e["extra"]["bank"], e["extra"]["statements_stored"]) for e in events] == [("alpha", 6), ("beta", 1)]
    assert tasks["pickup.publish[2]"].endswith("skipped"), tasks

    # only a duplicate arrives (beta's file again under another name): ingested as such, no asset event
    (sshd.home / key / "beta" / "out" / "b-again.sta").write_bytes(mt940(1, account="FR7630006000011234567890189"))
    second, output = run_dag(env, "bank_statement_ingest")
    (tmp_path / "dag-run-2.log").write_text(output)
    assert second["state"].endswith("success"), (second, output[-12000:])
    tasks = second["tasks"]
    assert tasks["pickup.check[0]"].endswith("skipped") and tasks["pickup.ingest[1]"].endswith("success"), tasks
    assert tasks["pickup.publish[1]"].endswith("skipped") and tasks["summary"].endswith("success"), tasks
    assert second["asset_events"] == [], second["asset_events"]
    assert "banks with new files: 1; ingested 0, duplicates 1, quarantined 0, statements_stored 0" in output
    assert "conflicts 0, refused 2" in output  # still on the server, refused again
    assert sorted(p.name for p in beta.iterdir()) == ["b-again.sta", "b.sta", "big.sta", "evil\x1b[2J.sta"]
    assert [f.status for f in ledger.bank_files(store, "beta")] == ["ingested"]
    assert ledger.counts(store)["statements"] == 7
