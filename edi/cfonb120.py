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
from collections.abc import Iterator
from decimal import Decimal

from edi.nogc import paused_gc
from schemas.errors import InvalidFormat, RejectedDocument
from schemas.statement import Balance, BankEntry, BankStatement

__all__ = ["parse", "validate", "iter_entries", "decode_amount"]

# "{ABCDEFGHI" are +0..+9 and "}JKLMNOPQR" -0..-9 in the last position of an amount
_LAST = {c: (1, i) for i, c in enumerate("{ABCDEFGHI")} | {c: (-1, i) for i, c in enumerate("}JKLMNOPQR")}
_TEXT_QUALIFIERS = ("LIB", "LCC", "LC2", "LCS", "LCZ")


class _Bad(Exception):
    def __init__(self, msg: str, line: int, field: str) -> None:
        super().__init__(msg)
        self.msg, self.line, self.field = msg, line, field


def decode_amount(text: str, decimals: int) -> Decimal:
    """A 14-character CFONB amount whose last character holds the sign and the last digit."""
    digits, last = text[:-1].strip(), text[-1:]
    if last not in _LAST or not digits.replace(" ", "0").isdigit():
        raise ValueError(f"not a CFONB amount: {text!r}")
    sign, unit = _LAST[last]
    value = int(digits.replace(" ", "0") + str(unit))
    return Decimal(sign * value).scaleb(-decimals)


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


def _records(data: bytes | str) -> Iterator[tuple[int, str]]:
    text = data.decode("latin-1") if isinstance(data, (bytes, bytearray)) else data
    text = text.lstrip("\ufeff")
    if "\n" not in text and "\r" not in text and len(text) > 120:
        lines = [text[i: i + 120] for i in range(0, len(text), 120)]  # records without line breaks
    else:
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if len(line) > 120:
            raise _Bad(f"record of {len(line)} characters (CFONB 120 records have 120)", number, "record")
        yield number, line.ljust(120)  # trailing blanks are often trimmed by editors and transfers


def _decimals(rec: str, line: int) -> int:
    d = rec[19]
    if d == " ":
        return 2
    if not d.isdigit():
        raise _Bad(f"number of decimals is not a digit: {d!r}", line, "decimals (position 20)")
    return int(d)


def _amount(rec: str, line: int) -> Decimal:
    try:
        return decode_amount(rec[90:104], _decimals(rec, line))
    except ValueError as exc:
        raise _Bad(str(exc), line, "amount (positions 91-104)") from None


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
                e.instructed_amount = Decimal(int(amount)).scaleb(-int(dec))
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


def _statements(data: bytes | str, document_id: str) -> Iterator[BankStatement]:
    st: BankStatement | None = None
    op: _Op | None = None
    extract: BankStatement | None = None  # a file without 01/07: one operation
    try:
        records = list(_records(data))
        if not records:
            raise _Bad("empty file", 1, "record")
        has_balances = any(r[:2] in ("01", "07") for _, r in records)
        for line, rec in records:
            code = rec[:2]
            if code == "01":
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
                    if has_balances:
                        raise _Bad("operation (04) outside a statement (no 01 before it)", line, "04")
                    if extract is not None:
                        raise _Bad("operation already defined: a file without 01/07 records holds one "
                                   "operation", line, "04")
                    extract = BankStatement(format="cfonb120", account_iban=None, currency=entry.currency,
                                            account_number=rec[2:7] + rec[11:16] + rec[21:32])
                    extract.entries.append(entry)
                else:
                    st.entries.append(entry)
                op = _Op(entry)
            elif code == "05":
                if op is None:
                    raise _Bad("operation detail (05) without an operation (04) before it", line, "05")
                op.add(rec, line)
            elif code == "07":
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
                yield st
                st = None
            else:
                raise _Bad(f"unknown record code {code!r} (01, 04, 05 or 07 expected)", line, "record code")
        if op is not None:
            op.done()
        if st is not None:
            raise _Bad("statement not closed: no new balance (07) at the end of the file", records[-1][0], "07")
        if extract is not None:
            yield extract
    except _Bad as bad:
        raise InvalidFormat(bad.msg, document_id=document_id, line=bad.line, field=bad.field) from None
    except RejectedDocument:
        raise
    except (ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
        raise InvalidFormat(f"unreadable CFONB 120 file: {exc}", document_id=document_id) from None


@paused_gc
def parse(data: bytes | str, *, document_id: str = "<bytes>") -> list[BankStatement]:
    """Every statement of a CFONB 120 file."""
    return list(_statements(data, document_id))


def iter_entries(data: bytes | str, *, document_id: str = "<bytes>") -> Iterator[tuple[BankStatement, BankEntry]]:
    """``(statement, entry)`` pairs, like :func:`edi.camt.iter_entries`."""
    for st in _statements(data, document_id):
        for e in st.entries:
            yield st, e


def validate(data: bytes | str, *, document_id: str = "<bytes>") -> None:
    """Parse and check every statement (balances, currency); raise a RejectedDocument subclass."""
    from edi.bank import check_statement

    for st in parse(data, document_id=document_id):
        check_statement(st, document_id=document_id)
