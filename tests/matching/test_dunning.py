"""The dunning plan: who is reminded, at which level, and why every other overdue invoice is not."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from matching.dunning import Cash, Item, Level, Policy, plan

AS_OF = dt.date(2026, 12, 7)
POLICY = Policy(levels=(Level(1, 10, D("20")), Level(2, 30), Level(3, 60)), annual_rate=D("0.1215"), indemnity=D("40"))


def item(i, customer="c1", days=20, amount="100.00", **kw):
    return Item(invoice_id=i, number=f"F{i}", customer_id=customer, currency=kw.pop("currency", "EUR"),
                due_date=AS_OF - dt.timedelta(days=days), open_amount=D(amount), **kw)


def test_one_reminder_per_customer_at_the_highest_level_with_interest_and_indemnity():
    p = plan([item(1, days=12), item(2, days=45, amount="250.00"), item(3, days=5),
              Item(invoice_id=4, number="AV4", customer_id="c1", currency="EUR", due_date=AS_OF, open_amount=D("-30.00"),
                   is_credit_note=True)], POLICY, AS_OF)
    [r] = p.reminders
    assert (r.customer_id, r.level, [ln.number for ln in r.lines], [ln.level for ln in r.lines]) == ("c1", 2, ["F2", "F1"], [2, 1])
    assert r.credit_notes == [(4, "AV4", D("-30.00"))]
    # interest: 250 x 12.15 % x 45 / 365 = 3.74; 100 x 12.15 % x 12 / 365 = 0.40; indemnity 40 per invoice
    assert [ln.interest for ln in r.lines] == [D("3.74"), D("0.40")] and r.indemnity == D("80")
    assert r.total == D("350.00") - D("30.00") + D("4.14") + D("80")
    assert [(s.number, s.rule) for s in p.skipped] == [("F3", "not_due")]


def test_nobody_who_paid_disputes_promised_or_is_blocked_is_reminded():
    items = [item(1, "paid", amount="0.00", in_transit=D("100.00")), item(2, "disputes"), item(3, "promised"),
             item(4, "held"), item(5, "paid_unreviewed", amount="420.00"), item(6, "same_amount", amount="77.70"),
             item(7, "late_promise", days=40)]
    p = plan(items, POLICY, AS_OF, disputes={2: "quality: scratched"},
             promises={3: AS_OF + dt.timedelta(days=5), 7: AS_OF - dt.timedelta(days=10)},
             blocked={"held": "Blocage encours"},
             unreviewed=[Cash(D("400.00"), "EUR", AS_OF - dt.timedelta(days=1), "paid_unreviewed", "E12"),
                         Cash(D("77.70"), "EUR", AS_OF - dt.timedelta(days=2), None, "E13"),
                         Cash(D("100.00"), "EUR", AS_OF - dt.timedelta(days=30), "late_promise", "E1")])
    rules = {s.customer_id: s.rule for s in p.skipped}
    assert rules == {"paid": "settled_in_hub", "disputes": "disputed", "promised": "promised", "held": "blocked",
                     "paid_unreviewed": "possibly_paid", "same_amount": "possibly_paid"}
    reasons = {s.customer_id: s.reason for s in p.skipped}
    assert "applied in the hub and on its way to the ERP" in reasons["paid"]
    assert "quality: scratched" in reasons["disputes"] and "Blocage encours" in reasons["held"]
    assert "of exactly its open amount" in reasons["same_amount"] and "from this customer" in reasons["paid_unreviewed"]
    # a promise past its date and grace no longer holds the reminder; cash older than the window neither
    assert [(r.customer_id, r.level) for r in p.reminders] == [("late_promise", 2)]


def test_partly_paid_is_reminded_for_the_rest_and_small_amounts_wait():
    p = plan([item(1, "partial", amount="60.00", in_transit=D("40.00")), item(2, "small", amount="12.00")], POLICY, AS_OF)
    assert [(r.customer_id, r.due) for r in p.reminders] == [("partial", D("60.00"))]
    assert [(s.customer_id, s.rule) for s in p.skipped] == [("small", "below_minimum")]


def test_currencies_are_reminded_apart_and_the_indemnity_is_in_its_own_currency():
    p = plan([item(1, amount="100.00"), item(2, amount="90.00", currency="USD")], POLICY, AS_OF)
    assert sorted((r.currency, r.indemnity) for r in p.reminders) == [("EUR", D("40")), ("USD", D("0"))]


def test_a_policy_with_levels_out_of_order_is_refused():
    with pytest.raises(ValueError, match="increasing"):
        Policy(levels=(Level(1, 30), Level(2, 10)))
    with pytest.raises(ValueError, match="at least one level"):
        Policy(levels=())
