"""The collector's worklist: which customers to work on today, in order, and what to do with each
(``o2c collections worklist``, the review page's ``/o2c/worklist``).

One row per customer and currency with overdue invoices (the hub's open amount: the ERP's less the
cash in transit, so a customer who paid yesterday is not on it). Rows are ranked by what collecting
them is worth::

    worth = sum(open amount x days late, over its overdue invoices) x risk weight

(the amount-weighted days late times the overdue amount; in the company currency when the stored
rates convert it, else in the row's own currency), the risk weight coming from the customer's
flags of the latest risk-scoring run on or before the day (:data:`RISK_WEIGHTS`: the most severe
flag counts). Each row carries its reason in one sentence, the open disputes and promises, the
last contacts (reminders, promises taken, disputes opened), and the next action, the first that
applies of:

1. ``call``: "call: promise broken" (a broken promise covers an overdue invoice);
2. ``cannot_remind``: "cannot be reminded: no contact": no dunning contact with an e-mail, or no
   dunning language, in the customer master (listed, never silently skipped);
3. ``send_reminder``: "send level N reminder" (the dunning plan of the day has one, not sent yet);
4. ``wait``: why nothing is sent: every overdue invoice is disputed ("wait: dispute in review"),
   promised ("wait: promise due D"), possibly paid ("wait: cash to review"), blocked in the ERP,
   reminded recently, not due at the first level, below the minimum, or the reminder already sent.

The decision what is due is the dunning plan's (:func:`matching.dunning.plan`, with the same
inputs as :func:`o2c.jobs.collections.run_dunning`); the worklist reads and writes nothing else.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from matching.dunning import plan
from o2c.config import CollectionsConfig
from o2c.jobs.collections import _recent_levels, gather
from o2c.store import Store
from o2c.store.cash import RiskFlagRow
from o2c.store.collections import OPEN_STATES, DisputeRow, PromiseRow, ReminderRow
from o2c.store.models import InvoiceRow
from o2c.store.rates import rate_table

#: the weight of a customer's most severe risk flag (none: 1)
RISK_WEIGHTS = {"high": Decimal("2"), "medium": Decimal("1.5"), "low": Decimal("1.25")}
_SEVERITY = {"high": 3, "medium": 2, "low": 1}
_WAITS = {
    "disputed": "wait: dispute in review",
    "promised": "wait: promise to pay not yet due",
    "possibly_paid": "wait: cash to review",
    "blocked": "wait: blocked in the ERP",
    "not_due": "wait: not due for a reminder yet",
    "below_minimum": "wait: below the reminder minimum",
}


@dataclass
class WorkItem:
    customer_id: str
    customer_name: str
    currency: str
    overdue: Decimal  # the hub's open amount of the overdue invoices
    days_late: Decimal  # amount-weighted average
    risk_weight: Decimal
    worth: Decimal  # what ranks the list (see the module's docstring)
    worth_currency: str  # the company currency when converted, else ``currency``
    action: str  # call, cannot_remind, send_reminder, wait
    next_action: str  # the sentence shown
    reason: str  # one sentence
    level: int | None = None  # of the reminder to send
    language: str | None = None
    contacts: list[dict[str, Any]] = field(default_factory=list)  # dunning contacts
    invoices: list[dict[str, Any]] = field(default_factory=list)
    disputes: list[dict[str, Any]] = field(default_factory=list)
    promises: list[dict[str, Any]] = field(default_factory=list)
    flags: list[dict[str, Any]] = field(default_factory=list)
    last_contacts: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def worklist(store: Store, config: CollectionsConfig, as_of: dt.date, *, contacts: int = 5) -> list[WorkItem]:
    """The collector's worklist at ``as_of``, most worth collecting first (``contacts``: how many of
    the last contacts each row shows)."""
    policy = config.policy()
    with store.session() as s:
        items, disputes, promises, blocked, cash, customers, customer_of = gather(s, as_of)
        result = plan(items, policy, as_of, disputes=disputes, promises=promises, blocked=blocked, unreviewed=cash)
        recent = _recent_levels(s, as_of, config.repeat_days)
        rates = rate_table(s)
        latest = s.scalar(select(func.max(RiskFlagRow.as_of)).where(RiskFlagRow.as_of <= as_of))
        flags: dict[str, list[RiskFlagRow]] = defaultdict(list)
        if latest is not None:
            for f in s.scalars(select(RiskFlagRow).where(RiskFlagRow.as_of == latest).order_by(RiskFlagRow.id)):
                flags[f.customer_key].append(f)
        open_disputes = list(s.scalars(select(DisputeRow).where(DisputeRow.status.in_(OPEN_STATES)).order_by(DisputeRow.id)))
        all_promises = list(s.scalars(select(PromiseRow).order_by(PromiseRow.id)))
        todays = {(r.customer_id, r.currency): r for r in s.scalars(select(ReminderRow).where(ReminderRow.as_of == as_of))}
        history = _history(s, customer_of)
        refs = {i: f"{src}:{num}" for i, src, num in s.execute(select(InvoiceRow.id, InvoiceRow.source, InvoiceRow.number))}

    skips = {sk.invoice_id: sk for sk in result.skipped}
    due = {(r.customer_id, r.currency): r for r in result.reminders}
    rows: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for it in items:
        late = (as_of - it.due_date).days
        if it.is_credit_note or late <= 0 or it.open_amount <= 0:
            continue
        rows[(it.customer_id, it.currency)].append((it, late))
    out: list[WorkItem] = []
    for (cid, currency), overdue_items in rows.items():
        who = customers.get(cid)
        name = who.name if who else cid
        ids = {it.invoice_id for it, _ in overdue_items}
        overdue = sum((it.open_amount for it, _ in overdue_items), Decimal(0))
        weighted = sum((it.open_amount * late for it, late in overdue_items), Decimal(0))
        days = (weighted / overdue).quantize(Decimal("0.1")) if overdue else Decimal(0)
        cust_flags = sorted(flags.get(cid, []), key=lambda f: -_SEVERITY.get(f.severity, 0))
        weight = RISK_WEIGHTS.get(cust_flags[0].severity, Decimal(1)) if cust_flags else Decimal(1)
        worth_currency, base = currency, weighted
        converted = rates.convert(weighted, currency, as_of) if rates.company_currency else None
        if converted is not None and rates.company_currency:
            worth_currency, base = rates.company_currency, converted
        row_disputes = [d for d in open_disputes if d.invoice_id in ids or
                        (d.invoice_id not in customer_of and d.customer_key == cid)]
        row_promises = [p for p in all_promises if p.status in ("open", "broken") and ids & set(p.invoice_ids)]
        item = WorkItem(
            customer_id=cid, customer_name=name, currency=currency, overdue=overdue, days_late=days, risk_weight=weight,
            worth=(base * weight).quantize(Decimal("1")), worth_currency=worth_currency, action="", next_action="",
            reason="", language=who.language if who else None, contacts=list(who.contacts) if who else [],
            invoices=[{"invoice_id": it.invoice_id, "number": it.number, "ref": refs.get(it.invoice_id, it.number),
                       "due_date": it.due_date, "days_late": late,
                       "open": it.open_amount, "rule": skips[it.invoice_id].rule if it.invoice_id in skips else "due",
                       "why": skips[it.invoice_id].reason if it.invoice_id in skips else ""}
                      for it, late in sorted(overdue_items, key=lambda x: (x[0].due_date, x[0].number))],
            disputes=[{"id": d.id, "invoice": d.invoice_number, "reason": d.reason_code, "status": d.status,
                       "amount": d.amount, "opened_on": d.opened_on, "origin": d.origin, "owner": d.owner,
                       "comment": d.comments[-1]["text"] if d.comments else ""} for d in row_disputes],
            promises=[{"id": p.id, "amount": p.amount, "currency": p.currency, "due_on": p.due_on, "status": p.status,
                       "paid": p.paid_amount, "taken_by": p.taken_by} for p in row_promises],
            flags=[{"kind": f.kind, "severity": f.severity, "reason": f.reason, "as_of": f.as_of} for f in cust_flags],
            last_contacts=history.get(cid, [])[:contacts],
        )
        _decide(item, due.get((cid, currency)), todays.get((cid, currency)), recent.get((cid, currency)),
                [skips[i] for i in sorted(ids) if i in skips], row_promises, as_of, config)
        out.append(item)
    out.sort(key=lambda w: (-w.worth, -w.overdue, w.customer_name, w.currency))
    return out


def _decide(item: WorkItem, reminder: Any, today: ReminderRow | None, recent: tuple[int, dt.date] | None,
            skips: list[Any], promises: list[PromiseRow], as_of: dt.date, config: CollectionsConfig) -> None:
    """The row's next action and its one-sentence reason."""
    n = len(item.invoices)
    head = (f"{item.customer_name} owes {_money(item.overdue)} {item.currency} on {n} overdue invoice{'s' if n > 1 else ''}, "
            f"{item.days_late} days late on average")
    if item.flags:
        f = item.flags[0]
        head += f", risk {f['severity']} ({f['kind'].replace('_', ' ')})"
    broken = [p for p in promises if p.status == "broken"]
    missing = [what for what, ok in (("dunning contact with an e-mail", item.contacts),
                                     ("dunning language", item.language)) if not ok]
    reminded = recent is not None and reminder is not None and recent[0] >= reminder.level and recent[1] != as_of
    if broken:
        p = broken[0]
        item.action, item.next_action = "call", "call: promise broken"
        why = f"{p.amount} {p.currency} promised by {p.due_on.isoformat()} and {p.paid_amount} paid"
    elif missing:
        item.action, item.next_action = "cannot_remind", "cannot be reminded: no contact"
        why = "the customer master has no " + " and no ".join(missing)
    elif reminder is not None and not reminded and not (today is not None and today.status == "sent"):
        item.action, item.level = "send_reminder", reminder.level
        item.next_action = f"send level {reminder.level} reminder"
        why = f"a level {reminder.level} reminder of {_money(reminder.total)} {item.currency} is due" + (
            f" ({today.status})" if today is not None else "")
    else:
        item.action = "wait"
        if today is not None and today.status == "sent":
            item.next_action = f"wait: level {today.level} reminder sent today"
            why = "the reminder went out today"
        elif reminded:
            assert recent is not None
            item.next_action = f"wait: reminded at level {recent[0]} on {recent[1].isoformat()}"
            why = f"not reminded again at that level within {config.repeat_days} days"
        else:
            rules = [sk.rule for sk in skips]
            first = next((r for r in _WAITS if r in rules), None)
            item.next_action = _WAITS.get(first or "", "wait")
            if first == "promised":
                soonest = min((p.due_on for p in promises if p.status == "open"), default=None)
                if soonest is not None:
                    item.next_action = f"wait: promise due {soonest.isoformat()}"
            why = next((sk.reason for sk in skips if sk.rule == first), "nothing is due")
    item.reason = f"{head}; {why}."


def _history(s: Any, customer_of: dict[int, str]) -> dict[str, list[dict[str, Any]]]:
    """Customer id -> its contacts, latest first: reminders planned or sent, promises taken, disputes opened."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in s.scalars(select(ReminderRow)):
        when = r.sent_at.date() if r.sent_at else r.as_of
        what = f"level {r.level} reminder {r.status}" + (f" ({r.error})" if r.error and r.status != "sent" else "")
        out[r.customer_id].append({"on": when, "kind": "reminder", "what": what, "by": "o2c:collections"})
    for p in s.scalars(select(PromiseRow)):
        cid = next((customer_of[i] for i in p.invoice_ids if i in customer_of), p.customer_key)
        out[cid].append({"on": p.promised_on, "kind": "promise",
                         "what": f"promised {p.amount} {p.currency} by {p.due_on.isoformat()} ({p.status})", "by": p.taken_by})
    for d in s.scalars(select(DisputeRow)):
        cid = customer_of.get(d.invoice_id, d.customer_key or "")
        state = d.status if d.outcome is None else f"{d.status}, {d.outcome}"
        out[cid].append({"on": d.opened_on, "kind": "dispute",
                         "what": f"dispute {d.id} on {d.invoice_number}: {d.reason_code} ({state}, from {d.origin})",
                         "by": d.opened_by})
    for rows in out.values():
        rows.sort(key=lambda c: c["on"], reverse=True)
    return out
