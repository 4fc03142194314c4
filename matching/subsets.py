"""Subset sums of open amounts: which of a customer's open items add up to a payment.

:func:`subset_sum` answers with up to two solutions (two mean the amount is ambiguous) and whether
the search finished inside its budget: an exhaustive meet-in-the-middle search
(:func:`subset_sum_mitm`) for 12 to 24 values, a bounded depth-first search otherwise.
:func:`chance_hits` estimates how many combinations would add up by pure chance, so that a
unique solution found by amount alone is only trusted when a coincidence is unlikely.

Amounts are integer cents (credit notes negative); nothing here knows about lines or ledgers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

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
