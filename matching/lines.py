"""Bank lines as the cash-application engine reads them: compact tuples and their features.

A canonical :class:`~schemas.statement.BankEntry` becomes a :class:`Line` (amount in integer
cents, values that repeat from line to line shared); :func:`line_keys` lists every key a line
offers for the ledger index (RF references, referred document numbers, text grams), and
:func:`line_grams` the grams the rules compare with shortened numbers and typos.
:func:`is_candidate` tells a possible customer receipt from debits and non-receipts.

Pure functions of one line: nothing here reads the ledger or the state of a run.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from decimal import Decimal
from typing import NamedTuple

from stdnum import iso11649

from matching.model import MatchConfig
from matching.normalize import compact, fold, iban_compact, text_grams
from schemas.statement import BankEntry

_RF_TEXT = re.compile(r"RF\d\d(?:\s?[A-Z0-9]){1,21}")


class Line(NamedTuple):
    """One bank transaction as the engine needs it (amount in cents, signed)."""

    bank_ref: str
    cents: int
    currency: str
    booking_date: str  # ISO date, '' when unknown
    name: str
    ultimate: str
    iban: str
    tx_code: str
    texts: tuple[str, ...]
    rf: tuple[str, ...]
    docs: tuple[tuple[str, str, int | None], ...]  # (number, type code, remitted cents)
    e2e: str


def to_cents(amount: Decimal | str | int) -> int:
    """Decimal amount to integer cents (half-up)."""
    d = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    return int(d.scaleb(2).to_integral_value(rounding="ROUND_HALF_UP"))


_ISO_DAYS: dict[dt.date, str] = {}


def _shared(text: str) -> str:
    """One object per distinct value (``sys.intern``; a ``str`` subclass, which cannot be
    interned, is turned into a plain string first)."""
    return sys.intern(text if type(text) is str else str.__str__(text))


def line_from_entry(e: BankEntry) -> Line:
    """The :class:`Line` of a canonical bank entry.

    Values that repeat from line to line (currency, booking date, transaction code, payer name
    and IBAN) are shared string objects: a million lines hold them once each, and the pickles
    that carry lines from the parsing workers refer to them instead of repeating them."""
    docs = tuple(
        (d.number or "", d.type_code or "", to_cents(d.amount) if d.amount is not None else None)
        for d in e.referred_documents
    )
    day = e.booking_date
    iso = ""
    if day:
        iso = _ISO_DAYS.get(day) or _ISO_DAYS.setdefault(day, day.isoformat())
    return Line(
        e.bank_ref or "",
        to_cents(e.amount),
        _shared(e.currency or ""),
        iso,
        _shared(e.counterparty_name or ""),
        _shared(e.ultimate_party_name or ""),
        _shared(iban_compact(e.counterparty_iban)),
        _shared(e.bank_tx_code or ""),
        tuple(e.remittance_lines),
        tuple(e.creditor_references),
        docs,
        e.end_to_end_id or "",
    )


def line_keys(line: Line) -> list[str]:
    """Every candidate key a line offers: RF references, document numbers, text grams."""
    keys: list[str] = []
    for r in line.rf:
        c = compact(r)
        if c.startswith("RF"):
            if iso11649.is_valid(c):  # ISO 11649: check digits first; the body often is the invoice number
                keys.append(c)
                keys.append(c[4:])
        elif c:
            keys.append(c)  # national creditor reference: compared as given
    texts = list(line.texts)
    for number, _, _ in line.docs:
        keys.append(compact(number))
    e2e = line.e2e
    if texts:
        keys.extend(text_grams(texts))  # remittance lines, also glued together (numbers cut across lines)
    if e2e and e2e.upper() != "NOTPROVIDED":
        keys.extend(text_grams([e2e]))  # never glued to the remittance text
        joined = fold(" ".join(line.texts))
        if "RF" in joined:
            for m in _RF_TEXT.finditer(joined):
                body = m.group(0).replace(" ", "")
                for end in range(len(body), 4, -1):
                    cand = body[:end]
                    if iso11649.is_valid(cand):
                        keys.append(cand)
                        break
    return keys


def is_candidate(line: Line, config: MatchConfig) -> bool:
    """A credit that may be a customer receipt (debits and interest-like domains are not)."""
    if line.cents <= 0:
        return False
    dom = line.tx_code.split("/", 1)[0] if line.tx_code else ""
    return dom not in config.skip_domains


def line_grams(line: Line) -> list[str]:
    """The grams the rules compare with shortened numbers and typos: those of the remittance text
    (glued across lines), then new ones from referred document numbers and the end-to-end id."""
    grams = text_grams(list(line.texts))
    extra = [d[0] for d in line.docs]
    if line.e2e and line.e2e.upper() != "NOTPROVIDED":
        extra.append(line.e2e)
    for x in extra:
        grams.extend(g for g in text_grams([x]) if g not in grams)
    return grams
