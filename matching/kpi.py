"""Company receivables KPIs per day: DSO (two methods), CEI, ageing, unapplied cash, match rates.

Inputs are plain DataFrames (amounts as decimal strings or Decimal; never float):

- ``invoices``: invoice_id, customer_id, issue_date, due_date, amount_total (credit notes negative);
- ``payments``: invoice_id, date, amount — every settlement of an invoice (cash applied, credit
  note netted, write-off), positive for money that reduced the receivable.

Receivables at a day *d* are the invoices issued on or before *d* minus their settlements dated on
or before *d*. All sums run in integer cents and are returned as :class:`~decimal.Decimal`.

Methods, stated:

- **DSO, simple (average) method**: ``AR(as_of) / credit sales of the last N days x N``
  (N = ``period_days``, 90 by default).
- **DSO, count-back method**: walk back from ``as_of`` one calendar month at a time, taking off
  each month's credit sales (the current month up to ``as_of``) from today's receivables; whole
  months add their days, the month that exhausts the balance adds ``remaining / its sales x its
  days``. When sales run out first, the days counted so far are returned.
- **CEI** (collection effectiveness index) over ``[start, end]``:
  ``(AR(start-1) + sales - AR(end)) / (AR(start-1) + sales - current AR(end)) x 100``, where
  current AR is the part not yet due at ``end``.

**Currencies.** Amounts of different currencies are never added up. With an ``invoices``
column ``currency`` and a :class:`~schemas.rates.RateTable`, :func:`daily_kpis` gives one row per
day in the company currency when every invoice's currency has a rate on that day: each invoice
total and each settlement is converted at the rates of the KPI day (the closing rate, as
receivables are translated in financial statements, IAS 21.23) and rounded to the cent, so a
day's receivables, sales and ageing are in one currency. When some currency has no rate that
day, the day gets one row per currency instead, each in its own currency (``converted`` False).

>>> inv = pd.DataFrame({"invoice_id": ["A", "B"], "customer_id": ["C1", "C1"],
...     "issue_date": ["2026-01-10", "2026-02-20"], "due_date": ["2026-02-09", "2026-03-22"],
...     "amount_total": ["1000.00", "600.00"]})
>>> pay = pd.DataFrame({"invoice_id": ["A"], "date": ["2026-02-15"], "amount": ["400.00"]})
>>> receivables_at(inv, pay, dt.date(2026, 2, 28))
Decimal('1200.00')
>>> ageing(inv, pay, dt.date(2026, 2, 28))["1-30"]
Decimal('600.00')
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from schemas.rates import RateTable

BUCKETS = ("not_due", "1-30", "31-60", "61-90", ">90")


def _cents(values: pd.Series) -> np.ndarray:
    from matching.lines import to_cents

    return np.fromiter((to_cents(v if isinstance(v, Decimal) else str(v)) for v in values), dtype=np.int64, count=len(values))


def _money(c: int) -> Decimal:
    return Decimal(int(c)).scaleb(-2)


def _dates(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values, errors="coerce").to_numpy(dtype="datetime64[D]")


def _day(d: dt.date) -> np.datetime64:
    return np.datetime64(d.isoformat(), "D")


class _Book:
    """Invoices and their settlements as arrays, for fast as-of queries."""

    def __init__(self, invoices: pd.DataFrame, payments: pd.DataFrame | None) -> None:
        self.ids = invoices["invoice_id"].astype(str).to_numpy()
        self.cust = invoices["customer_id"].astype(str).to_numpy() if "customer_id" in invoices else np.array([""] * len(invoices))
        self.issue = _dates(invoices["issue_date"])
        self.due = _dates(invoices["due_date"])
        self.total = _cents(invoices["amount_total"])
        pos = {k: i for i, k in enumerate(self.ids)}
        if payments is not None and len(payments):
            self.p_inv = payments["invoice_id"].astype(str).map(pos).fillna(-1).astype(np.int64).to_numpy()
            self.p_date = _dates(payments["date"])
            self.p_amt = _cents(payments["amount"])
            keep = self.p_inv >= 0
            self.p_inv, self.p_date, self.p_amt = self.p_inv[keep], self.p_date[keep], self.p_amt[keep]
        else:
            self.p_inv = np.empty(0, np.int64)
            self.p_date = np.empty(0, "datetime64[D]")
            self.p_amt = np.empty(0, np.int64)

    def outstanding(self, day: np.datetime64) -> np.ndarray:
        """Open amount of every invoice at the end of ``day`` (0 when not yet issued)."""
        out = np.where(self.issue <= day, self.total, 0)
        m = self.p_date <= day
        if m.any():
            out = out - np.bincount(self.p_inv[m], weights=self.p_amt[m], minlength=len(out)).astype(np.int64)
        return out

    def sales(self, first: np.datetime64, last: np.datetime64) -> int:
        m = (self.issue >= first) & (self.issue <= last)
        return int(self.total[m].sum())


def receivables_at(invoices: pd.DataFrame, payments: pd.DataFrame | None, day: dt.date) -> Decimal:
    """Total open receivables at the end of ``day``."""
    return _money(_Book(invoices, payments).outstanding(_day(day)).sum())


def _bucket_sums(book: _Book, day: np.datetime64, mask: np.ndarray | None = None) -> dict[str, int]:
    out = book.outstanding(day)
    late = (day - book.due).astype(np.int64)
    if mask is not None:
        out = np.where(mask, out, 0)
    edges = {
        "not_due": late <= 0,
        "1-30": (late >= 1) & (late <= 30),
        "31-60": (late >= 31) & (late <= 60),
        "61-90": (late >= 61) & (late <= 90),
        ">90": late > 90,
    }
    return {k: int(out[m].sum()) for k, m in edges.items()}


def ageing(invoices: pd.DataFrame, payments: pd.DataFrame | None, as_of: dt.date) -> dict[str, Decimal]:
    """Open receivables by days past due at ``as_of``: not due, 1-30, 31-60, 61-90, >90."""
    return {k: _money(v) for k, v in _bucket_sums(_Book(invoices, payments), _day(as_of)).items()}


def _dso_simple(book: _Book, day: np.datetime64, period_days: int) -> Decimal | None:
    ar = int(book.outstanding(day).sum())
    sales = book.sales(day - np.timedelta64(period_days - 1, "D"), day)
    if sales <= 0:
        return None
    return (Decimal(ar) / Decimal(sales) * period_days).quantize(Decimal("0.1"))


def _dso_countback(book: _Book, as_of: dt.date, max_months: int = 24) -> Decimal | None:
    ar = int(book.outstanding(_day(as_of)).sum())
    if ar <= 0:
        return Decimal("0.0")
    days = Decimal(0)
    end = as_of
    for _ in range(max_months):
        start = end.replace(day=1)
        n_days = (end - start).days + 1
        sales = book.sales(_day(start), _day(end))
        if sales > 0 and ar <= sales:
            days += Decimal(ar) / Decimal(sales) * n_days
            return days.quantize(Decimal("0.1"))
        if sales > 0:
            ar -= sales
        days += n_days
        end = start - dt.timedelta(days=1)
    return days.quantize(Decimal("0.1"))


def dso(invoices: pd.DataFrame, payments: pd.DataFrame | None, as_of: dt.date, *,
        method: str = "countback", period_days: int = 90) -> Decimal | None:
    """Days sales outstanding at ``as_of`` by the ``countback`` or ``simple`` method (see module doc)."""
    book = _Book(invoices, payments)
    if method == "simple":
        return _dso_simple(book, _day(as_of), period_days)
    if method == "countback":
        return _dso_countback(book, as_of)
    raise ValueError(f"unknown DSO method {method!r}: use 'countback' or 'simple'")


def cei(invoices: pd.DataFrame, payments: pd.DataFrame | None, start: dt.date, end: dt.date) -> Decimal | None:
    """Collection effectiveness index (percent) over ``[start, end]``."""
    return _cei(_Book(invoices, payments), _day(start), _day(end))


def _cei(book: _Book, start: np.datetime64, end: np.datetime64) -> Decimal | None:
    begin = int(book.outstanding(start - np.timedelta64(1, "D")).sum())
    sales = book.sales(start, end)
    out_end = book.outstanding(end)
    ending = int(out_end.sum())
    current = int(out_end[book.due >= end].sum())
    denom = begin + sales - current
    if denom <= 0:
        return None
    return (Decimal(begin + sales - ending) / Decimal(denom) * 100).quantize(Decimal("0.1"))


@dataclass(frozen=True, slots=True)
class DailyKpis:
    day: dt.date
    currency: str | None  # of every amount of the row; None when the invoices carry no currency
    converted: bool  # amounts of other currencies converted into ``currency`` at the day's rates
    receivables: Decimal
    dso_countback: Decimal | None
    dso_simple: Decimal | None
    cei_30d: Decimal | None
    not_due: Decimal
    overdue_1_30: Decimal
    overdue_31_60: Decimal
    overdue_61_90: Decimal
    overdue_90_plus: Decimal
    unapplied_cash: Decimal | None = None
    auto_match_rate: float | None = None
    invoice_hit_rate: float | None = None


def cash_application_rates(result: object) -> dict[str, float | Decimal | None]:
    """From a :class:`~matching.model.CashApplication`: auto-match rate (receipt lines with an
    automatic allocation / receipt lines), invoice-level hit rate (items allocated automatically /
    items allocated at all) and unapplied cash (sum over currencies, in each line's currency)."""
    allocs = getattr(result, "allocations", [])
    credit = getattr(result, "credit_lines", 0)
    auto_lines = {a.bank_ref for a in allocs if a.status == "auto"}
    items = {a.invoice_id for a in allocs}
    auto_items = {a.invoice_id for a in allocs if a.status == "auto"}
    unapplied = sum((u.amount for u in getattr(result, "unapplied", [])), Decimal("0.00"))
    return {
        "auto_match_rate": len(auto_lines) / credit if credit else None,
        "invoice_hit_rate": len(auto_items) / len(items) if items else None,
        "unapplied_cash": unapplied,
    }


def daily_kpis(invoices: pd.DataFrame, payments: pd.DataFrame | None, days: list[dt.date], *,
               period_days: int = 90, cash_results: dict[dt.date, object] | None = None,
               rates: RateTable | None = None) -> pd.DataFrame:
    """One row of :class:`DailyKpis` per day, or per day and currency (see the module doc: in the
    company currency when ``rates`` convert every currency of the invoices on that day, else per
    currency); cash-application figures when a result is given for the day."""
    currencies = sorted(invoices["currency"].astype(str).unique()) if "currency" in invoices else []
    whole = _Book(invoices, payments) if len(currencies) <= 1 else None
    rows = []
    for d in days:
        rates_of_day = {c: rates.factor(c, d) for c in currencies} if rates else {}
        if rates and currencies and all(f is not None for f in rates_of_day.values()) \
                and (len(currencies) > 1 or currencies[0] != rates.company_currency):
            book = _Book(*_converted(invoices, payments, rates_of_day))
            rows.append(_kpi_row(book, d, period_days, cash_results, rates.company_currency, converted=True))
        elif whole is not None:
            rows.append(_kpi_row(whole, d, period_days, cash_results, currencies[0] if currencies else None))
        else:
            for c in currencies:
                mine = invoices[invoices["currency"].astype(str) == c]
                paid = None if payments is None else payments[payments["invoice_id"].astype(str).isin(set(mine["invoice_id"].astype(str)))]
                rows.append(_kpi_row(_Book(mine, paid), d, period_days, cash_results, c))
    return pd.DataFrame([asdict(r) for r in rows], columns=list(DailyKpis.__dataclass_fields__))


def _converted(invoices: pd.DataFrame, payments: pd.DataFrame | None,
               factors: dict[str, Decimal | None]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``invoices`` and ``payments`` with every amount in the company currency (each converted with
    its invoice currency's factor and rounded half-even to the cent)."""
    cent = Decimal("0.01")

    def conv(amount: object, currency: str) -> str:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
        factor = factors[currency]
        assert factor is not None
        return str((value * factor).quantize(cent, rounding=ROUND_HALF_EVEN))

    inv = invoices.copy()
    inv["amount_total"] = [conv(a, str(c)) for a, c in zip(invoices["amount_total"], invoices["currency"], strict=True)]
    if payments is None or not len(payments):
        return inv, payments
    currency_of = dict(zip(invoices["invoice_id"].astype(str), invoices["currency"].astype(str), strict=False))
    pay = payments[payments["invoice_id"].astype(str).isin(currency_of)].copy()
    pay["amount"] = [conv(a, currency_of[str(i)]) for a, i in zip(pay["amount"], pay["invoice_id"], strict=True)]
    return inv, pay


def _kpi_row(book: _Book, d: dt.date, period_days: int, cash_results: dict[dt.date, object] | None,
             currency: str | None, *, converted: bool = False) -> DailyKpis:
    day = _day(d)
    b = _bucket_sums(book, day)
    rates: dict = cash_application_rates(cash_results[d]) if cash_results and d in cash_results else {}
    return DailyKpis(
        day=d,
        currency=currency,
        converted=converted,
        receivables=_money(sum(b.values())),
        dso_countback=_dso_countback(book, d),
        dso_simple=_dso_simple(book, day, period_days),
        cei_30d=_cei(book, day - np.timedelta64(29, "D"), day),
        not_due=_money(b["not_due"]),
        overdue_1_30=_money(b["1-30"]),
        overdue_31_60=_money(b["31-60"]),
        overdue_61_90=_money(b["61-90"]),
        overdue_90_plus=_money(b[">90"]),
        unapplied_cash=rates.get("unapplied_cash"),
        auto_match_rate=rates.get("auto_match_rate"),
        invoice_hit_rate=rates.get("invoice_hit_rate"),
    )


def days_in_month(d: dt.date) -> int:
    return calendar.monthrange(d.year, d.month)[1]
