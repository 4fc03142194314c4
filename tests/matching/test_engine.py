"""Cash application on hand-made cases: one bank line per scenario, exact allocations asserted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from matching.engine import Engine, apply_cash
from matching.learning import Decision, Learned
from matching.ledger import Ledger
from matching.model import AUTO, SUGGESTED, MatchConfig
from matching.subsets import subset_sum
from schemas.statement import BankEntry, ReferredDocument

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "matching"


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return pd.read_csv(FIX / "customers.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def open_items() -> pd.DataFrame:
    return pd.read_csv(FIX / "open_items.csv", dtype=str, keep_default_na=False)


def entry(ref: str, amount: str, *, ccy: str = "EUR", day: int = 2, name: str | None = None, iban: str | None = None,
          text: list[str] | None = None, rf: list[str] | None = None, code: str = "PMNT/RCDT/ESCT",
          docs: list[ReferredDocument] | None = None) -> BankEntry:
    return BankEntry(amount=Decimal(amount), currency=ccy, booking_date=dt.date(2026, 2, day), bank_ref=ref,
                     counterparty_name=name, counterparty_iban=iban, remittance_lines=text or [],
                     creditor_references=rf or [], bank_tx_code=code, referred_documents=docs or [])


DUMONT = "FR7630006000011234567890189"
MULLER = "DE89370400440532013000"
ALLEN = "GB29NWBK60161331926819"


def allocs(result, ref: str) -> list[tuple[str, Decimal, str]]:
    return sorted((a.invoice_id, a.amount_applied, a.status) for a in result.allocations if a.bank_ref == ref)


def run(customers, open_items, *entries, **kw):
    return apply_cash(customers, open_items, list(entries), **kw)


def test_rf_reference(customers, open_items):
    r = run(customers, open_items, entry("B1", "1200.00", name="DUMONT LOGISTIQUE", rf=["RF95FA202600101"]))
    assert allocs(r, "B1") == [("OI01", Decimal("1200.00"), AUTO)]
    assert r.allocations[0].rule == "reference" and "FA2026-00101" in r.allocations[0].explanation


def test_rf_in_free_text_spaced(customers, open_items):
    r = run(customers, open_items, entry("B1", "1200.00", text=["REF RF95 FA20 2600 101"]))
    assert allocs(r, "B1") == [("OI01", Decimal("1200.00"), AUTO)]


def test_rf_with_bad_check_digits_is_not_trusted(customers, open_items):
    r = run(customers, open_items, entry("B1", "1200.00", rf=["RF96FA202600101"]))
    assert allocs(r, "B1") == []


def test_number_with_noise_split_across_lines(customers, open_items):
    r = run(customers, open_items,
            entry("B2", "850.50", name="DUMONT LOGISTIQUE SAS", text=["REGLT FACT. fa 2026/00", "102 MERCI"]))
    assert allocs(r, "B2") == [("OI02", Decimal("850.50"), AUTO)]


def test_number_without_prefix_year_and_padding(customers, open_items):
    # "102" alone is a sequence-only key: trusted because the IBAN names the customer
    r = run(customers, open_items, entry("B2", "850.50", iban=DUMONT, text=["PAIEMENT 102"]))
    assert allocs(r, "B2") == [("OI02", Decimal("850.50"), AUTO)]
    # the same text from an unknown payer proves nothing
    r = run(customers, open_items, entry("B2", "850.50", text=["PAIEMENT 102"]))
    assert allocs(r, "B2") == []


def test_referred_document_number(customers, open_items):
    r = run(customers, open_items, entry("B3", "200.00", docs=[ReferredDocument(number="RE-26-5002", type_code="CINV")]))
    assert allocs(r, "B3") == [("OI07", Decimal("200.00"), AUTO)]


def test_typo_that_hits_another_real_invoice(customers, open_items):
    # FA2026-00130 exists (another customer, 999.99); the amount and payer point to FA2026-00103
    r = run(customers, open_items, entry("B3", "432.10", iban=DUMONT, text=["FACTURE FA2026-00130"]))
    assert allocs(r, "B3") == [("OI03", Decimal("432.10"), AUTO)]
    assert r.allocations[0].rule == "typo"


def test_multi_invoice(customers, open_items):
    r = run(customers, open_items, entry("B4", "300.00", iban=MULLER, text=["RECHNUNGEN RE-26-5001 / RE265002"]))
    assert allocs(r, "B4") == [("OI06", Decimal("100.00"), AUTO), ("OI07", Decimal("200.00"), AUTO)]


def test_multi_invoice_some_numbers_listed(customers, open_items):
    # 600.00 = 5001 + 5002 + 5003, only 5001 quoted: the rest is found among the customer's items
    r = run(customers, open_items, entry("B4", "600.00", iban=MULLER, text=["RE-26-5001 ETC"]))
    assert allocs(r, "B4") == [("OI06", Decimal("100.00"), AUTO), ("OI07", Decimal("200.00"), AUTO),
                               ("OI08", Decimal("300.00"), AUTO)]


def test_credit_note_netting(customers, open_items):
    r = run(customers, open_items, entry("G1", "850.00", ccy="GBP", iban=ALLEN, text=["INV-7001 LESS CN-7002"]))
    assert allocs(r, "G1") == [("OI11", Decimal("1000.00"), AUTO), ("OI12", Decimal("-150.00"), AUTO)]


def test_credit_note_netting_when_only_invoice_quoted(customers, open_items):
    r = run(customers, open_items, entry("G1", "850.00", ccy="GBP", iban=ALLEN, text=["INV-7001"]))
    assert allocs(r, "G1") == [("OI11", Decimal("1000.00"), AUTO), ("OI12", Decimal("-150.00"), AUTO)]


def test_early_payment_discount(customers, open_items):
    r = run(customers, open_items, entry("B5", "1960.00", iban=DUMONT, text=["FA2026-00104"]))
    assert allocs(r, "B5") == [("OI04", Decimal("1960.00"), AUTO)]
    [w] = r.write_offs
    assert (w.invoice_id, w.amount, w.reason) == ("OI04", Decimal("40.00"), "early_payment_discount")


def test_bank_charges(customers, open_items):
    r = run(customers, open_items, entry("G2", "488.50", ccy="GBP", iban="GB82WEST12345698765432", text=["INVOICE INV 7003"]))
    assert allocs(r, "G2") == [("OI13", Decimal("488.50"), AUTO)]
    [w] = r.write_offs
    assert (w.amount, w.reason) == (Decimal("11.50"), "bank_charges")


def test_partial_payment(customers, open_items):
    r = run(customers, open_items, entry("B6", "1000.00", iban=DUMONT, text=["ACOMPTE FA2026-00105"]))
    assert allocs(r, "B6") == [("OI05", Decimal("1000.00"), AUTO)]
    assert r.write_offs == [] and r.allocations[0].rule.endswith("partial")


def test_overpayment_flagged_excess_unapplied(customers, open_items):
    r = run(customers, open_items, entry("B7", "410.00", iban=MULLER, text=["RE-26-5004"]))
    assert allocs(r, "B7") == [("OI10", Decimal("400.00"), AUTO)]
    assert [(f.kind, f.amount) for f in r.flags] == [("overpayment", Decimal("10.00"))]
    assert [(u.amount, u.reason) for u in r.unapplied] == [(Decimal("10.00"), "overpayment")]


def test_duplicate_payment(customers, open_items):
    r = run(customers, open_items,
            entry("B8", "850.50", day=6, iban=DUMONT, text=["FACTURE FA2026-00102"]),
            entry("B2", "850.50", day=2, iban=DUMONT, text=["FA2026-00102"]))
    assert allocs(r, "B2") == [("OI02", Decimal("850.50"), AUTO)]
    assert allocs(r, "B8") == []
    assert [(f.bank_ref, f.kind, f.invoice_id) for f in r.flags] == [("B8", "duplicate_payment", "OI02")]


def test_non_receivable_credit_and_debit_left_alone(customers, open_items):
    r = run(customers, open_items,
            entry("B9", "12.34", code="ACMT/MCOP/INTR", text=["INTERETS"]),
            entry("B10", "55.00", name="FOURNITURES BUREAU PLUS", text=["AVOIR 778899"]),
            entry("B11", "-432.10", name="ACME", text=["FACTURE FA2026-00103"], code="PMNT/ICDT/ESCT"))
    assert r.allocations == []
    assert r.credit_lines == 1  # interest and the debit are not even candidates


def test_amount_only_with_known_iban(customers, open_items):
    r = run(customers, open_items, entry("G3", "777.77", ccy="GBP", iban=ALLEN))
    assert allocs(r, "G3") == [("OI14", Decimal("777.77"), AUTO)]
    assert r.allocations[0].rule == "amount"


def test_wrong_currency_never_matches(customers, open_items):
    r = run(customers, open_items, entry("B1", "1200.00", ccy="USD", rf=["RF95FA202600101"]))
    assert allocs(r, "B1") == []


def test_threshold_makes_suggestions(customers, open_items):
    cfg = MatchConfig(auto_threshold=0.999)
    r = run(customers, open_items, entry("B1", "1200.00", rf=["RF95FA202600101"]), config=cfg)
    assert allocs(r, "B1") == [("OI01", Decimal("1200.00"), SUGGESTED)]


def test_learned_iban_identifies_payer(customers, open_items):
    new_iban = "FR7610107001011234567890129"
    e = entry("G3", "777.77", ccy="GBP", iban=new_iban)
    assert allocs(run(customers, open_items, e), "G3") == []
    learned = Learned()
    learned.record(Decision("accept", bank_ref="G0", customer_id="C3", payer_iban=new_iban, payer_name="APS TREASURY"))
    r = run(customers, open_items, e, learned=learned)
    assert allocs(r, "G3") == [("OI14", Decimal("777.77"), AUTO)]


def test_learned_alias_identifies_payer(customers, open_items):
    e = entry("G3", "777.77", ccy="GBP", name="APS TREASURY SERVICES")
    assert allocs(run(customers, open_items, e), "G3") == []
    learned = Learned.from_dict({"aliases": {"C3": ["APS Treasury Services"]}})
    r = run(customers, open_items, e, learned=learned)
    assert allocs(r, "G3") == [("OI14", Decimal("777.77"), AUTO)]


def test_rejection_unlearns_and_shared_iban_is_dropped():
    L = Learned()
    L.record(Decision("accept", bank_ref="X", customer_id="C1", payer_iban="FR00A", payer_name="ACME"))
    L.record(Decision("reject", bank_ref="Y", customer_id="C1", payer_iban="FR00A", payer_name="ACME"))
    assert L.ibans == {} and L.aliases["C1"] == set()
    L.record(Decision("accept", bank_ref="Z", customer_id="C1", payer_iban="FR00A"))  # rejected before: not relearned
    assert L.ibans == {}
    L.record(Decision("accept", bank_ref="Z", customer_id="C2", payer_iban="BE00B"))
    L.record(Decision("accept", bank_ref="W", customer_id="C3", payer_iban="BE00B"))
    assert "BE00B" in L.shared_ibans and "BE00B" not in L.ibans


def test_subset_sum_reports_ambiguity():
    sols, done = subset_sum([100, 200, 300], 300, 3, 1000)
    assert done and sorted(sols) == [[0, 1], [2]]


def test_subset_sum_leaves_no_reference_cycle():
    # the depth-first search is a closure that refers to itself: unbroken, every call leaves a
    # cycle (function, cells, the search's lists) for the collector, which Engine.run pauses
    import gc

    gc.collect()
    gc.disable()
    try:
        sols, done = subset_sum([500, 300, 210, 120, -80], 540, 4, 10_000)
        found = gc.collect()
    finally:
        gc.enable()
    assert (sols, done) == ([[0, 3, 4]], True)
    assert found == 0


def test_engine_runs_in_booking_order_across_calls(customers, open_items):
    ledger = Ledger(customers, open_items)
    eng = Engine(ledger)
    from matching.lines import line_from_entry

    eng.run([line_from_entry(entry("B2", "850.50", iban=DUMONT, text=["FA2026-00102"]))])
    eng.run([line_from_entry(entry("B8", "850.50", day=6, iban=DUMONT, text=["FA2026-00102"]))])
    assert [f.kind for f in eng.result.flags] == ["duplicate_payment"]


def _completion_ledger() -> tuple[pd.DataFrame, pd.DataFrame]:
    cust = pd.DataFrame({"customer_id": ["C1", "C2"], "name": ["Quincaillerie Arnaud SA", "Zephyr Tools GmbH"],
                         "country": ["FR", "DE"], "vat_id": ["", ""], "ibans": [DUMONT, MULLER], "aliases": ["", ""]})
    rows = [("Q", "C1", "FA-2026-0001", "100.00"), ("U1", "C1", "FA-2026-0002", "111.11"),
            ("U2", "C1", "FA-2026-0003", "222.37"), ("U3", "C1", "FA-2026-0004", "333.59"),
            ("U4", "C1", "FA-2026-0005", "444.83"), ("X1", "C2", "FA-2026-0006", "111.11")]
    items = pd.DataFrame({
        "invoice_id": [r[0] for r in rows], "customer_id": [r[1] for r in rows], "document_type": ["invoice"] * len(rows),
        "invoice_number": [r[2] for r in rows], "issue_date": ["2026-01-10"] * len(rows), "due_date": ["2026-02-09"] * len(rows),
        "currency": ["EUR"] * len(rows), "amount_total": [r[3] for r in rows], "amount_open": [r[3] for r in rows],
        "creditor_reference": [""] * len(rows)})
    return cust, items


def test_quoted_item_completed_by_up_to_three_unquoted_items_is_auto():
    cust, items = _completion_ledger()
    # 767.07 = FA-2026-0001 (quoted) + 111.11 + 222.37 + 333.59 of the same customer, found by amount
    r = run(cust, items, entry("B1", "767.07", iban=DUMONT, text=["FACTURE FA-2026-0001 ET AUTRES"]))
    assert allocs(r, "B1") == [("Q", Decimal("100.00"), AUTO), ("U1", Decimal("111.11"), AUTO),
                               ("U2", Decimal("222.37"), AUTO), ("U3", Decimal("333.59"), AUTO)]
    assert {a.rule for a in r.allocations} == {"reference+amount"}


def test_more_unquoted_items_than_allowed_wait_for_a_person():
    cust, items = _completion_ledger()
    # 1,211.90 needs four unquoted items: a suggestion by default, auto when the limit allows four
    line = entry("B2", "1211.90", iban=DUMONT, text=["FACTURE FA-2026-0001 ET AUTRES"])
    expected = [("Q", Decimal("100.00")), ("U1", Decimal("111.11")), ("U2", Decimal("222.37")),
                ("U3", Decimal("333.59")), ("U4", Decimal("444.83"))]
    r = run(cust, items, line)
    assert allocs(r, "B2") == [(i, a, SUGGESTED) for i, a in expected]
    r = run(cust, items, line, config=MatchConfig(max_unquoted_auto=4))
    assert allocs(r, "B2") == [(i, a, AUTO) for i, a in expected]


def test_sequence_number_of_a_payer_known_by_name_with_bank_charges_is_auto():
    cust, items = _completion_ledger()
    extra = items.iloc[[0]].assign(invoice_id="S1", invoice_number="FA-2026-004512", amount_total="512.40", amount_open="512.40")
    items = pd.concat([items, extra], ignore_index=True)
    # no IBAN: the payer is known by its name only; "4512" is the sequence of FA-2026-004512, 5.00 short
    r = run(cust, items, entry("B3", "507.40", name="QUINCAILLERIE ARNAUD", text=["FACT 4512"]))
    assert allocs(r, "B3") == [("S1", Decimal("507.40"), AUTO)]
    assert [(a.rule, a.confidence) for a in r.allocations] == [("short_number+bank_charges", 0.91)]
    assert [(w.invoice_id, w.amount, w.reason) for w in r.write_offs] == [("S1", Decimal("5.00"), "bank_charges")]


def _brute_subsets(values: list[int], target: int, max_k: int) -> list[list[int]]:
    from itertools import combinations

    return [list(c) for k in range(1, max_k + 1) for c in combinations(range(len(values)), k)
            if sum(values[j] for j in c) == target]


@pytest.mark.parametrize("scale", [1, 10**12])  # cents, and amounts whose sums pass 2**53 (exact in int64 only)
def test_meet_in_the_middle_agrees_with_brute_force(scale: int) -> None:
    import random

    from matching.subsets import subset_sum_mitm

    rng = random.Random(11)
    checked = unique = ambiguous = 0
    for _ in range(120):
        m = rng.randint(12, 16)
        values = [rng.choice([1, 1, 1, -1]) * rng.randint(1, rng.choice([40, 5000])) * scale for _ in range(m)]
        target = sum(rng.sample(values, rng.randint(1, 4)))
        found = subset_sum_mitm(values, target, 4)
        truth = _brute_subsets(values, target, 4)
        assert len(found) == min(2, len(truth))
        assert all(sorted(s) in truth for s in found)
        if len(truth) == 1:
            unique += 1
            assert sorted(found[0]) == truth[0]
        ambiguous += len(truth) > 2
        checked += 1
    assert checked == 120 and unique > 10 and ambiguous > 10  # both kinds of case were exercised


def test_chance_hits_uses_the_population_mean_and_deviation() -> None:
    import math

    import numpy as np

    from matching.subsets import chance_hits

    values = [123_456, 98_000, 250_075, 4_999, 77_777, 310_000, 42_424]
    v = np.asarray(values, dtype=np.float64)
    mu, sd = float(v.mean()), float(v.std()) + 1.0
    expected = sum(math.comb(7, j) * math.exp(-0.5 * ((300_000 - j * mu) / (sd * math.sqrt(j) + 1.0)) ** 2)
                   / ((sd * math.sqrt(j) + 1.0) * math.sqrt(2 * math.pi)) for j in range(1, 5))
    assert chance_hits(values, 300_000, 4) == pytest.approx(expected, rel=1e-12)
    assert chance_hits([], 5, 3) == 0.0
