"""OASIS UBL 2.1 Invoice and CreditNote, to and from the canonical Invoice.

Standard: UBL 2.1 (http://docs.oasis-open.org/ubl/os-UBL-2.1/) as bound to EN 16931-1 by
CEN/TS 16931-3-2 (https://github.com/ConnectingEurope/eInvoicing-EN16931, ``ubl/``); Peppol BIS
Billing 3.0 and XRechnung UBL are CIUS of it and read the same way.

Binding quirks, quoted from the CEN syntax binding:

- a note's subject code (BT-21) has no UBL element: "#SUBJECTCODE#text" in ``cbc:Note``;
- BT-9 due date is ``cbc:DueDate`` on an Invoice but ``cac:PaymentMeans/cbc:PaymentDueDate``
  on a CreditNote, and BT-11 project is ``cac:ProjectReference`` on an Invoice but an
  ``AdditionalDocumentReference`` with ``DocumentTypeCode`` 50 on a CreditNote;
- BT-8 (VAT point date code, the French "TVA sur les débits") is ``InvoicePeriod/DescriptionCode``.

What UBL shares with CII (decimals, allowance terms, number formats, :class:`UnknownProfile`)
is in :mod:`edi.en16931`; this module imports no other format module. Validation is
:func:`edi.einvoice.validate`.

>>> from edi.samples import sample_invoice
>>> inv = sample_invoice(3)
>>> parse(render(inv)) == inv
True
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from lxml import etree

from edi import limits
from edi.en16931 import (
    ALLOWANCE_TERMS,
    OPERATION_BY_PROCESS,
    PROCESS_BY_OPERATION,
    UnknownProfile,
    format_amount,
    format_number,
    identifier,
    read_decimal,
)
from edi.xmlsafe import parse_bytes
from schemas.errors import InvalidFormat
from schemas.invoice import (
    CREDIT_NOTE_TYPE_CODES,
    Address,
    AllowanceCharge,
    Contact,
    Delivery,
    DocumentRef,
    Invoice,
    InvoiceLine,
    Note,
    PaymentInstructions,
    Totals,
    TradeParty,
    VatBreakdown,
)

INV = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CRN = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
NS = {"cac": CAC, "cbc": CBC}

EN16931 = "urn:cen.eu:en16931:2017"
PEPPOL_BIS3 = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
CUSTOMIZATIONS = {"en16931": EN16931, "peppol": PEPPOL_BIS3}

_NOTE_CODE = re.compile(r"^#([A-Z]{3})#(.*)$", re.DOTALL)


def customization_profile(customization: str | None) -> str | None:
    """``"en16931"`` for EN 16931 and any of its CIUS/extensions (Peppol, XRechnung...), else ``None``."""
    if customization and customization.strip().startswith(EN16931):
        return "en16931"
    return None


# --------------------------------------------------------------------------------------------
# reading

_CACHE: dict[str, str] = {}


def _p(path: str) -> str:
    q = _CACHE.get(path)
    if q is None:
        q = _CACHE[path] = "/".join(
            f"{{{NS[s.partition(':')[0]]}}}{s.partition(':')[2]}" if ":" in s else s for s in path.split("/"))
    return q


_XPATHS: dict[str, etree.XPath] = {}


def _t(el: etree._Element | None, path: str | None = None) -> str | None:
    if el is None:
        return None
    if path:
        xp = _XPATHS.get(path)
        if xp is None:  # compiled XPath: about 3x faster than ElementPath's find()
            xp = _XPATHS[path] = etree.XPath(f"{path}[1]", namespaces=NS, smart_strings=False)
        found = xp(el)
        if not found:
            return None
        el = found[0]
    text = (el.text or "").strip()
    return text or None


def _d(el: etree._Element | None, path: str | None, doc: str, term: str, kind: str = "amount") -> Decimal | None:
    """The number at ``path`` read by :func:`edi.en16931.read_decimal` with the decimals of
    its ``kind``; a refusal names the business term ``term``."""
    text = _t(el, path)
    if text is None:
        return None
    return read_decimal(text, term=term, kind=kind, document_id=doc)


def _date(el: etree._Element | None, path: str, doc: str, term: str) -> dt.date | None:
    """The date of business term ``term``; one that does not exist is :class:`InvalidFormat`."""
    text = _t(el, path)
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise InvalidFormat(f"not a date (YYYY-MM-DD): {text[:40]!r}", document_id=doc, field=term) from None


def _address(el: etree._Element | None) -> Address | None:
    if el is None:
        return None
    return Address(
        line1=_t(el, "cbc:StreetName"), line2=_t(el, "cbc:AdditionalStreetName"), line3=_t(el, "cac:AddressLine/cbc:Line"),
        city=_t(el, "cbc:CityName"), postcode=_t(el, "cbc:PostalZone"), subdivision=_t(el, "cbc:CountrySubentity"),
        country=_t(el, "cac:Country/cbc:IdentificationCode"),
    )


def _party(el: etree._Element | None, *, payee: bool = False) -> tuple[TradeParty | None, str | None]:
    """The party and, for the seller, a SEPA creditor id (BT-90) found among its identifiers."""
    if el is None:
        return None, None
    creditor = None
    identifiers = []
    for x in el.findall(_p("cac:PartyIdentification/cbc:ID")):
        ident = identifier(x)
        if ident is None:
            continue
        if ident.scheme == "SEPA":
            creditor = ident.value
        else:
            identifiers.append(ident)
    vat_id = tax_id = None
    for ts in el.findall(_p("cac:PartyTaxScheme")):
        if (_t(ts, "cac:TaxScheme/cbc:ID") or "").upper() == "VAT":
            vat_id = _t(ts, "cbc:CompanyID")
        else:
            tax_id = _t(ts, "cbc:CompanyID")
    legal = el.find(_p("cac:PartyLegalEntity"))
    contact_el = el.find(_p("cac:Contact"))
    contact = None
    if contact_el is not None:
        contact = Contact(name=_t(contact_el, "cbc:Name"), phone=_t(contact_el, "cbc:Telephone"), email=_t(contact_el, "cbc:ElectronicMail"))
    party_name = _t(el, "cac:PartyName/cbc:Name")
    registration_name = _t(legal, "cbc:RegistrationName")
    if payee or registration_name is None:
        name, trading = party_name or registration_name or "", None
    else:
        name, trading = registration_name, party_name
    return TradeParty(
        name=name,
        trading_name=trading,
        identifiers=identifiers,
        legal_registration=identifier(legal.find(_p("cbc:CompanyID"))) if legal is not None else None,
        vat_id=vat_id,
        tax_registration_id=tax_id,
        legal_info=_t(legal, "cbc:CompanyLegalForm"),
        electronic_address=identifier(el.find(_p("cbc:EndpointID"))),
        address=_address(el.find(_p("cac:PostalAddress"))),
        contact=contact,
    ), creditor


def _allowance(el: etree._Element, doc: str, *, line: bool = False) -> AllowanceCharge:
    is_charge = (_t(el, "cbc:ChargeIndicator") or "").lower() == "true"
    amount, base, percent, rate = ALLOWANCE_TERMS[(line, is_charge)]
    return AllowanceCharge(
        is_charge=is_charge,
        amount=_d(el, "cbc:Amount", doc, amount) or Decimal(0),
        base_amount=_d(el, "cbc:BaseAmount", doc, base),
        percent=_d(el, "cbc:MultiplierFactorNumeric", doc, percent, "percentage"),
        vat_category=_t(el, "cac:TaxCategory/cbc:ID"),
        vat_rate=_d(el, "cac:TaxCategory/cbc:Percent", doc, rate, "percentage"),
        reason=_t(el, "cbc:AllowanceChargeReason"),
        reason_code=_t(el, "cbc:AllowanceChargeReasonCode"),
    )


def _line(el: etree._Element, doc: str) -> InvoiceLine:
    qty = el.find(_p("cbc:InvoicedQuantity"))
    if qty is None:
        qty = el.find(_p("cbc:CreditedQuantity"))
    item = el.find(_p("cac:Item"))
    price = el.find(_p("cac:Price"))
    tax = item.find(_p("cac:ClassifiedTaxCategory")) if item is not None else None
    base = price.find(_p("cbc:BaseQuantity")) if price is not None else None
    price_ac = price.find(_p("cac:AllowanceCharge")) if price is not None else None
    object_id = None
    for ref in el.findall(_p("cac:DocumentReference")):
        if _t(ref, "cbc:DocumentTypeCode") == "130":
            object_id = _t(ref, "cbc:ID")
    return InvoiceLine(
        id=_t(el, "cbc:ID") or "",
        quantity=(_d(qty, None, doc, "BT-129", "quantity") if qty is not None else None) or Decimal(0),
        unit_code=(qty.get("unitCode") if qty is not None else None) or "",
        net_amount=_d(el, "cbc:LineExtensionAmount", doc, "BT-131") or Decimal(0),
        net_price=_d(price, "cbc:PriceAmount", doc, "BT-146", "price") or Decimal(0),
        item_name=_t(item, "cbc:Name") or "",
        vat_category=_t(tax, "cbc:ID") or "",
        vat_rate=_d(tax, "cbc:Percent", doc, "BT-152", "percentage"),
        note=_t(el, "cbc:Note"),
        object_id=object_id,
        order_line_ref=_t(el, "cac:OrderLineReference/cbc:LineID"),
        accounting_ref=_t(el, "cbc:AccountingCost"),
        period_start=_date(el, "cac:InvoicePeriod/cbc:StartDate", doc, "BT-134"),
        period_end=_date(el, "cac:InvoicePeriod/cbc:EndDate", doc, "BT-135"),
        allowances_charges=[_allowance(a, doc, line=True) for a in el.findall(_p("cac:AllowanceCharge"))],
        gross_price=_d(price_ac, "cbc:BaseAmount", doc, "BT-148", "price") if price_ac is not None else None,
        price_discount=_d(price_ac, "cbc:Amount", doc, "BT-147", "price") if price_ac is not None else None,
        base_quantity=_d(base, None, doc, "BT-149", "quantity") if base is not None else None,
        base_quantity_unit=base.get("unitCode") if base is not None else None,
        description=_t(item, "cbc:Description"),
        seller_item_id=_t(item, "cac:SellersItemIdentification/cbc:ID"),
        buyer_item_id=_t(item, "cac:BuyersItemIdentification/cbc:ID"),
        standard_item_id=identifier(item.find(_p("cac:StandardItemIdentification/cbc:ID"))) if item is not None else None,
        classification=[i for i in (identifier(c, "listID") for c in item.findall(
            _p("cac:CommodityClassification/cbc:ItemClassificationCode"))) if i] if item is not None else [],
        origin_country=_t(item, "cac:OriginCountry/cbc:IdentificationCode"),
    )


def parse(data: bytes, *, document_id: str = "", strict_profile: bool = True) -> Invoice:
    """Read a UBL 2.1 Invoice or CreditNote (EN 16931, Peppol BIS 3, XRechnung...).

    Raises :class:`~schemas.errors.InvalidFormat` for malformed or non-UBL XML and
    :class:`~edi.en16931.UnknownProfile` for a CustomizationID (BT-24) outside EN 16931,
    :class:`~schemas.errors.TooLarge` over the ``einvoice`` size limit (:mod:`edi.limits`). A
    number or a date that cannot be read is :class:`InvalidFormat` naming its business term.
    """
    if isinstance(data, (bytes, bytearray)):
        limits.check_size("einvoice", len(data), document_id=document_id or "ubl")
    root = parse_bytes(data, document_id or "ubl")
    return parse_tree(root, document_id=document_id, strict_profile=strict_profile)


def parse_tree(root: etree._Element, *, document_id: str = "", strict_profile: bool = True) -> Invoice:
    doc = document_id or "ubl"
    credit = root.tag == f"{{{CRN}}}CreditNote"
    if root.tag != f"{{{INV}}}Invoice" and not credit:
        raise InvalidFormat(f"not a UBL 2.1 Invoice or CreditNote: root element is {root.tag}", document_id=doc)
    customization = _t(root, "cbc:CustomizationID")
    if strict_profile and customization_profile(customization) is None:
        raise UnknownProfile(f"unknown CustomizationID (BT-24) {customization!r}", document_id=doc, field="BT-24")
    number = _t(root, "cbc:ID") or ""
    doc = document_id or number or doc
    currency = _t(root, "cbc:DocumentCurrencyCode") or ""
    tax_currency = _t(root, "cbc:TaxCurrencyCode")
    lmt = root.find(_p("cac:LegalMonetaryTotal"))
    if lmt is None:
        raise InvalidFormat("UBL invoice without LegalMonetaryTotal (BG-22)", document_id=doc, field="BG-22")
    tax_total = tax_total_acc = None
    vat: list[VatBreakdown] = []
    for tt in root.findall(_p("cac:TaxTotal")):
        amount_el = tt.find(_p("cbc:TaxAmount"))
        in_tax_currency = bool(tax_currency and tax_currency != currency and amount_el is not None
                               and amount_el.get("currencyID") == tax_currency)
        value = _d(amount_el, None, doc, "BT-111" if in_tax_currency else "BT-110")
        if in_tax_currency:
            tax_total_acc = value
            continue
        tax_total = value
        for st in tt.findall(_p("cac:TaxSubtotal")):
            cat = st.find(_p("cac:TaxCategory"))
            vat.append(VatBreakdown(
                category=_t(cat, "cbc:ID") or "",
                taxable_amount=_d(st, "cbc:TaxableAmount", doc, "BT-116") or Decimal(0),
                tax_amount=_d(st, "cbc:TaxAmount", doc, "BT-117") or Decimal(0),
                rate=_d(cat, "cbc:Percent", doc, "BT-119", "percentage"),
                exemption_reason=_t(cat, "cbc:TaxExemptionReason"),
                exemption_reason_code=_t(cat, "cbc:TaxExemptionReasonCode"),
            ))
    for name in ("cbc:LineExtensionAmount", "cbc:TaxExclusiveAmount", "cbc:TaxInclusiveAmount", "cbc:PayableAmount"):
        if lmt.find(_p(name)) is None:
            raise InvalidFormat(f"LegalMonetaryTotal lacks {name}", document_id=doc, field="BG-22")
    totals = Totals(
        line_total=_d(lmt, "cbc:LineExtensionAmount", doc, "BT-106"),  # type: ignore[arg-type]
        tax_exclusive=_d(lmt, "cbc:TaxExclusiveAmount", doc, "BT-109"),  # type: ignore[arg-type]
        tax_inclusive=_d(lmt, "cbc:TaxInclusiveAmount", doc, "BT-112"),  # type: ignore[arg-type]
        payable=_d(lmt, "cbc:PayableAmount", doc, "BT-115"),  # type: ignore[arg-type]
        allowance_total=_d(lmt, "cbc:AllowanceTotalAmount", doc, "BT-107"),
        charge_total=_d(lmt, "cbc:ChargeTotalAmount", doc, "BT-108"),
        tax_total=tax_total,
        tax_total_accounting=tax_total_acc,
        prepaid=_d(lmt, "cbc:PrepaidAmount", doc, "BT-113"),
        rounding=_d(lmt, "cbc:PayableRoundingAmount", doc, "BT-114"),
    )
    seller, creditor = _party(root.find(_p("cac:AccountingSupplierParty/cac:Party")))
    buyer, _ = _party(root.find(_p("cac:AccountingCustomerParty/cac:Party")))
    if seller is None or buyer is None:
        raise InvalidFormat("UBL invoice without seller (BG-4) or buyer (BG-7)", document_id=doc)
    payee, _ = _party(root.find(_p("cac:PayeeParty")), payee=True)
    tax_rep, _ = _party(root.find(_p("cac:TaxRepresentativeParty")), payee=True)

    means = root.findall(_p("cac:PaymentMeans"))
    payment = None
    due = _date(root, "cbc:DueDate", doc, "BT-9")
    if means or creditor:
        m = means[0] if means else None
        if due is None and m is not None:
            due = _date(m, "cbc:PaymentDueDate", doc, "BT-9")
        code_el = m.find(_p("cbc:PaymentMeansCode")) if m is not None else None
        payment = PaymentInstructions(
            means_code=_t(code_el), means_text=code_el.get("name") if code_el is not None else None,
            remittance_info=_t(m, "cbc:PaymentID"), iban=_t(m, "cac:PayeeFinancialAccount/cbc:ID"),
            account_name=_t(m, "cac:PayeeFinancialAccount/cbc:Name"),
            bic=_t(m, "cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID"),
            card_pan_last=_t(m, "cac:CardAccount/cbc:PrimaryAccountNumberID"),
            mandate_ref=_t(m, "cac:PaymentMandate/cbc:ID"), creditor_id=creditor,
            debited_iban=_t(m, "cac:PaymentMandate/cac:PayerFinancialAccount/cbc:ID"),
        )
    delivery_el = root.find(_p("cac:Delivery"))
    delivery = None
    if delivery_el is not None:
        loc = delivery_el.find(_p("cac:DeliveryLocation"))
        delivery = Delivery(
            party_name=_t(delivery_el, "cac:DeliveryParty/cac:PartyName/cbc:Name"),
            location_id=identifier(loc.find(_p("cbc:ID"))) if loc is not None else None,
            date=_date(delivery_el, "cbc:ActualDeliveryDate", doc, "BT-72"),
            address=_address(loc.find(_p("cac:Address"))) if loc is not None else None,
        )
    notes = []
    for n in root.findall(_p("cbc:Note")):
        text = _t(n)
        if not text:
            continue
        m2 = _NOTE_CODE.match(text)
        notes.append(Note(text=m2.group(2), subject_code=m2.group(1)) if m2 else Note(text=text))
    project = _t(root, "cac:ProjectReference/cbc:ID")
    for ref in root.findall(_p("cac:AdditionalDocumentReference")):
        if _t(ref, "cbc:DocumentTypeCode") == "50":
            project = project or _t(ref, "cbc:ID")
    order_ref = _t(root, "cac:OrderReference/cbc:ID")
    sales_order = _t(root, "cac:OrderReference/cbc:SalesOrderID")
    if order_ref == "NA" and sales_order:
        order_ref = None  # the placeholder UBL needs when only BT-14 is known
    process = _t(root, "cbc:ProfileID")
    issue = _date(root, "cbc:IssueDate", doc, "BT-2")
    if issue is None:
        raise InvalidFormat("UBL invoice without IssueDate (BT-2)", document_id=doc, field="BT-2")
    line_tag = "cac:CreditNoteLine" if credit else "cac:InvoiceLine"
    return Invoice(
        number=number,
        issue_date=issue,
        type_code=_t(root, "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode") or ("381" if credit else "380"),
        currency=currency,
        seller=seller,
        buyer=buyer,
        totals=totals,
        lines=[_line(el, doc) for el in root.findall(_p(line_tag))],
        vat_breakdown=vat,
        allowances_charges=[_allowance(a, doc) for a in root.findall(_p("cac:AllowanceCharge"))],
        tax_currency=tax_currency,
        tax_point_date=_date(root, "cbc:TaxPointDate", doc, "BT-7"),
        due_date=due,
        buyer_reference=_t(root, "cbc:BuyerReference"),
        project_ref=project,
        contract_ref=_t(root, "cac:ContractDocumentReference/cbc:ID"),
        order_ref=order_ref,
        sales_order_ref=sales_order,
        receiving_advice_ref=_t(root, "cac:ReceiptDocumentReference/cbc:ID"),
        despatch_advice_ref=_t(root, "cac:DespatchDocumentReference/cbc:ID"),
        buyer_accounting_ref=_t(root, "cbc:AccountingCost"),
        payment_terms=_t(root, "cac:PaymentTerms/cbc:Note"),
        notes=notes,
        business_process=process,
        specification_id=customization,
        preceding_invoices=[
            DocumentRef(number=_t(r, "cbc:ID") or "", issue_date=_date(r, "cbc:IssueDate", doc, "BT-26"))
            for r in root.findall(_p("cac:BillingReference/cac:InvoiceDocumentReference"))
        ],
        payee=payee,
        seller_tax_representative=tax_rep,
        delivery=delivery,
        period_start=_date(root, "cac:InvoicePeriod/cbc:StartDate", doc, "BT-73"),
        period_end=_date(root, "cac:InvoicePeriod/cbc:EndDate", doc, "BT-74"),
        payment=payment,
        operation_category=OPERATION_BY_PROCESS.get(process or ""),
        vat_on_debits=_t(root, "cac:InvoicePeriod/cbc:DescriptionCode") == "3",
    )


# --------------------------------------------------------------------------------------------
# writing


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str | None) -> etree._Element:
    prefix, _, name = tag.partition(":")
    el = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}")
    for k, v in attrs.items():
        if v is not None:
            el.set(k, v)
    if text is not None:
        el.text = text
    return el


def _opt(parent: etree._Element, tag: str, text: str | None, **attrs: str | None) -> None:
    if text:
        _sub(parent, tag, text, **attrs)


def _write_address(parent: etree._Element, tag: str, a: Address | None) -> None:
    if a is None:
        return
    el = _sub(parent, tag)
    _opt(el, "cbc:StreetName", a.line1)
    _opt(el, "cbc:AdditionalStreetName", a.line2)
    _opt(el, "cbc:CityName", a.city)
    _opt(el, "cbc:PostalZone", a.postcode)
    _opt(el, "cbc:CountrySubentity", a.subdivision)
    if a.line3:
        _sub(_sub(el, "cac:AddressLine"), "cbc:Line", a.line3)
    _sub(_sub(el, "cac:Country"), "cbc:IdentificationCode", a.country or "")


def _tax_scheme(parent: etree._Element, scheme: str = "VAT") -> None:
    _sub(_sub(parent, "cac:TaxScheme"), "cbc:ID", scheme)


class _Writer:
    def __init__(self, inv: Invoice, customization: str) -> None:
        self.inv = inv
        self.customization = customization
        self.credit = inv.type_code in CREDIT_NOTE_TYPE_CODES

    def amt(self, parent: etree._Element, tag: str, value: Decimal, currency: str | None = None) -> None:
        cur = currency or self.inv.currency
        _sub(parent, tag, format_amount(value, cur), currencyID=cur)

    def party(self, parent: etree._Element, p: TradeParty, *, seller: bool = False) -> None:
        el = _sub(parent, "cac:Party")
        if p.electronic_address:
            _sub(el, "cbc:EndpointID", p.electronic_address.value, schemeID=p.electronic_address.scheme)
        for ident in p.identifiers:
            _sub(_sub(el, "cac:PartyIdentification"), "cbc:ID", ident.value, schemeID=ident.scheme)
        pay = self.inv.payment
        if seller and pay and pay.creditor_id:
            _sub(_sub(el, "cac:PartyIdentification"), "cbc:ID", pay.creditor_id, schemeID="SEPA")
        if p.trading_name:
            _sub(_sub(el, "cac:PartyName"), "cbc:Name", p.trading_name)
        _write_address(el, "cac:PostalAddress", p.address or Address())
        if p.vat_id:
            ts = _sub(el, "cac:PartyTaxScheme")
            _sub(ts, "cbc:CompanyID", p.vat_id)
            _tax_scheme(ts)
        if p.tax_registration_id and seller:
            ts = _sub(el, "cac:PartyTaxScheme")
            _sub(ts, "cbc:CompanyID", p.tax_registration_id)
            _tax_scheme(ts, "FC")
        legal = _sub(el, "cac:PartyLegalEntity")
        _sub(legal, "cbc:RegistrationName", p.name)
        if p.legal_registration:
            _sub(legal, "cbc:CompanyID", p.legal_registration.value, schemeID=p.legal_registration.scheme)
        if p.legal_info and seller:
            _sub(legal, "cbc:CompanyLegalForm", p.legal_info)
        if p.contact:
            c = _sub(el, "cac:Contact")
            _opt(c, "cbc:Name", p.contact.name)
            _opt(c, "cbc:Telephone", p.contact.phone)
            _opt(c, "cbc:ElectronicMail", p.contact.email)

    def allowance(self, parent: etree._Element, a: AllowanceCharge, *, header: bool) -> None:
        el = _sub(parent, "cac:AllowanceCharge")
        _sub(el, "cbc:ChargeIndicator", "true" if a.is_charge else "false")
        _opt(el, "cbc:AllowanceChargeReasonCode", a.reason_code)
        _opt(el, "cbc:AllowanceChargeReason", a.reason)
        if a.percent is not None:
            _sub(el, "cbc:MultiplierFactorNumeric", format_number(a.percent))
        self.amt(el, "cbc:Amount", a.amount)
        if a.base_amount is not None:
            self.amt(el, "cbc:BaseAmount", a.base_amount)
        if header:
            tc = _sub(el, "cac:TaxCategory")
            _sub(tc, "cbc:ID", a.vat_category or "S")
            if a.vat_rate is not None:
                _sub(tc, "cbc:Percent", format_number(a.vat_rate))
            _tax_scheme(tc)

    def render(self) -> bytes:
        inv, credit = self.inv, self.credit
        root_ns = CRN if credit else INV
        root = etree.Element(f"{{{root_ns}}}{'CreditNote' if credit else 'Invoice'}", nsmap={None: root_ns, "cac": CAC, "cbc": CBC})
        _sub(root, "cbc:CustomizationID", self.customization)
        process = inv.business_process or PROCESS_BY_OPERATION.get(inv.operation_category or "")
        if self.customization == PEPPOL_BIS3:
            process = PEPPOL_PROFILE
        _opt(root, "cbc:ProfileID", process)
        _sub(root, "cbc:ID", inv.number)
        _sub(root, "cbc:IssueDate", inv.issue_date.isoformat())
        if not credit and inv.due_date:
            _sub(root, "cbc:DueDate", inv.due_date.isoformat())
        if credit and inv.tax_point_date:
            _sub(root, "cbc:TaxPointDate", inv.tax_point_date.isoformat())
        _sub(root, "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode", inv.type_code)
        for n in inv.notes:
            _sub(root, "cbc:Note", f"#{n.subject_code}#{n.text}" if n.subject_code else n.text)
        if not credit and inv.tax_point_date:
            _sub(root, "cbc:TaxPointDate", inv.tax_point_date.isoformat())
        _sub(root, "cbc:DocumentCurrencyCode", inv.currency)
        _opt(root, "cbc:TaxCurrencyCode", inv.tax_currency)
        _opt(root, "cbc:AccountingCost", inv.buyer_accounting_ref)
        _opt(root, "cbc:BuyerReference", inv.buyer_reference)
        if inv.period_start or inv.period_end or inv.vat_on_debits:
            per = _sub(root, "cac:InvoicePeriod")
            if inv.period_start:
                _sub(per, "cbc:StartDate", inv.period_start.isoformat())
            if inv.period_end:
                _sub(per, "cbc:EndDate", inv.period_end.isoformat())
            if inv.vat_on_debits:
                _sub(per, "cbc:DescriptionCode", "3")  # UNTDID 2005 3: invoice issue date (BT-8)
        if inv.order_ref or inv.sales_order_ref:
            o = _sub(root, "cac:OrderReference")
            _sub(o, "cbc:ID", inv.order_ref or "NA")
            _opt(o, "cbc:SalesOrderID", inv.sales_order_ref)
        for ref in inv.preceding_invoices:
            r = _sub(_sub(root, "cac:BillingReference"), "cac:InvoiceDocumentReference")
            _sub(r, "cbc:ID", ref.number)
            if ref.issue_date:
                _sub(r, "cbc:IssueDate", ref.issue_date.isoformat())
        if inv.despatch_advice_ref:
            _sub(_sub(root, "cac:DespatchDocumentReference"), "cbc:ID", inv.despatch_advice_ref)
        if inv.receiving_advice_ref:
            _sub(_sub(root, "cac:ReceiptDocumentReference"), "cbc:ID", inv.receiving_advice_ref)
        if inv.contract_ref:
            _sub(_sub(root, "cac:ContractDocumentReference"), "cbc:ID", inv.contract_ref)
        if inv.project_ref:
            if credit:
                r = _sub(root, "cac:AdditionalDocumentReference")
                _sub(r, "cbc:ID", inv.project_ref)
                _sub(r, "cbc:DocumentTypeCode", "50")
            else:
                _sub(_sub(root, "cac:ProjectReference"), "cbc:ID", inv.project_ref)
        self.party(_sub(root, "cac:AccountingSupplierParty"), inv.seller, seller=True)
        self.party(_sub(root, "cac:AccountingCustomerParty"), inv.buyer)
        if inv.payee:
            pe = _sub(root, "cac:PayeeParty")
            for ident in inv.payee.identifiers:
                _sub(_sub(pe, "cac:PartyIdentification"), "cbc:ID", ident.value, schemeID=ident.scheme)
            _sub(_sub(pe, "cac:PartyName"), "cbc:Name", inv.payee.name)
            if inv.payee.legal_registration:
                _sub(_sub(pe, "cac:PartyLegalEntity"), "cbc:CompanyID", inv.payee.legal_registration.value,
                     schemeID=inv.payee.legal_registration.scheme)
        if inv.seller_tax_representative:
            tr = _sub(root, "cac:TaxRepresentativeParty")
            _sub(_sub(tr, "cac:PartyName"), "cbc:Name", inv.seller_tax_representative.name)
            _write_address(tr, "cac:PostalAddress", inv.seller_tax_representative.address or Address())
            ts = _sub(tr, "cac:PartyTaxScheme")
            _sub(ts, "cbc:CompanyID", inv.seller_tax_representative.vat_id or "")
            _tax_scheme(ts)
        d = inv.delivery
        if d is not None:
            de = _sub(root, "cac:Delivery")
            if d.date:
                _sub(de, "cbc:ActualDeliveryDate", d.date.isoformat())
            if d.location_id or d.address:
                loc = _sub(de, "cac:DeliveryLocation")
                if d.location_id:
                    _sub(loc, "cbc:ID", d.location_id.value, schemeID=d.location_id.scheme)
                _write_address(loc, "cac:Address", d.address)
            if d.party_name:
                _sub(_sub(_sub(de, "cac:DeliveryParty"), "cac:PartyName"), "cbc:Name", d.party_name)
        pay = inv.payment
        if pay and (pay.means_code or pay.iban):
            m = _sub(root, "cac:PaymentMeans")
            _sub(m, "cbc:PaymentMeansCode", pay.means_code or "30", name=pay.means_text)
            if credit and inv.due_date:
                _sub(m, "cbc:PaymentDueDate", inv.due_date.isoformat())
            _opt(m, "cbc:PaymentID", pay.remittance_info)
            if pay.card_pan_last:
                ca = _sub(m, "cac:CardAccount")
                _sub(ca, "cbc:PrimaryAccountNumberID", pay.card_pan_last)
                _sub(ca, "cbc:NetworkID", "NA")
            if pay.iban:
                acc = _sub(m, "cac:PayeeFinancialAccount")
                _sub(acc, "cbc:ID", pay.iban)
                _opt(acc, "cbc:Name", pay.account_name)
                if pay.bic:
                    _sub(_sub(acc, "cac:FinancialInstitutionBranch"), "cbc:ID", pay.bic)
            if pay.mandate_ref or pay.debited_iban:
                man = _sub(m, "cac:PaymentMandate")
                _opt(man, "cbc:ID", pay.mandate_ref)
                if pay.debited_iban:
                    _sub(_sub(man, "cac:PayerFinancialAccount"), "cbc:ID", pay.debited_iban)
        if inv.payment_terms:
            _sub(_sub(root, "cac:PaymentTerms"), "cbc:Note", inv.payment_terms)
        for a in inv.allowances_charges:
            self.allowance(root, a, header=True)
        t = inv.totals
        tt = _sub(root, "cac:TaxTotal")
        self.amt(tt, "cbc:TaxAmount", t.tax_total or Decimal(0))
        for v in inv.vat_breakdown:
            st = _sub(tt, "cac:TaxSubtotal")
            self.amt(st, "cbc:TaxableAmount", v.taxable_amount)
            self.amt(st, "cbc:TaxAmount", v.tax_amount)
            tc = _sub(st, "cac:TaxCategory")
            _sub(tc, "cbc:ID", v.category)
            if v.rate is not None:
                _sub(tc, "cbc:Percent", format_number(v.rate))
            _opt(tc, "cbc:TaxExemptionReasonCode", v.exemption_reason_code)
            _opt(tc, "cbc:TaxExemptionReason", v.exemption_reason)
            _tax_scheme(tc)
        if inv.tax_currency and t.tax_total_accounting is not None:
            self.amt(_sub(root, "cac:TaxTotal"), "cbc:TaxAmount", t.tax_total_accounting, inv.tax_currency)
        lmt = _sub(root, "cac:LegalMonetaryTotal")
        self.amt(lmt, "cbc:LineExtensionAmount", t.line_total)
        self.amt(lmt, "cbc:TaxExclusiveAmount", t.tax_exclusive)
        self.amt(lmt, "cbc:TaxInclusiveAmount", t.tax_inclusive)
        if t.allowance_total is not None:
            self.amt(lmt, "cbc:AllowanceTotalAmount", t.allowance_total)
        if t.charge_total is not None:
            self.amt(lmt, "cbc:ChargeTotalAmount", t.charge_total)
        if t.prepaid is not None:
            self.amt(lmt, "cbc:PrepaidAmount", t.prepaid)
        if t.rounding is not None:
            self.amt(lmt, "cbc:PayableRoundingAmount", t.rounding)
        self.amt(lmt, "cbc:PayableAmount", t.payable)
        for ln in inv.lines:
            self.line(root, ln)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    def line(self, root: etree._Element, ln: InvoiceLine) -> None:
        el = _sub(root, "cac:CreditNoteLine" if self.credit else "cac:InvoiceLine")
        _sub(el, "cbc:ID", ln.id)
        _opt(el, "cbc:Note", ln.note)
        _sub(el, "cbc:CreditedQuantity" if self.credit else "cbc:InvoicedQuantity", format_number(ln.quantity), unitCode=ln.unit_code)
        self.amt(el, "cbc:LineExtensionAmount", ln.net_amount)
        _opt(el, "cbc:AccountingCost", ln.accounting_ref)
        if ln.period_start or ln.period_end:
            per = _sub(el, "cac:InvoicePeriod")
            if ln.period_start:
                _sub(per, "cbc:StartDate", ln.period_start.isoformat())
            if ln.period_end:
                _sub(per, "cbc:EndDate", ln.period_end.isoformat())
        if ln.order_line_ref:
            _sub(_sub(el, "cac:OrderLineReference"), "cbc:LineID", ln.order_line_ref)
        if ln.object_id:
            r = _sub(el, "cac:DocumentReference")
            _sub(r, "cbc:ID", ln.object_id)
            _sub(r, "cbc:DocumentTypeCode", "130")
        for a in ln.allowances_charges:
            self.allowance(el, a, header=False)
        item = _sub(el, "cac:Item")
        _opt(item, "cbc:Description", ln.description)
        _sub(item, "cbc:Name", ln.item_name)
        if ln.buyer_item_id:
            _sub(_sub(item, "cac:BuyersItemIdentification"), "cbc:ID", ln.buyer_item_id)
        if ln.seller_item_id:
            _sub(_sub(item, "cac:SellersItemIdentification"), "cbc:ID", ln.seller_item_id)
        if ln.standard_item_id:
            _sub(_sub(item, "cac:StandardItemIdentification"), "cbc:ID", ln.standard_item_id.value, schemeID=ln.standard_item_id.scheme)
        if ln.origin_country:
            _sub(_sub(item, "cac:OriginCountry"), "cbc:IdentificationCode", ln.origin_country)
        for c in ln.classification:
            _sub(_sub(item, "cac:CommodityClassification"), "cbc:ItemClassificationCode", c.value, listID=c.scheme)
        tc = _sub(item, "cac:ClassifiedTaxCategory")
        _sub(tc, "cbc:ID", ln.vat_category)
        if ln.vat_rate is not None:
            _sub(tc, "cbc:Percent", format_number(ln.vat_rate))
        _tax_scheme(tc)
        price = _sub(el, "cac:Price")
        _sub(price, "cbc:PriceAmount", format_number(ln.net_price), currencyID=self.inv.currency)
        if ln.base_quantity is not None:
            _sub(price, "cbc:BaseQuantity", format_number(ln.base_quantity), unitCode=ln.base_quantity_unit or ln.unit_code)
        if ln.price_discount is not None or ln.gross_price is not None:
            pac = _sub(price, "cac:AllowanceCharge")
            _sub(pac, "cbc:ChargeIndicator", "false")
            _sub(pac, "cbc:Amount", format_number(ln.price_discount or Decimal(0)), currencyID=self.inv.currency)
            if ln.gross_price is not None:
                _sub(pac, "cbc:BaseAmount", format_number(ln.gross_price), currencyID=self.inv.currency)


def render(inv: Invoice, customization: str = "en16931") -> bytes:
    """The UBL 2.1 Invoice (or CreditNote, for a credit-note type code) of ``inv``.

    ``customization`` is ``"en16931"`` (CustomizationID ``urn:cen.eu:en16931:2017``) or
    ``"peppol"`` (Peppol BIS Billing 3.0 CustomizationID and ProfileID; the Peppol-specific rules,
    e.g. an EndpointID on both parties, are not checked here).
    """
    try:
        cid = CUSTOMIZATIONS[customization]
    except KeyError:
        if customization_profile(customization) is None:
            raise UnknownProfile(f"unknown UBL customization {customization!r}; expected en16931 or peppol") from None
        cid = customization
    return _Writer(inv, cid).render()
