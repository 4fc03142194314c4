"""What reviewers teach the engine: payer names and IBANs that belong to a customer.

A reviewer accepts, rejects or re-allocates a proposed allocation. Each decision on a bank
line whose payer the engine could not (or wrongly) tie to a customer says something durable:
"this IBAN pays for customer C", "the bank writes C's name like this". :class:`Learned` keeps
those facts as plain data (JSON-ready, the lead stores it), and :meth:`Learned.apply_to` hands
them to a :class:`~matching.ledger.Ledger` before matching.

Rejections are remembered too: a name or IBAN rejected for a customer is not learned for it
later by accident, and an IBAN that turns out to be shared by several customers (a factoring
company, a group treasury) is not used for identification.

>>> L = Learned()
>>> L.record(Decision("accept", bank_ref="B1", customer_id="C1", payer_name="DUMONT LOG.", payer_iban="FR76 3000 1"))
>>> L.record(Decision("reallocate", bank_ref="B2", customer_id="C2", payer_name="ETS X", payer_iban="BE001",
...                   previous_customer_id="C9"))
>>> L.ibans == {"FR7630001": "C1", "BE001": "C2"}
True
>>> sorted(L.aliases["C1"])
['DUMONT LOG.']
>>> Learned.from_dict(L.to_dict()) == L
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from matching.normalize import fold, iban_compact

ACCEPT, REJECT, REALLOCATE = "accept", "reject", "reallocate"


@dataclass(frozen=True, slots=True)
class Decision:
    """One reviewer decision on a bank line.

    ``customer_id`` is the customer the reviewer confirmed (accept, reallocate) or refused
    (reject); ``previous_customer_id`` is the one the engine had proposed before a reallocation.
    """

    action: str  # accept | reject | reallocate
    bank_ref: str
    customer_id: str
    payer_name: str = ""
    payer_iban: str = ""
    previous_customer_id: str = ""
    invoice_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class Learned:
    """Aliases and IBANs learned from reviewers: a small, pure, serialisable structure."""

    aliases: dict[str, set[str]] = field(default_factory=dict)  # customer_id -> bank-side names
    ibans: dict[str, str] = field(default_factory=dict)  # IBAN -> customer_id
    rejected: set[tuple[str, str]] = field(default_factory=set)  # (customer_id, folded name or IBAN)
    shared_ibans: set[str] = field(default_factory=set)  # IBANs confirmed for several customers
    decisions: int = 0

    def record(self, d: Decision) -> None:
        """Learn from one decision."""
        self.decisions += 1
        iban = iban_compact(d.payer_iban)
        name = (d.payer_name or "").strip()
        if d.action == REJECT:
            for key in (iban, fold(name)):
                if key:
                    self.rejected.add((d.customer_id, key))
            if iban and self.ibans.get(iban) == d.customer_id:
                del self.ibans[iban]
            if name and d.customer_id in self.aliases:
                self.aliases[d.customer_id].discard(name)
            return
        if d.action not in (ACCEPT, REALLOCATE):
            raise ValueError(f"unknown decision {d.action!r}: use accept, reject or reallocate")
        if d.action == REALLOCATE and d.previous_customer_id:
            for key in (iban, fold(name)):
                if key:
                    self.rejected.add((d.previous_customer_id, key))
            if iban and self.ibans.get(iban) == d.previous_customer_id:
                del self.ibans[iban]
        if iban and iban not in self.shared_ibans and (d.customer_id, iban) not in self.rejected:
            other = self.ibans.get(iban)
            if other and other != d.customer_id:
                self.shared_ibans.add(iban)  # pays for several customers: useless as identity
                del self.ibans[iban]
            else:
                self.ibans[iban] = d.customer_id
        if name and (d.customer_id, fold(name)) not in self.rejected:
            self.aliases.setdefault(d.customer_id, set()).add(name)

    def apply_to(self, ledger: Any) -> None:
        """Teach a :class:`~matching.ledger.Ledger` (called by it when built with ``learned=``)."""
        for iban, cust in self.ibans.items():
            pos = ledger.cust_pos.get(cust)
            if pos is not None:
                ledger.iban_to_cust[iban] = {pos}
        for iban in self.shared_ibans:
            ledger.iban_to_cust.pop(iban, None)
        for cust, names in self.aliases.items():
            if cust in ledger.cust_pos:
                for n in sorted(names):
                    ledger.names.add(cust, n)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "aliases": {c: sorted(v) for c, v in sorted(self.aliases.items())},
            "ibans": dict(sorted(self.ibans.items())),
            "rejected": sorted([c, k] for c, k in self.rejected),
            "shared_ibans": sorted(self.shared_ibans),
            "decisions": self.decisions,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Learned:
        return cls(
            aliases={c: set(v) for c, v in data.get("aliases", {}).items()},
            ibans=dict(data.get("ibans", {})),
            rejected={(c, k) for c, k in data.get("rejected", [])},
            shared_ibans=set(data.get("shared_ibans", [])),
            decisions=int(data.get("decisions", 0)),
        )
