"""Factur-X PDF/A-3: our own PDFs read back by pypdf and checked by the factur-x library."""

from __future__ import annotations

import io

import pytest
from lxml import etree
from pypdf import PdfReader

from edi import cii, einvoice, facturx, samples

PROFILES = ("minimum", "basicwl", "basic", "en16931", "extended")


@pytest.fixture(scope="module")
def pdfs() -> dict[str, bytes]:
    return {p: facturx.render_pdf(samples.sample_invoice(20 + i), p) for i, p in enumerate(PROFILES)}


@pytest.mark.parametrize("profile", PROFILES)
def test_pdf_structure(pdfs: dict[str, bytes], profile: str) -> None:
    pdf = pdfs[profile]
    reader = PdfReader(io.BytesIO(pdf))
    catalog = reader.trailer["/Root"]
    # the XML is an Associated File of the document, with the relationship Factur-X asks for
    spec = catalog["/AF"][0].get_object()
    assert spec["/F"] == spec["/UF"] == "factur-x.xml"
    assert spec["/AFRelationship"] == ("/Data" if profile in ("minimum", "basicwl") else "/Alternative")
    assert spec["/EF"]["/F"].get_object()["/Subtype"] == "/text/xml"
    names = catalog["/Names"]["/EmbeddedFiles"]["/Names"]
    assert names[0] == "factur-x.xml"
    # sRGB output intent with the ICC profile embedded
    intent = catalog["/OutputIntents"][0].get_object()
    assert intent["/S"] == "/GTS_PDFA1" and len(intent["/DestOutputProfile"].get_object().get_data()) == 3024
    # XMP: PDF/A-3B and the Factur-X extension schema
    meta = facturx.pdf_metadata(pdf)
    assert meta == {"pdfa_part": "3", "pdfa_conformance": "B", "fx_conformance": facturx.CONFORMANCE[profile],
                    "fx_document_file_name": "factur-x.xml", "fx_version": "1.0", "fx_document_type": "INVOICE"}
    xmp = catalog["/Metadata"].get_object().get_data()
    assert b"pdfaExtension:schemas" in xmp and facturx.FX_NS.encode() in xmp
    # fonts are embedded (PDF/A)
    fonts = reader.pages[0]["/Resources"]["/Font"]
    for ref in fonts.values():
        desc = ref.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"]
        assert "/FontFile2" in desc
    assert "FACTURE" in reader.pages[0].extract_text() or "AVOIR" in reader.pages[0].extract_text()


@pytest.mark.parametrize("profile", PROFILES)
def test_factur_x_library_accepts_our_pdfs(pdfs: dict[str, bytes], profile: str) -> None:
    import facturx as fxlib

    name, xml = fxlib.get_xml_from_pdf(pdfs[profile], check_xsd=True)
    assert name == "factur-x.xml"
    assert fxlib.get_level(etree.fromstring(xml)) == profile
    assert einvoice.validate(pdfs[profile]).valid


def test_pdf_round_trip(pdfs: dict[str, bytes]) -> None:
    assert einvoice.parse(pdfs["en16931"]) == samples.sample_invoice(23)


def test_pdf_embeds_given_xml() -> None:
    inv = samples.sample_invoice(2)
    xml = cii.render(inv, "basic")
    assert facturx.extract_xml(facturx.render_pdf(inv, "basic", xml=xml))[1] == xml


def test_pdf_is_deterministic() -> None:
    inv = samples.sample_invoice(4)
    assert facturx.render_pdf(inv) == facturx.render_pdf(inv)


def test_long_invoice_spans_pages() -> None:
    inv = samples.sample_invoice(6)
    line = inv.lines[0]
    inv.lines = [type(line)(**{**{f: getattr(line, f) for f in line.__slots__}, "id": str(i)}) for i in range(1, 61)]
    inv.totals.line_total = sum((ln.net_amount for ln in inv.lines), inv.totals.line_total * 0)
    pdf = facturx.render_pdf(inv, "minimum")
    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 2


@pytest.mark.parametrize("name", ["zugferd_2p0_EN16931_Einfach.pdf", "ZUGFeRD_1p0_BASIC_Einfach.pdf", "Facture_UE_BASICWL.pdf"])
def test_reads_other_producers(name: str) -> None:
    from tests.einvoice.helpers import corpus

    path = next(p for p in corpus("pdf") if p.name == name)
    found = facturx.extract_xml(path.read_bytes())[0]
    assert found in facturx.XML_NAMES
    assert einvoice.parse(path.read_bytes()).number


def test_xmp_level_must_match_the_xml() -> None:
    inv = samples.sample_invoice(3)
    pdf = facturx.render_pdf(inv, "basic", xml=cii.render(inv, "en16931"))
    result = einvoice.validate(pdf, schematrons=False)
    assert [e.rule for e in result.errors] == ["FX-PDF-XMP"]
