"""Dunning (relance): which customers get a reminder today, at which level, for which invoices, and
why every other overdue invoice is left out. Pure functions: the collections job reads the store
and calls :func:`plan`.

The rules, in the order they are tried for each overdue invoice (due date before the day):

1. **settled in the hub**: nothing left open once the hub's cash in transit is counted (the cash is
   applied here and on its way to the ERP): never reminded;
2. **disputed**: an open dispute holds the invoice;
3. **promised**: a promise to pay covering the invoice, not yet due (its date plus the grace days);
4. **blocked in the ERP**: the customer is blocked or on hold there (its reason is quoted);
5. **possibly paid**: cash received in the last ``possibly_paid_days`` and not reviewed yet, from
   the same payer, or of exactly the invoice's open amount from anyone: the reminder waits for the
   review of that cash;
6. **not due yet**: fewer days late than the first level.

What is left is due at the highest level whose ``days`` it has reached. A customer gets **one**
reminder per currency, at the highest level among its due invoices, listing every due invoice and
the open credit notes (which reduce what is asked for); below the level's minimum amount nothing
is sent and the invoices say so. Late-payment interest (``annual_rate`` × open amount × days late
/ 365) and a fixed recovery indemnity per invoice (France: 40 EUR, Code de commerce L441-10) are
computed for each line as configured and shown on the reminder.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Level:
    level: int
    days: int  # days past due from which an invoice is at this level
    min_amount: Decimal = ZERO  # a reminder at this level asks for at least this much


@dataclass(frozen=True)
class Policy:
    levels: tuple[Level, ...]
    annual_rate: Decimal = ZERO  # late-payment interest, e.g. 0.1215 (ECB rate + 10 points)
    indemnity: Decimal = ZERO  # fixed recovery indemnity per invoice (France: 40 EUR)
    indemnity_currency: str = "EUR"
    possibly_paid_days: int = 10
    promise_grace_days: int = 3

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError("a dunning policy has at least one level")
        days = [lv.days for lv in self.levels]
        if any(d < 0 for d in days) or days != sorted(days) or len(set(days)) != len(days):
            raise ValueError("levels must have increasing, non-negative days")

    def level_for(self, days_late: int) -> Level | None:
        reached = [lv for lv in self.levels if days_late >= lv.days]
        return reached[-1] if reached else None


@dataclass(frozen=True)
class Item:
    """One open item as the hub sees it (amounts with the receivable sign: a credit note negative)."""

    invoice_id: int
    number: str
    customer_id: str
    currency: str
    due_date: dt.date
    open_amount: Decimal  # after the hub's cash in transit
    in_transit: Decimal = ZERO
    is_credit_note: bool = False


@dataclass(frozen=True)
class Cash:
    """Cash received and not reviewed yet (unapplied, or allocations only suggested)."""

    amount: Decimal
    currency: str
    received_on: dt.date
    customer_id: str | None  # the payer when the engine identified it
    reference: str


@dataclass
class Line:
    invoice_id: int
    number: str
    due_date: dt.date
    days_late: int
    level: int
    open_amount: Decimal
    interest: Decimal
    indemnity: Decimal


@dataclass
class Reminder:
    customer_id: str
    currency: str
    level: int
    lines: list[Line] = field(default_factory=list)
    credit_notes: list[tuple[int, str, Decimal]] = field(default_factory=list)  # (id, number, open amount, negative)

    @property
    def due(self) -> Decimal:
        return sum((ln.open_amount for ln in self.lines), ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((amount for _, _, amount in self.credit_notes), ZERO)

    @property
    def interest(self) -> Decimal:
        return sum((ln.interest for ln in self.lines), ZERO)

    @property
    def indemnity(self) -> Decimal:
        return sum((ln.indemnity for ln in self.lines), ZERO)

    @property
    def total(self) -> Decimal:
        """What the reminder asks for: the due invoices less the open credit notes, plus interest and indemnities."""
        return self.due + self.credits + self.interest + self.indemnity


@dataclass(frozen=True)
class Skip:
    invoice_id: int
    number: str
    customer_id: str
    rule: str  # settled_in_hub, disputed, promised, blocked, possibly_paid, not_due, below_minimum
    reason: str  # one sentence for the collector


@dataclass
class Plan:
    reminders: list[Reminder] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}".replace(",", " ")


def plan(items: Iterable[Item], policy: Policy, as_of: dt.date, *,
         disputes: Mapping[int, str] | None = None,
         promises: Mapping[int, dt.date] | None = None,
         blocked: Mapping[str, str] | None = None,
         unreviewed: Iterable[Cash] = ()) -> Plan:
    """The reminders due at ``as_of`` and the overdue invoices left out, each with its rule.

    ``disputes``: invoice id -> what the dispute says; ``promises``: invoice id -> the promised
    date; ``blocked``: customer id -> why the ERP blocks or holds it; ``unreviewed``: cash received
    and not reviewed yet.

    >>> pol = Policy(levels=(Level(1, 15), Level(2, 30)))
    >>> a = Item(invoice_id=1, number="F1", customer_id="c", currency="EUR", due_date=dt.date(2026, 11, 1),
    ...          open_amount=Decimal("100.00"))
    >>> p = plan([a], pol, dt.date(2026, 12, 7))
    >>> [(r.customer_id, r.level, str(r.total)) for r in p.reminders]
    [('c', 2, '100.00')]
    >>> plan([a], pol, dt.date(2026, 12, 7), disputes={1: "quality"}).skipped[0].rule
    'disputed'
    """
    disputes, promises, blocked = disputes or {}, promises or {}, blocked or {}
    cash = [c for c in unreviewed if 0 <= (as_of - c.received_on).days <= policy.possibly_paid_days]
    out = Plan()
    due: dict[tuple[str, str], list[tuple[Item, Level, int]]] = defaultdict(list)
    credits: dict[tuple[str, str], list[Item]] = defaultdict(list)
    for it in items:
        if it.is_credit_note:
            if it.open_amount < 0:
                credits[(it.customer_id, it.currency)].append(it)
            continue
        late = (as_of - it.due_date).days
        if late <= 0:
            continue

        def skip(rule: str, reason: str, it: Item = it) -> None:
            out.skipped.append(Skip(it.invoice_id, it.number, it.customer_id, rule, reason))

        if it.open_amount <= 0:
            if it.in_transit > 0:
                skip("settled_in_hub", f"{it.number} is paid: {_money(it.in_transit)} {it.currency} applied in the hub "
                                       "and on its way to the ERP")
            continue
        if it.invoice_id in disputes:
            skip("disputed", f"{it.number} is disputed ({disputes[it.invoice_id]})")
            continue
        promised = promises.get(it.invoice_id)
        if promised is not None and as_of <= promised + dt.timedelta(days=policy.promise_grace_days):
            skip("promised", f"{it.number} is covered by a promise to pay by {promised.isoformat()}")
            continue
        if it.customer_id in blocked:
            skip("blocked", f"{it.number}: the customer is blocked or on hold in the ERP ({blocked[it.customer_id]})")
            continue
        same = next((c for c in cash if c.currency == it.currency and
                     (c.customer_id == it.customer_id or c.amount == it.open_amount)), None)
        if same is not None:
            who = "from this customer" if same.customer_id == it.customer_id else "of exactly its open amount"
            skip("possibly_paid", f"{it.number} may be paid: {_money(same.amount)} {same.currency} {who} received on "
                                  f"{same.received_on.isoformat()} ({same.reference}) awaits review")
            continue
        level = policy.level_for(late)
        if level is None:
            skip("not_due", f"{it.number} is {late} days late, reminders start at {policy.levels[0].days}")
            continue
        due[(it.customer_id, it.currency)].append((it, level, late))
    for (customer, currency), rows in sorted(due.items()):
        top = max((lv for _, lv, _ in rows), key=lambda lv: lv.level)
        reminder = Reminder(customer_id=customer, currency=currency, level=top.level)
        for it, lv, late in sorted(rows, key=lambda r: (r[0].due_date, r[0].number)):
            interest = (it.open_amount * policy.annual_rate * late / 365).quantize(CENT, ROUND_HALF_UP)
            indemnity = policy.indemnity if currency == policy.indemnity_currency else ZERO
            reminder.lines.append(Line(it.invoice_id, it.number, it.due_date, late, lv.level, it.open_amount, interest,
                                       indemnity))
        reminder.credit_notes = [(c.invoice_id, c.number, c.open_amount) for c in credits.get((customer, currency), [])]
        if reminder.due + reminder.credits < top.min_amount:
            for ln in reminder.lines:
                out.skipped.append(Skip(ln.invoice_id, ln.number, customer, "below_minimum",
                                        f"{ln.number}: {_money(reminder.due + reminder.credits)} {currency} due in all, "
                                        f"below the level {top.level} minimum of {_money(top.min_amount)}"))
            continue
        out.reminders.append(reminder)
    return out
