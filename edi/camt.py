"""ISO 20022 cash-management bank-to-customer messages: camt.052, camt.053 and camt.054.

Standard: ISO 20022 *Bank-to-Customer Cash Management*, messages
``camt.052`` (BankToCustomerAccountReport), ``camt.053`` (BankToCustomerStatement) and
``camt.054`` (BankToCustomerDebitCreditNotification), versions ``001.02`` to ``001.13``.
Spec and schemas: https://www.iso20022.org/iso-20022-message-definitions (Cash Management,
"camt"); usage rules: https://www.iso20022.org/catalogue-messages/iso-20022-messages-archive.

Elements are read by local name, so the namespace (``urn:iso:std:iso:20022:tech:xsd:camt.053.001.08``
and friends) only serves to detect the message and the version. The file is streamed with
``iterparse`` and every ``Ntry`` is cleared once read: memory stays flat whatever the size.

Conventions (shared by every bank parser of the hub, see :mod:`schemas.statement`):

- amounts are signed from ``CdtDbtInd``: ``CRDT`` positive, ``DBIT`` negative. ISO 20022 says
  of ``RvslInd``: "If the CreditDebitIndicator is CRDT and ReversalIndicator is Yes, the
  original operation was a debit entry", so the indicator already gives the booked direction
  and a reversal only sets ``reversal=True``;
- balances: ``OPBD`` (else ``PRCD``, else the first ``ITBD`` of a page) is the opening,
  ``CLBD`` (else the last ``ITBD``) the closing, every other one goes to ``other_balances``;
  camt.054 has no balances and they stay None;
- a batched ``Ntry`` with several ``TxDtls`` gives one :class:`BankEntry` per transaction,
  sharing ``entry_ref``/``bank_ref``, numbered by ``tx_index``, each with its own ``TxDtls``
  amount, and ``entry_amount`` holding the booked total. Amounts that do not add up to the
  booking reject the file (InvalidChecksum); one missing amount is the remainder; when the
  details give no usable amount at all, the first transaction carries the whole booking and
  the others 0 (``entry_amount`` tells them apart);
- the counterparty is the debtor (``Dbtr``, ``DbtrAcct``, ``DbtrAgt``, ``UltmtDbtr``) of a
  credit and the creditor (``Cdtr``, ``CdtrAcct``, ``CdtrAgt``, ``UltmtCdtr``) of a debit.

Two ways in:

- :func:`parse` returns whole :class:`BankStatement` objects (entries included);
- :func:`iter_entries` streams ``(statement_header, entry)`` pairs for big files. The header is
  a :class:`BankStatement` with ``entries == []``, one object per statement, shared by all of
  its entries (test ``header is previous_header`` to group), with account, currency and both
  balances filled in (``Bal`` comes before ``Ntry`` in every version).

>>> doc = b'''<?xml version="1.0"?>
... <Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
... <GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-01-05T20:30:00</CreDtTm></GrpHdr>
... <Stmt><Id>S1</Id><Acct><Id><IBAN>FR7630004580174324836762859</IBAN></Id><Ccy>EUR</Ccy></Acct>
... <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">100.00</Amt>
...  <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-05</Dt></Dt></Bal>
... <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">80.00</Amt>
...  <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-05</Dt></Dt></Bal>
... <Ntry><Amt Ccy="EUR">20.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
...  <BookgDt><Dt>2026-01-05</Dt></BookgDt><AcctSvcrRef>B1</AcctSvcrRef>
...  <NtryDtls><TxDtls><Refs><EndToEndId>E2E-1</EndToEndId></Refs>
...  <RltdPties><Cdtr><Pty><Nm>ACME SA</Nm></Pty></Cdtr></RltdPties>
...  <RmtInf><Ustrd>INV 42</Ustrd><Ustrd>INV 43</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
... </Stmt></BkToCstmrStmt></Document>'''
>>> [stmt] = parse(doc)
>>> stmt.format, stmt.opening_balance.amount, stmt.closing_balance.amount
('camt.053.001.08', Decimal('100.00'), Decimal('80.00'))
>>> e = stmt.entries[0]
>>> e.amount, e.bank_ref, e.counterparty_name, e.remittance_lines
(Decimal('-20.00'), 'B1', 'ACME SA', ['INV 42', 'INV 43'])
>>> stmt.balance_difference()
Decimal('0.00')
>>> import io
>>> [(h.statement_id, e.end_to_end_id) for h, e in iter_entries(io.BytesIO(doc))]
[('S1', 'E2E-1')]
>>> validate(doc.replace(b"<Amt Ccy=\\"EUR\\">20.00", b"<Amt Ccy=\\"EUR\\">2O.00"))
Traceback (most recent call last):
...
schemas.errors.InvalidFormat: <bytes>, line 9, Ntry/Amt: not a plain decimal amount: '2O.00' (digits, one '.', an optional sign)
>>> validate(doc.replace(b"<Amt Ccy=\\"EUR\\">20.00", b"<Amt Ccy=\\"EUR\\">100000000000000"))
Traceback (most recent call last):
...
schemas.errors.InvalidFormat: <bytes>, line 9, Ntry/Amt: amount 100000000000000 has more than 14 integer digits
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

from lxml import etree

from edi import xmlsafe
from schemas.errors import InvalidChecksum, InvalidFormat, RejectedDocument
from schemas.money import AmountError, check_amount, parse_amount
from schemas.statement import Balance, BankEntry, BankStatement, ReferredDocument

__all__ = ["parse", "validate", "iter_entries", "detect", "SUPPORTED_VERSIONS"]

Source = str | os.PathLike[str] | bytes | bytearray | IO[bytes]

SUPPORTED_VERSIONS = tuple(f"001.{n:02d}" for n in range(2, 14))
_NS_RE = re.compile(r"camt\.(05[234])\.(\d{3}\.\d{2})")
# message -> (local name of the document element's child, of the repeated statement element)
_MESSAGES = {
    "052": ("BkToCstmrAcctRpt", "Rpt"),
    "053": ("BkToCstmrStmt", "Stmt"),
    "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
}
_OPENING = ("OPBD", "PRCD")
ISO20022_DECIMALS = 5
"""Decimals of an ISO 20022 amount (``ActiveOrHistoricCurrencyAndAmount``: fractionDigits 5)."""
_D0 = Decimal(0)


def detect(namespace_or_head: str | bytes) -> tuple[str, str]:
    """``(message, version)`` from a root namespace or the first bytes of a file.

    >>> detect("urn:iso:std:iso:20022:tech:xsd:camt.054.001.04")
    ('camt.054', '001.04')
    >>> detect(b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:pain.001.001.03'>")
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidFormat: not an ISO 20022 camt.052/053/054 namespace
    """
    text = namespace_or_head.decode("latin-1") if isinstance(namespace_or_head, bytes) else namespace_or_head
    m = _NS_RE.search(text)
    if not m:
        raise InvalidFormat("not an ISO 20022 camt.052/053/054 namespace")
    return f"camt.{m.group(1)}", m.group(2)


# ---------------------------------------------------------------------------------------------
# small converters; everything is cached or inlined because they run per element
class _LocalNames(dict[Any, str]):
    """``{ns}Name`` -> ``Name`` ('' for comments and processing instructions).

    A dict with ``__missing__``, so that ``_LN[el.tag]`` is a C-level lookup: this runs for
    every element of every entry.
    """

    def __missing__(self, tag: Any) -> str:
        name = sys.intern(tag.rpartition("}")[2]) if isinstance(tag, str) else ""
        if len(self) < 4096:
            self[tag] = name
        return name


_LN = _LocalNames()


_DATES: dict[str, dt.date] = {}
_IBAN_OR_OTHR = ("{*}IBAN", "{*}Othr")


class _Bad(Exception):
    """Internal: a field value is wrong; turned into InvalidFormat (or InvalidChecksum) with line and path."""

    def __init__(self, field: str, msg: str, line: int | None, checksum: bool = False) -> None:
        super().__init__(msg)
        self.field, self.msg, self.line, self.checksum = field, msg, line, checksum


def _date(el: etree._Element, field: str) -> dt.date | None:
    """A ``Dt`` / ``DtTm`` choice (or a bare ISODate) as a date; ``DtTm`` keeps its local date."""
    text = el[0].text if len(el) else el.text
    if text is None or not text.strip():
        for c in el:
            if c.text and c.text.strip():
                text = c.text
                break
        else:
            return None
    text = text.strip()
    d = _DATES.get(text)
    if d is None:
        try:
            d = dt.date.fromisoformat(text[:10])
        except ValueError:
            raise _Bad(field, f"not a date: {text!r}", el.sourceline) from None
        if len(_DATES) < 20000:
            _DATES[text] = d
    return d


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _datetime(el: etree._Element, field: str) -> dt.datetime | None:
    text = (el.text or "").strip()
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(_FRACTION.sub(r"\1", text))
    except ValueError:
        try:
            return dt.datetime.combine(dt.date.fromisoformat(text[:10]), dt.time())
        except ValueError:
            raise _Bad(field, f"not a date-time: {text!r}", el.sourceline) from None


# Amount texts already checked -> their Decimal. Decimals are immutable, so one object can be
# shared by several entries; the hot loops look here first and call :func:`_amount` on a miss.
# Emptied when full rather than frozen, so the amount just read (an ``Ntry/Amt`` that its
# ``TxDtls/Amt`` repeats) is always there.
_AMOUNTS: dict[str | None, Decimal] = {}


def _amount(el: etree._Element, field: str) -> Decimal:
    """``el.text`` as a non-negative plain Decimal within ISO 20022's digits.

    ISO 20022 amounts (``ActiveOrHistoricCurrencyAndAmount``) are "minInclusive 0", with at
    most 5 decimals; :func:`schemas.money.parse_amount` also refuses exponents (``1E+309``),
    underscores and more than 14 integer digits (the store's ``NUMERIC(20, 6)``), so an amount
    the store cannot hold is refused here, naming the field, and never reaches the database.
    """
    text = el.text
    value = _AMOUNTS.get(text)
    if value is not None:
        return value
    if text is None:
        raise _Bad(field, "empty amount", el.sourceline)
    try:
        value = parse_amount(text, decimals=ISO20022_DECIMALS)
    except AmountError as exc:
        raise _Bad(field, str(exc), el.sourceline) from None
    if value < 0:  # ISO 20022 amounts are "minInclusive 0": the sign is CdtDbtInd
        raise _Bad(field, f"negative amount: {text.strip()!r} (the sign is CdtDbtInd)", el.sourceline)
    if len(text) <= 40:  # an amount, not a megabyte of blanks: memory stays flat
        if len(_AMOUNTS) >= 4096:
            _AMOUNTS.clear()
        _AMOUNTS[text] = value
    return value


def _text(el: etree._Element) -> str | None:
    t = el.text
    if t is None:
        return None
    t = t.strip()
    return t or None


def _sign(el: etree._Element, field: str) -> int:
    t = (el.text or "").strip()
    if t == "CRDT":
        return 1
    if t == "DBIT":
        return -1
    raise _Bad(field, f"CdtDbtInd must be CRDT or DBIT, not {t!r}", el.sourceline)


# ---------------------------------------------------------------------------------------------
# parties, accounts, agents: walked once, by local name
def _party(el: etree._Element) -> str | None:
    """``Nm`` of a party: v2 ``Dbtr/Nm``; v8+ ``Dbtr/Pty/Nm``, or ``Dbtr/Agt/FinInstnId/Nm``
    when the party is a financial institution."""
    LN = _LN
    while True:  # one level per turn instead of a recursive call
        if len(el):  # the first child usually decides: read it without a child iterator
            c = el[0]
            n = LN[c.tag]
            if n == "Nm":
                t = c.text
                return (t.strip() or None) if t is not None else None
            if n == "Pty" or n == "Agt" or n == "FinInstnId":
                el = c
                continue
        for c in el:
            n = LN[c.tag]
            if n == "Nm":
                t = c.text
                return (t.strip() or None) if t is not None else None
            if n == "Pty" or n == "Agt" or n == "FinInstnId":
                el = c
                break
        else:
            return None


def _account(el: etree._Element) -> tuple[str | None, str | None]:
    """``(iban, other id)`` of a ``CashAccount`` (``Id/IBAN`` or ``Id/Othr/Id``).

    The first ``IBAN`` or ``Othr`` below ``el`` in document order decides. When ``Id`` is the
    first child and ``IBAN`` its first child (nearly always), that is the one, found without
    building a tag matcher.
    """
    if len(el):
        first = el[0]
        if _LN[first.tag] == "Id" and len(first):
            inner = first[0]
            if _LN[inner.tag] == "IBAN":
                t = inner.text
                return (t.strip() or None) if t is not None else None, None
    for c in el.iter(_IBAN_OR_OTHR):
        if _LN[c.tag] == "IBAN":
            return _text(c), None
        for o in c:
            if _LN[o.tag] == "Id":
                return None, _text(o)
        return None, None
    return None, None


def _bic(el: etree._Element) -> str | None:
    """``FinInstnId/BICFI`` (v3+) or ``FinInstnId/BIC`` (v2) of an agent."""
    for c in el:
        if _LN[c.tag] == "FinInstnId":
            for i in c:
                if _LN[i.tag] in ("BICFI", "BIC"):
                    return _text(i)
    return None


def _bank_tx_code(el: etree._Element) -> tuple[str | None, str | None]:
    """``("PMNT/RCDT/ESCT", proprietary)`` from ``BkTxCd``.

    ``Domn`` holds ``Cd``, ``Fmly/Cd`` and ``Fmly/SubFmlyCd`` in that order, so its texts in
    document order are domain, family and sub-family.
    """
    domain = proprietary = None
    for c in el:
        n = _LN[c.tag]
        if n == "Domn":
            domain = _domain(c)
        elif n == "Prtry":
            for p in c:
                if _LN[p.tag] == "Cd":
                    proprietary = _text(p)
    return domain, proprietary


_ELEMENT = etree._Element


def _domain(dom: etree._Element) -> str | None:
    """The non-blank texts of ``Domn`` joined by ``/``, exactly as ``itertext()`` lists them.

    ``itertext()`` walks the subtree in Python-visible steps and is the slow part of an entry;
    this reads ``text`` (and ``tail``) in one ``iterdescendants()`` pass. It falls back to
    ``itertext()`` for what the pass cannot order the same way: a comment or processing
    instruction, or an element with children followed by text.
    """
    parts: list[str] = []
    t = dom.text
    if t is not None and not t.isspace():
        parts.append(t.strip())
    for x in dom.iterdescendants():
        if type(x) is not _ELEMENT:
            return _domain_itertext(dom)
        t = x.text
        if t is not None and not t.isspace():
            parts.append(t.strip())
        t = x.tail
        if t is not None and not t.isspace():
            if len(x):
                return _domain_itertext(dom)
            parts.append(t.strip())
    return "/".join(parts) or None


def _domain_itertext(dom: etree._Element) -> str | None:
    """Reference form of :func:`_domain`."""
    return "/".join([t.strip() for t in dom.itertext() if not t.isspace()]) or None


def _instructed(el: etree._Element) -> tuple[Decimal | None, str | None]:
    """``AmtDtls/InstdAmt/Amt`` with its currency."""
    for c in el:
        if _LN[c.tag] == "InstdAmt":
            for a in c:
                if _LN[a.tag] == "Amt":
                    return _amount(a, "AmtDtls/InstdAmt/Amt"), a.get("Ccy")
    return None, None


def _tx_amount(el: etree._Element) -> tuple[Decimal | None, str | None]:
    """v2 ``TxDtls/AmtDtls/TxAmt/Amt`` (the transaction amount before ``TxDtls/Amt`` existed)."""
    for c in el:
        if _LN[c.tag] == "TxAmt":
            for a in c:
                if _LN[a.tag] == "Amt":
                    return _amount(a, "AmtDtls/TxAmt/Amt"), a.get("Ccy")
    return None, None


def _charges(el: etree._Element) -> Decimal | None:
    """``Chrgs``: ``TtlChrgsAndTaxAmt`` when given, else the sum of the records' ``Amt``."""
    total: Decimal | None = None
    records = _D0
    seen = False
    for c in el:
        n = _LN[c.tag]
        if n == "TtlChrgsAndTaxAmt":
            total = _amount(c, "Chrgs/TtlChrgsAndTaxAmt")
        elif n == "Amt":  # v2 ChargesInformation6
            records += _amount(c, "Chrgs/Amt")
            seen = True
        elif n == "Rcrd":
            for r in c:
                if _LN[r.tag] == "Amt":
                    records += _amount(r, "Chrgs/Rcrd/Amt")
                    seen = True
    if total is not None:
        return total
    return _within(records, "Chrgs/Rcrd/Amt", el.sourceline) if seen else None


def _within(value: Decimal, field: str, line: int | None) -> Decimal:
    """A sum of amounts read here, refused when it is past what the store holds (14 integer digits)."""
    try:
        return check_amount(value, decimals=ISO20022_DECIMALS)
    except AmountError as exc:
        raise _Bad(field, f"the amounts add up past what an amount may hold ({exc})", line) from None


# ---------------------------------------------------------------------------------------------
class _Tx:
    """What one ``TxDtls`` says (slots: it is built once per transaction)."""

    __slots__ = (
        "amount", "currency", "sign", "e2e", "tx_id", "instr_id", "mandate", "acct_ref",
        "dbtr", "dbtr_iban", "dbtr_acct", "dbtr_bic", "ultmt_dbtr",
        "cdtr", "cdtr_iban", "cdtr_acct", "cdtr_bic", "ultmt_cdtr",
        "ustrd", "crefs", "docs", "code", "prtry", "addtl", "instd", "instd_ccy", "charges",
    )

    amount: Decimal | None
    instd: Decimal | None
    charges: Decimal | None
    sign: int | None
    currency: str | None
    e2e: str | None
    tx_id: str | None
    instr_id: str | None
    mandate: str | None
    acct_ref: str | None
    dbtr: str | None
    dbtr_iban: str | None
    dbtr_acct: str | None
    dbtr_bic: str | None
    ultmt_dbtr: str | None
    cdtr: str | None
    cdtr_iban: str | None
    cdtr_acct: str | None
    cdtr_bic: str | None
    ultmt_cdtr: str | None
    code: str | None
    prtry: str | None
    addtl: str | None
    instd_ccy: str | None

    def __init__(self) -> None:
        self.amount = self.instd = self.charges = None
        self.sign = None
        self.currency = self.e2e = self.tx_id = self.instr_id = self.mandate = self.acct_ref = None
        self.dbtr = self.dbtr_iban = self.dbtr_acct = self.dbtr_bic = self.ultmt_dbtr = None
        self.cdtr = self.cdtr_iban = self.cdtr_acct = self.cdtr_bic = self.ultmt_cdtr = None
        self.ustrd: list[str] = []
        self.crefs: list[str] = []
        self.docs: list[ReferredDocument] = []
        self.code = self.prtry = self.addtl = self.instd_ccy = None


def _related_agents(el: etree._Element, tx: _Tx) -> None:
    for c in el:
        n = _LN[c.tag]
        if n == "DbtrAgt":
            tx.dbtr_bic = _bic(c)
        elif n == "CdtrAgt":
            tx.cdtr_bic = _bic(c)


def _referred_doc(el: etree._Element) -> ReferredDocument:
    doc = ReferredDocument(number="")
    for c in el:
        n = _LN[c.tag]
        if n == "Nb":
            doc.number = _text(c) or ""
        elif n == "Tp":
            for t in c:
                if _LN[t.tag] == "CdOrPrtry":
                    for k in t:
                        doc.type_code = _text(k)  # Cd or Prtry
        elif n == "RltdDt":  # ISODate up to v8, DateAndType1 (Tp, Dt) from v9
            doc.date = _date(c, "RfrdDocInf/RltdDt")
        elif n == "LineDtls" and doc.amount is None:  # v9+: per-line amounts
            for ld in c:
                if _LN[ld.tag] == "Amt":
                    doc.amount = _remitted(ld)
    return doc


def _remitted(el: etree._Element) -> Decimal | None:
    """``RmtdAmt`` of a ``RfrdDocAmt`` (else ``CdtNoteAmt``, else ``DuePyblAmt``), as written."""
    found: dict[str, Decimal] = {}
    for c in el:
        n = _LN[c.tag]
        if n in ("RmtdAmt", "CdtNoteAmt", "DuePyblAmt"):
            found[n] = _amount(c, f"RfrdDocAmt/{n}")
    for key in ("RmtdAmt", "CdtNoteAmt", "DuePyblAmt"):
        if key in found:
            return found[key]
    return None


def _remittance(el: etree._Element, tx: _Tx, skip_ustrd: bool = False) -> None:
    for c in el:
        n = _LN[c.tag]
        if n == "Ustrd":
            if skip_ustrd:
                continue
            t = c.text
            if t and t.strip():
                tx.ustrd.append(t.strip())
        elif n == "Strd":
            docs: list[ReferredDocument] = []
            amount: Decimal | None = None
            for s in c:
                sn = _LN[s.tag]
                if sn == "RfrdDocInf":
                    docs.append(_referred_doc(s))
                elif sn == "RfrdDocAmt":
                    amount = _remitted(s)
                elif sn == "CdtrRefInf":
                    for r in s:
                        if _LN[r.tag] == "Ref" and r.text and r.text.strip():
                            tx.crefs.append(r.text.strip())
                elif sn == "AddtlRmtInf":
                    t = s.text
                    if t and t.strip():
                        tx.ustrd.append(t.strip())
            # "RfrdDocAmt: Provides details on the amounts of the referred document": one Strd
            # per document in practice; with several documents in one Strd the amount is shared
            # and cannot be attributed, so it is left off.
            if amount is not None and len(docs) == 1 and docs[0].amount is None:
                docs[0].amount = amount
            tx.docs.extend(docs)


def _tx_walk(el: etree._Element, credit: bool) -> _Tx:
    """One ``TxDtls``, its children walked once; the frequent parts are inlined (this is the hot path).

    Only the counterparty side is read: the debtor of a credit, the creditor of a debit.
    Inlined reads follow the helpers exactly: ``(text.strip() or None)`` is :func:`_text`, a hit
    in ``_AMOUNTS`` is what :func:`_amount` would return, ``CRDT``/``DBIT`` is :func:`_sign`;
    anything else goes through the helper, which also raises the errors.
    """
    tx = _Tx()
    LN = _LN
    amounts = _AMOUNTS
    for c in el:
        n = LN[c.tag]
        if n == "Refs":
            for r in c:
                rn = LN[r.tag]
                t = r.text
                if t is not None:
                    t = t.strip() or None
                if rn == "EndToEndId":
                    tx.e2e = t
                elif rn == "TxId":
                    tx.tx_id = t
                elif rn == "InstrId":
                    tx.instr_id = t
                elif rn == "MndtId":
                    tx.mandate = t
                elif rn == "AcctSvcrRef":
                    tx.acct_ref = t
        elif n == "Amt":
            a = amounts.get(c.text)
            tx.amount, tx.currency = a if a is not None else _amount(c, "TxDtls/Amt"), c.get("Ccy")
        elif n == "CdtDbtInd":
            t = c.text
            tx.sign = 1 if t == "CRDT" else -1 if t == "DBIT" else _sign(c, "TxDtls/CdtDbtInd")
        elif n == "RltdPties":
            if (tx.sign or (1 if credit else -1)) > 0:
                for p in c:
                    pn = LN[p.tag]
                    if pn == "Dbtr":
                        tx.dbtr = _party(p)
                    elif pn == "DbtrAcct":
                        tx.dbtr_iban, tx.dbtr_acct = _account(p)
                    elif pn == "UltmtDbtr":
                        tx.ultmt_dbtr = _party(p)
            else:
                for p in c:
                    pn = LN[p.tag]
                    if pn == "Cdtr":
                        tx.cdtr = _party(p)
                    elif pn == "CdtrAcct":
                        tx.cdtr_iban, tx.cdtr_acct = _account(p)
                    elif pn == "UltmtCdtr":
                        tx.ultmt_cdtr = _party(p)
        elif n == "RmtInf":
            for r in c:
                if LN[r.tag] == "Ustrd":
                    t = r.text
                    if t:
                        t = t.strip()
                        if t:
                            tx.ustrd.append(t)
                else:
                    _remittance(c, tx, skip_ustrd=True)
                    break
        elif n == "RltdDts":
            pass  # frequent, never read: spares the comparisons below
        elif n == "RltdAgts":
            _related_agents(c, tx)
        elif n == "AmtDtls":
            tx.instd, tx.instd_ccy = _instructed(c)
            if tx.amount is None:
                tx.amount, tx.currency = _tx_amount(c)
        elif n == "BkTxCd":
            tx.code, tx.prtry = _bank_tx_code(c)
        elif n == "AddtlTxInf":
            t = c.text
            tx.addtl = (t.strip() or None) if t is not None else None
        elif n == "Chrgs":
            ch = _charges(c)
            if ch is not None:
                tx.charges = ch if tx.charges is None else _within(tx.charges + ch, "TxDtls/Chrgs", c.sourceline)
    return tx


_EMPTY_TX = _Tx()


def _entries(ntry: etree._Element) -> list[BankEntry]:
    """One ``Ntry`` -> one BankEntry per ``TxDtls`` (at least one)."""
    amount: Decimal | None = None
    instd: Decimal | None = None
    charges: Decimal | None = None
    sign: int | None = None
    currency: str | None = None
    booking: dt.date | None = None
    value: dt.date | None = None
    bank_ref: str | None = None
    entry_ref: str | None = None
    code: str | None = None
    prtry: str | None = None
    addtl: str | None = None
    instd_ccy: str | None = None
    status = "BOOK"
    reversal = False
    txs: list[_Tx] = []
    LN = _LN
    # The children are walked once, in order; no find() and no XPath (each costs a tree search).
    # Branches are in the order of the schema (most frequent first); leaf reads are inlined as
    # in _tx_walk, with the helpers kept for misses and errors.
    amounts = _AMOUNTS
    dates = _DATES
    for c in ntry:
        n = LN[c.tag]
        if n == "Amt":
            a = amounts.get(c.text)
            amount = a if a is not None else _amount(c, "Ntry/Amt")
            currency = c.get("Ccy")
        elif n == "CdtDbtInd":
            t = c.text
            sign = 1 if t == "CRDT" else -1 if t == "DBIT" else _sign(c, "Ntry/CdtDbtInd")
        elif n == "Sts":
            t = c.text
            if t is None or not t.strip():
                t = c[0].text if len(c) else None
            status = (t or "").strip() or "BOOK"
        elif n == "BookgDt":
            d = dates.get(c[0].text if len(c) else c.text)
            booking = d if d is not None else _date(c, "Ntry/BookgDt")
        elif n == "ValDt":
            d = dates.get(c[0].text if len(c) else c.text)
            value = d if d is not None else _date(c, "Ntry/ValDt")
        elif n == "AcctSvcrRef":
            t = c.text
            bank_ref = (t.strip() or None) if t is not None else None
        elif n == "BkTxCd":
            code, prtry = _bank_tx_code(c)
        elif n == "NtryDtls":
            credit = (sign or 1) > 0
            for d in c:
                if LN[d.tag] == "TxDtls":
                    txs.append(_tx_walk(d, credit))
        elif n == "AddtlNtryInf":
            t = c.text
            addtl = (t.strip() or None) if t is not None else None
        elif n == "NtryRef":
            entry_ref = _text(c)
        elif n == "AmtDtls":
            instd, instd_ccy = _instructed(c)
        elif n == "Chrgs":
            ch = _charges(c)
            if ch is not None:
                charges = ch if charges is None else _within(charges + ch, "Ntry/Chrgs", c.sourceline)
        elif n == "RvslInd":
            reversal = (c.text or "").strip().lower() in ("true", "1")
    line = ntry.sourceline
    if amount is None:
        raise _Bad("Ntry/Amt", "entry without an amount", line)
    if sign is None:
        raise _Bad("Ntry/CdtDbtInd", "entry without CdtDbtInd", line)
    if not currency:
        raise _Bad("Ntry/Amt", "entry amount without a Ccy attribute", line)
    signed = amount * sign

    split = len(txs) > 1
    amounts: list[Decimal] = [signed]
    if split:
        # Each transaction keeps its own TxDtls amount when every one gives it in the entry's
        # currency and they add up to the booked amount; anything else cannot be split safely.
        given: list[Decimal | None] = [
            t.amount * (t.sign or sign) if t.amount is not None and t.currency == currency else None for t in txs]
        missing = [i for i, a in enumerate(given) if a is None]
        known: Decimal = sum((a for a in given if a is not None), _D0)
        if not missing:
            if known != signed:
                raise _Bad("Ntry/NtryDtls", f"TxDtls amounts add up to {known}, the entry books {signed}", line,
                           checksum=True)
            amounts = given  # type: ignore[assignment]
        elif len(missing) == 1:
            given[missing[0]] = _within(signed - known, "Ntry/NtryDtls", line)
            amounts = given  # type: ignore[assignment]
        else:  # no usable detail amounts: the first transaction carries the booking
            amounts = [signed] + [_D0] * (len(txs) - 1)
    if not txs:
        txs = [_EMPTY_TX]

    out = []
    credit = sign > 0
    for i, tx in enumerate(txs):
        if credit:
            cp, cp_iban, cp_acct, cp_bic, ultimate = tx.dbtr, tx.dbtr_iban, tx.dbtr_acct, tx.dbtr_bic, tx.ultmt_dbtr
        else:
            cp, cp_iban, cp_acct, cp_bic, ultimate = tx.cdtr, tx.cdtr_iban, tx.cdtr_acct, tx.cdtr_bic, tx.ultmt_cdtr
        out.append(BankEntry(
            amount=amounts[i],
            currency=currency,
            booking_date=booking,
            value_date=value,
            bank_ref=bank_ref or tx.acct_ref,
            entry_ref=entry_ref,
            tx_index=i,
            end_to_end_id=tx.e2e,
            tx_id=tx.tx_id,
            instruction_id=tx.instr_id,
            mandate_id=tx.mandate,
            counterparty_name=cp,
            counterparty_iban=cp_iban,
            counterparty_account=cp_acct,
            counterparty_bic=cp_bic,
            ultimate_party_name=ultimate,
            remittance_lines=tx.ustrd if tx is not _EMPTY_TX else [],
            creditor_references=tx.crefs if tx is not _EMPTY_TX else [],
            referred_documents=tx.docs if tx is not _EMPTY_TX else [],
            bank_tx_code=tx.code or code,
            proprietary_code=tx.prtry or prtry,
            additional_info=addtl or tx.addtl,
            status=status,
            instructed_amount=tx.instd if tx.instd is not None else (None if split else instd),
            instructed_currency=tx.instd_ccy if tx.instd is not None else (None if split else instd_ccy),
            charges=tx.charges if tx.charges is not None else (None if split else charges),
            reversal=reversal,
            entry_amount=signed if split else None,
        ))
    return out


# ---------------------------------------------------------------------------------------------
def _balance(el: etree._Element) -> tuple[Balance, str | None]:
    code = amount = sign = date = ccy = None
    for c in el:
        n = _LN[c.tag]
        if n == "Tp":
            for t in c:
                tn = _LN[t.tag]
                if tn == "CdOrPrtry":
                    for k in t:
                        code = _text(k)
        elif n == "Amt":
            amount, ccy = _amount(c, "Bal/Amt"), c.get("Ccy")
        elif n == "CdtDbtInd":
            sign = _sign(c, "Bal/CdtDbtInd")
        elif n == "Dt":
            date = _date(c, "Bal/Dt")
    line = el.sourceline
    if amount is None or sign is None or date is None or not code:
        missing = [f for f, v in (("Tp", code), ("Amt", amount), ("CdtDbtInd", sign), ("Dt", date)) if v is None]
        raise _Bad("Bal", f"balance without {'/'.join(missing)}", line)
    return Balance(amount=amount * sign, date=date, type_code=code, currency=ccy), ccy


def _header(stmt_el: etree._Element, fmt: str, group: dict[str, Any], stop: etree._Element | None) -> BankStatement:
    """A statement without entries, from the children of ``Stmt`` before ``stop`` (the first Ntry)."""
    st = BankStatement(format=fmt, account_iban=None, currency="", message_id=group.get("msg_id"))
    st.created_at = group.get("created")
    balances: list[tuple[Balance, str | None]] = []
    for c in stmt_el:
        if c is stop:
            break
        n = _LN[c.tag]
        if n == "Id":
            st.statement_id = _text(c)
        elif n == "ElctrncSeqNb":
            st.sequence_number = _text(c)
        elif n == "LglSeqNb":
            st.legal_sequence_number = _text(c)
        elif n == "CreDtTm":
            st.created_at = _datetime(c, "Stmt/CreDtTm")
        elif n == "FrToDt":
            for f in c:
                fn = _LN[f.tag]
                if fn == "FrDtTm":
                    st.from_date = _datetime(f, "FrToDt/FrDtTm")
                elif fn == "ToDtTm":
                    st.to_date = _datetime(f, "FrToDt/ToDtTm")
        elif n == "StmtPgntn" or n == "RptPgntn" or n == "NtfctnPgntn":
            for p in c:
                pn = _LN[p.tag]
                if pn == "PgNb" and p.text and p.text.strip().isdigit():
                    st.page = int(p.text.strip())
                elif pn == "LastPgInd":
                    st.last_page = (p.text or "").strip().lower() in ("true", "1")
        elif n == "Acct":
            for a in c:
                an = _LN[a.tag]
                if an == "Id":
                    st.account_iban, st.account_number = _account(c)
                elif an == "Ccy":
                    st.currency = _text(a) or ""
                elif an == "Ownr":
                    st.account_owner = _party(a)
                elif an == "Svcr":
                    st.servicer_bic = _bic(a)
        elif n == "Bal":
            balances.append(_balance(c))
    if balances:
        if not st.currency:
            st.currency = next((ccy for _, ccy in balances if ccy), "") or ""
        opening = next((b for code in _OPENING for b, _ in balances if b.type_code == code), None)
        closing = next((b for b, _ in balances if b.type_code == "CLBD"), None)
        interim = [b for b, _ in balances if b.type_code == "ITBD"]
        # paged statements: "ITBD" opens every page but the first and closes every page but the last
        if opening is None and interim:
            opening = interim[0]
        if closing is None and interim and interim[-1] is not opening:
            closing = interim[-1]
        st.opening_balance, st.closing_balance = opening, closing
        st.other_balances = [b for b, _ in balances if b is not opening and b is not closing]
    return st


# ---------------------------------------------------------------------------------------------
def _open(source: Source, document_id: str | None) -> tuple[str | IO[bytes], str]:
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(bytes(source)), document_id or "<bytes>"
    if isinstance(source, str) and source.lstrip().startswith("<"):  # XML text rather than a path
        return io.BytesIO(source.encode("utf-8")), document_id or "<text>"
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return path, document_id or path
    name = getattr(source, "name", None)
    return source, document_id or (name if isinstance(name, str) else "<stream>")


# The document element's start tag, after an optional BOM, the XML declaration, comments and
# processing instructions (a DOCTYPE stops the match: such a file is refused anyway).
_ROOT_START = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:\s+|<\?(?:[^?]|\?(?!>))*\?>|<!--(?:[^-]|-(?!->))*-->)*+"
    rb"<([^\s<>/!?]+)((?:\s+[^\s=<>/]+\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))*+)\s*/?>")
_ATTRIBUTE = re.compile(rb"\s+([^\s=<>/]+)\s*=\s*(?:\"([^\"<]*)\"|'([^'<]*)')")
# The namespaces made inert: written exactly as ISO 20022 publishes them, so surely a valid URI
# (the parser checks the URI of an ``xmlns`` and reports a bad one; an inert one it would not).
_PLAIN_CAMT_NS = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:camt\.05[234]\.\d{3}\.\d{2}")
_HEAD = 4096
_SWEEP = 64  # cleared entries left in the tree before they are unlinked (memory stays flat)


class _HeadRewritten:
    """A binary stream: ``head`` (rewritten bytes) then the rest of ``rest``, for ``iterparse``.

    Supports what :func:`edi.xmlsafe.iterparse` and lxml use: ``read``, ``tell``, ``seek`` back
    into the head (the DOCTYPE check reads the head and rewinds), and ``name`` (lxml's URL).
    """

    def __init__(self, head: bytes, rest: IO[bytes], name: str | None) -> None:
        self._head, self._rest, self._pos = head, rest, 0
        if name is not None:
            self.name = name

    def read(self, size: int = -1) -> bytes:
        pos = self._pos
        if pos < len(self._head):
            chunk = self._head[pos:] if size < 0 else self._head[pos:pos + size]
        else:
            chunk = self._rest.read(size)
        self._pos = pos + len(chunk)
        return chunk

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence != 0 or not 0 <= pos <= len(self._head) or self._pos > len(self._head):
            raise io.UnsupportedOperation("can only rewind into the first bytes")
        self._pos = pos
        return pos


def _without_default_namespace(head: bytes) -> tuple[bytes, str] | None:
    """``head`` with the document element's default namespace declaration made inert, and that
    namespace; None when there is nothing to do safely.

    Every element of a camt file is in the default namespace, and lxml builds each ``tag`` as
    ``"{urn:iso:std:iso:20022:tech:xsd:camt.053.001.08}Name"`` on every access: most of what
    walking an entry costs. Renaming the ``xmlns`` attribute of the root to ``xmlnz`` (same
    length: lines and columns of every message stay put) leaves the elements without a
    namespace, so ``tag`` is the bare local name (the root's namespace is returned instead).
    Only the namespace name changes: texts, attributes, lines and the parser's protections are
    the same (a DOCTYPE makes this a no-op, and such a file is refused anyway).

    Done only when nothing else can differ: the namespace is written exactly as published
    (``_PLAIN_CAMT_NS``: no reference, no white space to normalise, a URI the parser accepts),
    declared once, on an unprefixed root (the default namespace is the root's own), and no
    ``xmlnz`` attribute exists. Prefixed elements (``<c:Ntry>``) keep their namespace and are
    read as before, through ``_LN``.

    >>> ns = b"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
    >>> _without_default_namespace(b'<?xml version="1.0"?><Document xmlns="' + ns + b'" a="1">')[0]
    b'<?xml version="1.0"?><Document xmlnz="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08" a="1">'
    >>> _without_default_namespace(b'<Document xmlns:c="' + ns + b'">') is None
    True
    """
    m = _ROOT_START.match(head)
    if m is None or b":" in m.group(1):  # a prefixed root is not in the default namespace
        return None
    found: tuple[int, bytes] | None = None
    for a in _ATTRIBUTE.finditer(head, m.start(2), m.end(2)):
        name = a.group(1)
        if name == b"xmlnz" or (name == b"xmlns" and found is not None):  # the parser's error stays its own
            return None
        if name == b"xmlns":
            found = (a.start(1), a.group(2) if a.group(2) is not None else a.group(3))
    if found is None:
        return None
    at, value = found
    if not _PLAIN_CAMT_NS.fullmatch(value):
        return None
    return head[:at] + b"xmlnz" + head[at + 5:], value.decode("ascii")


def _prepare(src: str | IO[bytes], source: Source, doc_id: str) -> tuple[str | IO[bytes], str | None, IO[bytes] | None]:
    """``(what to give iterparse, root namespace made inert or None, file to close or None)``.

    Paths and in-memory documents go through :func:`_without_default_namespace`; file objects
    of the caller are left untouched (their position and errors stay theirs).
    """
    if isinstance(src, str):
        fh: IO[bytes] = open(src, "rb")
        name: str | None = src
    elif isinstance(src, io.BytesIO) and src is not source:
        fh, name = src, None
    else:
        return src, None, None
    head = fh.read(_HEAD)
    rewritten = _without_default_namespace(head)
    if rewritten is None:
        return _HeadRewritten(head, fh, name), None, fh
    return _HeadRewritten(rewritten[0], fh, name), rewritten[1], fh


def _stream(source: Source, document_id: str | None) -> Iterator[tuple[BankStatement, list[BankEntry] | None]]:
    """Yield ``(header, entries of one Ntry)`` per Ntry and ``(header, None)`` at each statement end."""
    src, doc_id = _open(source, document_id)
    fmt = message = container = stmt_tag = None
    group: dict[str, Any] = {}
    header: BankStatement | None = None
    statements = 0
    tags = ("{*}GrpHdr", "{*}Stmt", "{*}Rpt", "{*}Ntfctn", "{*}Ntry")  # "end" events only
    to_close: IO[bytes] | None = None
    stmt_el: etree._Element | None = None  # the last parent checked to be a statement element
    swept = 0
    try:
        reader, inert_ns, to_close = _prepare(src, source, doc_id)
        for _event, el in xmlsafe.iterparse(reader, doc_id, events=("end",), tag=tags):
            if fmt is None:
                root = el.getroottree().getroot()
                if el.getroottree().docinfo.doctype:
                    raise InvalidFormat("XML with a DOCTYPE is refused (entity expansion / XXE risk)", document_id=doc_id)
                if root.tag.startswith("{"):
                    ns = root.tag[1:].partition("}")[0]
                else:
                    ns = inert_ns or ""
                try:
                    message, version = detect(ns)
                except InvalidFormat:
                    raise InvalidFormat(f"root namespace {ns!r} is not camt.052/053/054", document_id=doc_id,
                                        line=root.sourceline) from None
                if version not in SUPPORTED_VERSIONS:
                    raise InvalidFormat(f"{message}.{version} is not supported (001.02 to 001.13 are)",
                                        document_id=doc_id, line=root.sourceline)
                container, stmt_tag = _MESSAGES[message[-3:]]
                fmt = f"{message}.{version}"
                first = next((c for c in root if isinstance(c.tag, str)), None)  # comments skipped
                if _LN[root.tag] != "Document" or first is None or _LN[first.tag] != container:
                    raise InvalidFormat(f"expected Document/{container} for {fmt}", document_id=doc_id,
                                        line=root.sourceline)
            name = _LN[el.tag]
            if name == "Ntry":
                parent = el.getparent()
                if parent is not stmt_el:
                    if parent is None or _LN[parent.tag] != stmt_tag:
                        continue  # not a statement entry (should not happen in valid camt)
                    stmt_el = parent
                if header is None:
                    header = _header(parent, fmt, group, el)
                entries = _entries(el)
                if not header.currency:
                    header.currency = entries[0].currency
                el.clear(keep_tail=False)
                # Earlier siblings (cleared entries, the statement header) go by batches: one
                # slice deletion every _SWEEP entries instead of one per entry.
                swept += 1
                if swept >= _SWEEP:
                    swept = 0
                    del parent[:parent.index(el)]
                yield header, entries
            elif name == stmt_tag:
                if header is None:
                    header = _header(el, fmt, group, None)
                statements += 1
                yield header, None
                header = None
                parent = el.getparent()
                el.clear(keep_tail=False)
                if parent is not None:
                    while el.getprevious() is not None:
                        del parent[0]
            elif name == "GrpHdr":
                for c in el:
                    n = _LN[c.tag]
                    if n == "MsgId":
                        group["msg_id"] = _text(c)
                    elif n == "CreDtTm":
                        group["created"] = _datetime(c, "GrpHdr/CreDtTm")
                el.clear(keep_tail=False)
    except _Bad as bad:
        cls = InvalidChecksum if bad.checksum else InvalidFormat
        raise cls(bad.msg, document_id=doc_id, line=bad.line, field=bad.field) from None
    except RejectedDocument:
        raise
    except (etree.LxmlError, ValueError, TypeError, LookupError, ArithmeticError) as exc:
        raise InvalidFormat(f"unreadable camt document: {exc}", document_id=doc_id) from None
    finally:
        if to_close is not None:
            to_close.close()
        if isinstance(src, io.BytesIO) and src is not source:
            src.close()
    if fmt is None:
        raise InvalidFormat("no camt statement, report or notification found", document_id=doc_id)
    if statements == 0:
        raise InvalidFormat(f"{fmt} document has no {stmt_tag}", document_id=doc_id, field=f"{container}/{stmt_tag}")


def iter_entries(source: Source, *, document_id: str | None = None) -> Iterator[tuple[BankStatement, BankEntry]]:
    """Stream ``(statement_header, entry)`` pairs from a camt file in constant memory.

    :param source: a path, a seekable binary file object, bytes, or XML text (a ``str`` starting
        with ``<``).
    :param document_id: the name used in error messages (defaults to the path).

    ``statement_header`` is a :class:`BankStatement` whose ``entries`` list stays empty; the same
    object comes with every entry of that statement. Balances are checked by
    :func:`edi.bank.check_statement` on :func:`parse` output, not here: a malformed element
    raises :class:`InvalidFormat` when it is reached, after earlier pairs were yielded.
    """
    for header, entries in _stream(source, document_id):
        if entries:
            for e in entries:
                yield header, e


def parse(data: Source, *, document_id: str | None = None) -> list[BankStatement]:
    """Every statement (report, notification) of a camt file, entries included."""
    out: list[BankStatement] = []
    current: BankStatement | None = None
    for header, entries in _stream(data, document_id):
        if header is not current:
            current = header
            out.append(header)
        if entries:
            header.entries.extend(entries)
    return out


def validate(data: Source, *, document_id: str | None = None) -> None:
    """Parse and check every statement (balances, currencies); raise a RejectedDocument subclass."""
    from edi.bank import check_statement

    for stmt in parse(data, document_id=document_id):
        check_statement(stmt, document_id=document_id or _open_name(data))


def _open_name(data: Source) -> str:
    if isinstance(data, (bytes, bytearray)):
        return "<bytes>"
    if isinstance(data, str) and data.lstrip().startswith("<"):
        return "<text>"
    if isinstance(data, (str, os.PathLike)):
        return os.fspath(data)
    name = getattr(data, "name", None)
    return name if isinstance(name, str) else "<stream>"
