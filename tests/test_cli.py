"""The o2c command line: help, store upgrade, and a sync of the live Tryton server."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from o2c.cli import cli
from o2c.store import Store
from tests.connectors.tryton_truth import posted_invoices


def test_help_lists_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "sync" in result.output and "db" in result.output


def test_db_upgrade_creates_the_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    result = CliRunner().invoke(cli, ["db", "upgrade", "--url", url])
    assert result.exit_code == 0, result.output
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(Store(url).alembic_config()).get_current_head()
    assert f"at revision {head}" in result.output
    assert Store(url).current_revision() == head


@pytest.mark.tryton
def test_sync_command_pulls_tryton(tryton_server, tmp_path, monkeypatch):
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - name: erp_a\n    kind: tryton\n    connection: erp_a_conn\n")
    monkeypatch.setenv("O2C_HOME", str(tmp_path))
    monkeypatch.delenv("O2C_DATABASE_URL", raising=False)
    monkeypatch.setenv("O2C_CONN_ERP_A_CONN", f"tryton://admin:{tryton_server.admin_password}@127.0.0.1:{tryton_server.port}/{tryton_server.database}")
    result = CliRunner().invoke(cli, ["sync", "erp_a", "--sources", str(sources), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    inv = {s["stream"]: s for s in data["streams"]}["invoices"]
    assert data["ok"] and inv["inserted"] == len(posted_invoices(tryton_server))
    again = CliRunner().invoke(cli, ["sync", "erp_a", "--sources", str(sources)])
    assert again.exit_code == 0 and "read 0, inserted 0" in again.output


def test_sync_with_missing_connection_says_what_to_set(tmp_path, monkeypatch):
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - name: erp_b\n    kind: tryton\n    connection: nowhere\n")
    monkeypatch.setenv("O2C_HOME", str(tmp_path))
    monkeypatch.delenv("O2C_CONN_NOWHERE", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_NOWHERE", raising=False)
    result = CliRunner().invoke(cli, ["sync", "erp_b", "--sources", str(sources)])
    assert result.exit_code != 0
    assert "O2C_CONN_NOWHERE" in str(result.exception) + result.output
