"""E-invoice validation: XSD, the official CEN EN 16931 schematron and the Factur-X profile rules.

Pipeline for one document (CII D16B, ZUGFeRD 1.0, UBL 2.1 Invoice/CreditNote, or a Factur-X
PDF, whose embedded XML is extracted first):

1. the syntax is told from the root element's namespace, and the hub's own reader
   (:mod:`edi.cii`, :mod:`edi.ubl`) reads the document: what it refuses (an impossible date, an
   amount such as ``1E+999999999``) is an ``O2C-PARSE`` error, so ``validate`` and ``parse`` agree;
2. XSD (lxml): the Factur-X profile XSD chosen from the guideline id (BT-24), else the CEN
   D16B *uncoupled* subset, the ZUGFeRD 1.0 XSD, or OASIS UBL 2.1;
3. the CEN/TC 434 EN 16931 schematron (XSLT 2.0, run by SaxonC-HE through ``saxonche``) for
   documents that claim EN 16931 (not Factur-X MINIMUM / BASIC WL, which are not EN 16931);
4. the Factur-X schematron of the declared profile (Factur-X 1.0.9 artefacts).

The French EXTENDED-CTC-FR guideline (:data:`edi.cii.CTC_FR_GUIDELINE`) has its own branch: the
UN/CEFACT CII D22B XSD, the EXTENDED-CTC-FR schematron (which carries the EN 16931 and
Factur-X EXTENDED rules itself) and the French BR-FR Flux 2 schematron (see :mod:`edi.ctcfr`).

Each stylesheet is compiled once per process and kept (``_Schematron.get``). A schematron that
fires fewer than :data:`MIN_FIRED_RULES` rules did not really look at the document (wrong
namespace, e.g. ZUGFeRD 1.0 ``CrossIndustryDocument``): that is reported as an error, never as
"0 errors". A schematron Saxon stops with a dynamic error (a value it cannot convert, a term
given twice) is a ``SCHEMATRON-STOPPED`` error, not an exception. Errors (flag
``fatal``/``error`` and XSD errors) and warnings are kept apart.

Artefacts live in ``edi/artefacts/<name>/`` with a README giving origin, commit and licence.

>>> from edi.samples import sample_invoice
>>> from edi import cii
>>> result = validate(cii.render(sample_invoice(1), "en16931"), facturx=True)
>>> result.valid, result.errors
(True, [])
>>> sorted(result.fired_rules)
['en16931-cii', 'facturx-en16931']
"""

from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from lxml import etree

from edi import cii, limits
from edi.xmlsafe import make_parser, parse_bytes
from schemas.errors import InvalidFormat, Issue, RejectedDocument
from schemas.invoice import Invoice

ARTEFACTS_DIR = Path(__file__).with_name("artefacts")
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"

# A schematron that fires fewer rules than this on an invoice did not apply to it.
MIN_FIRED_RULES = 5

# name -> (files relative to ARTEFACTS_DIR, version recorded in every result)
ARTEFACTS: dict[str, tuple[str, str]] = {
    "en16931-cii": ("en16931-cii/EN16931-CII-validation.xslt", "CEN/TC 434 EN 16931 CII schematron 1.3.16"),
    "en16931-ubl": ("en16931-ubl/EN16931-UBL-validation.xslt", "CEN/TC 434 EN 16931 UBL schematron 1.3.16"),
    "xsd-cii-d16b": ("en16931-cii/xsd/CrossIndustryInvoice_100pD16B.xsd", "UN/CEFACT CII D16B (CEN uncoupled subset)"),
    "xsd-ubl-invoice": ("en16931-ubl/xsd/maindoc/UBL-Invoice-2.1.xsd", "OASIS UBL 2.1 Invoice"),
    "xsd-ubl-creditnote": ("en16931-ubl/xsd/maindoc/UBL-CreditNote-2.1.xsd", "OASIS UBL 2.1 CreditNote"),
    "xsd-zugferd1": ("zugferd-1.0/ZUGFeRD1p0.xsd", "ZUGFeRD 1.0"),
    **{
        f"xsd-facturx-{p}": (f"facturx-{p}/Factur-X_{d}.xsd", f"Factur-X 1.0.9 {d} XSD")
        for p, d in (("minimum", "MINIMUM"), ("basicwl", "BASICWL"), ("basic", "BASIC"), ("en16931", "EN16931"), ("extended", "EXTENDED"))
    },
    **{
        f"facturx-{p}": (f"facturx-{p}/Factur-X_1.09_{d}.xsl", f"Factur-X 1.0.9 {d} schematron")
        for p, d in (("minimum", "MINIMUM"), ("basicwl", "BASICWL"), ("basic", "BASIC"), ("en16931", "EN16931"), ("extended", "EXTENDED"))
    },
    # French EXTENDED-CTC-FR (FNFE France_RFE artefacts via akretion/factur-x, see the README there)
    "xsd-cii-d22b-ctcfr": ("extended-ctc-fr/CrossIndustryInvoice_100pD22B.xsd", "UN/CEFACT CII D22B (EXTENDED-CTC-FR)"),
    "extended-ctc-fr": ("extended-ctc-fr/EXTENDED-CTC-FR-CII.xslt", "FNFE EXTENDED-CTC-FR CII schematron (akretion/factur-x 5edb9af)"),
    "br-fr-flux2-cii": ("extended-ctc-fr/BR-FR-Flux2-Schematron-CII.xslt", "FNFE BR-FR Flux 2 CII schematron (akretion/factur-x 5edb9af)"),
}

# BT-24 -> (XSD, schematrons) for guideline ids validated by their own artefacts, not a Factur-X profile's
OWN_ARTEFACTS: dict[str, tuple[str, tuple[str, ...]]] = {
    cii.CTC_FR_GUIDELINE: ("xsd-cii-d22b-ctcfr", ("extended-ctc-fr", "br-fr-flux2-cii")),
}

_RULE_IN_TEXT = re.compile(r"^\s*\[([A-Za-z0-9-]+)\]\s*-?\s*")


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed check: the rule, what it says, where (XPath) and how bad (its flag)."""

    rule: str  # e.g. "BR-CO-10", "CII-SR-005", "XSD"
    message: str
    location: str  # XPath in the document (line number for XSD findings)
    flag: str  # "fatal", "error" or "warning"
    source: str  # the artefact: "xsd-cii-d16b", "en16931-cii", "facturx-basic"...
    assert_id: str | None = None  # the schematron assert's own id when it differs from ``rule``

    def __str__(self) -> str:
        return f"[{self.rule}] {self.flag} at {self.location}: {self.message} ({self.source})"


@dataclass(slots=True)
class ValidationResult:
    """What one validation run found, and with which artefacts."""

    syntax: str  # "cii", "zugferd1" or "ubl"
    guideline: str | None  # BT-24 as written
    profile: str | None  # "minimum" ... "extended", "zugferd1"; "en16931" for UBL
    document_id: str = ""
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    fired_rules: dict[str, int] = field(default_factory=dict)  # schematron -> fired-rule count
    artefacts: dict[str, str] = field(default_factory=dict)  # artefact -> version used

    @property
    def valid(self) -> bool:
        return not self.errors

    def add(self, finding: Finding) -> None:
        (self.warnings if finding.flag == "warning" else self.errors).append(finding)

    def issues(self) -> list[Issue]:
        """The findings as :class:`~schemas.errors.Issue` (term = rule id) for reject reports."""
        return [
            Issue(self.document_id, f.rule, f"{f.message} at {f.location}", None, "warning" if f.flag == "warning" else "error")
            for f in self.errors + self.warnings
        ]

    def raise_for_errors(self) -> ValidationResult:
        """Raise :class:`InvoiceRejected` when there are errors; return ``self`` otherwise."""
        if self.errors:
            raise InvoiceRejected(self)
        return self

    def report(self) -> str:
        """A plain-text report: verdict, artefacts, then errors and warnings."""
        lines = [
            f"{self.document_id or 'document'}: {'VALID' if self.valid else 'INVALID'} "
            f"({self.syntax}, profile {self.profile}, guideline {self.guideline})",
            f"  {len(self.errors)} error(s), {len(self.warnings)} warning(s); fired rules: "
            + ", ".join(f"{k} {v}" for k, v in self.fired_rules.items()),
        ]
        lines += [f"  artefact {k}: {v}" for k, v in self.artefacts.items()]
        lines += [f"  ERROR {f}" for f in self.errors]
        lines += [f"  warning {f}" for f in self.warnings]
        return "\n".join(lines)


class InvoiceRejected(RejectedDocument):
    """The e-invoice failed XSD or schematron validation; ``result`` holds every finding."""

    def __init__(self, result: ValidationResult) -> None:
        # the CEN and the Factur-X schematrons often fail the same rule: name each rule once
        by_rule: dict[str, str] = {}
        for f in result.errors:
            by_rule.setdefault(f.rule, _RULE_IN_TEXT.sub("", f.message))
        first = "; ".join(f"[{rule}] {message}" for rule, message in list(by_rule.items())[:3])
        more = f"; and {len(by_rule) - 3} more rule(s)" if len(by_rule) > 3 else ""
        super().__init__(f"{len(result.errors)} validation error(s) on {len(by_rule)} rule(s): {first}{more}",
                         document_id=result.document_id, issues=result.issues())
        self.result = result


# --------------------------------------------------------------------------------------------
# artefact loading (once per process)


def _path(name: str) -> Path:
    return ARTEFACTS_DIR / ARTEFACTS[name][0]


@cache
def xml_schema(name: str) -> etree.XMLSchema:
    """The compiled XSD ``name`` (a key of :data:`ARTEFACTS`), loaded from local files only."""
    doc = etree.parse(str(_path(name)), parser=make_parser())
    return etree.XMLSchema(doc)


class _Schematron:
    """A compiled XSLT 2.0 schematron; SaxonC is not thread-safe per executable, so lock."""

    _proc = None
    _cache: dict[str, _Schematron] = {}
    _lock = threading.Lock()

    def __init__(self, name: str) -> None:
        from saxonche import PySaxonProcessor

        if _Schematron._proc is None:
            _Schematron._proc = PySaxonProcessor(license=False)
        self.name = name
        self.proc = _Schematron._proc
        self.exe = self.proc.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(_path(name)))
        self.lock = threading.Lock()

    @classmethod
    def get(cls, name: str) -> _Schematron:
        with cls._lock:
            sch = cls._cache.get(name)
            if sch is None:
                sch = cls._cache[name] = cls(name)
            return sch

    def run(self, xml: str) -> etree._Element:
        """The SVRL report; :class:`SchematronStopped` when Saxon raises a dynamic error."""
        from saxonche import PySaxonApiError

        with self.lock:
            try:
                node = self.proc.parse_xml(xml_text=xml)
                out = self.exe.transform_to_string(xdm_node=node)
            except PySaxonApiError as exc:
                raise SchematronStopped(" ".join(str(exc).split())) from None
        return etree.fromstring(out.encode("utf-8"), parser=_SVRL_PARSER)


class SchematronStopped(Exception):
    """Saxon stopped the schematron with a dynamic error: a value the rules cannot evaluate
    (``27.0-`` read as ``xs:decimal``, two BT-2 where the rules expect one). The document is
    not well-formed for EN 16931; :func:`schematron` reports it as a finding."""


# SVRL is our own stylesheet's output (trusted) and can be large: no size limit, still no network.
_SVRL_PARSER = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True, load_dtd=False)


def _unnamed_rule(test: str, text: str) -> str:
    """A stable id for the Factur-X asserts that have none (code lists, unused elements)."""
    if "document(" in test:
        return "FX-CODELIST"
    if "not used in the given context" in text:
        return "FX-NOT-USED"
    return "FX-SCH"


def schematron(name: str, xml: str | etree._Element, result: ValidationResult) -> None:
    """Run schematron ``name`` over ``xml`` (text, or a tree already parsed safely) and add its
    findings and fired-rule count to ``result``."""
    if not isinstance(xml, str):
        xml = etree.tostring(xml, encoding="unicode")  # whatever the input's encoding or BOM
    try:
        svrl = _Schematron.get(name).run(xml)
    except SchematronStopped as exc:
        # The XSD (run first) usually names the culprit too; the schematron's verdict is "none".
        result.artefacts[name] = ARTEFACTS[name][1]
        result.fired_rules[name] = 0
        result.add(Finding("SCHEMATRON-STOPPED", f"the schematron could not evaluate the document: {exc}", "/", "fatal", name))
        return
    fired = len(svrl.findall(f".//{SVRL}fired-rule"))
    result.fired_rules[name] = fired
    result.artefacts[name] = ARTEFACTS[name][1]
    if fired < MIN_FIRED_RULES:
        result.add(Finding("SCHEMATRON-NOT-APPLIED", f"only {fired} rule(s) fired: the document is not what this "
                           "schematron checks (root namespace or syntax), so its silence proves nothing", "/", "fatal", name))
    for fa in svrl.iter(f"{SVRL}failed-assert", f"{SVRL}successful-report"):
        text = " ".join((fa.findtext(f"{SVRL}text") or "").split())
        assert_id = fa.get("id") or ""
        m = _RULE_IN_TEXT.match(text)
        rule = m.group(1) if m else assert_id or _unnamed_rule(fa.get("test") or "", text)
        if m and rule == assert_id:
            text = text[m.end():]
        flag = (fa.get("flag") or "fatal").lower()
        if flag not in ("warning", "information"):
            flag = "fatal" if flag == "fatal" else "error"
        else:
            flag = "warning"
        result.add(Finding(rule, text, fa.get("location") or "", flag, name, assert_id if assert_id != rule else None))


def xsd(name: str, tree: etree._Element, result: ValidationResult) -> None:
    schema = xml_schema(name)
    result.artefacts[name] = ARTEFACTS[name][1]
    if schema.validate(tree):
        return
    for err in schema.error_log:
        where = f"{err.path} (line {err.line})" if getattr(err, "path", None) else f"line {err.line}"
        result.add(Finding("XSD", err.message, where, "fatal", name))


# --------------------------------------------------------------------------------------------


def detect(root: etree._Element, document_id: str = "") -> tuple[str, str | None, str | None]:
    """``(syntax, guideline, profile)`` of a parsed e-invoice; raise on anything else."""
    tag = root.tag
    if tag == f"{{{cii.RSM}}}CrossIndustryInvoice":
        guideline = cii._text(root, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID")
        profile = cii.guideline_profile(guideline)
        if profile == "zugferd1":
            # CEN's own D16B examples carry ZUGFeRD 1.0 COMFORT ids: D16B syntax, EN 16931 rules
            profile = "en16931"
        if profile is None:
            raise cii.UnknownProfile(f"unknown or mismatched guideline id (BT-24) {guideline!r} for CII D16B",
                                     document_id=document_id, field="BT-24")
        return "cii", guideline, profile
    if tag == f"{{{cii.ZF1_RSM}}}CrossIndustryDocument":
        el = root.find(f"{{{cii.ZF1_RSM}}}SpecifiedExchangedDocumentContext/{{{cii.ZF1_RAM}}}"
                       f"GuidelineSpecifiedDocumentContextParameter/{{{cii.ZF1_RAM}}}ID")
        guideline = cii._text(el)
        if cii.guideline_profile(guideline) != "zugferd1":
            raise cii.UnknownProfile(f"unknown ZUGFeRD 1.0 guideline id {guideline!r}", document_id=document_id, field="BT-24")
        return "zugferd1", guideline, "zugferd1"
    if tag in (f"{{{UBL_INVOICE}}}Invoice", f"{{{UBL_CREDIT_NOTE}}}CreditNote"):
        from edi import ubl

        guideline = root.findtext(f"{{{ubl.CBC}}}CustomizationID")
        guideline = guideline.strip() if guideline else None
        if ubl.customization_profile(guideline) is None:
            raise cii.UnknownProfile(f"unknown UBL CustomizationID (BT-24) {guideline!r}", document_id=document_id, field="BT-24")
        return "ubl", guideline, "en16931"
    raise InvalidFormat(f"not an e-invoice this hub reads (root element {tag})", document_id=document_id)


def _read_as_the_hub_does(root: etree._Element, syntax: str, result: ValidationResult) -> None:
    """Run the hub's own reader (:mod:`edi.cii` / :mod:`edi.ubl`) on the document and report its
    refusal as a finding: what ``o2c einvoice parse`` and the inbound flow refuse (an issue date
    of 30 February, an amount ``1E+999999999``) is never VALID here."""
    from edi import ubl

    try:
        if syntax == "ubl":
            ubl.parse_tree(root, document_id=result.document_id)
        else:  # the ZUGFeRD 1.0 reader renames the tree in place: give it a copy
            cii.parse_tree(copy.deepcopy(root) if syntax == "zugferd1" else root, document_id=result.document_id)
    except RejectedDocument as exc:
        result.add(Finding("O2C-PARSE", f"the hub's reader refuses the document: {exc.reason}", exc.field or "/",
                           "fatal", "o2c-reader"))


# Factur-X guideline ids (exact) whose profile schematron applies
_FACTURX_GUIDELINES = {g for g, p in cii.KNOWN_GUIDELINES.items() if p in cii.PROFILE_ORDER and "extended-ctc-fr" not in g}


def validate(data: bytes, *, document_id: str = "", schematrons: bool = True, facturx: bool | None = None) -> ValidationResult:
    """Validate one e-invoice (CII / ZUGFeRD 1.0 / UBL XML, or a Factur-X PDF) and report.

    Never raises for a *valid but non-conforming* document: findings go into the result
    (see :meth:`ValidationResult.raise_for_errors`). Raises :class:`InvalidFormat` (malformed
    or hostile XML, DOCTYPE), :class:`edi.cii.UnknownProfile` (guideline id unknown),
    :class:`edi.facturx.NoEmbeddedInvoice` (a PDF without invoice XML) and
    :class:`~schemas.errors.TooLarge` (over the ``einvoice`` / ``einvoice_attachment`` limits of
    :mod:`edi.limits`): documents that cannot be validated at all. What the hub's reader refuses
    (``O2C-PARSE``), a schematron Saxon cannot evaluate (``SCHEMATRON-STOPPED``) and unreadable
    XMP metadata (``FX-PDF-XMP``) are findings.

    ``facturx``: apply the Factur-X profile XSD and schematron. By default they apply to a PDF
    and to the Factur-X guideline ids; plain ``urn:cen.eu:en16931:2017`` is shared by pure
    EN 16931 CII (CEN rules only: the Factur-X EN16931 XSD rejects e.g. CEN's own example 5
    for an AdditionalReferencedDocument variant it does not use) and Factur-X EN 16931.
    """
    doc_id = document_id or "einvoice"
    pdf_level = None
    xmp_error = None
    if isinstance(data, (bytes, bytearray)):
        limits.check_size("einvoice", len(data), document_id=doc_id)
    if isinstance(data, (bytes, bytearray)) and data.lstrip()[:5] == b"%PDF-":
        from edi import facturx as fx

        pdf = bytes(data)
        _name, data = fx.extract_xml(pdf, document_id=doc_id)
        facturx = True if facturx is None else facturx
        try:
            pdf_level = fx.pdf_metadata(pdf, document_id=doc_id).get("fx_conformance") or ""
        except RejectedDocument as exc:  # broken XMP: the invoice XML can still be checked
            pdf_level, xmp_error = "", exc.reason
    root = parse_bytes(data, doc_id)
    syntax, guideline, profile = detect(root, doc_id)
    result = ValidationResult(syntax=syntax, guideline=guideline, profile=profile, document_id=doc_id)
    _read_as_the_hub_does(root, syntax, result)
    text = etree.tostring(root, encoding="unicode")
    if xmp_error is not None:
        result.add(Finding("FX-PDF-XMP", f"unreadable XMP metadata: {xmp_error}", "XMP", "fatal", "pdf"))
    elif pdf_level is not None and syntax == "cii":
        # the XMP fx:ConformanceLevel must name the profile of the embedded XML
        declared = pdf_level.replace(" ", "").lower()
        if not declared:
            result.add(Finding("FX-PDF-XMP", "the PDF's XMP metadata has no Factur-X ConformanceLevel", "XMP", "warning", "pdf"))
        elif declared != profile:
            result.add(Finding("FX-PDF-XMP", f"XMP ConformanceLevel {pdf_level!r} does not match the XML's profile {profile!r}",
                               "XMP", "fatal", "pdf"))
    if syntax == "zugferd1":
        xsd("xsd-zugferd1", root, result)
        result.add(Finding("NO-SCHEMATRON", "ZUGFeRD 1.0 has no EN 16931 schematron; only its XSD was checked",
                           "/", "warning", "xsd-zugferd1"))
        return result
    if syntax == "ubl":
        local = etree.QName(root).localname
        xsd("xsd-ubl-invoice" if local == "Invoice" else "xsd-ubl-creditnote", root, result)
        if schematrons:
            schematron("en16931-ubl", text, result)
        return result
    if guideline in OWN_ARTEFACTS:  # EXTENDED-CTC-FR: D22B XSD + its schematrons; ``facturx`` does not apply
        xsd_name, schematron_names = OWN_ARTEFACTS[guideline]
        xsd(xsd_name, root, result)
        if schematrons:
            for name in schematron_names:
                schematron(name, text, result)
        return result
    factur_x = guideline in _FACTURX_GUIDELINES and profile != "en16931" if facturx is None else facturx
    factur_x = factur_x and profile in cii.PROFILE_ORDER
    xsd(f"xsd-facturx-{profile}" if factur_x else "xsd-cii-d16b", root, result)
    if not schematrons:
        return result
    if profile in ("basic", "en16931", "extended"):
        schematron("en16931-cii", text, result)
    if factur_x:
        schematron(f"facturx-{profile}", text, result)
    return result


def warm_up(names: tuple[str, ...] = ("en16931-cii", "en16931-ubl")) -> None:
    """Compile schematrons ahead of time (a worker's start-up), ~1 s each."""
    for name in names:
        _Schematron.get(name)


FORMATS = ("facturx-minimum", "facturx-basicwl", "facturx-basic", "facturx-en16931", "facturx-extended",
           "facturx-extended-ctc-fr", "cii", "ubl")


def render_valid(inv: Invoice, fmt: str = "facturx-en16931") -> bytes:
    """Render ``inv`` as ``fmt`` (one of :data:`FORMATS`), validate it, return the bytes to deliver.

    ``facturx-*`` gives a Factur-X PDF/A-3 whose embedded XML was validated (XSD + CEN +
    Factur-X profile rules); ``facturx-extended-ctc-fr`` the French EXTENDED-CTC-FR CII XML (not a
    PDF: see :mod:`edi.ctcfr`); ``cii`` EN 16931 CII XML; ``ubl`` UBL 2.1 XML. Raises
    :class:`InvoiceRejected` (a :class:`~schemas.errors.RejectedDocument`) with every finding
    when the document is not valid: the one call an outbound DAG task needs.
    """
    from edi import facturx as fx
    from edi import ubl

    if fmt not in FORMATS:
        raise cii.UnknownProfile(f"unknown e-invoice format {fmt!r}; expected one of {', '.join(FORMATS)}",
                                 document_id=inv.record_id)
    if fmt == "facturx-extended-ctc-fr":
        from edi import ctcfr

        xml = ctcfr.render(inv)
        validate(xml, document_id=inv.record_id).raise_for_errors()
        return xml
    if fmt == "ubl":
        xml = ubl.render(inv)
    else:
        xml = cii.render(inv, "en16931" if fmt == "cii" else fmt.removeprefix("facturx-"))
    validate(xml, document_id=inv.record_id, facturx=fmt.startswith("facturx-")).raise_for_errors()
    if fmt.startswith("facturx-"):
        return fx.render_pdf(inv, fmt.removeprefix("facturx-"), xml=xml)
    return xml
