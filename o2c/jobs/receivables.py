"""The hub's open items against the ERPs': one open amount explained, one reconciliation per source.

The ERP is the book of record. For an invoice whose source sends its settlement state, the hub's
open amount is the ERP's open amount less the hub's cash **in transit** (applied here, not yet
recorded there: see :class:`o2c.store.cash.Applied`); for one without, it is BT-115 less the hub's
applied cash (the hub's own estimate). :func:`explain` shows the history behind one number
(``o2c receivables show``); :func:`reconcile` compares a source's totals per customer and names
the cause of every difference (``o2c receivables reconcile``). A difference no cause explains is a
data-quality failure: the settlements sync records it as a finding.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select

from o2c.store import Store
from o2c.store.cash import APPLIED, CashAllocation, CashWriteOff, applied_amounts, open_amount
from o2c.store.models import InvoiceRow, Quarantine
from o2c.store.receivables import SettlementRow, SettlementVersion
from o2c.store.writeback import WriteBackRow
from schemas.errors import ConfigError
from schemas.invoice import receivable_amount
from schemas.settlement import HUB_KEY

ZERO = Decimal(0)


@dataclass
class Explained:
    """Why an invoice has the open amount the hub shows."""

    source: str
    source_id: str
    number: str
    currency: str
    total: Decimal  # BT-115, receivable sign
    basis: str  # "erp" (the ERP's open amount) or "estimate" (BT-115: the source sends no state)
    erp_open: Decimal | None
    in_transit: Decimal
    recorded_by_erp: Decimal
    open: Decimal
    erp_state: str | None = None
    erp_history: list[dict[str, Any]] = field(default_factory=list)
    erp_lines: list[dict[str, Any]] = field(default_factory=list)
    allocations: list[dict[str, Any]] = field(default_factory=list)
    write_offs: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}


def _find(s: Any, ref: str) -> InvoiceRow:
    """The invoice ``ref`` names: its number, ``SOURCE:NUMBER`` or ``SOURCE:ID``."""
    source, _, key = ref.rpartition(":")
    q = select(InvoiceRow)
    q = q.where(InvoiceRow.source == source, or_(InvoiceRow.number == key, InvoiceRow.source_id == key)) if source \
        else q.where(InvoiceRow.number == key)
    rows = s.scalars(q.limit(3)).all()
    if not rows:
        raise ConfigError(f"no invoice {ref!r} in the hub store; give its number, SOURCE:NUMBER or SOURCE:ID")
    if len(rows) > 1:
        raise ConfigError(f"{ref!r} names {len(rows)} invoices ({', '.join(f'{r.source}:{r.number}' for r in rows)}); "
                          "give SOURCE:NUMBER")
    return rows[0]


def explain(store: Store, ref: str) -> Explained:
    """The ERP's state, the hub's allocations and their write-back, and the open amount they make."""
    with store.session() as s:
        inv = _find(s, ref)
        applied = applied_amounts(s, [inv.id])
        total = receivable_amount(inv.type_code, inv.payable)
        erp_open = applied.erp_open.get(inv.id)
        out = Explained(source=inv.source, source_id=inv.source_id, number=inv.number, currency=inv.currency, total=total,
                        basis="estimate" if erp_open is None else "erp", erp_open=erp_open,
                        in_transit=applied.get(inv.id, ZERO), recorded_by_erp=applied.recorded.get(inv.id, ZERO),
                        open=open_amount(inv, applied))
        row = s.scalar(select(SettlementRow).where(SettlementRow.invoice_id == inv.id))
        if row is not None:
            out.erp_state = row.state
            out.erp_lines = list(row.lines or [])
            for v in s.scalars(select(SettlementVersion).where(SettlementVersion.settlement_id == row.id)
                               .order_by(SettlementVersion.version)):
                out.erp_history.append({"version": v.version, "state": v.state, "open": str(v.open_amount),
                                        "erp_changed": v.source_updated_at.isoformat() if v.source_updated_at else None,
                                        "recorded": v.recorded_at.isoformat(), "run": v.run_id})
        # the command carrying each allocation out: its latest payment or netting (a reversed
        # payment's re-payment comes after it; write-offs and reversals are other commands)
        latest: dict[int, tuple[CashAllocation, WriteBackRow | None]] = {}
        for a, wb in s.execute(select(CashAllocation, WriteBackRow)
                               .outerjoin(WriteBackRow, (WriteBackRow.allocation_id == CashAllocation.id)
                                          & WriteBackRow.kind.in_(("payment", "netting")))
                               .where(CashAllocation.invoice_id == inv.id).order_by(CashAllocation.id, WriteBackRow.id)):
            latest[a.id] = (a, wb)
        nettings = {int(i): w for w in s.scalars(select(WriteBackRow).where(WriteBackRow.kind == "netting"))
                    for i in (w.payload or {}).get("allocations") or []}
        for a, wb in latest.values():
            wb = nettings.get(a.id, wb)
            applied_ = a.status in APPLIED
            how = applied.matched.get(a.id)
            in_erp = how is not None
            out.allocations.append({
                "allocation": a.id, "bank_entry": f"E{a.bank_entry_id}", "bank_ref": a.bank_ref, "amount": str(a.amount), "status": a.status, "rule": a.rule,
                "writeback": wb.status if wb is not None else None, "key": wb.idempotency_key if wb is not None else None,
                "counted": ("not applied" if not applied_
                            else "recorded by the ERP" + ("" if how == "key" else f": {how}") if in_erp
                            else "in transit" if row is not None else "applied (hub estimate)"),
            })
        for w in s.scalars(select(CashWriteOff).where(CashWriteOff.invoice_id == inv.id)):
            out.write_offs.append({"amount": str(w.amount), "reason": w.reason})
    return out


@dataclass
class CustomerLine:
    customer: str
    invoices: int = 0
    hub_open: Decimal = ZERO
    erp_open: Decimal = ZERO
    in_transit: Decimal = ZERO
    settled_in_erp_only: Decimal = ZERO
    without_erp_state: Decimal = ZERO
    unexplained: Decimal = ZERO


@dataclass
class Reconciliation:
    source: str
    sends_settlements: bool
    customers: list[CustomerLine] = field(default_factory=list)
    unknown_to_hub: list[dict[str, str]] = field(default_factory=list)  # ERP settlements of invoices the hub lacks

    @property
    def unexplained(self) -> Decimal:
        return sum((c.unexplained for c in self.customers), ZERO)

    def totals(self) -> CustomerLine:
        t = CustomerLine(customer="(all)")
        for c in self.customers:
            for name in ("invoices", "hub_open", "erp_open", "in_transit", "settled_in_erp_only", "without_erp_state",
                         "unexplained"):
                setattr(t, name, getattr(t, name) + getattr(c, name))
        return t

    def as_dict(self) -> dict[str, Any]:
        def d(c: CustomerLine) -> dict[str, Any]:
            return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(c).items()}
        return {"source": self.source, "sends_settlements": self.sends_settlements, "totals": d(self.totals()),
                "unexplained": str(self.unexplained), "customers": [d(c) for c in self.customers],
                "unknown_to_hub": self.unknown_to_hub}


def reconcile(store: Store, source: str, *, sends_settlements: bool | None = None) -> Reconciliation:
    """The hub's open total against the ERP's for ``source``, per customer, with the causes.

    Causes: cash **in transit** (applied in the hub, not yet in the ERP); **settled in the ERP only**
    (payments, credit notes and write-offs the ERP recorded without the hub's cash: already in the
    ERP's figure, shown so a person sees why the hub's own estimate would differ); invoices
    **unknown to the hub** (a settlement quarantined because its invoice never arrived). Open
    invoices **without an ERP state** are the hub's estimate for a source that sends no settlements,
    and **unexplained** for one that does (``sends_settlements``: default, whether any settlement of
    the source is stored).
    """
    with store.session() as s:
        invoices = s.scalars(select(InvoiceRow).where(InvoiceRow.source == source)).all()
        applied = applied_amounts(s, [i.id for i in invoices]) if invoices else applied_amounts(s, [])
        erp_lines = {inv_id: lines for inv_id, lines in s.execute(
            select(SettlementRow.invoice_id, SettlementRow.lines).where(SettlementRow.source == source))}
        if sends_settlements is None:
            sends_settlements = bool(erp_lines) or s.scalar(
                select(Quarantine.id).where(Quarantine.source == source, Quarantine.kind == "settlement").limit(1)) is not None
        out = Reconciliation(source=source, sends_settlements=sends_settlements)
        by_customer: dict[str, CustomerLine] = defaultdict(lambda: CustomerLine(customer=""))
        for inv in invoices:
            who = inv.buyer_key or inv.buyer_name
            line = by_customer[who]
            line.customer = f"{inv.buyer_name} ({inv.buyer_key})" if inv.buyer_key else inv.buyer_name
            open_ = open_amount(inv, applied)
            line.invoices += 1
            line.hub_open += open_
            erp = applied.erp_open.get(inv.id)
            if erp is None:
                line.without_erp_state += open_
                if sends_settlements:
                    line.unexplained += open_
                continue
            line.erp_open += erp
            line.in_transit += applied.get(inv.id, ZERO)
            for item in erp_lines.get(inv.id) or []:
                if not HUB_KEY.search(str(item.get("reference") or "")) and \
                        (inv.id, str(item.get("id"))) not in applied.matched_lines:
                    line.settled_in_erp_only += receivable_amount(inv.type_code, Decimal(str(item.get("amount") or "0")))
            # the arithmetic itself: the hub's figure is the ERP's less what is in transit
            line.unexplained += open_ - (erp - applied.get(inv.id, ZERO))
        out.customers = sorted(by_customer.values(), key=lambda c: c.customer)
        for q in s.scalars(select(Quarantine).where(Quarantine.source == source, Quarantine.kind == "settlement",
                                                    Quarantine.resolved_at.is_(None))):
            out.unknown_to_hub.append({"source_id": q.source_id, "reason": q.reason})
    return out
