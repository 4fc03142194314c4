"""A big statement file is ingested in flat memory (hardening: "No size limits", the ingest part).

The ingest once built every statement with all of its entries in memory before storing it: a
50 MB MT940 of one statement (420,000 entries) peaked at 2.7 GB, a 200 MB one with 1.6 million
entries would not fit. The file is generated in ``tmp_path`` and ingested by a fresh Python
process (the real ``ingest_file`` into a real store), whose peak resident memory (``VmHWM``) is
read at the end; a watcher thread stops it as soon as it goes over the bound, so a regression
fails in seconds instead of swapping the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from o2c.store import Store
from o2c.store.bank import BankEntryRow, BankStatementRow
from o2c.store.models import Base
from tests.bank.helpers import REPO

MIB = 2**20
PEAK_BOUND_MIB = 200  # streaming: about 120 MiB whatever the size; read whole, 50 MB took 1,200+ MiB
ACCOUNT = "10020030/1234567"

ENTRY = (":61:2601050105CR250,50NTRFNONREF//B6010500001\r\n"
         ":86:166?00GUTSCHRIFT?109310?20EREF+INV-2026-0042?21SVWZ+Rechnung FA2026-\r\n"
         "?2200042 und weitere Positionen des Kunden?23ACME GMBH Musterstrasse 1\r\n"
         "?24Lieferung vom 05.01.2026 Auftrag 123456?25Kundennummer 987654321\r\n"
         "?26Zahlung aus Rechnung und Gutschrift?27Referenz XYZ-0000000001\r\n"
         "?30COBADEFFXXX?31DE89370400440532013000?32ACME GMBH?33Buchhaltung\r\n"
         "?34997?60Rest der Verwendungszweckangaben dieses Postens\r\n")


def big_mt940(path: Path, megabytes: float) -> int:
    """One MT940 statement of ``megabytes`` (a credit of 250.50 with a German :86: of 400 bytes per entry),
    then a statement without entries; the balances reconcile. Returns the number of entries."""
    n = int(megabytes * 10**6) // len(ENTRY)
    closing = 1000 * 100 + 25050 * n  # cents
    with open(path, "w", encoding="ascii", newline="") as fh:
        fh.write(f":20:BIG\r\n:25:{ACCOUNT}\r\n:28C:00001/001\r\n:60F:C260105EUR1000,00\r\n")
        for _ in range(n // 1000):
            fh.write(ENTRY * 1000)
        fh.write(ENTRY * (n % 1000))
        fh.write(f":62F:C260105EUR{closing // 100},{closing % 100:02d}\r\n-\r\n")
        fh.write(f":20:EMPTY\r\n:25:{ACCOUNT}\r\n:28C:00002/001\r\n:60F:C260106EUR{closing // 100},{closing % 100:02d}\r\n"
                 f":62F:C260106EUR{closing // 100},{closing % 100:02d}\r\n-\r\n")
    return n


_INGEST = r"""
import hashlib, json, os, sys, threading, time
from pathlib import Path

path, url, bound_mib = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])


def status(key):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key + ":")) / 1024


def watch():  # over the bound: stop now, a whole-file ingest would go on to gigabytes
    while True:
        rss = status("VmRSS")
        if rss > bound_mib:
            print(json.dumps({"over": round(rss)}), flush=True)
            os._exit(3)
        time.sleep(0.05)


threading.Thread(target=watch, daemon=True).start()
from o2c.jobs.bank import ingest_file
from o2c.store import Store
from transport.sftp import StagedFile

digest = hashlib.sha256()
with open(path, "rb") as fh:
    while block := fh.read(1 << 20):
        digest.update(block)
staged = StagedFile(local_path=str(path), remote_path=f"local:{path.name}", name=path.name,
                    size=path.stat().st_size, mtime=0, sha256=digest.hexdigest())
store = Store(url)
store.upgrade()
out = ingest_file(store, "bnp", staged, run_id=None)
print(json.dumps({"outcome": out.outcome, "reason": out.reason, "statements": out.statements, "stored": out.stored,
                  "entries": out.entries, "peak": status("VmHWM")}), flush=True)
"""


def ingest_in_fresh_process(path: Path, url: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _INGEST, str(path), url, str(PEAK_BOUND_MIB)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-3000:]
    result = json.loads(lines[-1])
    assert "over" not in result, (f"the ingest of a {path.stat().st_size / MIB:.0f} MiB file went over "
                                  f"{PEAK_BOUND_MIB} MiB ({result['over']} MiB): it was stopped")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return result


def check_stored(store: Store, entries: int) -> None:
    """Two statements, the big one with every entry in order, its balances reconciling."""
    with store.session() as s:
        big, empty = s.scalars(select(BankStatementRow).order_by(BankStatementRow.id)).all()
        assert (big.message_id, big.entry_count, empty.message_id, empty.entry_count) == ("BIG", entries, "EMPTY", 0)
        assert (big.opening_balance, big.closing_balance) == (Decimal("1000.00"), Decimal("1000.00") + Decimal("250.50") * entries)
        assert empty.opening_balance == empty.closing_balance == big.closing_balance
        count, first, last = s.execute(select(func.count(), func.min(BankEntryRow.position),
                                              func.max(BankEntryRow.position))
                                       .where(BankEntryRow.statement_id == big.id)).one()
        assert (count, first, last) == (entries, 0, entries - 1)
        total = sum(s.scalars(select(BankEntryRow.amount).where(BankEntryRow.statement_id == big.id)), Decimal(0))
        assert big.opening_balance + total == big.closing_balance
        assert not big.content_ref.startswith("pending:") and len(big.content_hash) == 64


@pytest.mark.slow
def test_a_50_mb_statement_is_ingested_in_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.sta"
    entries = big_mt940(path, 50)
    assert path.stat().st_size > 49 * 10**6 and entries > 110_000
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    result = ingest_in_fresh_process(path, url)
    assert {k: result[k] for k in ("outcome", "statements", "stored", "entries")} == {
        "outcome": "ingested", "statements": 2, "stored": 2, "entries": entries}, result
    assert result["peak"] < PEAK_BOUND_MIB
    check_stored(Store(url), entries)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_big_statement_is_ingested_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    store = Store(postgres_url)
    store.upgrade()
    with store.session() as s:  # the session database is shared: start from empty tables
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())
    path = tmp_path / "big.sta"
    entries = big_mt940(path, 5)
    result = ingest_in_fresh_process(path, postgres_url)
    assert (result["outcome"], result["stored"], result["entries"]) == ("ingested", 2, entries), result
    assert result["peak"] < PEAK_BOUND_MIB
    check_stored(store, entries)
    again = tmp_path / "again.sta"  # the same statements in another file (not the same bytes): not stored again
    again.write_bytes(path.read_bytes() + b"\r\n")
    result = ingest_in_fresh_process(again, postgres_url)
    assert (result["outcome"], result["statements"], result["stored"]) == ("duplicate", 2, 0), result
    check_stored(store, entries)
