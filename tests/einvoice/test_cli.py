"""``o2c einvoice``: render, parse --json, validate (exit codes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edi import samples
from o2c.commands.einvoice import FORMATS, einvoice
from schemas.invoice import Invoice
from schemas.jsonio import from_json, to_json
from tests.einvoice.helpers import FIXTURES


@pytest.fixture()
def invoice_json(tmp_path: Path) -> Path:
    path = tmp_path / "inv.json"
    path.write_text(json.dumps(to_json(samples.sample_invoice(5)), ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_then_validate_then_parse(tmp_path: Path, invoice_json: Path, fmt: str) -> None:
    runner = CliRunner()
    is_pdf = fmt.startswith("facturx") and fmt != "facturx-extended-ctc-fr"  # the French CTC profile is CII XML
    out = tmp_path / ("out.pdf" if is_pdf else "out.xml")
    result = runner.invoke(einvoice, ["render", str(invoice_json), "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:5] == (b"%PDF-" if is_pdf else b"<?xml")
    result = runner.invoke(einvoice, ["validate", str(out)])
    assert result.exit_code == 0 and "VALID" in result.output
    result = runner.invoke(einvoice, ["parse", "--json", str(out)])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["totals"]["payable"] == str(samples.sample_invoice(5).totals.payable)
    if fmt in ("cii", "ubl", "facturx-en16931", "facturx-extended"):
        parsed = from_json(Invoice, data)
        expected = samples.sample_invoice(5)
        if fmt == "facturx-extended":
            expected.specification_id = parsed.specification_id
        assert parsed == expected


def test_validate_reports_errors_and_exits_1(tmp_path: Path) -> None:
    bad = FIXTURES / "zugferd-corpus" / "facturx" / "invalid" / "Facture_FR_EN16931.pdf"
    result = CliRunner().invoke(einvoice, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "INVALID" in result.output and "CII-DT-031" in result.output


def test_bad_input_exits_1(tmp_path: Path) -> None:
    junk = tmp_path / "junk.xml"
    junk.write_bytes(b"<a><b></a>")
    for cmd in ("parse", "validate"):
        result = CliRunner().invoke(einvoice, [cmd, str(junk)])
        assert result.exit_code == 1 and "malformed XML" in result.output
    not_invoice = tmp_path / "x.json"
    not_invoice.write_text("{}")
    result = CliRunner().invoke(einvoice, ["render", str(not_invoice), "--format", "ubl", "-o", str(tmp_path / "o")])
    assert result.exit_code == 1


def test_registered_in_o2c_cli() -> None:
    text = (Path(__file__).resolve().parents[2] / "o2c" / "cli.py").read_text()
    assert '("o2c.commands.einvoice", "einvoice")' in text


def test_render_refuses_an_invalid_invoice(tmp_path: Path) -> None:
    inv = samples.sample_invoice(5)
    inv.totals.payable += 1
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(to_json(inv)), encoding="utf-8")
    result = CliRunner().invoke(einvoice, ["render", str(path), "--format", "ubl", "-o", str(tmp_path / "o.xml")])
    assert result.exit_code == 1 and "BR-CO-16" in result.output
    assert not (tmp_path / "o.xml").exists()
