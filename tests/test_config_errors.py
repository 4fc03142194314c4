"""A wrong setting is one line naming the setting and what to write, with exit status 2.

The ``o2c`` command runs in a subprocess, as a user runs it: a bad database URL in
``O2C_DATABASE_URL``, a broken JSON connection (or its ``extra``) in ``O2C_CONN_<ID>`` /
``AIRFLOW_CONN_<ID>``, a port that is not a number in a connection URI. Before, each printed a
Python traceback (SQLAlchemy's, ``json``'s, ``urllib``'s), some holding the URL or its password.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SECRET = "S3cretPw"  # noqa: S105 - a test password that must never be printed


def o2c(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("O2C_", "AIRFLOW_CONN_"))}
    base.update({"O2C_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}, **env)
    return subprocess.run([sys.executable, "-m", "o2c.cli", *args], env=base, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)


def assert_one_line_naming(proc: subprocess.CompletedProcess[str], *names: str) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out and SECRET not in out and SECRET[:3] + "/" not in out, out
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and proc.stdout == "", out
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("url", "says"), [
    (f"postgresql+psycopg://hub:{SECRET}@db.example:5432x/o2c", "port that is not a number"),
    (f"not a url {SECRET}", "cannot be read as a SQLAlchemy URL"),
    (f"mongodb://hub:{SECRET}@db.example/o2c", "driver that is not installed or does not exist"),
])
@pytest.mark.parametrize("command", [["db", "current"], ["db", "upgrade"]])
def test_bad_database_url_is_one_line_naming_the_variable(tmp_path, url, says, command):
    line = assert_one_line_naming(o2c(command, tmp_path, O2C_DATABASE_URL=url), "O2C_DATABASE_URL", says)
    assert "postgresql+psycopg://o2c@db-host:5432/o2c (password in ~/.pgpass or PGPASSWORD)" in line  # what to write


def sync_source(tmp_path: Path) -> Path:
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - name: erp_b\n    kind: tryton\n    connection: erp_conn\n")
    return sources


CONN = {"conn_type": "tryton", "host": "127.0.0.1", "port": 8000, "login": "admin", "password": SECRET, "schema": "o2c"}


@pytest.mark.parametrize(("var", "value", "says"), [
    ("O2C_CONN_ERP_CONN", json.dumps({**CONN, "extra": '{"batch_size": 5,'}), 'its "extra" is not valid JSON'),
    ("AIRFLOW_CONN_ERP_CONN", json.dumps(CONN)[:-1] + ', "extra": {"batch_size": 5}', "is not valid JSON"),
    ("O2C_CONN_ERP_CONN", json.dumps({**CONN, "port": "80a"}), '"port" must be a number'),
    ("O2C_CONN_ERP_CONN", f"tryton://admin:{SECRET}@127.0.0.1:80a/o2c", "the port is not a number"),
    # a password with an unencoded '/': urllib reads what follows it as the port
    ("AIRFLOW_CONN_ERP_CONN", f"tryton://admin:{SECRET[:3]}/{SECRET[3:]}@127.0.0.1:8000/o2c", "the port is not a number"),
    ("O2C_CONN_ERP_CONN", f"tryton://admin:{SECRET}@127.0.0.1:8000/o2c?__extra__=%7Bbatch", "__extra__ parameter is not valid JSON"),
])
def test_broken_connection_is_one_line_naming_the_variable(tmp_path, var, value, says):
    proc = o2c(["sync", "erp_b", "--sources", str(sync_source(tmp_path))], tmp_path, **{var: value})
    assert SECRET[3:] not in proc.stdout + proc.stderr
    assert_one_line_naming(proc, var, says)


def test_bank_connection_with_broken_json_extra_is_one_line(tmp_path):
    banks = tmp_path / "banks.yaml"
    banks.write_text("banks:\n  - name: testbank\n    connection: sftp_bank\n    folder: out\n    patterns: ['*.xml']\n")
    value = json.dumps({"conn_type": "sftp", "host": "127.0.0.1", "login": "hub", "password": SECRET,
                        "extra": '{"key_file": "/k", "host_key": '})
    proc = o2c(["bank", "fetch", "testbank", "--banks", str(banks)], tmp_path, O2C_CONN_SFTP_BANK=value)
    assert_one_line_naming(proc, "O2C_CONN_SFTP_BANK", '"extra" is not valid JSON')


def test_a_good_json_connection_is_read_like_its_uri():
    from connectors.base import ConnectionInfo

    uri = ConnectionInfo.from_setting(f"tryton://admin:{SECRET}@127.0.0.1:8000/o2c?batch_size=5", "O2C_CONN_X")
    js = ConnectionInfo.from_setting(json.dumps({**CONN, "extra": json.dumps({"batch_size": "5"})}), "O2C_CONN_X")
    assert uri == js
    assert ConnectionInfo.from_uri("sftp://hub@h:22?__extra__=%7B%22key_file%22%3A%20%22%2Fk%22%7D").extra == {"key_file": "/k"}
