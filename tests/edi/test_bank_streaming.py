"""MT940, CFONB 120 and BAI2 are streamed from disk: memory stays flat, sizes and lines are bounded.

The big files are generated here, in ``tmp_path``; the peak memory is measured in a fresh Python
process (``VmHWM``: its high-water mark since it started), which streams the file through
:func:`edi.bank.iter_entries`.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from edi import bai2, bank, cfonb120, lines, mt940
from schemas.errors import InvalidChecksum, InvalidFormat, RejectedDocument, TooLarge
from schemas.jsonio import to_json

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "bank"
MIB = 2**20
PEAK_BOUND_MIB = 150  # the files below are 50 to 100 MB; streaming them takes about 25 MiB


# --- generated files ----------------------------------------------------------------------------
def _write(path: Path, head: str, body: str, count: int, tail: str) -> None:
    with open(path, "w", encoding="ascii", newline="") as fh:
        fh.write(head)
        for _ in range(count // 1000):
            fh.write(body * 1000)
        fh.write(body * (count % 1000))
        fh.write(tail)


def big_mt940(path: Path, megabytes: int) -> int:
    """One statement, one :61: with a six-line German :86: per entry; the balances reconcile."""
    entry = (":61:2601050105CR250,50NTRFNONREF//B6010500001\r\n"
             ":86:166?00GUTSCHRIFT?20EREF+INV-2026-0042?21SVWZ+Rechnung FA2026-\r\n"
             "?2200042 und weitere Positionen des Kunden?23ACME GMBH Musterstrasse 1\r\n"
             "?24Lieferung vom 05.01.2026 Auftrag 123456?25Kundennummer 987654321\r\n"
             "?26Zahlung aus Rechnung und Gutschrift?27Referenz XYZ-0000000001\r\n"
             "?32ACME GMBH\r\n")
    n = megabytes * 10**6 // len(entry)
    total = 25050 * n
    _write(path, ":20:STARTUMSE\r\n:25:10020030/1234567\r\n:28C:00001/001\r\n:60F:C260105EUR0,00\r\n", entry, n,
           f":62F:C260105EUR{total // 100},{total % 100:02d}\r\n-\r\n")
    return n


def _cfonb(text: str) -> str:
    return text.ljust(120) + "\n"


CFONB_ACCOUNT = "30004    00001EUR2 00012345601  050126"


def big_cfonb(path: Path, megabytes: int) -> int:
    """One statement, one 04 with three 05 records per entry; the balances reconcile."""
    op = (_cfonb("0430004011700001EUR2 00012345601  050126  050126VIR SEPA ACME SA" + " " * 17 + "0000000" + "00"
                 + "0000000000250{" + "B6010500001")
          + _cfonb("0530004011700001EUR2 00012345601  050126     LIBFACTURE FA2026-00042 ET AUTRES")
          + _cfonb("0530004011700001EUR2 00012345601  050126     NPYACME SA")
          + _cfonb("0530004011700001EUR2 00012345601  050126     RCNE2E-REF-0000001"))
    n = megabytes * 10**6 // len(op)
    total = f"{2500 * n:014d}"
    _write(path, _cfonb("01" + CFONB_ACCOUNT + " " * 50 + "0000000000000{"), op, n,
           _cfonb("07" + CFONB_ACCOUNT + " " * 50 + total[:13] + "{ABCDEFGHI"[int(total[13])]))
    return n


def big_bai2(path: Path, megabytes: int) -> int:
    """One account, one 16 with two 88 lines per entry; trailers and balances add up."""
    entry = ("16,165,25000,0,B60105001,INV-42,ACH CREDIT ACME CORP PAYMENT FOR INVOICES OF JANUARY/\n"
             "88,INVOICE INV-42 AND INV-43 AND INV-44 REMITTANCE TEXT OF THE ORIGINATOR\n"
             "88,SECOND LINE OF REMITTANCE TEXT FOR THE TRANSACTION ABOVE THIS LINE\n")
    n = megabytes * 10**6 // len(entry)
    total = 25000 * n
    records = 1 + 3 * n + 1
    _write(path, "01,BANKUS33,ACME,260105,2300,F001,,,2/\n02,ACME,BANKUS33,1,260105,2400,USD,2/\n"
           f"03,123456789,USD,010,0,,,015,{total},,/\n", entry, n,
           f"49,{2 * total},{records}/\n98,{2 * total},1,{records + 2}/\n99,{2 * total},1,{records + 4}/\n")
    return n


_STREAM = """
import sys
from edi import bank
n = 0
try:
    for _ in bank.iter_entries(sys.argv[1]):
        n += 1
    outcome = "ok"
except Exception as exc:  # the test reads the outcome
    outcome = f"{type(exc).__name__}: {exc}"
with open("/proc/self/status") as fh:
    peak = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
print(n, peak)
print(outcome)
"""


def _stream_in_fresh_process(path: Path) -> tuple[int, float, str]:
    """Entries streamed, peak RSS in MiB, and "ok" or the error, from a new Python process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", _STREAM, str(path)], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=120, check=True)
    counts, outcome = out.stdout.strip().splitlines()[-2:]
    n, peak_kib = counts.split()
    return int(n), int(peak_kib) / 1024, outcome


@pytest.mark.slow
@pytest.mark.parametrize(("name", "make"), [("mt940.sta", big_mt940), ("cfonb.txt", big_cfonb),
                                            ("bai2.bai2", big_bai2)])
def test_a_big_statement_streams_in_flat_memory(tmp_path: Path, name: str, make: Callable[[Path, int], int]) -> None:
    """50 MB of one statement: every entry comes out, checked, and memory stays far below the file.

    Read whole, such a file took 290 to 350 MiB (the file's bytes, its text, every entry).
    """
    path = tmp_path / name
    expected = make(path, 50)
    assert path.stat().st_size > 49 * 10**6
    n, peak_mib, outcome = _stream_in_fresh_process(path)
    assert outcome == "ok"
    assert n == expected
    assert peak_mib < PEAK_BOUND_MIB, f"peak RSS {peak_mib:.0f} MiB streaming a {path.stat().st_size / MIB:.0f} MiB file"


def _huge_line(path: Path, head: bytes, megabytes: int, end: bytes = b"") -> None:
    with open(path, "wb") as fh:
        fh.write(head)
        block = b"X" * MIB
        for _ in range(megabytes):
            fh.write(block)
        fh.write(end)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "head", "end", "reason"), [
    ("mt940.sta", b":20:STARTUMSE\r\n:25:", b"", "line 2: line of more than 4096 characters"),
    ("bai2.bai2", b"01,BANKUS33,ACME,260105,2300,F001,,,2/\n02,", b"", "line 2, record: line of more than 4096 characters"),
    # records without line breaks are a CFONB layout: they are read one by one until the break
    # at the end shows that the first line has far more than 120 characters
    ("cfonb.txt", _cfonb("01" + CFONB_ACCOUNT + " " * 50 + "0000000000000{")[:120].encode() + b"04", b"\n",
     "line 1, record: record of more than 4096 characters"),
])
def test_one_huge_line_is_refused_without_holding_it(tmp_path: Path, name: str, head: bytes, end: bytes,
                                                     reason: str) -> None:
    """A 100 MB line is refused as InvalidFormat; memory stays flat (it took 200+ MiB read whole)."""
    path = tmp_path / name
    _huge_line(path, head, 100, end)
    n, peak_mib, outcome = _stream_in_fresh_process(path)
    assert peak_mib < PEAK_BOUND_MIB, f"peak RSS {peak_mib:.0f} MiB on a file of one 100 MiB line"
    assert outcome.startswith(f"InvalidFormat: {path}, ") and reason in outcome, outcome
    assert n == 0


# --- size limit ----------------------------------------------------------------------------------
SAMPLES = [
    FIXTURES / "mt940" / "betterplace" / "sepa_mt9401.sta",
    FIXTURES / "bai2" / "moov" / "sample1.bai2",
    FIXTURES / "cfonb120" / "silarhi" / "complex-test.txt",
    FIXTURES / "camt053" / "genkgo" / "camt053.v2.multi.statement.xml",
]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_a_file_over_the_size_limit_is_refused(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    size = path.stat().st_size
    monkeypatch.setenv("O2C_MAX_BANK_FILE_BYTES", str(size - 1))
    for call in (lambda: bank.parse_file(path), lambda: next(bank.iter_entries(path)),
                 lambda: bank.parse(path.read_bytes(), document_id=str(path))):
        with pytest.raises(TooLarge, match=rf"{size} bytes is over the {size - 1}-byte limit .*O2C_MAX_BANK_FILE_BYTES"):
            call()
    monkeypatch.setenv("O2C_MAX_BANK_FILE_BYTES", str(size))  # at the limit: taken
    assert bank.parse_file(path)
    assert next(bank.iter_entries(path))
    assert bank.parse(path.read_bytes())


# --- bounded lines and fields ------------------------------------------------------------------
MT940 = (FIXTURES / "mt940" / "betterplace" / "sepa_mt9401.sta").read_bytes()
BAI2 = (FIXTURES / "bai2" / "moov" / "sample1.bai2").read_bytes()


def test_mt940_line_over_the_bound_is_refused() -> None:
    data = MT940.replace(b":86:", b":86:" + b"X" * 5000, 1)
    line = MT940[: MT940.index(b":86:")].count(b"\n") + 1
    with pytest.raises(InvalidFormat, match=rf"^f.sta, line {line}: line of more than 4096 characters"):
        bank.parse(data, document_id="f.sta")
    assert bank.parse(MT940.replace(b":86:", b":86:" + b"X" * 3000, 1))  # long, but not absurd


def test_mt940_field_over_the_bound_is_refused() -> None:
    """A field with a million continuation lines is refused; it is never held whole."""
    at = MT940.index(b":86:")
    line = MT940[:at].count(b"\n") + 1
    data = MT940[:at] + b":86:" + b"?20more text\n" * 90_000 + MT940[at + 4:]  # 1.17 million characters
    with pytest.raises(InvalidFormat, match=rf"^f.sta, line {line}: field of more than 1048576 characters"):
        bank.parse(data, document_id="f.sta")


def test_bai2_line_and_record_over_the_bound_are_refused() -> None:
    at = BAI2.index(b"\n16,") + 1
    line = BAI2[:at].count(b"\n") + 1
    with pytest.raises(InvalidFormat, match=rf"line {line + 1}, record: line of more than 4096 characters"):
        bai2.parse(BAI2[:at] + BAI2[at:].replace(b"\n", b"\n88," + b"X" * 5000 + b"\n", 1))
    with pytest.raises(InvalidFormat, match=rf"line {line}, record: record with its 88 continuations of more than "
                                            r"1048576 characters"):
        bai2.parse(BAI2[:at] + BAI2[at:].replace(b"\n", b"\n" + b"88,MORE TEXT OF THE RECORD\n" * 50_000, 1))


def test_cfonb_record_over_the_bound_is_refused_with_its_length() -> None:
    data = (FIXTURES / "cfonb120" / "silarhi" / "complex-test.txt").read_bytes()
    with pytest.raises(InvalidFormat, match=r"line 2, record: record of 4000 characters"):
        cfonb120.parse(data.replace(b"\n", b"\n04" + b"x" * 3998 + b"\n", 1))
    with pytest.raises(InvalidFormat, match=r"line 2, record: record of more than 4096 characters"):
        cfonb120.parse(data.replace(b"\n", b"\n04" + b"x" * 9998 + b"\n", 1))


# --- amounts through schemas.money.parse_amount ------------------------------------------------
def test_mt940_amount_over_14_integer_digits_is_refused() -> None:
    data = (b":20:S\n:25:10020030/1234567\n:28C:1/1\n:60F:C260105EUR0,00\n"
            b":61:2601050105CR123456789012345,00NTRFNONREF\n:62F:C260105EUR123456789012345,00\n-")
    with pytest.raises(InvalidFormat, match=r"line 5, :61:: not an amount: '123456789012345,00' "
                                            r"\(amount 123456789012345.00 has more than 14 integer digits\)"):
        mt940.parse(data)
    with pytest.raises(InvalidFormat, match=r"line 4, :60F:: not an amount: '1234567890123456,00'"):
        mt940.parse(data.replace(b"C260105EUR0,00", b"C260105EUR1234567890123456,00"))
    [st] = mt940.parse(data.replace(b"123456789012345,00", b"12345678901234,00"))  # 14 digits: taken
    assert st.entries[0].amount == Decimal("12345678901234.00")


BAI2_USD = """01,BANKUS33,ACME,260105,2300,F001,,,2/
02,ACME,BANKUS33,1,260105,2400,USD,2/
03,123456789,USD,010,100000,,,015,112500,,/
16,165,25000,0,B60105001,INV-42,ACH CREDIT ACME CORP/
88,INVOICE INV-42
16,475,12500,0,B60105002,,CHECK 1001/
49,250000,5/
98,250000,1,7/
99,250000,1,9/"""


def test_bai2_amount_over_14_integer_digits_is_refused() -> None:
    assert bai2.parse(BAI2_USD)[0].entries[0].amount == Decimal("250.00")
    big = "1" * 17  # 15 integer digits once the two decimals of USD are placed
    with pytest.raises(InvalidFormat, match=rf"line 4, 16 amount: not an amount: '{big}' \(amount "
                                            r"111111111111111.11 has more than 14 integer digits\)"):
        bai2.parse(BAI2_USD.replace("16,165,25000,", f"16,165,{big},"))
    with pytest.raises(InvalidFormat, match=r"line 3, 03 amount of type 010: not an amount: '99999999999999999'"):
        bai2.parse(BAI2_USD.replace(",010,100000,", ",010,99999999999999999,"))
    with pytest.raises(InvalidFormat, match=r"line 4, 16 amount: not a whole number: '1_000'"):
        bai2.parse(BAI2_USD.replace("16,165,25000,", "16,165,1_000,"))


def test_cfonb_amounts_go_through_the_amount_parser() -> None:
    assert cfonb120.decode_amount("0000000002412J", 2) == Decimal("-241.21")
    assert str(cfonb120.decode_amount("0000000000000}", 2)) == "0.00"  # -0 is 0, as before
    assert cfonb120.decode_amount("9999999999999I", 0) == Decimal("99999999999999")
    with pytest.raises(ValueError, match="not a plain decimal amount"):
        cfonb120.decode_amount("00000000000²4{", 2)


# --- streaming gives what parsing gives ----------------------------------------------------------
LINE_SAMPLES = sorted(p for fmt in ("mt940", "cfonb120", "bai2") for p in (FIXTURES / fmt).rglob("*")
                      if p.is_file() and not p.name.endswith((".json", ".md")) and not p.name.startswith("LICENSE"))
MODULES = {"mt940": mt940, "cfonb120": cfonb120, "bai2": bai2}


def _outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except RejectedDocument as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("path", LINE_SAMPLES, ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_block_edges_anywhere_give_the_same_result(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Read 1, 7 or 130 bytes at a time, every sample parses (or is refused) as when read at once."""
    module = MODULES[path.relative_to(FIXTURES).parts[0]]
    data = path.read_bytes()

    def parsed() -> object:
        return _outcome(lambda: [to_json(s) for s in module.parse(io.BytesIO(data), document_id="f")])

    def streamed() -> object:
        return _outcome(lambda: [to_json(e) for _, e in module.iter_entries(io.BytesIO(data), document_id="f")])

    whole, stream = parsed(), streamed()
    if isinstance(whole, list):
        assert stream == [e for s in whole for e in s["entries"]]
    else:
        assert isinstance(stream, str)
    for chunk in (1, 7, 130):
        monkeypatch.setattr(lines, "CHUNK", chunk)
        assert parsed() == whole, chunk
        if isinstance(whole, list):
            assert streamed() == stream, chunk


def test_streamed_statement_keeps_no_entries_and_is_checked_at_its_end(tmp_path: Path) -> None:
    """The statement that comes with the entries holds none; its closing balance is checked once
    its entries are out (it comes after them in the file)."""
    path = tmp_path / "s.sta"
    path.write_bytes(MT940)
    pairs = list(bank.iter_entries(path))
    assert len(pairs) == 97 and all(not st.entries for st, _ in pairs)
    assert all(st.closing_balance is not None for st, _ in pairs)
    assert [e for _, e in pairs] == [e for st in bank.parse_file(path) for e in st.entries]
    i = MT940.index(b"EUR", MT940.index(b":62F:"))
    path.write_bytes(MT940[:i] + b"USD" + MT940[i + 3:])
    with pytest.raises(InvalidFormat, match="CLBD balance is in USD, the statement in EUR"):
        for _ in bank.iter_entries(path):
            pass


def test_the_cash_engine_streams_the_line_formats(tmp_path: Path) -> None:
    """matching.io reads MT940, CFONB 120 and BAI2 through edi.bank.iter_entries: the same lines
    as from parse_file, and a statement that does not add up still stops the run."""
    from matching.io import read_lines

    for path in SAMPLES[:3]:
        got, _, _ = read_lines(str(path))
        expected = [e for st in bank.parse_file(path) for e in st.entries]
        assert [(ln.bank_ref, ln.cents) for ln in got] == [(e.bank_ref or "", int(e.amount * 100)) for e in expected]
    bad = tmp_path / "bad.sta"
    bad.write_bytes(MT940.replace(b":62F:D070904EUR1237628,23", b":62F:D070904EUR1237628,24"))
    with pytest.raises(InvalidChecksum, match="difference"):
        read_lines(str(bad))


def test_mt940_error_lines_count_the_message_trailers() -> None:
    """A statement's line is that of its :20:, after "-" trailers too (the whole-text reader
    counted lines in the text before the trailers were blanked, and was off after each)."""
    good = b":20:A\n:25:10020030/1234567\n:28C:1/1\n:60F:C260105EUR0,00\n:62F:C260105EUR0,00\n-\n"
    bad = b":20:B\n:25:10020030/1234567\n:28C:2/1\n:60F:C260105EUR0,00\n-\n"
    with pytest.raises(InvalidFormat, match=r"^f.sta, line 7, :62F:: statement without a closing balance"):
        mt940.parse(good + bad, document_id="f.sta")
    with pytest.raises(InvalidFormat, match=r"^f.sta, line 13, :62F:: statement without a closing balance"):
        mt940.parse(good + good + bad, document_id="f.sta")
