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
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from matching.kpi import BUCKETS, _cents, _dates, _day, _money

if TYPE_CHECKING:
    from schemas.rates import RateTable

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
    currency: str | None = None  # of ``amount`` (None when the inputs carry no currency)


def _fmt(d: Decimal) -> str:
    return f"{d:,.2f}"


def _reporting_items(open_items: pd.DataFrame, as_of: dt.date, rates: RateTable | None) -> pd.DataFrame:
    """``open_items`` with ``cur`` (the currency its amount is counted in) and ``cents``: the
    company currency (amount converted at ``as_of``, rounded to the cent) when ``rates`` convert
    its currency, else its own currency; None for items without a currency column."""
    items = open_items.copy()
    if "currency" not in items:
        items["cur"] = None
        items["cents"] = _cents(items["amount_open"])
        return items
    curs, cents = [], []
    for amount, currency in zip(items["amount_open"], items["currency"].astype(str), strict=True):
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
        converted = rates.convert(value, currency, as_of) if rates else None
        curs.append(rates.company_currency if converted is not None and rates else currency)
        cents.append(int((converted if converted is not None else value).scaleb(2).to_integral_value()))
    items["cur"] = curs
    items["cents"] = np.array(cents, dtype=np.int64)
    return items


def exposure(customers: pd.DataFrame, open_items: pd.DataFrame, as_of: dt.date,
             open_orders: pd.DataFrame | None = None, rates: RateTable | None = None) -> pd.DataFrame:
    """Per customer: ageing buckets of open items at ``as_of``, open orders, exposure, limit, headroom.

    With a ``currency`` column in ``open_items``, one row per customer and currency (column
    ``currency``): the company currency for every item ``rates`` convert at ``as_of``, each item's
    own currency otherwise; amounts of different currencies are never added up. The credit limit
    (in the company currency) goes with the company-currency row; without rates, with the
    customer's row when it has only one currency. Open orders count in the company currency
    (or the customer's only currency)."""
    ids = customers["customer_id"].astype(str).tolist()
    names = customers["name"].astype(str).tolist() if "name" in customers else ids
    limits = customers["credit_limit"].astype(str).tolist() if "credit_limit" in customers else [""] * len(ids)
    company = rates.company_currency if rates else None
    items = _reporting_items(open_items, as_of, rates)
    items = items[items["customer_id"].astype(str).isin(set(ids))]
    late = (_day(as_of) - _dates(items["due_date"])).astype(np.int64)
    masks = {
        "not_due": late <= 0, "1-30": (late >= 1) & (late <= 30), "31-60": (late >= 31) & (late <= 60),
        "61-90": (late >= 61) & (late <= 90), ">90": late > 90,
    }
    sums: dict[tuple[str, str | None], dict[str, int]] = {}
    for b in BUCKETS:
        sel = items[masks[b]]
        for (cust, cur), cents in zip(zip(sel["customer_id"].astype(str), sel["cur"], strict=True), sel["cents"], strict=True):
            sums.setdefault((cust, cur), dict.fromkeys(BUCKETS, 0))[b] += int(cents)
    for cust, cur in zip(items["customer_id"].astype(str), items["cur"], strict=True):
        sums.setdefault((cust, cur), dict.fromkeys(BUCKETS, 0))
    orders: dict[str, int] = {}
    if open_orders is not None and len(open_orders):
        for cust, cents in zip(open_orders["customer_id"].astype(str), _cents(open_orders["amount_open"]), strict=True):
            orders[cust] = orders.get(cust, 0) + int(cents)
    rows = []
    for cust, name, limit_text in zip(ids, names, limits, strict=True):
        currencies = sorted((cur for c, cur in sums if c == cust), key=lambda c: (c != company, c or ""))
        if not currencies:
            currencies = [company]
        home = company if company is not None else (currencies[0] if len(currencies) == 1 else None)
        if home not in currencies and (cust in orders):
            currencies.insert(0, home)
        for cur in currencies:
            b = sums.get((cust, cur), dict.fromkeys(BUCKETS, 0))
            recv = sum(b.values())
            ordered = orders.get(cust, 0) if cur == home else 0
            limit = Decimal(limit_text) if limit_text not in ("", "nan", "None") and cur == home else None
            row = {"customer_id": cust, "name": name, "currency": cur}
            row.update({COLUMN[k]: _money(v) for k, v in b.items()})
            row.update(open_receivables=_money(recv), open_orders=_money(ordered), exposure=_money(recv + ordered),
                       credit_limit=limit, headroom=None if limit is None else limit - _money(recv + ordered))
            rows.append(row)
    columns = ["customer_id", "name", "currency", *COLUMN.values(), "open_receivables", "open_orders", "exposure",
               "credit_limit", "headroom"]
    return pd.DataFrame(rows, columns=columns)


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
               policy: RiskPolicy | None = None, rates: RateTable | None = None) -> list[RiskFlag]:
    """Every flag at ``as_of``, ordered by customer then kind; each carries a reason sentence.

    Exposure flags are per customer and currency as :func:`exposure` counts them (in the company
    currency when ``rates`` convert), the currency named in the reason and carried by the flag."""
    pol = policy or RiskPolicy()
    flags: list[RiskFlag] = []
    exp = exposure(customers, open_items, as_of, open_orders, rates)
    items = _reporting_items(open_items, as_of, rates)
    names = dict(zip(exp.customer_id, exp.name, strict=False))
    for r in exp.itertuples(index=False):
        e: Decimal = r.exposure
        lim = r.credit_limit
        cur = f" {r.currency}" if r.currency else ""
        if lim is not None and e > lim:
            ratio = e / lim if lim > 0 else Decimal("Infinity")
            sev = HIGH if ratio >= pol.limit_high_ratio else MEDIUM
            orders = f" (including {_fmt(r.open_orders)} of open orders)" if r.open_orders else ""
            used = f"{ratio * 100:.0f} % used" if lim > 0 else "no credit allowed"
            flags.append(RiskFlag(r.customer_id, "credit_limit_exceeded", sev,
                                  f"{r.name} owes {_fmt(e)}{cur}{orders} against a credit limit of {_fmt(lim)}{cur} ({used}).",
                                  e - lim, r.currency))
        beyond = Decimal(0)
        edges = [("31-60", 31, 60), ("61-90", 61, 90), (">90", 91, 10**6)]
        for b, lo, _hi in edges:
            if lo > pol.overdue_days:
                beyond += getattr(r, _attr(b))
        if pol.overdue_days not in (30, 60, 90):  # policy between bucket edges: compute exactly
            beyond = _beyond(items, r.customer_id, r.currency, as_of, pol.overdue_days)
        if beyond > 0:
            share = beyond / e if e > 0 else Decimal(1)
            sev = HIGH if share >= pol.overdue_high_share or getattr(r, _attr(">90")) > 0 else MEDIUM
            flags.append(RiskFlag(r.customer_id, "overdue_beyond_policy", sev,
                                  f"{r.name} has {_fmt(beyond)}{cur} more than {pol.overdue_days} days past due "
                                  f"({share * 100:.0f} % of its exposure{cur and ' in' + cur}).", beyond, r.currency))
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
    flags.sort(key=lambda f: (f.customer_id, order.get(f.kind, 9), f.currency or ""))
    return flags


def _attr(bucket: str) -> str:
    return COLUMN[bucket]


def _beyond(items: pd.DataFrame, cust: str, currency: str | None, as_of: dt.date, days: int) -> Decimal:
    """Of ``items`` (:func:`_reporting_items`), what ``cust`` owes in ``currency`` more than ``days`` past due."""
    sub = items[(items["customer_id"].astype(str) == cust) & (items["cur"].map(lambda c: c == currency))]
    late = (_day(as_of) - _dates(sub["due_date"])).astype(np.int64)
    return _money(int(sub["cents"].to_numpy()[late > days].sum()))


def flags_frame(flags: list[RiskFlag]) -> pd.DataFrame:
    return pd.DataFrame([asdict(f) for f in flags], columns=list(RiskFlag.__dataclass_fields__))
