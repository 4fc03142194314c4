"""``o2c bank fetch BANK`` against the test sshd, and the bank configuration it reads."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from o2c.banks import load_banks, sftp_settings_from_env
from o2c.cli import cli
from o2c.config import BankConfig
from o2c.store import Store
from o2c.store import bank as ledger
from schemas.errors import ConfigError, FatalError
from tests.bank.helpers import CAMT053, mt940

pytestmark = pytest.mark.sftp


@pytest.fixture
def cli_env(site, tmp_path, monkeypatch):
    banks = tmp_path / "banks.yaml"
    cfg = site.config
    banks.write_text(f"banks:\n  - name: {cfg.name}\n    connection: {cfg.connection}\n    folder: {cfg.folder}\n"
                     f"    patterns: {list(cfg.patterns)}\n    archive_folder: {cfg.archive_folder}\n    settle_seconds: 0\n")
    monkeypatch.setenv("O2C_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("O2C_DATABASE_URL", f"sqlite:///{tmp_path / 'hub.sqlite'}")
    monkeypatch.setenv("O2C_BANKS", str(banks))
    monkeypatch.setenv("O2C_CONN_SFTP_BANK_TEST", site.server.conn_json())
    return tmp_path


def test_fetch_downloads_ingests_and_summarises(site, cli_env):
    site.upload("stmt.xml", CAMT053.read_bytes())
    site.upload("seq.sta", mt940(1) + mt940(3))
    result = CliRunner().invoke(cli, ["bank", "fetch", "testbank"])
    assert result.exit_code == 0, result.output
    assert "testbank: 2 file(s): ingested 2, duplicates 0, quarantined 0; statements stored 4" in result.output
    assert "SEQUENCE GAP account DE89…3000: statements 2..2 missing" in result.output
    assert "NL26VAYB8060476890" not in result.output
    staged = list((cli_env / "home" / "staging" / "bank" / "testbank").glob("cli-*/*"))
    assert sorted(p.name for p in staged) == ["seq.sta", "stmt.xml"]

    site.upload("stmt-again.xml", CAMT053.read_bytes())
    again = CliRunner().invoke(cli, ["bank", "fetch", "testbank", "--json"])
    assert again.exit_code == 0, again.output
    data = json.loads(again.output)
    assert (data["ingested"], data["duplicates"], data["statements_stored"]) == (0, 1, 0)
    assert len(ledger.bank_statements(Store(f"sqlite:///{cli_env / 'hub.sqlite'}"))) == 4


def test_fetch_refuses_a_file_over_the_limit_and_takes_the_others(site, cli_env, monkeypatch):
    monkeypatch.setenv("O2C_MAX_BANK_FILE_BYTES", "1000")
    big = CAMT053.read_bytes()
    assert len(big) > 1000
    site.upload("stmt.xml", big)
    site.upload("seq.sta", mt940(1))
    result = CliRunner().invoke(cli, ["bank", "fetch", "testbank"])
    assert result.exit_code == 0, result.output
    assert "testbank: 1 file(s): ingested 1" in result.output and "refused (left on the server): 1" in result.output
    assert (f"refused      stmt.xml: {len(big)} bytes listed: TooLarge: {len(big)} bytes (listed) is over the 1000-byte "
            "limit for bank files (O2C_MAX_BANK_FILE_BYTES); not downloaded") in result.output
    assert [p.name for p in site.inbox.iterdir()] == ["stmt.xml"]  # left on the server, not archived
    assert [p.name for p in site.archive.iterdir()] == ["seq.sta"]
    assert [p.name for p in (cli_env / "home" / "staging" / "bank" / "testbank").glob("cli-*/*")] == ["seq.sta"]
    store = Store(f"sqlite:///{cli_env / 'hub.sqlite'}")
    assert [f.file_name for f in ledger.bank_files(store, "testbank")] == ["seq.sta"]


def test_bank_max_file_bytes_overrides_the_default(site, cli_env, monkeypatch):
    monkeypatch.setenv("O2C_MAX_BANK_FILE_BYTES", "1000")  # the default for every bank ...
    banks = cli_env / "banks.yaml"
    banks.write_text(banks.read_text() + "    max_file_bytes: 1000000\n")  # ... raised for this one
    site.upload("stmt.xml", CAMT053.read_bytes())
    taken = CliRunner().invoke(cli, ["bank", "fetch", "testbank", "--json"])
    assert taken.exit_code == 0, taken.output
    assert (json.loads(taken.output)["ingested"], json.loads(taken.output)["refused"]) == (1, 0)

    monkeypatch.delenv("O2C_MAX_BANK_FILE_BYTES")
    banks.write_text(banks.read_text().replace("max_file_bytes: 1000000", "max_file_bytes: 100"))  # ... or lowered
    site.upload("seq.sta", mt940(1))
    refused = CliRunner().invoke(cli, ["bank", "fetch", "testbank", "--json"])
    assert refused.exit_code == 0, refused.output
    data = json.loads(refused.output)
    assert (data["ingested"], data["refused"]) == (0, 1)
    [r] = data["refused_files"]
    assert (r["name"], r["error"]) == ("seq.sta", "TooLarge") and "bank's max_file_bytes" in r["reason"]
    assert [p.name for p in site.inbox.iterdir()] == ["seq.sta"]


def test_fetch_exit_codes_say_what_to_do(site, cli_env, monkeypatch):
    monkeypatch.setenv("O2C_CONN_SFTP_BANK_TEST", site.server.conn_json(host_key=site.server.other_host_key))
    wrong_key = CliRunner().invoke(cli, ["bank", "fetch", "testbank"])
    assert wrong_key.exit_code == 2 and "host key mismatch" in wrong_key.output
    unknown = CliRunner().invoke(cli, ["bank", "fetch", "nobank"])
    assert unknown.exit_code == 2 and "unknown bank 'nobank'" in unknown.output
    site.server.stop()
    monkeypatch.setenv("O2C_CONN_SFTP_BANK_TEST", site.server.conn_json())
    down = CliRunner().invoke(cli, ["bank", "fetch", "testbank"])
    assert down.exit_code == 75 and "retry later" in down.output


def test_connection_from_uri_or_json(sshd, monkeypatch):
    bank = BankConfig(name="bk", connection="sftp_bank_b", host="10.0.0.9")  # the name follows the file's rule
    uri = f"sftp://o2c@sftp.example:2222?key_file={quote(str(sshd.client_key))}&host_key={quote(sshd.host_key)}"
    monkeypatch.setenv("O2C_CONN_SFTP_BANK_B", uri)
    s = sftp_settings_from_env(bank)
    assert (s.host, s.port, s.username, s.host_key) == ("10.0.0.9", 2222, "o2c", sshd.host_key)
    assert sshd.host_key not in repr(s)
    monkeypatch.setenv("O2C_CONN_SFTP_BANK_B", json.dumps({"host": "h", "login": "u", "extra": {
        "private_key": sshd.client_key.read_text(), "host_key": sshd.host_key}}))
    s = sftp_settings_from_env(bank)
    assert (s.host, s.port, s.private_key is not None) == ("10.0.0.9", 22, True)
    assert "PRIVATE" not in repr(s)
    monkeypatch.delenv("O2C_CONN_SFTP_BANK_B")
    with pytest.raises(ConfigError, match="O2C_CONN_SFTP_BANK_B"):
        sftp_settings_from_env(bank)
    monkeypatch.setenv("O2C_CONN_SFTP_BANK_B", f"sftp://u:secret@h:22?host_key={quote(sshd.host_key)}")  # password only: refused, key auth required
    with pytest.raises(FatalError, match="key authentication"):
        sftp_settings_from_env(bank)


@pytest.mark.parametrize("body, message", [
    ("banks:\n  - name: bk\n    connection: c\n    archive_folder: a\n    delete_after: true\n", "either 'archive_folder' or 'delete_after'"),
    ("banks:\n  - name: BK\n    connection: c\n", "lower-case"),
    ("banks:\n  - name: bk\n", r"banks\[0\]\.connection: missing; write a connection id"),
    ("banks:\n  - name: bk\n    connection: c\n    private_key: x\n", r"banks\[0\]\.private_key: unknown key .* credentials belong in the connection"),
    ("banks:\n  - name: bk\n    connection: c\n  - name: bk\n    connection: d\n", r"banks\[1\]\.name: duplicate bank name"),
    ("banks: {name: bk}\n", "must be a list"),
    ("banks:\n  - name: bk\n    connection: c\n    max_file_bytes: 0\n", r"banks\[0\]\.max_file_bytes: must be a positive whole number"),
    ("banks:\n  - name: bk\n    connection: c\n    max_file_bytes: -5\n", r"banks\[0\]\.max_file_bytes: must be a positive whole number"),
    ("banks:\n  - name: bk\n    connection: c\n    max_file_bytes: 1.5e6\n", r"banks\[0\]\.max_file_bytes: must be a positive whole number"),
    ("banks:\n  - name: bk\n    connection: c\n    max_file_bytes: 2GB\n", r"banks\[0\]\.max_file_bytes: must be a positive whole number"),
    ("banks:\n  - name: bk\n    connection: c\n    max_file_bytes: true\n", r"banks\[0\]\.max_file_bytes: must be a positive whole number"),
])
def test_bad_bank_configuration_names_file_and_key(tmp_path, body, message):
    path = tmp_path / "sources.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message):
        load_banks(path)


def test_example_configuration_is_valid():
    from tests.bank.helpers import REPO

    banks = load_banks(REPO / "config" / "banks.example.yaml")
    assert [b.name for b in banks] == ["bnp", "sg"]
    assert [b.max_file_bytes for b in banks] == [None, 104857600]
