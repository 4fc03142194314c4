"""Cash application ("lettrage"): allocate bank credits to open receivables.

Pure library code: DataFrames and :class:`~schemas.statement.BankEntry` objects in,
:class:`~matching.model.CashApplication` out. No database, no Airflow.

A run, and where each part lives:

- the bank lines and their features (:mod:`matching.lines`): compact :class:`~matching.lines.Line`
  tuples, their candidate keys, the receipt candidates;
- the ledger index (:mod:`matching.ledger`): customers and open items, the text keys of the
  ledger's REAL open numbers (:func:`matching.normalize.number_keys`: compact form, padding
  dropped, year on two digits, digits without prefix) as a sorted table of hashes, payer IBANs,
  names and aliases;
- this module: every line's keys looked up at once with numpy, unambiguous exact references
  settled in one vectorised pass (:meth:`Engine._fast`), the other lines put in booking order
  (lines quoting open items first within a day) and handed to a line-by-line pass;
- the rules that decide one line (:mod:`matching.decisions`), with subset sums of open amounts
  (:mod:`matching.subsets`); the line-by-line pass runs them one by one, or on several cores
  with the same outputs (:mod:`matching.parallel`), as the caller chooses
  (:func:`matching.io.apply_cash_files` from ``decide_workers``).

Items are consumed in booking order, so a second payment of an item already settled in the run
is flagged as a duplicate instead of being allocated again; only ``auto`` allocations consume
(a suggestion waits for a person). Debits and non-receipt credits (interest, fees: bank
transaction domains in :attr:`MatchConfig.skip_domains`) are left alone.

Every allocation carries a confidence, the rule that produced it (``reference``,
``short_number``, ``typo``, ``amount``, ``amount_combination``, with ``+netting``,
``+amount``, ``+early_payment_discount``, ``+bank_charges``, ``+partial`` suffixes) and a
sentence for the finance team. Confidence at or above :attr:`MatchConfig.auto_threshold` is
``auto``. Combinations found by amount alone are only ``auto`` when a coincidence is unlikely
(:func:`matching.subsets.chance_hits`).

Large runs: :func:`matching.io.load_lines` parses statements in worker processes and hands
over compact line tuples plus hashed text keys, which :meth:`Engine.run_loaded` takes as they are.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from edi.nogc import paused_gc
from matching.columns import trim_heap
from matching.decisions import EVIDENCE, LineDecider, LinePass, decide_in_order
from matching.ledger import KIND_DIGITS, Ledger
from matching.lines import Line, is_candidate, line_from_entry, line_keys
from matching.model import CashApplication, MatchConfig
from schemas.statement import BankEntry

log = logging.getLogger(__name__)


class Engine:
    """Decide allocations for a sequence of lines against one :class:`~matching.ledger.Ledger`.

    ``line_pass`` decides the lines left after the vectorised pass, in booking order: by default
    one by one in this process (:func:`~matching.decisions.decide_in_order`); the caller may pass
    :class:`matching.parallel.ParallelPass` instead (same outputs, several cores). The rules and
    the state of the run (consumed items, results) are the :attr:`decider`'s; successive
    :meth:`run` calls continue the same run.
    """

    def __init__(self, ledger: Ledger, config: MatchConfig | None = None, *, line_pass: LinePass | None = None) -> None:
        self.ledger = ledger
        self.config = config or ledger.config
        self.line_pass: LinePass = line_pass or decide_in_order
        self.parallel_stats: dict[str, int] | None = None  # workers, lines, chunks, redecided (parallel pass only)
        self._fast_done: list[int] = []  # lines the vectorised pass settled in the last run
        self.decider = LineDecider(ledger, self.config)

    @property
    def result(self) -> CashApplication:
        """Everything decided so far (all runs of this engine)."""
        return self.decider.result

    # -- public ---------------------------------------------------------------------------
    def run_loaded(self, loaded: list[Any]) -> CashApplication:
        """:meth:`run` on the ``[lines, key_hashes, key_owner]`` list of :func:`matching.io.load_lines`,
        emptying it so that the big key arrays are freed as soon as they are looked up."""
        lines = loaded.pop(0)
        box = [loaded.pop(0), loaded.pop(0)]
        return self.run(lines, box=box)

    @paused_gc
    def run(self, lines: Sequence[Line], key_hashes: np.ndarray | None = None, key_owner: np.ndarray | None = None,
            *, box: list[np.ndarray] | None = None) -> CashApplication:
        """Apply every line, in booking order. ``key_hashes``/``key_owner`` (line position) may be
        precomputed by :func:`~matching.lines.line_keys` + ``hash``; otherwise they are computed here.

        The cyclic garbage collector is paused meanwhile: the pass makes no reference cycles
        (checked by ``test_pass_pauses_the_collector_and_makes_no_reference_cycles`` in
        ``tests/matching/test_parallel.py``, and for :func:`~matching.subsets.subset_sum` in ``test_engine.py``), and at a million lines the collector's
        full passes over the lines, the ledger and the growing results took about 7 % of the run."""
        cfg = self.config
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
        own, item, kind = self.ledger.lookup_hashes(key_hashes, key_owner)
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
        stats = self.line_pass(self.decider, lines, cand, hits)
        if stats is not None:
            self.parallel_stats = stats
        log.info("%d lines decided one by one in %.1f s%s", len(cand), time.perf_counter() - t1,
                 f" ({stats['workers']} workers, {stats['redecided']} decided again)" if stats else "")
        return self.result

    def _fast(self, lines: Sequence[Line], own: np.ndarray, item: np.ndarray, kind: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Settle, all at once, the lines whose strong references name open items of one customer
        adding up exactly to the amount, when no earlier line names those items (vectorised; the
        same decision :class:`~matching.decisions.LineDecider` takes first, line by line). Returns
        the hits of the other lines."""
        ledger, decider = self.ledger, self.decider
        self._fast_done = []
        # one row per (line, item), best (lowest) kind kept
        key = own * np.int64(ledger.n_items + 1) + item
        order = np.lexsort((kind, key))
        key, own, item, kind = key[order], own[order], item[order], kind[order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        own, item, kind = own[first], item[first], kind[first]
        line_ccy = np.fromiter((ledger.ccy_codes.get(lines[o].currency, -1) for o in own.tolist()), dtype=np.int64, count=len(own))
        same_ccy = ledger.item_ccy[item] == line_ccy
        # an item in another currency than the line's is never used for it (the line-by-line pass
        # drops those hits too): only same-currency hits count below
        so, si, sk = own[same_ccy], item[same_ccy], kind[same_ccy]
        # lines with a weak hit, or an item that an earlier line (in the line-by-line order: booking
        # date, then position) also names, or an item already consumed: not here. A later line
        # naming the same item finds it consumed either way.
        bad_line = np.zeros(len(lines), dtype=bool)
        bad_line[so[sk > KIND_DIGITS]] = True
        rank = self._order_rank(lines)
        first_namer = np.full(ledger.n_items, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first_namer, si, rank[so])
        bad_line[so[rank[so] > first_namer[si]]] = True
        bad_line[so[decider.consumed[si]]] = True
        ok = ~bad_line[so]
        o2, i2, k2 = so[ok], si[ok], sk[ok]
        if len(o2) == 0:
            return own, item, kind
        starts = np.r_[0, np.nonzero(o2[1:] != o2[:-1])[0] + 1]
        lids = o2[starts]
        total = np.add.reduceat(ledger.open_c[i2], starts)
        cmin = np.minimum.reduceat(ledger.item_cust[i2], starts)
        cmax = np.maximum.reduceat(ledger.item_cust[i2], starts)
        n_inv = np.add.reduceat((~ledger.is_cn[i2]).astype(np.int64), starts)
        kmax = np.maximum.reduceat(k2, starts)
        amounts = np.fromiter((lines[o].cents for o in lids.tolist()), dtype=np.int64, count=len(lids))
        good = (total == amounts) & (cmin == cmax) & (n_inv > 0)
        # an earlier line of exactly an item's amount may be its real payment (this one a duplicate):
        # leave those to the line-by-line pass, which goes in booking order
        good_set = set(lids[good].tolist())
        earliest: dict[int, str] = {}
        for i, ln in enumerate(lines):
            if ln.cents > 0 and i not in good_set:
                k = ln.cents * 16 + ledger.ccy_codes.get(ln.currency, 15)
                if k not in earliest or ln.booking_date < earliest[k]:
                    earliest[k] = ln.booking_date
        if earliest:
            item_key = ledger.open_c[i2] * 16 + ledger.item_ccy[i2]
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
            decider.allocate(lines[lid], items, [ledger.open_l[i] for i in items], EVIDENCE[int(kmax[j])],
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


def apply_cash(
    customers: pd.DataFrame,
    open_items: pd.DataFrame,
    entries: Iterable[BankEntry | Line],
    *,
    config: MatchConfig | None = None,
    learned: Any = None,
) -> CashApplication:
    """Allocate ``entries`` (bank credits and debits) to ``open_items``.

    :param customers: columns customer_id, name, country, vat_id, ibans (``;``-separated), aliases (``;``).
    :param open_items: columns invoice_id, customer_id, document_type, invoice_number, issue_date,
        due_date, currency, amount_total, amount_open, creditor_reference (amounts as strings).
    :param entries: canonical :class:`BankEntry` objects or prepared :class:`~matching.lines.Line` tuples.
    :param learned: a :class:`matching.learning.Learned` (aliases and IBANs taught by reviewers).
    """
    cfg = config or MatchConfig()
    ledger = Ledger(customers, open_items, learned=learned, config=cfg)
    lines = [e if isinstance(e, Line) else line_from_entry(e) for e in entries]
    return Engine(ledger, cfg).run(lines)
