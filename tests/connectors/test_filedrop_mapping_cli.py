"""``o2c mapping check`` and ``o2c mapping preview`` on a file-drop source (nothing stored)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

from click.testing import CliRunner

from o2c.cli import cli
from tests.connectors.test_filedrop import FIXTURES, FR_HEADERS

T0 = dt.datetime(2026, 1, 31, 18, 0, tzinfo=dt.UTC)


def sources_file(tmp_path: Path, mapping: str | None = None) -> Path:
    drop = tmp_path / "drop"
    drop.mkdir()
    for name in ("factures_2026-01_cp1252.csv", "factures_2026-01_bad_rows.csv"):
        shutil.copyfile(FIXTURES / name, drop / name)
        os.utime(drop / name, (T0.timestamp(), T0.timestamp()))
    headers = "\n".join(f'        "{k}": {v}' for k, v in FR_HEADERS.items())
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n"
        "  - name: drop_fr\n    kind: filedrop\n    connection: drop_fr_folder\n    streams: [invoices]\n"
        + (f"    mapping: {mapping}\n" if mapping else "")
        + "    options:\n      files: {invoices: 'factures_*.csv'}\n      group_by: invoice_number\n      headers:\n" + headers + "\n",
        encoding="utf-8")
    return path


def test_check_a_source_and_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("O2C_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["mapping", "check", "drop_fr", "--sources", str(sources_file(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "ok  " in result.output and "filedrop/invoice.yaml: invoice" in result.output
    for kind in ("sql", "odoo", "sap_s4", "sap_idoc", "filedrop"):
        result = CliRunner().invoke(cli, ["mapping", "check", kind])
        assert result.exit_code == 0, result.output


def test_check_names_the_file_and_key_of_an_error(tmp_path, monkeypatch):
    import mappings.mapper as mapper

    folder = tmp_path / "mappings" / "broken"
    folder.mkdir(parents=True)
    (folder / "invoice.yaml").write_text("version: 1\ndocument: invoice\nsource_id: id\nterms:\n  BT-1: {from: x, as: money}\n")
    monkeypatch.setattr(mapper, "MAPPINGS_DIR", tmp_path / "mappings")
    monkeypatch.setattr("o2c.commands.mapping.get_settings", lambda: None)
    result = CliRunner().invoke(cli, ["mapping", "check", "broken"])
    assert result.exit_code == 1
    assert str(folder / "invoice.yaml") in result.output and "BT-1: unknown converter 'money'" in result.output


def test_preview_prints_canonical_json_and_issues_without_storing(tmp_path, monkeypatch):
    monkeypatch.setenv("O2C_HOME", str(tmp_path))
    monkeypatch.setenv("O2C_CONN_DROP_FR_FOLDER", f"filedrop://local{tmp_path / 'drop'}")
    result = CliRunner().invoke(cli, ["mapping", "preview", "drop_fr", "--sources", str(sources_file(tmp_path)),
                                      "--limit", "4", "--until", "2026-03-01T00:00:00+00:00"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    records = data["records"]
    assert len(records) == 4
    by_id = {r["source_id"]: r for r in records}
    assert by_id["FA-1001"]["canonical"]["totals"]["payable"] == "3420.00" and by_id["FA-1001"]["issues"] == []
    rejected = [r for r in records if r["rejected"]]
    assert rejected and all(r["canonical"] is None for r in rejected)
    assert not (tmp_path / "o2c.sqlite").exists()  # nothing stored
