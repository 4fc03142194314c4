"""The ``promises`` stream's part of the sync job (:mod:`o2c.jobs.sync`): promises to pay recorded
as CRM tasks (Salesforce, HubSpot), stored as payment promises of origin ``crm``.

Per mapped :class:`~schemas.promise.Promise` of a batch:

- its invoices are found by number (BT-1). Several invoices of one number (two ERPs) are narrowed
  to those of the task's account: the CRM's customer record of that account (same source, the
  account id), its identifiers (SIREN, VAT id) and those of the party it is linked to
  (:mod:`o2c.store.parties`) must include the invoice's buyer key;
- a number the hub does not know (not synced yet, or a typo): the raw task is quarantined (kind
  ``promise``, field ``invoice_numbers``) with the reason, and the rest of the batch goes on. Every
  promises run first takes these rows again (:func:`retry_quarantined`): once the invoices are stored
  the promise is stored and its quarantine rows are ``superseded``;
- a task that names no invoice, gives no amount, spans customers or currencies, or whose date is
  before it was taken is quarantined with the reason (field ``promise``): the task must change;
- otherwise it is upserted by (source, task id) (:func:`o2c.store.collections.upsert_crm_promise`):
  customer, amount, currency, due date, ``taken_by`` the task owner (else ``crm``), note the subject.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.store import Store
from o2c.store.collections import upsert_crm_promise
from o2c.store.models import CustomerRow, InvoiceRow, Quarantine
from o2c.store.parties import Party, PartyLink
from schemas.errors import RejectedDocument
from schemas.promise import Promise

log = logging.getLogger(__name__)

KIND = "promise"  # the quarantine kind of a promise task
UNKNOWN_INVOICE = "invoice_numbers"  # the quarantine field of a task naming invoices the hub does not know
CREDIT_NOTES = ("381", "261", "262", "296", "308", "396", "420", "458", "532")


@dataclass
class PromiseBatch:
    """What storing one batch of promise tasks did."""

    outcomes: list[tuple[Promise, str]] = field(default_factory=list)  # stored: (promise, inserted/updated/unchanged)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (task id, reason) quarantined


class _Unknown(RejectedDocument):
    """A task naming invoices the hub does not have (yet)."""


def _account_keys(s: Session, source: str, account_id: str | None) -> set[str] | None:
    """The buyer keys the task's CRM account stands for (its identifiers and its party's), or None
    when the hub does not know the account (the invoices alone decide then)."""
    if not account_id:
        return None
    customer = s.scalar(select(CustomerRow).where(CustomerRow.source == source, CustomerRow.source_id == account_id))
    if customer is None:
        return None
    keys = {k for k in (customer.siren, customer.vat_id) if k}
    party = s.scalar(select(Party).join(PartyLink, PartyLink.party_id == Party.id).where(PartyLink.customer_id == customer.id))
    if party is not None:
        keys |= {k for k in (party.siren, party.vat_id) if k}
        for other in s.scalars(select(CustomerRow).join(PartyLink, PartyLink.customer_id == CustomerRow.id)
                               .where(PartyLink.party_id == party.id)):
            keys |= {k for k in (other.siren, other.vat_id) if k}
    return keys or None


def _invoices(s: Session, source: str, promise: Promise) -> list[InvoiceRow]:
    """The stored invoices the task names (the module docstring), or RejectedDocument with why."""
    tid = f"{source}:{promise.task_id}"
    if not promise.invoice_numbers:
        raise RejectedDocument(f"promise task {promise.task_id} ({promise.subject!r}) names no invoice: write the invoice "
                               "numbers on a line 'Invoices: A, B' of the task (or in the configured field)",
                               document_id=tid, field=KIND)
    keys = _account_keys(s, source, promise.account_id)
    found, unknown, wrong = [], [], []
    for number in promise.invoice_numbers:
        rows = [r for r in s.scalars(select(InvoiceRow).where(InvoiceRow.number == number).limit(10))
                if r.type_code not in CREDIT_NOTES]
        if keys is not None:
            mine = [r for r in rows if r.buyer_key in keys]
            if rows and not mine:
                wrong.append(number)
            rows = mine
        if not rows:
            if number not in wrong:
                unknown.append(number)
            continue
        if len(rows) > 1:
            raise RejectedDocument(f"promise task {promise.task_id}: invoice number {number} names {len(rows)} invoices "
                                   f"({', '.join(r.source for r in rows)}) and the account does not tell which",
                                   document_id=tid, field=KIND)
        found.append(rows[0])
    if wrong:
        raise RejectedDocument(f"promise task {promise.task_id}: invoice(s) {', '.join(wrong)} belong to another customer "
                               f"than the task's account {promise.account_id}", document_id=tid, field=KIND)
    if unknown:
        raise _Unknown(f"promise task {promise.task_id}: the hub has no invoice {', '.join(unknown)} (not synced yet, or "
                       "mistyped in the task); kept until it is stored", document_id=tid, field=UNKNOWN_INVOICE)
    return list({r.id: r for r in found}.values())


def _check(source: str, promise: Promise, invoices: list[InvoiceRow]) -> None:
    tid = f"{source}:{promise.task_id}"
    buyers = {r.buyer_key or r.buyer_name for r in invoices}
    if len(buyers) > 1:
        raise RejectedDocument(f"promise task {promise.task_id}: its invoices belong to {len(buyers)} customers; "
                               "record one promise per customer", document_id=tid, field=KIND)
    currencies = {r.currency for r in invoices}
    if len(currencies) > 1 or (promise.currency and promise.currency not in currencies):
        raise RejectedDocument(f"promise task {promise.task_id}: currencies differ ({', '.join(sorted(currencies))}"
                               f"{', the task ' + promise.currency if promise.currency else ''}); one promise per currency",
                               document_id=tid, field=KIND)
    if promise.amount is None or promise.amount <= 0:
        raise RejectedDocument(f"promise task {promise.task_id}: no positive promised amount "
                               f"({promise.amount if promise.amount is not None else 'empty'}); fill the task's amount field",
                               document_id=tid, field=KIND)
    if promise.promised_on and promise.due_on < promise.promised_on:
        raise RejectedDocument(f"promise task {promise.task_id}: the promised date {promise.due_on} is before the task was "
                               f"created ({promise.promised_on})", document_id=tid, field=KIND)


def store_batch(store: Store, s: Session, source: str, items: list[tuple[Promise, dict[str, Any]]], *,
                run_id: str | None, retrying: bool = False) -> PromiseBatch:
    """Store one batch of mapped promise tasks, each with the raw record it was mapped from
    (``retrying``: quarantined tasks taken again; one whose invoices are still missing stays as it is held)."""
    result = PromiseBatch()
    for promise, record in items:
        try:
            invoices = _invoices(s, source, promise)
            _check(source, promise, invoices)
        except RejectedDocument as exc:
            if retrying and isinstance(exc, _Unknown):
                continue  # still waiting, already held with its reason: not counted again
            store.quarantine(s, source=source, kind=KIND, source_id=promise.task_id, payload=record, reason=str(exc),
                             field=exc.field, run_id=run_id)
            result.rejected.append((promise.task_id, str(exc)))
            continue
        assert promise.amount is not None  # _check
        outcome = upsert_crm_promise(s, source=source, source_id=promise.task_id, invoices=invoices, amount=promise.amount,
                                     due_on=promise.due_on, promised_on=promise.promised_on or promise.due_on,
                                     taken_by=promise.owner or "crm", note=promise.subject)
        result.outcomes.append((promise, outcome))
    return result


def retry_quarantined(store: Store, source: str, mapping: Any, *, run_id: str | None) -> PromiseBatch:
    """Store the quarantined promise tasks of ``source`` that named invoices the hub did not have (the
    newest quarantined record of each); those stored now are marked ``superseded``."""
    with store.session() as s:
        rows = s.scalars(select(Quarantine).where(
            Quarantine.source == source, Quarantine.kind == KIND, Quarantine.field == UNKNOWN_INVOICE,
            Quarantine.resolution.is_(None)).order_by(Quarantine.last_seen, Quarantine.id)).all()
        if not rows:
            return PromiseBatch()
        newest = {r.source_id: r for r in rows}  # later rows win
        items = []
        for source_id, row in newest.items():
            record = json.loads(row.raw_payload)
            try:
                items.append((mapping.apply(record, source), record))
            except RejectedDocument as exc:  # the stored payload no longer maps: leave it to a person
                log.warning("%s: quarantined promise task %s still cannot be mapped: %s", source, source_id, exc)
        result = store_batch(store, s, source, items, run_id=run_id, retrying=True)
        stored = [p.task_id for p, _ in result.outcomes]
        store.resolve_quarantine_many(s, source=source, kind=KIND, source_ids=stored, resolution="superseded")
        if stored:
            log.info("%s: %d quarantined promise task(s) stored now that their invoices are known", source, len(stored))
        return result
