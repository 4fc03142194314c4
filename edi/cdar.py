"""French e-invoicing lifecycle statuses (CDV) as UN/CEFACT CDAR D22B messages.

Standard: the French 2026 e-invoicing reform's lifecycle ("cycle de vie", flux 6), specified in
the DGFiP/AIFE external specifications (annex "Format sémantique FE CDV — Flux 6") and AFNOR
XP Z12-012, carried in the UN/CEFACT *Cross Domain Acknowledgement and Response* message D22B
(``CrossDomainAcknowledgementAndResponse:100``; ``ram``/``udt``/``qdt`` are the CII modules).

Status codes (``ProcessConditionCode``). The reform makes four mandatory: 200 Déposée,
210 Refusée, 212 Encaissée (when VAT is due on collection), 213 Rejetée. The others are
optional. Each 212 status carries the amount collected; the specification asks for one
``MEN`` characteristic per VAT rate (BR-FR-CDV-14), so that the VAT due on collection can
be computed.

Caveat: no CDAR D22B XSD ships in the public material this hub uses. The element order follows
two public implementations of XP Z12-012, not the official schema. Check against the XSD
before exchanging with a platform.

>>> import datetime as dt
>>> from decimal import Decimal
>>> s = LifecycleStatus(invoice_number="FA-1", invoice_issue_date=dt.date(2026, 9, 1), seller_siren="732829320",
...                     status_code="212", status_date=dt.date(2026, 9, 30), issuer_id="732829320",
...                     amounts=[CollectedAmount(amount=Decimal("120.00"), vat_rate=Decimal("20"))])
>>> parse(render(s)) == s
True
>>> s.label
'Encaissée'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

from edi.limits import check_size
from edi.xmlsafe import parse_bytes
from schemas.errors import InvalidFormat
from schemas.invoice import Invoice
from schemas.money import AmountError, parse_amount

RSM = "urn:un:unece:uncefact:data:standard:CrossDomainAcknowledgementAndResponse:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}
GUIDELINE = "urn.cpro.gouv.fr:1p0:CDV:invoice"

# ProcessConditionCode -> French label, as listed by the reform's lifecycle (codes 200-213)
# and the platform refusal of an unreadable flow (501).
STATUSES: dict[str, str] = {
    "200": "Déposée",
    "201": "Émise par la plateforme",
    "202": "Reçue par la plateforme",
    "203": "Mise à disposition",
    "204": "Prise en charge",
    "205": "Approuvée",
    "206": "Approuvée partiellement",
    "207": "En litige",
    "208": "Suspendue",
    "209": "Complétée",
    "210": "Refusée",
    "211": "Paiement transmis",
    "212": "Encaissée",
    "213": "Rejetée",
    "501": "Irrecevable",
}
MANDATORY = frozenset({"200", "210", "212", "213"})
# statuses that must state a reason (BR-FR-CDV-15)
REASON_REQUIRED = frozenset({"206", "207", "208", "210", "213", "501"})
_EXTRA_RANGE = range(214, 229)  # other XP Z12-012 codes: accepted and carried, label unknown here


class InvalidLifecycleStatus(InvalidFormat):
    """A lifecycle status or CDAR message that breaks the reform's rules."""


@dataclass(slots=True, kw_only=True)
class CollectedAmount:
    """An amount collected at one VAT rate (``MEN`` characteristic of a 212 status)."""

    amount: Decimal
    vat_rate: Decimal | None = None


@dataclass(slots=True, kw_only=True)
class LifecycleStatus:
    """One lifecycle event of one invoice."""

    invoice_number: str  # the invoice's BT-1
    invoice_issue_date: dt.date  # its BT-2
    seller_siren: str  # SIREN of the invoice's seller (scheme 0002)
    status_code: str  # ProcessConditionCode, e.g. "212"
    status_date: dt.date  # when the event happened (the collection date for 212)
    issuer_id: str  # who issues this status (a SIREN, or a platform id)
    issuer_role: str = "SE"  # UNCL 3035: SE seller, BY buyer, WK platform, DFH the PPF
    issuer_scheme: str = "0002"
    recipient_id: str | None = None
    recipient_role: str | None = None
    recipient_scheme: str = "0002"
    invoice_type_code: str = "380"
    reason_code: str | None = None
    reason: str | None = None
    amounts: list[CollectedAmount] = field(default_factory=list)  # 212 only
    currency: str = "EUR"
    message_id: str | None = None  # defaults to "<invoice>-<code>-<date>"
    sequence: int = 1

    def __post_init__(self) -> None:
        if self.message_id is None:
            self.message_id = f"{self.invoice_number}-{self.status_code}-{self.status_date:%Y%m%d%H%M%S}"

    @property
    def label(self) -> str:
        return STATUSES.get(self.status_code, f"Statut {self.status_code}")

    @property
    def amount(self) -> Decimal | None:
        """Total collected (212), over all VAT rates."""
        return sum((a.amount for a in self.amounts), Decimal(0)) if self.amounts else None

    def check(self) -> LifecycleStatus:
        """Raise :class:`InvalidLifecycleStatus` when the status breaks a reform rule."""
        doc = self.invoice_number or "lifecycle"
        code = self.status_code
        if code not in STATUSES and not (code.isdigit() and int(code) in _EXTRA_RANGE):
            raise InvalidLifecycleStatus(f"unknown lifecycle status code {code!r}", document_id=doc, field="ProcessConditionCode")
        if not self.invoice_number:
            raise InvalidLifecycleStatus("invoice number is required", document_id=doc, field="IssuerAssignedID")
        if code in REASON_REQUIRED and not (self.reason_code or self.reason):
            raise InvalidLifecycleStatus(f"status {code} ({self.label}) needs a reason (BR-FR-CDV-15)", document_id=doc, field="Reason")
        if code == "212" and not self.amounts:
            raise InvalidLifecycleStatus("status 212 (Encaissée) needs the amount collected (BR-FR-CDV-14)", document_id=doc,
                                         field="SpecifiedDocumentCharacteristic")
        if code != "212" and self.amounts:
            raise InvalidLifecycleStatus(f"only status 212 carries collected amounts, not {code}", document_id=doc)
        if not (self.seller_siren.isdigit() and len(self.seller_siren) == 9):
            raise InvalidLifecycleStatus("the seller's SIREN must be 9 digits", document_id=doc, field="GlobalID")
        return self


def _q(path: str) -> str:
    return "/".join(f"{{{NSMAP[s.split(':')[0]]}}}{s.split(':')[1]}" for s in path.split("/"))


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    prefix, _, name = tag.partition(":")
    el = etree.SubElement(parent, f"{{{NSMAP[prefix]}}}{name}", attrs)
    if text is not None:
        el.text = text
    return el


def _stamp(parent: etree._Element, tag: str, when: dt.date, inner: str = "udt:DateTimeString") -> None:
    if isinstance(when, dt.datetime):
        _sub(_sub(parent, tag), inner, when.strftime("%Y%m%d%H%M%S"), format="204")
    else:
        _sub(_sub(parent, tag), inner, when.strftime("%Y%m%d"), format="102")


def render(status: LifecycleStatus) -> bytes:
    """The CDAR D22B message of one lifecycle status (checked first)."""
    s = status.check()
    root = etree.Element(f"{{{RSM}}}CrossDomainAcknowledgementAndResponse", nsmap=NSMAP)
    ctx = _sub(root, "rsm:ExchangedDocumentContext")
    _sub(_sub(ctx, "ram:BusinessProcessSpecifiedDocumentContextParameter"), "ram:ID", "REGULATED")
    _sub(_sub(ctx, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", GUIDELINE)
    doc = _sub(root, "rsm:ExchangedDocument")
    _sub(doc, "ram:ID", s.message_id or s.invoice_number)
    _sub(doc, "ram:Name", "Cycle de vie")
    _stamp(doc, "ram:IssueDateTime", s.status_date)
    issuer = _sub(doc, "ram:IssuerTradeParty")
    _sub(issuer, "ram:GlobalID", s.issuer_id, schemeID=s.issuer_scheme)
    _sub(issuer, "ram:RoleCode", s.issuer_role)
    if s.recipient_id:
        rec = _sub(doc, "ram:RecipientTradeParty")
        _sub(rec, "ram:GlobalID", s.recipient_id, schemeID=s.recipient_scheme)
        if s.recipient_role:
            _sub(rec, "ram:RoleCode", s.recipient_role)
    ack = _sub(root, "rsm:AcknowledgementDocument")
    _sub(_sub(ack, "ram:MultipleReferencesIndicator"), "udt:Indicator", "false")
    _sub(ack, "ram:TypeCode", "23")  # 23: status of the processing of the referenced document
    _stamp(ack, "ram:IssueDateTime", s.status_date)
    ref = _sub(ack, "ram:ReferenceReferencedDocument")
    _sub(ref, "ram:IssuerAssignedID", s.invoice_number)
    _sub(ref, "ram:TypeCode", s.invoice_type_code)
    _stamp(ref, "ram:FormattedIssueDateTime", s.invoice_issue_date, "qdt:DateTimeString")
    _sub(ref, "ram:ProcessConditionCode", s.status_code)
    _sub(ref, "ram:ProcessCondition", s.label)
    seller = _sub(ref, "ram:IssuerTradeParty")
    _sub(seller, "ram:GlobalID", s.seller_siren, schemeID="0002")
    _sub(seller, "ram:RoleCode", "SE")
    st = _sub(ref, "ram:SpecifiedDocumentStatus")
    _stamp(st, "ram:ReferenceDateTime", s.status_date)
    if s.reason_code:
        _sub(st, "ram:ReasonCode", s.reason_code)
    if s.reason:
        _sub(st, "ram:Reason", s.reason)
    _sub(st, "ram:SequenceNumeric", str(s.sequence))
    for a in s.amounts:
        ch = _sub(st, "ram:SpecifiedDocumentCharacteristic")
        _sub(ch, "ram:TypeCode", "MEN")  # montant encaissé
        _sub(ch, "ram:ValueAmount", f"{a.amount:.2f}", currencyID=s.currency)
        if a.vat_rate is not None:
            _sub(ch, "ram:ValuePercent", f"{a.vat_rate:.2f}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _amount(text: str | None, doc: str, path: str) -> Decimal:
    """A plain decimal (:func:`schemas.money.parse_amount`): no exponent, no underscore, bounded digits."""
    try:
        return parse_amount(text or "")
    except AmountError as exc:
        raise InvalidLifecycleStatus(str(exc), document_id=doc, field=path) from None


def _text(el: etree._Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(_q(path))
    return found.text.strip() if found is not None and found.text and found.text.strip() else None


def _when(el: etree._Element | None, path: str, doc: str) -> dt.date | None:
    if el is None:
        return None
    node = el.find(_q(path))
    if node is None or not len(node) or not (node[0].text or "").strip():
        return None
    text, fmt = node[0].text.strip(), node[0].get("format")
    try:
        if fmt == "204":
            return dt.datetime.strptime(text, "%Y%m%d%H%M%S")
        return dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        raise InvalidLifecycleStatus(f"not a date: {text!r}", document_id=doc, field=path) from None


def parse(data: bytes, *, document_id: str = "") -> LifecycleStatus:
    """Read a CDAR lifecycle message (the first acknowledged document)."""
    doc = document_id or "cdar"
    check_size("lifecycle", len(data), document_id=doc)
    root = parse_bytes(data, doc)
    if root.tag != f"{{{RSM}}}CrossDomainAcknowledgementAndResponse":
        raise InvalidFormat(f"not a CDAR message: root element is {root.tag}", document_id=doc)
    head = root.find(_q("rsm:ExchangedDocument"))
    ref = root.find(_q("rsm:AcknowledgementDocument/ram:ReferenceReferencedDocument"))
    if head is None or ref is None:
        raise InvalidLifecycleStatus("CDAR without ExchangedDocument or ReferenceReferencedDocument", document_id=doc)
    st = ref.find(_q("ram:SpecifiedDocumentStatus"))
    issuer = head.find(_q("ram:IssuerTradeParty/ram:GlobalID"))
    recipient = head.find(_q("ram:RecipientTradeParty/ram:GlobalID"))
    seller = ref.find(_q("ram:IssuerTradeParty/ram:GlobalID"))
    amounts, currency = [], "EUR"
    for ch in st.findall(_q("ram:SpecifiedDocumentCharacteristic")) if st is not None else []:
        if _text(ch, "ram:TypeCode") != "MEN":
            continue
        value = ch.find(_q("ram:ValueAmount"))
        if value is None:
            raise InvalidLifecycleStatus("MEN characteristic without ValueAmount", document_id=doc, field="ValueAmount")
        currency = value.get("currencyID") or currency
        rate = _text(ch, "ram:ValuePercent")
        amounts.append(CollectedAmount(amount=_amount(value.text, doc, "ValueAmount"),
                                       vat_rate=_amount(rate, doc, "ValuePercent") if rate else None))
    status_date = _when(st, "ram:ReferenceDateTime", doc) or _when(head, "ram:IssueDateTime", doc)
    issue_date = _when(ref, "ram:FormattedIssueDateTime", doc)
    number = _text(ref, "ram:IssuerAssignedID")
    code = _text(ref, "ram:ProcessConditionCode") or _text(st, "ram:ProcessConditionCode")
    if not number or not code or status_date is None or issue_date is None or seller is None or issuer is None:
        raise InvalidLifecycleStatus("CDAR lacks the invoice number, date, status code or parties", document_id=doc)
    return LifecycleStatus(
        invoice_number=number,
        invoice_issue_date=issue_date,
        seller_siren=(seller.text or "").strip(),
        status_code=code,
        status_date=status_date,
        issuer_id=(issuer.text or "").strip(),
        issuer_role=_text(head, "ram:IssuerTradeParty/ram:RoleCode") or "SE",
        issuer_scheme=issuer.get("schemeID") or "0002",
        recipient_id=(recipient.text or "").strip() if recipient is not None else None,
        recipient_role=_text(head, "ram:RecipientTradeParty/ram:RoleCode"),
        recipient_scheme=(recipient.get("schemeID") if recipient is not None else None) or "0002",
        invoice_type_code=_text(ref, "ram:TypeCode") or "380",
        reason_code=_text(st, "ram:ReasonCode"),
        reason=_text(st, "ram:Reason"),
        amounts=amounts,
        currency=currency,
        message_id=_text(head, "ram:ID"),
        sequence=int(_text(st, "ram:SequenceNumeric") or 1),
    )


def encaissee(inv: Invoice, amount: Decimal, date: dt.date, *, issuer_id: str | None = None, sequence: int = 1) -> LifecycleStatus:
    """The 212 "Encaissée" status of a payment of ``amount`` received on ``date`` for ``inv``.

    The amount is split over the invoice's VAT rates in proportion of each rate's amount with
    VAT (BR-FR-CDV-14 asks for the collected amount per rate); the last rate takes the rounding
    remainder so the parts add up to ``amount`` exactly.

    >>> from edi.samples import sample_invoice
    >>> inv = sample_invoice(1)
    >>> s = encaissee(inv, inv.totals.payable, inv.due_date)
    >>> s.status_code, s.amount == inv.totals.payable
    ('212', True)
    """
    seller_siren = inv.seller.siren
    if not seller_siren:
        raise InvalidLifecycleStatus("the seller has no SIREN: no French lifecycle status", document_id=inv.record_id)
    if amount <= 0:
        raise InvalidLifecycleStatus(f"a collected amount must be positive, not {amount}", document_id=inv.record_id)
    groups: dict[Decimal | None, Decimal] = {}
    for v in inv.vat_breakdown:
        groups[v.rate] = groups.get(v.rate, Decimal(0)) + v.taxable_amount + v.tax_amount
    total = sum(groups.values(), Decimal(0))
    parts: list[CollectedAmount] = []
    if not groups or total == 0:
        parts.append(CollectedAmount(amount=amount))
    else:
        remaining = amount
        rates = sorted(groups, key=lambda r: (r is None, r))
        for i, rate in enumerate(rates):
            share = remaining if i == len(rates) - 1 else (amount * groups[rate] / total).quantize(Decimal("0.01"), ROUND_HALF_UP)
            remaining -= share
            parts.append(CollectedAmount(amount=share, vat_rate=rate))
    return LifecycleStatus(
        invoice_number=inv.number, invoice_issue_date=inv.issue_date, seller_siren=seller_siren, status_code="212",
        status_date=date, issuer_id=issuer_id or seller_siren, issuer_role="SE", invoice_type_code=inv.type_code,
        amounts=parts, currency=inv.currency, sequence=sequence,
        recipient_id=inv.buyer.siren, recipient_role="BY" if inv.buyer.siren else None,
    ).check()
