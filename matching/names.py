"""Payer identity: bank-side names and IBANs to customers.

Banks upper-case names, strip accents, cut them at 35 or 70 characters, drop or rewrite legal
forms and abbreviate words. Nothing here lists legal forms or abbreviations: each token is
weighted by how rare it is among the customer master's own names and aliases (inverse
document frequency), so ``SAS``, ``GMBH`` or ``LTD`` weigh little because many customers carry
them, and a distinctive word decides.

>>> idx = NameIndex([("C1", ["Dumont Logistique SAS", "DUMONT LOGISTIQUE"]),
...                  ("C2", ["Durand Transports SARL"]), ("C3", ["Dumas Transports SAS"])])
>>> idx.lookup("DUMONT LOGISTIQUE S.A.S.")
{'C1'}
>>> idx.lookup("DURAND TRANSP")
{'C2'}
>>> idx.lookup("TRANSPORTS SAS")
set()
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from matching.normalize import name_tokens


class NameIndex:
    """Inverted index of customer names and aliases, token-weighted by rarity."""

    def __init__(self, names: Iterable[tuple[str, Iterable[str]]], min_score: float = 0.72) -> None:
        self.min_score = min_score
        self._names: dict[str, list[list[str]]] = defaultdict(list)  # customer -> token lists
        df: dict[str, int] = defaultdict(int)
        for cust, aliases in names:
            seen: set[str] = set()
            for a in aliases:
                toks = name_tokens(a)
                if toks:
                    self._names[cust].append(toks)
                    seen.update(toks)
            for t in seen:
                df[t] += 1
        n = max(1, len(self._names))
        self._n = n
        self._idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
        self._post: dict[str, list[str]] = defaultdict(list)
        common = max(25, n // 50)
        for cust, lists in self._names.items():
            toks = {t for lst in lists for t in lst}
            for t in toks:
                if df[t] <= common:
                    self._post[t].append(cust)
        prefix: dict[str, list[str]] = defaultdict(list)  # 4-char prefixes of rare tokens
        for t in self._post:
            if len(t) >= 5:
                prefix[t[:4]].append(t)
        # sorted: the expansions of a truncated word are cut at 8 and weighed in this order, and
        # the order of a set of strings changes with the interpreter's hash seed
        self._prefix: dict[str, list[str]] = {k: sorted(v) for k, v in prefix.items()}
        self._cache: dict[str, frozenset[str]] = {}
        self._set_cache: dict[str, list[tuple[frozenset[str], float]]] = {}
        # posting lists as arrays of customer ordinals, built on first use (long lists are
        # summed with numpy: a name made of frequent words touches thousands of customers)
        self._ord: dict[str, int] = {c: i for i, c in enumerate(self._names)}
        self._by_ord: list[str] = list(self._names)
        self._post_np: dict[str, np.ndarray] = {}

    def add(self, cust: str, alias: str) -> None:
        """Teach one more alias (reviewer decision); weights are left as they are."""
        toks = name_tokens(alias)
        if not toks:
            return
        self._names[cust].append(toks)
        if cust not in self._ord:
            self._ord[cust] = len(self._by_ord)
            self._by_ord.append(cust)
        for t in toks:
            if cust not in self._post[t]:
                self._post[t].append(cust)
                self._post_np.pop(t, None)
            self._idf.setdefault(t, math.log(self._n + 1))
        self._cache.clear()
        self._set_cache.pop(cust, None)

    def _w(self, t: str) -> float:
        return self._idf.get(t, 0.0)

    def _expand(self, tok: str, last: bool) -> list[str]:
        """The master's tokens a bank token may stand for: itself, or a word it is a prefix of."""
        if tok in self._idf:
            return [tok]
        if len(tok) >= 4 and (last or len(tok) >= 4):
            return [t for t in self._prefix.get(tok[:4], ()) if t.startswith(tok)][:8]
        return []

    def lookup(self, name: str | None) -> set[str]:
        """Customers the bank-side ``name`` most plausibly designates (empty when unsure)."""
        if not name:
            return set()
        hit = self._cache.get(name)
        if hit is None:
            hit = frozenset(self._lookup(name))
            if len(self._cache) > 500_000:
                self._cache.clear()
                self._set_cache.clear()
            self._cache[name] = hit
        return set(hit)

    def _lookup(self, name: str) -> set[str]:
        toks = name_tokens(name)
        if not toks:
            return set()
        mapped: list[tuple[str, list[str]]] = []
        for i, t in enumerate(toks):
            mapped.append((t, self._expand(t, i == len(toks) - 1)))
        # full scoring only for the 12 customers sharing the most distinctive weight
        top_c = self._candidates(mapped)
        if not top_c:
            return set()
        bank = []
        bank_w = 0.0
        for _, exp in mapped:
            ws = [(e, self._idf.get(e, 0.0)) for e in exp]
            w = max((x for _, x in ws), default=0.0)
            if w > 0.0:
                bank.append(ws)
                bank_w += w
        if bank_w == 0.0:
            return set()
        scores: dict[str, float] = {}
        for c in top_c:
            best = 0.0
            for cset, cand_w in self._sets(c):
                s = self._score_fast(bank, bank_w, cset, cand_w)
                if s > best:
                    best = s
            scores[c] = best
        top = max(scores.values())
        if top < self.min_score:
            return set()
        return {c for c, s in scores.items() if s >= top - 0.03}

    def _candidates(self, mapped: list[tuple[str, list[str]]], top: int = 12) -> list[str]:
        """Customers with the highest summed weight of shared tokens (ties: first met first)."""
        posts = [(e, self._post.get(e)) for _, exp in mapped for e in exp]
        posts = [(e, p) for e, p in posts if p]
        if not posts:
            return []
        if sum(len(p) for _, p in posts) <= 256:
            cands: dict[str, float] = defaultdict(float)
            for e, p in posts:
                w = self._idf.get(e, 0.0)
                for c in p:
                    cands[c] += w
            return [c for c, _ in sorted(cands.items(), key=lambda kv: -kv[1])[:top]]
        arrs, wts = [], []
        for e, p in posts:
            a = self._post_np.get(e)
            if a is None:
                a = np.fromiter((self._ord[c] for c in p), dtype=np.int64, count=len(p))
                self._post_np[e] = a
            arrs.append(a)
            wts.append(np.full(len(a), self._idf.get(e, 0.0)))
        idx = np.concatenate(arrs)
        _, first, inv = np.unique(idx, return_index=True, return_inverse=True)
        score = np.bincount(inv.ravel(), weights=np.concatenate(wts))  # summed in token order, as above
        best = np.lexsort((first, -score))[:top]
        return [self._by_ord[i] for i in idx[first[best]].tolist()]

    def _sets(self, cust: str) -> list[tuple[frozenset[str], float]]:
        got = self._set_cache.get(cust)
        if got is None:
            got = []
            for lst in self._names[cust]:
                cset = frozenset(lst)
                # summed in the name's word order (a set's order varies from run to run, and so
                # would the last bits of a float sum)
                got.append((cset, sum(self._idf.get(t, 0.0) for t in dict.fromkeys(lst))))
            self._set_cache[cust] = got
        return got

    @staticmethod
    def _score_fast(bank: list[list[tuple[str, float]]], bank_w: float, cset: frozenset[str], cand_w: float) -> float:
        got = 0.0
        for ws in bank:
            for e, w in ws:
                if e in cset:
                    got += w
                    break
        if got == 0.0:
            return 0.0
        missing = max(0.0, cand_w - got)
        return min(got / bank_w, got / (got + 0.5 * missing))
