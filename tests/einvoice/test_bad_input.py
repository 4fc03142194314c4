"""Hostile and broken input: always a typed RejectedDocument, never a crash, never network."""

from __future__ import annotations

import io

import pytest

from edi import cdar, cii, einvoice, facturx, samples, ubl
from schemas.errors import InvalidFormat, RejectedDocument

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100">&xxe;</rsm:CrossIndustryInvoice>"""
XXE_NET = b"""<!DOCTYPE r [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/evil.dtd"> %ext;]><r/>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>"""
MALFORMED = b"<rsm:CrossIndustryInvoice xmlns:rsm='urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100'><a></b>"
JUNK = [b"", b"\x00\x01\x02", b"not xml at all", b"%PDF-1.7\n garbage", "text, not bytes", b"<a/>", MALFORMED, XXE, XXE_NET, LAUGHS]

READERS = {
    "cii.parse": cii.parse,
    "ubl.parse": ubl.parse,
    "einvoice.parse": einvoice.parse,
    "einvoice.detect": einvoice.detect,
    "einvoice.validate": einvoice.validate,
    "cdar.parse": cdar.parse,
}


@pytest.mark.parametrize("reader", READERS, ids=list(READERS))
@pytest.mark.parametrize("data", JUNK, ids=["empty", "binary", "text", "fake-pdf", "str", "other-xml", "malformed", "xxe",
                                            "xxe-net", "billion-laughs"])
def test_junk_is_rejected(reader: str, data: bytes) -> None:
    with pytest.raises(RejectedDocument):
        READERS[reader](data)


@pytest.mark.parametrize("data", [XXE, XXE_NET, LAUGHS])
def test_entities_are_refused_with_a_clear_reason(data: bytes) -> None:
    with pytest.raises(InvalidFormat, match="DOCTYPE is refused"):
        cii.parse(data, document_id="evil.xml")


def test_malformed_xml_names_the_line() -> None:
    with pytest.raises(InvalidFormat) as exc:
        cii.parse(MALFORMED, document_id="broken.xml")
    assert exc.value.document_id == "broken.xml" and exc.value.line == 1


def _pdf_without_invoice() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 10, "just a letter")
    pdf.embed_file(bytes=b"<note/>", basename="note.xml")
    return bytes(pdf.output())


def test_pdf_without_embedded_invoice() -> None:
    pdf = _pdf_without_invoice()
    with pytest.raises(facturx.NoEmbeddedInvoice, match="attachments: note.xml"):
        einvoice.parse(pdf, document_id="letter.pdf")
    with pytest.raises(facturx.NoEmbeddedInvoice):
        einvoice.validate(pdf)
    assert issubclass(facturx.NoEmbeddedInvoice, RejectedDocument)


def test_truncated_pdf() -> None:
    pdf = facturx.render_pdf(samples.sample_invoice(1))
    with pytest.raises(RejectedDocument):
        einvoice.parse(pdf[: len(pdf) // 3])


def _with_guideline(urn: str) -> bytes:
    xml = cii.render(samples.sample_invoice(1), "en16931")
    return xml.replace(b"<ram:ID>urn:cen.eu:en16931:2017</ram:ID>", f"<ram:ID>{urn}</ram:ID>".encode())


@pytest.mark.parametrize("urn", ["urn:factur-x.eu:1p0:platinum", "urn:example:unknown", ""])
def test_unknown_profile_urn(urn: str) -> None:
    data = _with_guideline(urn)
    with pytest.raises(cii.UnknownProfile):
        cii.parse(data)
    with pytest.raises(cii.UnknownProfile):
        einvoice.validate(data)
    assert cii.parse(data, strict_profile=False).number  # readable on request


def test_unknown_profile_names() -> None:
    inv = samples.sample_invoice(1)
    with pytest.raises(cii.UnknownProfile):
        cii.render(inv, "platinum")
    with pytest.raises(cii.UnknownProfile):
        facturx.render_pdf(inv, "xrechnung")
    with pytest.raises(cii.UnknownProfile):
        ubl.render(inv, "urn:example:not-en16931")


def test_unknown_ubl_customization() -> None:
    xml = ubl.render(samples.sample_invoice(1)).replace(b"urn:cen.eu:en16931:2017", b"urn:example:custom")
    with pytest.raises(cii.UnknownProfile):
        ubl.parse(xml)


def test_bad_amount_is_invalid_format() -> None:
    xml = cii.render(samples.sample_invoice(1)).replace(b"<ram:DuePayableAmount>", b"<ram:DuePayableAmount>x", 1)
    with pytest.raises(InvalidFormat, match=r"BT-115: amount: not a plain decimal amount: 'x8713\.77'") as exc:
        cii.parse(xml)
    assert exc.value.field == "BT-115"


def test_no_network_is_attempted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing and validating hostile or ordinary input opens no socket."""
    import socket

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for data in (XXE_NET, XXE):
        with pytest.raises(RejectedDocument):
            einvoice.validate(data)
    assert einvoice.validate(cii.render(samples.sample_invoice(2)), facturx=True).valid
    assert einvoice.parse(io.BytesIO(facturx.render_pdf(samples.sample_invoice(2))).getvalue()).number
