"""Bank statement files, whatever the format: sniff, parse, check.

Formats: ISO 20022 camt.052/053/054 (:mod:`edi.camt`), SWIFT MT940/MT942 (:mod:`edi.mt940`),
French CFONB 120 (:mod:`edi.cfonb120`) and BAI2 (:mod:`edi.bai2`). Each module offers
``parse(data) -> list[BankStatement]`` and ``validate(data) -> None``; this one picks the module
from the first bytes of the file and checks what every statement must satisfy:

- the balances reconcile: opening + booked entries = closing (when both balances are given);
- every entry and balance is in the statement's currency, a three-letter code.

A file that fails one check is rejected whole, with a :class:`~schemas.errors.RejectedDocument`
subclass whose message names the file, the statement, the line or field, and why. A file over
the ``bank_file`` size limit (:mod:`edi.limits`, ``O2C_MAX_BANK_FILE_BYTES``) is refused with
:class:`~schemas.errors.TooLarge` before it is read. Every format is read from disk a block at a
time: :func:`iter_entries` keeps memory flat whatever the size of the file.

>>> sniff(b"01,CITIDIRECT,8888888,170608,0105,1,,,2/")
'bai2'
>>> sniff(b":20:STARTUMSE\\r\\n:25:10020030/1234567\\r\\n")
'mt940'
>>> sniff(b"0130004    00001EUR2 00012345601  050126".ljust(120) + b"\\n")
'cfonb120'
>>> sniff(b"<?xml version='1.0'?><Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.054.001.08'>")
'camt.054'
>>> sniff(b"%PDF-1.7")
Traceback (most recent call last):
...
schemas.errors.InvalidFormat: not a bank statement file this hub reads (camt.052/053/054, MT940/MT942, CFONB 120, BAI2)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from types import ModuleType
from typing import BinaryIO

from edi.limits import check_size
from schemas.errors import InvalidChecksum, InvalidFormat, RejectedDocument
from schemas.statement import BankEntry, BankStatement

__all__ = ["sniff", "module_for", "parse_file", "parse", "iter_entries", "iter_batches", "check_statement", "FORMATS"]

#: format name (as :func:`sniff` returns it) -> module name
FORMATS = {
    "camt.052": "edi.camt",
    "camt.053": "edi.camt",
    "camt.054": "edi.camt",
    "mt940": "edi.mt940",
    "mt942": "edi.mt940",
    "cfonb120": "edi.cfonb120",
    "bai2": "edi.bai2",
}
_CAMT_NS = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:(camt\.05[234])\.")
_MT_TAG = re.compile(rb"(?m)^:(20|25|28C?|60[FM]|61|86|62[FM]):")
_CFONB_CODES = (b"01", b"04", b"05", b"07")
_HEAD = 65536  # bytes given to sniff(): an XML prolog with comments can push the root element far


def sniff(data_head: bytes) -> str:
    """The format of a bank file from its first bytes (4 KB are plenty)."""
    head = data_head.lstrip(b"\xef\xbb\xbf \t\r\n\x00")
    if head.startswith(b"<"):
        m = _CAMT_NS.search(head)
        if m:
            return m.group(1).decode()
        raise InvalidFormat("XML but not an ISO 20022 camt.052/053/054 document")
    if head.startswith(b"01,"):
        return "bai2"
    if head.startswith(b"{1:") or head.startswith(b":20:") or len(_MT_TAG.findall(head[:4096])) >= 2:
        if re.search(rb"\{2:[IO]942|^:34F:", head, re.M):
            return "mt942"
        return "mt940"
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    # CFONB 120: 120-character records (trailing blanks are often trimmed), maybe without breaks
    if head[:2] in _CFONB_CODES and first[2:7].strip().isdigit() and (
        80 <= len(first) <= 120 or (len(first) > 120 and first[120:122] in _CFONB_CODES)
    ):
        return "cfonb120"
    raise InvalidFormat(
        "not a bank statement file this hub reads (camt.052/053/054, MT940/MT942, CFONB 120, BAI2)"
    )


def module_for(fmt: str) -> ModuleType:
    """The parser module of a format name returned by :func:`sniff`."""
    import importlib

    return importlib.import_module(FORMATS[fmt])


def _name(stmt: BankStatement) -> str:
    account = stmt.account_iban or stmt.account_number or "?"
    ident = stmt.statement_id or stmt.sequence_number
    return f"statement {ident} of account {account}" if ident else f"statement of account {account}"


def check_statement(stmt: BankStatement, *, document_id: str = "") -> None:
    """Raise unless the statement's balances reconcile and its currencies agree.

    >>> import datetime as dt
    >>> from schemas.statement import Balance, BankEntry
    >>> d = dt.date(2026, 1, 5)
    >>> st = BankStatement(format="camt.053.001.08", account_iban="FR76...", currency="EUR", statement_id="S1",
    ...     opening_balance=Balance(amount=Decimal("100"), date=d, type_code="OPBD"),
    ...     closing_balance=Balance(amount=Decimal("90"), date=d, type_code="CLBD"),
    ...     entries=[BankEntry(amount=Decimal("-9.99"), currency="EUR")])
    >>> check_statement(st, document_id="s.xml")
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidChecksum: s.xml, statement S1 of account FR76...: opening 100 + entries -9.99 = 90.01, but the closing balance is 90 (difference 0.01)
    """
    where = _where(stmt, document_id)
    _check_header(stmt, where)
    for i, e in enumerate(stmt.entries):
        _check_entry(stmt, e, i, where)
    _check_total(stmt, sum((e.amount for e in stmt.entries if e.status == "BOOK"), Decimal(0)), where)


def _where(stmt: BankStatement, document_id: str) -> str:
    return f"{document_id}, {_name(stmt)}" if document_id else _name(stmt)


def _check_header(stmt: BankStatement, where: str) -> None:
    ccy = stmt.currency
    if not (isinstance(ccy, str) and len(ccy) == 3 and ccy.isalpha() and ccy.isupper()):
        raise InvalidFormat(f"no valid statement currency ({ccy!r})", document_id=where, field="currency")
    for bal in (stmt.opening_balance, stmt.closing_balance, *stmt.other_balances):
        if bal is not None and bal.currency and bal.currency != ccy:
            raise InvalidFormat(
                f"{bal.type_code} balance is in {bal.currency}, the statement in {ccy}",
                document_id=where, field="balance currency")


def _check_entry(stmt: BankStatement, e: BankEntry, i: int, where: str) -> None:
    if e.currency != stmt.currency:
        ref = e.bank_ref or e.entry_ref or f"#{i + 1}"
        raise InvalidFormat(f"entry {ref} is in {e.currency}, the statement in {stmt.currency}",
                            document_id=where, field="entry currency")


def _check_total(stmt: BankStatement, total: Decimal, where: str) -> None:
    """opening + booked entries (``total``) must equal closing, when both balances are given."""
    if stmt.opening_balance is None or stmt.closing_balance is None:
        return
    opening, closing = stmt.opening_balance.amount, stmt.closing_balance.amount
    diff = opening + total - closing
    if diff:
        raise InvalidChecksum(
            f"opening {opening} + entries {total} = {opening + total}, but the closing balance is "
            f"{closing} (difference {diff})", document_id=where)


def iter_entries(path: str | os.PathLike[str], *, check: bool = True) -> Iterator[tuple[BankStatement, BankEntry]]:
    """Stream ``(statement, entry)`` pairs from a bank file of any supported format.

    Every format is streamed in constant memory: camt by :func:`edi.camt.iter_entries`, MT940,
    CFONB 120 and BAI2 a block of lines at a time (:mod:`edi.lines`); the statement object that
    comes with the entries keeps its ``entries`` list empty. With ``check`` (the default) each
    statement is checked as it streams: its currencies when it starts, and its currencies again
    and its balance after its last entry went out (the line formats give the closing balance
    after the entries). A failure raises after the entries before it were yielded, so a consumer
    must treat the file as rejected whole when iteration raises (the same verdict as
    :func:`parse_file`). A statement without any entry is not seen here (:func:`iter_batches`
    gives every statement). A file over the size limit raises :class:`~schemas.errors.TooLarge`
    before any pair.
    """
    path = os.fspath(path)
    with _opened(path) as (fh, module):
        if module.__name__ == "edi.camt":
            pairs = module.iter_entries(path, document_id=path)
        else:
            pairs = module.iter_entries(fh, document_id=path)
        yield from _checked(pairs, path, check)


def _checked(pairs: Iterator[tuple[BankStatement, BankEntry]], path: str,
             check: bool) -> Iterator[tuple[BankStatement, BankEntry]]:
    current: BankStatement | None = None
    total = Decimal(0)
    where = ""
    i = 0
    for stmt, entry in pairs:
        if stmt is not current:
            if check and current is not None:
                _check_header(current, where)  # the closing balance may have come after the entries
                _check_total(current, total, where)
            current, total, i = stmt, Decimal(0), 0
            where = _where(stmt, path)
            if check:
                _check_header(stmt, where)
        if check:
            _check_entry(stmt, entry, i, where)
            if entry.status == "BOOK":
                total += entry.amount
        i += 1
        yield stmt, entry
    if check and current is not None:
        _check_header(current, where)
        _check_total(current, total, where)


#: What :func:`iter_batches` yields: a statement, entries of it, whether the statement is now whole.
Batch = tuple[BankStatement, list[BankEntry], bool]


def iter_batches(path: str | os.PathLike[str], *, max_bytes: int | None = None) -> Iterator[Batch]:
    """Every statement of a bank file, its entries in batches, in memory that stays flat; checked.

    What the ingest stores a statement from (:mod:`o2c.jobs.bank`): where :func:`iter_entries`
    gives ``(statement, entry)`` pairs and never shows a statement without entries, this gives
    ``(statement, entries, complete)``: the statement object is one for all of its batches (its
    ``entries`` left empty), its last batch has ``complete`` True and comes once the statement is
    whole (the line formats give the closing balance after the entries), so a statement without
    any entry comes as one empty, complete batch.

    The verdict on the file is :func:`parse_file`'s, word for word: parse_file reads the whole
    file before checking any statement, so a format error anywhere wins, then the first
    statement that fails :func:`check_statement` (its checks in that function's order). A
    failed check is therefore raised at the end of the file; no batch is given from the failing
    statement on (the file is rejected whole). ``max_bytes``: the size limit, default the
    ``bank_file`` limit (:func:`edi.limits.max_bytes`); over it :class:`~schemas.errors.TooLarge`
    is raised before any batch.
    """
    path = os.fspath(path)
    with _opened(path, limit=max_bytes) as (fh, module):
        batches: Iterator[Batch]
        if module.__name__ == "edi.camt":
            batches = _camt_batches(module._stream(path, path))
        else:
            batches = module._batches(fh, path, stream=True)
        yield from _verdict(batches, path)


def _camt_batches(items: Iterator[tuple[BankStatement, list[BankEntry] | None]]) -> Iterator[Batch]:
    """:func:`edi.camt._stream` (an ``Ntry``'s entries, then ``None`` at the statement's end) as batches."""
    for header, entries in items:
        yield (header, [], True) if entries is None else (header, entries, False)


def _verdict(batches: Iterator[Batch], path: str) -> Iterator[Batch]:
    failed: RejectedDocument | None = None  # the first statement that failed check_statement
    current: BankStatement | None = None
    bad_entry: tuple[BankEntry, int] | None = None  # the statement's first entry in another currency
    total = Decimal(0)
    i = 0
    for stmt, entries, complete in batches:
        if stmt is not current:
            current, bad_entry, total, i = stmt, None, Decimal(0), 0
        if failed is None:
            for e in entries:
                # every parser sets the statement's currency before its first entry and keeps it
                if bad_entry is None and e.currency != stmt.currency:
                    bad_entry = (e, i)
                if e.status == "BOOK":
                    total += e.amount
                i += 1
        if complete:
            if failed is None:
                where = _where(stmt, path)  # the statement whole, as check_statement sees it
                try:
                    _check_header(stmt, where)
                    if bad_entry is not None:
                        _check_entry(stmt, bad_entry[0], bad_entry[1], where)
                    _check_total(stmt, total, where)
                except RejectedDocument as exc:
                    failed = exc
            current = None
        if failed is None and bad_entry is None:  # after a failure, only the format is still read
            yield stmt, entries, complete
    if failed is not None:
        raise failed


def parse(data: bytes, *, document_id: str = "<bytes>") -> list[BankStatement]:
    """Sniff, parse and check bank file content held in memory (refused over the size limit)."""
    check_size("bank_file", len(data), document_id=document_id)
    fmt = _sniff_named(data[:_HEAD], document_id)
    statements = module_for(fmt).parse(data, document_id=document_id)
    for stmt in statements:
        check_statement(stmt, document_id=document_id)
    return statements


def parse_file(path: str | os.PathLike[str]) -> list[BankStatement]:
    """Every statement of a bank file, checked; the whole file is rejected on the first failure.

    Every format is read from disk a block at a time, but the statements returned hold all of
    their entries: for a big file, :func:`iter_entries` keeps memory flat. A file over the size
    limit is refused (:class:`~schemas.errors.TooLarge`) before it is read.
    """
    path = os.fspath(path)
    with _opened(path) as (fh, module):
        if module.__name__ == "edi.camt":
            statements = module.parse(path, document_id=path)
        else:
            statements = module.parse(fh, document_id=path)
    for stmt in statements:
        check_statement(stmt, document_id=path)
    return statements


@contextmanager
def _opened(path: str, *, limit: int | None = None) -> Iterator[tuple[BinaryIO, ModuleType]]:
    """The bank file open at its start and the module of its format, once its size is within the
    limit (``limit``: a bank's own ``max_file_bytes``, else the ``bank_file`` limit)."""
    with open(path, "rb") as fh:
        check_size("bank_file", os.fstat(fh.fileno()).st_size, document_id=path, limit=limit,
                   setting="the bank's max_file_bytes")
        module = module_for(_sniff_named(fh.read(_HEAD), path))
        fh.seek(0)
        yield fh, module


def _sniff_named(head: bytes, document_id: str) -> str:
    try:
        return sniff(head)
    except InvalidFormat as exc:
        raise InvalidFormat(exc.reason, document_id=document_id) from None
