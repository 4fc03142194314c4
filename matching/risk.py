"""Customer credit-risk flags: exposure vs limit, overdue ageing, disputes, promises, behaviour.

Pure functions on DataFrames; amounts are decimal strings or Decimal in, Decimal out (sums in
integer cents). Inputs (only ``customers`` and ``open_items`` are required):

- ``customers``: customer_id, name, credit_limit (empty = no limit);
- ``open_items``: invoice_id, customer_id, due_date, amount_open (credit notes negative);
- ``open_orders``: customer_id, amount_open (ordered, not yet invoiced);
- ``disputes``: customer_id, invoice_id, opened_date, amount, status (``open`` counts);
- ``promises``: customer_id, promised_date, amount, paid_amount (paid by the promised date);
- ``settlements``: customer_id, invoice_id, due_date, paid_date, amount — paid invoices, for
  payment behaviour (days late = paid_date - due_date).

>>> cust = pd.DataFrame({"customer_id": ["C1"], "name": ["Dumont SAS"], "credit_limit": ["1000.00"]})
>>> oi = pd.DataFrame({"invoice_id": ["I1", "I2"], "customer_id": ["C1", "C1"],
...                    "due_date": ["2026-01-01", "2026-03-01"], "amount_open": ["700.00", "500.00"]})
>>> flags = risk_flags(cust, oi, as_of=dt.date(2026, 3, 10))
>>> [(f.kind, f.severity) for f in flags]
[('credit_limit_exceeded', 'medium'), ('overdue_beyond_policy', 'high')]
>>> flags[0].reason
'Dumont SAS owes 1,200.00 against a credit limit of 1,000.00 (120 % used).'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from matching.kpi import BUCKETS, _cents, _dates, _day, _money

LOW, MEDIUM, HIGH = "low", "medium", "high"
#: exposure() column of each ageing bucket
COLUMN = {"not_due": "not_due", "1-30": "overdue_1_30", "31-60": "overdue_31_60", "61-90": "overdue_61_90",
          ">90": "overdue_90_plus"}


@dataclass(frozen=True, slots=True)
class RiskPolicy:
    overdue_days: int = 60  # amounts more than this many days past due breach the policy
    overdue_high_share: Decimal = Decimal("0.25")  # ... and are "high" above this share of the exposure
    limit_high_ratio: Decimal = Decimal("1.25")  # exposure / limit above this: high severity
    dispute_age_days: int = 30  # an open dispute older than this is flagged
    dispute_high_days: int = 90
    behaviour_window_days: int = 90  # payment behaviour: this window vs the one before
    worsening_days: Decimal = Decimal("5")  # average lateness up by this many days: worsening
    min_settlements: int = 3  # per window, to judge behaviour at all


@dataclass(frozen=True, slots=True)
class RiskFlag:
    customer_id: str
    kind: str  # credit_limit_exceeded | overdue_beyond_policy | dispute_ageing | promise_broken | behaviour_worsening
    severity: str  # low | medium | high
    reason: str
    amount: Decimal | None = None


def _fmt(d: Decimal) -> str:
    return f"{d:,.2f}"


def exposure(customers: pd.DataFrame, open_items: pd.DataFrame, as_of: dt.date,
             open_orders: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per customer: ageing buckets of open items at ``as_of``, open orders, exposure, limit, headroom."""
    ids = customers["customer_id"].astype(str).tolist()
    pos = {c: i for i, c in enumerate(ids)}
    n = len(ids)
    cols: dict[str, np.ndarray] = {}
    ci = open_items["customer_id"].astype(str).map(pos).fillna(-1).astype(np.int64).to_numpy()
    amt = _cents(open_items["amount_open"])
    late = (_day(as_of) - _dates(open_items["due_date"])).astype(np.int64)
    keep = ci >= 0
    masks = {
        "not_due": late <= 0, "1-30": (late >= 1) & (late <= 30), "31-60": (late >= 31) & (late <= 60),
        "61-90": (late >= 61) & (late <= 90), ">90": late > 90,
    }
    for b in BUCKETS:
        m = keep & masks[b]
        cols[b] = np.bincount(ci[m], weights=amt[m], minlength=n).astype(np.int64)
    recv = sum(cols[b] for b in BUCKETS)
    orders = np.zeros(n, np.int64)
    if open_orders is not None and len(open_orders):
        oc = open_orders["customer_id"].astype(str).map(pos).fillna(-1).astype(np.int64).to_numpy()
        oa = _cents(open_orders["amount_open"])
        orders = np.bincount(oc[oc >= 0], weights=oa[oc >= 0], minlength=n).astype(np.int64)
    limits = customers["credit_limit"].astype(str).tolist() if "credit_limit" in customers else [""] * n
    out = pd.DataFrame({"customer_id": ids,
                        "name": customers["name"].astype(str).tolist() if "name" in customers else ids})
    for b in BUCKETS:
        out[COLUMN[b]] = [_money(v) for v in cols[b]]
    out["open_receivables"] = [_money(v) for v in recv]
    out["open_orders"] = [_money(v) for v in orders]
    out["exposure"] = [_money(v) for v in recv + orders]
    lim = [Decimal(x) if x not in ("", "nan", "None") else None for x in limits]
    out["credit_limit"] = lim
    out["headroom"] = [None if L is None else L - _money(e) for L, e in zip(lim, recv + orders, strict=False)]
    return out


def payment_behaviour(settlements: pd.DataFrame, as_of: dt.date, window_days: int = 90) -> pd.DataFrame:
    """Average days late per customer in the last ``window_days`` and in the window before, and the trend.

    Averages are weighted by amount paid (a late 10,000 weighs more than a late 10)."""
    if settlements is None or not len(settlements):
        return pd.DataFrame(columns=["customer_id", "avg_days_late", "avg_days_late_prev", "trend_days", "n", "n_prev"])
    paid = _dates(settlements["paid_date"])
    due = _dates(settlements["due_date"])
    late = (paid - due).astype(np.int64)
    w = np.abs(_cents(settlements["amount"])).astype(np.float64)  # weights only, never reported
    day = _day(as_of)
    cur = (paid <= day) & (paid > day - np.timedelta64(window_days, "D"))
    prev = (paid <= day - np.timedelta64(window_days, "D")) & (paid > day - np.timedelta64(2 * window_days, "D"))
    df = pd.DataFrame({"customer_id": settlements["customer_id"].astype(str).to_numpy(), "late": late, "w": w,
                       "cur": cur, "prev": prev})
    rows = []
    for cust, g in df.groupby("customer_id", sort=True):
        def avg(mask: np.ndarray, g: pd.DataFrame = g) -> tuple[Decimal | None, int]:
            gg = g[mask]
            if not len(gg) or gg.w.sum() == 0:
                return None, len(gg)
            return Decimal(str(round(float((gg.late * gg.w).sum() / gg.w.sum()), 1))), len(gg)
        a, n = avg(g.cur.to_numpy())
        b, m = avg(g.prev.to_numpy())
        rows.append({"customer_id": cust, "avg_days_late": a, "avg_days_late_prev": b,
                     "trend_days": (a - b) if a is not None and b is not None else None, "n": n, "n_prev": m})
    return pd.DataFrame(rows)


def risk_flags(customers: pd.DataFrame, open_items: pd.DataFrame, *, as_of: dt.date,
               open_orders: pd.DataFrame | None = None, disputes: pd.DataFrame | None = None,
               promises: pd.DataFrame | None = None, settlements: pd.DataFrame | None = None,
               policy: RiskPolicy | None = None) -> list[RiskFlag]:
    """Every flag at ``as_of``, ordered by customer then kind; each carries a reason sentence."""
    pol = policy or RiskPolicy()
    flags: list[RiskFlag] = []
    exp = exposure(customers, open_items, as_of, open_orders)
    names = dict(zip(exp.customer_id, exp.name, strict=False))
    for r in exp.itertuples(index=False):
        e: Decimal = r.exposure
        lim = r.credit_limit
        if lim is not None and e > lim:
            ratio = e / lim if lim > 0 else Decimal("Infinity")
            sev = HIGH if ratio >= pol.limit_high_ratio else MEDIUM
            orders = f" (including {_fmt(r.open_orders)} of open orders)" if r.open_orders else ""
            used = f"{ratio * 100:.0f} % used" if lim > 0 else "no credit allowed"
            flags.append(RiskFlag(r.customer_id, "credit_limit_exceeded", sev,
                                  f"{r.name} owes {_fmt(e)}{orders} against a credit limit of {_fmt(lim)} ({used}).",
                                  e - lim))
        beyond = Decimal(0)
        edges = [("31-60", 31, 60), ("61-90", 61, 90), (">90", 91, 10**6)]
        for b, lo, _hi in edges:
            if lo > pol.overdue_days:
                beyond += getattr(r, _attr(b))
        if pol.overdue_days not in (30, 60, 90):  # policy between bucket edges: compute exactly
            beyond = _beyond(open_items, r.customer_id, as_of, pol.overdue_days)
        if beyond > 0:
            share = beyond / e if e > 0 else Decimal(1)
            sev = HIGH if share >= pol.overdue_high_share or getattr(r, _attr(">90")) > 0 else MEDIUM
            flags.append(RiskFlag(r.customer_id, "overdue_beyond_policy", sev,
                                  f"{r.name} has {_fmt(beyond)} more than {pol.overdue_days} days past due "
                                  f"({share * 100:.0f} % of its exposure).", beyond))
    if disputes is not None and len(disputes):
        d = disputes[disputes.get("status", pd.Series(["open"] * len(disputes))).astype(str).str.lower() == "open"]
        opened = _dates(d["opened_date"])
        age = (_day(as_of) - opened).astype(np.int64)
        for (cust, a, amt, inv) in zip(d["customer_id"].astype(str), age, d["amount"], d.get("invoice_id", [""] * len(d)), strict=False):
            if a > pol.dispute_age_days:
                sev = HIGH if a > pol.dispute_high_days else MEDIUM
                flags.append(RiskFlag(cust, "dispute_ageing", sev,
                                      f"A dispute of {_fmt(Decimal(str(amt)))} on invoice {inv} of {names.get(cust, cust)} "
                                      f"has been open for {a} days.", Decimal(str(amt))))
    if promises is not None and len(promises):
        pdates = _dates(promises["promised_date"])
        due = pdates < _day(as_of)
        amt = _cents(promises["amount"])
        paid = _cents(promises["paid_amount"]) if "paid_amount" in promises else np.zeros(len(promises), np.int64)
        for cust, when, a, p, is_due in zip(promises["customer_id"].astype(str), promises["promised_date"].astype(str),
                                            amt, paid, due, strict=False):
            if is_due and p < a:
                short = _money(a - p)
                sev = HIGH if p == 0 else MEDIUM
                flags.append(RiskFlag(cust, "promise_broken", sev,
                                      f"{names.get(cust, cust)} promised {_fmt(_money(a))} by {when} and paid "
                                      f"{_fmt(_money(p))}; {_fmt(short)} is missing.", short))
    if settlements is not None and len(settlements):
        beh = payment_behaviour(settlements, as_of, pol.behaviour_window_days)
        for r in beh.itertuples(index=False):
            if r.trend_days is not None and r.n >= pol.min_settlements and r.n_prev >= pol.min_settlements \
                    and r.trend_days >= pol.worsening_days:
                sev = HIGH if r.trend_days >= 2 * pol.worsening_days else LOW
                flags.append(RiskFlag(r.customer_id, "behaviour_worsening", sev,
                                      f"{names.get(r.customer_id, r.customer_id)} now pays {r.avg_days_late} days late on "
                                      f"average, {r.trend_days} days later than in the previous {pol.behaviour_window_days} days."))
    order = {"credit_limit_exceeded": 0, "overdue_beyond_policy": 1, "dispute_ageing": 2, "promise_broken": 3,
             "behaviour_worsening": 4}
    flags.sort(key=lambda f: (f.customer_id, order.get(f.kind, 9)))
    return flags


def _attr(bucket: str) -> str:
    return COLUMN[bucket]


def _beyond(open_items: pd.DataFrame, cust: str, as_of: dt.date, days: int) -> Decimal:
    m = open_items["customer_id"].astype(str) == cust
    sub = open_items[m]
    late = (_day(as_of) - _dates(sub["due_date"])).astype(np.int64)
    amt = _cents(sub["amount_open"])
    return _money(int(amt[late > days].sum()))


def flags_frame(flags: list[RiskFlag]) -> pd.DataFrame:
    return pd.DataFrame([asdict(f) for f in flags], columns=list(RiskFlag.__dataclass_fields__))
