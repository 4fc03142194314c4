"""Shared helpers for the e-invoicing tests: fixture lists and totals read straight from the XML."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from lxml import etree

from edi.xmlsafe import localname, parse_bytes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "einvoice"
ARITHMETIC_TERMS = {"BT-106", "BT-107", "BT-108", "BT-109", "BT-110", "BT-112", "BT-115", "BT-116", "BT-117"}


def corpus(kind: str) -> list[Path]:
    """Every fixture of a kind: "cii" and "ubl" XML, "pdf" Factur-X/ZUGFeRD files."""
    if kind == "pdf":
        return sorted(FIXTURES.glob("*/facturx/*/*.pdf"))
    return sorted(p for p in FIXTURES.glob(f"*/{kind}/*") if p.suffix.lower() == ".xml")


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(FIXTURES)) for p in paths]


# document-level totals (BT-106..BT-115) by their element names in CII (D16B and ZUGFeRD 1.0) and UBL
_CII = {"LineTotalAmount": "line_total", "AllowanceTotalAmount": "allowance_total", "ChargeTotalAmount": "charge_total",
        "TaxBasisTotalAmount": "tax_exclusive", "GrandTotalAmount": "tax_inclusive", "TotalPrepaidAmount": "prepaid",
        "RoundingAmount": "rounding", "DuePayableAmount": "payable"}
_UBL = {"LineExtensionAmount": "line_total", "AllowanceTotalAmount": "allowance_total", "ChargeTotalAmount": "charge_total",
        "TaxExclusiveAmount": "tax_exclusive", "TaxInclusiveAmount": "tax_inclusive", "PrepaidAmount": "prepaid",
        "PayableRoundingAmount": "rounding", "PayableAmount": "payable"}


def stated_totals(xml: bytes) -> dict[str, Decimal]:
    """The totals a document states, read with plain XPath (independent of the parsers)."""
    from edi import einvoice
    from schemas.errors import InvalidFormat

    try:
        root = parse_bytes(xml, "stated")
    except InvalidFormat:
        root = parse_bytes(einvoice._drop_bad_declaration(xml) or xml, "stated")  # the one broken declaration
    out: dict[str, Decimal] = {}
    if localname(root.tag) in ("Invoice", "CreditNote"):
        lmt = next(el for el in root if isinstance(el.tag, str) and localname(el.tag) == "LegalMonetaryTotal")
        for el in lmt:
            if isinstance(el.tag, str) and localname(el.tag) in _UBL:
                out[_UBL[localname(el.tag)]] = Decimal(el.text.strip())
        currency = next(el.text for el in root if isinstance(el.tag, str) and localname(el.tag) == "DocumentCurrencyCode")
        for tt in root:
            if isinstance(tt.tag, str) and localname(tt.tag) == "TaxTotal":
                amount = next(el for el in tt if isinstance(el.tag, str) and localname(el.tag) == "TaxAmount")
                if amount.get("currencyID") == currency:
                    out["tax_total"] = Decimal(amount.text.strip())
        return out
    summ = [el for el in root.iter() if isinstance(el.tag, str) and localname(el.tag) in (
        "SpecifiedTradeSettlementHeaderMonetarySummation", "SpecifiedTradeSettlementMonetarySummation")]
    header = summ[0] if localname(summ[0].tag).endswith("HeaderMonetarySummation") else next(
        s for s in summ if localname(s.getparent().tag) in ("ApplicableSupplyChainTradeSettlement",))
    for el in header:
        if not isinstance(el.tag, str):
            continue
        name = localname(el.tag)
        if name in _CII:
            out[_CII[name]] = Decimal(el.text.strip())
        elif name == "TaxTotalAmount" and "tax_total" not in out:
            out["tax_total"] = Decimal(el.text.strip())
    return out


def xml_of(path: Path) -> bytes:
    """The invoice XML of a fixture (extracted from the PDF for Factur-X files)."""
    from edi import facturx

    data = path.read_bytes()
    if path.suffix.lower() == ".pdf":
        return facturx.extract_xml(data, document_id=path.name)[1]
    return data


def tree(xml: bytes) -> etree._Element:
    return parse_bytes(xml, "t")
