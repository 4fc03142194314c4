"""Absurd amounts in JSON intake, CDAR lifecycle messages and SAP IDocs are refused (hardening, defect 8).

``1E+999999999`` used to pass pydantic as a Decimal and make ``o2c einvoice render`` write its
digits out (a gigabyte, or a MemoryError traceback); ``1_0`` was read as ten. Every Decimal of
a canonical record built from JSON is now checked like any outside amount, and the command
refuses the file at once: exit 1, one line, no traceback, no output file.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import resource
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from edi import cdar, idoc_invoic02, samples
from schemas.errors import InvalidFormat
from schemas.invoice import Invoice
from schemas.jsonio import from_json, to_json
from schemas.statement import BankStatement

REPO = Path(__file__).resolve().parents[2]
IDOC = REPO / "tests" / "fixtures" / "sap_s4" / "idoc" / "INVOIC02_90000001.xml"
HUNDRED_K_DIGITS = "9" * 100_000
ABSURD = ["1E+999999999", HUNDRED_K_DIGITS, "1_0", "1E-999999999", "NaN", "١٢٣"]


def _limits() -> None:
    """The child may not write more than 64 MB to a file nor map more than 4 GB: if the
    refusal is missing, the test fails instead of filling the disk."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def o2c(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "O2C_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "o2c.cli", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, preexec_fn=_limits)


def invoice_json(**changes: object) -> dict:
    data = to_json(samples.sample_invoice(5))
    for path, value in changes.items():
        holder = data
        *head, leaf = path.split("__")
        for key in head:
            holder = holder[int(key)] if key.isdigit() else holder[key]
        holder[leaf] = value
    return data


@pytest.mark.parametrize("bad", ["1E+999999999", HUNDRED_K_DIGITS, "1_0"], ids=["exponent", "100k-digits", "underscore"])
def test_render_refuses_an_absurd_amount_at_once(tmp_path: Path, bad: str) -> None:
    src = tmp_path / "invoice.json"
    src.write_text(json.dumps(invoice_json(lines__0__quantity=bad, totals__payable=bad)), encoding="utf-8")
    out = tmp_path / "out.xml"
    # --no-validate: the refusal must not depend on the validator (which cannot start under the memory limit)
    run = o2c("einvoice", "render", str(src), "--format", "ubl", "--no-validate", "-o", str(out), home=tmp_path / "home")
    assert run.returncode == 1, (run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr and run.stdout == ""
    [line] = run.stderr.splitlines()
    assert line.startswith(f"error: {src}: not a canonical invoice: ") and "lines.0.quantity" in line and len(line) < 1000
    assert not out.exists()


def test_render_still_renders_a_sane_invoice(tmp_path: Path) -> None:
    src = tmp_path / "invoice.json"
    src.write_text(json.dumps(invoice_json(lines__0__quantity="99999999999999.99999")), encoding="utf-8")
    out = tmp_path / "out.xml"
    run = o2c("einvoice", "render", str(src), "--format", "ubl", "--no-validate", "-o", str(out), home=tmp_path / "home")
    assert run.returncode == 0, run.stderr
    assert b"99999999999999.99999" in out.read_bytes()


@pytest.mark.parametrize("bad", ABSURD, ids=lambda b: b[:14])
@pytest.mark.parametrize("where", ["totals__payable", "lines__0__quantity", "lines__0__net_price",
                                   "vat_breakdown__0__tax_amount", "lines__1__vat_rate"])
def test_every_decimal_of_a_json_invoice_is_checked(bad: str, where: str) -> None:
    with pytest.raises(ValidationError) as info:
        from_json(Invoice, invoice_json(**{where: bad}))
    [err] = info.value.errors()
    assert ".".join(str(p) for p in err["loc"]) == where.replace("__", ".")
    assert len(str(info.value)) < 1000


def test_json_numbers_are_checked_too() -> None:
    for bad in (1e300, 10**20):
        with pytest.raises(ValidationError, match="more than 14 integer digits"):
            from_json(Invoice, invoice_json(totals__payable=bad))
    assert from_json(Invoice, invoice_json(totals__payable=12)).totals.payable == Decimal(12)


def test_bank_statement_json_is_checked_down_to_referred_documents() -> None:
    st = BankStatement(format="camt.053.001.08", account_iban="FR7630004580174324836762859", currency="EUR")
    data = to_json(st)
    data["entries"] = [{"amount": "10.00", "currency": "EUR",
                        "referred_documents": [{"number": "FA-1", "amount": "1E+999999999"}]}]
    with pytest.raises(ValidationError) as info:
        from_json(BankStatement, data)
    assert info.value.errors()[0]["loc"] == ("entries", 0, "referred_documents", 0, "amount")
    data["entries"][0]["referred_documents"][0]["amount"] = "10.00"
    assert from_json(BankStatement, data).entries[0].referred_documents[0].amount == Decimal("10.00")


def test_round_trip_of_the_sample_invoices_is_unchanged() -> None:
    for inv in samples.sample_invoices(40):
        assert from_json(Invoice, to_json(inv)) == inv


def _cdar_212(amount: str, rate: str = "20.00") -> bytes:
    inv = samples.sample_invoice(1)
    xml = cdar.render(cdar.encaissee(inv, Decimal("100.00"), dt.date(2026, 12, 1))).decode()
    start = xml.index("<ram:ValueAmount")
    end = xml.index("</ram:ValueAmount>", start)
    xml = xml[:xml.index(">", start) + 1] + amount + xml[end:]
    return xml.encode()


@pytest.mark.parametrize("bad", ["1E+999999999", "1_0", HUNDRED_K_DIGITS, "100000000000000"], ids=lambda b: b[:14])
def test_cdar_collected_amount_is_a_plain_amount(bad: str) -> None:
    assert cdar.parse(_cdar_212("100.00")).amounts  # the message is otherwise fine
    with pytest.raises(cdar.InvalidLifecycleStatus) as info:
        cdar.parse(_cdar_212(bad), document_id="status.xml")
    assert info.value.field == "ValueAmount" and len(str(info.value)) < 300


@pytest.mark.parametrize("bad", ["1E+999999999", "1_0", "100000000000000", "12.5.0"], ids=lambda b: b[:14])
def test_idoc_item_amount_is_a_plain_amount(bad: str) -> None:
    data = IDOC.read_bytes()
    good = idoc_invoic02.parse(data, IDOC.name)
    assert good[0]["taxes"][0]["base"] == "2850.00"
    # the net item value of item 000010 (E1EDP26 qualifier 003, which the breakdown adds up)
    poisoned = data.replace(b"<BETRG>2500.00</BETRG>", b"<BETRG>" + bad.encode() + b"</BETRG>", 1)
    assert poisoned != data
    with pytest.raises(InvalidFormat) as info:
        idoc_invoic02.parse(poisoned, IDOC.name)
    assert info.value.field == "E1EDP26/BETRG" and "item 000010" in str(info.value)


def test_invoice_json_copy_is_untouched() -> None:
    data = invoice_json()
    before = copy.deepcopy(data)
    from_json(Invoice, data)
    assert data == before
