"""Canonical customer: one legal entity the company sells to, seen from any source.

Identifiers are compacted on the way in and checked by :func:`schemas.validation.validate_customer`
(SIREN / SIRET with python-stdnum, VAT ids with ``stdnum.eu.vat``, IBANs with schwifty).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from schemas.invoice import Address, Contact, SourceRef


@dataclass(slots=True, kw_only=True)
class Customer:
    name: str
    source: SourceRef | None = None
    code: str | None = None  # the customer number in the source system
    siren: str | None = None
    siret: str | None = None
    vat_id: str | None = None
    gln: str | None = None
    address: Address | None = None
    contact: Contact | None = None
    ibans: list[str] = field(default_factory=list)
    currency: str | None = None
    credit_limit: Decimal | None = None
    payment_terms: str | None = None
    account_owner: str | None = None
    segment: str | None = None
    dunning_contacts: list[Contact] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)

    @property
    def record_id(self) -> str:
        if self.source is not None:
            return f"{self.source.system}:{self.source.id} ({self.name})"
        return self.code or self.name
