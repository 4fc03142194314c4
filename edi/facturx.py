"""Factur-X / ZUGFeRD hybrid invoices: a PDF/A-3 page for people, the CII XML for machines.

Standard: Factur-X 1.0.07 (= ZUGFeRD 2.3), FNFE-MPE / FeRD, https://fnfe-mpe.org/factur-x/ —
a PDF/A-3 file whose embedded ``factur-x.xml`` (CII D16B, :mod:`edi.cii`) is the invoice. The
spec asks for: the file attached as an Associated File (``/AF`` array of the catalog, file
specification with ``/AFRelationship`` ``/Data`` for MINIMUM and BASIC WL, ``/Alternative`` for
the others), MIME type ``text/xml``, and XMP metadata carrying ``pdfaid:part`` 3 and the
Factur-X extension schema ``fx:`` (DocumentType ``INVOICE``, DocumentFileName, Version ``1.0``,
ConformanceLevel) with its PDF/A extension-schema description.

Reading accepts the embedded names of every generation: ``factur-x.xml``, ``zugferd-invoice.xml``
(ZUGFeRD 2.0), ``ZUGFeRD-invoice.xml`` (ZUGFeRD 1.0) and ``xrechnung.xml`` (CII or UBL). This
module handles the PDF container; the embedded XML is read by :func:`edi.einvoice.parse` (which
tells CII from UBL) and validated by :func:`edi.einvoice.validate`.

A PDF comes from outside: only the first copy of the first of those names is decompressed,
never the other embedded files, and every stream read here stops at the
``einvoice_attachment`` limit (5 MiB, :mod:`edi.limits`); the PDF itself is capped at
``einvoice`` (50 MiB) and may declare at most ``einvoice_attachment_count`` (32) embedded
files. Over a limit is :class:`~schemas.errors.TooLarge`.

>>> from edi.samples import sample_invoice
>>> pdf = render_pdf(sample_invoice(2), "en16931")
>>> name, xml = extract_xml(pdf)
>>> name
'factur-x.xml'
>>> cii.parse(xml) == sample_invoice(2)
True
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from edi import cii, limits
from edi.en16931 import format_number, normalize_profile
from edi.xmlsafe import parse_bytes
from schemas.errors import InvalidFormat, RejectedDocument, TooLarge
from schemas.invoice import Invoice
from schemas.money import minor_units, quantize

ARTEFACTS = Path(__file__).with_name("artefacts")
FONT_REGULAR = ARTEFACTS / "fonts" / "DejaVuSans.ttf"
FONT_BOLD = ARTEFACTS / "fonts" / "DejaVuSans-Bold.ttf"
SRGB_ICC = ARTEFACTS / "srgb" / "sRGB2014.icc"

# Embedded file names, in the order they are looked for.
XML_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "ZUGFeRD-invoice.xml", "xrechnung.xml")
# XMP fx:ConformanceLevel per profile
CONFORMANCE = {"minimum": "MINIMUM", "basicwl": "BASIC WL", "basic": "BASIC", "en16931": "EN 16931", "extended": "EXTENDED"}
FX_NS = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"


class NoEmbeddedInvoice(RejectedDocument):
    """The PDF carries no Factur-X / ZUGFeRD / XRechnung XML attachment."""


# --------------------------------------------------------------------------------------------
# reading


def _reader(pdf: bytes, document_id: str):  # type: ignore[no-untyped-def]
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if not isinstance(pdf, (bytes, bytearray)) or not bytes(pdf[:1024]).lstrip().startswith(b"%PDF-"):
        raise InvalidFormat("not a PDF (no %PDF- header)", document_id=document_id)
    limits.check_size("einvoice", len(pdf), document_id=document_id)
    try:
        return PdfReader(io.BytesIO(pdf), strict=False)
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise InvalidFormat(f"unreadable PDF: {exc}", document_id=document_id) from exc


# pypdf's per-filter output limits (75 MB each by default), lowered to the attachment cap while
# this module reads a PDF: the decompressor stops there instead of producing the whole stream.
_PYPDF_OUTPUT_LIMITS = ("zlib_maximum_output_length", "lzw_maximum_output_length", "run_length_maximum_output_length",
                        "brotli_maximum_output_length", "jbig2_maximum_output_length",
                        "array_based_stream_maximum_output_length", "xmp_maximum_input_length")


@contextmanager
def _capped_decompression() -> Iterator[None]:
    """Every stream pypdf decompresses in this block (cross-reference and object streams, the
    XML, the XMP) stops at the ``einvoice_attachment`` limit + 1 byte.

    pypdf's configuration is a context variable: other threads and tasks keep theirs.
    """
    from pypdf import apply_configuration

    cap = limits.max_bytes("einvoice_attachment")
    with apply_configuration(**dict.fromkeys(_PYPDF_OUTPUT_LIMITS, cap + 1)):
        yield


def _stream_bytes(stream: object, what: str, document_id: str) -> bytes:
    """The decompressed content of one PDF stream, at most ``einvoice_attachment`` bytes.

    Over the limit is :class:`~schemas.errors.TooLarge`, found while decompressing (the
    decompressor is given the limit as its maximum output), not after.
    """
    from pypdf.errors import LimitReachedError
    from pypdf.generic import StreamObject

    if not isinstance(stream, StreamObject):
        raise InvalidFormat(f"{what} is not a PDF stream ({type(stream).__name__})", document_id=document_id)
    cap = limits.max_bytes("einvoice_attachment")
    too_large = TooLarge(f"{what}: more than {cap} bytes once decompressed, over the limit for e-invoice attachments "
                         f"({limits.env_name('einvoice_attachment')})", document_id=document_id)
    try:
        with _capped_decompression():
            data = stream.get_data()
    except LimitReachedError:
        raise too_large from None
    except Exception as exc:  # noqa: BLE001 - pypdf's filters raise many types on broken streams
        raise InvalidFormat(f"{what}: cannot decompress: {exc}", document_id=document_id) from exc
    if len(data) > cap:  # the decompressor stopped at cap + 1
        raise too_large
    return data


def _embedded_files(reader, document_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Name -> the first embedded file of that name (file-spec /UF or /F names too); nothing is
    decompressed here. More than ``einvoice_attachment_count`` files is :class:`TooLarge`."""
    bound = limits.max_bytes("einvoice_attachment_count")
    found: dict[str, Any] = {}
    for count, entry in enumerate(reader.attachment_list, start=1):
        if count > bound:
            raise TooLarge(f"the PDF declares more than {bound} embedded files, the limit "
                           f"({limits.env_name('einvoice_attachment_count')})", document_id=document_id)
        for name in (entry.name, entry.alternative_name):
            if isinstance(name, str) and name:
                found.setdefault(name, entry)
    return found


def _pick(found: dict[str, Any], wanted: str) -> str | None:
    """``wanted`` as embedded, else its first case-insensitive match (``ZUGFeRD-invoice.xml``)."""
    if wanted in found:
        return wanted
    return next((name for name in found if name.lower() == wanted.lower()), None)


def _file_content(entry: Any, name: str, document_id: str) -> bytes:
    """The content of one embedded file: its ``/EF`` ``/UF`` (else ``/F``) stream, capped."""
    spec = entry.pdf_object
    ef = spec["/EF"] if "/EF" in spec else None
    stream = None
    if ef is not None and hasattr(ef, "keys"):
        for key in ("/UF", "/F"):
            if key in ef:
                stream = ef[key]
                break
    if stream is None:
        raise InvalidFormat(f"embedded file {name!r} has no content stream (/EF)", document_id=document_id)
    return _stream_bytes(stream, f"embedded file {name!r}", document_id)


def _read_embedded(pdf: bytes, names: tuple[str, ...], document_id: str) -> tuple[dict[str, bytes], list[str]]:
    """``({name: content}, every embedded name)`` for the first of ``names`` found in order, only."""
    try:
        with _capped_decompression():  # the cross-reference and object streams are compressed too
            reader = _reader(pdf, document_id)
            found = _embedded_files(reader, document_id)
            for wanted in names:
                name = _pick(found, wanted)
                if name is not None:
                    return {name: _file_content(found[name], name, document_id)}, sorted(found)
            return {}, sorted(found)
    except RejectedDocument:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types (and RecursionError) on broken name trees
        raise InvalidFormat(f"cannot read the PDF's embedded files: {exc}", document_id=document_id) from exc


def attachments(pdf: bytes, names: tuple[str, ...] = XML_NAMES, *, document_id: str = "") -> dict[str, bytes]:
    """The first embedded file of ``pdf`` named one of ``names`` (in that order; exact name,
    else case-insensitive), as ``{name: content}``; empty when there is none.

    Only that one file is decompressed, one copy of it, and at most ``einvoice_attachment``
    bytes (:mod:`edi.limits`, 5 MiB): a PDF is small, its streams are not, and every other
    embedded file is attacker-sized data the hub never uses. More embedded files than
    ``einvoice_attachment_count`` is refused as well.
    """
    return _read_embedded(pdf, tuple(names), document_id or "pdf")[0]


def extract_xml(pdf: bytes, *, document_id: str = "") -> tuple[str, bytes]:
    """``(name, xml)`` of the invoice XML embedded in a Factur-X / ZUGFeRD / XRechnung PDF.

    Raises :class:`NoEmbeddedInvoice` when there is none, :class:`InvalidFormat` for a file
    that is not a readable PDF, :class:`~schemas.errors.TooLarge` for a PDF over the
    ``einvoice`` limit, an XML over ``einvoice_attachment`` once decompressed, or more embedded
    files than ``einvoice_attachment_count``.
    """
    doc_id = document_id or "pdf"
    files, listed = _read_embedded(pdf, XML_NAMES, doc_id)
    if files:
        return next(iter(files.items()))
    raise NoEmbeddedInvoice(f"no embedded invoice XML ({' / '.join(XML_NAMES)}); attachments: {', '.join(listed) or 'none'}",
                            document_id=doc_id)


def pdf_metadata(pdf: bytes, *, document_id: str = "") -> dict[str, str | None]:
    """What the PDF says about itself: PDF/A part and conformance, Factur-X level and file name.

    Metadata that is not a stream, loops back on itself or does not decompress is
    :class:`~schemas.errors.InvalidFormat`; over ``einvoice_attachment`` once decompressed,
    :class:`~schemas.errors.TooLarge`.
    """
    from lxml import etree
    from pypdf.generic import is_null_or_none

    doc_id = document_id or "pdf"
    out: dict[str, str | None] = {"pdfa_part": None, "pdfa_conformance": None, "fx_conformance": None,
                                  "fx_document_file_name": None, "fx_version": None, "fx_document_type": None}
    try:
        with _capped_decompression():
            catalog = _reader(pdf, doc_id).trailer["/Root"]
            meta = catalog["/Metadata"] if "/Metadata" in catalog else None
            if is_null_or_none(meta):
                return out
            raw = _stream_bytes(meta, "XMP metadata", doc_id)
    except RejectedDocument:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types (and RecursionError) on broken objects
        raise InvalidFormat(f"unreadable XMP metadata: {exc}", document_id=doc_id) from exc
    root = parse_bytes(raw[raw.find(b"<x:xmpmeta"):] if b"<x:xmpmeta" in raw else raw, document_id or "xmp")
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        q = etree.QName(el)
        key = {("http://www.aiim.org/pdfa/ns/id/", "part"): "pdfa_part",
               ("http://www.aiim.org/pdfa/ns/id/", "conformance"): "pdfa_conformance"}.get((q.namespace, q.localname))
        if q.namespace and q.namespace.startswith(("urn:factur-x", "urn:zugferd", "urn:ferd")):
            key = {"ConformanceLevel": "fx_conformance", "DocumentFileName": "fx_document_file_name",
                   "Version": "fx_version", "DocumentType": "fx_document_type"}.get(q.localname, key)
        if key and el.text:
            out[key] = el.text.strip()
        for attr, value in el.attrib.items():  # properties written as attributes (ZUGFeRD 2.0 does)
            aq = etree.QName(attr)
            if aq.localname in ("part", "conformance") and aq.namespace == "http://www.aiim.org/pdfa/ns/id/":
                out["pdfa_" + aq.localname] = value
            elif aq.namespace and aq.namespace.startswith(("urn:factur-x", "urn:zugferd", "urn:ferd")):
                key = {"ConformanceLevel": "fx_conformance", "DocumentFileName": "fx_document_file_name",
                       "Version": "fx_version", "DocumentType": "fx_document_type"}.get(aq.localname)
                if key:
                    out[key] = value.strip()
    return out


# --------------------------------------------------------------------------------------------
# writing


def _xmp(inv: Invoice, profile: str, created: dt.datetime, title: str, producer: str) -> str:
    from xml.sax.saxutils import escape  # here: it imports urllib.request, which every `o2c` command would load

    stamp = created.isoformat(timespec="seconds")
    e = escape
    return f"""<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
   <pdfaid:part>3</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{e(title)}</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>{e(inv.seller.name)}</rdf:li></rdf:Seq></dc:creator>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">Factur-X {e(CONFORMANCE[profile])} {e(title)}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdf:Producer>{e(producer)}</pdf:Producer>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
   <xmp:CreatorTool>o2c-hub</xmp:CreatorTool>
   <xmp:CreateDate>{stamp}</xmp:CreateDate>
   <xmp:ModifyDate>{stamp}</xmp:ModifyDate>
   <xmp:MetadataDate>{stamp}</xmp:MetadataDate>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:fx="{FX_NS}">
   <fx:DocumentType>INVOICE</fx:DocumentType>
   <fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>
   <fx:Version>1.0</fx:Version>
   <fx:ConformanceLevel>{CONFORMANCE[profile]}</fx:ConformanceLevel>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/"
    xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">
   <pdfaExtension:schemas>
    <rdf:Bag>
     <rdf:li rdf:parseType="Resource">
      <pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>
      <pdfaSchema:namespaceURI>{FX_NS}</pdfaSchema:namespaceURI>
      <pdfaSchema:prefix>fx</pdfaSchema:prefix>
      <pdfaSchema:property>
       <rdf:Seq>
{"".join(f'''        <rdf:li rdf:parseType="Resource">
         <pdfaProperty:name>{name}</pdfaProperty:name>
         <pdfaProperty:valueType>Text</pdfaProperty:valueType>
         <pdfaProperty:category>external</pdfaProperty:category>
         <pdfaProperty:description>{desc}</pdfaProperty:description>
        </rdf:li>
''' for name, desc in (("DocumentFileName", "name of the embedded XML invoice file"), ("DocumentType", "INVOICE"),
                      ("Version", "The actual version of the Factur-X XML schema"),
                      ("ConformanceLevel", "The conformance level of the embedded Factur-X data")))}       </rdf:Seq>
      </pdfaSchema:property>
     </rdf:li>
    </rdf:Bag>
   </pdfaExtension:schemas>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>"""


def _money(value: Decimal | None, currency: str) -> str:
    """French display: ``1 234,50 EUR``."""
    if value is None:
        return ""
    text = f"{quantize(value, currency):,.{min(minor_units(currency), 2)}f}".replace(",", "\u202f").replace(".", ",")
    return f"{text} {currency}"


def _num(value: Decimal | None, places: int = 0) -> str:
    """French display of a quantity or price, with at least ``places`` decimals."""
    if value is None:
        return ""
    text = format_number(value)
    if places:
        whole, _, frac = text.partition(".")
        text = f"{whole}.{frac.ljust(places, '0')}"
    return text.replace(".", ",")


def _date(value: dt.date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


# Characters of Western European invoices: ASCII, Latin-1, Latin Extended-A, typographic marks.
_COMMON_CHARS = frozenset(
    [chr(c) for c in range(0x20, 0x7F)] + [chr(c) for c in range(0xA0, 0x180)]
    + list("€–—‘’‚“”„…•·‰‹›\u202f\u2009\u2011\n")
)


@lru_cache(maxsize=1)
def _subset_fonts() -> tuple[Path, Path]:
    """DejaVu reduced to :data:`_COMMON_CHARS`, written once per process to a temporary folder.

    Parsing the full 750 KB fonts took about half of each PDF's rendering time; the reduced
    copies parse in a few milliseconds. fpdf2 still embeds only the glyphs a page uses.
    """
    import atexit
    import shutil
    import tempfile

    from fontTools import subset
    from fontTools.ttLib import TTFont

    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # "FFTM NOT subset" notices
    folder = Path(tempfile.mkdtemp(prefix="o2c-fonts-"))
    atexit.register(shutil.rmtree, folder, True)
    options = subset.Options()
    options.name_IDs = ["*"]
    options.notdef_outline = True
    out = []
    for src in (FONT_REGULAR, FONT_BOLD):
        font = TTFont(str(src), recalcTimestamp=False)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=[ord(c) for c in _COMMON_CHARS])
        subsetter.subset(font)
        font.save(str(folder / src.name))
        out.append(folder / src.name)
    return out[0], out[1]


def _font_files(inv: Invoice) -> tuple[Path, Path]:
    """The reduced fonts when they cover every character of ``inv``, else the full DejaVu."""
    from schemas.jsonio import to_json

    used = set(json.dumps(to_json(inv), ensure_ascii=False))
    if used <= _COMMON_CHARS:
        return _subset_fonts()
    return FONT_REGULAR, FONT_BOLD


_TYPE_TITLES = {"380": "FACTURE", "381": "AVOIR", "384": "FACTURE RECTIFICATIVE", "386": "FACTURE D'ACOMPTE",
                "389": "AUTOFACTURE", "261": "AVOIR", "383": "NOTE DE DÉBIT"}


def _layout(inv: Invoice, profile: str):  # type: ignore[no-untyped-def]
    """Draw the human-readable invoice with fpdf2 (A4, DejaVu Sans embedded)."""
    from fpdf import FPDF
    from fpdf.enums import OutputIntentSubType
    from fpdf.output import PDFICCProfile

    title = f"{_TYPE_TITLES.get(inv.type_code, 'FACTURE')} {inv.number}"
    pdf = FPDF(format="A4", unit="mm", enforce_compliance="PDF/A-3B")
    pdf.add_output_intent(
        OutputIntentSubType.PDFA,
        output_condition_identifier="sRGB IEC61966-2.1",
        output_condition="sRGB IEC61966-2.1",
        registry_name="http://www.color.org",
        dest_output_profile=PDFICCProfile(contents=SRGB_ICC.read_bytes(), n=3, alternate="DeviceRGB"),
        info="sRGB2014 (v2), International Color Consortium",
    )
    regular_font, bold_font = _font_files(inv)
    pdf.add_font("DejaVu", "", str(regular_font))
    pdf.add_font("DejaVu", "B", str(bold_font))
    pdf.set_title(title)
    pdf.set_author(inv.seller.name)
    pdf.set_creator("o2c-hub")
    pdf.set_lang("fr-FR")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=18)
    pdf.alias_nb_pages()

    def footer() -> None:
        pdf.set_y(-13)
        pdf.set_font("DejaVu", "", 7)
        pdf.set_text_color(90, 90, 90)
        pdf.cell(0, 4, f"{inv.number} — page {pdf.page_no()}/{{nb}} — Factur-X {CONFORMANCE[profile]} (factur-x.xml joint)", align="C")
        pdf.set_text_color(0, 0, 0)

    pdf.footer = footer  # type: ignore[method-assign]
    pdf.add_page()
    cur = inv.currency

    def party_block(x: float, y: float, heading: str, p) -> float:  # type: ignore[no-untyped-def]
        pdf.set_xy(x, y)
        pdf.set_font("DejaVu", "B", 8)
        pdf.set_text_color(90, 90, 90)
        pdf.cell(85, 4, heading, new_x="LEFT", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("DejaVu", "B", 10)
        pdf.multi_cell(85, 5, p.name, new_x="LEFT", new_y="NEXT")
        pdf.set_font("DejaVu", "", 8.5)
        a = p.address
        lines = []
        if a:
            lines += [s for s in (a.line1, a.line2, a.line3) if s]
            lines.append(" ".join(s for s in (a.postcode, a.city) if s) + (f" ({a.country})" if a.country else ""))
        if p.siren:
            lines.append(f"SIREN {p.siren}" + (f" — SIRET {p.siret}" if p.siret else ""))
        elif p.legal_registration:
            lines.append(f"Immatriculation {p.legal_registration.value}")
        if p.vat_id:
            lines.append(f"TVA intracommunautaire {p.vat_id}")
        if p.legal_info:
            lines.append(p.legal_info)
        if p.contact and (p.contact.email or p.contact.phone):
            lines.append(" — ".join(s for s in (p.contact.email, p.contact.phone) if s))
        for text in lines:
            pdf.multi_cell(85, 4, text, new_x="LEFT", new_y="NEXT")
        return pdf.get_y()

    # header: title and references
    pdf.set_font("DejaVu", "B", 16)
    pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8.5)
    refs = [f"Date d'émission : {_date(inv.issue_date)}"]
    if inv.due_date:
        refs.append(f"Échéance : {_date(inv.due_date)}")
    if inv.order_ref:
        refs.append(f"Commande : {inv.order_ref}")
    if inv.buyer_reference:
        refs.append(f"Référence acheteur : {inv.buyer_reference}")
    for ref in inv.preceding_invoices:
        refs.append(f"Facture d'origine : {ref.number} du {_date(ref.issue_date)}")
    if inv.operation_category:
        refs.append("Opération : " + {"goods": "livraison de biens", "services": "prestation de services",
                                       "both": "biens et services"}[inv.operation_category])
    if inv.vat_on_debits:
        refs.append("Option pour le paiement de la TVA d'après les débits")
    pdf.multi_cell(0, 4, "   ·   ".join(refs), new_x="LMARGIN", new_y="NEXT")
    y = pdf.get_y() + 4
    end1 = party_block(15, y, "VENDEUR", inv.seller)
    end2 = party_block(110, y, "CLIENT", inv.buyer)
    y = max(end1, end2) + 3
    if inv.delivery and (inv.delivery.address or inv.delivery.date):
        pdf.set_xy(15, y)
        d = inv.delivery
        addr = ", ".join(s for s in ((d.party_name,) + ((d.address.line1, d.address.postcode, d.address.city) if d.address else ())) if s)
        pdf.set_font("DejaVu", "", 8)
        pdf.multi_cell(0, 4, f"Livraison{(' le ' + _date(d.date)) if d.date else ''}{(' : ' + addr) if addr else ''}",
                       new_x="LMARGIN", new_y="NEXT")
        y = pdf.get_y() + 2
    pdf.set_xy(15, y + 2)

    # lines
    widths = (78, 18, 12, 24, 14, 34)
    heads = ("Désignation", "Quantité", "Unité", "Prix unit. HT", "TVA", "Montant HT")
    if inv.lines:
        def table_head() -> None:
            pdf.set_font("DejaVu", "B", 8)
            pdf.set_fill_color(230, 234, 240)
            for w, h in zip(widths, heads, strict=True):
                pdf.cell(w, 6, h, border=0, fill=True, align="L" if h == "Désignation" else "R")
            pdf.ln(6)
            pdf.set_font("DejaVu", "", 8)

        table_head()
        for ln in inv.lines:
            text = ln.item_name + (f"\n{ln.description}" if ln.description else "")
            for a in ln.allowances_charges:
                text += f"\n{'Majoration' if a.is_charge else 'Remise'} : {a.reason or a.reason_code or ''} {_money(a.amount, cur)}"
            if ln.gross_price is not None and ln.price_discount:
                text += f"\nPrix brut {_num(ln.gross_price, 2)}, remise {_num(ln.price_discount, 2)}"
            n_lines = len(pdf.multi_cell(widths[0], 4, text, dry_run=True, output="LINES"))  # type: ignore[arg-type]
            h = max(5.0, 4.0 * n_lines + 1)
            if pdf.get_y() + h > pdf.h - 20:
                pdf.add_page()
                table_head()
            x0, y0 = pdf.get_x(), pdf.get_y()
            pdf.multi_cell(widths[0], 4, text, new_x="RIGHT", new_y="TOP")
            pdf.set_xy(x0 + widths[0], y0)
            rate = "" if ln.vat_rate is None else f"{_num(ln.vat_rate)} %"
            if ln.vat_category not in ("S", ""):
                rate = f"{ln.vat_category} {rate}".strip()
            for w, value in zip(widths[1:], (_num(ln.quantity), ln.unit_code, _num(ln.net_price, 2), rate, _money(ln.net_amount, cur)),
                                strict=True):
                pdf.cell(w, 4, value, align="R")
            pdf.set_xy(15, y0 + h)
            pdf.set_draw_color(220, 220, 220)
            pdf.line(15, y0 + h - 0.5, 195, y0 + h - 0.5)
    else:
        pdf.set_font("DejaVu", "", 8.5)
        pdf.multi_cell(0, 5, f"Profil Factur-X {CONFORMANCE[profile]} : le détail des lignes n'est pas transmis sous forme structurée.",
                       new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    # document allowances/charges and VAT breakdown
    pdf.set_font("DejaVu", "", 8)
    for a in inv.allowances_charges:
        pdf.cell(146, 4.5, f"{'Majoration' if a.is_charge else 'Remise'} sur le document : {a.reason or a.reason_code or ''}"
                 f" (TVA {a.vat_category or ''} {_num(a.vat_rate)} %)", align="R")
        pdf.cell(34, 4.5, _money(a.amount if a.is_charge else -a.amount, cur), align="R", new_x="LMARGIN", new_y="NEXT")
    if inv.vat_breakdown:
        if pdf.get_y() > pdf.h - 70:
            pdf.add_page()
        pdf.ln(1)
        pdf.set_font("DejaVu", "B", 8)
        pdf.set_fill_color(230, 234, 240)
        for w, head in zip((90, 20, 35, 35), ("TVA", "Taux", "Base HT", "Montant TVA"), strict=True):
            pdf.cell(w, 5, head, fill=True, align="L" if head == "TVA" else "R")
        pdf.ln(5)
        pdf.set_font("DejaVu", "", 8)
        for v in inv.vat_breakdown:
            label = {"S": "Taux normal/réduit", "Z": "Taux zéro", "E": "Exonérée", "AE": "Autoliquidation", "K": "Intracommunautaire",
                     "G": "Exportation", "O": "Hors champ"}.get(v.category, v.category)
            reason = v.exemption_reason or v.exemption_reason_code
            if reason and reason != label:
                label += f" — {reason}"
            while pdf.get_string_width(label) > 88:
                label = label[:-2] + "…"
            pdf.cell(90, 4.5, label)
            pdf.cell(20, 4.5, "" if v.rate is None else f"{_num(v.rate)} %", align="R")
            pdf.cell(35, 4.5, _money(v.taxable_amount, cur), align="R")
            pdf.cell(35, 4.5, _money(v.tax_amount, cur), align="R", new_x="LMARGIN", new_y="NEXT")

    # totals
    t = inv.totals
    pdf.ln(2)
    rows: list[tuple[str, Decimal]] = []
    if "BT-106" not in inv.inferred_terms:
        rows.append(("Total HT des lignes", t.line_total))
    if t.allowance_total:
        rows.append(("Remises", -t.allowance_total))
    if t.charge_total:
        rows.append(("Majorations", t.charge_total))
    rows += [("Total HT", t.tax_exclusive), ("Total TVA", t.tax_total or Decimal(0)), ("Total TTC", t.tax_inclusive)]
    if t.prepaid:
        rows.append(("Acompte versé", -t.prepaid))
    if t.rounding:
        rows.append(("Arrondi", t.rounding))
    rows.append(("NET À PAYER", t.payable))
    if pdf.get_y() + 5 * len(rows) > pdf.h - 20:
        pdf.add_page()
    for caption, total in rows:
        bold = caption in ("Total TTC", "NET À PAYER")
        pdf.set_font("DejaVu", "B" if bold else "", 9 if bold else 8.5)
        pdf.cell(146, 5, caption, align="R")
        pdf.cell(34, 5, _money(total, cur), align="R", new_x="LMARGIN", new_y="NEXT")
    if inv.tax_currency and t.tax_total_accounting is not None:
        pdf.set_font("DejaVu", "", 8)
        pdf.cell(146, 4.5, f"Total TVA en {inv.tax_currency}", align="R")
        pdf.cell(34, 4.5, _money(t.tax_total_accounting, inv.tax_currency), align="R", new_x="LMARGIN", new_y="NEXT")

    # payment and legal mentions
    pdf.ln(3)
    pdf.set_font("DejaVu", "", 8)
    pay = inv.payment
    texts = []
    if inv.payment_terms:
        texts.append(f"Conditions de paiement : {inv.payment_terms}")
    if pay and pay.iban:
        texts.append(f"Virement : IBAN {pay.iban}" + (f" — BIC {pay.bic}" if pay.bic else "")
                     + (f" — référence {pay.remittance_info}" if pay.remittance_info else ""))
    texts += [n.text for n in inv.notes]
    for text in texts:
        pdf.multi_cell(0, 4, text, new_x="LMARGIN", new_y="NEXT")
    return pdf, title


def render_pdf(inv: Invoice, profile: str = "en16931", *, xml: bytes | None = None) -> bytes:
    """A Factur-X PDF/A-3B of ``inv``: a readable page drawn here, the CII XML of ``profile`` embedded.

    ``xml`` lets a caller embed XML it already rendered (and validated) with
    :func:`edi.cii.render`; by default it is rendered here.
    """
    import datetime as _dt

    profile = normalize_profile(profile)
    xml = xml if xml is not None else cii.render(inv, profile)
    pdf, title = _layout(inv, profile)
    created = _dt.datetime.combine(inv.issue_date, _dt.time(0, 0), tzinfo=_dt.UTC)
    producer = "o2c-hub (fpdf2)"
    pdf.set_producer(producer)
    pdf.set_creation_date(created)
    pdf.set_xmp_metadata(_xmp(inv, profile, created, title, producer))
    relationship = "Data" if profile in ("minimum", "basicwl") else "Alternative"
    pdf.embed_file(bytes=xml, basename="factur-x.xml", mime_type="text/xml", desc="Factur-X invoice",
                   associated_file_relationship=relationship, creation_date=created, modification_date=created,
                   compress=True)
    return bytes(pdf.output())
