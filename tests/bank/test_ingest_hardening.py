"""Bank intake on the real PostgreSQL: a poison file cannot block the bank, overlapping ingests
cannot corrupt the ledger (hardening, defects 5 and 12).

- A file whose amount the store cannot hold (1e14 and more, ``NUMERIC(20, 6)``) is refused by
  the parser; a file that passes the parser but that the database still refuses is rolled
  back and quarantined with a reason free of SQL and account numbers. Either way the run goes
  on with the next file, the ledger row is final (``quarantined``) so the next run does not
  fail on it again, and the command line shows one line per file, no traceback, no IBAN.
- Two ``o2c bank ingest`` of one file at the same time: the ledger row is claimed atomically,
  the second ingest finds the file stored and reports a duplicate; the stored row keeps
  ``ingested`` (it used to be overwritten with ``duplicate``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.exc import DataError

from o2c.cli import cli
from o2c.commands.bank_ingest import staged_local
from o2c.jobs.bank import ingest_file, pickup
from o2c.store import Store, utcnow
from o2c.store import bank as ledger
from o2c.store.bank import BankFile
from o2c.store.models import Base, Quarantine
from tests.bank.helpers import REPO, mt940

pytestmark = pytest.mark.postgres

ACCOUNT = "FR7630004580174324836762859"
PAYER = "DE89370400440532013000"


def camt053(stmt_id: str, *entries: tuple[str, str], opening: str = "100.00", closing: str = "100.00") -> bytes:
    """A camt.053 statement of ACCOUNT with ``(amount, CRDT|DBIT)`` entries paid from PAYER."""
    ntry = "".join(
        f"<Ntry><Amt Ccy='EUR'>{amount}</Amt><CdtDbtInd>{sign}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
        f"<BookgDt><Dt>2026-01-05</Dt></BookgDt><AcctSvcrRef>{stmt_id[:20]}-{i}</AcctSvcrRef>"
        f"<NtryDtls><TxDtls><Refs><EndToEndId>E2E-{i}</EndToEndId></Refs><RltdPties><Dbtr><Pty><Nm>PAYER GMBH</Nm></Pty>"
        f"</Dbtr><DbtrAcct><Id><IBAN>{PAYER}</IBAN></Id></DbtrAcct><Cdtr><Pty><Nm>PAYER GMBH</Nm></Pty></Cdtr>"
        f"<CdtrAcct><Id><IBAN>{PAYER}</IBAN></Id></CdtrAcct></RltdPties>"
        f"<RmtInf><Ustrd>FA-{i}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n"
        for i, (amount, sign) in enumerate(entries))
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        "<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08'><BkToCstmrStmt>\n"
        f"<GrpHdr><MsgId>M-{stmt_id[:20]}</MsgId><CreDtTm>2026-01-05T20:30:00</CreDtTm></GrpHdr>\n"
        f"<Stmt><Id>{stmt_id}</Id><CreDtTm>2026-01-05T20:30:00</CreDtTm>"
        f"<Acct><Id><IBAN>{ACCOUNT}</IBAN></Id><Ccy>EUR</Ccy></Acct>\n"
        f"<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy='EUR'>{opening}</Amt>"
        "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-05</Dt></Dt></Bal>\n"
        f"<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy='EUR'>{closing}</Amt>"
        "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-05</Dt></Dt></Bal>\n"
        f"{ntry}</Stmt></BkToCstmrStmt></Document>\n"
    ).encode()


GOOD_1 = camt053("S-1", ("20.00", "CRDT"), closing="120.00")
GOOD_2 = camt053("S-2", ("30.00", "CRDT"), opening="120.00", closing="150.00")
# 1e14 in and out: the balances reconcile, each entry is past what NUMERIC(20, 6) holds
POISON_AMOUNT = camt053("S-POISON", ("100000000000000", "CRDT"), ("100000000000000", "DBIT"))
# passes every parser check, but its statement id (ISO 20022: Max35Text) does not fit the
# store's column: only the database refuses it (the failure the ingest must survive whatever its cause)
REFUSED_BY_DB = camt053("S-" + "9" * 150, ("20.00", "CRDT"), closing="120.00")


@pytest.fixture
def pg_store(postgres_url: str) -> Store:
    store = Store(postgres_url)
    store.upgrade()
    with store.session() as s:  # the session database is shared: start from empty tables
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())
    return store


def o2c(*args: str, database_url: str, home: Path) -> subprocess.CompletedProcess[str]:
    """The real command line in its own process: what a user or a scheduler sees."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "O2C_DATABASE_URL": database_url, "O2C_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "o2c.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def files(tmp_path: Path, **contents: bytes) -> list[str]:
    paths = []
    for name, data in contents.items():
        path = tmp_path / f"{name}.xml"
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def assert_clean(output: str) -> None:
    assert "Traceback" not in output and "[SQL" not in output and "parameters" not in output, output
    for account in (ACCOUNT, PAYER):
        assert account not in output, output


@pytest.mark.parametrize("poison,reason", [
    (POISON_AMOUNT, "Ntry/Amt: amount 1000…0000 has more than 14 integer digits"),  # the parser refuses it
    (REFUSED_BY_DB, "the database refused the file (StringDataRightTruncation: value too long for type character varying(100))"),
], ids=["amount-1e14", "refused-by-the-database"])
def test_poison_file_in_the_middle_of_a_run_is_quarantined_and_the_run_goes_on(pg_store, postgres_url, tmp_path,
                                                                               poison, reason):
    paths = files(tmp_path, a_good=GOOD_1, b_poison=poison, c_good=GOOD_2)
    run = o2c("bank", "ingest", "--bank", "bnp", *paths, database_url=postgres_url, home=tmp_path / "home")
    output = run.stdout + run.stderr
    assert run.returncode == 1, output  # 1: a file was quarantined
    assert_clean(output)
    lines = run.stdout.splitlines()
    assert lines[0] == "a_good.xml: ingested" and lines[2] == "c_good.xml: ingested", output
    assert lines[1].startswith("b_poison.xml: quarantined (") and reason in lines[1], output

    rows = {f.file_name: f for f in ledger.bank_files(pg_store)}
    assert {n: r.status for n, r in rows.items()} == {"a_good.xml": "ingested", "b_poison.xml": "quarantined",
                                                      "c_good.xml": "ingested"}
    assert [s.statement_id for s in ledger.bank_statements(pg_store)] == ["S-1", "S-2"]  # nothing of the poison
    with pg_store.session() as s:
        [q] = s.scalars(select(Quarantine).where(Quarantine.kind == "statement_file")).all()
    assert q.source_id == "b_poison.xml" and q.raw_payload == poison and q.reason == rows["b_poison.xml"].reason
    assert "INSERT" not in q.reason and ACCOUNT not in q.reason and PAYER not in q.reason

    again = o2c("bank", "ingest", "--bank", "bnp", *paths, database_url=postgres_url, home=tmp_path / "home")
    assert again.returncode == 0, again.stdout + again.stderr  # the poison is known: not taken (nor failing) again
    assert [line.split(": ")[1].split(" ")[0] for line in again.stdout.splitlines()] == ["duplicate"] * 3
    assert_clean(again.stdout + again.stderr)
    assert ledger.counts(pg_store)["statements"] == 2


@pytest.mark.sftp
def test_database_refusal_during_a_pickup_over_sftp(pg_store, site, tmp_path):
    """The same through ``pickup`` (``o2c bank fetch`` and the DAG): the run is recorded as a success."""
    site.upload("1.xml", GOOD_1)
    site.upload("2.xml", REFUSED_BY_DB)
    site.upload("3.xml", GOOD_2)
    summary = pickup(pg_store, site.config, site.settings, staging_root=site.staging, run_key="run-1")
    assert {f.name: f.outcome for f in summary.files} == {"1.xml": "ingested", "2.xml": "quarantined", "3.xml": "ingested"}
    assert all(f.remote_action == "archived" for f in summary.files)  # the poison leaves the inbox too
    [run] = pg_store.runs("testbank")
    assert (run.status, run.rejected, run.inserted) == ("success", 1, 2)
    shown = "\n".join(summary.lines())
    assert "the database refused the file" in shown and ACCOUNT not in shown
    site.upload("2-again.xml", REFUSED_BY_DB)
    [again] = pickup(pg_store, site.config, site.settings, staging_root=site.staging, run_key="run-2").files
    assert (again.outcome, again.name) == ("duplicate", "2-again.xml")


def _waiting_for_a_lock(watcher) -> bool:
    with watcher.connect() as conn:
        return bool(conn.scalar(text("SELECT count(*) FROM pg_stat_activity "
                                     "WHERE datname = current_database() AND wait_event_type = 'Lock'")))


def test_two_overlapping_ingests_of_one_file(pg_store, postgres_url, tmp_path):
    """The second ingest runs whole while the first is inside its store transaction.

    The interleaving is made deterministic, not left to timing: when the first ingest sends its
    first query on ``bank_statement`` (it has read, or claimed, the ledger row), the second one
    is started in a thread and the first waits until the second has finished or is waiting
    for a lock the first holds.
    """
    path = tmp_path / "day.sta"
    path.write_bytes(mt940(1) + mt940(2))
    staged = staged_local(path)
    first, second = Store(postgres_url), Store(postgres_url)
    watcher = create_engine(postgres_url)
    outcome: dict[str, object] = {}
    started: list[threading.Thread] = []

    def run_second() -> None:
        try:
            outcome["second"] = ingest_file(second, "bnp", staged, run_id="second")
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            outcome["second"] = exc

    def overtake(conn, cursor, statement, parameters, context, executemany) -> None:
        if started or "FROM bank_statement" not in statement:
            return
        thread = threading.Thread(target=run_second, name="second-ingest")
        started.append(thread)
        thread.start()
        deadline = time.monotonic() + 60
        while thread.is_alive() and not _waiting_for_a_lock(watcher) and time.monotonic() < deadline:
            time.sleep(0.05)

    event.listen(first.engine, "before_cursor_execute", overtake)
    try:
        mine = ingest_file(first, "bnp", staged, run_id="first")
    finally:
        event.remove(first.engine, "before_cursor_execute", overtake)
        for thread in started:
            thread.join(60)
        watcher.dispose()
    assert started and not started[0].is_alive()
    other = outcome["second"]
    assert not isinstance(other, Exception), repr(other)
    assert (mine.outcome, mine.stored) == ("ingested", 2)
    assert (other.outcome, other.file_id, other.stored) == ("duplicate", mine.file_id, 0)  # type: ignore[union-attr]
    with pg_store.session() as s:
        [row] = s.scalars(select(BankFile)).all()
        assert (row.status, row.stored_count, row.run_id, row.reason) == ("ingested", 2, "first", None)
        assert row.seen_count == 2  # the second sighting is counted, not lost
    assert ledger.counts(pg_store)["statements"] == 2


def test_ingest_command_output_masks_account_numbers(tmp_path, monkeypatch):
    """Reasons name the statement's account: the command masks it (here on the embedded store)."""
    monkeypatch.setenv("O2C_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("O2C_DATABASE_URL", f"sqlite:///{tmp_path / 'hub.sqlite'}")
    path = tmp_path / "wrong.xml"
    path.write_bytes(camt053("S-9", ("20.00", "CRDT"), closing="999.00"))  # does not reconcile
    result = CliRunner().invoke(cli, ["bank", "ingest", "--bank", "bnp", str(path)])
    assert result.exit_code == 1 and "wrong.xml: quarantined (" in result.output
    assert ACCOUNT not in result.output and "FR76…2859" in result.output, result.output


def test_database_errors_never_carry_the_values_sent(pg_store, caplog):
    """The store's engine hides parameters: a DataError (in a log, an Airflow task's traceback,
    ``o2c -v``) shows the SQL and the driver's message, not the account numbers being written."""
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    pg_store.engine.echo = True  # statements logged as they run: parameters hidden there too
    try:
        with pytest.raises(DataError) as info, pg_store.session() as s:
            s.add(BankFile(bank="bnp", remote_path=f"local:{ACCOUNT}.xml", file_name="x" * 300, size=1, sha256="0" * 64,
                           status="received", first_seen=utcnow(), last_seen_at=utcnow(), last_remote_path=PAYER))
            s.flush()
    finally:
        pg_store.engine.echo = False
    shown = "".join(traceback.format_exception(info.value)) + caplog.text
    assert "value too long" in shown and "INSERT INTO bank_file" in shown
    assert ACCOUNT not in shown and PAYER not in shown and "x" * 300 not in shown
