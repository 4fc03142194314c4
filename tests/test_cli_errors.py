"""The ``o2c`` command line never shows a traceback: one line and an exit status (hardening, defect 5).

Run as a real process, as a user or a scheduler runs it: Python prints a traceback for any
exception that escapes, and SQLAlchemy's and drivers' messages can hold credentials, SQL and
the values being processed. Typed errors say what to do (exit 1 rejected, 2 fix the
configuration, 75 retry later); anything else is one line naming its class and pointing to
``o2c -v``, which prints the traceback with credentials and account numbers masked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-Pa55"
UNREACHABLE = f"postgresql+psycopg://hub:{SECRET}@127.0.0.1:1/o2c"  # nothing listens on port 1


def o2c(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "O2C_DATABASE_URL"}
    full.update({"PYTHONPATH": str(REPO), "O2C_HOME": str(home)}, **env)
    return subprocess.run([sys.executable, "-m", "o2c.cli", *args], cwd=REPO, env=full, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def statement_file(tmp_path: Path) -> Path:
    path = tmp_path / "stmt.sta"
    path.write_bytes(b":20:X\r\n:25:FR7630006000011234567890189\r\n:28C:1/1\r\n:60F:C260105EUR1,00\r\n"
                     b":62F:C260105EUR1,00\r\n-\r\n")
    return path


def test_unexpected_error_is_one_line_without_traceback_or_secret(tmp_path, statement_file):
    run = o2c("bank", "ingest", "--bank", "bnp", str(statement_file), home=tmp_path / "home",
              O2C_DATABASE_URL=UNREACHABLE)
    assert run.returncode == 1 and run.stdout == ""
    [line] = run.stderr.splitlines()
    assert line.startswith("unexpected error (OperationalError: ") and "o2c -v" in line, run.stderr
    assert "Connection refused" in line and SECRET not in run.stderr


def test_verbose_shows_the_traceback_with_credentials_masked(tmp_path, statement_file):
    run = o2c("-v", "bank", "ingest", "--bank", "bnp", str(statement_file), home=tmp_path / "home",
              O2C_DATABASE_URL=f"postgresql+psycopg://hub:{SECRET}@no-such-host.invalid:5432/o2c")
    assert run.returncode == 1
    assert "Traceback (most recent call last)" in run.stderr and "OperationalError" in run.stderr
    assert SECRET not in run.stderr
    assert run.stderr.rstrip().splitlines()[-1].startswith("unexpected error (OperationalError")


def test_typed_errors_keep_their_exit_status(tmp_path):
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - name: erp_b\n    kind: tryton\n    connection: nowhere\n")
    run = o2c("sync", "erp_x", "--sources", str(sources), home=tmp_path)  # a ConfigError no command catches
    assert run.returncode == 2 and "Traceback" not in run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith("error (fix the configuration or credentials, do not retry): ") and "erp_x" in line


def test_usage_errors_and_help_are_click_s_own(tmp_path):
    assert o2c("bank", "ingest", home=tmp_path).returncode == 2  # missing argument: click's usage error
    assert o2c("--help", home=tmp_path).returncode == 0
