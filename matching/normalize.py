"""Text, number and name normalisation for cash application.

Nothing here knows a bank, a language or a numbering scheme: invoice-number keys are
derived from the numbers of the open-item ledger itself, and remittance texts are cut
into alphanumeric runs that are glued back together in every short combination, so
``FA 2026-00123``, ``FA202600123`` and ``FA2`` + ``026-00123`` (split across two
``Ustrd`` lines) all produce the key ``FA202600123``.

>>> fold("Société Générale d'Équipement")
"SOCIETE GENERALE D'EQUIPEMENT"
>>> sorted(number_keys("FA2026-00123", 2026)[0])
['FA202600123', 'FA2026123', 'FA2600123', 'FA26123']
>>> sorted(number_keys("FA2026-00123", 2026)[1])
['202600123', '2600123']
>>> sorted(number_keys("F260100123", 2026)[2])
['100123', '123']
>>> text_grams(["FACT FA2", "026-00123 DU 12/01/2026"])[:4]
['FACT', 'FACTFA2', 'FA2', '026']
>>> "FA202600123" in text_grams(["FACT FA2", "026-00123"])
True
>>> osa_distance("FA202600132", "FA202600123")
1
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_RUN = re.compile(r"[A-Z0-9]+")
_GROUPS = re.compile(r"[A-Z]+|[0-9]+")
_NON_ALNUM = re.compile(r"[^A-Z0-9]+")
_ASCII_MAP = str.maketrans({"ß": "SS", "ẞ": "SS", "Æ": "AE", "Œ": "OE", "Ø": "O", "Ł": "L", "Đ": "D", "Þ": "TH"})

#: how many consecutive alphanumeric runs of a text are glued into one candidate key
MAX_GRAM = 4


@lru_cache(maxsize=200_000)
def fold(text: str) -> str:
    """Upper case, accents stripped, non-ASCII letters spelled out (what banks do to text)."""
    text = text.upper().translate(_ASCII_MAP)
    if text.isascii():
        return text
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def compact(text: str) -> str:
    """Only the letters and digits of ``text``, folded: ``fa-2026/00123`` -> ``FA202600123``."""
    return _NON_ALNUM.sub("", fold(text))


def number_keys(number: str, issue_year: int | None = None) -> tuple[set[str], set[str], set[str]]:
    """Keys under which an open item's number may appear in remittance text.

    Returns ``(strong, digits, weak)``:

    - strong: the compact number, also with the sequence's leading zeros dropped and with
      a 4-digit group that equals the issue year written on 2 digits;
    - digits: all digit groups glued, without the letter prefix (``2026-00123``);
    - weak: the trailing sequence with leading zeros dropped (``123``), taken after each
      zero inside the last digit group, because payers drop both prefix and padding.

    Weak keys are ambiguous across a ledger and are only trusted together with the payer's
    identity or the amount.
    """
    c = compact(number)
    strong = {c} if c else set()
    digits: set[str] = set()
    weak: set[str] = set()
    if not c:
        return strong, digits, weak
    groups = _GROUPS.findall(fold(number))
    year = str(issue_year) if issue_year else ""
    variants = [groups]
    if year:
        for i, g in enumerate(groups):
            if g == year:
                variants.append(groups[:i] + [g[2:]] + groups[i + 1 :])
    for gs in variants:
        strong.add("".join(gs))
        last = max((i for i, g in enumerate(gs) if g.isdigit()), default=-1)
        if last < 0:
            continue
        stripped = gs[last].lstrip("0") or "0"
        if stripped != gs[last]:
            strong.add("".join(gs[:last] + [stripped] + gs[last + 1 :]))
        dig = "".join(g for g in gs if g.isdigit())
        if dig != c:
            digits.add(dig)
    seq = groups[max(i for i, g in enumerate(groups) if g.isdigit())] if any(g.isdigit() for g in groups) else ""
    for i in range(len(seq)):
        if i == 0 or (seq[i - 1] == "0" and seq[i] != "0"):
            tail = seq[i:].lstrip("0")
            if tail:
                weak.add(tail)
    weak -= strong
    weak -= digits
    return strong, digits, weak


def ledger_keys(number: str, issue_year: int | None = None) -> tuple[list[str], list[str]]:
    """The strong and digit keys of :func:`number_keys`, fast (no weak keys): for indexing big ledgers.

    >>> ledger_keys("FA2026-00123", 2026)
    (['FA202600123', 'FA2026123', 'FA2600123', 'FA26123'], ['202600123', '2600123'])
    """
    u = number.upper()
    if not u.isascii():
        u = fold(u)
    gs = _GROUPS.findall(u)
    if not gs:
        return [], []
    variants = [gs]
    if issue_year:
        y = str(issue_year)
        if y in gs:
            j = gs.index(y)
            variants.append(gs[:j] + [y[2:]] + gs[j + 1 :])
    last = -1
    for j in range(len(gs) - 1, -1, -1):
        if gs[j][0].isdigit():
            last = j
            break
    strong: list[str] = []
    digits: list[str] = []
    for v in variants:
        c = "".join(v)
        strong.append(c)
        if last >= 0:
            z = v[last].lstrip("0") or "0"
            if z != v[last]:
                strong.append("".join(v[:last]) + z + "".join(v[last + 1 :]))
            if len(v) > 1:
                d = "".join(g for g in v if g[0].isdigit())
                if d != c:
                    digits.append(d)
    return strong, digits


_LAST_DIGITS = re.compile(r"([0-9]+)[^0-9]*$")


def weak_keys(number: str) -> list[str]:
    """Sequence-only keys of a number: its last digit group without padding, cut after each zero.

    >>> weak_keys("F260100123"), weak_keys("INV-004512"), weak_keys("SI00012345A")
    (['260100123', '100123', '123'], ['4512'], ['12345'])
    """
    m = _LAST_DIGITS.search(number)
    if not m:
        return []
    seq = m.group(1)
    out = []
    for i in range(len(seq)):
        if i == 0 or (seq[i - 1] == "0" and seq[i] != "0"):
            tail = seq[i:].lstrip("0")
            if tail and tail not in out:
                out.append(tail)
    return out


def text_grams(lines: list[str], max_gram: int = MAX_GRAM) -> list[str]:
    """Candidate keys of remittance lines: alphanumeric runs and their glued neighbours.

    Lines are read one by one and also glued together (a number cut across two lines);
    digit-only keys are also offered without leading zeros.
    """
    out: list[str] = []
    seen: set[str] = set()
    texts = [fold(x) for x in lines if x]
    if len(texts) > 1:
        texts.append("".join(texts))
    for t in texts:
        runs = _RUN.findall(t)
        n = len(runs)
        for i in range(n):
            acc = ""
            for j in range(i, min(n, i + max_gram)):
                acc += runs[j]
                if acc not in seen:
                    seen.add(acc)
                    out.append(acc)
                if acc.isdigit() and acc[0] == "0":
                    z = acc.lstrip("0")
                    if z and z not in seen:
                        seen.add(z)
                        out.append(z)
    return out


def osa_distance(a: str, b: str, limit: int = 1) -> int:
    """Optimal-string-alignment distance (edit + adjacent transposition), capped at ``limit + 1``."""
    la, lb = len(a), len(b)
    if abs(la - lb) > limit:
        return limit + 1
    if a == b:
        return 0
    prev2: list[int] = []
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        best = cur[0]
        for j in range(1, lb + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
            best = min(best, v)
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return min(prev[lb], limit + 1)


def within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one insertion, deletion, substitution or
    transposition of neighbours (fast path of :func:`osa_distance` ``<= 1``).

    >>> within_one_edit("INV010720", "INV017002"), within_one_edit("INV010720", "INV01072")
    (False, True)
    """
    la, lb = len(a), len(b)
    if la < lb:
        a, b, la, lb = b, a, lb, la
    if la - lb > 1:
        return False
    if a == b:
        return True
    i = 0
    while i < lb and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return True
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    return a[i + 1 :] == b[i:]


def name_tokens(name: str) -> list[str]:
    """Tokens of a company name: folded, dots removed inside abbreviations (``S.A.S.`` -> ``SAS``)."""
    t = fold(name).replace(".", "").replace("'", " ")
    return _RUN.findall(t)


def iban_compact(iban: str | None) -> str:
    """``FR76 3000 ...`` -> ``FR763000...``; empty string for None."""
    return _NON_ALNUM.sub("", iban.upper()) if iban else ""
