"""Vectorised number keys for big ledgers (millions of open items).

Same keys as :func:`matching.normalize.ledger_keys`, computed with numpy: numbers are laid out as
a fixed-width byte matrix, rows are grouped by their *shape* (the letter/digit/separator class of
every character), and within one shape every group sits at the same columns, so each key is a
column selection. Keys are hashed with Python's ``hash`` of the ASCII bytes, which equals the
hash of the same ``str`` (the remittance side hashes strings).

>>> import numpy as np
>>> h, item, kind = key_table(["FA2026-00123", "INV-004512"], np.array([2026, 2025]))
>>> from matching.normalize import ledger_keys
>>> want = set()
>>> for i, (n, y) in enumerate([("FA2026-00123", 2026), ("INV-004512", 2025)]):
...     s, d = ledger_keys(n, y)
...     want |= {(hash(k), i, 1) for k in s} | {(hash(k), i, 2) for k in d if len(k) >= 6}
>>> set(zip(h.tolist(), item.tolist(), kind.tolist())) == want
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from matching.normalize import fold, ledger_keys, weak_keys

KIND_STRONG, KIND_DIGITS = 1, 2
_MIN_DIGITS = 6


def _runs(cls: np.ndarray) -> list[tuple[int, int, int]]:
    """(class, start, end) of the letter (2) and digit (1) runs of one shape row."""
    out = []
    j, n = 0, len(cls)
    while j < n:
        c = int(cls[j])
        k = j
        while k < n and cls[k] == c:
            k += 1
        if c in (1, 2):
            out.append((c, j, k))
        j = k
    return out


def _hash_rows(mat: np.ndarray) -> np.ndarray:
    """Python hash of each row of a uint8 matrix read as ASCII bytes."""
    if mat.shape[1] == 0:
        return np.zeros(mat.shape[0], dtype=np.int64)
    b = np.ascontiguousarray(mat).view(f"S{mat.shape[1]}").ravel()
    return np.fromiter(map(hash, b.tolist()), dtype=np.int64, count=len(b))


def key_table(numbers: Sequence[str], years: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(key hash, item position, kind) for every strong and digit key of every number."""
    n = len(numbers)
    up = [x.upper() for x in numbers]
    odd = [i for i, x in enumerate(up) if not x.isascii()]
    for i in odd:
        up[i] = fold(up[i])
    width = max((len(x) for x in up), default=1) or 1
    mat = np.array(up, dtype=f"S{width}").view(np.uint8).reshape(n, width) if n else np.zeros((0, 1), np.uint8)
    cls = np.full(mat.shape, 3, dtype=np.uint8)
    cls[mat == 0] = 0
    cls[(mat >= 48) & (mat <= 57)] = 1
    cls[(mat >= 65) & (mat <= 90)] = 2
    # a byte that is neither (non-ASCII after folding cannot happen) stays a separator
    if width <= 32:  # 2 bits per character: one integer per shape, a cheap sort
        code = np.zeros(n, dtype=np.uint64)
        for j in range(width):
            code |= cls[:, j].astype(np.uint64) << np.uint64(2 * j)
        _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
        shapes = cls[first]
    else:
        shapes, inverse = np.unique(cls, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(shapes) + 1))
    year_b = np.char.mod("%04d", np.asarray(years, dtype=np.int64) % 10000).astype("S4").view(np.uint8).reshape(-1, 4) if n else None
    hs: list[np.ndarray] = []
    its: list[np.ndarray] = []
    kinds: list[np.ndarray] = []

    def emit(rows: np.ndarray, cols: list[int], kind: int) -> None:
        if len(rows) == 0 or not cols:
            return
        hs.append(_hash_rows(mat[np.ix_(rows, cols)]))
        its.append(rows)
        kinds.append(np.full(len(rows), kind, dtype=np.int8))

    for s in range(len(shapes)):
        rows = order[bounds[s] : bounds[s + 1]]
        runs = _runs(shapes[s])
        if not runs:
            continue
        digit_runs = [r for r in runs if r[0] == 1]
        # variants: as written, and with each 4-digit run equal to the issue year cut to 2 digits
        variants: list[tuple[np.ndarray, list[tuple[int, int, int]]]] = [(rows, runs)]
        for ri, (c, a, b) in enumerate(runs):
            if c == 1 and b - a == 4:
                hit = rows[np.all(mat[rows, a:b] == year_b[rows], axis=1)]
                if len(hit):
                    variants.append((hit, runs[:ri] + [(1, a + 2, b)] + runs[ri + 1 :]))
        for vrows, vruns in variants:
            cols = [j for (_, a, b) in vruns for j in range(a, b)]
            emit(vrows, cols, KIND_STRONG)
            if digit_runs:
                li = max(k for k, r in enumerate(vruns) if r[0] == 1)
                _, a, b = vruns[li]
                seg = mat[vrows, a:b]
                zeros = np.minimum(np.argmax(seg != 48, axis=1) + np.all(seg == 48, axis=1) * (b - a), b - a - 1)
                for z in np.unique(zeros):
                    if z == 0:
                        continue
                    zr = vrows[zeros == z]
                    zc = [j for k, (_, x, y) in enumerate(vruns) for j in range(x + (z if k == li else 0), y)]
                    emit(zr, zc, KIND_STRONG)
                if len(vruns) > 1:
                    dcols = [j for (c, x, y) in vruns if c == 1 for j in range(x, y)]
                    if len(dcols) >= _MIN_DIGITS and len(dcols) != len(cols):
                        emit(vrows, dcols, KIND_DIGITS)
    if odd:  # folded numbers: already handled above through their folded form
        pass
    if not hs:
        e = np.empty(0, dtype=np.int64)
        return e, e.copy(), np.empty(0, dtype=np.int8)
    return np.concatenate(hs), np.concatenate(its).astype(np.int64), np.concatenate(kinds)


def check_against_reference(numbers: Sequence[str], years: Sequence[int]) -> bool:
    """Test helper: the vectorised table equals the per-number reference implementation."""
    h, it, kd = key_table(numbers, np.asarray(years))
    got = set(zip(h.tolist(), it.tolist(), kd.tolist(), strict=False))
    want = set()
    for i, (num, y) in enumerate(zip(numbers, years, strict=False)):
        s, d = ledger_keys(num, y or None)
        want |= {(hash(k), i, KIND_STRONG) for k in s}
        want |= {(hash(k), i, KIND_DIGITS) for k in d if len(k) >= _MIN_DIGITS}
    return got == want


# ---------------------------------------------------------------------------------------------
# sequence-only keys (``weak``) and digit tails (``suffix``), per customer, for the whole ledger

_LAST_DIGITS = re.compile(r"([0-9]+)[^0-9]*$")

#: odd multiplier mixing a key hash with a customer position into one 64-bit table key
MIX = np.int64(0x5BD1E995)


_U64, _I64_MIN = 1 << 64, 1 << 63
_MIX_INT = int(MIX)


def mix_one(key_hash: int, cust: int) -> int:
    """:func:`mix` of one pair, with Python ints (wrapped to a signed 64-bit value the same way)."""
    x = (key_hash * _MIX_INT + cust) % _U64
    return x - _U64 if x >= _I64_MIN else x


def mix(key_hashes: np.ndarray, custs: np.ndarray) -> np.ndarray:
    """Table keys of (key hash, customer) pairs; int64 arithmetic wraps, the same on both sides."""
    with np.errstate(over="ignore"):
        return key_hashes.astype(np.int64) * MIX + custs.astype(np.int64)


class HashBits:
    """A bit per value of the low bits of 64-bit keys: ``contains`` is False for most absent
    keys after a single memory read (a filter in front of a binary search in a big table).

    >>> b = HashBits(np.array([5, 1 << 40, -7], dtype=np.int64))
    >>> b.contains(np.array([5, 1 << 40, -7, 6], dtype=np.int64)).tolist()
    [True, True, True, False]
    """

    def __init__(self, keys: np.ndarray, bits: int = 0) -> None:
        # about 16 bits per key (few false hits), between 2**16 and 2**28 bits
        self.bits = bits or int(min(28, max(16, int(max(1, len(keys)) * 16).bit_length())))
        self.mask = np.uint64((1 << self.bits) - 1)
        self.words = np.zeros(1 << (self.bits - 6), dtype=np.uint64)
        pos = keys.view(np.uint64) & self.mask
        np.bitwise_or.at(self.words, (pos >> np.uint64(6)).astype(np.int64), np.uint64(1) << (pos & np.uint64(63)))
        self._mask_int = (1 << self.bits) - 1
        self._view: memoryview | None = None

    def has(self, key: int) -> bool:
        """``contains`` for one Python int (a signed 64-bit value), without numpy's per-call cost."""
        view = self._view
        if view is None:  # bytes of the bit words, little-endian: bit p is bit p % 8 of byte p // 8
            view = self._view = memoryview(self.words).cast("B")
        p = key & self._mask_int
        return bool((view[p >> 3] >> (p & 7)) & 1)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        pos = keys.view(np.uint64) & self.mask
        word = self.words[(pos >> np.uint64(6)).astype(np.int64)]
        return ((word >> (pos & np.uint64(63))) & np.uint64(1)).astype(bool)


def _last_digit_group(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(has digits, start, end inclusive) of the last run of ASCII digits of each row."""
    n, w = mat.shape
    isd = (mat >= 48) & (mat <= 57)
    has = isd.any(axis=1)
    end = (w - 1) - np.argmax(isd[:, ::-1], axis=1)
    cols = np.arange(w)
    before = ~isd & (cols[None, :] < end[:, None])
    start = np.where(before, cols[None, :], -1).max(axis=1) + 1
    return has, start, end


def _next_nonzero(mat: np.ndarray) -> np.ndarray:
    """Column of the first byte other than ``0`` at or after each column (``w`` when none)."""
    n, w = mat.shape
    out = np.empty((n, w), dtype=np.int16)
    nxt = np.full(n, w, dtype=np.int16)
    for j in range(w - 1, -1, -1):
        nxt = np.where(mat[:, j] != 48, np.int16(j), nxt)
        out[:, j] = nxt
    return out


def _emit_tails(mat: np.ndarray, rows: np.ndarray, q: np.ndarray, end: np.ndarray,
                hs: list[np.ndarray], its: list[np.ndarray]) -> None:
    """Hash ``mat[row, q:end+1]`` for every (row, q) pair, grouped by (q, end) column ranges."""
    if len(rows) == 0:
        return
    pair = q.astype(np.int64) * 4096 + end[rows].astype(np.int64)
    order = np.argsort(pair, kind="stable")
    pair, rows, q = pair[order], rows[order], q[order]
    cuts = np.r_[0, np.nonzero(pair[1:] != pair[:-1])[0] + 1, len(pair)]
    for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        qa, e = int(q[a]), int(end[rows[a]])
        r = rows[a:b]
        hs.append(_hash_rows(mat[r, qa : e + 1]))
        its.append(r)


def tail_tables(numbers: Sequence[str]) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((weak hashes, items), (suffix hashes, items))`` of every number.

    Weak keys are :func:`matching.normalize.weak_keys`: the last digit group without padding, and
    its tail after each zero. Suffix keys are the digit tails of 4 digits or more of the last
    digit group (shorter than the group), leading zeros dropped, as quoted by payers who write
    ``24872`` for ``F251224872``.

    >>> from matching.normalize import weak_keys
    >>> nums = ["F260100123", "INV-004512", "SI00012345A", "X", "2025-0000"]
    >>> (wh, wi), (sh, si) = tail_tables(nums)
    >>> got = sorted(zip(wi.tolist(), wh.tolist()))
    >>> got == sorted((i, hash(k)) for i, n in enumerate(nums) for k in weak_keys(n))
    True
    >>> sorted(zip(si.tolist(), sh.tolist())) == sorted((i, hash(k)) for i, n in enumerate(nums) for k in suffix_keys(n))
    True
    >>> [suffix_keys(n) for n in nums]
    [['100123', '60100123'], ['4512'], ['2345', '12345'], [], []]
    """
    n = len(numbers)
    e = np.empty(0, dtype=np.int64)
    if n == 0:
        return (e, e.copy()), (e.copy(), e.copy())
    raw = list(numbers)
    odd = [i for i, x in enumerate(raw) if not x.isascii()]
    asc = raw if not odd else [("" if not x.isascii() else x) for x in raw]
    width = max((len(x) for x in asc), default=1) or 1
    mat = np.array(asc, dtype=f"S{width}").view(np.uint8).reshape(n, width)
    has, start, end = _last_digit_group(mat)
    nz = _next_nonzero(mat)
    rows_all = np.arange(n)
    w_hs: list[np.ndarray] = []
    w_its: list[np.ndarray] = []
    s_hs: list[np.ndarray] = []
    s_its: list[np.ndarray] = []
    for p in range(width):
        # weak: p is the group start (a non-zero digit there), or a non-zero digit after a zero
        in_grp = has & (start <= p) & (p <= end)
        cur = mat[:, p]
        if p == 0:
            weak = in_grp & (cur != 48)
        else:
            weak = in_grp & (cur != 48) & ((start == p) | (mat[:, p - 1] == 48))
        r = rows_all[weak]
        _emit_tails(mat, r, np.full(len(r), p, dtype=np.int64), end, w_hs, w_its)
        # suffix: tails starting in (start, end - 3], padding dropped, still 4 digits or more
        if p >= 1:
            q = nz[:, p].astype(np.int64)
            ok = has & (start + 1 <= p) & (p <= end - 3) & (q <= end - 3)
            ok &= (start + 1 == p) | (nz[:, p - 1] != nz[:, p])
            r = rows_all[ok]
            _emit_tails(mat, r, q[ok], end, s_hs, s_its)
    for i in odd:
        for k in weak_keys(raw[i]):
            w_hs.append(np.asarray([hash(k)], dtype=np.int64))
            w_its.append(np.asarray([i], dtype=np.int64))
        for k in suffix_keys(raw[i]):
            s_hs.append(np.asarray([hash(k)], dtype=np.int64))
            s_its.append(np.asarray([i], dtype=np.int64))

    def cat(hs: list[np.ndarray], its: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if not hs:
            return e.copy(), e.copy()
        return np.concatenate(hs), np.concatenate(its).astype(np.int64)

    return cat(w_hs, w_its), cat(s_hs, s_its)


def suffix_keys(number: str) -> list[str]:
    """Digit tails of 4 digits or more of the last digit group (reference implementation).

    >>> suffix_keys("F251224872"), suffix_keys("INV-004512")
    (['4872', '24872', '224872', '1224872', '51224872'], ['4512'])
    """
    m = _LAST_DIGITS.search(number)
    out: list[str] = []
    if m:
        grp = m.group(1)
        for k in range(4, len(grp)):
            t = grp[-k:].lstrip("0")
            if len(t) >= 4 and t not in out:
                out.append(t)
    return out
