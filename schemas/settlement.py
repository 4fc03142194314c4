"""Canonical settlement state: what the source ERP says is left to pay on one invoice, and why.

The ERP is the book of record. The hub mirrors, per invoice or credit note, the source's own open
amount and the lines that settled it (payments, credit notes reconciled against it, write-offs);
the hub's own applied cash is "in transit" until one of these lines carries the key the hub wrote
in the ERP's payment description (``o2c:<idempotency key> <bank ref>``).

Amounts are :class:`~decimal.Decimal` in the document currency (BT-5), with the sign of BT-115: a
credit note's open amount is positive too (what is left to refund or use); the receivable sign
comes from the invoice's type code (:func:`schemas.invoice.receivable_amount`). An open amount below
zero or above the document's total is a data-quality finding, never silently clamped.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from schemas.invoice import SourceRef

SettlementState = Literal["open", "partial", "paid", "cancelled"]
SettlementKind = Literal["payment", "credit_note", "write_off", "other"]

SETTLEMENT_STATES: tuple[str, ...] = ("open", "partial", "paid", "cancelled")
SETTLEMENT_KINDS: tuple[str, ...] = ("payment", "credit_note", "write_off", "other")

# What the hub writes at the start of an ERP payment's description: "o2c:" and the 32 hex
# characters of the write-back command's idempotency key.
HUB_KEY = re.compile(r"\bo2c:([0-9a-f]{32})\b")


@dataclass(slots=True, kw_only=True)
class SettlementLine:
    """One ERP record that settled (part of) the document."""

    id: str  # its id in the ERP (move line, payment, clearing document item)
    kind: SettlementKind
    amount: Decimal  # how much it took off the open amount, document currency, positive
    date: dt.date | None = None
    reference: str | None = None  # the ERP's description / memo, where the hub finds its key

    def hub_key(self) -> str | None:
        """The idempotency key of the hub's write-back command this line records, if any.

        >>> SettlementLine(id="7", kind="payment", amount=Decimal("1"),
        ...                reference="o2c:" + "ab" * 16 + " BANKREF").hub_key() == "ab" * 16
        True
        >>> SettlementLine(id="8", kind="payment", amount=Decimal("1"), reference="cheque 123").hub_key()
        """
        found = HUB_KEY.search(self.reference or "")
        return found.group(1) if found else None


@dataclass(slots=True, kw_only=True)
class Settlement:
    """The settlement state of one invoice or credit note in its source system."""

    invoice_id: str  # the document's id in the source (the Invoice's ``source.id``)
    state: SettlementState
    open_amount: Decimal  # what the ERP says is still to pay (0 when paid or cancelled)
    currency: str  # BT-5 of the document
    settled_on: dt.date | None = None  # when it was fully settled (reconciliation date)
    lines: list[SettlementLine] = field(default_factory=list)
    source: SourceRef | None = None  # system, id (= invoice_id) and the cursor of the last change

    @property
    def record_id(self) -> str:
        system = self.source.system if self.source is not None else "?"
        return f"{system}:{self.invoice_id}"

    def hub_keys(self) -> set[str]:
        """The keys of the hub's write-back commands the ERP has recorded on this document."""
        return {key for line in self.lines if (key := line.hub_key()) is not None}

    def settled_amount(self) -> Decimal:
        """The sum of the settling lines (what the ERP took off the total)."""
        return sum((line.amount for line in self.lines), Decimal(0))
