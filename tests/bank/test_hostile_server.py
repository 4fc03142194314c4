"""The SFTP transport and ``o2c bank fetch`` against a hostile server (asyncssh, tests/bank/hostile_sftp.py)
that lists names a real OpenSSH server never would, and sizes that lie.

The server's listing is outside data: a name must never decide where a file lands outside the
staging folder, and a file must not be read past the size limit, whatever size was listed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from o2c.cli import cli
from o2c.store import Store
from o2c.store import bank as ledger
from schemas.errors import FatalError, RejectedDocument, TooLarge
from tests.bank.helpers import mt940
from tests.bank.hostile_sftp import FOLDER, MTIME
from transport.sftp import RemoteFile, SftpClient

GOOD = mt940(1)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())


@pytest.mark.parametrize("name, why", [
    ("/../../x.xml", "path separator"),
    ("a/../../x.xml", "path separator"),
    ("a\\..\\x.xml", "path separator"),
    ("a\x00b.xml", "NUL"),
    ("x.xml\x00/../../../../etc/cron.d/x", "path separator"),
    ("\x00", "NUL"),
    ("evil\x1b]0;owned\x07.xml", "control character"),
    ("tab\t.xml", "control character"),
    ("line\nbreak.xml", "control character"),
    ("del\x7f.xml", "control character"),
    ("c1\x9b.xml", "control character"),
    ("stmt..xml", "'..'"),
    ("", "empty name"),
    ("é" * 130 + ".xml", "longer than 240 bytes"),
])
def test_hostile_names_are_refused_and_nothing_lands_outside_staging(hostile_sftp, tmp_path, name, why):
    hostile_sftp.add(name, b"<evil/>")
    hostile_sftp.add("good.sta", GOOD)
    staging = tmp_path / "home" / "staging" / "bank" / "run"
    with SftpClient(hostile_sftp.settings()) as c:
        listed = c.list_files(FOLDER, ["*"])
        assert [f.name for f in listed] == ["good.sta"]  # the hostile name is not handed on
        [refused] = c.refused
        assert (refused.error, refused.size) == ("UnsafeName", 7)
        assert why in refused.reason
        assert "\x00" not in refused.name and "\x1b" not in refused.name and "\n" not in refused.name
        # a caller that builds the RemoteFile itself (a DAG's XCom) is refused by download too
        forged = RemoteFile(path=f"{FOLDER}/{name}", name=name, size=7, mtime=MTIME)
        with pytest.raises(RejectedDocument, match="file name refused"):
            c.download(forged, staging)
        staged = c.download(listed[0], staging)
    assert hostile_sftp.opened == [b"good.sta"]  # the hostile file was never even opened
    assert Path(staged.local_path) == staging / "good.sta"
    assert files_under(tmp_path) == [staging / "good.sta"]


def test_dot_dot_listed_as_a_file_is_never_taken(hostile_sftp, tmp_path):
    hostile_sftp.add("..", b"<evil/>")
    hostile_sftp.add("../x.xml", b"<evil/>")
    hostile_sftp.add("good.sta", GOOD)
    staging = tmp_path / "staging"
    with SftpClient(hostile_sftp.settings()) as c:
        assert [f.name for f in c.list_files(FOLDER, ["*"])] == ["good.sta"]  # hidden names are skipped
        with pytest.raises(RejectedDocument, match="file name refused: holds '..'"):
            c.download(RemoteFile(path=f"{FOLDER}/..", name="..", size=7, mtime=MTIME), staging)
    assert hostile_sftp.opened == []
    assert files_under(tmp_path) == []


def test_a_listed_size_that_lies_does_not_lift_the_limit(hostile_sftp, tmp_path, monkeypatch):
    monkeypatch.setenv("O2C_MAX_BANK_FILE_BYTES", "65536")
    hostile_sftp.add("big.xml", b"x" * 5_000_000, listed_size=100)  # says 100 bytes, serves 5 MB
    hostile_sftp.add("good.sta", GOOD)
    staging = tmp_path / "staging"
    with SftpClient(hostile_sftp.settings()) as c:
        big, good = c.list_files(FOLDER, ["*"])
        assert (big.name, big.size) == ("big.xml", 100)
        with pytest.raises(TooLarge, match=r"more than 65536 bytes read \(listed 100\).*O2C_MAX_BANK_FILE_BYTES"):
            c.download(big, staging)
        assert [(r.name, r.error) for r in c.refused] == [("big.xml", "TooLarge")]
        c.download(good, staging)  # the session goes on
    assert hostile_sftp.served[b"big.xml"] < 1_000_000  # the transfer was stopped, not read to the end
    assert files_under(tmp_path) == [staging / "good.sta"]  # no partial copy left


def test_a_name_that_is_not_utf8_refuses_the_listing_with_a_message(hostile_sftp):
    hostile_sftp.add(b"\xff\xfe.sta", GOOD)
    hostile_sftp.add("good.sta", GOOD)
    with SftpClient(hostile_sftp.settings()) as c, pytest.raises(FatalError, match="not UTF-8"):
        c.list_files(FOLDER, ["*"])


@pytest.fixture
def hostile_bank(hostile_sftp, tmp_path, monkeypatch):
    banks = tmp_path / "banks.yaml"
    banks.write_text(f"banks:\n  - name: evilbank\n    connection: sftp_bank_evil\n    folder: {FOLDER}\n"
                     "    settle_seconds: 0\n")  # patterns: the default '*'
    monkeypatch.setenv("O2C_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("O2C_DATABASE_URL", f"sqlite:///{tmp_path / 'hub.sqlite'}")
    monkeypatch.setenv("O2C_BANKS", str(banks))
    monkeypatch.setenv("O2C_CONN_SFTP_BANK_EVIL", hostile_sftp.conn_json())
    return hostile_sftp


def test_fetch_refuses_a_traversal_name_counts_it_and_takes_the_other_files(hostile_bank, tmp_path):
    """The defect as reported: a server listing ``/../../../../<dir>/x`` made ``o2c bank fetch`` write there
    (here ``<dir>`` is a folder of this test) and exit 0 as if nothing happened."""
    outside = tmp_path / "outside"  # an existing folder elsewhere (think: the DAGs folder)
    outside.mkdir()
    traversal = "/" + "../" * 40 + str(outside / "x.sta").lstrip("/")
    hostile_bank.add(traversal, mt940(2))
    hostile_bank.add("a\\..\\b.sta", mt940(3))
    hostile_bank.add("good.sta", GOOD)

    result = CliRunner().invoke(cli, ["bank", "fetch", "evilbank"])
    assert result.exit_code == 0, result.output
    assert result.exception is None and "Traceback" not in result.output
    assert "evilbank: 1 file(s): ingested 1" in result.output
    assert "refused (left on the server): 2" in result.output
    lines = [ln for ln in result.output.splitlines() if ln.lstrip().startswith("refused ")]
    assert len(lines) == 2 and all("UnsafeName: file name refused: holds a path separator" in ln for ln in lines)
    assert any(ln.split()[1] == "a\\..\\b.sta:" for ln in lines)

    assert list(outside.iterdir()) == []  # nothing written outside the staging folder
    staging = tmp_path / "home" / "staging" / "bank" / "evilbank"
    assert [p.name for p in files_under(staging)] == ["good.sta"]
    assert [p for p in files_under(tmp_path) if staging not in p.parents] == [tmp_path / "banks.yaml",
                                                                             tmp_path / "hub.sqlite"]
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    assert [f.file_name for f in ledger.bank_files(store, "evilbank")] == ["good.sta"]
    [run] = store.runs("evilbank")
    assert (run.status, run.rejected, run.message) == ("success", 2, "2 file(s) refused")

    again = CliRunner().invoke(cli, ["bank", "fetch", "evilbank", "--json"])  # still there: refused again
    assert again.exit_code == 0, again.output
    data = json.loads(again.output)
    assert (data["refused"], data["ingested"]) == (2, 0)
    assert sorted(r["error"] for r in data["refused_files"]) == ["UnsafeName", "UnsafeName"]
    assert list(outside.iterdir()) == []
