"""UN/CEFACT Cross Industry Invoice (CII D16B) and ZUGFeRD 1.0, to and from the canonical Invoice.

Standards: UN/CEFACT CII D16B as bound to EN 16931-1 by CEN/TS 16931-3-3
(https://github.com/ConnectingEurope/eInvoicing-EN16931, ``cii/``), and the Factur-X 1.0.7+ /
ZUGFeRD 2.x profiles MINIMUM, BASIC WL, BASIC, EN 16931 and EXTENDED
(https://fnfe-mpe.org/factur-x/). ZUGFeRD 1.0 (``CrossIndustryDocument:12``, 2014) is read by
renaming its elements onto their D16B equivalents before the D16B reader runs.

Profiles without lines or VAT details parse to what they carry (a *partial* invoice):

- MINIMUM: header only. ``lines`` and ``vat_breakdown`` are empty; the document has no BT-106,
  so ``totals.line_total`` is set to BT-109 and ``"BT-106"`` is listed in ``inferred_terms``.
- BASIC WL: no lines; VAT breakdown, allowances/charges, payment data are present.

The profiles, their guideline ids (BT-24) and what the syntaxes share (decimals, allowance
terms, number formats) are in :mod:`edi.en16931`; this module imports no other format module.
Validation is :func:`edi.einvoice.validate`.

>>> from edi.samples import sample_invoice
>>> inv = sample_invoice(3)
>>> xml = render(inv, "en16931")
>>> parse(xml) == inv
True
>>> profile_of(xml)
'en16931'
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from lxml import etree

from edi import limits
from edi.en16931 import (
    ALLOWANCE_TERMS,
    GUIDELINES,
    OPERATION_BY_PROCESS,
    PROCESS_BY_OPERATION,
    PROFILE_ORDER,
    UnknownProfile,
    format_amount,
    format_number,
    guideline_profile,
    identifier,
    normalize_profile,
    read_decimal,
)
from edi.xmlsafe import localname, parse_bytes
from schemas.errors import InvalidFormat
from schemas.invoice import (
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

log = logging.getLogger(__name__)

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}
ZF1_RSM = "urn:ferd:CrossIndustryDocument:invoice:1p0"
ZF1_RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12"
ZF1_UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:15"

# --------------------------------------------------------------------------------------------
# reading


def _q(path: str) -> str:
    """``ram:A/ram:B`` -> Clark notation for ElementPath."""
    out = []
    for step in path.split("/"):
        prefix, _, name = step.partition(":")
        out.append(f"{{{NSMAP[prefix]}}}{name}" if name else step)
    return "/".join(out)


_PATHS: dict[str, str] = {}


def _p(path: str) -> str:
    cached = _PATHS.get(path)
    if cached is None:
        cached = _PATHS[path] = _q(path)
    return cached


_XPATHS: dict[str, etree.XPath] = {}


def _first(el: etree._Element, path: str) -> etree._Element | None:
    """``el.find(path)`` through a cached compiled XPath (about 3x faster than ElementPath)."""
    xp = _XPATHS.get(path)
    if xp is None:
        xp = _XPATHS[path] = etree.XPath(f"{path}[1]", namespaces=NSMAP, smart_strings=False)
    found = xp(el)
    return found[0] if found else None


def _text(el: etree._Element | None, path: str | None = None) -> str | None:
    if el is None:
        return None
    if path is not None:
        el = _first(el, path)
        if el is None:
            return None
    text = el.text
    if text is None:
        return None
    text = text.strip()
    return text or None


def _dec(el: etree._Element | None, path: str | None = None, *, term: str, kind: str = "amount",
         document_id: str = "") -> Decimal | None:
    """The number at ``path`` under ``el`` read by :func:`edi.en16931.read_decimal`; a
    refusal is :class:`InvalidFormat` naming the business term ``term`` (``BT-115``)."""
    text = _text(el, path)
    if text is None:
        return None
    return read_decimal(text, term=term, kind=kind, document_id=document_id)


def parse_date(text: str | None, fmt: str | None = "102", *, document_id: str = "", field: str | None = None) -> dt.date | None:
    """A CII date: ``format="102"`` is CCYYMMDD (also accepts ISO 8601 CCYY-MM-DD).

    ``field`` (the business term, ``BT-2``) is named in the :class:`InvalidFormat` of a date
    that does not exist.

    >>> parse_date("20260131")
    datetime.date(2026, 1, 31)
    >>> parse_date("20260230", field="BT-2")
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidFormat: BT-2: not a date: '20260230' (format 102: CCYYMMDD)
    """
    if not text:
        return None
    text = text.strip()
    try:
        if fmt in (None, "102") and len(text) == 8 and text.isdigit():
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        if fmt == "610" and len(text) == 6:  # CCYYMM
            return dt.date(int(text[:4]), int(text[4:6]), 1)
        if fmt == "616" and len(text) == 6:  # CCYYWW (ISO week), read as its Monday
            return dt.date.fromisocalendar(int(text[:4]), int(text[4:6]), 1)
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        shown = f" (format {fmt}: {_DATE_FORMATS[fmt]})" if fmt in _DATE_FORMATS else ""
        raise InvalidFormat(f"not a date: {text[:40]!r}{shown}", document_id=document_id, field=field) from None


_DATE_FORMATS = {"102": "CCYYMMDD", "610": "CCYYMM", "616": "CCYYWW"}


def _date(el: etree._Element | None, path: str, term: str, *, document_id: str = "", strict: bool = False) -> dt.date | None:
    """The date of business term ``term`` under ``el``; an impossible optional date (seen:
    ``20139102`` in a real ZUGFeRD 1.0 billing period) is logged and read as absent unless
    ``strict``."""
    if el is None:
        return None
    node = el.find(_p(path))
    if node is None:
        return None
    child = node if not len(node) else node[0]  # udt:DateTimeString / udt:DateString / qdt:...
    try:
        return parse_date(child.text, child.get("format"), document_id=document_id, field=term)
    except InvalidFormat as exc:
        if strict:
            raise
        log.warning("%s: %s (%s): %s; the date is ignored", document_id, term, path, exc.reason)
        return None


def _indicator(el: etree._Element) -> bool:
    text = _text(el, "ram:ChargeIndicator/udt:Indicator")
    return (text or "").lower() == "true"


def _address(el: etree._Element | None) -> Address | None:
    if el is None:
        return None
    return Address(
        line1=_text(el, "ram:LineOne"),
        line2=_text(el, "ram:LineTwo"),
        line3=_text(el, "ram:LineThree"),
        city=_text(el, "ram:CityName"),
        postcode=_text(el, "ram:PostcodeCode"),
        subdivision=_text(el, "ram:CountrySubDivisionName"),
        country=_text(el, "ram:CountryID"),
    )


def _party(el: etree._Element | None) -> TradeParty | None:
    if el is None:
        return None
    identifiers = [i for i in (identifier(x) for x in el.findall(_p("ram:ID"))) if i]
    identifiers += [i for i in (identifier(x) for x in el.findall(_p("ram:GlobalID"))) if i]
    legal = el.find(_p("ram:SpecifiedLegalOrganization"))
    vat_id = tax_id = None
    for reg in el.findall(_p("ram:SpecifiedTaxRegistration/ram:ID")):
        if reg.get("schemeID") == "FC":
            tax_id = _text(reg)
        else:
            vat_id = _text(reg)
    contact_el = el.find(_p("ram:DefinedTradeContact"))
    contact = None
    if contact_el is not None:
        contact = Contact(
            name=_text(contact_el, "ram:PersonName") or _text(contact_el, "ram:DepartmentName"),
            phone=_text(contact_el, "ram:TelephoneUniversalCommunication/ram:CompleteNumber"),
            email=_text(contact_el, "ram:EmailURIUniversalCommunication/ram:URIID"),
        )
    uri = el.find(_p("ram:URIUniversalCommunication/ram:URIID"))
    return TradeParty(
        name=_text(el, "ram:Name") or "",
        trading_name=_text(legal, "ram:TradingBusinessName"),
        identifiers=identifiers,
        legal_registration=identifier(legal.find(_p("ram:ID"))) if legal is not None else None,
        vat_id=vat_id,
        tax_registration_id=tax_id,
        legal_info=_text(el, "ram:Description"),
        electronic_address=identifier(uri),
        address=_address(el.find(_p("ram:PostalTradeAddress"))),
        contact=contact,
    )


def _allowance(el: etree._Element, document_id: str, *, line: bool = False) -> AllowanceCharge:
    is_charge = _indicator(el)
    amount, base, percent, rate = ALLOWANCE_TERMS[(line, is_charge)]
    return AllowanceCharge(
        is_charge=is_charge,
        amount=_dec(el, "ram:ActualAmount", term=amount, document_id=document_id) or Decimal(0),
        base_amount=_dec(el, "ram:BasisAmount", term=base, document_id=document_id),
        percent=_dec(el, "ram:CalculationPercent", term=percent, kind="percentage", document_id=document_id),
        vat_category=_text(el, "ram:CategoryTradeTax/ram:CategoryCode"),
        vat_rate=_dec(el, "ram:CategoryTradeTax/ram:RateApplicablePercent", term=rate, kind="percentage", document_id=document_id),
        reason=_text(el, "ram:Reason"),
        reason_code=_text(el, "ram:ReasonCode"),
    )


def _header_allowances(settlement: etree._Element, document_id: str, zf1: bool) -> list[AllowanceCharge]:
    elements = settlement.findall(_p("ram:SpecifiedTradeAllowanceCharge"))
    result = [_allowance(a, document_id) for a in elements]
    if zf1:
        # ZUGFeRD 1.0 writes some allowances with a negative sign and the rate as ApplicablePercent
        for a, el in zip(result, elements, strict=True):
            a.amount = abs(a.amount)
            if a.vat_rate is None:
                a.vat_rate = _dec(el, "ram:CategoryTradeTax/ram:ApplicablePercent", term="BT-103" if a.is_charge else "BT-96",
                                  kind="percentage", document_id=document_id)
    # ZUGFeRD 1.0 and Factur-X EXTENDED carry freight as a SpecifiedLogisticsServiceCharge,
    # counted in ChargeTotalAmount (BT-108): read it as a document charge (BG-21).
    for el in settlement.findall(_p("ram:SpecifiedLogisticsServiceCharge")):
        rate = _dec(el, "ram:AppliedTradeTax/ram:RateApplicablePercent", term="BT-103", kind="percentage", document_id=document_id)
        result.append(AllowanceCharge(
            is_charge=True,
            amount=_dec(el, "ram:AppliedAmount", term="BT-99", document_id=document_id) or Decimal(0),
            vat_category=_text(el, "ram:AppliedTradeTax/ram:CategoryCode"),
            vat_rate=rate if rate is not None else _dec(el, "ram:AppliedTradeTax/ram:ApplicablePercent", term="BT-103",
                                                        kind="percentage", document_id=document_id),
            reason=_text(el, "ram:Description"),
        ))
    return result


def _line(el: etree._Element, document_id: str) -> InvoiceLine:
    doc = el.find(_p("ram:AssociatedDocumentLineDocument"))
    product = el.find(_p("ram:SpecifiedTradeProduct"))
    agreement = el.find(_p("ram:SpecifiedLineTradeAgreement"))
    delivery = el.find(_p("ram:SpecifiedLineTradeDelivery"))
    settlement = el.find(_p("ram:SpecifiedLineTradeSettlement"))
    qty_el = delivery.find(_p("ram:BilledQuantity")) if delivery is not None else None
    net = agreement.find(_p("ram:NetPriceProductTradePrice")) if agreement is not None else None
    gross = agreement.find(_p("ram:GrossPriceProductTradePrice")) if agreement is not None else None
    basis = None
    if net is not None:
        basis = net.find(_p("ram:BasisQuantity"))
    if basis is None and gross is not None:
        basis = gross.find(_p("ram:BasisQuantity"))
    tax = settlement.find(_p("ram:ApplicableTradeTax")) if settlement is not None else None
    discount = None
    if gross is not None:
        discount = _dec(gross, "ram:AppliedTradeAllowanceCharge/ram:ActualAmount", term="BT-147", kind="price", document_id=document_id)
    object_id = None
    if settlement is not None:
        for ref in settlement.findall(_p("ram:AdditionalReferencedDocument")):
            if _text(ref, "ram:TypeCode") == "130":
                object_id = _text(ref, "ram:IssuerAssignedID")
    global_id = product.find(_p("ram:GlobalID")) if product is not None else None
    notes = [t for t in (_text(n, "ram:Content") for n in doc.findall(_p("ram:IncludedNote"))) if t] if doc is not None else []
    return InvoiceLine(
        id=_text(doc, "ram:LineID") or "",
        quantity=(_dec(qty_el, term="BT-129", kind="quantity", document_id=document_id) if qty_el is not None else None) or Decimal(0),
        unit_code=(qty_el.get("unitCode") if qty_el is not None else None) or "",
        net_amount=_dec(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount", term="BT-131",
                        document_id=document_id) or Decimal(0),
        net_price=_dec(net, "ram:ChargeAmount", term="BT-146", kind="price", document_id=document_id) or Decimal(0),
        item_name=_text(product, "ram:Name") or "",
        vat_category=_text(tax, "ram:CategoryCode") or "",
        vat_rate=_dec(tax, "ram:RateApplicablePercent", term="BT-152", kind="percentage", document_id=document_id)
        if tax is None or tax.find(_p("ram:ApplicablePercent")) is None
        else _dec(tax, "ram:ApplicablePercent", term="BT-152", kind="percentage", document_id=document_id),  # ZUGFeRD 1.0
        note="\n".join(notes) or None,
        object_id=object_id,
        order_line_ref=_text(agreement, "ram:BuyerOrderReferencedDocument/ram:LineID"),
        accounting_ref=_text(settlement, "ram:ReceivableSpecifiedTradeAccountingAccount/ram:ID"),
        period_start=_date(settlement, "ram:BillingSpecifiedPeriod/ram:StartDateTime", "BT-134", document_id=document_id),
        period_end=_date(settlement, "ram:BillingSpecifiedPeriod/ram:EndDateTime", "BT-135", document_id=document_id),
        allowances_charges=[_allowance(a, document_id, line=True) for a in settlement.findall(_p("ram:SpecifiedTradeAllowanceCharge"))]
        if settlement is not None
        else [],
        gross_price=_dec(gross, "ram:ChargeAmount", term="BT-148", kind="price", document_id=document_id),
        price_discount=discount,
        base_quantity=_dec(basis, term="BT-149", kind="quantity", document_id=document_id) if basis is not None else None,
        base_quantity_unit=basis.get("unitCode") if basis is not None else None,
        description=_text(product, "ram:Description"),
        seller_item_id=_text(product, "ram:SellerAssignedID"),
        buyer_item_id=_text(product, "ram:BuyerAssignedID"),
        standard_item_id=identifier(global_id),
        classification=[
            i for i in (identifier(c, "listID") for c in product.findall(_p("ram:DesignatedProductClassification/ram:ClassCode"))) if i
        ]
        if product is not None
        else [],
        origin_country=_text(product, "ram:OriginTradeCountry/ram:ID"),
    )


# ZUGFeRD 1.0 element names -> D16B names (everything else keeps its local name)
_ZF1_RENAME = {
    "CrossIndustryDocument": "CrossIndustryInvoice",
    "SpecifiedExchangedDocumentContext": "ExchangedDocumentContext",
    "HeaderExchangedDocument": "ExchangedDocument",
    "SpecifiedSupplyChainTradeTransaction": "SupplyChainTradeTransaction",
    "ApplicableSupplyChainTradeAgreement": "ApplicableHeaderTradeAgreement",
    "ApplicableSupplyChainTradeDelivery": "ApplicableHeaderTradeDelivery",
    "ApplicableSupplyChainTradeSettlement": "ApplicableHeaderTradeSettlement",
    "SpecifiedSupplyChainTradeAgreement": "SpecifiedLineTradeAgreement",
    "SpecifiedSupplyChainTradeDelivery": "SpecifiedLineTradeDelivery",
    "SpecifiedSupplyChainTradeSettlement": "SpecifiedLineTradeSettlement",
}
_ZF1_NS = {ZF1_RSM: RSM, ZF1_RAM: RAM, ZF1_UDT: UDT}


def _upgrade_zugferd1(root: etree._Element) -> etree._Element:
    """Rename a ZUGFeRD 1.0 tree in place so the D16B reader can read it.

    ZUGFeRD 1.0 nests the same business terms under other names: ``HeaderExchangedDocument``
    for ``ExchangedDocument``, ``ApplicableSupplyChainTrade*`` for ``ApplicableHeaderTrade*``,
    and ``SpecifiedTradeSettlementMonetarySummation`` at both header and line level.
    """
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        ns, _, name = el.tag[1:].partition("}")
        name = _ZF1_RENAME.get(name, name)
        if name == "SpecifiedTradeSettlementMonetarySummation":
            parent = el.getparent()
            in_line = parent is not None and localname(parent.tag) in (
                "SpecifiedSupplyChainTradeSettlement", "SpecifiedLineTradeSettlement")
            name = "SpecifiedTradeSettlementLineMonetarySummation" if in_line else "SpecifiedTradeSettlementHeaderMonetarySummation"
        el.tag = f"{{{_ZF1_NS.get(ns, ns)}}}{name}"
    return root


def profile_of(data: bytes | etree._Element, *, document_id: str = "") -> str | None:
    """The Factur-X profile a CII document declares (``None`` for an unknown guideline id)."""
    root = data if isinstance(data, etree._Element) else parse_bytes(data, document_id or "cii")
    guideline = None
    for ctx in ("ExchangedDocumentContext", "SpecifiedExchangedDocumentContext"):
        for ns in (RSM, ZF1_RSM):
            el = root.find(f"{{{ns}}}{ctx}/{{{RAM if ns == RSM else ZF1_RAM}}}GuidelineSpecifiedDocumentContextParameter")
            if el is not None:
                guideline = _text(el[0]) if len(el) else None
    return guideline_profile(guideline)



def guideline_of(root: etree._Element) -> str | None:
    """The guideline id (BT-24) as a CII D16B or ZUGFeRD 1.0 tree writes it; ``None`` when absent."""
    if root.tag == f"{{{ZF1_RSM}}}CrossIndustryDocument":
        return _text(root.find(f"{{{ZF1_RSM}}}SpecifiedExchangedDocumentContext/{{{ZF1_RAM}}}"
                               f"GuidelineSpecifiedDocumentContextParameter/{{{ZF1_RAM}}}ID"))
    return _text(root, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID")

# document totals (BG-22) by element name
_TOTAL_TERMS = {"ram:LineTotalAmount": "BT-106", "ram:AllowanceTotalAmount": "BT-107", "ram:ChargeTotalAmount": "BT-108",
                "ram:TaxBasisTotalAmount": "BT-109", "ram:GrandTotalAmount": "BT-112", "ram:TotalPrepaidAmount": "BT-113",
                "ram:RoundingAmount": "BT-114", "ram:DuePayableAmount": "BT-115"}


def parse(data: bytes, *, document_id: str = "", strict_profile: bool = True) -> Invoice:
    """Read a CII D16B (any Factur-X / ZUGFeRD 2.x / XRechnung profile) or ZUGFeRD 1.0 invoice.

    Raises :class:`~schemas.errors.InvalidFormat` for XML that is malformed or not CII, and
    :class:`UnknownProfile` for a guideline id (BT-24) outside EN 16931, Factur-X and ZUGFeRD
    (pass ``strict_profile=False`` to read it anyway), :class:`~schemas.errors.TooLarge` over the
    ``einvoice`` size limit (:mod:`edi.limits`). A number or a date that cannot be read is
    :class:`InvalidFormat` naming its business term (``field="BT-115"``).
    """
    if isinstance(data, (bytes, bytearray)):
        limits.check_size("einvoice", len(data), document_id=document_id or "cii")
    root = parse_bytes(data, document_id or "cii")
    return parse_tree(root, document_id=document_id, strict_profile=strict_profile)


def parse_tree(root: etree._Element, *, document_id: str = "", strict_profile: bool = True) -> Invoice:
    """:func:`parse` for an already parsed tree (the tree of a ZUGFeRD 1.0 file is modified)."""
    doc_id = document_id or "cii"
    zf1 = root.tag == f"{{{ZF1_RSM}}}CrossIndustryDocument"
    if zf1:
        root = _upgrade_zugferd1(root)
    if root.tag != f"{{{RSM}}}CrossIndustryInvoice":
        raise InvalidFormat(f"not a CII invoice: root element is {root.tag}", document_id=doc_id)
    guideline = _text(root, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID")
    if strict_profile and guideline_profile(guideline) is None:
        raise UnknownProfile(f"unknown guideline id (BT-24) {guideline!r}", document_id=doc_id, field="BT-24")
    header = root.find(_p("rsm:ExchangedDocument"))
    tx = root.find(_p("rsm:SupplyChainTradeTransaction"))
    if header is None or tx is None:
        raise InvalidFormat("CII invoice without ExchangedDocument or SupplyChainTradeTransaction", document_id=doc_id)
    number = _text(header, "ram:ID") or ""
    doc_id = document_id or number or doc_id
    agreement = tx.find(_p("ram:ApplicableHeaderTradeAgreement"))
    delivery_el = tx.find(_p("ram:ApplicableHeaderTradeDelivery"))
    settlement = tx.find(_p("ram:ApplicableHeaderTradeSettlement"))
    if agreement is None or settlement is None:
        raise InvalidFormat("CII invoice without header trade agreement or settlement", document_id=doc_id)
    currency = _text(settlement, "ram:InvoiceCurrencyCode") or ""
    tax_currency = _text(settlement, "ram:TaxCurrencyCode")
    summ = settlement.find(_p("ram:SpecifiedTradeSettlementHeaderMonetarySummation"))
    if summ is None:
        raise InvalidFormat("CII invoice without monetary summation (BG-22)", document_id=doc_id, field="BG-22")

    def amount(path: str) -> Decimal | None:
        return _dec(summ, path, term=_TOTAL_TERMS[path], document_id=doc_id)

    tax_total = tax_total_acc = None
    for el in summ.findall(_p("ram:TaxTotalAmount")):
        cur = el.get("currencyID")
        in_tax_currency = bool(tax_currency and tax_currency != currency and cur == tax_currency)
        value = _dec(el, term="BT-111" if in_tax_currency else "BT-110", document_id=doc_id)
        if in_tax_currency:
            tax_total_acc = value
        elif tax_total is None:
            tax_total = value
    inferred: list[str] = []
    tax_exclusive = amount("ram:TaxBasisTotalAmount")
    line_total = amount("ram:LineTotalAmount")
    if line_total is None:
        # MINIMUM has no BT-106; so that BR-CO-13 keeps holding, take it as BT-109 +BT-107 -BT-108
        line_total = (tax_exclusive or Decimal(0)) + (amount("ram:AllowanceTotalAmount") or 0) - (amount("ram:ChargeTotalAmount") or 0)
        inferred.append("BT-106")
    grand = amount("ram:GrandTotalAmount")
    payable = amount("ram:DuePayableAmount")
    if payable is None and grand is not None:
        # optional in ZUGFeRD 1.0 BASIC: BT-115 = BT-112 - BT-113 + BT-114 (BR-CO-16)
        payable = grand - (amount("ram:TotalPrepaidAmount") or 0) + (amount("ram:RoundingAmount") or 0)
        inferred.append("BT-115")
    prepaid = amount("ram:TotalPrepaidAmount")
    if (prepaid is None and guideline_profile(guideline) == "minimum" and grand is not None and payable is not None
            and payable != grand + (amount("ram:RoundingAmount") or 0)):
        # MINIMUM cannot carry BT-113, yet real MINIMUM invoices state an amount due below the
        # total (FNFE's Facture_FR_MINIMUM: 671.15 total, 470.15 due): by BR-CO-16 the
        # difference is the paid amount.
        prepaid = grand + (amount("ram:RoundingAmount") or 0) - payable
        inferred.append("BT-113")
    if tax_exclusive is None or grand is None or payable is None:
        raise InvalidFormat("monetary summation lacks BT-109, BT-112 or BT-115", document_id=doc_id, field="BG-22")
    totals = Totals(
        line_total=line_total,
        tax_exclusive=tax_exclusive,
        tax_inclusive=grand,
        payable=payable,
        allowance_total=amount("ram:AllowanceTotalAmount"),
        charge_total=amount("ram:ChargeTotalAmount"),
        tax_total=tax_total,
        tax_total_accounting=tax_total_acc,
        prepaid=prepaid,
        rounding=amount("ram:RoundingAmount"),
    )

    vat: list[VatBreakdown] = []
    tax_point = None
    for t in settlement.findall(_p("ram:ApplicableTradeTax")):
        tax_point = tax_point or _date(t, "ram:TaxPointDate", "BT-7", document_id=doc_id)
        vat.append(
            VatBreakdown(
                category=_text(t, "ram:CategoryCode") or "",
                taxable_amount=_dec(t, "ram:BasisAmount", term="BT-116", document_id=doc_id) or Decimal(0),
                tax_amount=_dec(t, "ram:CalculatedAmount", term="BT-117", document_id=doc_id) or Decimal(0),
                rate=_dec(t, "ram:RateApplicablePercent", term="BT-119", kind="percentage", document_id=doc_id)
                if t.find(_p("ram:RateApplicablePercent")) is not None
                else _dec(t, "ram:ApplicablePercent", term="BT-119", kind="percentage", document_id=doc_id),  # ZUGFeRD 1.0
                exemption_reason=_text(t, "ram:ExemptionReason"),
                exemption_reason_code=_text(t, "ram:ExemptionReasonCode"),
            )
        )

    payment = None
    means = settlement.findall(_p("ram:SpecifiedTradeSettlementPaymentMeans"))
    terms = settlement.find(_p("ram:SpecifiedTradePaymentTerms"))
    creditor_id = _text(settlement, "ram:CreditorReferenceID")
    remittance = _text(settlement, "ram:PaymentReference")
    mandate = _text(terms, "ram:DirectDebitMandateID")
    if means or creditor_id or remittance or mandate:
        m = means[0] if means else None
        payment = PaymentInstructions(
            means_code=_text(m, "ram:TypeCode"),
            means_text=_text(m, "ram:Information"),
            remittance_info=remittance,
            iban=_text(m, "ram:PayeePartyCreditorFinancialAccount/ram:IBANID")
            or _text(m, "ram:PayeePartyCreditorFinancialAccount/ram:ProprietaryID"),
            account_name=_text(m, "ram:PayeePartyCreditorFinancialAccount/ram:AccountName"),
            bic=_text(m, "ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID"),
            card_pan_last=_text(m, "ram:ApplicableTradeSettlementFinancialCard/ram:ID"),
            mandate_ref=mandate,
            creditor_id=creditor_id,
            debited_iban=_text(m, "ram:PayerPartyDebtorFinancialAccount/ram:IBANID"),
        )

    delivery = None
    if delivery_el is not None:
        ship_to = delivery_el.find(_p("ram:ShipToTradeParty"))
        ddate = _date(delivery_el, "ram:ActualDeliverySupplyChainEvent/ram:OccurrenceDateTime", "BT-72", document_id=doc_id)
        if ship_to is not None or ddate is not None:
            loc = None
            if ship_to is not None:
                loc = identifier(ship_to.find(_p("ram:GlobalID"))) or identifier(ship_to.find(_p("ram:ID")))
            delivery = Delivery(
                party_name=_text(ship_to, "ram:Name"),
                location_id=loc,
                date=ddate,
                address=_address(ship_to.find(_p("ram:PostalTradeAddress"))) if ship_to is not None else None,
            )

    business_process = _text(root, "rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID")
    seller = _party(agreement.find(_p("ram:SellerTradeParty")))
    buyer = _party(agreement.find(_p("ram:BuyerTradeParty")))
    if seller is None or buyer is None:
        raise InvalidFormat("CII invoice without seller (BG-4) or buyer (BG-7)", document_id=doc_id)
    notes = [
        Note(text=_text(n, "ram:Content") or "", subject_code=_text(n, "ram:SubjectCode"))
        for n in header.findall(_p("ram:IncludedNote"))
        if _text(n, "ram:Content")
    ]
    project = agreement.find(_p("ram:SpecifiedProcuringProject"))
    issue = _date(header, "ram:IssueDateTime", "BT-2", document_id=doc_id, strict=True)
    if issue is None:
        raise InvalidFormat("CII invoice without issue date (BT-2)", document_id=doc_id, field="BT-2")
    return Invoice(
        number=number,
        issue_date=issue,
        type_code=_text(header, "ram:TypeCode") or "",
        currency=currency,
        seller=seller,
        buyer=buyer,
        totals=totals,
        lines=[_line(el, doc_id) for el in tx.findall(_p("ram:IncludedSupplyChainTradeLineItem"))],
        vat_breakdown=vat,
        allowances_charges=_header_allowances(settlement, doc_id, zf1),
        tax_currency=tax_currency,
        tax_point_date=tax_point,
        due_date=_date(terms, "ram:DueDateDateTime", "BT-9", document_id=doc_id),
        buyer_reference=_text(agreement, "ram:BuyerReference"),
        project_ref=_text(project, "ram:ID"),
        contract_ref=_text(agreement, "ram:ContractReferencedDocument/ram:IssuerAssignedID"),
        order_ref=_text(agreement, "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID"),
        sales_order_ref=_text(agreement, "ram:SellerOrderReferencedDocument/ram:IssuerAssignedID"),
        receiving_advice_ref=_text(delivery_el, "ram:ReceivingAdviceReferencedDocument/ram:IssuerAssignedID"),
        despatch_advice_ref=_text(delivery_el, "ram:DespatchAdviceReferencedDocument/ram:IssuerAssignedID"),
        buyer_accounting_ref=_text(settlement, "ram:ReceivableSpecifiedTradeAccountingAccount/ram:ID"),
        payment_terms=_text(terms, "ram:Description"),
        notes=notes,
        business_process=business_process,
        specification_id=guideline,
        preceding_invoices=[
            DocumentRef(number=_text(r, "ram:IssuerAssignedID") or "",
                        issue_date=_date(r, "ram:FormattedIssueDateTime", "BT-26", document_id=doc_id))
            for r in settlement.findall(_p("ram:InvoiceReferencedDocument"))
        ],
        payee=_party(settlement.find(_p("ram:PayeeTradeParty"))),
        seller_tax_representative=_party(agreement.find(_p("ram:SellerTaxRepresentativeTradeParty"))),
        delivery=delivery,
        period_start=_date(settlement, "ram:BillingSpecifiedPeriod/ram:StartDateTime", "BT-73", document_id=doc_id),
        period_end=_date(settlement, "ram:BillingSpecifiedPeriod/ram:EndDateTime", "BT-74", document_id=doc_id),
        payment=payment,
        operation_category=OPERATION_BY_PROCESS.get(business_process or ""),
        vat_on_debits=any(_text(t, "ram:DueDateTypeCode") == "5" for t in settlement.findall(_p("ram:ApplicableTradeTax"))),
        inferred_terms=inferred,
    )


# --------------------------------------------------------------------------------------------
# writing


class _Writer:
    """Builds the CII tree for one profile; ``level`` tells which optional parts are allowed."""

    def __init__(self, inv: Invoice, profile: str, guideline: str | None = None) -> None:
        self.inv = inv
        self.profile = profile
        self.guideline = guideline or GUIDELINES[profile]  # BT-24 written
        self.level = PROFILE_ORDER.index(profile)

    def at_least(self, profile: str) -> bool:
        return self.level >= PROFILE_ORDER.index(profile)

    @staticmethod
    def sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str | None) -> etree._Element:
        prefix, _, name = tag.partition(":")
        el = etree.SubElement(parent, f"{{{NSMAP[prefix]}}}{name}")
        for k, v in attrs.items():
            if v is not None:
                el.set(k, v)
        if text is not None:
            el.text = text
        return el

    def opt(self, parent: etree._Element, tag: str, text: str | None, **attrs: str | None) -> None:
        if text:
            self.sub(parent, tag, text, **attrs)

    def date(self, parent: etree._Element, tag: str, value: dt.date | None, inner: str = "udt:DateTimeString") -> None:
        if value is not None:
            self.sub(self.sub(parent, tag), inner, value.strftime("%Y%m%d"), format="102")

    def money(self, value: Decimal) -> str:
        return format_amount(value, self.inv.currency)

    def render(self) -> bytes:
        inv = self.inv
        root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
        ctx = self.sub(root, "rsm:ExchangedDocumentContext")
        process = inv.business_process or PROCESS_BY_OPERATION.get(inv.operation_category or "")
        if process:
            self.sub(self.sub(ctx, "ram:BusinessProcessSpecifiedDocumentContextParameter"), "ram:ID", process)
        self.sub(self.sub(ctx, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", self.guideline)
        head = self.sub(root, "rsm:ExchangedDocument")
        self.sub(head, "ram:ID", inv.number)
        self.sub(head, "ram:TypeCode", inv.type_code)
        self.date(head, "ram:IssueDateTime", inv.issue_date)
        if self.at_least("basicwl"):
            for note in inv.notes:
                n = self.sub(head, "ram:IncludedNote")
                self.sub(n, "ram:Content", note.text)
                self.opt(n, "ram:SubjectCode", note.subject_code)
        tx = self.sub(root, "rsm:SupplyChainTradeTransaction")
        if self.at_least("basic"):
            for line in inv.lines:
                self.line(tx, line)
        self.agreement(tx)
        self.delivery(tx)
        self.settlement(tx)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    # -- parties
    def address(self, parent: etree._Element, addr: Address | None, *, country_only: bool = False) -> None:
        if addr is None:
            return
        el = self.sub(parent, "ram:PostalTradeAddress")
        if not country_only:
            self.opt(el, "ram:PostcodeCode", addr.postcode)
            self.opt(el, "ram:LineOne", addr.line1)
            self.opt(el, "ram:LineTwo", addr.line2)
            self.opt(el, "ram:LineThree", addr.line3)
            self.opt(el, "ram:CityName", addr.city)
        self.sub(el, "ram:CountryID", addr.country or "")
        if not country_only:
            self.opt(el, "ram:CountrySubDivisionName", addr.subdivision)

    def party(self, parent: etree._Element, tag: str, p: TradeParty, role: str) -> None:
        el = self.sub(parent, tag)
        minimum = self.profile == "minimum"
        if not minimum and role in ("seller", "buyer", "payee"):
            for ident in p.identifiers:
                if ident.scheme:
                    self.sub(el, "ram:GlobalID", ident.value, schemeID=ident.scheme)
                else:
                    self.sub(el, "ram:ID", ident.value)
        self.sub(el, "ram:Name", p.name)
        if role == "seller" and p.legal_info and self.at_least("en16931"):
            self.sub(el, "ram:Description", p.legal_info)
        if (p.legal_registration or (p.trading_name and not minimum)) and role != "tax_rep":
            legal = self.sub(el, "ram:SpecifiedLegalOrganization")
            if p.legal_registration:
                self.sub(legal, "ram:ID", p.legal_registration.value, schemeID=p.legal_registration.scheme)
            if p.trading_name and not minimum and role in ("seller", "buyer"):
                self.sub(legal, "ram:TradingBusinessName", p.trading_name)
            if not len(legal):
                el.remove(legal)
        if p.contact and self.at_least("en16931") and role in ("seller", "buyer"):
            c = self.sub(el, "ram:DefinedTradeContact")
            self.opt(c, "ram:PersonName", p.contact.name)
            if p.contact.phone:
                self.sub(self.sub(c, "ram:TelephoneUniversalCommunication"), "ram:CompleteNumber", p.contact.phone)
            if p.contact.email:
                self.sub(self.sub(c, "ram:EmailURIUniversalCommunication"), "ram:URIID", p.contact.email)
        if role in ("seller", "buyer", "tax_rep"):
            if minimum:
                if role == "seller":
                    self.address(el, p.address, country_only=True)
            else:
                self.address(el, p.address)
        if p.electronic_address and role in ("seller", "buyer") and not minimum:
            self.sub(self.sub(el, "ram:URIUniversalCommunication"), "ram:URIID", p.electronic_address.value,
                     schemeID=p.electronic_address.scheme)
        if role in ("seller", "buyer", "tax_rep") and not (minimum and role == "buyer"):
            if p.tax_registration_id and role == "seller" and not minimum:
                self.sub(self.sub(el, "ram:SpecifiedTaxRegistration"), "ram:ID", p.tax_registration_id, schemeID="FC")
            if p.vat_id:
                self.sub(self.sub(el, "ram:SpecifiedTaxRegistration"), "ram:ID", p.vat_id, schemeID="VA")

    # -- header
    def agreement(self, tx: etree._Element) -> None:
        inv = self.inv
        el = self.sub(tx, "ram:ApplicableHeaderTradeAgreement")
        self.opt(el, "ram:BuyerReference", inv.buyer_reference)
        self.party(el, "ram:SellerTradeParty", inv.seller, "seller")
        self.party(el, "ram:BuyerTradeParty", inv.buyer, "buyer")
        if inv.seller_tax_representative and self.at_least("basicwl"):
            self.party(el, "ram:SellerTaxRepresentativeTradeParty", inv.seller_tax_representative, "tax_rep")
        if inv.sales_order_ref and self.at_least("en16931"):
            self.sub(self.sub(el, "ram:SellerOrderReferencedDocument"), "ram:IssuerAssignedID", inv.sales_order_ref)
        if inv.order_ref:
            self.sub(self.sub(el, "ram:BuyerOrderReferencedDocument"), "ram:IssuerAssignedID", inv.order_ref)
        if inv.contract_ref and self.at_least("basicwl"):
            self.sub(self.sub(el, "ram:ContractReferencedDocument"), "ram:IssuerAssignedID", inv.contract_ref)
        if inv.project_ref and self.at_least("en16931"):
            proj = self.sub(el, "ram:SpecifiedProcuringProject")
            self.sub(proj, "ram:ID", inv.project_ref)
            self.sub(proj, "ram:Name", "Project reference")

    def delivery(self, tx: etree._Element) -> None:
        inv = self.inv
        el = self.sub(tx, "ram:ApplicableHeaderTradeDelivery")
        if not self.at_least("basicwl"):
            return
        d = inv.delivery
        if d is not None and (d.party_name or d.location_id or d.address):
            ship = self.sub(el, "ram:ShipToTradeParty")
            if d.location_id:
                if d.location_id.scheme:
                    self.sub(ship, "ram:GlobalID", d.location_id.value, schemeID=d.location_id.scheme)
                else:
                    self.sub(ship, "ram:ID", d.location_id.value)
            self.opt(ship, "ram:Name", d.party_name)
            self.address(ship, d.address)
        if d is not None and d.date:
            self.date(self.sub(el, "ram:ActualDeliverySupplyChainEvent"), "ram:OccurrenceDateTime", d.date)
        if inv.despatch_advice_ref:
            self.sub(self.sub(el, "ram:DespatchAdviceReferencedDocument"), "ram:IssuerAssignedID", inv.despatch_advice_ref)
        if inv.receiving_advice_ref and self.at_least("en16931"):
            self.sub(self.sub(el, "ram:ReceivingAdviceReferencedDocument"), "ram:IssuerAssignedID", inv.receiving_advice_ref)

    def allowance(self, parent: etree._Element, a: AllowanceCharge, *, header: bool) -> None:
        el = self.sub(parent, "ram:SpecifiedTradeAllowanceCharge")
        self.sub(self.sub(el, "ram:ChargeIndicator"), "udt:Indicator", "true" if a.is_charge else "false")
        detailed = header or self.profile != "basic"  # BASIC lines carry amount and reason only
        if a.percent is not None and detailed:
            self.sub(el, "ram:CalculationPercent", format_number(a.percent))
        if a.base_amount is not None and detailed:
            self.sub(el, "ram:BasisAmount", self.money(a.base_amount))
        self.sub(el, "ram:ActualAmount", self.money(a.amount))
        self.opt(el, "ram:ReasonCode", a.reason_code)
        self.opt(el, "ram:Reason", a.reason)
        if header:
            tax = self.sub(el, "ram:CategoryTradeTax")
            self.sub(tax, "ram:TypeCode", "VAT")
            self.sub(tax, "ram:CategoryCode", a.vat_category or "S")
            if a.vat_rate is not None:
                self.sub(tax, "ram:RateApplicablePercent", format_number(a.vat_rate))

    def settlement(self, tx: etree._Element) -> None:
        inv = self.inv
        el = self.sub(tx, "ram:ApplicableHeaderTradeSettlement")
        pay = inv.payment
        full = self.at_least("basicwl")
        if full and pay and pay.creditor_id:
            self.sub(el, "ram:CreditorReferenceID", pay.creditor_id)
        if full and pay and pay.remittance_info:
            self.sub(el, "ram:PaymentReference", pay.remittance_info)
        if full and inv.tax_currency:
            self.sub(el, "ram:TaxCurrencyCode", inv.tax_currency)
        self.sub(el, "ram:InvoiceCurrencyCode", inv.currency)
        if full and inv.payee:
            self.party(el, "ram:PayeeTradeParty", inv.payee, "payee")
        if full and pay and (pay.means_code or pay.iban):
            m = self.sub(el, "ram:SpecifiedTradeSettlementPaymentMeans")
            self.sub(m, "ram:TypeCode", pay.means_code or "30")
            if self.at_least("en16931"):
                self.opt(m, "ram:Information", pay.means_text)
                if pay.card_pan_last:
                    self.sub(self.sub(m, "ram:ApplicableTradeSettlementFinancialCard"), "ram:ID", pay.card_pan_last)
            if pay.debited_iban:
                self.sub(self.sub(m, "ram:PayerPartyDebtorFinancialAccount"), "ram:IBANID", pay.debited_iban)
            if pay.iban:
                acc = self.sub(m, "ram:PayeePartyCreditorFinancialAccount")
                self.sub(acc, "ram:IBANID", pay.iban)
                if self.at_least("en16931"):
                    self.opt(acc, "ram:AccountName", pay.account_name)
            if pay.bic and self.at_least("en16931"):
                self.sub(self.sub(m, "ram:PayeeSpecifiedCreditorFinancialInstitution"), "ram:BICID", pay.bic)
        if full:
            for i, v in enumerate(inv.vat_breakdown):
                t = self.sub(el, "ram:ApplicableTradeTax")
                self.sub(t, "ram:CalculatedAmount", self.money(v.tax_amount))
                self.sub(t, "ram:TypeCode", "VAT")
                self.opt(t, "ram:ExemptionReason", v.exemption_reason)
                self.sub(t, "ram:BasisAmount", self.money(v.taxable_amount))
                self.sub(t, "ram:CategoryCode", v.category)
                self.opt(t, "ram:ExemptionReasonCode", v.exemption_reason_code)
                if inv.tax_point_date and self.at_least("en16931") and i == 0:  # CII-SR-461: only one
                    self.date(t, "ram:TaxPointDate", inv.tax_point_date, "udt:DateString")
                if inv.vat_on_debits:
                    self.sub(t, "ram:DueDateTypeCode", "5")  # UNTDID 2005: 5 = date of invoice (debits)
                if v.rate is not None:
                    self.sub(t, "ram:RateApplicablePercent", format_number(v.rate))
            if inv.period_start or inv.period_end:
                per = self.sub(el, "ram:BillingSpecifiedPeriod")
                self.date(per, "ram:StartDateTime", inv.period_start)
                self.date(per, "ram:EndDateTime", inv.period_end)
            for a in inv.allowances_charges:
                self.allowance(el, a, header=True)
            if inv.payment_terms or inv.due_date or (pay and pay.mandate_ref):
                terms = self.sub(el, "ram:SpecifiedTradePaymentTerms")
                self.opt(terms, "ram:Description", inv.payment_terms)
                self.date(terms, "ram:DueDateDateTime", inv.due_date)
                if pay and pay.mandate_ref:
                    self.sub(terms, "ram:DirectDebitMandateID", pay.mandate_ref)
        t = inv.totals
        s = self.sub(el, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
        if full:
            self.sub(s, "ram:LineTotalAmount", self.money(t.line_total))
            if t.charge_total is not None:
                self.sub(s, "ram:ChargeTotalAmount", self.money(t.charge_total))
            if t.allowance_total is not None:
                self.sub(s, "ram:AllowanceTotalAmount", self.money(t.allowance_total))
        self.sub(s, "ram:TaxBasisTotalAmount", self.money(t.tax_exclusive))
        if t.tax_total is not None:
            self.sub(s, "ram:TaxTotalAmount", self.money(t.tax_total), currencyID=inv.currency)
        if full and t.tax_total_accounting is not None and inv.tax_currency:
            self.sub(s, "ram:TaxTotalAmount", format_amount(t.tax_total_accounting, inv.tax_currency), currencyID=inv.tax_currency)
        if t.rounding is not None and self.at_least("en16931"):
            self.sub(s, "ram:RoundingAmount", self.money(t.rounding))
        self.sub(s, "ram:GrandTotalAmount", self.money(t.tax_inclusive))
        if full and t.prepaid is not None:
            self.sub(s, "ram:TotalPrepaidAmount", self.money(t.prepaid))
        self.sub(s, "ram:DuePayableAmount", self.money(t.payable))
        if full:
            for ref in inv.preceding_invoices:
                r = self.sub(el, "ram:InvoiceReferencedDocument")
                self.sub(r, "ram:IssuerAssignedID", ref.number)
                self.date(r, "ram:FormattedIssueDateTime", ref.issue_date, "qdt:DateTimeString")
            if inv.buyer_accounting_ref:
                self.sub(self.sub(el, "ram:ReceivableSpecifiedTradeAccountingAccount"), "ram:ID", inv.buyer_accounting_ref)

    # -- lines
    def line(self, tx: etree._Element, ln: InvoiceLine) -> None:
        en = self.at_least("en16931")
        el = self.sub(tx, "ram:IncludedSupplyChainTradeLineItem")
        doc = self.sub(el, "ram:AssociatedDocumentLineDocument")
        self.sub(doc, "ram:LineID", ln.id)
        if ln.note and en:
            self.sub(self.sub(doc, "ram:IncludedNote"), "ram:Content", ln.note)
        prod = self.sub(el, "ram:SpecifiedTradeProduct")
        if ln.standard_item_id:
            self.sub(prod, "ram:GlobalID", ln.standard_item_id.value, schemeID=ln.standard_item_id.scheme)
        if en:
            self.opt(prod, "ram:SellerAssignedID", ln.seller_item_id)
            self.opt(prod, "ram:BuyerAssignedID", ln.buyer_item_id)
        self.sub(prod, "ram:Name", ln.item_name)
        if en:
            self.opt(prod, "ram:Description", ln.description)
            for c in ln.classification:
                self.sub(self.sub(prod, "ram:DesignatedProductClassification"), "ram:ClassCode", c.value, listID=c.scheme)
            if ln.origin_country:
                self.sub(self.sub(prod, "ram:OriginTradeCountry"), "ram:ID", ln.origin_country)
        agr = self.sub(el, "ram:SpecifiedLineTradeAgreement")
        if ln.order_line_ref and en:
            self.sub(self.sub(agr, "ram:BuyerOrderReferencedDocument"), "ram:LineID", ln.order_line_ref)
        unit = ln.base_quantity_unit or ln.unit_code
        if ln.gross_price is not None:
            g = self.sub(agr, "ram:GrossPriceProductTradePrice")
            self.sub(g, "ram:ChargeAmount", format_number(ln.gross_price))
            if ln.base_quantity is not None:
                self.sub(g, "ram:BasisQuantity", format_number(ln.base_quantity), unitCode=unit)
            if ln.price_discount is not None:
                d = self.sub(g, "ram:AppliedTradeAllowanceCharge")
                self.sub(self.sub(d, "ram:ChargeIndicator"), "udt:Indicator", "false")
                self.sub(d, "ram:ActualAmount", format_number(ln.price_discount))
        n = self.sub(agr, "ram:NetPriceProductTradePrice")
        self.sub(n, "ram:ChargeAmount", format_number(ln.net_price))
        if ln.base_quantity is not None:
            self.sub(n, "ram:BasisQuantity", format_number(ln.base_quantity), unitCode=unit)
        self.sub(self.sub(el, "ram:SpecifiedLineTradeDelivery"), "ram:BilledQuantity", format_number(ln.quantity), unitCode=ln.unit_code)
        st = self.sub(el, "ram:SpecifiedLineTradeSettlement")
        tax = self.sub(st, "ram:ApplicableTradeTax")
        self.sub(tax, "ram:TypeCode", "VAT")
        self.sub(tax, "ram:CategoryCode", ln.vat_category)
        if ln.vat_rate is not None:
            self.sub(tax, "ram:RateApplicablePercent", format_number(ln.vat_rate))
        if ln.period_start or ln.period_end:
            per = self.sub(st, "ram:BillingSpecifiedPeriod")
            self.date(per, "ram:StartDateTime", ln.period_start)
            self.date(per, "ram:EndDateTime", ln.period_end)
        for a in ln.allowances_charges:
            self.allowance(st, a, header=False)
        self.sub(self.sub(st, "ram:SpecifiedTradeSettlementLineMonetarySummation"), "ram:LineTotalAmount", self.money(ln.net_amount))
        if en and ln.object_id:
            ref = self.sub(st, "ram:AdditionalReferencedDocument")
            self.sub(ref, "ram:IssuerAssignedID", ln.object_id)
            self.sub(ref, "ram:TypeCode", "130")
        if en and ln.accounting_ref:
            self.sub(self.sub(st, "ram:ReceivableSpecifiedTradeAccountingAccount"), "ram:ID", ln.accounting_ref)


def render(inv: Invoice, profile: str = "en16931", *, guideline: str | None = None) -> bytes:
    """The CII D16B XML of ``inv`` for a Factur-X profile (minimum, basicwl, basic, en16931, extended).

    Terms the profile does not carry are left out (MINIMUM keeps the header and totals only;
    BASIC WL drops the lines). Amounts are written with the currency's decimals, at most two.
    Raises :class:`UnknownProfile` for a profile name it does not know.

    ``guideline``: the BT-24 to write instead of the profile's own (a CIUS or extension built on
    that profile's data, e.g. :data:`edi.en16931.CTC_FR_GUIDELINE` on ``extended`` in :mod:`edi.ctcfr`).
    """
    return _Writer(inv, normalize_profile(profile), guideline).render()
