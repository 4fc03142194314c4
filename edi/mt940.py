"""SWIFT MT940 customer statements (and MT942 interim transaction reports).

Standard: SWIFT Standards MT, Category 9, "MT 940 Customer Statement Message" and
"MT 942 Interim Transaction Report" (SR 2024 and earlier releases; the layout has been stable
for decades). Spec: https://www2.swift.com/knowledgecentre/publications/usgf_20240720/2.0
(Category 9 User Handbook); German field 86 structure: DFÜ-Abkommen, Anlage 3, "Spezifikation
der Datenformate", chapter "MT940"; Dutch structured field 86: the Betaalvereniging/ING/Rabobank
"MT940 Structured" format descriptions.

Tags read: ``:20:`` transaction reference, ``:25:`` account, ``:28C:`` statement number,
``:60F:``/``:60M:`` opening balance, ``:61:`` statement line, ``:86:`` information to account
owner, ``:62F:``/``:62M:`` closing balance, ``:64:`` closing available, ``:65:`` forward
available; MT942 adds ``:34F:`` floor limit, ``:13D:`` date-time and ``:90D:``/``:90C:`` totals.

Field 86 comes in three dialects, told apart by their first characters:

- German structured (``166?00GUTSCHRIFT?20EREF+...``): a 3-digit GVC code, then ``?NN`` sub-fields
  (``?00`` posting text, ``?20``-``?29`` and ``?60``-``?63`` purpose, ``?30`` BIC or bank code,
  ``?31`` IBAN or account, ``?32``/``?33`` name); the purpose carries SEPA keys ``EREF+``,
  ``MREF+``, ``KREF+``, ``SVWZ+``, ``ABWA+``...; some banks use ``>`` instead of ``?``;
- Dutch structured (``/TRTP/SEPA OVERBOEKING/IBAN/NL..../NAME/.../REMI/.../EREF/...``);
- anything else is free text.

Amounts use a decimal comma (read by :func:`schemas.money.parse_amount` once it is a point: at
most 14 integer digits) and are signed from the debit/credit mark: ``C`` credit +, ``D`` debit -,
``RC`` (reversal of credit) -, ``RD`` (reversal of debit) +.

The file is read a block at a time (:mod:`edi.lines`): :func:`iter_entries` keeps memory flat
whatever the size of a statement; a line over :data:`MAX_LINE` characters or a field over
:data:`MAX_FIELD` is refused.

>>> data = b'''
... :20:STARTUMSE
... :25:10020030/1234567
... :28C:00001/001
... :60F:C260105EUR1000,00
... :61:2601050105CR250,50NTRFNONREF//B6010500001
... :86:166?00GUTSCHRIFT?20EREF+INV-2026-0042?21SVWZ+Rechnung FA2026-00042?32ACME GMBH
... :61:2601050105D100,NMSCNONREF
... :86:Bank fees January
... :62F:C260105EUR1150,50
... -'''
>>> [st] = parse(data)
>>> st.account_number, st.opening_balance.amount, st.closing_balance.amount, st.balance_difference()
('10020030/1234567', Decimal('1000.00'), Decimal('1150.50'), Decimal('0.00'))
>>> e = st.entries[0]
>>> e.amount, e.bank_ref, e.end_to_end_id, e.counterparty_name, e.remittance_lines, e.proprietary_code
(Decimal('250.50'), 'B6010500001', 'INV-2026-0042', 'ACME GMBH', ['Rechnung FA2026-00042'], '166')
>>> st.entries[1].amount, st.entries[1].remittance_lines
(Decimal('-100'), ['Bank fees January'])
>>> validate(data.replace(b":62F:C260105EUR1150,50", b":62F:C260105EUR1150,49"))
Traceback (most recent call last):
...
schemas.errors.InvalidChecksum: <bytes>, statement 00001/001 of account 10020030/1234567: opening 1000.00 + entries 150.50 = 1150.50, but the closing balance is 1150.49 (difference 0.01)
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal

from edi import lines
from edi.nogc import paused_gc
from schemas.errors import InvalidFormat, RejectedDocument
from schemas.money import AmountError, parse_amount
from schemas.statement import Balance, BankEntry, BankStatement

__all__ = ["parse", "validate", "iter_entries"]

# A tag starts a line: ":20:", ":28C:", ":60F:" ... and the German ":NS:" (non-SWIFT) field.
# The patterns look for the newline before it (a literal prefix the regex engine scans for
# quickly, where "^" would be tried at every position): the text is given a leading "\n".
_TAG = re.compile(r"\n:(\d\d[A-Z]?|NS):")
# "-" closes a message (block 4 trailer "-}" in a SWIFT envelope); what follows up to the next
# tag is envelope or bank header text ("ABNANL2A", "940", "{1:F01...}") and is skipped.
_END = re.compile(r"(?m)\n-\}?[ \t]*(?:\n(?!:(?:\d\d[A-Z]?|NS):)[^\n]*)*$")
_ENVELOPE = re.compile(r"\{[1-3]:(?:[^{}]|\{[^{}]*\})*\}|\{4:|\{5:(?:[^{}]|\{[^{}]*\})*\}")
# The file is read a block at a time (:mod:`edi.lines`); a block ends before a line starting
# with a tag, so that no field is cut. Bounds on what one line and one field may hold (the
# reader refuses more before keeping it): SWIFT lines are at most 65 characters in field 86
# and under 100 elsewhere; banks outside SWIFT write longer ones, never kilobytes.
MAX_LINE = 4096
MAX_FIELD = 1 << 20  # a field with its continuation lines (field 86 is 6 lines of 65 in SWIFT)
_FIELD_START = re.compile(r"\n(?=:(?:\d\d[A-Z]?|NS):)")
_CACHE_SIZE = 50000  # distinct amounts and balances kept per file: memory stays flat

# :60a:/:62a:/:64:/:65: "1!a6!n3!a15d" (D/C mark, YYMMDD, currency, amount)
_BALANCE = re.compile(r"\s*([CD])(\d{6})([A-Z]{3})(\d[\d]*,\d*|\d*,\d+)\s*$")
# :61: "6!n[4!n]2a[1!a]15d1!a3!c16x[//16x][34x]"
#   ("15d": the comma is mandatory, yet some banks (Knab) write "C500NTRF": accepted)
#   value date, entry date MMDD, mark D/C/RD/RC, funds code (3rd letter of the currency),
#   amount, transaction type (N/S/F + 3), reference for the account owner, // account
#   servicing institution's reference, then on the next line supplementary details.
_LINE = re.compile(
    r"(?P<value>\d{6})(?P<entry>\d{4})?(?P<mark>RC|RD|C|D|EC|ED)(?P<funds>[A-Z])?"
    r"\n?(?P<amount>\d[\d]*,\d*|,\d+|\d+)(?P<type>[NSF][A-Z0-9]{3})"
    r"(?P<rest>[^\n]*)(?:\n(?P<supp>.*))?$",
    re.S,
)
_GERMAN_86 = re.compile(r"(\d{3})([?>])(\d\d)")
_KNAB = re.compile(r"REK: ?([A-Z]{2}\d{2}[A-Z0-9]{10,30}) ?/ ?NAAM: ?(.+)$")
_SUBFIELD_Q = re.compile(r"\?(\d\d)")
# German sub-field numbers: "00" ... "99" (\d also matches other digits, read with int())
_ASCII_NUMBERS = frozenset(f"{n:02d}" for n in range(100))
_PURPOSE_SUBFIELDS = frozenset((*range(20, 30), *range(60, 64)))  # ?20-?29, ?60-?63
_PURPOSE_NUMBERS = frozenset(f"{n:02d}" for n in _PURPOSE_SUBFIELDS)
_SUBFIELD_GT = re.compile(r">(\d\d)")
_SEPA_KEYS = re.compile(r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|IBAN|BIC|COAM|OAMT)\+")
_DUTCH_KEYS = re.compile(
    r"/(TRTP|IBAN|BIC|NAME|REMI|EREF|ORDP|BENM|CSID|MARF|ISDT|RTRN|ADDR|CNTP|ULTC|ULTD|ULTB|PURP|"
    r"SVCL|PREF|IREF|KREF|OCMT|CHGS|EXCH|FX|ID|BUSP|NRTX)/"
)
_BALANCE_CODES = {"60F": "OPBD", "60M": "ITBD", "62F": "CLBD", "62M": "ITBD", "64": "CLAV", "65": "FWAV"}
_SIGNS = {"C": 1, "D": -1, "RD": 1, "RC": -1, "EC": 1, "ED": -1}


class _Bad(Exception):
    """``offset`` is in the block being read, unless ``at`` gives (that block's text, lines before it)."""

    def __init__(self, msg: str, offset: int, field: str, at: tuple[str, int] | None = None) -> None:
        super().__init__(msg)
        self.msg, self.offset, self.field, self.at = msg, offset, field, at


_PIVOT = dt.date.today().year + 20  # SWIFT has no century: YY above (this year + 20) is 19YY
_DATES: dict[str, dt.date] = {}


def _date(yymmdd: str, offset: int, field: str) -> dt.date:
    d = _DATES.get(yymmdd)
    if d is None:
        if not yymmdd.isdigit():
            raise _Bad(f"not a date: {yymmdd!r}", offset, field)
        year, month, day = 2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
        if year > _PIVOT:
            year -= 100
        d = _ymd(year, month, day, offset, field)
        if len(_DATES) < 50000:
            _DATES[yymmdd] = d
    return d


def _ymd(year: int, month: int, day: int, offset: int, field: str) -> dt.date:
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        raise _Bad(f"not a date: {year % 100:02d}{month:02d}{day:02d}", offset, field)
    # German banks book interest with value date 30 February (the 360-day convention of the
    # "Abschluss"); such a day is taken as the month's last day.
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _amount(text: str, offset: int, field: str) -> Decimal:
    """An amount with a decimal comma ("15d"), through the hub's one amount parser (at most 14
    integer digits, no digits other than ASCII ones)."""
    try:
        return parse_amount(text.replace(",", ".").rstrip("."))
    except AmountError as exc:
        raise _Bad(f"not an amount: {text!r} ({exc})", offset, field) from None


# A balance line as written -> (signed amount, date, currency), for the lines met in one file
# (a closing balance is often the next statement's opening one, and :64: repeats :62F:).
_BalanceCache = dict[str, tuple[Decimal, dt.date, str]]


def _balance(tag: str, value: str, offset: int, cache: _BalanceCache) -> tuple[Balance, str]:
    line = value.split("\n", 1)[0]
    hit = cache.get(line)
    if hit is None:
        m = _BALANCE.match(line)
        if not m:
            raise _Bad(f"not a balance (expected D/C mark, YYMMDD, currency, amount): {value.strip()!r}",
                       offset, f":{tag}:")
        mark, date, ccy, amount = m.groups()
        sign = 1 if mark == "C" else -1
        hit = (sign * _amount(amount, offset, f":{tag}:"), _date(date, offset, f":{tag}:"), ccy)
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[line] = hit
    amount, date, ccy = hit
    bal = Balance(amount=amount, date=date, type_code=_BALANCE_CODES.get(tag, "ITBD"), currency=ccy)
    return bal, ccy


_IBANS: dict[str, bool] = {}


def _is_iban(value: str) -> bool:
    """ISO 13616 check: two letters, two check digits, BBAN; mod 97 of the rearranged number is 1."""
    ok = _IBANS.get(value)
    if ok is None:
        ok = (15 <= len(value) <= 34 and value[:2].isalpha() and value[:2].isupper() and value[2:4].isdigit()
              and value.isalnum() and value.isascii()
              and int("".join(str(int(c, 36)) for c in value[4:] + value[:4])) % 97 == 1)
        if len(_IBANS) < 100000:
            _IBANS[value] = ok
    return ok


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _german_86(text: str, entry: BankEntry) -> None:
    """``GVC?00posting text?10primanota?20purpose...?30bank?31account?32name?33name?34code``."""
    entry.proprietary_code = text[:3]
    body = text[3:].replace("\n", "")
    parts = (_SUBFIELD_Q if text[3] == "?" else _SUBFIELD_GT).split(body)
    # parts: [text before the first sub-field (not kept), number, value, number, value ...]
    numbers, values = parts[1::2], parts[2::2]
    fields = dict(zip(numbers, values, strict=True))  # by number as written: "00", "20", "32" ...
    if len(fields) == len(numbers) and _ASCII_NUMBERS.issuperset(fields):
        # the usual case: ASCII sub-field numbers, each once
        purpose_parts = [v for n, v in zip(numbers, values, strict=True) if n in _PURPOSE_NUMBERS]
    else:  # a repeated sub-field adds to the earlier one; other digits than ASCII ones are read too
        purpose_parts, fields = [], {}
        for number, value in zip(numbers, values, strict=True):
            num = int(number)
            if num in _PURPOSE_SUBFIELDS:
                purpose_parts.append(value)
            else:
                fields[f"{num:02d}"] = fields.get(f"{num:02d}", "") + value
    # A purpose sub-field holds up to 27 characters: a full one goes on in the next sub-field
    # (words are cut), a shorter one ended on purpose. "\x1f" marks those deliberate ends (it is
    # whitespace to str.split(), so _collapse() turns it into a blank).
    purpose = "".join([part if len(part) >= 27 else part + "\x1f" for part in purpose_parts[:-1]])
    if purpose_parts:
        purpose += purpose_parts[-1]
    posting_text = fields.get("00")
    if posting_text:
        entry.additional_info = posting_text.strip() or None
    name = _collapse(fields.get("32", "") + fields.get("33", ""))
    entry.counterparty_name = name or None
    bank, account = fields.get("30", "").strip(), fields.get("31", "").strip().replace(" ", "")
    if account:
        if _is_iban(account):
            entry.counterparty_iban = account
        else:
            entry.counterparty_account = f"{bank}/{account}" if bank and bank.isdigit() else account
    if bank and not bank.isdigit():
        entry.counterparty_bic = bank
    # [free text, key, value, key, value ...]
    chunks = _SEPA_KEYS.split(purpose) if "+" in purpose else [purpose]
    text = _collapse(chunks[0])
    if text:
        entry.remittance_lines.append(text)
    for i in range(1, len(chunks), 2):
        key, raw = chunks[i], chunks[i + 1]
        if key == "SVWZ":  # the remittance text runs on to the next key
            value = _collapse(raw)
            if value:
                entry.remittance_lines.append(value)
            continue
        # a reference ends with its sub-field; what follows it (bank notes...) is free text
        value, _, rest = raw.partition("\x1f")
        value = value.strip()
        rest = _collapse(rest)
        if rest:
            entry.remittance_lines.append(rest)
        if not value:
            continue
        if key == "EREF":
            if value != "NOTPROVIDED":
                entry.end_to_end_id = value
        elif key == "MREF":
            entry.mandate_id = value
        elif key == "KREF":
            entry.instruction_id = value
        elif key in ("ABWA", "ABWE"):
            if (key == "ABWA") == entry.is_credit:
                entry.ultimate_party_name = _collapse(value)
        elif key == "IBAN" and not entry.counterparty_iban:
            entry.counterparty_iban = value.replace(" ", "")
        elif key == "BIC" and not entry.counterparty_bic:
            entry.counterparty_bic = value


def _dutch_86(text: str, entry: BankEntry) -> None:
    """``/TRTP/.../IBAN/.../BIC/.../NAME/.../REMI/.../EREF/...`` (ING, Rabobank, ABN AMRO SEPA)."""
    body = text.replace("\n", "")
    keys = list(_DUTCH_KEYS.finditer(body))
    for k, nxt in zip(keys, [*keys[1:], None], strict=False):
        key = k.group(1)
        value = body[k.end(): nxt.start() if nxt else len(body)].rstrip("/").strip()
        if not value:
            continue
        if key == "NAME" and not entry.counterparty_name:
            entry.counterparty_name = _collapse(value)
        elif key == "IBAN" and not entry.counterparty_iban:
            entry.counterparty_iban = value
        elif key == "BIC" and not entry.counterparty_bic:
            entry.counterparty_bic = value
        elif key == "CNTP":  # /CNTP/account/BIC/name/city/
            account, bic, name, *_ = (value.split("/") + ["", "", ""])[:4]
            if account:
                if _is_iban(account):
                    entry.counterparty_iban = account
                else:
                    entry.counterparty_account = account
            entry.counterparty_bic = entry.counterparty_bic or (bic or None)
            entry.counterparty_name = entry.counterparty_name or (_collapse(name) or None)
        elif key == "REMI":  # /REMI/USTD//text/ or /REMI/STRD/CUR/RF18.../ or /REMI/text/
            if value.startswith("USTD//"):
                value = value[6:]
            elif value.startswith("STRD/CUR/"):
                entry.creditor_references.append(value[9:].strip("/"))
                continue
            entry.remittance_lines.append(_collapse(value))
        elif key == "EREF":
            if value != "NOTPROVIDED":
                entry.end_to_end_id = value
        elif key == "MARF":
            entry.mandate_id = value
        elif key == "TRTP":
            entry.additional_info = value
        elif key in ("ULTD", "ULTC", "ULTB"):
            entry.ultimate_party_name = _collapse(value.split("/")[0]) or None
        elif key == "PREF":
            entry.instruction_id = value


def _free_86(text: str, entry: BankEntry) -> None:
    # Field 86 is "6*65x": a line of 65 characters was cut by the bank and goes on without a
    # blank; a shorter line ended on purpose.
    lines = text.split("\n")
    out = lines[0]
    for prev, line in zip(lines, lines[1:], strict=False):
        out += line if len(prev) >= 65 else " " + line
    out = _collapse(out)
    if out:
        entry.remittance_lines.append(out)
        m = _KNAB.search(out)  # Knab: "... REK: NL65INGB0123456789/NAAM: PICQER"
        if m:
            if _is_iban(m.group(1)):
                entry.counterparty_iban = entry.counterparty_iban or m.group(1)
            else:
                entry.counterparty_account = entry.counterparty_account or m.group(1)
            entry.counterparty_name = entry.counterparty_name or m.group(2).strip()


def _info(text: str, entry: BankEntry) -> None:
    text = text.strip("\n")
    if not text.strip():
        return
    g = _GERMAN_86.match(text)
    if g and g.group(1) != "999":
        _german_86(text, entry)
    elif g is None and text.startswith("999"):
        entry.proprietary_code = "999"
        _free_86(text[3:], entry)
    elif text.lstrip().startswith("/") and _DUTCH_KEYS.search(text.replace("\n", "")):
        _dutch_86(text.lstrip(), entry)
    else:
        _free_86(text, entry)


# (value date, entry date) of :61: as written -> (value date, booking date)
_LINE_DATES: dict[tuple[str, str | None], tuple[dt.date, dt.date]] = {}


def _line_dates(value: str, entry: str | None, offset: int) -> tuple[dt.date, dt.date]:
    """Value date and booking date of a statement line (the entry date ``MMDD``, else the value date)."""
    dates = _LINE_DATES.get((value, entry))
    if dates is None:
        value_date = _date(value, offset, ":61:")
        booking = value_date
        if entry:
            month, day = int(entry[:2]), int(entry[2:])
            year = value_date.year
            # the entry date has no year: it is within days of the value date, maybe across New Year
            if month == 1 and value_date.month == 12:
                year += 1
            elif month == 12 and value_date.month == 1:
                year -= 1
            booking = _ymd(year, month, day, offset, ":61:")
        dates = (value_date, booking)
        if len(_LINE_DATES) < 50000:
            _LINE_DATES[(value, entry)] = dates
    return dates


def _statement_line(value: str, offset: int, currency: str, amounts: dict[tuple[str, str], Decimal]) -> BankEntry:
    """The entry of a ``:61:``; ``amounts`` caches the signed amounts of this file by text and mark."""
    m = _LINE.match(value.strip("\n").rstrip())
    if not m:
        raise _Bad(f"not a statement line (value date, D/C, amount, type ...): {value.strip()[:40]!r}",
                   offset, ":61:")
    value_s, entry_s, mark, _funds, amount_s, type_code, rest, supp = m.groups()
    value_date, booking = _line_dates(value_s, entry_s, offset)
    amount = amounts.get((amount_s, mark))
    if amount is None:
        amount = _amount(amount_s, offset, ":61:") * _SIGNS[mark]
        if len(amounts) >= _CACHE_SIZE:
            amounts.clear()
        amounts[(amount_s, mark)] = amount
    # "16x[//16x]": the reference for the account owner is at most 16 characters; some banks
    # (old Rabobank files) go on with the counterparty on the same line: kept as supplementary.
    ref, sep, bank_ref = rest.partition("//")
    if sep:
        bank_ref, extra = bank_ref[:16], bank_ref[16:]
    else:
        ref, extra = ref[:16], ref[16:]
    ref, bank_ref = ref.strip(), bank_ref.strip()
    extra = extra.strip()
    supp = supp.strip() if supp else ""
    if extra and supp:
        supp = f"{extra} {supp}"
    else:
        supp = extra or supp
    return BankEntry(
        amount=amount,
        currency=currency,
        booking_date=booking,
        value_date=value_date,
        bank_ref=bank_ref if bank_ref and bank_ref != "NONREF" else None,
        entry_ref=ref if ref and ref != "NONREF" else None,
        proprietary_code=type_code,
        additional_info=_collapse(supp) if supp else None,
        reversal=mark in ("RC", "RD"),
    )


def _blank(m: re.Match[str]) -> str:
    """A message trailer and the envelope text after it, as newlines only (line numbers are kept)."""
    return "\n" * m.group(0).count("\n")


def _block_text(block: str) -> str:
    """A block of the file as the tags are read from it: envelopes removed, trailers blanked.

    A leading ``"\\n"`` is added (offset 0): a tag is found by the newline before it. The
    blanking keeps the line count (offsets are those of the blanked text, as they always were).
    """
    if "{" in block:  # a SWIFT envelope
        block = _ENVELOPE.sub("", block)
    return _END.sub(_blank, "\n" + block)


def _split(text: str) -> Iterator[tuple[str, str, int]]:
    """``(tag, value, offset)`` for every tag of a block's text (see :func:`_block_text`).

    Text before the first tag (bank header lines at the start of a file) is skipped; a block
    ends where a field ends, so the last value runs to its end.
    """
    previous = None
    for m in _TAG.finditer(text):
        if previous is not None:
            yield previous.group(1), text[previous.end(): m.start()].rstrip("\n"), previous.start()
        previous = m
    if previous is not None:
        yield previous.group(1), text[previous.end():].rstrip("\n"), previous.start()


# What :func:`_batches` yields: a statement, entries of it to hand out, whether it is complete.
_Batch = tuple[BankStatement, list[BankEntry], bool]


def _batches(data: lines.Source, document_id: str, stream: bool = False) -> Iterator[_Batch]:
    """The statements of the file, read a block at a time.

    Without ``stream`` each statement comes once, complete, its entries in ``entries``. With
    ``stream`` its entries come in batches as the blocks are read, and ``entries`` is left empty:
    memory holds one block, not the statement. The last entry read stays behind until the next
    one or the end of its statement, since a further ``:86:`` may still add to it.
    """
    # text given as str is taken as it is (no byte-order mark or carriage return to remove)
    chunks = lines.text_chunks(data, "utf-8|latin-1", clean=not isinstance(data, str))
    st: BankStatement | None = None
    last: BankEntry | None = None
    last86: BankEntry | None = None
    fmt = "mt940"
    text, base = "", 0  # the block being read (see _block_text) and the number of lines before it
    start = 0  # offset of the open statement's :20:, in ``start_text``
    start_text, start_base = "", 0
    amounts: dict[tuple[str, str], Decimal] = {}  # signed :61: amounts met lately, by text and mark
    balances: _BalanceCache = {}

    def finish(s: BankStatement) -> BankStatement:
        if s.opening_balance is not None:
            s.from_date = dt.datetime.combine(s.opening_balance.date, dt.time())
        if s.closing_balance is not None:
            s.to_date = dt.datetime.combine(s.closing_balance.date, dt.time())
        where = (start_text, start_base)
        if s.format == "mt940" and s.opening_balance is None:
            raise _Bad("statement without an opening balance (:60F: or :60M:)", start, ":60F:", where)
        if s.format == "mt940" and s.closing_balance is None:
            raise _Bad("statement without a closing balance (:62F: or :62M:)", start, ":62F:", where)
        if not s.currency:
            raise _Bad("statement without a currency", start, ":60F:", where)
        return s

    def done(s: BankStatement) -> _Batch:
        finish(s)
        if not stream:
            return s, s.entries, True
        batch, s.entries = s.entries, []
        return s, batch, True

    try:
        for block in lines.blocks(chunks, max_line=MAX_LINE, max_unit=MAX_FIELD, unit=_FIELD_START):
            base += text.count("\n") - 1 if text else 0
            text = _block_text(block)
            for tag, value, offset in _split(text):
                if tag == "20":
                    if st is not None:
                        yield done(st)
                    st = BankStatement(format=fmt, account_iban=None, currency="", message_id=value.strip() or None)
                    start, start_text, start_base = offset, text, base
                    last = last86 = None
                    continue
                if st is None:
                    raise _Bad(f":{tag}: before the first :20: (no statement started)", offset, f":{tag}:")
                # the statement lines and their information first: they are most of a file
                if tag == "61":
                    if not st.currency:
                        raise _Bad(":61: before the opening balance gives the currency", offset, ":61:")
                    last = _statement_line(value, offset, st.currency, amounts)
                    last86 = None
                    st.entries.append(last)
                elif tag == "86":
                    if last is not None:
                        _info(value, last)
                        last86 = last
                        last = None
                    elif last86 is not None and st.entries and st.entries[-1] is last86:
                        # old Rabobank files repeat :86: for each further line of the same entry
                        _free_86(value.strip(), last86)
                    # a :86: after :60: or :62: is information on the whole statement: not kept
                elif tag == "25":
                    account = value.strip().split("\n")[0].replace(" ", "")
                    if _is_iban(account):
                        st.account_iban = account
                    elif len(account) > 3 and _is_iban(account[:-3]) and account[-3:].isalpha():
                        st.account_iban, st.currency = account[:-3], account[-3:]  # "NL..IBAN" + "EUR"
                    else:
                        st.account_number = account
                elif tag in ("28C", "28"):
                    # "Pattern: 5n[/5n]": statement number, then sequence number (page)
                    number = value.strip()
                    st.sequence_number = number
                    seq = number.partition("/")[2]
                    if seq.isdigit():
                        st.page = int(seq)
                elif tag in ("60F", "60M"):
                    st.opening_balance, ccy = _balance(tag, value, offset, balances)
                    st.currency = st.currency or ccy
                elif tag in ("62F", "62M"):
                    st.closing_balance, ccy = _balance(tag, value, offset, balances)
                    st.last_page = tag == "62F"
                    st.currency = st.currency or ccy
                elif tag in ("64", "65"):
                    bal, _ccy = _balance(tag, value, offset, balances)
                    st.other_balances.append(bal)
                elif tag == "34F":  # MT942 floor limit "3!a[1!a]15d": gives the currency
                    st.format = fmt = "mt942"
                    m = re.match(r"\s*([A-Z]{3})", value)
                    if m and not st.currency:
                        st.currency = m.group(1)
                elif tag == "13D":  # MT942 "6!n4!n1!x4!n" date, time, sign, UTC offset
                    st.format = fmt = "mt942"
                    m = re.match(r"\s*(\d{6})(\d{4})([+-]\d{4})?", value)
                    if m:
                        d = _date(m.group(1), offset, ":13D:")
                        st.created_at = dt.datetime(d.year, d.month, d.day, int(m.group(2)[:2]) % 24,
                                                    int(m.group(2)[2:]) % 60)
                # :21:, :NS:, :90D:, :90C: and unknown tags carry nothing the canonical model keeps
            if stream and st is not None and len(st.entries) > 1:
                # hand out what the block gave, but the last entry: a :86: may still add to it
                batch = st.entries[:-1]
                del st.entries[:-1]
                yield st, batch, False
        if st is None:
            raise _Bad("no statement (:20:) found", 0, ":20:", ("", 0))
        yield done(st)
    except _Bad as bad:
        at_text, at_base = bad.at or (text, base)
        line = at_base + at_text.count("\n", 0, bad.offset) + 1
        raise InvalidFormat(bad.msg, document_id=document_id, line=line, field=bad.field) from None
    except lines.TooLong as exc:
        raise InvalidFormat(_too_long(exc), document_id=document_id, line=exc.line) from None
    except RejectedDocument:
        raise
    except (ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
        raise InvalidFormat(f"unreadable MT940 file: {exc}", document_id=document_id) from None


def _too_long(exc: lines.TooLong) -> str:
    if exc.what == "line":
        return f"line of more than {exc.bound} characters (SWIFT lines have at most a few hundred)"
    return f"field of more than {exc.bound} characters with its continuation lines"


def _statements(data: lines.Source, document_id: str) -> Iterator[BankStatement]:
    """The statements of the file, each complete with its entries (see :func:`_batches`)."""
    for st, _, _ in _batches(data, document_id):
        yield st


@paused_gc
def parse(data: lines.Source, *, document_id: str = "<bytes>") -> list[BankStatement]:
    """Every statement of an MT940 / MT942 file (``format`` says which).

    ``data``: the file's bytes, its text, or a binary file object (read a block at a time).
    """
    return list(_statements(data, document_id))


def iter_entries(data: lines.Source, *, document_id: str = "<bytes>") -> Iterator[tuple[BankStatement, BankEntry]]:
    """``(statement, entry)`` pairs, like :func:`edi.camt.iter_entries`, in memory that stays flat.

    Give a binary file object for a big file: it is read a block at a time. The statement is one
    object for all of its entries, its ``entries`` left empty; its closing balance comes after
    its entries in the file, so it is set once its last entry has been handed out (check it
    then, as :func:`edi.bank.iter_entries` does). A format error raises when it is reached,
    after the entries before it.
    """
    for st, batch, _ in _batches(data, document_id, stream=True):
        for e in batch:
            yield st, e


def validate(data: lines.Source, *, document_id: str = "<bytes>") -> None:
    """Parse and check every statement (balances, currency); raise a RejectedDocument subclass."""
    from edi.bank import check_statement

    for st in parse(data, document_id=document_id):
        check_statement(st, document_id=document_id)
