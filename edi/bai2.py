"""BAI2: the US cash-management balance reporting file (BAI Version 2).

Standard: Bank Administration Institute, *Cash Management Balance Reporting Specifications,
Version 2* (2005 edition, now maintained by the X9 committee as ANSI X9.121-2016 "BAI2").
Spec: https://www.bai.org/docs/default-source/libraries/site-general-downloads/cash_management_2005.pdf

Records (comma-separated fields, ``/`` ends a record, ``88`` continues the previous one):

- ``01`` file header (sender, receiver, creation date and time, file id, ..., version ``2``);
- ``02`` group header (ultimate receiver, originator, status, as-of date and time, currency);
- ``03`` account identifier with summary/status amounts as ``type code, amount, item count,
  funds type`` repeats: ``010`` opening ledger, ``015`` closing ledger, ``040``/``045``
  opening/closing available, ``100``/``400`` total credits/debits ...;
- ``16`` transaction detail: type code, amount, funds type, bank reference, customer
  reference, text (``88`` records add text lines);
- ``49`` account trailer, ``98`` group trailer, ``99`` file trailer: each carries a control
  total (the algebraic sum of the amounts of the records it closes) and record counts, which
  are all checked.

Amounts have implied decimals: "the number of decimal places is determined by the currency
code" (two for USD, none for JPY). Detail type codes 100-399 are credits, 400-699 debits; a
currency left blank is "the currency of the group, or USD when the group gives none".

>>> data = b'''01,BANKUS33,ACME,260105,2300,F001,,,2/
... 02,ACME,BANKUS33,1,260105,2400,USD,2/
... 03,123456789,USD,010,100000,,,015,112500,,/
... 16,165,25000,0,B60105001,INV-42,ACH CREDIT ACME CORP/
... 88,INVOICE INV-42
... 16,475,12500,0,B60105002,,CHECK 1001/
... 49,250000,5/
... 98,250000,1,7/
... 99,250000,1,9/'''
>>> [st] = parse(data)
>>> st.account_number, st.opening_balance.amount, st.closing_balance.amount, st.balance_difference()
('123456789', Decimal('1000.00'), Decimal('1125.00'), Decimal('0.00'))
>>> e = st.entries[0]
>>> e.amount, e.bank_ref, e.entry_ref, e.remittance_lines, e.proprietary_code
(Decimal('250.00'), 'B60105001', 'INV-42', ['ACH CREDIT ACME CORP', 'INVOICE INV-42'], '165')
>>> validate(data.replace(b"49,250000,5/", b"49,250001,5/"))
Traceback (most recent call last):
...
schemas.errors.InvalidChecksum: <bytes>, line 7, 49: account control total 250001, the records add up to 250000
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterator
from decimal import Decimal

from edi import lines
from edi.nogc import paused_gc
from schemas.errors import InvalidChecksum, InvalidFormat
from schemas.money import MAX_INTEGER_DIGITS, AmountError, minor_units, parse_amount
from schemas.statement import Balance, BankEntry, BankStatement

__all__ = ["parse", "validate", "iter_entries"]

# status (balance) codes the canonical model names; other 0xx codes keep "BAI2:<code>"
_BALANCES = {"010": "OPBD", "015": "CLBD", "040": "OPAV", "045": "CLAV", "050": "FWAV"}
# The file is read a block at a time (:mod:`edi.lines`); a block ends before a line that starts
# a record (not blank, not an 88), so that no record is cut from its continuations. Bounds on
# one physical line and on one record with its 88 lines (the reader refuses more before keeping
# it): banks write records of at most a few hundred characters, most of them under 80.
MAX_LINE = 4096
MAX_RECORD = 1 << 20
_RECORD_START = re.compile(r"\n(?=[^\S\n]*(?!88)\S)")
_CACHE_SIZE = 50000  # distinct amounts kept per currency: memory stays flat


class _Bad(Exception):
    def __init__(self, msg: str, line: int, field: str, checksum: bool = False) -> None:
        super().__init__(msg)
        self.msg, self.line, self.field, self.checksum = msg, line, field, checksum


# A logical record: (line number, record code, fields, number of physical records).
# The fields of a "16" are [its raw body, then the text of each "88" after it] (the detail text
# may hold commas, so the body is split later); other records have their comma-separated fields,
# those of their "88" continuations appended.
_Record = tuple[int, str, list[str], int]


class _Cursor:
    """How far the file has been read: :func:`_records` and :func:`_fast_entries` take turns.

    ``text`` is the block being read (it ends where a record ends), ``pos`` the start of the
    next line to read in it, ``line`` the number of the last line read in the file.
    """

    __slots__ = ("text", "pos", "line", "_blocks")

    def __init__(self, data: lines.Source) -> None:
        self._blocks = lines.blocks(lines.text_chunks(data, "latin-1"), max_line=MAX_LINE, max_unit=MAX_RECORD,
                                    unit=_RECORD_START)
        self.text = ""
        self.pos = self.line = 0

    def refill(self) -> bool:
        """Read the next block (``pos`` goes to its start); False at the end of the file."""
        try:
            self.text = next(self._blocks)
        except StopIteration:
            return False
        except lines.TooLong as exc:
            what = "line" if exc.what == "line" else "record with its 88 continuations"
            raise _Bad(f"{what} of more than {exc.bound} characters", exc.line, "record") from None
        self.pos = 0
        return True


def _records(cur: _Cursor) -> Iterator[_Record]:
    """The logical records from ``cur`` on, one at a time (``88`` continuations merged).

    Lines are split on newlines only, as ``str.split`` does, and read one by one from the block
    (a list of every line of a big file would be kept alive, and rescanned by the garbage
    collector, for the whole parse). Before a record is yielded, the first line of the next one
    is read and its record code checked, when it is in the same block: a malformed code raises
    :class:`_Bad` there, when the walk reaches it; see :func:`_batches` for how that keeps
    the error reported the same as a whole-file check. ``cur`` is left at that line, so the walk
    may read on with :func:`_fast_entries` before asking for the next record. At the end of a
    block the next one is read (a block ends where a record does).
    """
    text = cur.text
    find, size = text.find, len(text)
    started = False
    # the next record's first line, already read and checked: (its start, stripped text, end + 1)
    ahead = (-1, "", 0)
    while True:
        pos, number = cur.pos, cur.line
        if pos == ahead[0]:
            _, raw, pos = ahead
            number += 1
        else:
            raw = ""
            while not raw:
                if pos >= size:
                    if not cur.refill():
                        return
                    text, pos, ahead = cur.text, 0, (-1, "", 0)
                    find, size = text.find, len(text)
                end = find("\n", pos)
                if end == -1:
                    end = size
                raw = text[pos:end].strip()
                number += 1
                pos = end + 1
        head = raw[:2]
        # only the first record can start with an 88: later ones are merged by the loop below
        # (or, after a run of transactions, :data:`_FAST16` checked that no 88 follows)
        if head == "88" and not started:
            raise _Bad("continuation (88) before any record", number, "88")
        if len(raw) < 2 or not head.isdigit() or (len(raw) > 2 and raw[2] != ","):
            raise _Bad(f"not a BAI2 record: {raw[:20]!r}", number, "record code")
        started = True
        line, code, count = number, head, 1
        body = raw[3:]
        # a 16's text field may hold commas: it is split later
        fields = [body] if head == "16" else body.rstrip("/").split(",")
        while pos < size:
            end = find("\n", pos)
            if end == -1:
                end = size
            raw = text[pos:end].strip()
            if not raw:
                number += 1
                pos = end + 1
                continue
            head = raw[:2]
            if head != "88":
                if len(raw) < 2 or not head.isdigit() or (len(raw) > 2 and raw[2] != ","):
                    raise _Bad(f"not a BAI2 record: {raw[:20]!r}", number + 1, "record code")
                ahead = (pos, raw, end + 1)
                break
            number += 1
            pos = end + 1
            count += 1
            body = raw[3:] if raw[2:3] == "," else raw[2:]
            if code == "16":  # text lines of a transaction: kept whole, commas included
                fields.append(body.rstrip("/").strip())
            else:
                fields.extend(body.rstrip("/").split(","))
        cur.pos, cur.line = pos, number
        yield line, code, fields, count


def _syntax_error(records: Iterator[_Record]) -> _Bad | None:
    """The first malformed record code in what is left of ``records``, if any."""
    try:
        for _ in records:
            pass
    except _Bad as bad:
        return bad
    return None


def _int(text: str, line: int, field: str, *, blank: int | None = None) -> int:
    t = text.strip()
    if not t and blank is not None:
        return blank
    try:
        return int(t)
    except ValueError:
        raise _Bad(f"not a whole number: {text!r}", line, field) from None


def _date(text: str, line: int, field: str) -> dt.date:
    t = text.strip()
    if len(t) != 6 or not t.isdigit():
        raise _Bad(f"not a date (YYMMDD): {text!r}", line, field)
    try:
        return dt.date(2000 + int(t[:2]), int(t[2:4]), int(t[4:]))
    except ValueError:
        raise _Bad(f"not a date (YYMMDD): {text!r}", line, field) from None


def _amount(text: str, line: int, field: str, currency: str) -> tuple[int, Decimal]:
    """A BAI2 amount as written: a whole number of the currency's minor units, maybe signed, blank = 0.

    Returns the number, for the control totals, and the amount. The amount is what the hub's one
    amount parser (:func:`schemas.money.parse_amount`) reads once the implied decimals are placed:
    ASCII digits, at most 14 integer digits. An amount of up to 14 integer digits and 60
    characters, the usual case, is one it accepts, and is made from the number directly (the
    parser costs more than the rest of a transaction); any other goes through the parser, which
    refuses it and says why.
    """
    t = text.strip()
    if not (t.isdigit() and t.isascii()):  # else signed, blank, or not a number
        digits = t[1:] if t[:1] in ("+", "-") else t
        if t and not (digits.isdigit() and digits.isascii()):
            raise _Bad(f"not a whole number: {text!r}", line, field)
    raw = int(t) if t else 0
    decimals = minor_units(currency)
    bound = _BOUNDS.get(decimals) or 10 ** (MAX_INTEGER_DIGITS + decimals)
    if len(t) > 60 or not -bound < raw < bound:
        sign, digits = (t[0], t[1:]) if t[0] in ("+", "-") else ("", t)
        if decimals:
            digits = digits.rjust(decimals + 1, "0")
            digits = f"{digits[:-decimals]}.{digits[-decimals:]}"
        try:
            parse_amount(sign + digits, decimals=decimals)
        except AmountError as exc:
            raise _Bad(f"not an amount: {t!r} ({exc})", line, field) from None
    return raw, Decimal(raw).scaleb(-decimals)


# decimals -> the smallest number of minor units with more than MAX_INTEGER_DIGITS integer digits
_BOUNDS = {d: 10 ** (MAX_INTEGER_DIGITS + d) for d in range(5)}


def _funds_skip(fields: list[str], i: int, line: int) -> tuple[int, dt.date | None]:
    """Skip the funds-type fields starting at ``fields[i]``; return the next index, value date.

    "0", "1", "2", "Z" or blank stand alone; "V" is followed by value date and time; "S" by
    three amounts (immediate, one-day, two-or-more days); "D" by a count then that many
    (days, amount) pairs.
    """
    ftype = fields[i].strip() if i < len(fields) else ""
    i += 1
    if ftype == "V":
        value = _date(fields[i], line, "value date") if i < len(fields) and fields[i].strip() else None
        return i + 2, value
    if ftype == "S":
        return i + 3, None
    if ftype == "D":
        n = _int(fields[i] if i < len(fields) else "", line, "distribution count", blank=0)
        return i + 1 + 2 * n, None
    if ftype not in ("", "0", "1", "2", "Z"):
        raise _Bad(f"unknown funds type {ftype!r}", line, "funds type")
    return i, None


# funds types that stand alone: no value date, availability or distribution fields follow
_PLAIN_FUNDS = frozenset(("", "0", "1", "2", "Z"))
# detail type code (as written) -> sign, for the codes already met
_DETAIL_SIGNS: dict[str, int] = {}


def _detail_sign(code: str, line: int) -> int:
    """+1 for a credit type code (100-399), -1 for a debit (400-699); anything else is refused."""
    sign = _DETAIL_SIGNS.get(code)
    if sign is not None:
        return sign
    if not code.isdigit():
        raise _Bad(f"not a type code: {code!r}", line, "16 type code")
    n = int(code)
    if 100 <= n < 400:
        sign = 1
    elif 400 <= n < 700:
        sign = -1
    else:
        raise _Bad(f"detail type code {code} is neither a credit (100-399) nor a debit (400-699)", line,
                   "16 type code")
    if len(_DETAIL_SIGNS) < 1000:
        _DETAIL_SIGNS[code] = sign
    return sign


# Amount cache of one account, by the amount field as written: (raw amount for the control
# total, amount of a credit, amount of a debit). Files repeat amounts (fees, standing orders).
_AmountCache = dict[str, tuple[int, Decimal, Decimal]]


def _detail_amount(text: str, line: int, currency: str, cache: _AmountCache) -> tuple[int, Decimal, Decimal]:
    """``(raw, credit amount, debit amount)`` of a 16 amount field, scaled to the currency."""
    hit = cache.get(text)
    if hit is None:
        raw, scaled = _amount(text, line, "16 amount", currency)
        hit = (raw, 1 * scaled, -1 * scaled)
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[text] = hit
    return hit


def _transaction(fields: list[str], line: int, currency: str, as_of: dt.date,
                 cache: _AmountCache) -> tuple[BankEntry, int]:
    """A ``16`` record (``fields``: its body, then its 88 text lines); the entry and raw amount.

    The raw amount is what the account control total adds up.
    """
    body = fields[0].rstrip().removesuffix("/")  # "/" ends the record
    parts = body.split(",", 5)
    if len(parts) == 6 and parts[2].strip() in _PLAIN_FUNDS:
        # the usual layout: type, amount, funds type, bank ref, customer ref, text (commas kept)
        code, amount, _, bank_ref, cust_ref, text = parts
        code = code.strip()
        sign = _DETAIL_SIGNS.get(code) or _detail_sign(code, line)
        raw_amount, credit, debit = cache.get(amount) or _detail_amount(amount, line, currency, cache)
        value_date = None
        bank_ref, cust_ref, text = bank_ref.strip(), cust_ref.strip(), text.strip()
    else:
        parts = body.split(",")
        code = parts[0].strip()
        sign = _detail_sign(code, line)
        raw_amount, credit, debit = _detail_amount(parts[1] if len(parts) > 1 else "", line, currency, cache)
        i, value_date = _funds_skip(parts, 2, line)
        bank_ref = parts[i].strip() if i < len(parts) else ""
        cust_ref = parts[i + 1].strip() if i + 1 < len(parts) else ""
        text = ",".join(parts[i + 2:]).strip() if i + 2 < len(parts) else ""
    lines = [text] if text else []
    if len(fields) > 1:
        lines += [x for x in fields[1:] if x]
    entry = BankEntry(
        amount=credit if sign == 1 else debit,
        currency=currency,
        booking_date=as_of,
        value_date=value_date or as_of,
        bank_ref=bank_ref or None,
        entry_ref=cust_ref or None,
        proprietary_code=code,
        remittance_lines=lines,
    )
    return entry, raw_amount


# A transaction in the usual layout: a "16" whose funds type stands alone, then its "88" text
# lines, each record on one line with nothing for ``strip`` to remove, and no blank line. What it
# admits is read exactly as :func:`_records` and :func:`_transaction` read it ("/" removed once at
# the end of the 16, all "/" at the end of an 88) and cannot fail: the type code is a credit or a
# debit, the amount a whole number of at most 14 digits. Anything else is left to them. The empty alternative
# matches where no such transaction starts: ``finditer`` then ends the run there rather than
# searching further on.
_FAST16 = re.compile(r"""
    (?:16,([1-6][0-9][0-9]),([0-9]{0,14}),[012Z]?,([^\s,]*),([^\s,]*)  # type, amount, funds, refs
    (?:,((?:[^\s](?:[^\n]*[^\s])?)?))?(?:/\n|(?<!/)\n)  # text (commas kept), "/" removed once
    (?:88,((?!\s)[^\n]*[^\s/])/*\n)?+               # first 88 text, "/"s removed
    ((?:88,(?!\s)[^\n]*[^\s/]/*\n)*+)                # any further 88s, as written
    (?!\s|88)                                        # no blank line, no other 88 follows
    |)
""", re.VERBOSE)


def _fast_entries(cur: _Cursor, entries: list[BankEntry], currency: str, as_of: dt.date,
                  cache: _AmountCache) -> tuple[int, int, int]:
    """Read the transactions of :data:`_FAST16`'s layout from ``cur`` on into ``entries``.

    Returns the number of physical records read, the sum of their raw amounts and the line of
    the last transaction (at least one is there); the entries are those :func:`_transaction`
    makes, and ``cur`` is left at the first line that is not of the layout.
    Most files are mostly such runs: one regular expression match per entry keeps the splitting
    and checking of fields in C.
    """
    text = cur.text
    signs = _DETAIL_SIGNS
    append = entries.append
    new_entry = _new_entry
    total = count = 0
    at = 0  # records read before the last transaction
    for m in _FAST16.finditer(text, cur.pos):
        code, amount, bank_ref, cust_ref, note, more_1, more = m.groups()
        if code is None:  # the empty match: the run ends here
            break
        # (raw, credit amount, debit amount): the sign, +1 or -1, picks the amount. Neither
        # lookup can fail on what the pattern admits, so no line number is needed.
        hit = cache.get(amount) or _detail_amount(amount, 0, currency, cache)
        total += hit[0]
        at = count
        if more_1 is None:
            lines = [note] if note else []
            count += 1
        else:
            lines = [note, more_1] if note else [more_1]
            count += 2
            if more:
                extra = [x.rstrip("/") for x in more[3:-1].split("\n88,")]
                lines += extra
                count += len(extra)
        append(new_entry(hit[signs.get(code) or _detail_sign(code, 0)], currency, as_of, as_of, bank_ref or None,
                         cust_ref or None, code, lines))
    else:  # the empty alternative matches at the end of the text at the latest
        raise AssertionError("_FAST16 found no end to the run")
    cur.pos = m.start()
    line = cur.line + at + 1
    cur.line += count
    return count, total, line


def _entry_maker(*given: str) -> Callable[..., BankEntry]:
    """``BankEntry`` taking the fields ``given`` by position, the others at their defaults.

    The dataclass ``__init__`` takes keyword-only arguments and looks up the default of each one
    left out, by name, on every call: a third of the cost of an entry. The function made here
    sets the same slots to the same values (a new list from each default factory), reading the
    fields from the class itself so that it follows the model.
    """
    params = BankEntry.__dataclass_params__  # type: ignore[attr-defined]
    if params.frozen or hasattr(BankEntry, "__post_init__"):  # more than assignments: keep __init__
        return lambda *args: BankEntry(**dict(zip(given, args, strict=True)))
    names = {"_new": object.__new__, "_cls": BankEntry}
    body = ["_entry = _new(_cls)"]
    for f in dataclasses.fields(BankEntry):
        if f.name in given:
            body.append(f"_entry.{f.name} = {f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            names[f"_make_{f.name}"] = f.default_factory
            body.append(f"_entry.{f.name} = _make_{f.name}()")
        elif f.default is not dataclasses.MISSING:
            names[f"_default_{f.name}"] = f.default
            body.append(f"_entry.{f.name} = _default_{f.name}")
    exec(f"def _make({', '.join(given)}):\n    " + "\n    ".join(body) + "\n    return _entry", names)
    return names["_make"]


# the entries of _fast_entries, arguments in this order
_new_entry = _entry_maker("amount", "currency", "booking_date", "value_date", "bank_ref", "entry_ref",
                          "proprietary_code", "remittance_lines")


# What :func:`_batches` yields: a statement, entries of it to hand out, whether it is complete.
_Batch = tuple[BankStatement, list[BankEntry], bool]
_FLUSH = 1024  # entries handed out at a time when streaming


def _batches(data: lines.Source, document_id: str, stream: bool = False) -> Iterator[_Batch]:
    """The statements (accounts) of the file, read a block at a time.

    Without ``stream`` each statement comes once, complete, its entries in ``entries``. With
    ``stream`` its entries come in batches as they are read, and ``entries`` is left empty:
    memory holds a block and a batch, not the statement.
    """
    cur = _Cursor(data)
    records = _records(cur)
    try:
        yield from _walk(records, cur, stream)
    except (_Bad, ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
        # The records are split as the walk goes: a malformed record code further on is the
        # error to report, as when the whole file was split before any record was read.
        error: Exception = _syntax_error(records) or exc
        if isinstance(error, _Bad):
            cls = InvalidChecksum if error.checksum else InvalidFormat
            raise cls(error.msg, document_id=document_id, line=error.line, field=error.field) from None
        raise InvalidFormat(f"unreadable BAI2 file: {error}", document_id=document_id) from None


def _walk(records: Iterator[_Record], cur: _Cursor, stream: bool) -> Iterator[_Batch]:
    """The statements of the records, trailers checked; raises :class:`_Bad` (or a ValueError...)."""
    first = next(records, None)
    if first is None:
        raise _Bad("empty file", 1, "01")
    line, code, fields, _ = first
    if code != "01":
        raise _Bad("a BAI2 file starts with a file header (01)", line, "01")
    if len(fields) >= 8 and fields[7].strip() not in ("2", ""):
        raise _Bad(f"version {fields[7].strip()!r}: only BAI version 2 is read", line, "01 version")
    created = None
    if len(fields) > 2 and fields[2].strip():
        created_date = _date(fields[2], line, "01 creation date")
        t = fields[3].strip() if len(fields) > 3 else ""
        hh, mm = (int(t[:2]), int(t[2:4])) if len(t) == 4 and t.isdigit() else (0, 0)
        created = dt.datetime(created_date.year, created_date.month, created_date.day, hh % 24, mm % 60)
    file_id = fields[4].strip() if len(fields) > 4 else ""
    file_total = file_groups = 0
    file_records = 1
    group: dict | None = None
    stmt: BankStatement | None = None
    acct_total = acct_records = 0
    done = False
    # of the open group and account: as-of date, currency, amounts already converted
    as_of = dt.date.min
    currency = ""
    amounts: _AmountCache = {}
    last_line = line
    fast_match = _FAST16.match
    for line, code, fields, nrec in records:
        last_line = line
        if done:
            raise _Bad("record after the file trailer (99)", line, code)
        file_records += nrec
        if code == "16":
            if stmt is None:
                raise _Bad("transaction (16) outside an account (no 03 before it)", line, "16")
            entry, raw_amount = _transaction(fields, line, currency, as_of, amounts)
            stmt.entries.append(entry)
            acct_total += raw_amount
            acct_records += nrec
            # then the transactions that follow in the usual layout, in one go (the match alone
            # first: it is cheap where, as in files of another layout, none follows)
            if fast_match(cur.text, cur.pos).lastindex:
                nrec, raw_amount, last_line = _fast_entries(cur, stmt.entries, currency, as_of, amounts)
                file_records += nrec
                acct_records += nrec
                acct_total += raw_amount
            if stream and len(stmt.entries) >= _FLUSH:
                batch, stmt.entries = stmt.entries, []
                yield stmt, batch, False
        elif code == "02":
            if group is not None:
                raise _Bad("group header (02) before the previous group trailer (98)", line, "02")
            as_of = _date(fields[3] if len(fields) > 3 else "", line, "02 as-of date")
            ccy = fields[5].strip() if len(fields) > 5 else ""
            group = {"as_of": as_of, "currency": ccy or "USD", "total": 0, "accounts": 0, "records": 1,
                     "originator": fields[1].strip() if len(fields) > 1 else ""}
        elif code == "03":
            if group is None:
                raise _Bad("account (03) outside a group (no 02 before it)", line, "03")
            if stmt is not None:
                raise _Bad("account (03) before the previous account trailer (49)", line, "03")
            account = fields[0].strip()
            ccy = (fields[1].strip() if len(fields) > 1 else "") or group["currency"]
            stmt = BankStatement(format="bai2", account_iban=None, account_number=account, currency=ccy,
                                 created_at=created, message_id=file_id or None)
            stmt.from_date = stmt.to_date = dt.datetime.combine(group["as_of"], dt.time())
            if ccy != currency:
                currency, amounts = ccy, {}
            acct_total, acct_records = 0, nrec
            i = 2
            while i < len(fields):
                tcode = fields[i].strip()
                if not tcode:  # producers differ on a "," before "/": blank fields between groups
                    i += 1
                    continue
                raw = fields[i + 1].strip() if i + 1 < len(fields) else ""
                amount, scaled = _amount(raw, line, f"03 amount of type {tcode}", ccy) if raw else (None, None)
                if amount is not None:
                    acct_total += amount
                if tcode.isdigit() and int(tcode) < 100 and amount is not None:
                    bal = Balance(amount=scaled, date=group["as_of"],
                                  type_code=_BALANCES.get(tcode, f"BAI2:{tcode}"), currency=ccy)
                    if tcode == "010":
                        stmt.opening_balance = bal
                    elif tcode == "015":
                        stmt.closing_balance = bal
                    else:
                        stmt.other_balances.append(bal)
                i, _ = _funds_skip(fields, i + 3, line)
            # the account's transactions in the usual layout, in one go
            if fast_match(cur.text, cur.pos).lastindex:
                nrec, raw_amount, last_line = _fast_entries(cur, stmt.entries, currency, as_of, amounts)
                file_records += nrec
                acct_records += nrec
                acct_total += raw_amount
            if stream and len(stmt.entries) >= _FLUSH:
                batch, stmt.entries = stmt.entries, []
                yield stmt, batch, False
        elif code == "49":
            if stmt is None or group is None:
                raise _Bad("account trailer (49) without an account (03)", line, "49")
            total = _int(fields[0] if fields else "", line, "49 control total", blank=0)
            count = _int(fields[1] if len(fields) > 1 else "", line, "49 number of records")
            acct_records += 1
            if total != acct_total:
                raise _Bad(f"account control total {total}, the records add up to {acct_total}", line, "49",
                           checksum=True)
            if count != acct_records:
                raise _Bad(f"account trailer counts {count} records, the account has {acct_records}", line,
                           "49", checksum=True)
            group["total"] += acct_total
            group["accounts"] += 1
            group["records"] += acct_records
            if stream:
                batch, stmt.entries = stmt.entries, []
                yield stmt, batch, True
            else:
                yield stmt, stmt.entries, True
            stmt = None
        elif code == "98":
            if group is None or stmt is not None:
                raise _Bad("group trailer (98) without a closed group", line, "98")
            total = _int(fields[0] if fields else "", line, "98 control total", blank=0)
            accounts = _int(fields[1] if len(fields) > 1 else "", line, "98 number of accounts")
            count = _int(fields[2] if len(fields) > 2 else "", line, "98 number of records")
            if total != group["total"]:
                raise _Bad(f"group control total {total}, the accounts add up to {group['total']}", line,
                           "98", checksum=True)
            if accounts != group["accounts"]:
                raise _Bad(f"group trailer counts {accounts} accounts, the group has {group['accounts']}",
                           line, "98", checksum=True)
            if count != group["records"] + 1:
                raise _Bad(f"group trailer counts {count} records, the group has {group['records'] + 1}",
                           line, "98", checksum=True)
            file_total += group["total"]
            file_groups += 1
            group = None
        elif code == "99":
            if group is not None:
                raise _Bad("file trailer (99) before the group trailer (98)", line, "99")
            total = _int(fields[0] if fields else "", line, "99 control total", blank=0)
            groups = _int(fields[1] if len(fields) > 1 else "", line, "99 number of groups")
            count = _int(fields[2] if len(fields) > 2 else "", line, "99 number of records")
            if total != file_total:
                raise _Bad(f"file control total {total}, the groups add up to {file_total}", line, "99",
                           checksum=True)
            if groups != file_groups:
                raise _Bad(f"file trailer counts {groups} groups, the file has {file_groups}", line, "99",
                           checksum=True)
            total_records = file_records
            if count != total_records:
                raise _Bad(f"file trailer counts {count} records, the file has {total_records}", line, "99",
                           checksum=True)
            done = True
        elif code == "01":
            raise _Bad("second file header (01)", line, "01")
        else:
            raise _Bad(f"unknown record code {code!r}", line, "record code")
    if not done:
        raise _Bad("file trailer (99) missing: the file is truncated", last_line, "99")


def _statements(data: lines.Source, document_id: str) -> Iterator[BankStatement]:
    """The statements of the file, each complete with its entries (see :func:`_batches`)."""
    for st, _, _ in _batches(data, document_id):
        yield st


@paused_gc
def parse(data: lines.Source, *, document_id: str = "<bytes>") -> list[BankStatement]:
    """One statement per account (``03`` ... ``49``) of a BAI2 file, trailers checked.

    ``data``: the file's bytes, its text, or a binary file object (read a block at a time).
    """
    return list(_statements(data, document_id))


def iter_entries(data: lines.Source, *, document_id: str = "<bytes>") -> Iterator[tuple[BankStatement, BankEntry]]:
    """``(statement, entry)`` pairs, like :func:`edi.camt.iter_entries`, in memory that stays flat.

    Give a binary file object for a big file: it is read a block at a time. The statement is one
    object for all of its entries, its ``entries`` left empty. The account trailer (``49``) comes
    after the entries: its control total and counts, and the group and file trailers, are checked
    when they are reached, after the entries before them were handed out.
    """
    for st, batch, _ in _batches(data, document_id, stream=True):
        for e in batch:
            yield st, e


def validate(data: lines.Source, *, document_id: str = "<bytes>") -> None:
    """Parse, check trailers, balances and currency; raise a RejectedDocument subclass."""
    from edi.bank import check_statement

    for st in parse(data, document_id=document_id):
        check_statement(st, document_id=document_id)
