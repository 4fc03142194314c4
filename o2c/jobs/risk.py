"""Risk flags per customer and company KPIs per day, computed from the store.

Customers are the parties (one per company across sources) with the credit limit their sources
give (the lowest when they disagree: the prudent one; the disagreement itself is a party
conflict). Open items and payments come from the stored invoices and applied allocations.
The flags of one as-of date replace that date's previous flags (a re-run changes nothing).

Amounts are shown in the company currency, converted with the stored rates (the ``rates``
stream, :func:`o2c.store.rates.rate_table`), when every currency has a rate on the day; else per
currency, never added up across currencies (:mod:`matching.kpi`, :func:`matching.risk.exposure`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import delete, select

from o2c.context import RunContext
from o2c.store import Store, utcnow
from o2c.store.cash import (
    APPLIED,
    CashAllocation,
    CashEntryDecision,
    CashUnapplied,
    KpiDaily,
    RiskFlagRow,
    ledger_frames,
)
from o2c.store.models import CustomerRow, InvoiceRow
from o2c.store.parties import PartyLink
from o2c.store.rates import rate_table
from schemas.invoice import receivable_amount
from schemas.rates import RateTable


@dataclass
class RiskRunSummary:
    run_id: str
    as_of: str
    customers: int = 0
    flags: int = 0
    high: int = 0
    kpi_days: int = 0


def _customers_with_limits(store: Store, customers: pd.DataFrame) -> pd.DataFrame:
    limits: dict[str, Decimal] = {}
    with store.session() as s:
        for link, cust in s.execute(select(PartyLink, CustomerRow).join(CustomerRow, CustomerRow.id == PartyLink.customer_id)):
            if cust.credit_limit is not None:
                key = str(link.party_id)
                limits[key] = min(limits.get(key, cust.credit_limit), cust.credit_limit)
    out = customers[["customer_id", "name"]].copy()
    out["credit_limit"] = [str(limits[c]) if c in limits else "" for c in out["customer_id"]]
    return out


def _erp_only_settlements(s: Any) -> list[dict[str, str]]:
    """What the ERPs settled without the hub's cash (cheques, hand reconciliations, credit notes
    netted, write-offs), dated: counted as payments by the KPIs. A line carrying the hub's key is
    the hub's own allocation, already counted."""
    from o2c.store.cash import applied_amounts
    from o2c.store.receivables import SettlementRow
    from schemas.settlement import HUB_KEY

    hubs = applied_amounts(s).matched_lines  # keyless ERP lines recognised as the hub's own payments
    out = []
    rows = s.execute(select(SettlementRow.invoice_id, SettlementRow.lines, SettlementRow.settled_on, InvoiceRow.type_code)
                     .join(InvoiceRow, InvoiceRow.id == SettlementRow.invoice_id))
    for inv_id, lines, settled_on, type_code in rows:
        for line in lines or []:
            if HUB_KEY.search(str(line.get("reference") or "")) or (inv_id, str(line.get("id"))) in hubs:
                continue
            day = line.get("date") or (settled_on.isoformat() if settled_on else None)
            if day:
                amount = receivable_amount(type_code, Decimal(str(line.get("amount") or "0")))
                out.append({"invoice_id": str(inv_id), "date": str(day), "amount": str(amount)})
    return out


def _invoices_and_payments(store: Store, customers: pd.DataFrame, open_items: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    party_of = dict(zip(open_items["invoice_id"], open_items["customer_id"], strict=False))
    with store.session() as s:
        invoices = [{"invoice_id": str(r.id), "customer_id": party_of.get(str(r.id), r.buyer_key or ""),
                     "issue_date": r.issue_date.isoformat(), "due_date": (r.due_date or r.issue_date).isoformat(),
                     "amount_total": str(receivable_amount(r.type_code, r.payable)), "currency": r.currency}
                    for r in s.scalars(select(InvoiceRow))]
        payments = [{"invoice_id": str(a.invoice_id), "date": (a.booking_date or a.created_at.date()).isoformat(), "amount": str(a.amount)}
                    for a in s.scalars(select(CashAllocation).where(CashAllocation.status.in_(APPLIED)))]
        payments += _erp_only_settlements(s)
    return (pd.DataFrame(invoices, columns=["invoice_id", "customer_id", "issue_date", "due_date", "amount_total", "currency"]),
            pd.DataFrame(payments, columns=["invoice_id", "date", "amount"]))


def run_risk_scoring(store: Store, as_of: dt.date, *, kpi_days: int = 1,
                     context: RunContext | None = None) -> RiskRunSummary:
    """Flags at ``as_of`` and the KPIs of the ``kpi_days`` days ending at ``as_of``."""
    from matching.kpi import daily_kpis
    from matching.risk import risk_flags

    with store.run(source="risk_scoring", stream="customers", context=context) as run:
        summary = RiskRunSummary(run_id=run.id, as_of=as_of.isoformat())
        customers, open_items = ledger_frames(store)
        cust = _customers_with_limits(store, customers)
        invoices, payments = _invoices_and_payments(store, customers, open_items)
        with store.session() as s:
            rates = rate_table(s)
        names = dict(zip(cust["customer_id"], cust["name"], strict=False))
        from o2c.store.collections import risk_frames

        party_of = {int(i): c for i, c in zip(open_items["invoice_id"], open_items["customer_id"], strict=True)}
        disputes, promises = risk_frames(store, party_of)
        flags = risk_flags(cust, open_items, as_of=as_of, settlements=None, rates=rates, disputes=disputes,
                           promises=promises) if len(cust) or len(disputes) or len(promises) else []
        days = [as_of - dt.timedelta(days=i) for i in range(kpi_days - 1, -1, -1)]
        kpis = daily_kpis(invoices, payments, days, rates=rates) if len(invoices) else pd.DataFrame()
        unapplied, auto_rate, hit_rate = _cash_figures(store)
        now = utcnow()
        with store.session() as s:
            s.execute(delete(RiskFlagRow).where(RiskFlagRow.as_of == as_of))
            for f in flags:
                s.add(RiskFlagRow(run_id=run.id, as_of=as_of, customer_key=f.customer_id, customer_name=names.get(f.customer_id, ""),
                                  kind=f.kind, severity=f.severity, reason=f.reason, amount=f.amount, currency=f.currency,
                                  created_at=now))
            for day in sorted(set(kpis["day"])) if len(kpis) else []:
                s.execute(delete(KpiDaily).where(KpiDaily.day == day))
            for row in kpis.to_dict("records"):
                cash = _unapplied_in(unapplied, row["currency"], row["converted"], row["day"], rates)
                s.add(KpiDaily(run_id=run.id, computed_at=now, **{**row, "unapplied_cash": cash, "auto_match_rate": auto_rate,
                                                                   "invoice_hit_rate": hit_rate}))
        summary.customers = len(cust)
        summary.flags = len(flags)
        summary.high = sum(1 for f in flags if f.severity == "high")
        summary.kpi_days = len(kpis)
        run.read, run.inserted = summary.customers, summary.flags
    return summary


def _unapplied_in(unapplied: dict[str, Decimal] | None, currency: str | None, converted: bool, day: dt.date,
                  rates: RateTable) -> Decimal | None:
    """The unapplied cash of a KPI row: in its currency; for a row in the company currency with
    other currencies converted into it, every currency's converted at the day's rates (None when
    one has no rate: unknown rather than a partial sum)."""
    if unapplied is None:
        return None
    if not converted:
        return unapplied.get(currency or "", Decimal(0)) if currency else sum(unapplied.values(), Decimal(0))
    total = Decimal(0)
    for cur, amount in unapplied.items():
        value = rates.convert(amount, cur, day)
        if value is None:
            return None
        total += value
    return total


def _cash_figures(store: Store) -> tuple[dict[str, Decimal] | None, float | None, float | None]:
    """Unapplied cash per currency, auto-match rate (credit lines auto-allocated / credit lines
    decided) and invoice-level hit rate (invoices allocated automatically / invoices allocated at all)."""
    with store.session() as s:
        unapplied: dict[str, Decimal] = defaultdict(Decimal)
        for u in s.scalars(select(CashUnapplied).where(CashUnapplied.resolved_at.is_(None))):
            unapplied[u.currency] += u.amount
        outcomes: dict[str, int] = defaultdict(int)
        for d in s.scalars(select(CashEntryDecision)):
            outcomes[d.outcome] += 1
        credit_lines = outcomes["auto"] + outcomes["suggested"] + outcomes["unapplied"]
        allocs = s.execute(select(CashAllocation.invoice_id, CashAllocation.status)).all()
    items = {i for i, _ in allocs}
    auto_items = {i for i, st in allocs if st == "auto"}
    return (dict(unapplied) if credit_lines else None, outcomes["auto"] / credit_lines if credit_lines else None,
            len(auto_items) / len(items) if items else None)


def open_flags(store: Store, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    with store.session() as s:
        q = select(RiskFlagRow).order_by(RiskFlagRow.as_of.desc(), RiskFlagRow.severity, RiskFlagRow.customer_name)
        if as_of:
            q = q.where(RiskFlagRow.as_of == as_of)
        return [{"as_of": r.as_of.isoformat(), "customer": r.customer_name, "kind": r.kind, "severity": r.severity,
                 "reason": r.reason} for r in s.scalars(q)]
