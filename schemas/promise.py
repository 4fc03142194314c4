"""Canonical promise to pay as a CRM records it: a task on the customer's account.

A collector who calls a customer logs the promise in the CRM as a task (Salesforce ``Task``,
HubSpot task) whose subject starts with a configured prefix ("Promise to pay"): its due date is
the promised date, a custom field holds the amount and the task's text (or a field) names the
invoices. The connector reads those tasks; the mapping makes them :class:`Promise`; the sync
stores them as payment promises of origin ``crm`` (:mod:`o2c.jobs.promises`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal

from schemas.invoice import SourceRef

#: a line of free text naming the invoices: "Invoices: FA-1, FA-2" (also Factures / Rechnungen)
_LABELLED = re.compile(r"^\s*(?:invoices?|factures?|rechnungen?|invoice numbers?)\s*[:=]\s*(?P<list>.+)$", re.I | re.M)
_SEP = re.compile(r"[\s,;]+")


def invoice_numbers(text: str | None, *, labelled: bool) -> list[str]:
    """The invoice numbers in ``text``: a dedicated field is a list separated by commas, semicolons
    or blanks; free text (a task's description) names them on a line ``Invoices: A, B``.

    >>> invoice_numbers("Call with Mme Roux\\nInvoices: FA-1, FA-2;FA-3\\nby transfer", labelled=True)
    ['FA-1', 'FA-2', 'FA-3']
    >>> invoice_numbers("will pay next week", labelled=True)
    []
    >>> invoice_numbers("FA-1 FA-1, FA-2", labelled=False)
    ['FA-1', 'FA-2']
    """
    if not text:
        return []
    if labelled:
        found = _LABELLED.search(text)
        if found is None:
            return []
        text = found.group("list")
    return list(dict.fromkeys(t.strip(".") for t in _SEP.split(text) if t.strip(".")))


@dataclass(slots=True, kw_only=True)
class Promise:
    """One promise to pay, as one CRM task records it."""

    task_id: str  # the task's id in the CRM (the upsert key with the source name)
    subject: str  # the task's subject (kept as the promise's note)
    due_on: dt.date  # the promised date (the task's due date)
    invoice_numbers: list[str] = field(default_factory=list)  # BT-1 of the invoices it covers
    amount: Decimal | None = None  # the promised amount (None: the task gives none)
    currency: str | None = None  # only when the CRM carries one (multi-currency orgs); else the invoices'
    account_id: str | None = None  # the CRM account (Salesforce Account, HubSpot company) it is on
    owner: str | None = None  # who took it (the task owner)
    promised_on: dt.date | None = None  # when it was recorded (the task's creation)
    status: str | None = None  # the task's own status, kept for the reader
    source: SourceRef | None = None  # system, id (= task_id), updated_at
