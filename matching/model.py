"""Inputs, settings and outputs of cash application, as small dataclasses.

Amounts reported are :class:`~decimal.Decimal`; the engine computes in integer cents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal

import pandas as pd

AUTO = "auto"
SUGGESTED = "suggested"

# write-off reason codes
EARLY_PAYMENT_DISCOUNT = "early_payment_discount"
BANK_CHARGES = "bank_charges"

# flag kinds
OVERPAYMENT = "overpayment"
DUPLICATE_PAYMENT = "duplicate_payment"
UNKNOWN_REFERENCE = "unknown_reference"
AMBIGUOUS = "ambiguous"


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """Tolerances and thresholds of the engine (amounts in the currency's minor unit, cents)."""

    auto_threshold: float = 0.90  # confidence at or above which an allocation is posted automatically
    discount_min_pct: Decimal = Decimal("0.009")  # short payment read as early-payment discount: 0.9 % ...
    discount_max_pct: Decimal = Decimal("0.0305")  # ... to about 3 % of the open amount
    charges_max_cents: int = 2500  # short payment up to 25.00 read as bank charges
    overpay_max_pct: Decimal = Decimal("0.12")  # beyond this an "overpayment" is not auto-posted
    max_subset_items: int = 8  # largest number of open items one payment is searched over
    subset_pool: int = 24  # at most this many of a customer's open items enter the subset search
    subset_budget: int = 4_000  # search nodes per payment before giving up (then: no match)
    max_chance: float = 0.1  # a combination found by amount alone is auto only when coincidences are this unlikely
    max_chance_quoted: float = 0.15  # same, for the items completing a payment that quotes some of them
    max_unquoted_auto: int = 3  # ... and only when at most this many unquoted items complete it
    min_weak_key_len: int = 3  # shortest sequence-only key trusted together with the payer identity
    min_typo_len: int = 5  # shortest number considered for a one-edit typo
    name_min_score: float = 0.72  # payer-name similarity needed to identify a customer
    fast_path: bool = True  # settle unambiguous exact references in one vectorised pass first
    skip_domains: tuple[str, ...] = ("ACMT", "LDAS", "CAMT", "XTND")  # ISO bank transaction domains that are never receipts


@dataclass(frozen=True, slots=True)
class Allocation:
    bank_ref: str
    invoice_id: str
    amount_applied: Decimal
    confidence: float
    status: str  # auto | suggested
    rule: str
    explanation: str
    customer_id: str = ""
    currency: str = ""


@dataclass(frozen=True, slots=True)
class WriteOff:
    bank_ref: str
    invoice_id: str
    amount: Decimal
    currency: str
    reason: str  # early_payment_discount | bank_charges
    explanation: str


@dataclass(frozen=True, slots=True)
class Unapplied:
    bank_ref: str
    amount: Decimal
    currency: str
    reason: str
    customer_id: str = ""


@dataclass(frozen=True, slots=True)
class Flag:
    bank_ref: str
    kind: str  # overpayment | duplicate_payment | unknown_reference | ambiguous
    explanation: str
    invoice_id: str = ""
    amount: Decimal | None = None


@dataclass(slots=True)
class CashApplication:
    """Everything one run produces."""

    allocations: list[Allocation] = field(default_factory=list)
    unapplied: list[Unapplied] = field(default_factory=list)
    write_offs: list[WriteOff] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    lines_total: int = 0
    credit_lines: int = 0

    def frames(self) -> dict[str, pd.DataFrame]:
        """One DataFrame per output (amounts stay Decimal objects)."""
        out = {}
        for name, cls in (("allocations", Allocation), ("unapplied", Unapplied), ("write_offs", WriteOff), ("flags", Flag)):
            rows = [asdict(x) for x in getattr(self, name)]
            out[name] = pd.DataFrame(rows, columns=list(cls.__dataclass_fields__))
        return out

    def summary(self) -> dict[str, int]:
        auto_refs = {a.bank_ref for a in self.allocations if a.status == AUTO}
        refs = {a.bank_ref for a in self.allocations}
        return {
            "lines": self.lines_total,
            "credit_lines": self.credit_lines,
            "allocations": len(self.allocations),
            "lines_auto": len(auto_refs),
            "lines_suggested": len(refs - auto_refs),
            "unapplied": len(self.unapplied),
            "write_offs": len(self.write_offs),
            "flags": len(self.flags),
        }
