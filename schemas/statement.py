"""Canonical bank statement, balances and entries, whatever the bank format.

Amounts are signed at the parser edge: a credit (money in) is positive, a debit negative.
A batched booking (one camt ``Ntry`` with several ``TxDtls``) becomes one :class:`BankEntry`
per transaction, all sharing ``entry_ref`` and numbered by ``tx_index``.
camt.054 notifications carry no balances: ``opening_balance`` and ``closing_balance`` stay None.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(slots=True, kw_only=True)
class ReferredDocument:
    """A document named in structured remittance (camt ``RfrdDocInf``, REMADV DOC)."""

    number: str
    type_code: str | None = None  # CINV, CREN, DEBN ... (ISO 20022 DocumentType6Code)
    date: dt.date | None = None
    amount: Decimal | None = None


@dataclass(slots=True, kw_only=True)
class BankEntry:
    amount: Decimal  # signed: + credit, - debit
    currency: str
    booking_date: dt.date | None = None
    value_date: dt.date | None = None
    bank_ref: str | None = None  # camt AcctSvcrRef, MT940 bank reference, CFONB/BAI2 reference
    entry_ref: str | None = None  # camt NtryRef
    tx_index: int = 0  # position of the transaction inside a batched entry
    end_to_end_id: str | None = None
    tx_id: str | None = None
    instruction_id: str | None = None
    mandate_id: str | None = None
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    counterparty_account: str | None = None  # non-IBAN account number
    counterparty_bic: str | None = None
    ultimate_party_name: str | None = None
    remittance_lines: list[str] = field(default_factory=list)  # Ustrd / :86: / CFONB 05
    creditor_references: list[str] = field(default_factory=list)  # ISO 11649 RF or national
    referred_documents: list[ReferredDocument] = field(default_factory=list)
    bank_tx_code: str | None = None  # ISO 20022 Domain/Family/SubFamily, e.g. PMNT/RCDT/ESCT
    proprietary_code: str | None = None  # MT940 GVC, CFONB operation code, BAI2 type code
    additional_info: str | None = None
    status: str = "BOOK"
    instructed_amount: Decimal | None = None
    charges: Decimal | None = None
    reversal: bool = False
    # optional additions (bank parsers, 2026-11): currency of ``instructed_amount`` when the
    # bank gives one; the booked amount of the whole camt ``Ntry`` when it was split into
    # several transactions (None for an unsplit entry).
    instructed_currency: str | None = None
    entry_amount: Decimal | None = None

    @property
    def is_credit(self) -> bool:
        return self.amount > 0

    @property
    def remittance_text(self) -> str:
        """The free-text remittance lines joined by blanks (matchers also try them glued)."""
        return " ".join(self.remittance_lines)


@dataclass(slots=True, kw_only=True)
class Balance:
    amount: Decimal  # signed
    date: dt.date
    type_code: str  # OPBD, CLBD, CLAV, ITBD, PRCD ...
    currency: str | None = None  # optional addition: the balance's own currency when the file gives one


@dataclass(slots=True, kw_only=True)
class BankStatement:
    format: str  # camt.053.001.08, mt940, cfonb120, bai2 ...
    account_iban: str | None
    currency: str
    statement_id: str | None = None
    account_number: str | None = None  # when not an IBAN (BAI2, CFONB RIB)
    account_owner: str | None = None
    servicer_bic: str | None = None
    sequence_number: str | None = None  # camt ElctrncSeqNb / MT940 :28C:
    legal_sequence_number: str | None = None
    created_at: dt.datetime | None = None
    from_date: dt.datetime | None = None
    to_date: dt.datetime | None = None
    opening_balance: Balance | None = None
    closing_balance: Balance | None = None
    other_balances: list[Balance] = field(default_factory=list)
    entries: list[BankEntry] = field(default_factory=list)
    page: int | None = None
    last_page: bool | None = None
    message_id: str | None = None  # optional addition: camt GrpHdr/MsgId, MT940 :20:, BAI2 file id

    @property
    def identity(self) -> tuple[str, str, str]:
        """Statement identity used by the file ledger: account, id or sequence, creation time."""
        account = self.account_iban or self.account_number or ""
        ident = self.statement_id or self.sequence_number or ""
        created = self.created_at.isoformat() if self.created_at else ""
        return (account, ident, created)

    def balance_difference(self) -> Decimal | None:
        """opening + entries - closing; ``Decimal(0)`` when it reconciles, None without balances."""
        if self.opening_balance is None or self.closing_balance is None:
            return None
        total = sum((e.amount for e in self.entries if e.status == "BOOK"), Decimal(0))
        return self.opening_balance.amount + total - self.closing_balance.amount
