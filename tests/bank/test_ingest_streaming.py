"""The bank ingest stores statements as they stream: the same statements, identities and verdicts
as when each file was parsed whole (``edi.bank.parse_file``) before anything was stored.

- :func:`edi.bank.iter_batches` gives every statement (those without entries too) and the
  verdict of ``parse_file`` word for word, whatever the block edges;
- :class:`o2c.store.bank.EntryDigest` gives the identity and content hash that
  :func:`o2c.store.bank.statement_identity` gives on the statement held whole, for every sample;
- the ingest stores what ``parse_file`` gives (rows, entries, identity), statements without
  entries included; a duplicate found at a statement's end leaves nothing of it; a file rejected
  after entries were written leaves nothing either.

Memory and the big files: ``tests/bank/test_ingest_memory.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from edi import bank, lines
from o2c.jobs.bank import ingest_file, pickup
from o2c.store import Store
from o2c.store import bank as ledger
from o2c.store.bank import BankEntryRow, BankStatementRow
from o2c.store.models import Base
from schemas.errors import RejectedDocument
from schemas.jsonio import to_json
from schemas.statement import BankStatement
from tests.bank.helpers import FIXTURES
from transport.sftp import StagedFile

ACCOUNT = "DE89370400440532013000"
SAMPLES = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and not p.name.endswith((".json", ".md"))
                 and not p.name.startswith("LICENSE"))


def staged(path: Path) -> StagedFile:
    data = path.read_bytes()
    return StagedFile(local_path=str(path), remote_path=f"local:{path.name}", name=path.name, size=len(data),
                      mtime=0, sha256=hashlib.sha256(data).hexdigest())


def verdict(call) -> str | None:  # type: ignore[no-untyped-def]
    try:
        call()
    except RejectedDocument as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def streamed(path: Path) -> list[tuple[BankStatement, list]]:
    """Every statement of ``path`` through iter_batches: the statement and its entries."""
    out: list[tuple[BankStatement, list]] = []
    current = None
    for stmt, entries, complete in bank.iter_batches(path):
        if stmt is not current:
            current = stmt
            out.append((stmt, []))
        out[-1][1].extend(entries)
        if complete:
            current = None
    return out


def mt940_statement(ref: str, amounts: list[int], *, seq: int = 1, opening: int = 100, off: int = 0) -> bytes:
    """One MT940 statement of ACCOUNT with one credit per amount; ``off``: closing balance off by that much."""
    lines_ = [f":20:{ref}", f":25:{ACCOUNT}", f":28C:{seq:05d}/001", f":60F:C260105EUR{opening},00"]
    for i, amount in enumerate(amounts):
        lines_ += [f":61:2601050105CR{amount},00NTRFNONREF//B{seq:04d}{i:06d}", f":86:Payment {ref} {i}"]
    lines_ += [f":62F:C260105EUR{opening + sum(amounts) + off},00", "-"]
    return ("\r\n".join(lines_) + "\r\n").encode()


def cfonb(text: str) -> bytes:
    return (text.ljust(120) + "\n").encode()


CFONB_ACCOUNT = "30004    00001EUR2 00012345601  050126"
CFONB_EMPTY = (cfonb("01" + CFONB_ACCOUNT + " " * 50 + "0000000001000{")
               + cfonb("07" + CFONB_ACCOUNT + " " * 50 + "0000000001000{"))
CFONB_ONE = (cfonb("01" + CFONB_ACCOUNT + " " * 50 + "0000000001000{")
             + cfonb("0430004011700001EUR2 00012345601  050126  050126VIR SEPA ACME SA" + " " * 17 + "0000000" + "00"
                     + "0000000000250{" + "B6010500001")
             + cfonb("07" + CFONB_ACCOUNT + " " * 50 + "0000000001250{"))
BAI2 = ("01,BANKUS33,ACME,260105,2300,F001,,,2/\n02,ACME,BANKUS33,1,260105,2400,USD,2/\n"
        "03,111111111,USD,010,100000,,,015,100000,,/\n49,200000,2/\n"
        "03,222222222,USD,010,100000,,,015,125000,,/\n16,165,25000,0,B60105001,INV-42,ACH CREDIT/\n49,250000,3/\n"
        "03,333333333,USD,010,100000,,,015,100000,,/\n49,200000,2/\n"
        "98,650000,3,9/\n99,650000,1,11/\n")


def camt053(*statements: tuple[str, list[str]]) -> bytes:
    """camt.053 statements ``(id, [credit amounts])`` of one account, opening balance 100."""
    body = ""
    for stmt_id, amounts in statements:
        closing = Decimal("100") + sum((Decimal(a) for a in amounts), Decimal(0))
        ntry = "".join(f"<Ntry><Amt Ccy='EUR'>{a}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
                       f"<BookgDt><Dt>2026-01-05</Dt></BookgDt><AcctSvcrRef>{stmt_id}-{i}</AcctSvcrRef></Ntry>"
                       for i, a in enumerate(amounts))
        body += (f"<Stmt><Id>{stmt_id}</Id><CreDtTm>2026-01-05T20:30:00</CreDtTm>"
                 "<Acct><Id><IBAN>FR7630004000031234567890143</IBAN></Id><Ccy>EUR</Ccy></Acct>"
                 "<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy='EUR'>100.00</Amt>"
                 "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-05</Dt></Dt></Bal>"
                 f"<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy='EUR'>{closing:.2f}</Amt>"
                 f"<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-05</Dt></Dt></Bal>{ntry}</Stmt>")
    return ("<?xml version='1.0' encoding='UTF-8'?>"
            "<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08'><BkToCstmrStmt>"
            "<GrpHdr><MsgId>M-1</MsgId><CreDtTm>2026-01-05T20:30:00</CreDtTm></GrpHdr>"
            f"{body}</BkToCstmrStmt></Document>").encode()


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('db') / 'hub.sqlite'}")
    store.upgrade()
    return store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    st = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    st.upgrade()
    return st


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Block edges and entry batches everywhere: a statement's entries written in many pieces."""
    monkeypatch.setattr(lines, "CHUNK", 7)
    monkeypatch.setattr(ledger, "ENTRY_BATCH", 2)


# -- the reading ------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [lines.CHUNK, 7])
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_streamed_identity_and_verdict_are_those_of_the_whole_file(monkeypatch: pytest.MonkeyPatch, path: Path,
                                                                   chunk: int) -> None:
    """Every sample: the same statements, entries, identity and content hash as parse_file and
    statement_identity give on the statements held whole, or the same rejection, word for word."""
    monkeypatch.setattr(lines, "CHUNK", chunk)
    expected = verdict(lambda: bank.parse_file(path))
    assert verdict(lambda: streamed(path)) == expected
    if expected is not None:
        return
    whole = bank.parse_file(path)
    got = streamed(path)
    assert len(got) == len(whole)
    for (stmt, entries), full in zip(got, whole, strict=True):
        assert to_json(dataclasses.replace(stmt, entries=entries)) == to_json(full)
        digest = ledger.EntryDigest()
        for e in entries:
            digest.add(to_json(e))
        assert digest.identity(stmt) == ledger.statement_identity(full)


def test_statements_without_entries_come_as_one_empty_batch(tmp_path: Path) -> None:
    """edi.bank.iter_entries never shows them; the ingest must store them as before."""
    files = {"e.sta": mt940_statement("E1", []) + mt940_statement("F1", [5], seq=2) + mt940_statement("G1", [], seq=3),
             "e.txt": CFONB_EMPTY + CFONB_ONE + CFONB_EMPTY, "e.bai2": BAI2.encode(),
             "e.xml": camt053(("S-E", []), ("S-F", ["5.00"]), ("S-G", []))}
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert [(s.entries == [], len(e)) for s, e in streamed(path)] == [(True, 0), (True, 1), (True, 0)], name
        assert [len(s.entries) for s in bank.parse_file(path)] == [0, 1, 0], name
        assert len(list(bank.iter_entries(path))) == 1


def test_the_verdict_of_a_file_with_several_faults_is_that_of_parse_file(tmp_path: Path) -> None:
    """parse_file reads the whole file before checking: a format error further on wins over a
    statement that does not add up, and check_statement looks at a statement's balances before
    its entries. Streamed, the ingest gives the same reason (iter_entries, checking as it goes,
    would not)."""
    path = tmp_path / "f.sta"
    path.write_bytes(mt940_statement("A1", [5, 6], off=1) + mt940_statement("B1", [7], seq=2)
                     + mt940_statement("C1", [8], seq=3).replace(b":60F:", b":60X:"))
    expected = verdict(lambda: bank.parse_file(path))
    assert expected is not None and "line 23, :61:: :61: before the opening balance" in expected  # the third's format
    checked_as_it_goes = verdict(lambda: list(bank.iter_entries(path)))
    assert checked_as_it_goes is not None and "(difference -1.00)" in checked_as_it_goes  # the first one's sums
    assert verdict(lambda: streamed(path)) == expected

    wrong = camt053(("S-1", ["5.00"])).replace(b"<Amt Ccy='EUR'>5.00", b"<Amt Ccy='USD'>5.00")
    wrong = wrong.replace(b"<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy='EUR'>", b"<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy='GBP'>")
    path = tmp_path / "f.xml"
    path.write_bytes(wrong)
    expected = verdict(lambda: bank.parse_file(path))
    assert expected is not None and "CLBD balance is in GBP" in expected
    assert verdict(lambda: streamed(path)) == expected


def test_the_size_limit_is_the_one_given(tmp_path: Path) -> None:
    path = tmp_path / "s.sta"
    path.write_bytes(mt940_statement("A1", [5]))
    size = path.stat().st_size
    assert verdict(lambda: streamed(path)) is None
    with pytest.raises(RejectedDocument, match=rf"{size} bytes is over the {size - 1}-byte limit"):
        next(bank.iter_batches(path, max_bytes=size - 1))


# -- the storing ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_the_ingest_stores_what_parse_file_gives(shared_store: Store, path: Path) -> None:
    """Rows, identity, content hash and entries of each stored statement are those of the
    statement held whole; a sample refused is quarantined with parse_file's reason."""
    expected = verdict(lambda: bank.parse_file(path))
    out = ingest_file(shared_store, "bnp", staged(path), run_id=None)
    if expected is not None:
        assert out.outcome == "quarantined" and out.stored == 0
        assert out.reason == expected.split(": ", 1)[1].replace(str(path), path.name)
        return
    whole = bank.parse_file(path)
    assert out.statements == len(whole) and out.format == whole[0].format
    assert out.stored + out.duplicate_statements == len(whole)
    with shared_store.session() as s:
        rows = s.scalars(select(BankStatementRow).where(BankStatementRow.file_id == out.file_id)
                         .order_by(BankStatementRow.id)).all()
        assert len(rows) == out.stored
        by_identity = {(r.account, r.statement_ref, r.created_ref, r.content_ref): r for r in rows}
        for stmt in whole:
            ident = ledger.statement_identity(stmt)
            row = by_identity.pop((ident.account, ident.statement_ref, ident.created_ref, ident.content_ref), None)
            if row is None:  # stored before, from another sample or earlier in this file
                assert ledger.find_statement(s, ident) is not None
                continue
            assert (row.content_hash, row.entry_count, row.format, row.currency) == (
                ident.content_hash, len(stmt.entries), stmt.format, stmt.currency)
            assert (row.opening_balance, row.closing_balance) == (
                stmt.opening_balance.amount if stmt.opening_balance else None,
                stmt.closing_balance.amount if stmt.closing_balance else None)
            entries = s.scalars(select(BankEntryRow).where(BankEntryRow.statement_id == row.id)
                                .order_by(BankEntryRow.position)).all()
            assert [e.position for e in entries] == list(range(len(stmt.entries)))
            assert [e.document for e in entries] == [to_json(e) for e in stmt.entries]
            assert [e.amount for e in entries] == [e.amount for e in stmt.entries]
        assert by_identity == {}
        assert out.entries == sum(r.entry_count for r in rows)


def test_statements_without_entries_are_stored(store: Store, tmp_path: Path) -> None:
    for name, data in {"e.sta": mt940_statement("E1", []) + mt940_statement("F1", [5], seq=2)
                       + mt940_statement("G1", [], seq=3),
                       "e.txt": CFONB_EMPTY + CFONB_ONE, "e.bai2": BAI2.encode(),
                       "e.xml": camt053(("S-E", []), ("S-F", ["5.00"]))}.items():
        path = tmp_path / name
        path.write_bytes(data)
        out = ingest_file(store, "bnp", staged(path), run_id=None)
        n = len(bank.parse_file(path))
        assert (out.outcome, out.statements, out.stored, out.entries) == ("ingested", n, n, 1), name
        rows = [r for r in ledger.bank_statements(store) if r.file_id == out.file_id]
        assert sorted(r.entry_count for r in rows) == [0] * (n - 1) + [1], name


def test_a_duplicate_found_at_the_statements_end_leaves_nothing_of_it(store: Store, tmp_path: Path,
                                                                       small_batches: None) -> None:
    """An MT940 statement has no creation time: its identity needs its content hash, known at its
    end, after its entries were written (two at a time here): they are rolled back."""
    first, second = tmp_path / "a.sta", tmp_path / "b.sta"
    first.write_bytes(mt940_statement("A1", [1, 2, 3, 4, 5]))
    second.write_bytes(mt940_statement("A1", [1, 2, 3, 4, 5]) + mt940_statement("B1", [7, 8, 9], seq=2)
                       + mt940_statement("A1", [1, 2, 3, 4, 5]))  # the same statement twice in one file too
    a = ingest_file(store, "bnp", staged(first), run_id=None)
    b = ingest_file(store, "bnp", staged(second), run_id=None)
    assert (a.outcome, a.stored, a.entries) == ("ingested", 1, 5)
    assert (b.outcome, b.statements, b.stored, b.duplicate_statements, b.conflicts, b.entries) == (
        "ingested", 3, 1, 2, 0, 3)
    assert ledger.counts(store) == {"files": 2, "statements": 2, "entries": 8, "gaps": 0}
    with store.session() as s:
        per_statement = dict(s.execute(select(BankEntryRow.statement_id, func.count())
                                       .group_by(BankEntryRow.statement_id)).all())
        rows = s.scalars(select(BankStatementRow).order_by(BankStatementRow.id)).all()
    assert [(r.message_id, r.entry_count, per_statement[r.id]) for r in rows] == [("A1", 5, 5), ("B1", 3, 3)]
    assert all(not r.content_ref.startswith("pending:") for r in rows)


def test_a_conflicting_duplicate_keeps_the_stored_statement(store: Store, tmp_path: Path, small_batches: None) -> None:
    """camt: id and creation time make the identity; the same statement with other entries is a
    conflict, counted, and the stored one is kept whole."""
    first, second = tmp_path / "a.xml", tmp_path / "b.xml"
    first.write_bytes(camt053(("S-1", ["1.00", "2.00", "3.00"])))
    second.write_bytes(camt053(("S-1", ["1.00", "2.00", "3.50"]), ("S-2", ["4.00"])))
    ingest_file(store, "bnp", staged(first), run_id=None)
    b = ingest_file(store, "bnp", staged(second), run_id=None)
    assert (b.outcome, b.stored, b.duplicate_statements, b.conflicts, b.entries) == ("ingested", 1, 1, 1, 1)
    [s1, s2] = ledger.bank_statements(store)
    assert [e.amount for e in ledger.statement_entries(store, s1.id)] == [Decimal("1.00"), Decimal("2.00"),
                                                                           Decimal("3.00")]
    assert (s1.entry_count, s2.entry_count, ledger.counts(store)["entries"]) == (3, 1, 4)


def test_a_file_refused_after_entries_were_written_leaves_nothing(store: Store, tmp_path: Path,
                                                                  small_batches: None) -> None:
    """The last statement does not add up: the entries written before are rolled back with the
    whole file, which is quarantined with parse_file's reason."""
    path = tmp_path / "bad.sta"
    path.write_bytes(mt940_statement("A1", list(range(1, 40))) + mt940_statement("B1", [5, 6], seq=2, off=1))
    expected = verdict(lambda: bank.parse_file(path))
    assert expected is not None and "difference" in expected
    out = ingest_file(store, "bnp", staged(path), run_id=None)
    assert (out.outcome, out.stored, out.entries, out.statements) == ("quarantined", 0, 0, 0)
    assert out.reason == expected.split(": ", 1)[1].replace(str(path), path.name)
    assert ledger.counts(store) == {"files": 1, "statements": 0, "entries": 0, "gaps": 0}
    assert [f.status for f in ledger.bank_files(store)] == ["quarantined"]


@pytest.mark.postgres
def test_a_database_refusal_yields_to_the_parsers_verdict(postgres_url: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL refuses a NUL byte in a text column, here in the first statement's entries,
    written before the parser reaches the second statement. As when the whole file was parsed
    before anything was stored: a file the parser refuses is quarantined with the parser's
    reason; otherwise with the database's, its format and statement count kept."""
    monkeypatch.setattr(ledger, "ENTRY_BATCH", 2)
    store = Store(postgres_url)
    store.upgrade()
    with store.session() as s:  # the session database is shared: start from empty tables
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())
    nul = mt940_statement("A1", [1, 2, 3, 4, 5]).replace(b":86:Payment A1 3", b":86:Pay\x00ment A1 3")
    bad, refused = tmp_path / "bad.sta", tmp_path / "refused.sta"
    bad.write_bytes(nul + mt940_statement("B1", [5], seq=2, off=1))
    refused.write_bytes(nul + mt940_statement("B1", [5], seq=2))
    expected = verdict(lambda: bank.parse_file(bad))
    assert expected is not None and "difference" in expected and verdict(lambda: bank.parse_file(refused)) is None

    out = ingest_file(store, "bnp", staged(bad), run_id=None)
    assert (out.outcome, out.reason) == ("quarantined", expected.split(": ", 1)[1].replace(str(bad), bad.name))
    out = ingest_file(store, "bnp", staged(refused), run_id=None)
    assert out.outcome == "quarantined" and out.reason is not None
    assert out.reason.startswith("refused.sta: the database refused the file (DataError: "), out.reason
    assert (out.format, out.statements, out.stored, out.entries) == ("mt940", 2, 0, 0)
    assert ledger.counts(store) == {"files": 2, "statements": 0, "entries": 0, "gaps": 0}
    assert [f.status for f in ledger.bank_files(store)] == ["quarantined", "quarantined"]


@pytest.mark.sftp
def test_a_banks_own_size_limit_holds_when_the_file_is_read_too(store: Store, site, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A bank whose ``max_file_bytes`` is above the default limit: its file was downloaded, then
    refused as too large by the parser (which applied the default); the bank's limit holds at
    both steps now."""
    data = mt940_statement("A1", [5, 6])
    monkeypatch.setenv("O2C_MAX_BANK_FILE_BYTES", str(len(data) - 1))  # the default, below this file
    site.configured(max_file_bytes=len(data))  # this bank's own limit: the file fits
    site.upload("a.sta", data)
    summary = pickup(store, site.config, site.settings, staging_root=site.staging, run_key="run-1")
    assert [(f.name, f.outcome, f.stored, f.reason) for f in summary.files] == [("a.sta", "ingested", 1, None)]
    site.configured(max_file_bytes=len(data) - 1)  # and below it: refused at the download, left on the server
    site.upload("b.sta", mt940_statement("B1", [5, 7]))
    summary = pickup(store, site.config, site.settings, staging_root=site.staging, run_key="run-2")
    assert summary.files == [] and [r["name"] for r in summary.refused] == ["b.sta"]


def test_a_bank_limit_at_parse_names_the_banks_setting(tmp_path):
    """Over the bank's own max_file_bytes, the rejection says which setting to change (not the
    environment variable that was not the limit)."""
    from schemas.errors import TooLarge

    path = tmp_path / "big.sta"
    path.write_bytes(b":20:STARTUMSE\r\n" + b"x" * 500)
    with pytest.raises(TooLarge, match=r"over the 100-byte limit for bank files \(the bank's max_file_bytes\)"):
        list(bank.iter_batches(path, max_bytes=100))
