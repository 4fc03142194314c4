"""What the finance review pages show, as plain data read from the store (no web code here)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from o2c.store import Store
from o2c.store.models import InvoiceRow, Quarantine
from schemas.invoice import is_credit_note_type


@dataclass
class SourceTotals:
    source: str
    invoices: int = 0
    credit_notes: int = 0
    net_by_currency: dict[str, Decimal] = field(default_factory=dict)
    open_rejects: int = 0


def overview(store: Store, *, runs: int = 50) -> dict[str, Any]:
    """Sync runs, open quarantine and per-source totals for the review page."""
    totals: dict[str, SourceTotals] = {}
    with store.session() as s:
        rows = s.execute(
            select(InvoiceRow.source, InvoiceRow.type_code, InvoiceRow.currency, InvoiceRow.payable)
        ).all()
        net: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for source, type_code, currency, payable in rows:
            t = totals.setdefault(source, SourceTotals(source))
            if is_credit_note_type(type_code):
                t.credit_notes += 1
                net[(source, currency)] -= payable
            else:
                t.invoices += 1
                net[(source, currency)] += payable
        for (source, currency), amount in net.items():
            totals[source].net_by_currency[currency] = amount
        for source, count in s.execute(
            select(Quarantine.source, func.count()).where(Quarantine.resolution.is_(None)).group_by(Quarantine.source)
        ):
            totals.setdefault(source, SourceTotals(source)).open_rejects = count
    from o2c.store.cash import CashAllocation, CashReviewDecision, CashUnapplied, RiskFlagRow
    from o2c.store.einvoice import EInvoiceDocument
    from o2c.store.receivables import DataQualityFinding
    from o2c.store.writeback import WriteBackRow

    with store.session() as s:
        allocations = s.scalars(select(CashAllocation).order_by(CashAllocation.id.desc()).limit(50)).all()
        unapplied = s.scalars(select(CashUnapplied).where(CashUnapplied.resolved_at.is_(None))
                              .order_by(CashUnapplied.id.desc()).limit(20)).all()
        decisions = s.scalars(select(CashReviewDecision).order_by(CashReviewDecision.id.desc()).limit(20)).all()
        # what could not be written back first, then the latest
        writeback = s.scalars(select(WriteBackRow).order_by((WriteBackRow.status == "sent"), WriteBackRow.id.desc())
                              .limit(30)).all()
        writeback_counts = dict(s.execute(select(WriteBackRow.status, func.count()).group_by(WriteBackRow.status)).all())
        latest = s.scalar(select(func.max(RiskFlagRow.as_of)))
        flags = s.scalars(select(RiskFlagRow).where(RiskFlagRow.as_of == latest)
                          .order_by(RiskFlagRow.severity, RiskFlagRow.customer_name)).all() if latest else []
        held = s.scalars(select(EInvoiceDocument).where(EInvoiceDocument.status != "delivered")
                         .order_by(EInvoiceDocument.id.desc()).limit(20)).all()
        findings = s.scalars(select(DataQualityFinding).where(DataQualityFinding.resolved_at.is_(None))
                             .order_by(DataQualityFinding.id.desc()).limit(30)).all()
    return {
        "runs": store.runs(limit=runs),
        "quarantine": store.quarantined(open_only=True),
        "totals": sorted(totals.values(), key=lambda t: t.source),
        "allocations": allocations,
        "unapplied": unapplied,
        "decisions": decisions,
        "writeback": writeback,
        "writeback_counts": writeback_counts,
        "flags": flags,
        "flags_as_of": latest,
        "held_einvoices": held,
        "receivables": receivables(store, sorted(totals)),
        "findings": findings,
    }


def receivables(store: Store, sources: list[str]) -> list[Any]:
    """The reconciliation of each source's open items with its ERP (:func:`o2c.jobs.receivables.reconcile`):
    totals, the customers whose figures differ, invoices unknown to the hub."""
    from o2c.jobs.receivables import reconcile

    return [reconcile(store, source) for source in sources]


def quarantine_item(store: Store, item_id: int) -> Quarantine | None:
    with store.session() as s:
        return s.get(Quarantine, item_id)
