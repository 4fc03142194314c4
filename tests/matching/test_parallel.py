"""The parallel line-by-line pass gives exactly the sequential pass's outputs.

The data is built so that lines depend on each other across chunks: invoices paid twice
(duplicates), the same amount owed by many customers (typo and amount searches cross
customers), payments by amount alone from known IBANs (they read the payer's whole pool) and
multi-invoice payments. Chunks are tiny so that many lines are decided while their neighbours
are still in flight (by the worker, or by the main process, which decides every other chunk
itself); some speculations must then be refused and decided again.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import random
from decimal import Decimal

import pandas as pd
import pytest

import matching.parallel as parallel_mod
from matching.decisions import LineDecider
from matching.engine import Engine
from matching.ledger import Ledger
from matching.lines import line_from_entry
from matching.model import MatchConfig
from matching.parallel import ParallelPass
from schemas.statement import BankEntry

pytestmark = pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs the fork start method")


def _data(seed: int, customers: int = 60, invoices: int = 900, lines: int = 1200):
    rnd = random.Random(seed)
    cust = []
    for c in range(customers):
        iban = f"FR76300060000112345678{c:05d}"
        cust.append({"customer_id": f"C{c}", "name": f"Societe {chr(65 + c % 26)}{c} SARL", "country": "FR",
                     "vat_id": "", "ibans": iban, "aliases": ""})
    amounts = [Decimal(x) for x in ("100.00", "250.00", "1000.00", "1234.50", "99.90")]
    items = []
    for i in range(invoices):
        amt = rnd.choice(amounts) if rnd.random() < 0.5 else Decimal(rnd.randint(1000, 500000)) / 100
        items.append({"invoice_id": f"OI{i}", "customer_id": f"C{rnd.randrange(customers)}",
                      "document_type": "credit_note" if rnd.random() < 0.05 else "invoice",
                      "invoice_number": f"FA2026-{i:05d}", "issue_date": "2026-01-05", "due_date": "2026-02-05",
                      "currency": "EUR", "amount_total": f"{amt:.2f}", "amount_open": f"{amt:.2f}",
                      "creditor_reference": ""})
    entries = []
    for n in range(lines):
        it = items[rnd.randrange(invoices)]
        c = int(it["customer_id"][1:])
        amt = Decimal(it["amount_open"])
        iban = cust[c]["ibans"] if rnd.random() < 0.8 else None
        kind = rnd.random()
        number = it["invoice_number"]
        if kind < 0.35:
            text = [f"PAIEMENT {number}"]
        elif kind < 0.5:  # a one-character typo
            j = rnd.randrange(7, len(number))
            text = [f"FACT {number[:j]}{(int(number[j]) + 1) % 10}{number[j + 1:]}"]
        elif kind < 0.65:  # sequence number only
            text = [f"VIR {int(number[-5:])}"]
        elif kind < 0.85:  # amount only
            text = ["VIREMENT"]
        else:  # two invoices of the customer, numbers listed
            other = next((x for x in items if x["customer_id"] == it["customer_id"] and x is not it), it)
            amt += Decimal(other["amount_open"]) if other is not it else 0
            text = [f"{number} {other['invoice_number']}"]
        if rnd.random() < 0.1:
            amt -= Decimal("7.50")  # bank charges
        entries.append(BankEntry(amount=amt, currency="EUR", booking_date=dt.date(2026, 2, 1 + n % 20),
                                 bank_ref=f"B{n:06d}", counterparty_name=cust[c]["name"].upper(),
                                 counterparty_iban=iban, remittance_lines=text, bank_tx_code="PMNT/RCDT/ESCT"))
    return pd.DataFrame(cust), pd.DataFrame(items), entries


def _run(customers, items, entries, workers: int, monkeypatch, chunk: int = 0):
    cfg = MatchConfig()
    ledger = Ledger(customers, items, config=cfg)
    eng = Engine(ledger, cfg, line_pass=ParallelPass(workers))
    if chunk:
        monkeypatch.setattr(parallel_mod, "CHUNK", chunk)
    monkeypatch.setattr(parallel_mod, "PARALLEL_MIN_LINES", 0)
    result = eng.run([line_from_entry(e) for e in entries])
    return result, eng


@pytest.mark.parametrize("seed", [1, 2])
def test_parallel_pass_equals_sequential(seed, monkeypatch):
    customers, items, entries = _data(seed)
    seq, seq_engine = _run(customers, items, entries, 1, monkeypatch)
    par, par_engine = _run(customers, items, entries, 2, monkeypatch, chunk=7)
    assert seq_engine.parallel_stats is None
    stats = par_engine.parallel_stats
    assert stats is not None and stats["chunks"] > 50
    # the data must exercise every path: speculations taken, speculations refused, and the chunks
    # this process decides itself (every second one with two workers)
    assert 0 < stats["redecided"] < stats["lines"]
    assert stats["here"] == sum(min(7, stats["lines"] - a) for a in range(0, stats["lines"], 14))
    assert par.allocations == seq.allocations
    assert par.flags == seq.flags
    assert par.unapplied == seq.unapplied
    assert par.write_offs == seq.write_offs
    assert (par.lines_total, par.credit_lines) == (seq.lines_total, seq.credit_lines)
    assert par_engine.decider.used == seq_engine.decider.used and par_engine.decider.paid_by == seq_engine.decider.paid_by
    # the data has what the pass must get right: duplicates, write-offs, amount-only decisions
    assert any(f.kind == "duplicate_payment" for f in seq.flags)
    assert seq.write_offs
    assert any(a.rule.startswith("amount") for a in seq.allocations)


def test_pass_pauses_the_collector_and_makes_no_reference_cycles(monkeypatch):
    import gc

    customers, items, entries = _data(4, lines=400)
    cfg = MatchConfig()
    eng = Engine(Ledger(customers, items, config=cfg), cfg)
    lines = [line_from_entry(e) for e in entries]
    seen: list[bool] = []
    decide = LineDecider.decide

    def spy(self, ln, hits):
        seen.append(gc.isenabled())
        decide(self, ln, hits)

    monkeypatch.setattr(LineDecider, "decide", spy)
    gc.collect()
    result = eng.run(lines)
    assert gc.isenabled()  # restored
    assert seen and not any(seen)
    # everything the pass dropped was freed by reference counting: nothing left for the collector
    assert gc.collect() == 0
    assert any(a.rule.startswith("amount_combination") for a in result.allocations)  # subset sums ran


def test_segments_alternate_between_this_process_and_the_workers():
    from matching.parallel import _segments

    assert _segments(10, 2, 4) == [(0, 4, True), (4, 8, False), (8, 10, True)]
    assert _segments(9, 3, 3) == [(0, 3, True), (3, 6, False), (6, 9, False)]
    assert _segments(0, 2, 4) == []


def test_sequential_when_one_worker_or_few_lines(monkeypatch):
    customers, items, entries = _data(3, lines=200)
    cfg = MatchConfig()
    eng = Engine(Ledger(customers, items, config=cfg), cfg, line_pass=ParallelPass(2))
    eng.run([line_from_entry(e) for e in entries])  # below PARALLEL_MIN_LINES: no fork
    assert eng.parallel_stats is None
