"""Canonical invoice and credit note, named after EN 16931-1 business terms.

Every field carries the business term it implements (``BT-n`` / ``BG-n``) in its comment, so
mappings, renderers and validators speak one vocabulary. Amounts are :class:`~decimal.Decimal`
in the invoice currency (BT-5); JSON carries them as strings.

Spec: EN 16931-1:2017+A1:2019, semantic data model; French additions from the 2026 reform
(external specifications of the e-invoicing reform, v3): buyer SIREN, delivery address,
operation category (BT-23 business process: goods B1, services S1, both M1) and the option
for VAT on debits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

# UNTDID 1001 document types accepted by EN 16931 for invoices and credit notes (BT-3).
INVOICE_TYPE_CODES = frozenset({"380", "383", "384", "386", "389", "751", "875", "876", "877"})
CREDIT_NOTE_TYPE_CODES = frozenset({"381", "261", "262", "296", "308", "396", "420", "458", "532"})
TYPE_CODES = INVOICE_TYPE_CODES | CREDIT_NOTE_TYPE_CODES


def is_credit_note_type(type_code: str | None) -> bool:
    """True for a BT-3 code of a credit note (381, and 261, 262, 296, 308, 396, 420, 458, 532).

    The one test of "is this a credit note" in the hub: comparing with ``"381"`` alone misses
    self-billed (261), factored (396) and the other credit notes EN 16931 accepts.

    >>> [is_credit_note_type(c) for c in ("381", "396", "380", None)]
    [True, True, False, False]
    """
    return type_code in CREDIT_NOTE_TYPE_CODES


def receivable_amount(type_code: str | None, payable: Decimal) -> Decimal:
    """BT-115 as a receivable: negative for a credit note.

    >>> receivable_amount("261", Decimal("12.00")), receivable_amount("380", Decimal("12.00"))
    (Decimal('-12.00'), Decimal('12.00'))
    """
    return -payable if is_credit_note_type(type_code) else payable

# EN 16931 VAT category codes (UNCL 5305 subset, BT-118/BT-151).
VAT_CATEGORIES = frozenset({"S", "Z", "E", "AE", "K", "G", "O", "L", "M"})

OperationCategory = Literal["goods", "services", "both"]


@dataclass(slots=True, kw_only=True)
class Address:
    """BG-5 / BG-8 / BG-12 / BG-15 postal address."""

    line1: str | None = None  # BT-35 / BT-50 / BT-75
    line2: str | None = None  # BT-36 / BT-51 / BT-76
    line3: str | None = None  # BT-162 / BT-163 / BT-165
    city: str | None = None  # BT-37 / BT-52 / BT-77
    postcode: str | None = None  # BT-38 / BT-53 / BT-78
    subdivision: str | None = None  # BT-39 / BT-54 / BT-79
    country: str | None = None  # BT-40 / BT-55 / BT-80, ISO 3166-1 alpha-2


@dataclass(slots=True, kw_only=True)
class Identifier:
    """An identifier with its scheme (ISO 6523 ICD: 0002 SIREN, 0009 SIRET, 0088 GLN)."""

    value: str
    scheme: str | None = None


@dataclass(slots=True, kw_only=True)
class Contact:
    """BG-6 / BG-9 contact."""

    name: str | None = None  # BT-41 / BT-56
    phone: str | None = None  # BT-42 / BT-57
    email: str | None = None  # BT-43 / BT-58


@dataclass(slots=True, kw_only=True)
class TradeParty:
    """BG-4 seller, BG-7 buyer, BG-10 payee or BG-11 seller's tax representative."""

    name: str  # BT-27 / BT-44 / BT-59 / BT-62
    trading_name: str | None = None  # BT-28 / BT-45
    identifiers: list[Identifier] = field(default_factory=list)  # BT-29 / BT-46 / BT-60
    legal_registration: Identifier | None = None  # BT-30 / BT-47 / BT-61 (SIREN in France)
    vat_id: str | None = None  # BT-31 / BT-48 / BT-63
    tax_registration_id: str | None = None  # BT-32
    legal_info: str | None = None  # BT-33
    electronic_address: Identifier | None = None  # BT-34 / BT-49
    address: Address | None = None  # BG-5 / BG-8 / BG-12
    contact: Contact | None = None  # BG-6 / BG-9

    @property
    def siren(self) -> str | None:
        """The French SIREN, from the legal registration (scheme 0002) or a SIRET (0009)."""
        for ident in [self.legal_registration, *self.identifiers]:
            if ident is None:
                continue
            if ident.scheme == "0002":
                return ident.value
            if ident.scheme == "0009" and len(ident.value) == 14:
                return ident.value[:9]
        return None

    @property
    def siret(self) -> str | None:
        for ident in [self.legal_registration, *self.identifiers]:
            if ident is not None and ident.scheme == "0009":
                return ident.value
        return None

    @property
    def gln(self) -> str | None:
        for ident in self.identifiers:
            if ident.scheme == "0088":
                return ident.value
        return None


@dataclass(slots=True, kw_only=True)
class AllowanceCharge:
    """BG-20 document allowance / BG-21 document charge (and BG-27 / BG-28 on lines)."""

    is_charge: bool
    amount: Decimal  # BT-92 / BT-99 / BT-136 / BT-141
    base_amount: Decimal | None = None  # BT-93 / BT-100
    percent: Decimal | None = None  # BT-94 / BT-101
    vat_category: str | None = None  # BT-95 / BT-102 (document level only)
    vat_rate: Decimal | None = None  # BT-96 / BT-103
    reason: str | None = None  # BT-97 / BT-104
    reason_code: str | None = None  # BT-98 / BT-105 (UNTDID 5189 / 7161)


@dataclass(slots=True, kw_only=True)
class InvoiceLine:
    """BG-25 invoice line."""

    id: str  # BT-126
    quantity: Decimal  # BT-129
    unit_code: str  # BT-130, UN/ECE Recommendation 20 (C62 = one)
    net_amount: Decimal  # BT-131
    net_price: Decimal  # BT-146
    item_name: str  # BT-153
    vat_category: str  # BT-151
    vat_rate: Decimal | None = None  # BT-152 (percent)
    note: str | None = None  # BT-127
    object_id: str | None = None  # BT-128
    order_line_ref: str | None = None  # BT-132
    accounting_ref: str | None = None  # BT-133
    period_start: dt.date | None = None  # BT-134
    period_end: dt.date | None = None  # BT-135
    allowances_charges: list[AllowanceCharge] = field(default_factory=list)  # BG-27 / BG-28
    gross_price: Decimal | None = None  # BT-148
    price_discount: Decimal | None = None  # BT-147
    base_quantity: Decimal | None = None  # BT-149
    base_quantity_unit: str | None = None  # BT-150
    description: str | None = None  # BT-154
    seller_item_id: str | None = None  # BT-155
    buyer_item_id: str | None = None  # BT-156
    standard_item_id: Identifier | None = None  # BT-157 (GTIN: scheme 0160)
    classification: list[Identifier] = field(default_factory=list)  # BT-158
    origin_country: str | None = None  # BT-159


@dataclass(slots=True, kw_only=True)
class VatBreakdown:
    """BG-23 VAT breakdown, one per VAT category and rate."""

    category: str  # BT-118
    taxable_amount: Decimal  # BT-116
    tax_amount: Decimal  # BT-117
    rate: Decimal | None = None  # BT-119
    exemption_reason: str | None = None  # BT-120
    exemption_reason_code: str | None = None  # BT-121 (VATEX)


@dataclass(slots=True, kw_only=True)
class Totals:
    """BG-22 document totals."""

    line_total: Decimal  # BT-106
    tax_exclusive: Decimal  # BT-109
    tax_inclusive: Decimal  # BT-112
    payable: Decimal  # BT-115
    allowance_total: Decimal | None = None  # BT-107
    charge_total: Decimal | None = None  # BT-108
    tax_total: Decimal | None = None  # BT-110
    tax_total_accounting: Decimal | None = None  # BT-111 (in BT-6)
    prepaid: Decimal | None = None  # BT-113
    rounding: Decimal | None = None  # BT-114


@dataclass(slots=True, kw_only=True)
class PaymentInstructions:
    """BG-16 payment instructions."""

    means_code: str | None = None  # BT-81, UNTDID 4461 (30 credit transfer, 58 SEPA CT, 59 SEPA DD)
    means_text: str | None = None  # BT-82
    remittance_info: str | None = None  # BT-83 (an ISO 11649 RF creditor reference when structured)
    iban: str | None = None  # BT-84
    account_name: str | None = None  # BT-85
    bic: str | None = None  # BT-86
    card_pan_last: str | None = None  # BT-87
    mandate_ref: str | None = None  # BT-89
    creditor_id: str | None = None  # BT-90
    debited_iban: str | None = None  # BT-91


@dataclass(slots=True, kw_only=True)
class DocumentRef:
    """BG-3 preceding invoice reference (and other referenced documents)."""

    number: str  # BT-25
    issue_date: dt.date | None = None  # BT-26


@dataclass(slots=True, kw_only=True)
class Delivery:
    """BG-13 delivery information (a French 2026 mention when it differs from the buyer's)."""

    party_name: str | None = None  # BT-70
    location_id: Identifier | None = None  # BT-71
    date: dt.date | None = None  # BT-72
    address: Address | None = None  # BG-15


@dataclass(slots=True, kw_only=True)
class Note:
    """BG-1 invoice note with its subject code (UNTDID 4451: AAI, PMT, PMD, AAB, REG...)."""

    text: str  # BT-22
    subject_code: str | None = None  # BT-21


@dataclass(slots=True, kw_only=True)
class SourceRef:
    """Where a canonical record came from: the key of every upsert."""

    system: str  # configured source name, e.g. "tryton_demo"
    id: str  # the record's id in that system
    updated_at: dt.datetime | None = None  # the source's write date (watermark)


@dataclass(slots=True, kw_only=True)
class Invoice:
    """An invoice (BT-3 380, 384, 389...) or a credit note (BT-3 381...)."""

    number: str  # BT-1
    issue_date: dt.date  # BT-2
    type_code: str  # BT-3, UNTDID 1001
    currency: str  # BT-5, ISO 4217
    seller: TradeParty  # BG-4
    buyer: TradeParty  # BG-7
    totals: Totals  # BG-22
    lines: list[InvoiceLine] = field(default_factory=list)  # BG-25
    vat_breakdown: list[VatBreakdown] = field(default_factory=list)  # BG-23
    allowances_charges: list[AllowanceCharge] = field(default_factory=list)  # BG-20 / BG-21
    tax_currency: str | None = None  # BT-6
    tax_point_date: dt.date | None = None  # BT-7
    due_date: dt.date | None = None  # BT-9
    buyer_reference: str | None = None  # BT-10 (Leitweg-ID, service code)
    project_ref: str | None = None  # BT-11
    contract_ref: str | None = None  # BT-12
    order_ref: str | None = None  # BT-13
    sales_order_ref: str | None = None  # BT-14
    receiving_advice_ref: str | None = None  # BT-15
    despatch_advice_ref: str | None = None  # BT-16
    buyer_accounting_ref: str | None = None  # BT-19
    payment_terms: str | None = None  # BT-20
    notes: list[Note] = field(default_factory=list)  # BG-1
    business_process: str | None = None  # BT-23 (France: B1 goods, S1 services, M1 both...)
    specification_id: str | None = None  # BT-24 (profile / CIUS URN)
    preceding_invoices: list[DocumentRef] = field(default_factory=list)  # BG-3
    payee: TradeParty | None = None  # BG-10
    seller_tax_representative: TradeParty | None = None  # BG-11
    delivery: Delivery | None = None  # BG-13
    period_start: dt.date | None = None  # BT-73
    period_end: dt.date | None = None  # BT-74
    payment: PaymentInstructions | None = None  # BG-16
    # French 2026 reform mentions
    operation_category: OperationCategory | None = None  # goods / services / both
    vat_on_debits: bool = False  # "option pour le paiement de la TVA d'apres les debits"
    source: SourceRef | None = None
    # Terms a parser filled in because the document did not carry them (a Factur-X MINIMUM
    # invoice has no BT-106: the CII reader sets it to BT-109 and lists "BT-106" here).
    inferred_terms: list[str] = field(default_factory=list)

    @property
    def is_credit_note(self) -> bool:
        return is_credit_note_type(self.type_code)

    @property
    def record_id(self) -> str:
        """How errors name this invoice: source and source id when known, else its number."""
        if self.source is not None:
            return f"{self.source.system}:{self.source.id} ({self.number})"
        return self.number or "<no number>"

    def signed_payable(self) -> Decimal:
        """BT-115 as a receivable: negative for a credit note."""
        return receivable_amount(self.type_code, self.totals.payable)
