"""Risk flags and KPIs against values computed by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from matching import kpi, risk

D = Decimal


@pytest.fixture()
def book() -> tuple[pd.DataFrame, pd.DataFrame]:
    inv = pd.DataFrame({
        "invoice_id": ["A", "B", "C", "D"],
        "customer_id": ["C1", "C1", "C2", "C2"],
        "issue_date": ["2026-01-10", "2026-02-20", "2025-12-05", "2025-11-01"],
        "due_date": ["2026-02-09", "2026-03-22", "2026-01-04", "2025-12-01"],
        "amount_total": ["1000.00", "600.00", "300.00", "200.00"],
    })
    pay = pd.DataFrame({"invoice_id": ["A", "C"], "date": ["2026-02-15", "2026-01-20"], "amount": ["400.00", "300.00"]})
    return inv, pay


AS_OF = dt.date(2026, 2, 28)


def test_receivables_and_ageing(book):
    inv, pay = book
    assert kpi.receivables_at(inv, pay, AS_OF) == D("1400.00")
    # A: 600 open, 19 days late; B: not due; C: paid; D: 89 days late
    assert kpi.ageing(inv, pay, AS_OF) == {"not_due": D("600.00"), "1-30": D("600.00"), "31-60": D("0.00"),
                                           "61-90": D("200.00"), ">90": D("0.00")}
    assert kpi.receivables_at(inv, pay, dt.date(2026, 1, 31)) == D("1200.00")


def test_dso_simple(book):
    inv, pay = book
    # 90 days = 2025-12-01 .. 2026-02-28; sales A + B + C = 1,900; 1,400 / 1,900 x 90 = 66.3
    assert kpi.dso(inv, pay, AS_OF, method="simple", period_days=90) == D("66.3")


def test_dso_countback(book):
    inv, pay = book
    # February: 600 of sales over 28 days -> 800 left; January: 1,000 of sales -> 800/1000 x 31 = 24.8
    assert kpi.dso(inv, pay, AS_OF, method="countback") == D("52.8")


def test_dso_unknown_method(book):
    with pytest.raises(ValueError):
        kpi.dso(*book, AS_OF, method="best")


def test_cei(book):
    inv, pay = book
    # begin 1,200 + sales 600 - end 1,400 = 400; begin + sales - current (B, 600) = 1,200 -> 33.3 %
    assert kpi.cei(inv, pay, dt.date(2026, 2, 1), AS_OF) == D("33.3")


def test_daily_kpis_with_cash_application(book):
    from matching.model import Allocation, CashApplication, Unapplied

    inv, pay = book
    res = CashApplication(allocations=[
        Allocation("L1", "A", D("400.00"), 0.98, "auto", "reference", "x"),
        Allocation("L2", "B", D("10.00"), 0.6, "suggested", "amount", "x"),
    ], unapplied=[Unapplied("L3", D("25.50"), "EUR", "no open item identified")], credit_lines=4)
    df = kpi.daily_kpis(inv, pay, [dt.date(2026, 2, 27), AS_OF], cash_results={AS_OF: res})
    last = df.iloc[-1]
    assert last.receivables == D("1400.00") and last.dso_simple == D("66.3") and last.dso_countback == D("52.8")
    assert last.overdue_61_90 == D("200.00")
    assert last.unapplied_cash == D("25.50")
    assert last.auto_match_rate == 0.25 and last.invoice_hit_rate == 0.5
    assert pd.isna(df.iloc[0].auto_match_rate) and df.iloc[0].unapplied_cash is None


def test_risk_flags():
    customers = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "name": ["Dumont SAS", "Weber GmbH", "Quiet Ltd"],
                              "credit_limit": ["1000.00", "5000.00", ""]})
    open_items = pd.DataFrame({
        "invoice_id": ["I1", "I2", "I3", "I4"], "customer_id": ["C1", "C1", "C2", "C3"],
        "due_date": ["2026-01-01", "2026-03-01", "2026-04-01", "2026-03-09"],
        "amount_open": ["700.00", "500.00", "100.00", "50.00"],
    })
    orders = pd.DataFrame({"customer_id": ["C1"], "amount_open": ["300.00"]})
    disputes = pd.DataFrame({"customer_id": ["C2"], "invoice_id": ["I3"], "opened_date": ["2026-01-15"],
                             "amount": ["100.00"], "status": ["open"]})
    promises = pd.DataFrame({"customer_id": ["C2", "C3"], "promised_date": ["2026-03-01", "2026-03-20"],
                             "amount": ["400.00", "50.00"], "paid_amount": ["150.00", "0.00"]})
    as_of = dt.date(2026, 3, 10)
    day = lambda n: (as_of - dt.timedelta(days=n)).isoformat()  # noqa: E731
    settlements = pd.DataFrame({
        "customer_id": ["C2"] * 6, "invoice_id": list("abcdef"),
        "due_date": [day(50), day(60), day(70), day(150), day(160), day(170)],
        "paid_date": [day(30), day(40), day(50), day(145), day(155), day(165)],
        "amount": ["100.00"] * 6,
    })
    exp = risk.exposure(customers, open_items, as_of, orders).set_index("customer_id")
    assert exp.loc["C1", "exposure"] == D("1500.00") and exp.loc["C1", "headroom"] == D("-500.00")
    assert exp.loc["C1", "overdue_61_90"] == D("700.00") and exp.loc["C1", "overdue_1_30"] == D("500.00")
    assert exp.loc["C3", "credit_limit"] is None

    flags = risk.risk_flags(customers, open_items, as_of=as_of, open_orders=orders, disputes=disputes,
                            promises=promises, settlements=settlements)
    got = [(f.customer_id, f.kind, f.severity, f.amount) for f in flags]
    assert got == [
        ("C1", "credit_limit_exceeded", "high", D("500.00")),
        ("C1", "overdue_beyond_policy", "high", D("700.00")),
        ("C2", "dispute_ageing", "medium", D("100.00")),
        ("C2", "promise_broken", "medium", D("250.00")),
        ("C2", "behaviour_worsening", "high", None),
    ]
    assert flags[0].reason == ("Dumont SAS owes 1,500.00 (including 300.00 of open orders) against a credit limit "
                               "of 1,000.00 (150 % used).")
    assert "54 days" in flags[2].reason
    assert "20.0 days late" in flags[4].reason and "15.0 days later" in flags[4].reason


def test_payment_behaviour_trend():
    as_of = dt.date(2026, 3, 10)
    s = pd.DataFrame({"customer_id": ["C1", "C1"], "invoice_id": ["a", "b"],
                      "due_date": ["2026-02-01", "2025-11-01"], "paid_date": ["2026-02-11", "2025-11-03"],
                      "amount": ["300.00", "100.00"]})
    b = risk.payment_behaviour(s, as_of).set_index("customer_id")
    assert b.loc["C1", "avg_days_late"] == D("10.0") and b.loc["C1", "avg_days_late_prev"] == D("2.0")
    assert b.loc["C1", "trend_days"] == D("8.0")
