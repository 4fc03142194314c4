"""The canonical order-to-cash model (EN 16931 semantics, Decimal money) and its checks."""

from schemas.errors import (
    AuthError,
    ConfigError,
    FatalError,
    HubError,
    InvalidChecksum,
    InvalidFormat,
    Issue,
    RejectedDocument,
    RetriableError,
    ValidationFailed,
)
from schemas.invoice import (
    Address,
    AllowanceCharge,
    Contact,
    Delivery,
    DocumentRef,
    Identifier,
    Invoice,
    InvoiceLine,
    Note,
    PaymentInstructions,
    SourceRef,
    Totals,
    TradeParty,
    VatBreakdown,
)
from schemas.money import Money
from schemas.party import Customer
from schemas.statement import Balance, BankEntry, BankStatement, ReferredDocument

__all__ = [
    "Address", "AllowanceCharge", "AuthError", "Balance", "BankEntry", "BankStatement",
    "ConfigError", "Contact", "Customer", "Delivery", "DocumentRef", "FatalError", "HubError",
    "Identifier", "InvalidChecksum", "InvalidFormat", "Invoice", "InvoiceLine", "Issue", "Money",
    "Note", "PaymentInstructions", "ReferredDocument", "RejectedDocument", "RetriableError",
    "SourceRef", "Totals", "TradeParty", "ValidationFailed", "VatBreakdown",
]
