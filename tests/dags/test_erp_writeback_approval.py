"""erp_writeback end to end with a person in the loop: ``dag.test()`` parks the approval task in
Airflow 3.3's AWAITING_INPUT state; the answer is given through the Core API
(``PATCH /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/{map_index}/hitlDetails``) of a real
``airflow api-server`` sharing the metadata DB, as the Required Actions page does. Approved: the
payment reaches Tryton; refused: nothing is written there; a dry run changes nothing anywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from connectors.tryton import TrytonClient
from demo.bank import camt053
from o2c.config import EInvoicingConfig, SourceConfig
from o2c.jobs.bank import ingest_file
from o2c.jobs.cash import run_cash_application
from o2c.jobs.sync import sync_source
from o2c.jobs.writeback import outbox
from o2c.store import Store, audit
from o2c.store.approval import WriteBackApproval
from tests.cash.test_cash_application_live import stage
from tests.cash.test_writeback_live import add_payment_method, tryton_state, writable_tryton  # noqa: F401 (fixture)
from tests.connectors.test_tryton_live import FAR_FUTURE, conn_info
from tests.fixtures_airflow import REPO
from tests.ui.test_review_pages import _free_port

pytestmark = [pytest.mark.airflow, pytest.mark.tryton, pytest.mark.slow]
USERS = {"alice": "user", "mallory": "user"}
PASSWORD = "s3cret-pw"
SOURCES = """\
sources:
  - name: tryton_demo
    kind: tryton
    connection: erp_tryton_demo
    streams: [customers, invoices]
    writeback: {policy: {payment: {auto_below: "1.00"}}, approvers: [alice], response_timeout: 1h}
"""


@dataclass
class Api:
    base: str

    def headers(self, user: str) -> dict[str, str]:
        res = requests.post(f"{self.base}/auth/token", json={"username": user, "password": PASSWORD}, timeout=60)
        assert res.status_code in (200, 201), res.text
        return {"Authorization": f"Bearer {res.json()['access_token']}"}


@pytest.fixture(scope="module")
def api_server(airflow_db, tmp_path_factory) -> Iterator[Api]:
    """A real ``airflow api-server`` on the session's metadata DB, users alice and mallory (role user)."""
    tmp = tmp_path_factory.mktemp("hitl-api")
    (tmp / "passwords.json").write_text(json.dumps(dict.fromkeys(USERS, PASSWORD)))
    env = {**airflow_db, "PYTHONPATH": str(REPO),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp / "passwords.json")}
    port = _free_port()
    log = open(tmp / "api.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("airflow")), "api-server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("api-server did not start:\n" + (tmp / "api.log").read_text()[-3000:])
            time.sleep(1)
        yield Api(base)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        log.close()


def _start_dag(env: dict[str, str], conf: dict | None = None) -> subprocess.Popen:
    args = [sys.executable, str(Path(__file__).with_name("run_dag.py")), "erp_writeback"]
    if conf:
        args.append(json.dumps(conf))
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    lines = [ln for ln in out.splitlines() if ln.startswith("O2C_RESULT ")]
    assert lines, f"no result (rc {proc.returncode}):\n{out[-3000:]}\n{err[-3000:]}"
    return json.loads(lines[-1].removeprefix("O2C_RESULT "))


def _waiting_request(api: Api, proc: subprocess.Popen) -> dict:
    """The approval request of the running DAG, once the task is parked waiting for input."""
    headers = api.headers("alice")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert proc.poll() is None, _result(proc)
        res = requests.get(f"{api.base}/api/v2/dags/erp_writeback/dagRuns/~/hitlDetails", headers=headers, timeout=60)
        assert res.status_code == 200, res.text
        waiting = [d for d in res.json()["hitl_details"] if not d["response_received"]]
        if waiting and waiting[0]["task_instance"]["state"] == "awaiting_input":
            return waiting[0]
        time.sleep(2)
    proc.kill()
    pytest.fail("the approval task never waited for input")


def _answer(api: Api, detail: dict, user: str, option: str, reason: str) -> requests.Response:
    ti = detail["task_instance"]
    url = (f"{api.base}/api/v2/dags/erp_writeback/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/"
           f"{ti['map_index']}/hitlDetails")
    return requests.patch(url, json={"chosen_options": [option], "params_input": {"reason": reason}},
                          headers=api.headers(user), timeout=60)


def _pay(store: Store, tmp_path: Path, day: int, invoice, amount: Decimal, ref: str) -> None:
    entries = [{"amount": amount, "ref": ref, "name": invoice.buyer_name, "text": [f"FACTURE {invoice.number}"]}]
    data = camt053(entries, day=dt.date(2026, 11, day), stmt_id=f"STMT-2026-11-{day}", seq=300 + day)
    assert ingest_file(store, "bnp", stage(tmp_path / f"camt053_202611{day}.xml", data), run_id=None).outcome == "ingested"
    run_cash_application(store, einvoicing=EInvoicingConfig(channel={"kind": "folder", "path": str(tmp_path / "platform")}))


def test_a_person_approves_then_refuses_through_the_hitl_api(airflow_db, api_server, writable_tryton, tmp_path):  # noqa: F811
    conn = conn_info(writable_tryton)
    client = TrytonClient(conn)
    add_payment_method(client)
    sources = tmp_path / "sources.yaml"
    sources.write_text(SOURCES)
    db_url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    store = Store(db_url)
    store.upgrade()
    sync_source(store, SourceConfig(name="tryton_demo", kind="tryton", connection="x"), conn, until=FAR_FUTURE)
    first, second = [r for r in store.invoices() if r.type_code == "380"][:2]
    ids = [int(first.source_id), int(second.source_id)]
    _pay(store, tmp_path, 20, first, first.payable, "H1")
    env = {**airflow_db, "O2C_HOME": str(tmp_path), "O2C_DATABASE_URL": db_url, "O2C_SOURCES": str(sources),
           "AIRFLOW_CONN_ERP_TRYTON_DEMO": f"tryton://{writable_tryton.admin_login}:{writable_tryton.admin_password}"
                                           f"@127.0.0.1:{writable_tryton.port}/{writable_tryton.database}",
           "PYTHONPATH": str(REPO)}
    before = tryton_state(client, ids)

    # 1. the payment waits (not below 1.00): the approval task asks alice; mallory may not answer
    proc = _start_dag(env)
    detail = _waiting_request(api_server, proc)
    assert detail["subject"] == "tryton_demo: approve 1 write-back command(s)?"
    assert f"| {first.number} |" in detail["body"].replace("\\-", "-") and "H1" in detail["body"]
    assert detail["options"] == ["Approve", "Refuse"] and detail["defaults"] == ["Refuse"]
    assert [u["name"] for u in detail["assigned_users"]] == ["alice"]
    assert [r.status for r in outbox(store, "tryton_demo")] == ["awaiting_approval"]
    assert tryton_state(client, ids) == before  # nothing left while waiting
    refused = _answer(api_server, detail, "mallory", "Approve", "me too")
    assert refused.status_code == 403, refused.text
    given = _answer(api_server, detail, "alice", "Approve", "transfer confirmed by the customer")
    assert given.status_code == 200, given.text
    run = _result(proc)
    assert run["state"].endswith("success"), run
    assert run["tasks"]["writeback.approve[0]"].endswith("success") and run["tasks"]["writeback.push[0]"].endswith("success")
    (row,) = [r for r in outbox(store, "tryton_demo") if r.kind == "payment"]
    assert row.status == "sent", [(r.kind, r.status) for r in outbox(store, "tryton_demo")]
    assert tryton_state(client, ids)[ids[0]][:2] == ("paid", Decimal("0"))
    with store.session() as s:
        (approval,) = s.query(WriteBackApproval).all()
        assert (approval.decision, approval.decided_by, approval.reason, approval.via) == \
            ("approved", "alice", "transfer confirmed by the customer", "airflow")
    entries = audit.trail(store, f"invoice:tryton_demo:{first.source_id}")
    actions = [(e.actor, e.action, e.details.get("kind"), e.details.get("status")) for e in entries]
    # the payment's story (the Encaissée status the cash run emitted is a status command of its own,
    # which waits: this source's policy names payments only)
    assert [a for a in actions if a[2] == "payment"] == [
        ("o2c:writeback", "writeback.enqueued", "payment", "awaiting_approval"), ("alice", "approval.given", "payment", None),
        ("o2c:writeback", "writeback.sent", "payment", None)], actions
    assert [a for a in actions if a[2] == "status"] == [("o2c:writeback", "writeback.enqueued", "status", "awaiting_approval")]

    # 2. a new payment; a dry run first: nothing enqueued, asked or written, the change shown
    _pay(store, tmp_path, 21, second, second.payable, "H2")
    dry = _result(_start_dag(env, {"dry_run": True}))
    assert dry["state"].endswith("success"), dry
    assert dry["tasks"]["writeback.approve[0]"].endswith("skipped") and dry["tasks"]["writeback.push[0]"].endswith("success")
    assert len([r for r in outbox(store, "tryton_demo") if r.kind == "payment"]) == 1
    assert tryton_state(client, ids)[ids[1]] == before[ids[1]]
    commands = dry["xcom"]["writeback.push[0]"]["commands"]
    (shown,) = [c for c in commands if c["kind"] == "payment"]  # (and the waiting Encaissée status of the first)
    assert (shown["id"], shown["status"], shown["refused"]) == (None, "new awaiting_approval", None)
    assert shown["changes"] == [{"field": "amount_to_pay", "before": str(before[ids[1]][1]), "after": "0.00"},
                                {"field": "state", "before": "posted", "after": "paid"}]

    # 3. refused: marked refused, never sent, nothing written in Tryton
    proc = _start_dag(env)
    detail = _waiting_request(api_server, proc)
    assert _answer(api_server, detail, "alice", "Refuse", "the customer disputes it").status_code == 200
    run = _result(proc)
    assert run["state"].endswith("success"), run
    rows = {r.payload["bank_ref"]: r for r in outbox(store, "tryton_demo") if r.kind == "payment"}
    assert rows["H2"].status == "refused" and rows["H2"].sent_at is None and rows["H2"].remote_ref is None
    assert tryton_state(client, ids)[ids[1]] == before[ids[1]]
    actions = [(e.actor, e.action, e.details.get("reason")) for e in audit.trail(store, f"invoice:tryton_demo:{second.source_id}")
               if e.details.get("kind") in ("payment", None) or e.action.startswith("approval")]
    assert actions[-2:] == [("o2c:writeback", "writeback.enqueued", None), ("alice", "approval.refused", "the customer disputes it")], \
        actions
    assert audit.verify(store).ok
