"""``o2c bank parse``: canonical JSON on stdout, one-line reason and non-zero exit on rejection."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from o2c.commands.bank import bank

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "bank"


def test_parse_json() -> None:
    result = CliRunner().invoke(bank, ["parse", str(ROOT / "bai2" / "moj" / "nwb_example.bai2"), "--json"])
    assert result.exit_code == 0, result.output
    [st] = json.loads(result.stdout)
    assert st["format"] == "bai2" and st["opening_balance"]["amount"] == "365.21"
    assert [e["amount"] for e in st["entries"]] == ["-9.71", "-1.00", "-1.23", "-15.71", "0.89"]


def test_parse_summary() -> None:
    result = CliRunner().invoke(bank, ["parse", str(ROOT / "cfonb120" / "pennylane" / "example.txt")])
    assert result.exit_code == 0 and result.stdout.count("cfonb120") == 2


def test_rejected_file_exits_non_zero_with_one_line() -> None:
    path = ROOT / "cfonb120" / "invalid" / "pennylane_invalid_date.txt"
    result = CliRunner().invoke(bank, ["parse", str(path), "--json"])
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("rejected: ") and "not a date (DDMMYY)" in line and str(path) in line
