"""Scalar shortcuts of the engine give what the vectorised code gives, and the vectorised pass
settles at once the lines that only share a number with later lines or other currencies.

The shortcuts exist for speed (numpy's fixed cost per call dominates on a handful of keys); these
tests compare both paths on the same inputs, so a shortcut that drifts from the table fails.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

import matching.ledger as ledger_mod
from matching.engine import Engine, apply_cash
from matching.ledger import Ledger
from matching.ledger_keys import HashBits, mix, mix_one
from matching.lines import line_from_entry
from matching.model import MatchConfig
from schemas.statement import BankEntry

I64 = np.iinfo(np.int64)


def test_mix_one_wraps_like_the_int64_table():
    rnd = random.Random(3)
    hs = [I64.min, I64.max, -1, 0, 1] + [rnd.randint(I64.min, I64.max) for _ in range(2000)]
    cs = [rnd.randint(0, 60_000) for _ in hs]
    want = mix(np.array(hs, dtype=np.int64), np.array(cs, dtype=np.int64)).tolist()
    assert [mix_one(h, c) for h, c in zip(hs, cs, strict=True)] == want


def test_bit_filter_answers_the_same_for_one_key():
    rnd = random.Random(4)
    keys = np.array([rnd.randint(I64.min, I64.max) for _ in range(5000)], dtype=np.int64)
    bits = HashBits(keys)
    probe = np.concatenate([keys, np.array([rnd.randint(I64.min, I64.max) for _ in range(20000)], dtype=np.int64)])
    want = bits.contains(probe).tolist()
    assert [bits.has(k) for k in probe.tolist()] == want
    assert all(want[: len(keys)]) and not all(want)  # present keys always pass, most others do not


def _ledger(n_cust: int = 40, per: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    rnd = random.Random(9)
    customers = pd.DataFrame([{"customer_id": f"C{c}", "name": f"Client {c} SARL", "country": "FR", "vat_id": "",
                               "ibans": "", "aliases": ""} for c in range(n_cust)])
    items = []
    for c in range(n_cust):
        for j in range(per):
            seq = rnd.randint(1, 99_999)
            number = rnd.choice([f"FA2025-{seq:06d}", f"INV{seq}", f"2025{seq:05d}", f"F-{c:02d}-{seq}"])
            items.append({"invoice_id": f"I{c}-{j}", "customer_id": f"C{c}", "document_type": "invoice",
                          "invoice_number": number, "issue_date": "2025-11-03", "due_date": "2025-12-03",
                          "currency": "EUR", "amount_total": "0", "amount_open": f"{rnd.randint(10, 999)}.00",
                          "creditor_reference": ""})
    return customers, pd.DataFrame(items)


@pytest.mark.parametrize("kind", ["weak_lookup", "suffix_lookup"])
def test_small_tail_lookups_equal_the_vectorised_ones(kind, monkeypatch):
    customers, items = _ledger()
    led = Ledger(customers, items)
    rnd = random.Random(11)
    numbers = items["invoice_number"].tolist()
    by_cust = items.groupby("customer_id")["invoice_number"].apply(list).to_dict()
    queries = []
    for _ in range(400):
        custs = rnd.sample(range(len(customers)), rnd.randint(1, 5))
        grams = []
        for _ in range(rnd.randint(1, 8)):
            # mostly numbers of the customers asked about (found), sometimes another's (not found)
            n = rnd.choice(by_cust[f"C{rnd.choice(custs)}"] if rnd.random() < 0.7 else numbers)
            digits = "".join(ch for ch in n if ch.isdigit())
            grams.append(rnd.choice([digits[-rnd.randint(1, len(digits)):], digits.lstrip("0"), "VIREMENT", str(rnd.randint(0, 99999))]))
        queries.append((custs, grams))
    monkeypatch.setattr(ledger_mod, "_SCALAR_LOOKUP", 10**9)
    scalar = [getattr(led, kind)(c, g) for c, g in queries]
    monkeypatch.setattr(ledger_mod, "_SCALAR_LOOKUP", -1)
    vector = [getattr(led, kind)(c, g) for c, g in queries]
    assert scalar == vector
    assert sum(map(len, vector)) > 50  # the queries do find items


def _entry(ref: str, amount: str, day: int, text: str, ccy: str = "EUR") -> BankEntry:
    return BankEntry(amount=Decimal(amount), currency=ccy, booking_date=dt.date(2026, 1, day), bank_ref=ref,
                     remittance_lines=[text], bank_tx_code="PMNT/RCDT/ESCT")


def _shared_number_case() -> tuple[pd.DataFrame, pd.DataFrame, list[BankEntry]]:
    customers = pd.DataFrame([{"customer_id": c, "name": f"Client {c}", "country": "FR", "vat_id": "", "ibans": "",
                               "aliases": ""} for c in ("C1", "C2")])
    row = {"document_type": "invoice", "issue_date": "2025-12-01", "due_date": "2025-12-31", "amount_total": "0",
           "creditor_reference": ""}
    items = pd.DataFrame([
        {**row, "invoice_id": "A", "customer_id": "C1", "invoice_number": "FA2025-004711", "currency": "EUR", "amount_open": "1200.00"},
        # the same number at another customer, in another currency: never used for a EUR line
        {**row, "invoice_id": "B", "customer_id": "C2", "invoice_number": "FA2025-004711", "currency": "USD", "amount_open": "1200.00"},
        {**row, "invoice_id": "C", "customer_id": "C1", "invoice_number": "FA2025-004712", "currency": "EUR", "amount_open": "310.50"},
    ])
    entries = [
        _entry("L1", "1200.00", 5, "FACTURE FA2025-004711"),
        _entry("L2", "1200.00", 9, "FA2025-004711 RAPPEL"),  # a later second payment: a duplicate
        _entry("L3", "310.50", 6, "FA2025-004712"),
    ]
    return customers, items, entries


def test_a_line_settled_at_once_despite_a_later_namer_and_another_currency():
    customers, items, entries = _shared_number_case()
    led = Ledger(customers, items)
    eng = Engine(led)
    res = eng.run([line_from_entry(e) for e in entries])
    # L1 names A (EUR) and B (USD); L2 names the same items later: L1 is still settled at once
    assert sorted(eng._fast_done) == [0, 2]
    got = sorted((a.bank_ref, a.invoice_id, a.amount_applied) for a in res.allocations)
    assert ("L1", "A", Decimal("1200.00")) in got and ("L3", "C", Decimal("310.50")) in got
    assert not any(r == "L2" and i == "A" for r, i, _ in got)  # the duplicate does not take A again


def test_same_allocations_with_and_without_the_vectorised_pass():
    customers, items, entries = _shared_number_case()
    # an earlier line naming the item: the later one must not be settled at once
    entries = [_entry("L0", "1200.00", 2, "ACOMPTE FA2025-004711"), *entries]

    def run(fast: bool) -> list[tuple[str, str, str, str]]:
        res = apply_cash(customers, items, entries, config=MatchConfig(fast_path=fast))
        return sorted((a.bank_ref, a.invoice_id, str(a.amount_applied), a.status) for a in res.allocations)

    assert run(True) == run(False)
    led = Ledger(customers, items)
    eng = Engine(led)
    eng.run([line_from_entry(e) for e in entries])
    assert 1 not in eng._fast_done  # L1 comes after L0, which names the same invoice


def test_sorted_query_search_gives_numpys_bounds_in_query_order() -> None:
    from matching.ledger import _search_sorted_queries

    rng = np.random.default_rng(11)
    table = np.sort(np.concatenate([rng.integers(-(2**62), 2**62, 5_000), np.repeat(rng.integers(0, 50, 40), 3)]))
    q = np.concatenate([rng.choice(table, 3_000), rng.integers(-(2**62), 2**62, 3_000), rng.integers(0, 50, 500)])
    rng.shuffle(q)
    lo, hi = _search_sorted_queries(table, q)
    assert np.array_equal(lo, np.searchsorted(table, q, "left"))
    assert np.array_equal(hi, np.searchsorted(table, q, "right"))
    assert (hi - lo).max() >= 3  # repeated keys were among the queries
    e_lo, e_hi = _search_sorted_queries(table, np.empty(0, dtype=np.int64))
    assert len(e_lo) == len(e_hi) == 0


def test_open_amounts_to_cents_exactly() -> None:
    from matching.ledger import _cents_series
    from matching.lines import to_cents

    raw = ["1234.56", " -0.05 ", "100", "100.5", "-150.5", "0.00", "", "99999999999.99", "7.10", "-12"]
    got = _cents_series(pd.Series(raw, dtype=object)).tolist()
    assert got == [123456, -5, 10000, 10050, -15050, 0, 0, 9999999999999, 710, -1200]
    assert got == [to_cents(v.strip()) if v.strip() else 0 for v in raw]
