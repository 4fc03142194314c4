"""KPIs and exposure with two currencies: in the company currency when the rates convert, per
currency (never added up) when they do not. The live case, with Tryton's rates, is
tests/connectors/test_tryton_master_live.py."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pandas as pd

from matching import kpi, risk
from schemas.party import language_tag
from schemas.rates import RateTable

AS_OF = dt.date(2026, 3, 31)
# 1 EUR = 1.25 USD from March on (1.10 before); EUR is the company currency
RATES = RateTable("EUR", {"EUR": [(dt.date(2025, 1, 1), D("1"))],
                          "USD": [(dt.date(2025, 1, 1), D("1.10")), (dt.date(2026, 3, 1), D("1.25"))]})


def book() -> tuple[pd.DataFrame, pd.DataFrame]:
    inv = pd.DataFrame({"invoice_id": ["E1", "U1", "U2"], "customer_id": ["C1", "C1", "C2"],
                        "issue_date": ["2026-01-15", "2026-02-20", "2026-03-10"],
                        "due_date": ["2026-02-14", "2026-03-22", "2026-04-09"],
                        "amount_total": ["1000.00", "500.00", "250.00"], "currency": ["EUR", "USD", "USD"]})
    pay = pd.DataFrame({"invoice_id": ["U1"], "date": ["2026-03-25"], "amount": ["100.00"]})
    return inv, pay


def test_kpis_are_in_the_company_currency_at_the_rate_of_the_day():
    inv, pay = book()
    (row,) = kpi.daily_kpis(inv, pay, [AS_OF], rates=RATES).to_dict("records")
    assert (row["currency"], row["converted"]) == ("EUR", True)
    # 1,000.00 EUR + (500.00 - 100.00 + 250.00) USD / 1.25 = 1,000.00 + 520.00
    assert row["receivables"] == D("1520.00")
    assert row["overdue_31_60"] == D("1000.00") and row["overdue_1_30"] == D("320.00") and row["not_due"] == D("200.00")
    # the day before March, the USD rate was 1.10: the same amounts are worth more euros
    (feb,) = kpi.daily_kpis(inv, pay, [dt.date(2026, 2, 28)], rates=RATES).to_dict("records")
    assert feb["receivables"] == D("1000.00") + D("454.55")  # 500.00 USD / 1.10


def test_without_a_rate_each_currency_has_its_own_row():
    inv, pay = book()
    no_usd = RateTable("EUR", {"EUR": [(dt.date(2025, 1, 1), D("1"))]})
    for rates in (None, no_usd, RateTable("EUR", {})):
        rows = {r["currency"]: r for r in kpi.daily_kpis(inv, pay, [AS_OF], rates=rates).to_dict("records")}
        assert set(rows) == {"EUR", "USD"} and not any(r["converted"] for r in rows.values())
        assert rows["EUR"]["receivables"] == D("1000.00")
        assert rows["USD"]["receivables"] == D("650.00")  # in USD, never added to the euros
    # before the first USD rate: per currency too
    early = RateTable("EUR", {"EUR": [(dt.date(2025, 1, 1), D("1"))], "USD": [(dt.date(2026, 3, 30), D("1.25"))]})
    assert sorted(kpi.daily_kpis(inv, pay, [dt.date(2026, 3, 29), AS_OF], rates=early)["currency"]) == ["EUR", "EUR", "USD"]


def test_one_currency_is_not_converted():
    inv, pay = book()
    eur = inv[inv["currency"] == "EUR"]
    (row,) = kpi.daily_kpis(eur, pay, [AS_OF], rates=RATES).to_dict("records")
    assert (row["currency"], row["converted"], row["receivables"]) == ("EUR", False, D("1000.00"))


def test_exposure_and_the_credit_limit_in_the_company_currency():
    customers = pd.DataFrame({"customer_id": ["C1", "C2"], "name": ["Dumont SAS", "Boston Tools"],
                              "credit_limit": ["1200.00", ""]})
    items = pd.DataFrame({"invoice_id": ["E1", "U1", "U2"], "customer_id": ["C1", "C1", "C2"],
                          "due_date": ["2026-02-14", "2026-03-22", "2026-04-09"],
                          "amount_open": ["1000.00", "400.00", "250.00"], "currency": ["EUR", "USD", "USD"]})
    exp = risk.exposure(customers, items, AS_OF, rates=RATES)
    assert list(zip(exp.customer_id, exp.currency, exp.exposure, strict=True)) == \
        [("C1", "EUR", D("1320.00")), ("C2", "EUR", D("200.00"))]
    flags = risk.risk_flags(customers, items, as_of=AS_OF, rates=RATES)
    (limit,) = [f for f in flags if f.kind == "credit_limit_exceeded"]
    assert limit.currency == "EUR" and limit.amount == D("120.00")
    assert limit.reason == "Dumont SAS owes 1,320.00 EUR against a credit limit of 1,200.00 EUR (110 % used)."

    # no USD rate: the USD items stay in USD, beside the EUR row; the limit goes with the EUR row
    per_currency = risk.exposure(customers, items, AS_OF, rates=RateTable("EUR", {"EUR": [(dt.date(2025, 1, 1), D("1"))]}))
    assert list(zip(per_currency.customer_id, per_currency.currency, per_currency.exposure,
                    per_currency.credit_limit, strict=True)) == \
        [("C1", "EUR", D("1000.00"), D("1200.00")), ("C1", "USD", D("400.00"), None), ("C2", "USD", D("250.00"), None)]
    assert not [f for f in risk.risk_flags(customers, items, as_of=AS_OF, rates=None) if f.kind == "credit_limit_exceeded"]


def test_language_tags():
    assert [language_tag(c) for c in ("fr", "fr_FR", "DE", "pt-br", "sr@latin")] == ["fr", "fr-FR", "de", "pt-BR", "sr-Latn"]
    assert language_tag("xx_YY") == "xx_YY"  # unknown: kept as it came, for the intake check to name
