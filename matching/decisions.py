"""The rules that decide one bank line: which open items it pays, or why none.

A :class:`LineDecider` holds what the rules read and write, all injected: the ledger index
(:class:`matching.ledger.Ledger`, which carries the aliases and IBANs reviewers taught, applied
when it was built with ``learned=``), the :class:`~matching.model.MatchConfig`, and the state of
the pass (which items lines have consumed, by which bank line, and the result the decisions are
appended to). :meth:`LineDecider.decide` decides one line after the lines decided before it.

How a line is read, strongest evidence first:

1. structured creditor references (ISO 11649 RF, check digits verified) and referred document
   numbers, then invoice and credit-note numbers in the free text, cut into alphanumeric runs
   glued up to four neighbours (:func:`matching.normalize.text_grams`): the ``hits`` the ledger
   index found for the line's keys (:func:`matching.lines.line_keys`); sequence-only keys (``123``) only among the payer's own open items; a one-edit typo only
   among items of the exact amount or of the payer;
2. the payer's identity (IBAN, then name and aliases, see :mod:`matching.names`);
3. amounts: exact single or multi-invoice sums (:mod:`matching.subsets`, credit notes netted),
   short payments explained as early-payment discount or bank charges (written off), partial
   payments, overpayments (excess left unapplied).

Only ``auto`` allocations consume items (a suggestion waits for a person), so a second payment
of an item already settled in the run is flagged as a duplicate.

A line-by-line pass (:data:`LinePass`) decides a run's remaining lines in booking order:
:func:`decide_in_order` one by one here, or :class:`matching.parallel.ParallelPass` on several
cores with the same outputs. The caller of :class:`matching.engine.Engine` chooses.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

import numpy as np

from matching.ledger import KIND_DIGITS, KIND_RF, KIND_STRONG, KIND_WEAK, KIND_WEAK_IBAN, NUMBER_SHAPE, Ledger
from matching.lines import Line, line_grams
from matching.model import (
    AUTO,
    BANK_CHARGES,
    DUPLICATE_PAYMENT,
    EARLY_PAYMENT_DISCOUNT,
    OVERPAYMENT,
    SUGGESTED,
    Allocation,
    CashApplication,
    Flag,
    MatchConfig,
    Unapplied,
    WriteOff,
)
from matching.normalize import within_one_edit
from matching.subsets import chance_hits, subset_sum

#: the confidence a key of each kind gives on its own (a line's weakest key counts)
EVIDENCE = {KIND_RF: 0.99, KIND_STRONG: 0.98, KIND_DIGITS: 0.96, KIND_WEAK_IBAN: 0.95, KIND_WEAK: 0.93}
_TYPO_SCAN = 24  # items of one amount compared one by one in a typo search; more go through an index


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _fmt(cents: int, ccy: str) -> str:
    sign = "-" if cents < 0 else ""
    c = abs(cents)
    return f"{sign}{c // 100:,}.{c % 100:02d} {ccy}"


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


_HOW = {
    "reference": "quoted in the payment reference",
    "short_number": "quoted in a shortened form, among the payer's open items",
    "typo": "quoted with a one-character typo",
    "amount": "identified from the payer and the amount",
    "amount_combination": "identified from the payer and the amount",
}


class LineDecider:
    """Decide bank lines one at a time against one ledger index, with the pass's state.

    The state is public, for a line-by-line pass that shares it between processes
    (:mod:`matching.parallel`): :attr:`used` (one byte per open item, 1 once consumed; any object
    indexable like a ``bytearray``), :attr:`consumed` (the same bytes as a numpy boolean array, for
    :meth:`free`), :attr:`paid_by` (item -> bank reference of the line that consumed it) and
    :attr:`result`. The ledger and the config are only read.
    """

    def __init__(self, ledger: Ledger, config: MatchConfig | None = None) -> None:
        self.ledger = ledger
        self.config = config or ledger.config
        self.used = bytearray(ledger.n_items)  # scalar access from Python ...
        self.consumed = np.frombuffer(self.used, dtype=np.bool_)  # ... and the same bytes for numpy
        self.paid_by: dict[int, str] = {}
        self.result = CashApplication()
        self._gram_line: Line | None = None
        self._gram_val: list[str] = []

    # -- one line -------------------------------------------------------------------------
    def decide(self, ln: Line, hits: dict[int, int]) -> None:
        """Decide one line, in booking order after the lines decided before it: its allocations,
        flags, write-offs or unapplied amount are appended to :attr:`result`, and the items it
        settles automatically are marked consumed. ``hits``: the open items its keys name
        (:meth:`matching.ledger.Ledger.lookup_hashes`), each with its strongest ``KIND_*``."""
        ledger = self.ledger
        ccy = ledger.ccy_codes.get(ln.currency, -1)
        found = {i: k for i, k in hits.items() if ledger.ccy_l[i] == ccy}
        if found and self._quick(ln, found):
            return
        payers, how = ledger.payer_customers(ln)
        # resolve keys shared by several items towards the payer
        if len(found) > 1 and payers:
            mine = {i: k for i, k in found.items() if ledger.cust_l[i] in payers}
            if mine and len(mine) < len(found):
                # keep other customers' items only when quoted by a strong key (third-party payer)
                found = {i: k for i, k in found.items() if i in mine or k == KIND_RF}
        if found and payers and all(ledger.cust_l[i] not in payers and k != KIND_RF for i, k in found.items()):
            # the quoted number is another customer's; the payer's own open items with those short
            # numbers and a consistent amount are the better reading ("297151" for FA2025-297151)
            own = self._weak_hits(ln, payers, ccy, exclude=set())
            kind = KIND_WEAK_IBAN if how == "iban" else KIND_WEAK
            own_total = sum(ledger.open_l[i] for i in own)
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
                        concerned.update(ledger.name_customers(nm))
            grams = self._grams(ln)
            if not payers and len(concerned) < 4 and any(len(g) >= 3 and g.isdigit() for g in grams):
                for t in ln.texts:
                    concerned.update(ledger.name_customers(t))
            weak: dict[int, int] = {}
            best = 0
            years = ledger.year_tokens
            custs = list(concerned if len(concerned) <= 12 else payers)
            wgrams = [g for g in grams if len(g) >= self.config.min_weak_key_len and g not in years]
            for it, gi in ledger.weak_lookup(custs, wgrams):
                if ledger.ccy_l[it] == ccy and not ledger.cn_l[it]:
                    n = len(wgrams[gi])
                    weak[it] = max(weak.get(it, 0), n)
                    best = max(best, n)
            # keep the items matched by the longest quoted form (a stray "2" is not evidence)
            weak = {it: (KIND_WEAK_IBAN if how == "iban" and ledger.cust_l[it] in payers else KIND_WEAK)
                    for it, n in weak.items() if n == best}
            if weak and self._with_references(ln, weak, payers, how, ccy, "short_number"):
                return
            # last resort among quoted numbers: the tail of a longer sequence group (a payer writes
            # "24872" for F251224872); trusted only when the amount agrees or is explained
            if not weak:
                tail: set[int] = set()
                sgrams = [g for g in grams if len(g) >= 4 and g.isdigit() and g not in years]
                for it, _ in ledger.suffix_lookup(custs, sgrams):
                    if ledger.ccy_l[it] == ccy and not ledger.cn_l[it] and not self.used[it]:
                        tail.add(it)
                if len(tail) == 1:
                    it = next(iter(tail))
                    if self._explained(ln.cents, ledger.open_l[it]):
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
        ledger = self.ledger
        total = 0
        cust = -2
        for i, k in found.items():
            if k > KIND_DIGITS or self.used[i]:
                return False
            c = ledger.cust_l[i]
            if cust != -2 and c != cust:
                return False
            cust = c
            total += ledger.open_l[i]
        items = list(found)
        if total != ln.cents or all(ledger.cn_l[i] for i in items):
            return False
        evid = min(EVIDENCE[k] for k in found.values())
        self.allocate(ln, items, [ledger.open_l[i] for i in items], evid, "reference", "the amounts add up exactly", set())
        return True

    def free(self, its: np.ndarray) -> np.ndarray:
        """Mask of the items of ``its`` not consumed yet (the one vectorised read of the state:
        a speculating decider of :mod:`matching.parallel` overrides it to record the read)."""
        return ~self.consumed[its]

    def _weak_hits(self, ln: Line, custs: set[int], ccy: int, exclude: set[int]) -> list[int]:
        """Open invoices of ``custs`` whose sequence-only number is quoted (longest form wins)."""
        ledger = self.ledger
        if not (ln.texts or ln.docs) or len(custs) > 3:
            return []
        grams = [g for g in self._grams(ln) if len(g) >= self.config.min_weak_key_len and g not in ledger.year_tokens]
        out: list[int] = []
        for it, _ in ledger.weak_lookup(list(custs), grams):
            if it not in exclude and it not in out and not self.used[it] and ledger.ccy_l[it] == ccy and not ledger.cn_l[it]:
                out.append(it)
        return out

    def _grams(self, ln: Line) -> list[str]:
        if self._gram_line is ln:
            return self._gram_val
        self._gram_line = ln
        self._gram_val = line_grams(ln)
        return self._gram_val

    def _unknown_number(self, ln: Line, grams: list[str] | None) -> bool:
        """The text quotes something shaped like one of the ledger's numbers that is not open."""
        if grams is None:
            if not (ln.texts or ln.docs):
                return False
            grams = self._grams(ln)
        for g in grams:
            m = NUMBER_SHAPE.match(g)
            if m and m.group(1) and (m.group(1), len(m.group(2))) in self.ledger.shapes:
                return True
        return False

    # -- evidence from references -----------------------------------------------------------
    def _with_references(self, ln: Line, found: dict[int, int], payers: set[int], how: str, ccy: int, rule: str) -> bool:
        ledger, cfg = self.ledger, self.config
        live = {i: k for i, k in found.items() if not self.used[i]}
        dead = [i for i in found if self.used[i]]
        inv = [i for i in live if not ledger.cn_l[i]]
        cns = [i for i in live if ledger.cn_l[i]]
        received = ln.cents
        if not inv:
            if dead and not live:
                # a settled item quoted again for the same money: a duplicate payment ...
                same = [i for i in dead if not ledger.cn_l[i] and ledger.open_l[i] == received]
                # ... unless the number is a one-key typo for an open item of exactly this amount
                if self._typo(ln, self._grams(ln), payers, how, ccy, amount_only=True):
                    return True
                if same:
                    self._duplicate(ln, same[0], payers)
                    return True
            return False
        evid = min(EVIDENCE.get(k, 0.92) for k in live.values())
        owners = {ledger.cust_l[i] for i in live}
        third = bool(payers) and not (owners & payers)
        if third and evid < 0.95:
            evid -= 0.05
        chosen = inv + cns
        opens = [ledger.open_l[i] for i in chosen]
        total = sum(opens)
        if total == received:
            self.allocate(ln, chosen, opens, evid, rule, "the amounts add up exactly", payers)
            return True
        # the customer is known from the full numbers: shortened numbers of its other items count too
        extra = self._weak_hits(ln, owners, ccy, exclude=set(chosen))
        if extra and total + sum(ledger.open_l[i] for i in extra) == received:
            items = chosen + extra
            self.allocate(ln, items, [ledger.open_l[i] for i in items], min(evid, 0.95) - 0.01, rule + "+short_number",
                           "the quoted items, some in a shortened form, add up exactly", payers)
            return True
        # a subset of the quoted items may be exactly what was paid
        if len(chosen) > 1:
            sols, done = subset_sum(opens, received, cfg.max_subset_items, cfg.subset_budget)
            if len(sols) == 1 and done:
                sub = [chosen[j] for j in sols[0]]
                self.allocate(ln, sub, [ledger.open_l[i] for i in sub], evid - 0.03, rule,
                               "the quoted items that add up exactly to the amount received", payers)
                return True
        if len(inv) == 1 and not cns:
            # one quoted number and the wrong amount: it may be a typo for an invoice of exactly this amount
            if self._typo(ln, self._grams(ln), payers, how, ccy, amount_only=True):
                return True
            if third:  # neither the payer nor the amount agrees with the quoted number
                evid -= 0.15
        if total < received:
            # more money than the quoted items: others of the same customer(s) may complete it
            rest = received - total
            pool = self._pool(owners, ccy, exclude=set(chosen), before=ln.booking_date)
            completions = 0
            # one missing item: look through all the customer's open items, not only the pool
            single = [i for i in ledger.items_with_amount(rest, ccy)
                      if ledger.cust_l[i] in owners and not self.used[i] and i not in chosen and not ledger.cn_l[i]]
            if len(single) == 1:
                items = chosen + single
                self.allocate(ln, items, [ledger.open_l[i] for i in items], min(evid, 0.95) - 0.02, rule + "+amount",
                               "the quoted items plus the customer's only open item of the remaining amount add up exactly", payers)
                return True
            completions = len(single)
            if pool and not completions:
                vals = [ledger.open_l[i] for i in pool]
                sols, done = subset_sum(vals, rest, max(1, cfg.max_subset_items - len(chosen)), cfg.subset_budget)
                completions = len(sols)
                if len(sols) == 1 and done:
                    extra = [pool[j] for j in sols[0]]
                    items = chosen + extra
                    conf = min(evid, 0.95) - 0.02
                    if (len(extra) > cfg.max_unquoted_auto
                            or chance_hits(vals, rest, max(1, cfg.max_subset_items - len(chosen))) >= cfg.max_chance_quoted):
                        conf -= 0.15  # many unquoted items found by amount alone: a person checks
                    self.allocate(ln, items, [ledger.open_l[i] for i in items], conf,
                                   rule + "+amount", "the quoted items plus other open items of the customer add up exactly", payers)
                    return True
            inv_total = sum(ledger.open_l[i] for i in chosen)
            conf = evid - 0.05
            round_sum = received % 10000 == 0  # a round amount paid against a smaller invoice
            if len(chosen) > 1 or completions or (Decimal(rest) > cfg.overpay_max_pct * Decimal(max(inv_total, 1)) and not round_sum):
                conf = min(conf, 0.8)  # several readings are possible: a person decides
            self.allocate(ln, chosen, opens, conf, rule, "more was received than is open", payers)
            self.result.flags.append(Flag(ln.bank_ref, OVERPAYMENT,
                f"{_fmt(received, ln.currency)} received but only {_fmt(inv_total, ln.currency)} is open on the quoted items; "
                f"the excess of {_fmt(rest, ln.currency)} stays unapplied.", amount=_money(rest)))
            self.result.unapplied.append(Unapplied(ln.bank_ref, _money(rest), ln.currency, "overpayment",
                                                     self._cust_id(chosen[0])))
            return True
        # less money than the quoted items: credit notes of the same customer may net it
        pool = self._pool(owners, ccy, exclude=set(chosen), before=ln.booking_date, only_cn=True)
        if pool:
            vals = [ledger.open_l[i] for i in pool]
            sols, done = subset_sum(vals, received - total, 3, cfg.subset_budget)
            if len(sols) == 1 and done:
                items = chosen + [pool[j] for j in sols[0]]
                self.allocate(ln, items, [ledger.open_l[i] for i in items], min(evid, 0.95) - 0.02,
                               rule + "+netting", "the quoted invoices net of the customer's open credit notes add up exactly", payers)
                return True
        if len(inv) == 1 and not cns:
            i = inv[0]
            open_ = ledger.open_l[i]
            self._short(ln, i, open_, received, evid, rule, payers)
            return True
        # several quoted items and less money: allocate in due-date order, for a person to check
        items = sorted(chosen, key=lambda i: (ledger.cn_l[i] is False, int(ledger.due_day[i])))
        cns_first = [i for i in items if ledger.cn_l[i]] + [i for i in items if not ledger.cn_l[i]]
        rem = received
        amounts = []
        used = []
        for i in cns_first:
            o = ledger.open_l[i]
            if rem <= 0:
                break
            a = o if o < 0 else min(o, rem)
            amounts.append(a)
            used.append(i)
            rem -= a
        self.allocate(ln, used, amounts, min(evid - 0.2, 0.7), rule, "less was received than the quoted items; allocated oldest first", payers)
        return True

    def _explained(self, received: int, open_: int) -> bool:
        """The amount received is the open amount, or short of it by charges or a discount."""
        if received == open_:
            return True
        short_by = open_ - received
        if short_by <= 0:
            return False
        if short_by <= self.config.charges_max_cents:
            return True
        pct = Decimal(short_by) / Decimal(open_) if open_ else Decimal(0)
        return self.config.discount_min_pct <= pct <= self.config.discount_max_pct

    def _short(self, ln: Line, i: int, open_: int, received: int, evid: float, rule: str, payers: set[int]) -> None:
        cfg = self.config
        short_by = open_ - received
        pct = Decimal(short_by) / Decimal(open_) if open_ else Decimal(0)
        exact_pct = any(abs(short_by - round(open_ * p / 1000)) <= 1 for p in range(5, 35, 5))
        if exact_pct and cfg.discount_min_pct <= pct <= cfg.discount_max_pct:
            reason, why = EARLY_PAYMENT_DISCOUNT, f"an early-payment discount of {pct * 100:.1f} %"
            conf = evid - 0.02
        elif short_by <= cfg.charges_max_cents:
            reason, why = BANK_CHARGES, "bank charges"
            conf = evid - 0.02
        elif cfg.discount_min_pct <= pct <= cfg.discount_max_pct:
            reason, why = EARLY_PAYMENT_DISCOUNT, f"an early-payment discount of {pct * 100:.1f} %"
            conf = evid - 0.04
        else:
            reason, why = "", ""
            conf = evid - 0.04
        if reason:
            self.allocate(ln, [i], [received], conf, rule + "+" + reason,
                           f"{_fmt(short_by, ln.currency)} short of the open amount, read as {why}", payers)
            self.result.write_offs.append(WriteOff(ln.bank_ref, self.ledger.item_ids[i], _money(short_by), ln.currency, reason,
                f"Write off {_fmt(short_by, ln.currency)} on {self.ledger.numbers[i]}: {why}."))
        else:
            self.allocate(ln, [i], [received], conf, rule + "+partial",
                           f"a partial payment; {_fmt(short_by, ln.currency)} stays open", payers)

    # -- typos ------------------------------------------------------------------------------
    def _typo(self, ln: Line, grams: list[str], payers: set[int], how: str, ccy: int, amount_only: bool = False) -> bool:
        ledger, cfg = self.ledger, self.config
        typed = [g for g in grams if len(g) >= cfg.min_typo_len - 1 and not g.isalpha()]
        if not typed:
            return False
        # one-edit typos are only looked for among items of exactly the amount received
        group = ledger.items_with_amount(ln.cents, ccy)
        if len(group) > _TYPO_SCAN:
            # a frequent amount (1,000.00): only the items sharing a string one deletion away
            # with a quoted number can be one edit away from it (see Ledger.near_items)
            near = set(typed)
            for g in typed:
                near.update(g[:j] + g[j + 1 :] for j in range(len(g)))
            group = ledger.near_items(ln.cents, ccy, near)
        cands = [i for i in group if not self.used[i] and not ledger.cn_l[i]]
        if not cands:
            return False
        by_len: dict[int, list[str]] = defaultdict(list)
        for g in typed:
            by_len[len(g)].append(g)
        hit: set[int] = set()
        for i in set(cands):
            for k in ledger.item_keys(i):
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
        open_ = ledger.open_l[i]
        mine = ledger.cust_l[i] in payers
        amount_ok = open_ == ln.cents
        if not (amount_ok or mine):
            return False
        conf = 0.95 if (amount_ok and mine) else (0.91 if amount_ok else 0.85)
        if amount_ok:
            self.allocate(ln, [i], [open_], conf, "typo", "the quoted number is one keystroke away from this open invoice and the amount matches", payers)
        elif ln.cents < open_:
            self._short(ln, i, open_, ln.cents, conf - 0.1, "typo", payers)
        else:
            return False
        return True

    # -- amount only ------------------------------------------------------------------------
    def _pool(self, custs: Iterable[int], ccy: int, exclude: set[int], before: str = "", only_cn: bool = False) -> list[int]:
        """Open items of ``custs`` in ``ccy`` issued by ``before``, at most ``subset_pool`` of them,
        those due nearest to the payment date first (payers settle what falls due)."""
        ledger = self.ledger
        parts = [ledger.customer_items(c) for c in custs]
        if not parts:
            return []
        its = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if not len(its):
            return []
        ref = _day(before) if before else 0
        m = self.free(its) & (ledger.item_ccy[its] == ccy)
        if only_cn:
            m &= ledger.is_cn[its]
        if ref:
            m &= ledger.issue_day[its] <= ref
        its = its[m]
        if exclude:
            its = np.asarray([i for i in its.tolist() if i not in exclude], dtype=np.int64)
        if len(its) > self.config.subset_pool:
            key = np.abs(ledger.due_day[its] - ref) if ref else ledger.due_day[its]
            its = its[np.argsort(key, kind="stable")[: self.config.subset_pool]]
        return its.tolist()

    def _by_amount(self, ln: Line, payers: set[int], how: str, ccy: int, unknown: bool) -> bool:
        ledger, cfg = self.ledger, self.config
        if len(payers) > 3:
            return False
        base = 0.94 if how == "iban" else 0.9
        if unknown:
            base = 0.6
        same = [i for i in ledger.items_with_amount(ln.cents, ccy)
                if ledger.cust_l[i] in payers and not self.used[i] and not ledger.cn_l[i]]
        if len(same) == 1:
            self.allocate(ln, same, [ln.cents], base, "amount", "the only open invoice of the payer with exactly this amount", payers)
            return True
        if len(same) > 1:
            return False
        pool = self._pool(payers, ccy, exclude=set(), before=ln.booking_date)
        if not pool:
            return False
        vals = [ledger.open_l[i] for i in pool]
        chance = chance_hits(vals, ln.cents, cfg.max_subset_items)
        if chance > 1.0:  # a combination found here would be a coincidence
            return False
        sols, done = subset_sum(vals, ln.cents, cfg.max_subset_items, cfg.subset_budget)
        if len(sols) == 1 and done:
            items = [pool[j] for j in sols[0]]
            conf = base - 0.03 if chance < cfg.max_chance else base - 0.15
            self.allocate(ln, items, [ledger.open_l[i] for i in items], conf, "amount_combination",
                           f"the only combination of the payer's open items adding up to the amount ({len(items)} items)", payers)
            return True
        # a payment equal to an item this run already settled: duplicate
        for c in payers:
            for i in ledger.customer_items(c).tolist():
                if self.used[i] and ledger.open_l[i] == ln.cents and ledger.ccy_l[i] == ccy:
                    self._duplicate(ln, i, payers)
                    return True
        return False

    # -- outputs ----------------------------------------------------------------------------
    def _cust_id(self, i: int) -> str:
        c = int(self.ledger.cust_l[i])
        return self.ledger.cust_ids[c] if c >= 0 else ""

    def allocate(self, ln: Line, items: list[int], amounts: list[int], conf: float, rule: str, why: str, payers: set[int]) -> None:
        """Allocate ``amounts`` of ``items`` to line ``ln`` with confidence ``conf`` (``auto`` from
        :attr:`MatchConfig.auto_threshold`, which consumes the items), by ``rule``, with a sentence
        for the finance team ending in ``why``."""
        ledger, cfg = self.ledger, self.config
        conf = max(0.0, min(1.0, round(conf, 3)))
        status = AUTO if conf >= cfg.auto_threshold else SUGGESTED
        nums = ", ".join(ledger.numbers[i] for i in items[:6]) + (" ..." if len(items) > 6 else "")
        cust = self._cust_id(items[0]) if items else ""
        cname = ledger.cust_names[ledger.cust_pos[cust]] if cust in ledger.cust_pos else cust
        how = _HOW.get(rule.split("+")[0], rule)
        sentence = (f"{_fmt(ln.cents, ln.currency)} received from {ln.name or 'an unnamed payer'}: "
                    f"{'document' if len(items) == 1 else str(len(items)) + ' documents'} {nums} of {cname} {how}; {why}.")
        applied = 0
        for i, a in zip(items, amounts, strict=False):
            if status == AUTO:  # a proposal waits for a person: the item stays available
                self.used[i] = 1
                self.paid_by[i] = ln.bank_ref
            applied += a
            owner = ledger.cust_l[i]
            self.result.allocations.append(Allocation(ln.bank_ref, ledger.item_ids[i], _money(a), conf, status, rule,
                                                        sentence, ledger.cust_ids[owner] if owner >= 0 else "", ln.currency))

    def _duplicate(self, ln: Line, i: int, payers: set[int]) -> None:
        ledger = self.ledger
        first = self.paid_by.get(i, "")
        self.result.flags.append(Flag(ln.bank_ref, DUPLICATE_PAYMENT,
            f"{_fmt(ln.cents, ln.currency)} quotes {ledger.numbers[i]}, already settled by bank line {first or 'an earlier payment'}; "
            "probably paid twice: refund or keep as credit after checking with the customer.",
            invoice_id=ledger.item_ids[i], amount=_money(ln.cents)))
        self.result.unapplied.append(Unapplied(ln.bank_ref, _money(ln.cents), ln.currency, "duplicate_payment", self._cust_id(i)))

    def _unapplied(self, ln: Line, reason: str, payers: set[int]) -> None:
        cust = self.ledger.cust_ids[next(iter(payers))] if len(payers) == 1 else ""
        self.result.unapplied.append(Unapplied(ln.bank_ref, _money(ln.cents), ln.currency, reason, cust))


#: a line-by-line pass: decide ``order`` (positions in ``lines``, in booking order) with the decider
#: and each line's key hits, as :func:`decide_in_order` does; returns statistics of a parallel pass,
#: or None when the lines were decided one by one
LinePass = Callable[[LineDecider, Sequence[Line], list[int], dict[int, dict[int, int]]], dict[str, int] | None]


def decide_in_order(decider: LineDecider, lines: Sequence[Line], order: list[int],
                    hits: dict[int, dict[int, int]]) -> None:
    """The sequential line-by-line pass: decide ``lines[i]`` for every ``i`` of ``order``, in that order."""
    for i in order:
        decider.decide(lines[i], hits.get(i, {}))
