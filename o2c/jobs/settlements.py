"""The ``settlements`` stream's part of the sync job (:mod:`o2c.jobs.sync`): storing what a source
ERP says is left to pay on each invoice, and what is wrong with it.

Per mapped :class:`~schemas.settlement.Settlement` of a batch:

- its invoice unknown to the hub (not synced yet, rejected by the invoices stream): the raw record
  is quarantined (kind ``settlement``, field ``invoice_id``) with the reason, and the rest of the
  batch goes on. Every settlements run first takes these rows again (:func:`retry_quarantined`):
  once the invoice is stored the settlement is stored and its quarantine rows are ``superseded``.
  A cancelled document the hub never had is skipped (there is nothing of it to settle);
- an ERP open amount below zero or above the document's total (BT-115 of the stored invoice) is a
  data-quality finding (``data_quality_finding``: source, invoice, the values), counted in the
  stream's summary and logged; the settlement is stored as the ERP says it (never clamped);
- otherwise, and in that case too, it is upserted by content hash (:func:`o2c.store.receivables.upsert_settlements`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.store import Store
from o2c.store.models import InvoiceRow, Quarantine
from o2c.store.receivables import record_finding, resolve_findings, upsert_settlements
from schemas.errors import RejectedDocument
from schemas.settlement import Settlement

log = logging.getLogger(__name__)

KIND = "settlement"  # the quarantine kind of a settlement record
UNKNOWN_INVOICE = "invoice_id"  # the quarantine field of a settlement whose invoice the hub does not know


@dataclass
class SettlementBatch:
    """What storing one batch of settlements did."""

    outcomes: list[tuple[Settlement, str]] = field(default_factory=list)  # stored: (settlement, inserted/updated/unchanged)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (invoice id, reason) quarantined
    skipped: int = 0  # cancelled documents the hub never had
    findings: list[str] = field(default_factory=list)  # one message per data-quality finding


def _invoices(s: Session, source: str, ids: list[str]) -> dict[str, InvoiceRow]:
    found: dict[str, InvoiceRow] = {}
    for i in range(0, len(ids), 500):
        for row in s.scalars(select(InvoiceRow).where(InvoiceRow.source == source, InvoiceRow.source_id.in_(ids[i:i + 500]))):
            found[row.source_id] = row
    return found


def _check(s: Session, source: str, settlement: Settlement, invoice: InvoiceRow, run_id: str | None) -> list[str]:
    """Record the data-quality findings of one settlement against its stored invoice (and resolve
    those that no longer hold); return their messages."""
    open_amount, total = settlement.open_amount, invoice.payable
    shown = (invoice.document or {}).get("totals", {}).get("payable") or total  # as the invoice wrote it (NUMERIC pads zeros)
    broken: dict[str, str] = {}
    if open_amount < 0:
        broken["open_amount_negative"] = "below zero"
    elif open_amount > total:
        broken["open_amount_above_total"] = f"above the document total {shown}"
    messages = []
    for rule, what in broken.items():
        message = (f"{source}: invoice {invoice.number} (id {settlement.invoice_id}): the ERP's open amount {open_amount} "
                   f"{settlement.currency} is {what}")
        record_finding(s, source=source, subject=KIND, source_id=settlement.invoice_id, rule=rule, message=message,
                       details={"invoice_number": invoice.number, "open_amount": str(open_amount), "total": str(shown),
                                "currency": settlement.currency, "state": settlement.state},
                       run_id=run_id)
        messages.append(message)
    resolve_findings(s, source=source, subject=KIND, source_id=settlement.invoice_id, keep=broken)
    return messages


def store_batch(store: Store, s: Session, source: str, items: list[tuple[Settlement, dict[str, Any]]], *,
                run_id: str | None) -> SettlementBatch:
    """Store one batch of mapped settlements, each with the raw record it was mapped from."""
    result = SettlementBatch()
    invoices = _invoices(s, source, sorted({st.invoice_id for st, _ in items}))
    ready: list[tuple[Settlement, int]] = []
    for settlement, record in items:
        invoice = invoices.get(settlement.invoice_id)
        if invoice is None:
            if settlement.state == "cancelled":
                result.skipped += 1
                log.info("%s: settlement of %s skipped: a cancelled document the hub never had", source, settlement.invoice_id)
                continue
            reason = (f"settlement of invoice id {settlement.invoice_id}: the hub has no invoice with that id from {source} "
                      "(not synced yet, or rejected by the invoices stream); kept until the invoice is stored")
            store.quarantine(s, source=source, kind=KIND, source_id=settlement.invoice_id, payload=record, reason=reason,
                             field=UNKNOWN_INVOICE, run_id=run_id)
            result.rejected.append((settlement.invoice_id, reason))
            continue
        result.findings.extend(_check(s, source, settlement, invoice, run_id))
        ready.append((settlement, invoice.id))
    for (settlement, _), outcome in zip(ready, upsert_settlements(s, ready, run_id=run_id), strict=True):
        result.outcomes.append((settlement, outcome))
    return result


def retry_quarantined(store: Store, source: str, mapping: Any, *, run_id: str | None) -> SettlementBatch:
    """Store the quarantined settlements of ``source`` whose invoice the hub now has (the newest
    quarantined record of each), and mark their quarantine rows ``superseded``."""
    with store.session() as s:
        rows = s.scalars(select(Quarantine).where(
            Quarantine.source == source, Quarantine.kind == KIND, Quarantine.field == UNKNOWN_INVOICE,
            Quarantine.resolution.is_(None)).order_by(Quarantine.last_seen, Quarantine.id)).all()
        if not rows:
            return SettlementBatch()
        known = _invoices(s, source, sorted({r.source_id for r in rows}))
        newest = {r.source_id: r for r in rows if r.source_id in known}  # later rows win
        items = []
        for source_id, row in newest.items():
            record = json.loads(row.raw_payload)
            try:
                settlement = mapping.apply(record, source)
            except RejectedDocument as exc:  # the stored payload no longer maps: leave it to a person
                log.warning("%s: quarantined settlement %s still cannot be mapped: %s", source, source_id, exc)
                continue
            items.append((settlement, record))
        result = store_batch(store, s, source, items, run_id=run_id)
        stored = [st.invoice_id for st, _ in result.outcomes]
        store.resolve_quarantine_many(s, source=source, kind=KIND, source_ids=stored, resolution="superseded")
        if stored:
            log.info("%s: %d quarantined settlement(s) stored now that their invoices are known", source, len(stored))
        return result
