"""Exactly-once ingestion of bank statements over SFTP, against the real test sshd."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from decimal import Decimal

import pytest
from sqlalchemy import select

from o2c.jobs.bank import pickup
from o2c.store import bank as ledger
from o2c.store.bank import BankFile
from o2c.store.models import Quarantine
from schemas.errors import RetriableError
from tests.bank.helpers import CAMT053, CAMT053_INVALID, CFONB, MT940, REPO, big_camt053, mt940

pytestmark = pytest.mark.sftp


def run(store, site, **kw):
    return pickup(store, site.config, site.settings, staging_root=site.staging, run_key=kw.pop("run_key", "run-1"), **kw)


def test_pickup_of_camt053_mt940_cfonb_then_nothing_new(store, site, caplog):
    caplog.set_level(logging.DEBUG)
    site.upload("stmt.xml", CAMT053.read_bytes())
    site.upload("stmt.sta", MT940.read_bytes())
    site.upload("releve.txt", CFONB.read_bytes())
    summary = run(store, site)
    d = summary.as_dict()
    assert (d["ingested"], d["duplicates"], d["quarantined"]) == (3, 0, 0), summary.lines()
    assert d["statements_stored"] == 6
    assert {f.format for f in summary.files} == {"camt.053.001.02", "mt940", "cfonb120"}
    assert all(f.remote_action == "archived" for f in summary.files)
    assert sorted(p.name for p in site.archive.iterdir()) == ["releve.txt", "stmt.sta", "stmt.xml"]
    assert list(site.inbox.iterdir()) == []

    stored = ledger.bank_statements(store)
    assert len(stored) == 6 and {s.file_id for s in stored} == {f.file_id for f in summary.files}
    camt = next(s for s in stored if s.statement_ref == "253EURNL26VAYB8060476890")
    entries = ledger.statement_entries(store, camt.id)
    assert [type(e.amount) for e in entries] == [Decimal] * len(entries) and entries
    assert ledger.counts(store)["entries"] == d["entries_stored"]
    assert {f.status for f in ledger.bank_files(store)} == {"ingested"}
    assert [r.stream for r in store.runs("testbank")] == ["bank_statements"]

    again = run(store, site, run_key="run-2")
    assert again.files == [] and ledger.counts(store)["statements"] == 6

    logs = caplog.text + "\n".join(summary.lines())
    for account in ("NL26VAYB8060476890", "155890000098765432100", "0123456789"):
        assert account not in logs
    assert str(site.server.client_key) not in logs


def test_same_content_under_another_name_is_a_duplicate(store, site):
    site.upload("2026-01-05.xml", CAMT053.read_bytes())
    first = run(store, site)
    assert first.count("ingested") == 1
    site.upload("2026-01-05-resent.xml", CAMT053.read_bytes())  # the bank sends it again, renamed
    second = run(store, site, run_key="run-2")
    [f] = second.files
    assert (f.outcome, f.file_id, f.stored) == ("duplicate", first.files[0].file_id, 0)
    assert "same content as file" in (f.reason or "")
    [row] = ledger.bank_files(store)
    assert (row.seen_count, row.status, row.last_remote_path) == (2, "ingested", f.remote_path)
    assert ledger.counts(store)["statements"] == 2


def test_same_statement_inside_another_file_is_stored_once(store, site):
    site.upload("a.sta", mt940(1) + mt940(2))
    site.upload("b.sta", mt940(2) + mt940(3))
    summary = run(store, site)
    by_name = {f.name: f for f in summary.files}
    assert (by_name["a.sta"].stored, by_name["b.sta"].stored, by_name["b.sta"].duplicate_statements) == (2, 1, 1)
    site.upload("c.sta", mt940(3))  # every statement already stored: the file is a duplicate
    [c] = run(store, site, run_key="run-2").files
    assert (c.outcome, c.stored, c.duplicate_statements) == ("duplicate", 0, 1)
    assert [s.sequence_no for s in ledger.bank_statements(store)] == [1, 2, 3]
    assert {f.file_name: f.status for f in ledger.bank_files(store)}["c.sta"] == "duplicate"


def test_file_still_being_written_is_left_for_later_then_taken_once(store, site):
    data = mt940(10)
    target = site.upload("late.sta", data[:40])

    def bank_keeps_writing(_seconds: float) -> None:
        with open(target, "ab") as fh:
            fh.write(data[40:80])

    site.configured(settle_seconds=2)
    first = run(store, site, sleep=bank_keeps_writing)
    assert first.files == [] and first.growing == ["late.sta"]
    assert target.exists() and ledger.counts(store)["files"] == 0
    with open(target, "ab") as fh:  # the bank finishes the upload
        fh.write(data[80:])
    second = run(store, site, run_key="run-2", sleep=lambda s: None)
    assert [(f.name, f.outcome, f.stored) for f in second.files] == [("late.sta", "ingested", 1)]
    assert run(store, site, run_key="run-3", sleep=lambda s: None).files == []


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # paramiko prefetch thread sees the drop too
def test_server_restart_mid_transfer_then_rerun_ingests_exactly_once(store, site, sshd):
    data = big_camt053(4000)
    assert len(data) > 2_000_000
    site.upload("big.xml", data)
    site.upload("small.sta", mt940(1))
    calls = []

    def stop_server_during_download(done: int) -> None:
        calls.append(done)
        if len(calls) == 1 and done < len(data):
            sshd.stop()

    with pytest.raises(RetriableError):
        run(store, site, progress=stop_server_during_download)
    assert calls[0] < len(data)
    assert ledger.counts(store)["statements"] == 0
    assert (site.inbox / "big.xml").exists() and (site.inbox / "small.sta").exists()
    assert store.runs("testbank")[0].status == "failed"

    sshd.start()
    summary = run(store, site, run_key="run-2")
    assert sorted((f.name, f.outcome) for f in summary.files) == [("big.xml", "ingested"), ("small.sta", "ingested")]
    assert ledger.counts(store)["entries"] == 4001
    assert run(store, site, run_key="run-3").files == []
    assert ledger.counts(store)["statements"] == 2


CRASH_SCRIPT = r"""
import json, os, signal, sys
from o2c.store import Store
from o2c.config import BankConfig
from transport.sftp import SftpSettings
import o2c.jobs.bank as bi
import o2c.store.bank as ledger

args = json.loads(sys.argv[1])
where = args["where"]
if where == "after_download":      # files staged, nothing stored yet
    def ingest(*a, **k):
        os.kill(os.getpid(), signal.SIGKILL)
    bi.ingest = ingest
else:                               # inside the store transaction, after the first statement
    original = ledger.store_statement
    calls = []
    def store_statement(*a, **k):
        result = original(*a, **k)
        calls.append(result)
        os.kill(os.getpid(), signal.SIGKILL)
    ledger.store_statement = store_statement
bank = BankConfig(**{**args["bank"], "patterns": tuple(args["bank"]["patterns"])})
settings = SftpSettings.from_connection(**args["conn"])
bi.pickup(Store(args["db"]), bank, settings, staging_root=args["staging"], run_key="crashed")
print("NOT KILLED")
"""


@pytest.mark.parametrize("where", ["after_download", "mid_transaction"])
def test_crash_between_download_and_store_then_rerun_ingests_exactly_once(store, site, sshd, where):
    site.upload("a.sta", mt940(1) + mt940(2))
    site.upload("b.xml", CAMT053.read_bytes())
    cfg = site.config
    args = {"where": where, "db": store.url, "staging": str(site.staging),
            "bank": {"name": cfg.name, "connection": cfg.connection, "folder": cfg.folder, "patterns": list(cfg.patterns),
                     "archive_folder": cfg.archive_folder, "settle_seconds": 0},
            "conn": {"host": "127.0.0.1", "port": sshd.port, "login": sshd.user, "password": None, "extra": sshd.extra()}}
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, json.dumps(args)], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    assert ledger.counts(store)["statements"] == 0  # the killed transaction left nothing
    assert any(site.staging.rglob("*.sta"))  # the download had happened
    assert (site.inbox / "a.sta").exists()  # not archived: it was never stored

    summary = run(store, site, run_key="rerun")
    assert sorted((f.name, f.outcome, f.stored) for f in summary.files) == [("a.sta", "ingested", 2), ("b.xml", "ingested", 2)]
    assert run(store, site, run_key="rerun-2").files == []
    assert ledger.counts(store)["statements"] == 4
    assert {f.status for f in ledger.bank_files(store)} == {"ingested"}


def test_invalid_file_is_quarantined_whole_and_nothing_of_it_is_stored(store, site):
    bad_mt940 = mt940(1) + mt940(2, balance_ok=False)  # the first statement is fine, the second does not add up
    site.upload("bad.sta", bad_mt940)
    site.upload("wrong.xml", CAMT053_INVALID.read_bytes())
    site.upload("good.sta", mt940(5, account="FR7630006000011234567890189"))
    summary = run(store, site)
    outcome = {f.name: f for f in summary.files}
    assert outcome["good.sta"].outcome == "ingested"
    assert outcome["bad.sta"].outcome == "quarantined" and "closing balance" in outcome["bad.sta"].reason
    assert outcome["wrong.xml"].outcome == "quarantined"
    assert [s.account for s in ledger.bank_statements(store)] == ["FR7630006000011234567890189"]
    with store.session() as s:
        q = {r.source_id: r for r in s.scalars(select(Quarantine).where(Quarantine.kind == "statement_file"))}
        statuses = {f.file_name: (f.status, f.reason) for f in s.scalars(select(BankFile))}
    assert set(q) == {"bad.sta", "wrong.xml"}
    assert q["bad.sta"].raw_payload == bad_mt940 and q["bad.sta"].source == "testbank"
    assert "bad.sta" in q["bad.sta"].reason and str(site.staging) not in q["bad.sta"].reason
    assert statuses["bad.sta"][0] == "quarantined" and statuses["bad.sta"][1] == q["bad.sta"].reason
    assert sorted(p.name for p in site.archive.iterdir()) == ["bad.sta", "good.sta", "wrong.xml"]
    # the same bad file sent again is recognised, not quarantined twice
    site.upload("bad-again.sta", bad_mt940)
    [again] = run(store, site, run_key="run-2").files
    assert again.outcome == "duplicate"
    assert len(store.quarantined("testbank")) == 2


def test_sequence_gap_is_flagged_then_resolved(store, site):
    site.upload("s1.sta", mt940(1) + mt940(2))
    run(store, site)
    site.upload("s4.sta", mt940(4))
    summary = run(store, site, run_key="run-2")
    assert summary.as_dict()["sequence_gaps"] == [
        {"account": "DE89…3000", "missing_from": 3, "missing_to": 3, "statement": "00004/001"}]
    assert any("SEQUENCE GAP account DE89…3000" in line for line in summary.lines())
    [gap] = ledger.sequence_gaps(store)
    assert (gap.missing_from, gap.missing_to, gap.resolved_at) == (3, 3, None)
    assert store.runs("testbank")[0].message == "1 sequence gap(s)"
    site.upload("s3.sta", mt940(3))  # the missing statement arrives late
    assert run(store, site, run_key="run-3").as_dict()["sequence_gaps"] == []
    assert ledger.sequence_gaps(store) == []
    assert len(ledger.sequence_gaps(store, open_only=False)) == 1


def test_files_kept_on_the_server_are_not_downloaded_again(store, site):
    site.configured(archive_folder=None)
    site.upload("kept.sta", mt940(1))
    assert run(store, site).count("ingested") == 1
    again = run(store, site, run_key="run-2")
    assert (again.files, again.checked) == ([], 1)
    assert (site.inbox / "kept.sta").exists()
    assert not list((site.staging / "testbank" / "run-2").glob("*"))


def test_delete_after_ingestion(store, site):
    site.configured(archive_folder=None, delete_after=True)
    site.upload("gone.sta", mt940(1))
    [f] = run(store, site).files
    assert (f.outcome, f.remote_action) == ("ingested", "deleted")
    assert list(site.inbox.iterdir()) == []


def test_account_numbers_in_file_names_and_reasons_are_masked(store, site, caplog):
    caplog.set_level(logging.INFO)
    name = "P_CH2909000000250094239_20260105.sta"
    site.upload(name, mt940(1, account="CH2909000000250094239", balance_ok=False))
    summary = run(store, site)
    shown = json.dumps(summary.as_dict()) + "\n".join(summary.lines()) + caplog.text
    assert "CH2909000000250094239" not in shown
    assert "CH29…4239" in shown
    [f] = summary.files
    assert f.name == name and f.outcome == "quarantined"  # the objects keep the real name for the archive step


@pytest.mark.postgres
def test_pickup_on_postgresql(site, postgres_url):
    from o2c.store import Store
    from o2c.store.models import Base

    store = Store(postgres_url)
    store.upgrade()
    with store.session() as s:  # the session database is shared: start from empty tables
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())
    site.upload("stmt.xml", CAMT053.read_bytes())
    site.upload("seq.sta", mt940(1, amount=1234) + mt940(3))
    first = run(store, site)
    assert (first.count("ingested"), len(first.gaps)) == (2, 1)
    site.upload("copy.xml", CAMT053.read_bytes())
    assert [f.outcome for f in run(store, site, run_key="run-2").files] == ["duplicate"]
    seq1 = next(s for s in ledger.bank_statements(store) if s.sequence_no == 1)
    assert (seq1.opening_balance, seq1.closing_balance) == (Decimal("1000.00"), Decimal("2234.00"))
    assert [e.amount for e in ledger.statement_entries(store, seq1.id)] == [Decimal("1234.00")]
    assert ledger.counts(store)["statements"] == 4
