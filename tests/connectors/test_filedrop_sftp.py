"""File drops picked up over SFTP (the bank transport transport.sftp) from a real OpenSSH server."""

from __future__ import annotations

import datetime as dt
import os
import shutil

import pytest

from connectors.base import ConnectionInfo
from connectors.filedrop import FileDropConnector
from schemas.errors import FatalError
from tests.connectors.test_filedrop import FIXTURES, OPTIONS, UNTIL

pytestmark = pytest.mark.sftp
T0 = dt.datetime(2026, 1, 31, 18, 0, tzinfo=dt.UTC)


def test_sftp_pickup_reads_settled_files_in_the_window(sshd, tmp_path):
    remote = sshd.folder("erp_exports")
    for i, name in enumerate(["factures_2026-01_cp1252.csv", "factures_2026-01_bad_rows.csv"]):
        shutil.copyfile(FIXTURES / name, remote / name)
        stamp = (T0 + dt.timedelta(hours=i)).timestamp()
        os.utime(remote / name, (stamp, stamp))
    (remote / "factures_late.csv").write_bytes((FIXTURES / "factures_2026-01_cp1252.csv").read_bytes())  # mtime now: after UNTIL
    conn = ConnectionInfo(host="127.0.0.1", port=sshd.port, login=sshd.user, extra={**sshd.extra(), "path": str(remote)})
    with FileDropConnector(conn, **OPTIONS, settle_seconds=0, staging=str(tmp_path / "staging")) as c:
        batches = list(c.pull("invoices", None, UNTIL))
        assert [b.watermark for b in batches] == [T0, T0 + dt.timedelta(hours=1)]
        assert [r["id"] for r in batches[0].records] == ["FA-1001", "FA-1002", "AV-0007"]
        assert batches[0].records[0]["buyer_name"] == "Société Générale de Bâtiment"
        assert sorted(p.name for p in (tmp_path / "staging").iterdir()) == ["factures_2026-01_bad_rows.csv", "factures_2026-01_cp1252.csv"]
        assert list(c.pull("invoices", T0 + dt.timedelta(hours=1), UNTIL)) == []
    assert sorted(p.name for p in remote.iterdir()) == ["factures_2026-01_bad_rows.csv", "factures_2026-01_cp1252.csv", "factures_late.csv"]


def test_sftp_pickup_refuses_an_unpinned_server(sshd):
    conn = ConnectionInfo(host="127.0.0.1", port=sshd.port, login=sshd.user,
                          extra={**sshd.extra(host_key=sshd.other_host_key), "path": "x"})
    with FileDropConnector(conn, **OPTIONS, settle_seconds=0) as c, pytest.raises(FatalError):
        list(c.pull("invoices", None, UNTIL))


def test_sftp_file_over_the_filedrop_limit_is_quarantined_not_downloaded(sshd, tmp_path, monkeypatch):
    remote = sshd.folder("erp_exports_big")
    for i, name in enumerate(["factures_2026-01_cp1252.csv", "factures_2026-01_bad_rows.csv"]):
        shutil.copyfile(FIXTURES / name, remote / name)
        stamp = (T0 + dt.timedelta(hours=i)).timestamp()
        os.utime(remote / name, (stamp, stamp))
    limit = (remote / "factures_2026-01_bad_rows.csv").stat().st_size
    assert (remote / "factures_2026-01_cp1252.csv").stat().st_size > limit
    monkeypatch.setenv("O2C_MAX_FILEDROP_BYTES", str(limit))
    conn = ConnectionInfo(host="127.0.0.1", port=sshd.port, login=sshd.user, extra={**sshd.extra(), "path": str(remote)})
    with FileDropConnector(conn, **OPTIONS, settle_seconds=0, staging=str(tmp_path / "staging")) as c:
        records = [r for b in c.pull("invoices", None, UNTIL) for r in b.records]
    refused = [r for r in records if r["_file"]["name"] == "factures_2026-01_cp1252.csv"]
    assert len(refused) == 1 and "O2C_MAX_FILEDROP_BYTES" in refused[0]["_error"]
    assert any(r["id"] == "FA-1003" for r in records)  # the other file is read as before
    assert sorted(p.name for p in (tmp_path / "staging").iterdir()) == ["factures_2026-01_bad_rows.csv"]
    assert sorted(p.name for p in remote.iterdir()) == ["factures_2026-01_bad_rows.csv", "factures_2026-01_cp1252.csv"]
