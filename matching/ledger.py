"""The ledger index of cash application: customers and open items, indexed for matching.

Built once per run from the customer master and the open items (DataFrames): payer IBANs,
names and aliases (with what reviewers taught, :class:`matching.learning.Learned`), the text
keys of every open number as a sorted table of 64-bit hashes (:mod:`matching.ledger_keys`),
sequence-only keys and digit tails per customer, items per customer and per (currency, amount).
The rules (:mod:`matching.decisions`) read it and never change it.

The ``KIND_*`` constants grade how a key names an item, strongest first: a verified creditor
reference, a full number, its digits, a sequence-only number of the payer found by IBAN, one
found otherwise.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from matching.columns import StrColumn, int_column
from matching.ledger_keys import HashBits, key_table, mix, mix_one, tail_tables
from matching.lines import Line, to_cents
from matching.model import MatchConfig
from matching.names import NameIndex
from matching.normalize import compact, iban_compact, ledger_keys

KIND_RF, KIND_STRONG, KIND_DIGITS, KIND_WEAK_IBAN, KIND_WEAK = 0, 1, 2, 3, 4
#: a document number as prefix letters and digits (``FA2025001``): the ledger's numbering shapes
NUMBER_SHAPE = re.compile(r"^([A-Z]*)([0-9]+)$")
_PLAIN_AMOUNT = re.compile(r"-?\d+\.\d\d")
_SCALAR_LOOKUP = 48  # (customer, gram) pairs up to which a tail lookup goes one pair at a time


class Ledger:
    """Customers and open items (``n_items`` of them, by position), indexed for matching. Build once
    per run."""

    #: the open-item columns it reads (not ``amount_total``: an item is matched on what is still open)
    OPEN_ITEM_COLUMNS = ("invoice_id", "customer_id", "document_type", "invoice_number", "issue_date", "due_date",
                         "currency", "amount_open", "creditor_reference")

    def __init__(
        self,
        customers: pd.DataFrame,
        open_items: pd.DataFrame,
        *,
        learned: Any = None,
        config: MatchConfig | None = None,
    ) -> None:
        self.config = config or MatchConfig()
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
        self.n_items = n = len(oi)
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
            m = NUMBER_SHAPE.match(compact(num))
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



def _cents_series(s: pd.Series) -> np.ndarray:
    """Decimal strings to int64 cents, exactly (no float): ``"-150.5"`` -> ``-15050``."""
    plain = _PLAIN_AMOUNT.fullmatch  # "1234.56": the digits are the cents (one int() per value)

    def cents(v: Any) -> int:
        t = str(v).strip()
        if plain(t):
            return int(t.replace(".", ""))
        return to_cents(t) if t else 0

    return np.fromiter(map(cents, s.tolist()), dtype=np.int64, count=len(s))
