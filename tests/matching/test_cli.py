"""End to end: ``o2c cash-apply`` on a small camt.053 written by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from o2c.cli import cli

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "matching"

EXPECTED = {  # bank_ref -> {invoice_id: amount_applied}; every row auto
    "E01": {"OI01": "1200.00"},  # RF creditor reference
    "E02": {"OI02": "850.50"},  # number with noise, cut across two Ustrd
    "E03": {"OI03": "432.10"},  # typo that hits another customer's real invoice
    "E04": {"OI06": "100.00", "OI07": "200.00"},  # two invoices
    "E05": {"OI04": "1960.00"},  # 2 % discount
    "E06": {"OI05": "1000.00"},  # partial payment
    "E07": {"OI10": "400.00"},  # overpayment: open amount only
    "E12": {"OI15": "4100.00"},  # parent company (alias) paying, amount only
    "G01": {"OI11": "1000.00", "OI12": "-150.00"},  # credit note netted
    "G02": {"OI13": "488.50"},  # bank charges
    "G03": {"OI14": "777.77"},  # no reference, known IBAN, unique amount
}
# E08 duplicate, E09 interest, E10 supplier refund, E11 debit: no rows


def test_cash_apply_cli(tmp_path: Path) -> None:
    out = tmp_path / "allocations.csv"
    details = tmp_path / "details"
    res = CliRunner().invoke(cli, [
        "cash-apply", "--customers", str(FIX / "customers.csv"), "--open-items", str(FIX / "open_items.csv"),
        "--statements", str(FIX / "statement_camt053.xml"), "--out", str(out), "--details", str(details),
        "--workers", "1",
    ])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["lines"] == 15 and summary["credit_lines"] == 13
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["bank_ref", "invoice_id", "amount_applied", "confidence", "status"]
    got: dict[str, dict[str, str]] = {}
    for r in rows:
        got.setdefault(r["bank_ref"], {})[r["invoice_id"]] = r["amount_applied"]
        assert r["status"] == "auto"
        assert 0.0 <= float(r["confidence"]) <= 1.0
    assert got == EXPECTED
    flags = list(csv.DictReader(open(details / "flags.csv", newline="")))
    assert {(f["bank_ref"], f["kind"]) for f in flags} == {("E07", "overpayment"), ("E08", "duplicate_payment")}
    wo = list(csv.DictReader(open(details / "write_offs.csv", newline="")))
    assert {(w["bank_ref"], w["reason"], w["amount"]) for w in wo} == {
        ("E05", "early_payment_discount", "40.00"), ("G02", "bank_charges", "11.50")}


def test_cash_apply_reads_a_folder(tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    stm = tmp_path / "stm"
    stm.mkdir()
    (stm / "day1.xml").write_bytes((FIX / "statement_camt053.xml").read_bytes())
    res = CliRunner().invoke(cli, [
        "cash-apply", "--customers", str(FIX / "customers.csv"), "--open-items", str(FIX / "open_items.csv"),
        "--statements", str(stm), "--out", str(out),
    ])
    assert res.exit_code == 0, res.output
    assert len(out.read_text().splitlines()) == 1 + sum(len(v) for v in EXPECTED.values())


def test_cash_apply_with_learned_iban(tmp_path: Path) -> None:
    """A payer IBAN taught by a reviewer identifies the customer on the next run."""
    from matching.learning import Decision, Learned

    learned = Learned()
    learned.record(Decision("accept", bank_ref="X1", customer_id="C4", payer_iban="IT60X0542811101000000123456"))
    lj = tmp_path / "learned.json"
    lj.write_text(json.dumps(learned.to_dict()))
    xml = (FIX / "statement_camt053.xml").read_text(encoding="utf-8")
    # E12 now comes from an unnamed payer with the taught IBAN
    xml = xml.replace("<Dbtr><Pty><Nm>ROSSI HOLDING SPA</Nm></Pty></Dbtr>",
                      "<DbtrAcct><Id><IBAN>IT60X0542811101000000123456</IBAN></Id></DbtrAcct>")
    stm = tmp_path / "s.xml"
    stm.write_text(xml, encoding="utf-8")
    args = ["cash-apply", "--customers", str(FIX / "customers.csv"), "--open-items", str(FIX / "open_items.csv"),
            "--statements", str(stm), "--workers", "1"]
    res = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "a.csv")])
    assert res.exit_code == 0, res.output
    assert "E12," not in (tmp_path / "a.csv").read_text()
    res = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "b.csv"), "--learned", str(lj)])
    assert res.exit_code == 0, res.output
    assert "E12,OI15,4100.00" in (tmp_path / "b.csv").read_text()


def test_parallel_parsing_gives_the_same_keys(tmp_path: Path) -> None:
    from matching.io import load_lines

    xml = (FIX / "statement_camt053.xml").read_text(encoding="utf-8")
    (tmp_path / "a.xml").write_text(xml, encoding="utf-8")
    (tmp_path / "b.xml").write_text(xml.replace("<AcctSvcrRef>", "<AcctSvcrRef>X"), encoding="utf-8")
    one = load_lines([str(tmp_path)], workers=1)
    two = load_lines([str(tmp_path)], workers=2)
    assert [ln.bank_ref for ln in one[0]] == [ln.bank_ref for ln in two[0]]
    assert len(one[0]) == 30
    assert one[1].tolist() == two[1].tolist() and one[2].tolist() == two[2].tolist()
