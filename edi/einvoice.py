"""E-invoices, whatever the format: detect, parse, render, validate.

The one entry point for e-invoices, as :mod:`edi.bank` is for bank statements: callers (the CLI,
the outbound DAG, the bench) use these four functions and never pick a format module themselves.

Reading (:func:`detect`, :func:`parse`, :func:`validate`) takes the bytes of a document:

- UN/CEFACT CII D16B, any Factur-X / ZUGFeRD 2.x profile or CIUS such as XRechnung CII
  (:mod:`edi.cii`), and ZUGFeRD 1.0 (:mod:`edi.cii`, which renames it onto D16B);
- OASIS UBL 2.1 Invoice and CreditNote: EN 16931, Peppol BIS 3, XRechnung UBL (:mod:`edi.ubl`);
- either of them embedded in a Factur-X / ZUGFeRD / XRechnung PDF (:mod:`edi.facturx`), told by
  its ``%PDF-`` header; the syntax is told by the XML's root element.

Writing (:func:`render`) takes a canonical invoice and a format of :data:`FORMATS`, the
registry: ``facturx-<profile>`` (a Factur-X PDF/A-3 around the CII XML of that profile),
``facturx-extended-ctc-fr`` (the French EXTENDED-CTC-FR CII XML, :mod:`edi.ctcfr`), ``cii``
(EN 16931 CII XML) and ``ubl`` (UBL 2.1 XML). These names are the ``format`` values of
``einvoicing.yaml`` and of ``o2c einvoice render --format``.

Validation runs the official artefacts (:mod:`edi.validation`, which imports no format module:
this module extracts the XML, tells the syntax and profile, and hands it the reader to run).

>>> from edi.samples import sample_invoice
>>> inv = sample_invoice(2)
>>> xml = render(inv, "ubl", check=False)
>>> detect(xml)
Detected(container='xml', syntax='ubl', guideline='urn:cen.eu:en16931:2017', profile='en16931')
>>> parse(xml) == inv
True
>>> FORMATS["facturx-basic"].extension, FORMATS["facturx-extended-ctc-fr"].extension
('pdf', 'xml')
>>> detect(b"<?xml version='1.0'?><Order/>", document_id="po.xml")
Traceback (most recent call last):
...
schemas.errors.InvalidFormat: po.xml: not an e-invoice this hub reads (root element Order)
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from lxml import etree

from edi import cii, ctcfr, limits, ubl, validation
from edi import facturx as fx
from edi.en16931 import PROFILE_ORDER, UnknownProfile, guideline_profile
from edi.validation import Finding, InvoiceRejected, ValidationResult
from edi.xmlsafe import parse_bytes
from schemas.errors import InvalidFormat, RejectedDocument
from schemas.invoice import Invoice

__all__ = ["FORMATS", "Format", "Detected", "detect", "parse", "render", "validate", "Finding", "InvoiceRejected",
           "ValidationResult", "UnknownProfile"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Format:
    """An e-invoice format the hub writes: how its XML is made, how it is checked and sent."""

    name: str
    render_xml: Callable[[Invoice], bytes]  # the format module's writer
    facturx: bool | None  # the ``facturx`` argument the XML is validated with (see :func:`validate`)
    pdf_profile: str | None = None  # the Factur-X profile of the PDF/A-3 around the XML; None: sent as XML

    @property
    def extension(self) -> str:
        """``pdf`` for a Factur-X PDF, ``xml`` for the formats delivered as XML."""
        return "pdf" if self.pdf_profile else "xml"


#: format name -> :class:`Format`, in the order the CLI lists them
FORMATS: dict[str, Format] = {f.name: f for f in (
    *(Format(f"facturx-{p}", partial(cii.render, profile=p), facturx=True, pdf_profile=p) for p in PROFILE_ORDER),
    Format("facturx-extended-ctc-fr", ctcfr.render, facturx=None),  # its own artefacts, chosen by its BT-24
    Format("cii", partial(cii.render, profile="en16931"), facturx=False),
    Format("ubl", ubl.render, facturx=False),
)}


@dataclass(frozen=True, slots=True)
class Detected:
    """What a document is: where its XML is, in which syntax, and whose rules apply."""

    container: str  # "pdf" (the XML embedded in a Factur-X / ZUGFeRD / XRechnung PDF) or "xml"
    syntax: str  # "cii", "zugferd1" or "ubl"
    guideline: str | None  # BT-24 as written
    profile: str | None  # "minimum" ... "extended", "zugferd1"; "en16931" for UBL


# root element -> syntax
_ROOTS = {
    f"{{{cii.RSM}}}CrossIndustryInvoice": "cii",
    f"{{{cii.ZF1_RSM}}}CrossIndustryDocument": "zugferd1",
    f"{{{ubl.INV}}}Invoice": "ubl",
    f"{{{ubl.CRN}}}CreditNote": "ubl",
}


def _is_pdf(data: object) -> bool:
    return isinstance(data, (bytes, bytearray)) and data.lstrip()[:5] == b"%PDF-"


def _tell(root: etree._Element, document_id: str) -> tuple[str, str | None, str | None]:
    """``(syntax, guideline, profile)`` of a parsed e-invoice; raise on anything else."""
    syntax = _ROOTS.get(root.tag)
    if syntax == "cii":
        guideline = cii.guideline_of(root)
        profile = guideline_profile(guideline)
        if profile == "zugferd1":
            # CEN's own D16B examples carry ZUGFeRD 1.0 COMFORT ids: D16B syntax, EN 16931 rules
            profile = "en16931"
        if profile is None:
            raise UnknownProfile(f"unknown or mismatched guideline id (BT-24) {guideline!r} for CII D16B",
                                 document_id=document_id, field="BT-24")
        return "cii", guideline, profile
    if syntax == "zugferd1":
        guideline = cii.guideline_of(root)
        if guideline_profile(guideline) != "zugferd1":
            raise UnknownProfile(f"unknown ZUGFeRD 1.0 guideline id {guideline!r}", document_id=document_id, field="BT-24")
        return "zugferd1", guideline, "zugferd1"
    if syntax == "ubl":
        guideline = root.findtext(f"{{{ubl.CBC}}}CustomizationID")
        guideline = guideline.strip() if guideline else None
        if ubl.customization_profile(guideline) is None:
            raise UnknownProfile(f"unknown UBL CustomizationID (BT-24) {guideline!r}", document_id=document_id, field="BT-24")
        return "ubl", guideline, "en16931"
    raise InvalidFormat(f"not an e-invoice this hub reads (root element {root.tag})", document_id=document_id)


def detect(data: bytes, *, document_id: str = "") -> Detected:
    """Container, syntax, guideline id (BT-24) and profile of an e-invoice.

    Raises :class:`~schemas.errors.InvalidFormat` for a document that is no e-invoice this hub
    reads, :class:`UnknownProfile` for a guideline id outside EN 16931, Factur-X and ZUGFeRD,
    :class:`edi.facturx.NoEmbeddedInvoice` for a PDF without invoice XML and
    :class:`~schemas.errors.TooLarge` over the ``einvoice`` limits (:mod:`edi.limits`).
    """
    doc_id = document_id or "einvoice"
    if isinstance(data, (bytes, bytearray)):
        limits.check_size("einvoice", len(data), document_id=doc_id)
    container = "xml"
    if _is_pdf(data):
        container = "pdf"
        _name, data = fx.extract_xml(bytes(data), document_id=doc_id)
    return Detected(container, *_tell(parse_bytes(data, doc_id), doc_id))


_DECLARATION = re.compile(rb"^(\xef\xbb\xbf)?\s*<\?xml[^>]*\?>")


def _drop_bad_declaration(xml: bytes) -> bytes | None:
    """The XML without its declaration when that declaration names an unknown encoding.

    Seen in a real producer's file: ``encoding="UTF-8-W/O-BOM"``. Validation still reports
    such a file as malformed; reading it is lenient so its data can be quarantined or used.
    """
    if not isinstance(xml, (bytes, bytearray)):
        return None
    m = _DECLARATION.match(xml)
    if m is None or b"encoding" not in m.group(0):
        return None
    try:
        xml[m.end():].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return xml[m.end():]


def parse(data: bytes, *, document_id: str = "") -> Invoice:
    """The canonical invoice of an e-invoice: CII D16B / ZUGFeRD 1.0 or UBL 2.1 XML (told by its
    root element), or a Factur-X / ZUGFeRD / XRechnung PDF carrying one.

    Raises what the readers raise (:func:`edi.cii.parse`, :func:`edi.ubl.parse`,
    :func:`edi.facturx.extract_xml`): :class:`~schemas.errors.InvalidFormat`,
    :class:`UnknownProfile`, :class:`edi.facturx.NoEmbeddedInvoice`,
    :class:`~schemas.errors.TooLarge`, all :class:`~schemas.errors.RejectedDocument`.
    """
    if _is_pdf(data):
        _name, data = fx.extract_xml(data, document_id=document_id)
    if isinstance(data, (bytes, bytearray)):
        limits.check_size("einvoice", len(data), document_id=document_id or "einvoice")
    try:
        root = parse_bytes(data, document_id or "einvoice")
    except InvalidFormat:
        repaired = _drop_bad_declaration(data)
        if repaired is None:
            raise
        log.warning("%s: XML declaration unreadable (%r); read as UTF-8 without it", document_id, data[:60])
        root = parse_bytes(repaired, document_id or "einvoice")
    if _ROOTS.get(root.tag) == "ubl":
        return ubl.parse_tree(root, document_id=document_id)
    return cii.parse_tree(root, document_id=document_id)


def _reader(syntax: str, document_id: str) -> Callable[[etree._Element], Invoice]:
    """The hub's own reader of ``syntax``, which :func:`edi.validation.check` runs first: what
    :func:`parse` refuses (an issue date of 30 February, an amount ``1E+999999999``) is an
    ``O2C-PARSE`` finding, never VALID."""
    if syntax == "ubl":
        return partial(ubl.parse_tree, document_id=document_id)
    if syntax == "zugferd1":  # the ZUGFeRD 1.0 reader renames the tree in place: give it a copy
        return lambda root: cii.parse_tree(copy.deepcopy(root), document_id=document_id)
    return partial(cii.parse_tree, document_id=document_id)


def validate(data: bytes, *, document_id: str = "", schematrons: bool = True, facturx: bool | None = None) -> ValidationResult:
    """Validate one e-invoice (CII / ZUGFeRD 1.0 / UBL XML, or a Factur-X PDF) and report.

    The hub's own reader, then XSD, the EN 16931 schematron and the Factur-X profile rules (see
    :mod:`edi.validation`). Never raises for a *valid but non-conforming* document: findings go
    into the result (see :meth:`ValidationResult.raise_for_errors`). Raises
    :class:`~schemas.errors.InvalidFormat` (malformed or hostile XML, DOCTYPE),
    :class:`UnknownProfile` (guideline id unknown), :class:`edi.facturx.NoEmbeddedInvoice` (a PDF
    without invoice XML) and :class:`~schemas.errors.TooLarge` (over the ``einvoice`` /
    ``einvoice_attachment`` limits of :mod:`edi.limits`): documents that cannot be validated at
    all. What the hub's reader refuses (``O2C-PARSE``), a schematron Saxon cannot evaluate
    (``SCHEMATRON-STOPPED``) and unreadable XMP metadata (``FX-PDF-XMP``) are findings.

    ``facturx``: apply the Factur-X profile XSD and schematron. By default they apply to a PDF
    and to the Factur-X guideline ids; plain ``urn:cen.eu:en16931:2017`` is shared by pure
    EN 16931 CII (CEN rules only: the Factur-X EN16931 XSD rejects e.g. CEN's own example 5
    for an AdditionalReferencedDocument variant it does not use) and Factur-X EN 16931.
    """
    doc_id = document_id or "einvoice"
    pdf_conformance = None
    xmp_error = None
    if isinstance(data, (bytes, bytearray)):
        limits.check_size("einvoice", len(data), document_id=doc_id)
    if _is_pdf(data):
        pdf = bytes(data)
        _name, data = fx.extract_xml(pdf, document_id=doc_id)
        facturx = True if facturx is None else facturx
        try:
            pdf_conformance = fx.pdf_metadata(pdf, document_id=doc_id).get("fx_conformance") or ""
        except RejectedDocument as exc:  # broken XMP: the invoice XML can still be checked
            pdf_conformance, xmp_error = "", exc.reason
    root = parse_bytes(data, doc_id)
    syntax, guideline, profile = _tell(root, doc_id)
    result = ValidationResult(syntax=syntax, guideline=guideline, profile=profile, document_id=doc_id)
    return validation.check(root, result, read=_reader(syntax, doc_id), pdf_conformance=pdf_conformance,
                            xmp_error=xmp_error, schematrons=schematrons, facturx=facturx)


def render(inv: Invoice, fmt: str = "facturx-en16931", *, check: bool = True) -> bytes:
    """The bytes to deliver for ``inv`` in ``fmt`` (a name of :data:`FORMATS`).

    ``facturx-*`` gives a Factur-X PDF/A-3 whose embedded XML was validated (XSD + CEN +
    Factur-X profile rules); ``facturx-extended-ctc-fr`` the French EXTENDED-CTC-FR CII XML (not
    a PDF: see :mod:`edi.ctcfr`); ``cii`` EN 16931 CII XML; ``ubl`` UBL 2.1 XML. With ``check``
    (the default) the XML is validated first and :class:`InvoiceRejected` (a
    :class:`~schemas.errors.RejectedDocument`) is raised with every finding when it is not
    valid: the one call an outbound DAG task needs. An unknown ``fmt`` is :class:`UnknownProfile`.
    """
    spec = FORMATS.get(fmt)
    if spec is None:
        raise UnknownProfile(f"unknown e-invoice format {fmt!r}; expected one of {', '.join(FORMATS)}",
                             document_id=inv.record_id)
    xml = spec.render_xml(inv)
    if check:
        validate(xml, document_id=inv.record_id, facturx=spec.facturx).raise_for_errors()
    if spec.pdf_profile:
        return fx.render_pdf(inv, spec.pdf_profile, xml=xml)
    return xml
