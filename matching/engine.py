"""Cash application ("lettrage"): allocate bank credits to open receivables.

Pure library code: DataFrames and :class:`~schemas.statement.BankEntry` objects in,
:class:`~matching.model.CashApplication` out. No database, no Airflow.

How a credit is read, strongest evidence first:

1. structured creditor references (ISO 11649 RF, check digits verified) and referred document
   numbers (camt ``RfrdDocInf``);
2. invoice and credit-note numbers in the free text. The text is cut into alphanumeric runs and
   every run of up to four neighbours is glued (:func:`matching.normalize.text_grams`); those
   keys are looked up in an index built from the ledger's REAL open numbers
   (:func:`matching.normalize.number_keys`: compact form, padding dropped, year on two digits,
   digits without prefix). Sequence-only keys (``123``) are trusted only among the payer's own
   open items; a one-edit typo only among items of the exact amount or of the payer;
3. the payer's identity (IBAN, then name and aliases, see :mod:`matching.names`);
4. amounts: exact single or multi-invoice sums (bounded subset-sum over the customer's open
   items, credit notes netted), short payments explained as early-payment discount or bank
   charges (written off), partial payments, overpayments (excess left unapplied).

Items are consumed in booking order, so a second payment of an item already settled in the run
is flagged as a duplicate instead of being allocated again; only ``auto`` allocations consume
(a suggestion waits for a person). Debits and non-receipt credits (interest, fees: bank
transaction domains in :attr:`MatchConfig.skip_domains`) are left alone.

Every allocation carries a confidence, the rule that produced it (``reference``,
``short_number``, ``typo``, ``amount``, ``amount_combination``, with ``+netting``,
``+amount``, ``+early_payment_discount``, ``+bank_charges``, ``+partial`` suffixes) and a
sentence for the finance team. Confidence at or above :attr:`MatchConfig.auto_threshold` is
``auto``. Combinations found by amount alone are only ``auto`` when a coincidence is unlikely
(:func:`chance_hits`).

Large runs: :func:`matching.io.load_lines` parses statements in worker processes and hands
over compact line tuples plus hashed text keys; :class:`Engine` looks every key up at once with
numpy, settles unambiguous exact references in one vectorised pass (:meth:`Engine._fast`) and
decides the remaining lines one by one in booking order.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import sys
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from stdnum import iso11649

from edi.nogc import paused_gc
from matching import model as M
from matching.columns import StrColumn, int_column, trim_heap
from matching.ledger_keys import HashBits, key_table, mix, mix_one, tail_tables
from matching.names import NameIndex
from matching.normalize import compact, fold, iban_compact, ledger_keys, text_grams, within_one_edit
from schemas.statement import BankEntry

KIND_RF, KIND_STRONG, KIND_DIGITS, KIND_WEAK_IBAN, KIND_WEAK = 0, 1, 2, 3, 4
_EVIDENCE = {KIND_RF: 0.99, KIND_STRONG: 0.98, KIND_DIGITS: 0.96, KIND_WEAK_IBAN: 0.95, KIND_WEAK: 0.93}
log = logging.getLogger(__name__)
_RF_TEXT = re.compile(r"RF\d\d(?:\s?[A-Z0-9]){1,21}")
_SHAPE = re.compile(r"^([A-Z]*)([0-9]+)$")
_PLAIN_AMOUNT = re.compile(r"-?\d+\.\d\d")
PARALLEL_MIN_LINES = 20_000  # below this the line-by-line pass is not worth forking for
_SCALAR_LOOKUP = 48  # (customer, gram) pairs up to which a tail lookup goes one pair at a time
_TYPO_SCAN = 24  # items of one amount compared one by one in a typo search; more go through an index


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


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _fmt(cents: int, ccy: str) -> str:
    sign = "-" if cents < 0 else ""
    c = abs(cents)
    return f"{sign}{c // 100:,}.{c % 100:02d} {ccy}"


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


def is_candidate(line: Line, config: M.MatchConfig) -> bool:
    """A credit that may be a customer receipt (debits and interest-like domains are not)."""
    if line.cents <= 0:
        return False
    dom = line.tx_code.split("/", 1)[0] if line.tx_code else ""
    return dom not in config.skip_domains


# ---------------------------------------------------------------------------------------------
# ledger index


class Ledger:
    """Customers and open items, indexed for matching. Build once per run."""

    #: the open-item columns it reads (not ``amount_total``: an item is matched on what is still open)
    OPEN_ITEM_COLUMNS = ("invoice_id", "customer_id", "document_type", "invoice_number", "issue_date", "due_date",
                         "currency", "amount_open", "creditor_reference")

    def __init__(
        self,
        customers: pd.DataFrame,
        open_items: pd.DataFrame,
        *,
        learned: Any = None,
        config: M.MatchConfig | None = None,
    ) -> None:
        self.config = config or M.MatchConfig()
        cust = customers.fillna("")
        self.cust_ids: list[str] = cust["customer_id"].astype(str).tolist()
        self.cust_pos = {c: i for i, c in enumerate(self.cust_ids)}
        self.cust_names: list[str] = cust["name"].astype(str).tolist()
        # payer IBANs
        self.iban_to_cust: dict[str, set[int]] = defaultdict(set)
        for i, ibans in enumerate(cust["ibans"].astype(str).tolist()):
            for ib in ibans.split(";"):
                ib = iban_compact(ib)
                if ib:
                    self.iban_to_cust[ib].add(i)
        # names and aliases
        aliases = cust["aliases"].astype(str).tolist() if "aliases" in cust else [""] * len(self.cust_ids)
        self.names = NameIndex(
            ((c, [n] + [a for a in al.split(";") if a]) for c, n, al in zip(self.cust_ids, self.cust_names, aliases, strict=False)),
            min_score=self.config.name_min_score,
        )
        self.vat_to_cust: dict[str, int] = {}
        if "vat_id" in cust:
            for i, v in enumerate(cust["vat_id"].astype(str).tolist()):
                v = compact(v)
                if v:
                    self.vat_to_cust[v] = i
        if learned is not None:
            learned.apply_to(self)

        # open items
        oi = open_items
        self.n = n = len(oi)
        item_ids: list[str] = oi["invoice_id"].astype(str).tolist()
        numbers: list[str] = oi["invoice_number"].fillna("").astype(str).tolist()
        # per-value work on the distinct values only (categorical columns stay cheap)
        self.item_cust = _by_value(oi["customer_id"], lambda c: self.cust_pos.get(c, -1), np.int64)
        self.is_cn = (_by_value(oi["document_type"], lambda t: t.lower() != "invoice", bool)
                      if "document_type" in oi else np.zeros(n, bool))
        self.open_c = _cents_series(oi["amount_open"])
        # credit notes are negative; a positive "credit note" is still treated as one
        ccy_values = sorted({str(c) for c in pd.unique(oi["currency"])})
        self.ccy_codes = {c: i for i, c in enumerate(ccy_values)}
        self.item_ccy = _by_value(oi["currency"], lambda c: self.ccy_codes.get(c, -1), np.int64)
        no_dates = pd.Series([""] * n)
        issue_col = oi["issue_date"] if "issue_date" in oi else no_dates
        due_col = oi["due_date"] if "due_date" in oi else no_dates
        self.issue_day = _by_value(issue_col, _ordinal, np.int64)
        self.due_day = _by_value(due_col, _ordinal, np.int64)
        years_arr = _by_value(issue_col, lambda d: int(d[:4]) if d[:4].isdigit() else 0, np.int64)
        years = years_arr.tolist()
        # years of the ledger's documents: a bare "2025" in a text is a date part, not a sequence number
        self.year_tokens = {str(y) for y in set(years) if y}
        rfs = oi["creditor_reference"].fillna("").astype(str).tolist() if "creditor_reference" in oi else [""] * n

        # text keys -> items, as a sorted table of 64-bit hashes (vectorised, see matching.ledger_keys)
        kh, ki, kk = key_table(numbers, np.asarray(years, dtype=np.int64))
        rf_s = pd.Series(rfs, dtype=object)
        has_rf = (rf_s != "").to_numpy()
        rf_items = np.nonzero(has_rf)[0]
        rf_keys = [compact(r) for r in rf_s[has_rf].tolist()]
        rh = np.fromiter(map(hash, rf_keys), dtype=np.int64, count=len(rf_keys))
        hs = [kh, rh]
        its = [ki, rf_items.astype(np.int64)]
        kinds = [kk, np.full(len(rh), KIND_RF, dtype=np.int8)]
        shapes: set[tuple[str, int]] = set()
        digit_lens: set[int] = set()
        step = max(1, n // 50_000)
        for num in numbers[::step]:
            m = _SHAPE.match(compact(num))
            if m and m.group(1):
                shapes.add((m.group(1), len(m.group(2))))
        self._weak_len: dict[int, int] = {}
        h = np.concatenate(hs)
        order = np.argsort(h, kind="stable")
        self.key_h = h[order]
        self.key_item = np.concatenate(its)[order]
        self.key_kind = np.concatenate(kinds)[order]
        self.key_bits = HashBits(self.key_h)
        self.shapes = shapes
        self.digit_lens = digit_lens
        self._years = np.asarray(years, dtype=np.int32)

        # mirrors for fast scalar access in the per-line code. Integer columns are memoryviews of
        # the arrays and strings one buffer (matching.columns): no per-item objects, so less memory,
        # and forked workers reading them copy none of the parent's pages. Booleans and currency
        # codes stay lists: their values are the interpreter's shared singletons.
        self.cust_l: Sequence[int] = int_column(self.item_cust)
        self.open_l: Sequence[int] = int_column(self.open_c)
        self.cn_l: list[bool] = self.is_cn.tolist()
        self.ccy_l: list[int] = self.item_ccy.tolist()
        # items per customer
        order = np.argsort(self.item_cust, kind="stable")
        self._by_cust_order = order
        sc = self.item_cust[order]
        self._cust_start = np.searchsorted(sc, np.arange(len(self.cust_ids)), "left")
        self._cust_end = np.searchsorted(sc, np.arange(len(self.cust_ids)), "right")
        # items per (currency, amount)
        ak = self.open_c * 16 + self.item_ccy
        order = np.argsort(ak, kind="stable")
        self._amt_list = int_column(ak[order])
        self._amt_item_list = int_column(order)
        # sequence-only keys and digit tails of every number, keyed by (key, customer): one sorted
        # table each, built once with numpy (matching.ledger_keys.tail_tables)
        (wh, wi), (sh, si) = tail_tables(numbers)
        self.item_ids: Sequence[str] = StrColumn(item_ids)
        self.numbers: Sequence[str] = StrColumn(numbers)
        del item_ids, numbers
        self._weak_k, self._weak_i = _table(mix(wh, self.item_cust[wi]), wi)
        self._suf_k, self._suf_i = _table(mix(sh, self.item_cust[si]), si)
        self._weak_bits, self._suf_bits = HashBits(self._weak_k), HashBits(self._suf_k)
        # the same tables as memoryviews, for lookups of a few keys with Python ints
        self._weak_view, self._suf_view = memoryview(self._weak_k), memoryview(self._suf_k)
        self._keys_cache: dict[int, tuple[str, ...]] = {}
        self._near_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    # -- lookups ----------------------------------------------------------------------------
    def customer_items(self, c: int) -> np.ndarray:
        if c < 0 or c >= len(self.cust_ids):
            return np.empty(0, dtype=np.int64)
        return self._by_cust_order[self._cust_start[c] : self._cust_end[c]]

    def items_with_amount(self, cents: int, ccy: int) -> list[int]:
        k = cents * 16 + ccy
        keys = self._amt_list
        lo = bisect_left(keys, k)
        if lo == len(keys) or keys[lo] != k:
            return []
        return self._amt_item_list[lo : bisect_right(keys, k, lo)].tolist()  # type: ignore[attr-defined]

    def _tail_lookup(self, keys: np.ndarray, items: np.ndarray, bits: HashBits, view: memoryview,
                     custs: Sequence[int], grams: Sequence[str]) -> list[tuple[int, int]]:
        """``(item, gram position)`` of every item of ``custs`` one of whose tail keys is a gram,
        customer by customer, gram by gram (the order a per-customer dictionary walk would give)."""
        # tail keys are digit strings: other grams cannot match
        pos = [j for j, g in enumerate(grams) if g.isdigit()]
        if not custs or not pos or not len(keys):
            return []
        ng = len(pos)
        if ng * len(custs) <= _SCALAR_LOOKUP:
            return self._tail_lookup_small(view, items, bits, custs, [(j, hash(grams[j])) for j in pos])
        gh = np.fromiter((hash(grams[j]) for j in pos), dtype=np.int64, count=ng)
        ca = np.fromiter(custs, dtype=np.int64, count=len(custs))
        q = mix(np.tile(gh, len(ca)), np.repeat(ca, ng))
        # most pairs are absent: a bit per key hash rules them out with one memory read each
        sel = np.nonzero(bits.contains(q))[0]
        if not len(sel):
            return []
        qs = q[sel]
        lo = np.searchsorted(keys, qs, "left")
        found = keys[np.minimum(lo, len(keys) - 1)] == qs
        sel, lo_l = sel[found], lo[found].tolist()
        hi = np.searchsorted(keys, q[sel], "right").tolist()
        out: list[tuple[int, int]] = []
        for j, a, b in zip(sel.tolist(), lo_l, hi, strict=True):
            g = pos[j % ng]
            out.extend((it, g) for it in items[a:b].tolist())
        return out

    @staticmethod
    def _tail_lookup_small(view: memoryview, items: np.ndarray, bits: HashBits, custs: Sequence[int],
                           grams: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """:meth:`_tail_lookup` for a few (customer, gram) pairs, one at a time with Python ints (the
        same pairs in the same order; numpy's fixed cost per call dominates at this size)."""
        n = len(view)
        out: list[tuple[int, int]] = []
        for c in custs:
            for j, h in grams:
                k = mix_one(h, c)
                if not bits.has(k):
                    continue
                lo = bisect_left(view, k)
                if lo < n and view[lo] == k:
                    out.extend((it, j) for it in items[lo : bisect_right(view, k, lo)].tolist())
        return out

    def weak_lookup(self, custs: Sequence[int], grams: Sequence[str]) -> list[tuple[int, int]]:
        """Items of ``custs`` whose sequence-only number (:func:`~matching.normalize.weak_keys`)
        is one of ``grams``: ``(item, gram position)`` pairs."""
        return self._tail_lookup(self._weak_k, self._weak_i, self._weak_bits, self._weak_view, custs, grams)

    def suffix_lookup(self, custs: Sequence[int], grams: Sequence[str]) -> list[tuple[int, int]]:
        """Items of ``custs`` whose last digit group ends with one of ``grams`` (4 digits or more,
        :func:`~matching.ledger_keys.suffix_keys`): ``(item, gram position)`` pairs."""
        return self._tail_lookup(self._suf_k, self._suf_i, self._suf_bits, self._suf_view, custs, grams)

    def item_keys(self, i: int) -> tuple[str, ...]:
        """The typo-comparable keys of item ``i`` (cached; a tuple: a third of a set's memory)."""
        s = self._keys_cache.get(i)
        if s is None:
            if len(self._keys_cache) >= 500_000:
                self._keys_cache.clear()
            strong, digits = ledger_keys(self.numbers[i], int(self._years[i]) or None)
            s = tuple(sorted(set(strong) | {d for d in digits if len(d) >= 5}))
            self._keys_cache[i] = s
        return s

    def near_items(self, cents: int, ccy: int, near: set[str]) -> list[int]:
        """Items of exactly this amount one of whose typo-length keys, or a string one deletion
        away from one, is in ``near`` (hash-compared: a collision only adds a candidate that the
        caller's exact comparison then drops). Two strings one edit apart always share such a
        string: a substitution or a swap of neighbours deletes to the same string, an insertion
        or a deletion is one. The index of each frequent amount is built on first use."""
        k = cents * 16 + ccy
        got = self._near_cache.get(k)
        if got is None:
            hs: list[int] = []
            its: list[int] = []
            for i in self.items_with_amount(cents, ccy):
                for key in self.item_keys(i):
                    if len(key) >= self.config.min_typo_len:
                        around = {key, *(key[:j] + key[j + 1 :] for j in range(len(key)))}
                        hs.extend(map(hash, around))
                        its.extend([i] * len(around))
            h = np.asarray(hs, dtype=np.int64)
            order = np.argsort(h, kind="stable")
            got = (h[order], np.asarray(its, dtype=np.int64)[order])
            self._near_cache[k] = got
        keys, items = got
        q = np.fromiter(map(hash, near), dtype=np.int64, count=len(near))
        lo = np.searchsorted(keys, q, "left")
        hi = np.searchsorted(keys, q, "right")
        out: set[int] = set()
        for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
            if b > a:
                out.update(items[a:b].tolist())
        return sorted(out)

    def lookup_hashes(self, hashes: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All (owner, item, kind) whose key hash equals one of ``hashes``."""
        # most text grams are words, not numbers: one bit read rules them out before the search
        keep = np.nonzero(self.key_bits.contains(hashes))[0]
        hashes, owners = hashes[keep], owners[keep]
        lo, hi = _search_sorted_queries(self.key_h, hashes)
        cnt = hi - lo
        sel = np.nonzero(cnt)[0]
        if len(sel) == 0:
            e = np.empty(0, dtype=np.int64)
            return e, e, e.astype(np.int8)
        c = cnt[sel]
        rep = np.repeat(sel, c)
        first = np.repeat(np.cumsum(c) - c, c)
        pos = lo[rep] + (np.arange(len(rep)) - first)
        return owners[rep], self.key_item[pos], self.key_kind[pos]

    def name_customers(self, name: str | None) -> list[int]:
        """Positions of the customers a bank-side name designates, in ascending order.

        The name index answers with a set of customer ids (strings), whose iteration order
        changes with the interpreter's string-hash seed; the sets built from it here are
        iterated later (the customers' open items are pooled in that order), so they are
        filled in a fixed order: otherwise two runs on the same data could differ."""
        pos = self.cust_pos
        return sorted(pos[c] for c in self.names.lookup(name) if c in pos)

    def payer_customers(self, line: Line) -> tuple[set[int], str]:
        """Customers the payer may be, and how they were found ('iban', 'name', '')."""
        if line.iban:
            c = self.iban_to_cust.get(line.iban)
            if c:
                return set(c), "iban"
        found: set[int] = set()
        for nm in (line.name, line.ultimate):
            if nm:
                found.update(self.name_customers(nm))
        return found, ("name" if found else "")


def _search_sorted_queries(table: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``searchsorted(table, q, 'left')`` and ``'right'``, in the order of ``q``, searched in
    ascending order of ``q``: numpy's binary search then walks the table forward and stays in
    cache (millions of random queries into a table of millions: about ten times faster, with
    the sort)."""
    order = np.argsort(q, kind="stable")
    qs = q[order]
    lo = np.empty(len(q), dtype=np.intp)
    hi = np.empty(len(q), dtype=np.intp)
    lo[order] = np.searchsorted(table, qs, "left")
    hi[order] = np.searchsorted(table, qs, "right")
    return lo, hi


def _table(keys: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``keys`` sorted (items in ascending order within a key), with ``items`` alongside."""
    order = np.lexsort((items, keys))
    return keys[order], items[order].astype(np.int64)


def _by_value(col: pd.Series, fn: Any, dtype: Any) -> np.ndarray:
    """``fn`` applied to each distinct value of ``col`` (as text, '' for missing), spread back."""
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    table = np.asarray([fn(str(u)) for u in uniques] + [fn("")], dtype=dtype)
    return table[codes]  # code -1 (missing) picks the last entry


def _ordinal(iso: str) -> int:
    try:
        return dt.date.fromisoformat(iso[:10]).toordinal()
    except ValueError:
        return 0


_DAY_CACHE: dict[str, int] = {}


def _day(iso: str) -> int:
    """Day number of an ISO date (0 when empty or unreadable)."""
    d = _DAY_CACHE.get(iso)
    if d is None:
        try:
            d = dt.date.fromisoformat(iso[:10]).toordinal()
        except ValueError:
            d = 0
        _DAY_CACHE[iso] = d
    return d


def _cents_series(s: pd.Series) -> np.ndarray:
    """Decimal strings to int64 cents, exactly (no float): ``"-150.5"`` -> ``-15050``."""
    plain = _PLAIN_AMOUNT.fullmatch  # "1234.56": the digits are the cents (one int() per value)

    def cents(v: Any) -> int:
        t = str(v).strip()
        if plain(t):
            return int(t.replace(".", ""))
        return to_cents(t) if t else 0

    return np.fromiter(map(cents, s.tolist()), dtype=np.int64, count=len(s))


# ---------------------------------------------------------------------------------------------
# subset sum


_BITS: dict[int, np.ndarray] = {}
_POP: dict[int, np.ndarray] = {}


def _bits(h: int) -> np.ndarray:
    """All 2**h subsets of h items as a 0/1 matrix (cached)."""
    b = _BITS.get(h)
    if b is None:
        b = ((np.arange(1 << h, dtype=np.int64)[:, None] >> np.arange(h, dtype=np.int64)) & 1).astype(np.int64)
        _BITS[h] = b
        _POP[h] = b.sum(axis=1)
    return b


def subset_sum_mitm(values: Sequence[int], target: int, max_k: int) -> list[list[int]]:
    """Exhaustive meet-in-the-middle subset sum for up to 26 values (any sign): up to two
    distinct index subsets of at most ``max_k`` values adding up to ``target``.

    >>> subset_sum_mitm([500, 300, 210, 120, -80], 540, 4)
    [[0, 3, 4]]
    """
    m = len(values)
    if m == 0:
        return []
    h = m // 2
    v = np.asarray(values, dtype=np.int64)
    ba, bb = _bits(h), _bits(m - h)
    sa, sb = ba @ v[:h], bb @ v[h:]
    ka, kb = _POP[h], _POP[m - h]
    order = np.argsort(sb, kind="stable")
    sbs = sb[order]
    need = target - sa
    lo = np.searchsorted(sbs, need, "left")
    hi = np.searchsorted(sbs, need, "right")
    sols: list[list[int]] = []
    for ia in np.nonzero(hi > lo)[0].tolist():
        for jb in order[lo[ia]:hi[ia]].tolist():
            k = int(ka[ia] + kb[jb])
            if k == 0 or k > max_k:
                continue
            idx = [j for j in range(h) if (ia >> j) & 1] + [h + j for j in range(m - h) if (jb >> j) & 1]
            sols.append(idx)
            if len(sols) >= 2:
                return sols
    return sols


def chance_hits(values: Sequence[int], target: int, max_k: int) -> float:
    """Expected number of subsets (of at most ``max_k`` values) that add up to ``target`` to the
    cent by pure chance, under a normal approximation of subset sums. A unique solution is only
    evidence when this is small: many items or many allowed terms make coincidences likely.

    >>> chance_hits([1000, 2000, 3000], 3000, 2) < chance_hits(list(range(1000, 25000, 1000)), 12000, 8)
    True
    """
    m = len(values)
    if m == 0:
        return 0.0
    v = np.asarray(values, dtype=np.float64)  # statistics only, never an amount
    mu, sd = float(v.mean()), float(v.std()) + 1.0
    e = 0.0
    for j in range(1, min(max_k, m) + 1):
        s = sd * math.sqrt(j) + 1.0
        z = (target - j * mu) / s
        e += math.comb(m, j) * math.exp(-0.5 * z * z) / (s * math.sqrt(2 * math.pi))
    return e


def subset_sum(values: Sequence[int], target: int, max_k: int, budget: int) -> tuple[list[list[int]], bool]:
    """Up to two index subsets of ``values`` (cents; negatives allowed) adding up to ``target``.

    Positive values are searched depth-first in decreasing order with sum bounds; every small
    combination of negative values (credit notes, at most 3) is tried around it. Returns the
    solutions (at most 2) and whether the search finished inside ``budget`` nodes.

    >>> subset_sum([500, 300, 210, 120], 620, 4, 10_000)
    ([[0, 3]], True)
    >>> subset_sum([500, 300, -80], 720, 4, 10_000)
    ([[0, 1, 2]], True)
    """
    if 12 <= len(values) <= 24:
        return subset_sum_mitm(values, target, max_k), True
    pos = sorted((v, i) for i, v in enumerate(values) if v > 0)[::-1]
    neg = [(v, i) for i, v in enumerate(values) if v < 0][:8]
    pv = [v for v, _ in pos]
    n = len(pv)
    suffix = [0] * (n + 1)
    for j in range(n - 1, -1, -1):
        suffix[j] = suffix[j + 1] + pv[j]
    # window[k][j]: sum of the k largest values from j on (pv is sorted decreasing)
    window = [[0] * (n + 1) for _ in range(max_k + 1)]
    for k in range(1, max_k + 1):
        for j in range(n - 1, -1, -1):
            window[k][j] = pv[j] + window[k - 1][j + 1]
    sols: list[list[int]] = []
    nodes = 0
    complete = True

    neg_sets: list[tuple[int, list[int]]] = [(0, [])]
    for a in range(len(neg)):
        neg_sets.append((neg[a][0], [neg[a][1]]))
        for b in range(a + 1, len(neg)):
            neg_sets.append((neg[a][0] + neg[b][0], [neg[a][1], neg[b][1]]))
            for c in range(b + 1, len(neg)):
                neg_sets.append((neg[a][0] + neg[b][0] + neg[c][0], [neg[a][1], neg[b][1], neg[c][1]]))

    # the search receives itself as ``go``: a closure calling itself by name would refer to itself
    # through its own cell, a reference cycle keeping this call's lists alive until the cyclic
    # collector runs (Engine.run pauses it); this way reference counting frees all on return
    def dfs(go: Callable[..., None], start: int, rem: int, k: int, chosen: list[int], extra: list[int]) -> None:
        nonlocal nodes, complete
        if len(sols) >= 2 or not complete:
            return
        for j in range(start, len(pv)):
            nodes += 1
            if nodes > budget:
                complete = False
                return
            v = pv[j]
            if v > rem:
                continue
            if window[k][j] < rem:
                return
            if v == rem:
                sols.append(sorted(chosen + [pos[j][1]] + extra))
                if len(sols) >= 2:
                    return
                continue
            if k > 1:
                chosen.append(pos[j][1])
                go(go, j + 1, rem - v, k - 1, chosen, extra)
                chosen.pop()
                if len(sols) >= 2 or not complete:
                    return

    for nsum, nidx in neg_sets:
        t = target - nsum
        k = max_k - len(nidx)
        if t == 0 and nidx:
            sols.append(sorted(nidx))
            if len(sols) >= 2:
                break
            continue
        if t <= 0 or k <= 0:
            continue
        dfs(dfs, 0, t, k, [], nidx)
        if len(sols) >= 2 or not complete:
            break
    uniq: list[list[int]] = []
    for s in sols:
        if s not in uniq:
            uniq.append(s)
    return uniq, complete


# ---------------------------------------------------------------------------------------------
# the engine


_HOW = {
    "reference": "quoted in the payment reference",
    "short_number": "quoted in a shortened form, among the payer's open items",
    "typo": "quoted with a one-character typo",
    "amount": "identified from the payer and the amount",
    "amount_combination": "identified from the payer and the amount",
}


class Engine:
    """Decide allocations for a sequence of lines against one :class:`Ledger`."""

    def __init__(self, ledger: Ledger, config: M.MatchConfig | None = None, *, workers: int = 1) -> None:
        self.L = ledger
        self.cfg = config or ledger.config
        self.workers = workers  # > 1: the line-by-line pass speculates in forked processes (matching.parallel)
        self.parallel_stats: dict[str, int] | None = None  # lines, chunks, redecided (parallel pass only)
        self._fast_done: list[int] = []  # lines the vectorised pass settled in the last run
        self._used = bytearray(ledger.n)  # scalar access from Python ...
        self.consumed = np.frombuffer(self._used, dtype=np.bool_)  # ... and the same bytes for numpy
        self.paid_by: dict[int, str] = {}
        self.result = M.CashApplication()
        self._gram_line: Line | None = None
        self._gram_val: list[str] = []

    # -- public ---------------------------------------------------------------------------
    def run_loaded(self, loaded: list[Any]) -> M.CashApplication:
        """:meth:`run` on the ``[lines, key_hashes, key_owner]`` list of :func:`matching.io.load_lines`,
        emptying it so that the big key arrays are freed as soon as they are looked up."""
        lines = loaded.pop(0)
        box = [loaded.pop(0), loaded.pop(0)]
        return self.run(lines, box=box)

    @paused_gc
    def run(self, lines: Sequence[Line], key_hashes: np.ndarray | None = None, key_owner: np.ndarray | None = None,
            *, box: list[np.ndarray] | None = None) -> M.CashApplication:
        """Apply every line, in booking order. ``key_hashes``/``key_owner`` (line position) may be
        precomputed by :func:`line_keys` + ``hash``; otherwise they are computed here.

        The cyclic garbage collector is paused meanwhile: the pass makes no reference cycles
        (checked by ``test_pass_pauses_the_collector_and_makes_no_reference_cycles`` in
        ``tests/matching/test_parallel.py``, and for :func:`subset_sum` in ``test_engine.py``), and at a million lines the collector's
        full passes over the lines, the ledger and the growing results took about 7 % of the run."""
        cfg = self.cfg
        t0 = time.perf_counter()
        self._fast_done = []
        self.result.lines_total += len(lines)
        cand = [i for i, ln in enumerate(lines) if is_candidate(ln, cfg)]
        self.result.credit_lines += len(cand)
        if box is not None:
            key_hashes, key_owner = box.pop(0), box.pop(0)
        if key_hashes is None:
            hs: list[int] = []
            ow: list[int] = []
            for i in cand:
                for k in line_keys(lines[i]):
                    hs.append(hash(k))
                    ow.append(i)
            key_hashes = np.asarray(hs, dtype=np.int64)
            key_owner = np.asarray(ow, dtype=np.int64)
        assert key_owner is not None
        own, item, kind = self.L.lookup_hashes(key_hashes, key_owner)
        del key_hashes, key_owner
        if len(own) and cfg.fast_path:
            own, item, kind = self._fast(lines, own, item, kind)
            done = set(self._fast_done)
            cand = [i for i in cand if i not in done]
            if isinstance(lines, list):  # settled lines keep only what the outputs need (memory)
                for i in done:
                    ln = lines[i]
                    lines[i] = Line(ln.bank_ref, ln.cents, ln.currency, ln.booking_date, ln.name, "", "", ln.tx_code,
                                    (), (), (), "")
        hits: dict[int, dict[int, int]] = defaultdict(dict)
        if len(own):
            order = np.lexsort((kind, own))
            for o, it, kd in zip(own[order].tolist(), item[order].tolist(), kind[order].tolist(), strict=False):
                d = hits[o]
                if it not in d or kd < d[it]:
                    d[it] = kd
        # strongest evidence first: lines quoting open items settle them before amount-only guesses
        cand.sort(key=lambda i: (lines[i].booking_date, i not in hits, i))
        trim_heap()  # the key arrays and the pass's temporaries are gone (and workers may be forked)
        t1 = time.perf_counter()
        log.info("%d lines; references looked up and %d lines settled at once in %.1f s",
                 len(lines), len(self._fast_done), t1 - t0)
        in_parallel = False
        if self.workers > 1 and len(cand) >= PARALLEL_MIN_LINES:
            from matching.parallel import decide_in_parallel

            in_parallel = decide_in_parallel(self, lines, cand, hits, self.workers)
        if not in_parallel:
            for i in cand:
                self._apply(lines[i], hits.get(i, {}))
        log.info("%d lines decided one by one in %.1f s%s", len(cand), time.perf_counter() - t1,
                 f" ({self.workers} workers, {self.parallel_stats['redecided']} decided again)" if in_parallel and self.parallel_stats else "")
        return self.result

    def _fast(self, lines: Sequence[Line], own: np.ndarray, item: np.ndarray, kind: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Settle, all at once, the lines whose strong references name open items of one customer
        adding up exactly to the amount, when no earlier line names those items (vectorised; the
        same decision :meth:`_quick` takes line by line). Returns the hits of the other lines."""
        L = self.L
        self._fast_done = []
        # one row per (line, item), best (lowest) kind kept
        key = own * np.int64(L.n + 1) + item
        order = np.lexsort((kind, key))
        key, own, item, kind = key[order], own[order], item[order], kind[order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        own, item, kind = own[first], item[first], kind[first]
        line_ccy = np.fromiter((L.ccy_codes.get(lines[o].currency, -1) for o in own.tolist()), dtype=np.int64, count=len(own))
        same_ccy = L.item_ccy[item] == line_ccy
        # an item in another currency than the line's is never used for it (the line-by-line pass
        # drops those hits too): only same-currency hits count below
        so, si, sk = own[same_ccy], item[same_ccy], kind[same_ccy]
        # lines with a weak hit, or an item that an earlier line (in the line-by-line order: booking
        # date, then position) also names, or an item already consumed: not here. A later line
        # naming the same item finds it consumed either way.
        bad_line = np.zeros(len(lines), dtype=bool)
        bad_line[so[sk > KIND_DIGITS]] = True
        rank = self._order_rank(lines)
        first_namer = np.full(L.n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first_namer, si, rank[so])
        bad_line[so[rank[so] > first_namer[si]]] = True
        bad_line[so[self.consumed[si]]] = True
        ok = ~bad_line[so]
        o2, i2, k2 = so[ok], si[ok], sk[ok]
        if len(o2) == 0:
            return own, item, kind
        starts = np.r_[0, np.nonzero(o2[1:] != o2[:-1])[0] + 1]
        lids = o2[starts]
        total = np.add.reduceat(L.open_c[i2], starts)
        cmin = np.minimum.reduceat(L.item_cust[i2], starts)
        cmax = np.maximum.reduceat(L.item_cust[i2], starts)
        n_inv = np.add.reduceat((~L.is_cn[i2]).astype(np.int64), starts)
        kmax = np.maximum.reduceat(k2, starts)
        amounts = np.fromiter((lines[o].cents for o in lids.tolist()), dtype=np.int64, count=len(lids))
        good = (total == amounts) & (cmin == cmax) & (n_inv > 0)
        # an earlier line of exactly an item's amount may be its real payment (this one a duplicate):
        # leave those to the line-by-line pass, which goes in booking order
        good_set = set(lids[good].tolist())
        earliest: dict[int, str] = {}
        for i, ln in enumerate(lines):
            if ln.cents > 0 and i not in good_set:
                k = ln.cents * 16 + L.ccy_codes.get(ln.currency, 15)
                if k not in earliest or ln.booking_date < earliest[k]:
                    earliest[k] = ln.booking_date
        if earliest:
            item_key = L.open_c[i2] * 16 + L.item_ccy[i2]
            for j in np.nonzero(good)[0].tolist():
                day = lines[int(lids[j])].booking_date
                for k in item_key[starts[j] : starts[j + 1] if j + 1 < len(starts) else len(i2)].tolist():
                    e = earliest.get(k)
                    if e is not None and e <= day:
                        good[j] = False
                        break
        good_lines = set(lids[good].tolist())
        ends = np.r_[starts[1:], len(o2)]
        i2l = i2.tolist()
        for j in np.nonzero(good)[0].tolist():
            lid = int(lids[j])
            items = i2l[starts[j] : ends[j]]
            self._allocate(lines[lid], items, [L.open_l[i] for i in items], _EVIDENCE[int(kmax[j])],
                           "reference", "the amounts add up exactly", set())
        self._fast_done = sorted(good_lines)
        rest = ~np.isin(own, lids[good])
        return own[rest], item[rest], kind[rest]

    @staticmethod
    def _order_rank(lines: Sequence[Line]) -> np.ndarray:
        """Rank of every line in the line-by-line order among lines with references (booking date,
        then position)."""
        dates = np.array([ln.booking_date for ln in lines]) if len(lines) else np.empty(0, dtype="U10")
        order = np.argsort(dates, kind="stable")
        rank = np.empty(len(lines), dtype=np.int64)
        rank[order] = np.arange(len(lines), dtype=np.int64)
        return rank

    # -- one line -------------------------------------------------------------------------
    def _apply(self, ln: Line, hits: dict[int, int]) -> None:
        L = self.L
        ccy = L.ccy_codes.get(ln.currency, -1)
        found = {i: k for i, k in hits.items() if L.ccy_l[i] == ccy}
        if found and self._quick(ln, found):
            return
        payers, how = L.payer_customers(ln)
        # resolve keys shared by several items towards the payer
        if len(found) > 1 and payers:
            mine = {i: k for i, k in found.items() if L.cust_l[i] in payers}
            if mine and len(mine) < len(found):
                # keep other customers' items only when quoted by a strong key (third-party payer)
                found = {i: k for i, k in found.items() if i in mine or k == KIND_RF}
        if found and payers and all(L.cust_l[i] not in payers and k != KIND_RF for i, k in found.items()):
            # the quoted number is another customer's; the payer's own open items with those short
            # numbers and a consistent amount are the better reading ("297151" for FA2025-297151)
            own = self._weak_hits(ln, payers, ccy, exclude=set())
            kind = KIND_WEAK_IBAN if how == "iban" else KIND_WEAK
            own_total = sum(L.open_l[i] for i in own)
            if own and ((len(own) == 1 and self._explained(ln.cents, own_total)) or own_total == ln.cents
                        or (own_total < ln.cents and all(k == KIND_DIGITS for k in found.values()))):
                if self._with_references(ln, {i: kind for i in own}, payers, how, ccy, "short_number"):
                    return
        if found:
            if self._with_references(ln, found, payers, how, ccy, "reference"):
                return
        # no usable reference: sequence-only numbers among the payer's items, then typos
        grams = None
        if ln.texts or ln.docs:
            # customers the line may concern: the payer, the group behind its name, names quoted in the text
            concerned = set(payers)
            if len(concerned) < 4:
                for nm in (ln.name, ln.ultimate):
                    if nm:
                        concerned.update(L.name_customers(nm))
            grams = self._grams(ln)
            if not payers and len(concerned) < 4 and any(len(g) >= 3 and g.isdigit() for g in grams):
                for t in ln.texts:
                    concerned.update(L.name_customers(t))
            weak: dict[int, int] = {}
            best = 0
            years = L.year_tokens
            custs = list(concerned if len(concerned) <= 12 else payers)
            wgrams = [g for g in grams if len(g) >= self.cfg.min_weak_key_len and g not in years]
            for it, gi in L.weak_lookup(custs, wgrams):
                if L.ccy_l[it] == ccy and not L.cn_l[it]:
                    n = len(wgrams[gi])
                    weak[it] = max(weak.get(it, 0), n)
                    best = max(best, n)
            # keep the items matched by the longest quoted form (a stray "2" is not evidence)
            weak = {it: (KIND_WEAK_IBAN if how == "iban" and L.cust_l[it] in payers else KIND_WEAK)
                    for it, n in weak.items() if n == best}
            if weak and self._with_references(ln, weak, payers, how, ccy, "short_number"):
                return
            # last resort among quoted numbers: the tail of a longer sequence group (a payer writes
            # "24872" for F251224872); trusted only when the amount agrees or is explained
            if not weak:
                tail: set[int] = set()
                sgrams = [g for g in grams if len(g) >= 4 and g.isdigit() and g not in years]
                for it, _ in L.suffix_lookup(custs, sgrams):
                    if L.ccy_l[it] == ccy and not L.cn_l[it] and not self._used[it]:
                        tail.add(it)
                if len(tail) == 1:
                    it = next(iter(tail))
                    if self._explained(ln.cents, L.open_l[it]):
                        if self._with_references(ln, {it: KIND_WEAK}, payers, how, ccy, "short_number"):
                            return
        if ln.texts or ln.docs:
            if grams is None:
                grams = self._grams(ln)
            if self._typo(ln, grams, payers, how, ccy):
                return
        unknown = self._unknown_number(ln, grams)
        if payers and self._by_amount(ln, payers, how, ccy, unknown):
            return
        self._unapplied(ln, "no open item identified", payers)

    def _quick(self, ln: Line, found: dict[int, int]) -> bool:
        """The common case without payer lookup: strong keys, open items, amounts add up exactly."""
        L = self.L
        total = 0
        cust = -2
        for i, k in found.items():
            if k > KIND_DIGITS or self._used[i]:
                return False
            c = L.cust_l[i]
            if cust != -2 and c != cust:
                return False
            cust = c
            total += L.open_l[i]
        items = list(found)
        if total != ln.cents or all(L.cn_l[i] for i in items):
            return False
        evid = min(_EVIDENCE[k] for k in found.values())
        self._allocate(ln, items, [L.open_l[i] for i in items], evid, "reference", "the amounts add up exactly", set())
        return True

    def _free(self, its: np.ndarray) -> np.ndarray:
        """Mask of the items of ``its`` not consumed yet (the one vectorised read of the state:
        :mod:`matching.parallel` records it)."""
        return ~self.consumed[its]

    def _weak_hits(self, ln: Line, custs: set[int], ccy: int, exclude: set[int]) -> list[int]:
        """Open invoices of ``custs`` whose sequence-only number is quoted (longest form wins)."""
        L = self.L
        if not (ln.texts or ln.docs) or len(custs) > 3:
            return []
        grams = [g for g in self._grams(ln) if len(g) >= self.cfg.min_weak_key_len and g not in L.year_tokens]
        out: list[int] = []
        for it, _ in L.weak_lookup(list(custs), grams):
            if it not in exclude and it not in out and not self._used[it] and L.ccy_l[it] == ccy and not L.cn_l[it]:
                out.append(it)
        return out

    def _grams(self, ln: Line) -> list[str]:
        if self._gram_line is ln:
            return self._gram_val
        self._gram_line = ln
        self._gram_val = self._grams_of(ln)
        return self._gram_val

    def _grams_of(self, ln: Line) -> list[str]:
        grams = text_grams(list(ln.texts))
        extra = [d[0] for d in ln.docs]
        if ln.e2e and ln.e2e.upper() != "NOTPROVIDED":
            extra.append(ln.e2e)
        for x in extra:
            grams.extend(g for g in text_grams([x]) if g not in grams)
        return grams

    def _unknown_number(self, ln: Line, grams: list[str] | None) -> bool:
        """The text quotes something shaped like one of the ledger's numbers that is not open."""
        if grams is None:
            if not (ln.texts or ln.docs):
                return False
            grams = self._grams(ln)
        for g in grams:
            m = _SHAPE.match(g)
            if m and m.group(1) and (m.group(1), len(m.group(2))) in self.L.shapes:
                return True
        return False

    # -- evidence from references -----------------------------------------------------------
    def _with_references(self, ln: Line, found: dict[int, int], payers: set[int], how: str, ccy: int, rule: str) -> bool:
        L, cfg = self.L, self.cfg
        live = {i: k for i, k in found.items() if not self._used[i]}
        dead = [i for i in found if self._used[i]]
        inv = [i for i in live if not L.cn_l[i]]
        cns = [i for i in live if L.cn_l[i]]
        A = ln.cents
        if not inv:
            if dead and not live:
                # a settled item quoted again for the same money: a duplicate payment ...
                same = [i for i in dead if not L.cn_l[i] and L.open_l[i] == A]
                # ... unless the number is a one-key typo for an open item of exactly this amount
                if self._typo(ln, self._grams(ln), payers, how, ccy, amount_only=True):
                    return True
                if same:
                    self._duplicate(ln, same[0], payers)
                    return True
            return False
        evid = min(_EVIDENCE.get(k, 0.92) for k in live.values())
        owners = {L.cust_l[i] for i in live}
        third = bool(payers) and not (owners & payers)
        if third and evid < 0.95:
            evid -= 0.05
        chosen = inv + cns
        opens = [L.open_l[i] for i in chosen]
        total = sum(opens)
        if total == A:
            self._allocate(ln, chosen, opens, evid, rule, "the amounts add up exactly", payers)
            return True
        # the customer is known from the full numbers: shortened numbers of its other items count too
        extra = self._weak_hits(ln, owners, ccy, exclude=set(chosen))
        if extra and total + sum(L.open_l[i] for i in extra) == A:
            items = chosen + extra
            self._allocate(ln, items, [L.open_l[i] for i in items], min(evid, 0.95) - 0.01, rule + "+short_number",
                           "the quoted items, some in a shortened form, add up exactly", payers)
            return True
        # a subset of the quoted items may be exactly what was paid
        if len(chosen) > 1:
            sols, done = subset_sum(opens, A, cfg.max_subset_items, cfg.subset_budget)
            if len(sols) == 1 and done:
                sub = [chosen[j] for j in sols[0]]
                self._allocate(ln, sub, [L.open_l[i] for i in sub], evid - 0.03, rule,
                               "the quoted items that add up exactly to the amount received", payers)
                return True
        if len(inv) == 1 and not cns:
            # one quoted number and the wrong amount: it may be a typo for an invoice of exactly this amount
            if self._typo(ln, self._grams(ln), payers, how, ccy, amount_only=True):
                return True
            if third:  # neither the payer nor the amount agrees with the quoted number
                evid -= 0.15
        if total < A:
            # more money than the quoted items: others of the same customer(s) may complete it
            rest = A - total
            pool = self._pool(owners, ccy, exclude=set(chosen), before=ln.booking_date)
            completions = 0
            # one missing item: look through all the customer's open items, not only the pool
            single = [i for i in L.items_with_amount(rest, ccy)
                      if L.cust_l[i] in owners and not self._used[i] and i not in chosen and not L.cn_l[i]]
            if len(single) == 1:
                items = chosen + single
                self._allocate(ln, items, [L.open_l[i] for i in items], min(evid, 0.95) - 0.02, rule + "+amount",
                               "the quoted items plus the customer's only open item of the remaining amount add up exactly", payers)
                return True
            completions = len(single)
            if pool and not completions:
                vals = [L.open_l[i] for i in pool]
                sols, done = subset_sum(vals, rest, max(1, cfg.max_subset_items - len(chosen)), cfg.subset_budget)
                completions = len(sols)
                if len(sols) == 1 and done:
                    extra = [pool[j] for j in sols[0]]
                    items = chosen + extra
                    conf = min(evid, 0.95) - 0.02
                    if (len(extra) > cfg.max_unquoted_auto
                            or chance_hits(vals, rest, max(1, cfg.max_subset_items - len(chosen))) >= cfg.max_chance_quoted):
                        conf -= 0.15  # many unquoted items found by amount alone: a person checks
                    self._allocate(ln, items, [L.open_l[i] for i in items], conf,
                                   rule + "+amount", "the quoted items plus other open items of the customer add up exactly", payers)
                    return True
            inv_total = sum(L.open_l[i] for i in chosen)
            conf = evid - 0.05
            round_sum = A % 10000 == 0  # a round amount paid against a smaller invoice
            if len(chosen) > 1 or completions or (Decimal(rest) > cfg.overpay_max_pct * Decimal(max(inv_total, 1)) and not round_sum):
                conf = min(conf, 0.8)  # several readings are possible: a person decides
            self._allocate(ln, chosen, opens, conf, rule, "more was received than is open", payers)
            self.result.flags.append(M.Flag(ln.bank_ref, M.OVERPAYMENT,
                f"{_fmt(A, ln.currency)} received but only {_fmt(inv_total, ln.currency)} is open on the quoted items; "
                f"the excess of {_fmt(rest, ln.currency)} stays unapplied.", amount=_money(rest)))
            self.result.unapplied.append(M.Unapplied(ln.bank_ref, _money(rest), ln.currency, "overpayment",
                                                     self._cust_id(chosen[0])))
            return True
        # less money than the quoted items: credit notes of the same customer may net it
        pool = self._pool(owners, ccy, exclude=set(chosen), before=ln.booking_date, only_cn=True)
        if pool:
            vals = [L.open_l[i] for i in pool]
            sols, done = subset_sum(vals, A - total, 3, cfg.subset_budget)
            if len(sols) == 1 and done:
                items = chosen + [pool[j] for j in sols[0]]
                self._allocate(ln, items, [L.open_l[i] for i in items], min(evid, 0.95) - 0.02,
                               rule + "+netting", "the quoted invoices net of the customer's open credit notes add up exactly", payers)
                return True
        if len(inv) == 1 and not cns:
            i = inv[0]
            open_ = L.open_l[i]
            self._short(ln, i, open_, A, evid, rule, payers)
            return True
        # several quoted items and less money: allocate in due-date order, for a person to check
        items = sorted(chosen, key=lambda i: (L.cn_l[i] is False, int(L.due_day[i])))
        cns_first = [i for i in items if L.cn_l[i]] + [i for i in items if not L.cn_l[i]]
        rem = A
        amounts = []
        used = []
        for i in cns_first:
            o = L.open_l[i]
            if rem <= 0:
                break
            a = o if o < 0 else min(o, rem)
            amounts.append(a)
            used.append(i)
            rem -= a
        self._allocate(ln, used, amounts, min(evid - 0.2, 0.7), rule, "less was received than the quoted items; allocated oldest first", payers)
        return True

    def _explained(self, A: int, open_: int) -> bool:
        """The amount received is the open amount, or short of it by charges or a discount."""
        if A == open_:
            return True
        D = open_ - A
        if D <= 0:
            return False
        if D <= self.cfg.charges_max_cents:
            return True
        pct = Decimal(D) / Decimal(open_) if open_ else Decimal(0)
        return self.cfg.discount_min_pct <= pct <= self.cfg.discount_max_pct

    def _short(self, ln: Line, i: int, open_: int, A: int, evid: float, rule: str, payers: set[int]) -> None:
        cfg = self.cfg
        D = open_ - A
        pct = Decimal(D) / Decimal(open_) if open_ else Decimal(0)
        exact_pct = any(abs(D - round(open_ * p / 1000)) <= 1 for p in range(5, 35, 5))
        if exact_pct and cfg.discount_min_pct <= pct <= cfg.discount_max_pct:
            reason, why = M.EARLY_PAYMENT_DISCOUNT, f"an early-payment discount of {pct * 100:.1f} %"
            conf = evid - 0.02
        elif D <= cfg.charges_max_cents:
            reason, why = M.BANK_CHARGES, "bank charges"
            conf = evid - 0.02
        elif cfg.discount_min_pct <= pct <= cfg.discount_max_pct:
            reason, why = M.EARLY_PAYMENT_DISCOUNT, f"an early-payment discount of {pct * 100:.1f} %"
            conf = evid - 0.04
        else:
            reason, why = "", ""
            conf = evid - 0.04
        if reason:
            self._allocate(ln, [i], [A], conf, rule + "+" + reason,
                           f"{_fmt(D, ln.currency)} short of the open amount, read as {why}", payers)
            self.result.write_offs.append(M.WriteOff(ln.bank_ref, self.L.item_ids[i], _money(D), ln.currency, reason,
                f"Write off {_fmt(D, ln.currency)} on {self.L.numbers[i]}: {why}."))
        else:
            self._allocate(ln, [i], [A], conf, rule + "+partial",
                           f"a partial payment; {_fmt(D, ln.currency)} stays open", payers)

    # -- typos ------------------------------------------------------------------------------
    def _typo(self, ln: Line, grams: list[str], payers: set[int], how: str, ccy: int, amount_only: bool = False) -> bool:
        L, cfg = self.L, self.cfg
        typed = [g for g in grams if len(g) >= cfg.min_typo_len - 1 and not g.isalpha()]
        if not typed:
            return False
        # one-edit typos are only looked for among items of exactly the amount received
        group = L.items_with_amount(ln.cents, ccy)
        if len(group) > _TYPO_SCAN:
            # a frequent amount (1,000.00): only the items sharing a string one deletion away
            # with a quoted number can be one edit away from it (see Ledger.near_items)
            near = set(typed)
            for g in typed:
                near.update(g[:j] + g[j + 1 :] for j in range(len(g)))
            group = L.near_items(ln.cents, ccy, near)
        cands = [i for i in group if not self._used[i] and not L.cn_l[i]]
        if not cands:
            return False
        by_len: dict[int, list[str]] = defaultdict(list)
        for g in typed:
            by_len[len(g)].append(g)
        hit: set[int] = set()
        for i in set(cands):
            for k in L.item_keys(i):
                n = len(k)
                if n >= cfg.min_typo_len and any(within_one_edit(g, k) for m in (n - 1, n, n + 1)
                                                 for g in by_len.get(m, ())):
                    hit.add(i)
                    break
            if len(hit) > 1:
                return False
        if len(hit) != 1:
            return False
        i = hit.pop()
        open_ = L.open_l[i]
        mine = L.cust_l[i] in payers
        amount_ok = open_ == ln.cents
        if not (amount_ok or mine):
            return False
        conf = 0.95 if (amount_ok and mine) else (0.91 if amount_ok else 0.85)
        if amount_ok:
            self._allocate(ln, [i], [open_], conf, "typo", "the quoted number is one keystroke away from this open invoice and the amount matches", payers)
        elif ln.cents < open_:
            self._short(ln, i, open_, ln.cents, conf - 0.1, "typo", payers)
        else:
            return False
        return True

    # -- amount only ------------------------------------------------------------------------
    def _pool(self, custs: Iterable[int], ccy: int, exclude: set[int], before: str = "", only_cn: bool = False) -> list[int]:
        """Open items of ``custs`` in ``ccy`` issued by ``before``, at most ``subset_pool`` of them,
        those due nearest to the payment date first (payers settle what falls due)."""
        L = self.L
        parts = [L.customer_items(c) for c in custs]
        if not parts:
            return []
        its = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if not len(its):
            return []
        ref = _day(before) if before else 0
        m = self._free(its) & (L.item_ccy[its] == ccy)
        if only_cn:
            m &= L.is_cn[its]
        if ref:
            m &= L.issue_day[its] <= ref
        its = its[m]
        if exclude:
            its = np.asarray([i for i in its.tolist() if i not in exclude], dtype=np.int64)
        if len(its) > self.cfg.subset_pool:
            key = np.abs(L.due_day[its] - ref) if ref else L.due_day[its]
            its = its[np.argsort(key, kind="stable")[: self.cfg.subset_pool]]
        return its.tolist()

    def _by_amount(self, ln: Line, payers: set[int], how: str, ccy: int, unknown: bool) -> bool:
        L, cfg = self.L, self.cfg
        if len(payers) > 3:
            return False
        base = 0.94 if how == "iban" else 0.9
        if unknown:
            base = 0.6
        same = [i for i in L.items_with_amount(ln.cents, ccy)
                if L.cust_l[i] in payers and not self._used[i] and not L.cn_l[i]]
        if len(same) == 1:
            self._allocate(ln, same, [ln.cents], base, "amount", "the only open invoice of the payer with exactly this amount", payers)
            return True
        if len(same) > 1:
            return False
        pool = self._pool(payers, ccy, exclude=set(), before=ln.booking_date)
        if not pool:
            return False
        vals = [L.open_l[i] for i in pool]
        chance = chance_hits(vals, ln.cents, cfg.max_subset_items)
        if chance > 1.0:  # a combination found here would be a coincidence
            return False
        sols, done = subset_sum(vals, ln.cents, cfg.max_subset_items, cfg.subset_budget)
        if len(sols) == 1 and done:
            items = [pool[j] for j in sols[0]]
            conf = base - 0.03 if chance < cfg.max_chance else base - 0.15
            self._allocate(ln, items, [L.open_l[i] for i in items], conf, "amount_combination",
                           f"the only combination of the payer's open items adding up to the amount ({len(items)} items)", payers)
            return True
        # a payment equal to an item this run already settled: duplicate
        for c in payers:
            for i in L.customer_items(c).tolist():
                if self._used[i] and L.open_l[i] == ln.cents and L.ccy_l[i] == ccy:
                    self._duplicate(ln, i, payers)
                    return True
        return False

    # -- outputs ----------------------------------------------------------------------------
    def _cust_id(self, i: int) -> str:
        c = int(self.L.cust_l[i])
        return self.L.cust_ids[c] if c >= 0 else ""

    def _allocate(self, ln: Line, items: list[int], amounts: list[int], conf: float, rule: str, why: str, payers: set[int]) -> None:
        L, cfg = self.L, self.cfg
        conf = max(0.0, min(1.0, round(conf, 3)))
        status = M.AUTO if conf >= cfg.auto_threshold else M.SUGGESTED
        nums = ", ".join(L.numbers[i] for i in items[:6]) + (" ..." if len(items) > 6 else "")
        cust = self._cust_id(items[0]) if items else ""
        cname = L.cust_names[L.cust_pos[cust]] if cust in L.cust_pos else cust
        how = _HOW.get(rule.split("+")[0], rule)
        sentence = (f"{_fmt(ln.cents, ln.currency)} received from {ln.name or 'an unnamed payer'}: "
                    f"{'document' if len(items) == 1 else str(len(items)) + ' documents'} {nums} of {cname} {how}; {why}.")
        applied = 0
        for i, a in zip(items, amounts, strict=False):
            if status == M.AUTO:  # a proposal waits for a person: the item stays available
                self._used[i] = 1
                self.paid_by[i] = ln.bank_ref
            applied += a
            L_c = L.cust_l[i]
            self.result.allocations.append(M.Allocation(ln.bank_ref, L.item_ids[i], _money(a), conf, status, rule,
                                                        sentence, L.cust_ids[L_c] if L_c >= 0 else "", ln.currency))

    def _duplicate(self, ln: Line, i: int, payers: set[int]) -> None:
        L = self.L
        first = self.paid_by.get(i, "")
        self.result.flags.append(M.Flag(ln.bank_ref, M.DUPLICATE_PAYMENT,
            f"{_fmt(ln.cents, ln.currency)} quotes {L.numbers[i]}, already settled by bank line {first or 'an earlier payment'}; "
            "probably paid twice: refund or keep as credit after checking with the customer.",
            invoice_id=L.item_ids[i], amount=_money(ln.cents)))
        self.result.unapplied.append(M.Unapplied(ln.bank_ref, _money(ln.cents), ln.currency, "duplicate_payment", self._cust_id(i)))

    def _unapplied(self, ln: Line, reason: str, payers: set[int]) -> None:
        cust = self.L.cust_ids[next(iter(payers))] if len(payers) == 1 else ""
        self.result.unapplied.append(M.Unapplied(ln.bank_ref, _money(ln.cents), ln.currency, reason, cust))


def apply_cash(
    customers: pd.DataFrame,
    open_items: pd.DataFrame,
    entries: Iterable[BankEntry | Line],
    *,
    config: M.MatchConfig | None = None,
    learned: Any = None,
) -> M.CashApplication:
    """Allocate ``entries`` (bank credits and debits) to ``open_items``.

    :param customers: columns customer_id, name, country, vat_id, ibans (``;``-separated), aliases (``;``).
    :param open_items: columns invoice_id, customer_id, document_type, invoice_number, issue_date,
        due_date, currency, amount_total, amount_open, creditor_reference (amounts as strings).
    :param entries: canonical :class:`BankEntry` objects or prepared :class:`Line` tuples.
    :param learned: a :class:`matching.learning.Learned` (aliases and IBANs taught by reviewers).
    """
    cfg = config or M.MatchConfig()
    ledger = Ledger(customers, open_items, learned=learned, config=cfg)
    lines = [e if isinstance(e, Line) else line_from_entry(e) for e in entries]
    return Engine(ledger, cfg).run(lines)
