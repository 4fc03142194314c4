"""Every scheduled job has a command: ``o2c cash run``, ``o2c risk run``, ``o2c einvoice outbound``
and ``o2c einvoice statuses`` leave the store as the library functions the DAG tasks call do, and
a second run changes nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from demo.bank import camt053
from edi import cdar
from o2c.cli import cli
from o2c.jobs.bank import ingest_file
from o2c.store import Store
from o2c.store.models import Base
from schemas.invoice import SourceRef
from tests.schemas.test_validation import make_invoice
from transport.sftp import StagedFile

AS_OF = dt.date(2026, 11, 30)


def _fill(home: Path) -> Store:
    """A store with two invoices, a statement paying one of them, and a platform's status in
    ``home/inbox/statuses``: what the syncs and the bank pick-up leave for the jobs."""
    store = Store(f"sqlite:///{home / 'o2c.sqlite'}")
    store.upgrade()
    for number, source_id in (("FA-1", "11"), ("FA-2", "12")):
        inv = make_invoice(number=number)
        inv.source = SourceRef(system="erp1", id=source_id, updated_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
        with store.session() as s:
            store.upsert_invoice(s, inv, run_id=None)
    data = camt053([{"amount": Decimal("175.50"), "ref": "R1", "name": "CLIENT SARL", "text": ["FACTURE FA-1"]},
                    {"amount": Decimal("17.45"), "ref": "R2", "name": "FOURNISSEUR XYZ", "text": ["REMBOURSEMENT"]}])
    path = home / "camt.xml"
    path.write_bytes(data)
    staged = StagedFile(local_path=str(path), remote_path="/in/camt.xml", name="camt.xml", size=len(data), mtime=0,
                        sha256=hashlib.sha256(data).hexdigest())
    assert ingest_file(store, "bnp", staged, run_id=None).outcome == "ingested"
    inbox = home / "inbox" / "statuses"
    inbox.mkdir(parents=True)
    status = cdar.LifecycleStatus(invoice_number="FA-2", invoice_issue_date=dt.date(2026, 3, 2), seller_siren="732829320",
                                  status_code="200", status_date=dt.date(2026, 11, 25), issuer_id="0042", issuer_role="WK")
    (inbox / "a_status.xml").write_bytes(cdar.render(status))
    return store


def _counts(store: Store) -> dict[str, int]:
    with store.session() as s:
        return {t.name: s.scalar(select(func.count()).select_from(t)) or 0 for t in Base.metadata.sorted_tables}


def _home(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / name
    home.mkdir()
    monkeypatch.setenv("O2C_HOME", str(home))
    for var in ("O2C_DATABASE_URL", "O2C_SOURCES", "O2C_EINVOICING"):
        monkeypatch.delenv(var, raising=False)
    return home


def _o2c(*args: str) -> dict:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_job_commands_do_what_the_dag_tasks_do(tmp_path, monkeypatch):
    from o2c.config import load_einvoicing
    from o2c.jobs.cash import run_cash_application
    from o2c.jobs.einvoice import ingest_statuses, outbound
    from o2c.jobs.risk import run_risk_scoring

    # what the DAG tasks call (o2c_airflow/cash.py, o2c_airflow/einvoice.py), with the same arguments
    home = _home(tmp_path, "library", monkeypatch)
    lib = _fill(home)
    cash = run_cash_application(lib, einvoicing=load_einvoicing())
    risk = run_risk_scoring(lib, AS_OF)
    sent = outbound(lib, load_einvoicing())
    statuses = ingest_statuses(lib, home / "inbox" / "statuses")
    expected = _counts(lib)
    assert cash.entries == 2 and cash.allocations >= 1 and statuses.recorded == 1

    home = _home(tmp_path, "cli", monkeypatch)
    store = _fill(home)
    got_cash = _o2c("cash", "run")
    got_risk = _o2c("risk", "run", "--date", AS_OF.isoformat())
    got_sent = _o2c("einvoice", "outbound")
    got_statuses = _o2c("einvoice", "statuses")
    assert _counts(store) == expected
    assert {k: v for k, v in got_cash.items() if k != "run_id"} == {k: v for k, v in vars(cash).items() if k != "run_id"}
    assert (got_risk["customers"], got_risk["flags"], got_risk["kpi_days"]) == (risk.customers, risk.flags, risk.kpi_days)
    assert (got_sent["delivered"], got_sent["rejected"]) == (sent.delivered, sent.rejected)
    assert got_statuses == vars(statuses)
    assert sorted(p.name for p in (home / "outbox").iterdir()) == \
        sorted(p.name for p in (tmp_path / "library" / "outbox").iterdir())

    # a second run of each job changes nothing but its own run record
    before = _counts(store)
    assert _o2c("cash", "run")["entries"] == 0
    assert _o2c("risk", "run", "--date", AS_OF.isoformat())["flags"] == got_risk["flags"]
    again = _o2c("einvoice", "outbound")
    assert again["delivered"] == 0 and again["already_done"] == got_sent["delivered"] + got_sent["rejected"]
    assert _o2c("einvoice", "statuses", str(home / "inbox" / "statuses"))["duplicates"] == 1
    after = _counts(store)
    assert after.pop("sync_run") == before.pop("sync_run") + 3  # cash, risk, outbound record their runs
    assert after == before


def test_job_commands_print_one_line(tmp_path, monkeypatch):
    home = _home(tmp_path, "h", monkeypatch)
    _fill(home)
    for args, start in ((["cash", "run"], "cash application: 2 entries"), (["risk", "run"], "risk scoring at "),
                        (["einvoice", "outbound"], "e-invoices: 2 considered"),
                        (["einvoice", "statuses"], "lifecycle statuses from ")):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert result.output.startswith(start), result.output


def test_job_command_errors_are_one_line_with_the_exit_status(tmp_path, monkeypatch):
    _home(tmp_path, "h", monkeypatch)
    monkeypatch.setenv("O2C_EINVOICING", str(tmp_path / "missing.yaml"))
    result = CliRunner().invoke(cli, ["einvoice", "outbound"])
    assert result.exit_code == 2, result.output
    assert "missing.yaml" in result.output and "Traceback" not in result.output


def test_job_runs_say_who_ran_them(tmp_path, monkeypatch):
    """A command records its run as ``o2c <command>`` with a run id of its own (never an Airflow
    task id the library made up); the DAG tasks pass the real task's ids the same way."""
    from o2c.context import RunContext
    from o2c.jobs.risk import run_risk_scoring
    from o2c.store.models import SyncRun

    home = _home(tmp_path, "who", monkeypatch)
    store = _fill(home)
    _o2c("cash", "run")
    _o2c("einvoice", "outbound")
    _o2c("risk", "run", "--date", AS_OF.isoformat())
    ctx = RunContext(dag_id="risk_scoring", task_id="score", run_id="scheduled__2026-11-30")
    run_risk_scoring(store, AS_OF, context=ctx)
    with store.session() as s:
        runs = {(r.source, r.dag_id, r.task_id): r for r in s.scalars(select(SyncRun))}
    assert {k for k in runs if k[0] != "bnp"} == {
        ("cash_application", None, "o2c cash run"), ("einvoicing", None, "o2c einvoice outbound"),
        ("risk_scoring", None, "o2c risk run"), ("risk_scoring", "risk_scoring", "score")}
    assert runs[("cash_application", None, "o2c cash run")].airflow_run_id.startswith("cli__")
    assert runs[("risk_scoring", "risk_scoring", "score")].airflow_run_id == "scheduled__2026-11-30"


def test_a_failed_job_run_is_recorded_failed_with_a_masked_reason(tmp_path):
    from o2c.store.models import SyncRun

    store = Store(f"sqlite:///{tmp_path / 'o2c.sqlite'}")
    store.upgrade()
    with pytest.raises(RuntimeError), store.run(source="erp1", stream="invoices") as run:
        run.read = 4
        raise RuntimeError("cannot post to FR7630006000011234567890189")
    with store.session() as s:
        [row] = s.scalars(select(SyncRun)).all()
    assert (row.status, row.read) == ("failed", 4)
    assert row.message.startswith("RuntimeError: ") and "1234567890189" not in row.message
    assert row.ended_at is not None
