"""CFONB 120: the French bank-statement file ("relevé de compte", 120-character records).

Standard: Comité Français d'Organisation et de Normalisation Bancaires, *Relevé de compte
sur support informatique* (brochure CFONB "Remise et relevé de compte - format 120 caractères",
version 2004 and its SEPA additions of 2008-2014). Spec:
https://www.cfonb.org/fichiers/20131203101133_Brochure_releve_de_compte_version_2_2_oct_2013.pdf

Records (positions are 1-based, as in the brochure):

- ``01`` old balance: bank 3-7, branch 12-16, currency 17-19, decimals 20, account 22-32,
  date 35-40 (DDMMYY), amount 91-104;
- ``04`` operation: interbank operation code 8-11, booking date 35-40, rejection code 41-42,
  value date 43-48, label 49-79, entry number 82-88, amount 91-104, reference 105-120;
- ``05`` complement of the ``04`` before it: qualifier 46-48 (``LIB`` label, ``NPY`` payer name,
  ``NBE`` beneficiary name, ``NPO``/``NBU`` ultimate parties, ``RCN`` end-to-end reference,
  ``REF`` operation reference, ``RUM`` mandate, ``MMO`` original amount...), text 49-118;
- ``07`` new balance, laid out like ``01``.

Amounts are 14 characters whose last one carries the sign and the last digit: "le dernier
caractère ... ``{`` = +0, ``A`` = +1 ... ``I`` = +9, ``}`` = -0, ``J`` = -1 ... ``R`` = -9"; the
number of decimals is in position 20. A file without any ``01``/``07`` record is read as a
single-operation extract (one ``04`` and its ``05``), as pennylane-hq/cfonb's
``parse_operation`` does; it has no balances.

>>> rec = lambda s: s.ljust(120)
>>> data = "\\n".join([
...     rec("0130004    00001EUR2 00012345601  050126" + " " * 50 + "0000000001000{"),
...     rec("0430004011700001EUR2 00012345601  050126  050126VIR SEPA ACME SA" + " " * 17
...         + "0000000" + "00" + "0000000000250{" + "B6010500001"),
...     rec("0530004011700001EUR2 00012345601  050126     LIBFACTURE FA2026-00042"),
...     rec("0530004011700001EUR2 00012345601  050126     NPYACME SA"),
...     rec("0730004    00001EUR2 00012345601  050126" + " " * 50 + "0000000001250{"),
... ]).encode()
>>> [st] = parse(data)
>>> st.account_number, st.opening_balance.amount, st.closing_balance.amount, st.balance_difference()
('300040000100012345601', Decimal('100.00'), Decimal('125.00'), Decimal('0.00'))
>>> e = st.entries[0]
>>> e.amount, e.bank_ref, e.counterparty_name, e.remittance_lines, e.additional_info
(Decimal('25.00'), 'B6010500001', 'ACME SA', ['FACTURE FA2026-00042'], 'VIR SEPA ACME SA')
>>> decode_amount("0000000002412J", 2)
Decimal('-241.21')
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from decimal import Decimal

from edi import lines
from edi.nogc import paused_gc
from schemas.errors import InvalidFormat, RejectedDocument
from schemas.money import parse_amount
from schemas.statement import Balance, BankEntry, BankStatement

__all__ = ["parse", "validate", "iter_entries", "decode_amount"]

# "{ABCDEFGHI" are +0..+9 and "}JKLMNOPQR" -0..-9 in the last position of an amount
_LAST = {c: (1, i) for i, c in enumerate("{ABCDEFGHI")} | {c: (-1, i) for i, c in enumerate("}JKLMNOPQR")}
_TEXT_QUALIFIERS = ("LIB", "LCC", "LC2", "LCS", "LCZ")
# The file is read a block of lines at a time (:mod:`edi.lines`). A record has 120 characters;
# a longer line is refused with its length, and one of more than MAX_LINE characters is refused
# before it is held whole ("more than MAX_LINE").
MAX_LINE = 4096
_FLUSH = 1024  # entries handed out at a time when streaming


class _Bad(Exception):
    def __init__(self, msg: str, line: int, field: str) -> None:
        super().__init__(msg)
        self.msg, self.line, self.field = msg, line, field


def decode_amount(text: str, decimals: int) -> Decimal:
    """A 14-character CFONB amount whose last character holds the sign and the last digit.

    The digits, the implied decimal point placed, go through the hub's one amount parser
    (:func:`schemas.money.parse_amount`); a ValueError says what is wrong.
    """
    digits, last = text[:-1].strip(), text[-1:]
    if last not in _LAST or not digits.replace(" ", "0").isdigit():
        raise ValueError(f"not a CFONB amount: {text!r}")
    sign, unit = _LAST[last]
    value = _implied(digits.replace(" ", "0") + str(unit), decimals)
    return -value if sign < 0 and value else value


def _implied(digits: str, decimals: int) -> Decimal:
    """A whole number of 10**-decimals units, written in digits, as an amount (ValueError if not one)."""
    if decimals:
        digits = digits.rjust(decimals + 1, "0")
        digits = f"{digits[:-decimals]}.{digits[-decimals:]}"
    return parse_amount(digits, decimals=decimals)


def _date(text: str, line: int, field: str) -> dt.date:
    if not text.isdigit() or len(text) != 6:
        raise _Bad(f"not a date (DDMMYY): {text!r}", line, field)
    day, month, year = int(text[:2]), int(text[2:4]), 2000 + int(text[4:6])
    if year > dt.date.today().year + 20:
        year -= 100
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise _Bad(f"not a date (DDMMYY): {text!r}", line, field) from None


def _records(data: lines.Source) -> Iterator[tuple[int, str]]:
    """``(line number, record padded to 120)`` of every non-blank record, read a block at a time.

    Records are lines, or, in a file without any line break that is longer than 120 characters,
    120-character slices. A record longer than 120 characters raises :class:`_Bad` when it is
    reached (see :func:`_batches` for how the error reported stays the one a whole-file check
    gave).
    """
    chunks = iter(lines.text_chunks(data, "latin-1"))
    head = ""
    for chunk in chunks:
        head += chunk
        if "\n" in head or len(head) > 120:
            break
    if "\n" in head[:121] or len(head) <= 120:
        yield from _lines(itertools.chain([head], chunks), 1)
        return
    # no line break in the first 121 characters: records without line breaks, unless one comes
    # later, and then the first line is longer than 120 characters
    number, offset, blank = 0, 0, True
    text = head
    while True:
        stop = text.find("\n")
        whole = len(text) - len(text) % 120 if stop == -1 else stop - stop % 120
        for i in range(0, whole, 120):
            number += 1
            rec = text[i: i + 120]
            if rec.strip():
                blank = False
                yield number, rec
        if stop != -1:
            if blank and not text[whole:stop].strip():  # a blank first line: skipped, then lines
                yield from _lines(itertools.chain([text[stop + 1:]], chunks), 2)
                return
            raise _Bad(_record_length(offset + stop), 1, "record")
        offset += whole
        text = text[whole:]
        nxt = next(chunks, None)
        if nxt is None:
            if text.strip():
                yield number + 1, text.ljust(120)
            return
        text += nxt


def _record_length(n: int) -> str:
    size = f"{n}" if n <= MAX_LINE else f"more than {MAX_LINE}"
    return f"record of {size} characters (CFONB 120 records have 120)"


def _lines(chunks: Iterator[str], first: int) -> Iterator[tuple[int, str]]:
    """The records of text made of lines, the first one numbered ``first``."""
    number = first
    try:
        for block in lines.blocks(chunks, max_line=MAX_LINE, max_unit=MAX_LINE, unit=None):
            parts = block.split("\n")
            if block.endswith("\n"):
                parts.pop()  # the next block starts the next line
            for line in parts:
                if line.strip():
                    if len(line) > 120:
                        raise _Bad(_record_length(len(line)), number, "record")
                    yield number, line.ljust(120)  # trailing blanks are often trimmed by editors and transfers
                number += 1
    except lines.TooLong as exc:
        raise _Bad(_record_length(MAX_LINE + 1), exc.line + first - 1, "record") from None


def _decimals(rec: str, line: int) -> int:
    d = rec[19]
    if d == " ":
        return 2
    if not d.isdigit():
        raise _Bad(f"number of decimals is not a digit: {d!r}", line, "decimals (position 20)")
    return int(d)


# Amounts met lately, by text and decimals (files repeat amounts: a closing balance is the next
# statement's opening one, fees and standing orders recur); bounded, so memory stays flat.
_AMOUNTS: dict[tuple[str, int], Decimal] = {}


def _amount(rec: str, line: int) -> Decimal:
    key = (rec[90:104], _decimals(rec, line))
    value = _AMOUNTS.get(key)
    if value is None:
        try:
            value = decode_amount(*key)
        except ValueError as exc:
            raise _Bad(str(exc), line, "amount (positions 91-104)") from None
        if len(_AMOUNTS) >= 50000:
            _AMOUNTS.clear()
        _AMOUNTS[key] = value
    return value


def _balance(rec: str, line: int, code: str) -> Balance:
    return Balance(amount=_amount(rec, line), date=_date(rec[34:40], line, "date (positions 35-40)"),
                   type_code=code, currency=rec[16:19].strip() or None)


def _operation(rec: str, line: int) -> BankEntry:
    label = rec[48:79].strip()
    ref = rec[104:120].strip()
    number = rec[81:88].strip()
    return BankEntry(
        amount=_amount(rec, line),
        currency=rec[16:19].strip(),
        booking_date=_date(rec[34:40], line, "booking date (positions 35-40)"),
        value_date=_date(rec[42:48], line, "value date (positions 43-48)"),
        bank_ref=ref or None,
        entry_ref=number if number.strip("0") else None,
        proprietary_code=rec[7:11].strip() or None,
        additional_info=label or None,
    )


class _Op:
    """An operation being read: its entry and the names its 05 records gave."""

    __slots__ = ("entry", "payer", "payee", "ult_payer", "ult_payee", "others")

    payer: str | None
    payee: str | None
    ult_payer: str | None
    ult_payee: str | None

    def __init__(self, entry: BankEntry) -> None:
        self.entry = entry
        self.payer = self.payee = self.ult_payer = self.ult_payee = None
        self.others: list[str] = []

    def add(self, rec: str, line: int) -> None:
        qualifier, text = rec[45:48], rec[48:118]
        value = text.strip()
        e = self.entry
        if qualifier in _TEXT_QUALIFIERS:
            if value:
                e.remittance_lines.append(value)
        elif qualifier == "NPY":
            self.payer = value or None
        elif qualifier == "NBE":
            self.payee = value or None
        elif qualifier == "NPO":
            self.ult_payer = value or None
        elif qualifier == "NBU":
            self.ult_payee = value or None
        elif qualifier == "RCN":  # client reference (35) then purpose (35)
            e.end_to_end_id = text[:35].strip() or None
        elif qualifier == "REF":
            e.tx_id = text[:35].strip() or None
        elif qualifier == "RUM":
            e.mandate_id = text[:35].strip() or None
        elif qualifier == "MMO":  # currency (3), decimals (1), amount (14) in the original currency
            ccy, dec, amount = text[:3], text[3:4], text[4:18].strip()
            if ccy.isalpha() and dec.isdigit() and amount.isdigit():
                decimals = int(dec)
                try:
                    e.instructed_amount = _implied(amount, decimals)
                except ValueError as exc:
                    raise _Bad(str(exc), line, "original amount (MMO)") from None
                e.instructed_currency = ccy
        elif value or qualifier.strip():
            self.others.append(f"{qualifier.strip()}: {value}" if qualifier.strip() else value)

    def done(self) -> BankEntry:
        e = self.entry
        credit = e.amount > 0
        mine, other = (self.payer, self.payee) if credit else (self.payee, self.payer)
        e.counterparty_name = mine or other
        e.ultimate_party_name = (self.ult_payer if credit else self.ult_payee) or None
        if self.others:
            e.additional_info = "; ".join(x for x in [e.additional_info or "", *self.others] if x)
        return e


# What :func:`_batches` yields: a statement, entries of it to hand out, whether it is complete.
_Batch = tuple[BankStatement, list[BankEntry], bool]
_OUTSIDE = "operation (04) outside a statement (no 01 before it)"


class _Walk:
    """What the walk over the records knows that the error handling needs."""

    __slots__ = ("extract_line",)

    def __init__(self) -> None:
        self.extract_line = 0  # line of the 04 read as a one-operation extract, while no 01/07 came


def _batches(data: lines.Source, document_id: str, stream: bool = False) -> Iterator[_Batch]:
    """The statements of the file, read a block at a time.

    Without ``stream`` each statement comes once, complete, its entries in ``entries``. With
    ``stream`` its entries come in batches as they are read, and ``entries`` is left empty:
    memory holds a block and a batch, not the statement. The last entry read stays behind until
    the next operation or the end of its statement, since ``05`` records may still add to it.

    The errors are those of a whole-file reading, which checked every record's length before
    looking at any, and looked at the whole file to tell a file without 01/07 records (one
    operation) from one with them: after an error, the rest of the file is read for a record
    that is too long, or for a 01/07 that makes the extract's operation the error.
    """
    records = _records(data)
    walk = _Walk()
    try:
        yield from _walk(records, walk, stream)
    except (_Bad, ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
        error: Exception = exc
        later, balances = _rest(records)
        if later is not None:
            error = later
        elif walk.extract_line and balances:
            error = _Bad(_OUTSIDE, walk.extract_line, "04")
        if isinstance(error, _Bad):
            raise InvalidFormat(error.msg, document_id=document_id, line=error.line, field=error.field) from None
        raise InvalidFormat(f"unreadable CFONB 120 file: {error}", document_id=document_id) from None
    except RejectedDocument:
        raise


def _rest(records: Iterator[tuple[int, str]]) -> tuple[_Bad | None, bool]:
    """Read the records left: the first too-long one, and whether a 01 or 07 record is among them."""
    balances = False
    try:
        for _, rec in records:
            if rec[:2] in ("01", "07"):
                balances = True
    except _Bad as bad:
        return bad, balances
    return None, balances


def _walk(records: Iterator[tuple[int, str]], walk: _Walk, stream: bool) -> Iterator[_Batch]:
    """The statements of the records; raises :class:`_Bad` (or a ValueError...)."""
    st: BankStatement | None = None
    op: _Op | None = None
    extract: BankStatement | None = None  # a file without 01/07: one operation
    balances = False  # a 01 or 07 record came
    last = 0
    for line, rec in records:
        last = line
        code = rec[:2]
        if code == "01":
            balances = True
            if extract is not None:
                raise _Bad(_OUTSIDE, walk.extract_line, "04")
            if st is not None:
                raise _Bad("new statement (01) before the previous one ended (07)", line, "01")
            opening = _balance(rec, line, "OPBD")
            st = BankStatement(
                format="cfonb120", account_iban=None, currency=rec[16:19].strip(),
                account_number=rec[2:7] + rec[11:16] + rec[21:32], opening_balance=opening,
            )
            op = None
        elif code == "04":
            entry = _operation(rec, line)
            if op is not None:
                op.done()
            if st is None:
                if balances:
                    raise _Bad(_OUTSIDE, line, "04")
                if extract is not None:
                    raise _Bad("operation already defined: a file without 01/07 records holds one "
                               "operation", line, "04")
                extract = BankStatement(format="cfonb120", account_iban=None, currency=entry.currency,
                                        account_number=rec[2:7] + rec[11:16] + rec[21:32])
                extract.entries.append(entry)
                walk.extract_line = line
            else:
                st.entries.append(entry)
                if stream and len(st.entries) > _FLUSH:
                    # hand out what came, but this operation: its 05 records may follow
                    batch = st.entries[:-1]
                    del st.entries[:-1]
                    yield st, batch, False
            op = _Op(entry)
        elif code == "05":
            if op is None:
                raise _Bad("operation detail (05) without an operation (04) before it", line, "05")
            op.add(rec, line)
        elif code == "07":
            balances = True
            if extract is not None:
                raise _Bad(_OUTSIDE, walk.extract_line, "04")
            if st is None:
                raise _Bad("end of statement (07) without a beginning (01)", line, "07")
            if op is not None:
                op.done()
                op = None
            if rec[21:32] != (st.account_number or "")[10:]:
                raise _Bad(f"new balance (07) for account {rec[21:32].strip()}, the statement is for "
                           f"{(st.account_number or '')[10:]}", line, "account (positions 22-32)")
            st.closing_balance = _balance(rec, line, "CLBD")
            st.to_date = dt.datetime.combine(st.closing_balance.date, dt.time())
            if st.opening_balance is not None:
                st.from_date = dt.datetime.combine(st.opening_balance.date, dt.time())
            batch = st.entries
            if stream:
                st.entries = []
            yield st, batch, True
            st = None
        else:
            raise _Bad(f"unknown record code {code!r} (01, 04, 05 or 07 expected)", line, "record code")
    if not last:
        raise _Bad("empty file", 1, "record")
    if op is not None:
        op.done()
    if st is not None:
        raise _Bad("statement not closed: no new balance (07) at the end of the file", last, "07")
    if extract is not None:
        walk.extract_line = 0
        yield extract, extract.entries, True


def _statements(data: lines.Source, document_id: str) -> Iterator[BankStatement]:
    """The statements of the file, each complete with its entries (see :func:`_batches`)."""
    for st, _, _ in _batches(data, document_id):
        yield st


@paused_gc
def parse(data: lines.Source, *, document_id: str = "<bytes>") -> list[BankStatement]:
    """Every statement of a CFONB 120 file.

    ``data``: the file's bytes, its text, or a binary file object (read a block at a time).
    """
    return list(_statements(data, document_id))


def iter_entries(data: lines.Source, *, document_id: str = "<bytes>") -> Iterator[tuple[BankStatement, BankEntry]]:
    """``(statement, entry)`` pairs, like :func:`edi.camt.iter_entries`, in memory that stays flat.

    Give a binary file object for a big file: it is read a block at a time. The statement is one
    object for all of its entries, its ``entries`` left empty; its new balance (``07``) comes after
    its entries, so it is set once its last entry has been handed out (check it then, as
    :func:`edi.bank.iter_entries` does). A format error raises when it is reached.
    """
    for st, batch, _ in _batches(data, document_id, stream=True):
        for e in batch:
            yield st, e


def validate(data: lines.Source, *, document_id: str = "<bytes>") -> None:
    """Parse and check every statement (balances, currency); raise a RejectedDocument subclass."""
    from edi.bank import check_statement

    for st in parse(data, document_id=document_id):
        check_statement(st, document_id=document_id)
