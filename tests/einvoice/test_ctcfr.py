"""French EXTENDED-CTC-FR: render, validate (D22B XSD + EXTENDED-CTC-FR + BR-FR Flux 2), parse."""

from __future__ import annotations

import dataclasses

import pytest
from lxml import etree

from edi import cii, ctcfr, einvoice, ubl, validation
from edi.samples import sample_invoice
from schemas.invoice import Identifier, Invoice

from .helpers import FIXTURES

# the one public EXTENDED-CTC-FR document in the corpus is UBL (akretion/factur-x, BSD-3-Clause)
REAL_UBL = FIXTURES / "akretion-factur-x" / "ubl" / "ubl-21-extended-ctc-fr.xml"
SEEDS = range(30)
OWN = ("xsd-cii-d22b-ctcfr", "extended-ctc-fr", "br-fr-flux2-cii")


def french(inv: Invoice) -> Invoice:
    """The French mentions a B2B invoice needs: the buyer's 0225 address is its SIREN (BR-FR-21)."""
    if inv.buyer.siren:
        inv.buyer.electronic_address = Identifier(value=inv.buyer.siren, scheme="0225")
    return inv


def context(xml: bytes) -> tuple[str | None, str | None, list[tuple[str | None, str | None]]]:
    root = etree.fromstring(xml)
    ns = cii.NSMAP
    return (root.findtext("rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", namespaces=ns),
            root.findtext("rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID", namespaces=ns),
            [(n.findtext("ram:SubjectCode", namespaces=ns), n.findtext("ram:Content", namespaces=ns))
             for n in root.iterfind("rsm:ExchangedDocument/ram:IncludedNote", namespaces=ns)])


def error_rules(result: validation.ValidationResult) -> set[str]:
    return {f.rule for f in result.errors}


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_invoice_is_valid_and_round_trips(seed: int) -> None:
    inv = french(sample_invoice(seed))
    xml = ctcfr.render(inv)
    guideline, process, notes = context(xml)
    assert guideline == ctcfr.GUIDELINE == "urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr"
    assert inv.operation_category is not None and inv.buyer.address is not None
    assert process == {"goods": "B1", "services": "S1", "both": "M1"}[inv.operation_category]
    assert ("BAR", "B2BINT" if inv.buyer.address.country != "FR" else "B2B") in notes
    result = einvoice.validate(xml, document_id=inv.number)
    assert result.errors == [], result.report()
    assert set(result.artefacts) == set(OWN)
    assert result.fired_rules["extended-ctc-fr"] >= validation.MIN_FIRED_RULES
    assert result.fired_rules["br-fr-flux2-cii"] >= validation.MIN_FIRED_RULES
    back = ctcfr.parse(xml)
    assert back == ctcfr.prepare(inv)
    # the French mentions survive the round trip
    assert back.operation_category == inv.operation_category
    assert back.vat_on_debits == inv.vat_on_debits
    assert back.buyer.siren == inv.buyer.siren and back.seller.siren == inv.seller.siren
    assert back.delivery == inv.delivery
    assert ctcfr.render(back) == xml  # idempotent: the BAR note is not written twice


def test_samples_cover_the_french_mentions() -> None:
    invs = [sample_invoice(s) for s in SEEDS]
    assert {i.operation_category for i in invs} == {"goods", "services", "both"}
    assert any(i.vat_on_debits for i in invs) and any(i.delivery and i.delivery.address for i in invs)
    assert any(i.buyer.siren for i in invs) and any(not i.buyer.siren for i in invs)  # B2B and B2BINT


def test_vat_on_debits_is_bt8_code_5() -> None:
    inv = next(french(sample_invoice(s)) for s in range(200) if sample_invoice(s).vat_on_debits)
    root = etree.fromstring(ctcfr.render(inv))
    codes = root.xpath("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:DueDateTypeCode/text()", namespaces=cii.NSMAP)
    assert codes and set(codes) == {"5"}


def test_siren_derived_from_siret() -> None:
    inv = french(sample_invoice(3))
    inv.seller.legal_registration = None  # the SIRET (0009) is still there
    assert inv.seller.siret
    root = etree.fromstring(ctcfr.render(inv))
    siren = root.findtext(".//ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0002']", namespaces=cii.NSMAP)
    assert siren == inv.seller.siret[:9]


def test_real_ctc_fr_sample_validates_and_round_trips() -> None:
    """akretion's UBL EXTENDED-CTC-FR invoice (real French data: S1, SIRENs, 0225 addresses,
    delivery) read with edi.ubl, written as EXTENDED-CTC-FR CII: valid, and read back."""
    inv = ubl.parse(REAL_UBL.read_bytes())
    assert inv.specification_id == ctcfr.GUIDELINE  # the same BT-24 in UBL
    assert inv.buyer.siren == "787878784" and inv.operation_category == "services"
    xml = ctcfr.render(inv)
    result = einvoice.validate(xml)
    assert result.valid, result.report()
    back = ctcfr.parse(xml)
    assert back == ctcfr.prepare(inv)
    assert back.delivery is not None and back.delivery.address is not None
    assert back.delivery.address.city == "Carpentras"


def test_broken_without_buyer_siren_names_br_fr_11() -> None:
    inv = french(sample_invoice(3))
    assert ctcfr.processing(inv) == "B2B"
    inv.buyer.legal_registration = None
    inv.buyer.identifiers = []
    result = einvoice.validate(ctcfr.render(inv))
    assert not result.valid
    assert "BR-FR-11_BT-47" in error_rules(result)
    with pytest.raises(validation.InvoiceRejected, match="BR-FR-11"):
        einvoice.render(inv, "facturx-extended-ctc-fr")


def test_broken_without_operation_category_names_br_fr_08() -> None:
    inv = dataclasses.replace(french(sample_invoice(4)), business_process=None, operation_category=None)
    result = einvoice.validate(ctcfr.render(inv))
    assert error_rules(result) == {"BR-FR-08_BT-23"}, result.report()


def test_real_sample_broken_in_xml_fails() -> None:
    """Remove BT-23 and the buyer SIREN from the XML itself (not through the renderer)."""
    xml = ctcfr.render(ubl.parse(REAL_UBL.read_bytes()))
    root = etree.fromstring(xml)
    for path in ("rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter",
                 ".//ram:BuyerTradeParty/ram:SpecifiedLegalOrganization"):
        el = root.find(path, namespaces=cii.NSMAP)
        el.getparent().remove(el)
    note = root.find("rsm:ExchangedDocument/ram:IncludedNote[ram:SubjectCode='BAR']/ram:Content", namespaces=cii.NSMAP)
    note.text = "B2B"
    rules = error_rules(einvoice.validate(etree.tostring(root)))
    assert {"BR-FR-08_BT-23", "BR-FR-11_BT-47"} <= rules


def test_render_valid_format_is_xml() -> None:
    assert "facturx-extended-ctc-fr" in einvoice.FORMATS
    inv = french(sample_invoice(5))
    out = einvoice.render(inv, "facturx-extended-ctc-fr")
    assert out.startswith(b"<?xml") and context(out)[0] == ctcfr.GUIDELINE


def test_guideline_is_known_to_the_cii_reader() -> None:
    assert cii.guideline_profile(ctcfr.GUIDELINE) == "extended"
    assert cii.profile_of(ctcfr.render(french(sample_invoice(1)))) == "extended"
    # other profiles are unchanged by the guideline hook
    assert context(cii.render(sample_invoice(1), "extended"))[0] == cii.GUIDELINES["extended"]


def test_render_valid_rejects_wrong_totals() -> None:
    inv = french(sample_invoice(9))
    inv.totals.payable += 1
    with pytest.raises(validation.InvoiceRejected) as exc:
        einvoice.render(inv, "facturx-extended-ctc-fr")
    assert "BR-CO-16" in error_rules(exc.value.result)
    assert exc.value.document_id == inv.number
