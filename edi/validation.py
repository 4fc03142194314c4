"""E-invoice validation: XSD, the official CEN EN 16931 schematron and the Factur-X profile rules.

This module runs the official artefacts on a document that is already told apart; it imports
no format module (:mod:`edi.cii`, :mod:`edi.ubl`, :mod:`edi.facturx`). The one entry point,
:func:`edi.einvoice.validate`, does the reading around it: the Factur-X PDF's embedded XML and
XMP metadata are extracted, the syntax, guideline id (BT-24) and profile are told from the root
element, and the hub's own reader is handed to :func:`check`. For one document, :func:`check`:

1. runs the hub's reader it was given: what the reader refuses (an impossible date, an amount
   such as ``1E+999999999``) is an ``O2C-PARSE`` error, so validating and parsing agree;
2. compares the PDF's XMP ``fx:ConformanceLevel`` (when the document came in a PDF) with the
   profile of the XML (``FX-PDF-XMP``);
3. XSD (lxml): the Factur-X profile XSD chosen from the guideline id, else the CEN D16B
   *uncoupled* subset, the ZUGFeRD 1.0 XSD, or OASIS UBL 2.1;
4. the CEN/TC 434 EN 16931 schematron (XSLT 2.0, run by SaxonC-HE through ``saxonche``) for
   documents that claim EN 16931 (not Factur-X MINIMUM / BASIC WL, which are not EN 16931);
5. the Factur-X schematron of the declared profile (Factur-X 1.0.9 artefacts).

The French EXTENDED-CTC-FR guideline (:data:`edi.en16931.CTC_FR_GUIDELINE`) has its own branch:
the UN/CEFACT CII D22B XSD, the EXTENDED-CTC-FR schematron (which carries the EN 16931 and
Factur-X EXTENDED rules itself) and the French BR-FR Flux 2 schematron (see :mod:`edi.ctcfr`).
Which guideline ids are Factur-X ones comes from :mod:`edi.en16931`.

Each stylesheet is compiled once per process and kept (``_Schematron.get``). A schematron that
fires fewer than :data:`MIN_FIRED_RULES` rules did not really look at the document (wrong
namespace, e.g. ZUGFeRD 1.0 ``CrossIndustryDocument``): that is reported as an error, never as
"0 errors". A schematron Saxon stops with a dynamic error (a value it cannot convert, a term
given twice) is a ``SCHEMATRON-STOPPED`` error, not an exception. Errors (flag
``fatal``/``error`` and XSD errors) and warnings are kept apart.

Artefacts live in ``edi/artefacts/<name>/`` with a README giving origin, commit and licence.

>>> from edi.samples import sample_invoice
>>> from edi import cii
>>> from edi.xmlsafe import parse_bytes
>>> root = parse_bytes(cii.render(sample_invoice(1), "en16931"), "FA-1.xml")
>>> result = check(root, ValidationResult("cii", "urn:cen.eu:en16931:2017", "en16931"), facturx=True)
>>> result.valid, result.errors
(True, [])
>>> sorted(result.fired_rules)
['en16931-cii', 'facturx-en16931']
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from lxml import etree

from edi.en16931 import CTC_FR_GUIDELINE, KNOWN_GUIDELINES, PROFILE_ORDER
from edi.xmlsafe import make_parser
from schemas.errors import Issue, RejectedDocument

ARTEFACTS_DIR = Path(__file__).with_name("artefacts")
SVRL = "{http://purl.oclc.org/dsdl/svrl}"

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
    CTC_FR_GUIDELINE: ("xsd-cii-d22b-ctcfr", ("extended-ctc-fr", "br-fr-flux2-cii")),
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
# one document

# Factur-X guideline ids (exact) whose profile schematron applies
_FACTURX_GUIDELINES = {g for g, p in KNOWN_GUIDELINES.items() if p in PROFILE_ORDER and "extended-ctc-fr" not in g}


def check(root: etree._Element, result: ValidationResult, *, read: Callable[[etree._Element], object] | None = None,
          pdf_conformance: str | None = None, xmp_error: str | None = None, schematrons: bool = True,
          facturx: bool | None = None) -> ValidationResult:
    """Run every check that applies to ``root``, a document already told apart (``result.syntax``
    ``"cii"``, ``"zugferd1"`` or ``"ubl"``, its ``guideline`` and ``profile``), into ``result``.

    ``read``: the hub's own reader for this syntax (given by :mod:`edi.einvoice`); the
    :class:`~schemas.errors.RejectedDocument` it raises becomes an ``O2C-PARSE`` finding.
    ``pdf_conformance``: the XMP ``fx:ConformanceLevel`` of the PDF the XML came in (``""`` when
    the XMP has none; ``None`` for a bare XML); ``xmp_error``: why the XMP could not be read.
    ``facturx``: apply the Factur-X profile XSD and schematron (default: for the Factur-X
    guideline ids other than plain EN 16931; see :func:`edi.einvoice.validate`).
    """
    if read is not None:
        try:
            read(root)
        except RejectedDocument as exc:
            result.add(Finding("O2C-PARSE", f"the hub's reader refuses the document: {exc.reason}", exc.field or "/",
                               "fatal", "o2c-reader"))
    text = etree.tostring(root, encoding="unicode")
    syntax, guideline, profile = result.syntax, result.guideline, result.profile
    if xmp_error is not None:
        result.add(Finding("FX-PDF-XMP", f"unreadable XMP metadata: {xmp_error}", "XMP", "fatal", "pdf"))
    elif pdf_conformance is not None and syntax == "cii":
        # the XMP fx:ConformanceLevel must name the profile of the embedded XML
        declared = pdf_conformance.replace(" ", "").lower()
        if not declared:
            result.add(Finding("FX-PDF-XMP", "the PDF's XMP metadata has no Factur-X ConformanceLevel", "XMP", "warning", "pdf"))
        elif declared != profile:
            result.add(Finding("FX-PDF-XMP", f"XMP ConformanceLevel {pdf_conformance!r} does not match the XML's profile {profile!r}",
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
    factur_x = factur_x and profile in PROFILE_ORDER
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
