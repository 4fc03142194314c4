"""Receivables records around the invoices: disputes, payment promises and write-back commands.

Kept minimal: the cash-application, risk and write-back work extends them. Allocations of cash to
open items are :class:`matching.model.Allocation`; risk flags are produced by :mod:`matching.risk`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal


@dataclass(slots=True, kw_only=True)
class Dispute:
    """A customer contests (part of) an invoice: it is not dunned while the dispute is open."""

    source: str
    invoice_number: str
    opened_on: dt.date
    reason: str
    amount: Decimal | None = None
    currency: str | None = None
    closed_on: dt.date | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_on is None


@dataclass(slots=True, kw_only=True)
class PaymentPromise:
    """A customer's promise to pay an amount by a date (kept by collectors, checked by risk)."""

    customer_key: str
    promised_on: dt.date
    due_on: dt.date
    amount: Decimal
    currency: str
    invoice_numbers: list[str] = field(default_factory=list)


#: the kinds of write-back command (docs/writeback.md): ``payment`` (cash on one invoice), ``netting`` (a bank
#: line that nets invoices with credit notes), ``write_off`` (a discount, bank charges or a small
#: difference written off), ``reversal`` (a written-back payment cancelled after a reviewer's decision),
#: ``credit_hold``, ``note``, ``dunning_block``, ``status``, ``crm_field``
WriteBackKind = Literal["payment", "netting", "write_off", "reversal", "credit_hold", "note", "dunning_block", "status",
                        "crm_field"]


@dataclass(slots=True, kw_only=True)
class WriteBackCommand:
    """One change to push to a source system, identified by an idempotency key so that a
    command sent twice is applied once."""

    source: str
    kind: WriteBackKind
    target_id: str  # the record in the source system (invoice id, party id)
    payload: dict[str, Any]
    reason: str  # why the hub sends it (allocation id, risk flag), shown to the ERP's users

    @property
    def idempotency_key(self) -> str:
        body = json.dumps([self.source, self.kind, self.target_id, self.payload], sort_keys=True, default=str)
        return hashlib.sha256(body.encode()).hexdigest()[:32]
