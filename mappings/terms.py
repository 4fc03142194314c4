"""EN 16931 business terms and the canonical-model path each one fills.

Mapping files are keyed by these terms (``BT-1``, ``BT-44`` ...); the mapper writes the value
at the path given here. ``BT-x-1`` is the scheme identifier of identifier ``BT-x``, as in
EN 16931-1. Customer mappings are keyed by :class:`schemas.party.Customer` field paths instead.
"""

from __future__ import annotations

# Invoice header, parties, totals (one value per document).
INVOICE_TERMS: dict[str, str] = {
    "BT-1": "number",
    "BT-2": "issue_date",
    "BT-3": "type_code",
    "BT-5": "currency",
    "BT-6": "tax_currency",
    "BT-7": "tax_point_date",
    "BT-9": "due_date",
    "BT-10": "buyer_reference",
    "BT-11": "project_ref",
    "BT-12": "contract_ref",
    "BT-13": "order_ref",
    "BT-14": "sales_order_ref",
    "BT-15": "receiving_advice_ref",
    "BT-16": "despatch_advice_ref",
    "BT-19": "buyer_accounting_ref",
    "BT-20": "payment_terms",
    "BT-23": "business_process",
    "BT-24": "specification_id",
    # seller BG-4
    "BT-27": "seller.name",
    "BT-28": "seller.trading_name",
    "BT-30": "seller.legal_registration.value",
    "BT-30-1": "seller.legal_registration.scheme",
    "BT-31": "seller.vat_id",
    "BT-32": "seller.tax_registration_id",
    "BT-33": "seller.legal_info",
    "BT-34": "seller.electronic_address.value",
    "BT-34-1": "seller.electronic_address.scheme",
    "BT-35": "seller.address.line1",
    "BT-36": "seller.address.line2",
    "BT-162": "seller.address.line3",
    "BT-37": "seller.address.city",
    "BT-38": "seller.address.postcode",
    "BT-39": "seller.address.subdivision",
    "BT-40": "seller.address.country",
    "BT-41": "seller.contact.name",
    "BT-42": "seller.contact.phone",
    "BT-43": "seller.contact.email",
    # buyer BG-7
    "BT-44": "buyer.name",
    "BT-45": "buyer.trading_name",
    "BT-47": "buyer.legal_registration.value",
    "BT-47-1": "buyer.legal_registration.scheme",
    "BT-48": "buyer.vat_id",
    "BT-49": "buyer.electronic_address.value",
    "BT-49-1": "buyer.electronic_address.scheme",
    "BT-50": "buyer.address.line1",
    "BT-51": "buyer.address.line2",
    "BT-163": "buyer.address.line3",
    "BT-52": "buyer.address.city",
    "BT-53": "buyer.address.postcode",
    "BT-54": "buyer.address.subdivision",
    "BT-55": "buyer.address.country",
    "BT-56": "buyer.contact.name",
    "BT-57": "buyer.contact.phone",
    "BT-58": "buyer.contact.email",
    # delivery BG-13 (a French 2026 mention)
    "BT-70": "delivery.party_name",
    "BT-72": "delivery.date",
    "BT-75": "delivery.address.line1",
    "BT-76": "delivery.address.line2",
    "BT-77": "delivery.address.city",
    "BT-78": "delivery.address.postcode",
    "BT-80": "delivery.address.country",
    "BT-73": "period_start",
    "BT-74": "period_end",
    # payment BG-16
    "BT-81": "payment.means_code",
    "BT-83": "payment.remittance_info",
    "BT-84": "payment.iban",
    "BT-86": "payment.bic",
    # totals BG-22
    "BT-106": "totals.line_total",
    "BT-107": "totals.allowance_total",
    "BT-108": "totals.charge_total",
    "BT-109": "totals.tax_exclusive",
    "BT-110": "totals.tax_total",
    "BT-111": "totals.tax_total_accounting",
    "BT-112": "totals.tax_inclusive",
    "BT-113": "totals.prepaid",
    "BT-114": "totals.rounding",
    "BT-115": "totals.payable",
    # French 2026 reform mentions (not EN 16931 terms)
    "FR-operation-category": "operation_category",
    "FR-vat-on-debits": "vat_on_debits",
}

# Repeating groups: group term -> (canonical list attribute, terms of one element).
GROUP_TERMS: dict[str, tuple[str, dict[str, str]]] = {
    "BG-25": (
        "lines",
        {
            "BT-126": "id",
            "BT-127": "note",
            "BT-128": "object_id",
            "BT-129": "quantity",
            "BT-130": "unit_code",
            "BT-131": "net_amount",
            "BT-132": "order_line_ref",
            "BT-133": "accounting_ref",
            "BT-134": "period_start",
            "BT-135": "period_end",
            "BT-146": "net_price",
            "BT-147": "price_discount",
            "BT-148": "gross_price",
            "BT-149": "base_quantity",
            "BT-150": "base_quantity_unit",
            "BT-151": "vat_category",
            "BT-152": "vat_rate",
            "BT-153": "item_name",
            "BT-154": "description",
            "BT-155": "seller_item_id",
            "BT-156": "buyer_item_id",
            "BT-159": "origin_country",
        },
    ),
    "BG-23": (
        "vat_breakdown",
        {
            "BT-116": "taxable_amount",
            "BT-117": "tax_amount",
            "BT-118": "category",
            "BT-119": "rate",
            "BT-120": "exemption_reason",
            "BT-121": "exemption_reason_code",
        },
    ),
    "BG-1": ("notes", {"BT-21": "subject_code", "BT-22": "text"}),
    "BG-3": ("preceding_invoices", {"BT-25": "number", "BT-26": "issue_date"}),
}

# Canonical paths whose values are amounts or quantities (their sign flips for credit notes
# stored negative in the source, see ``credit_note_sign`` in a mapping file).
SIGNED_PATHS = frozenset(
    {
        "totals.line_total", "totals.allowance_total", "totals.charge_total", "totals.tax_exclusive",
        "totals.tax_total", "totals.tax_total_accounting", "totals.tax_inclusive", "totals.prepaid",
        "totals.rounding", "totals.payable",
        "lines.quantity", "lines.net_amount",
        "vat_breakdown.taxable_amount", "vat_breakdown.tax_amount",
    }
)

CUSTOMER_FIELDS = frozenset(
    {
        "name", "code", "siren", "siret", "vat_id", "gln", "currency", "credit_limit", "payment_terms",
        "account_owner", "segment", "ibans", "aliases",
        "payment_days", "dunning_contacts", "dunning_language", "blocked", "blocked_reason", "on_hold", "on_hold_reason",
        "address.line1", "address.line2", "address.line3", "address.city", "address.postcode",
        "address.subdivision", "address.country",
        "contact.name", "contact.phone", "contact.email",
    }
)

# Settlement mappings (``document: settlement``) are keyed by :class:`schemas.settlement.Settlement`
# field paths, and their ``lines`` group by :class:`schemas.settlement.SettlementLine` fields.
SETTLEMENT_FIELDS = frozenset({"invoice_id", "state", "open_amount", "currency", "settled_on"})
SETTLEMENT_GROUPS: dict[str, tuple[str, dict[str, str]]] = {
    "lines": ("lines", {name: name for name in ("id", "kind", "amount", "date", "reference")}),
}

# Promise mappings (``document: promise``) are keyed by :class:`schemas.promise.Promise` fields.
PROMISE_FIELDS = frozenset({"task_id", "subject", "due_on", "invoice_numbers", "amount", "currency", "account_id", "owner",
                            "promised_on", "status"})
