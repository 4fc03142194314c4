"""EN 16931 tables and helpers shared by the syntaxes: CII (:mod:`edi.cii`) and UBL (:mod:`edi.ubl`).

EN 16931-1 defines the business terms (BT-1 ... BT-165) once; CII and UBL only bind them to
elements. What does not depend on the syntax lives here, so that the two readers/writers (and
:mod:`edi.validation`, which chooses its artefacts by profile) share one copy and import
nothing from each other:

- the specification identifiers (BT-24) this hub knows: the Factur-X / ZUGFeRD profiles and
  their guideline ids, the French EXTENDED-CTC-FR id, how any CIUS or extension of EN 16931 is
  checked (:func:`guideline_profile`), and :class:`UnknownProfile`;
- the business terms of allowances and charges (BG-20, BG-21, BG-27, BG-28) by level and kind;
- the French operation category carried by BT-23 (B1 goods, S1 services, M1 both);
- numbers: the decimals a reader accepts per kind of number (:data:`DECIMALS`,
  :func:`read_decimal`) and how a writer prints amounts and quantities
  (:func:`format_amount`, :func:`format_number`);
- an identifier with its scheme (``schemeID``, ``listID``) read from an element.

>>> guideline_profile("urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0")
'en16931'
>>> format_amount(Decimal("1234.5"), "EUR"), format_amount(Decimal("1234"), "JPY"), format_number(Decimal("2.500"))
('1234.50', '1234', '2.5')
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from schemas.errors import InvalidFormat
from schemas.invoice import Identifier, OperationCategory
from schemas.money import AmountError, minor_units, parse_amount

if TYPE_CHECKING:
    from lxml import etree

__all__ = [
    "PROFILE_ORDER", "GUIDELINES", "KNOWN_GUIDELINES", "CTC_FR_GUIDELINE", "UnknownProfile", "normalize_profile",
    "guideline_profile", "ALLOWANCE_TERMS", "OPERATION_BY_PROCESS", "PROCESS_BY_OPERATION", "DECIMALS",
    "read_decimal", "format_amount", "format_number", "identifier",
]

# --------------------------------------------------------------------------------------------
# specification identifiers (BT-24) and profiles

PROFILE_ORDER = ("minimum", "basicwl", "basic", "en16931", "extended")

# Guideline ids (BT-24) written for each Factur-X profile (Factur-X 1.0.07 / ZUGFeRD 2.2+).
GUIDELINES = {
    "minimum": "urn:factur-x.eu:1p0:minimum",
    "basicwl": "urn:factur-x.eu:1p0:basicwl",
    "basic": "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic",
    "en16931": "urn:cen.eu:en16931:2017",
    "extended": "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended",
}

# Guideline ids read, mapped to the profile whose rules apply (older and German spellings too).
KNOWN_GUIDELINES = {
    **{urn: p for p, urn in GUIDELINES.items()},
    "urn:zugferd.de:2p0:minimum": "minimum",
    "urn:zugferd.de:2p0:basicwl": "basicwl",
    "urn:cen.eu:en16931:2017#compliant#urn:zugferd.de:2p0:basic": "basic",
    "urn:cen.eu:en16931:2017#conformant#urn:zugferd.de:2p0:extended": "extended",
    "urn:cen.eu:en16931:2017:compliant:factur-x.eu:1p0:basic": "basic",  # FNFE 1.0 spelling
    "urn:cen.eu:en16931:2017:compliant:factur-x.eu:1p0:en16931": "en16931",
    "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended-ctc-fr": "extended",
    # French CTC profile EXTENDED-CTC-FR (AFNOR XP Z12-012, FNFE France_RFE artefacts): CII D22B,
    # EXTENDED data; validated by edi.validation with its own XSD and schematrons (see edi.ctcfr)
    "urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr": "extended",
    "urn:ferd:CrossIndustryDocument:invoice:1p0:basic": "zugferd1",
    "urn:ferd:CrossIndustryDocument:invoice:1p0:comfort": "zugferd1",
    "urn:ferd:CrossIndustryDocument:invoice:1p0:extended": "zugferd1",
}

# BT-24 of the French EXTENDED-CTC-FR profile (written by edi.ctcfr.render)
CTC_FR_GUIDELINE = "urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr"

_PROFILE_ALIASES = {
    "minimum": "minimum", "basicwl": "basicwl", "basic-wl": "basicwl", "basic wl": "basicwl",
    "basic_wl": "basicwl", "basic": "basic", "en16931": "en16931", "en 16931": "en16931",
    "comfort": "en16931", "extended": "extended",
}


class UnknownProfile(InvalidFormat):
    """The guideline id (BT-24) or the requested profile is not one this hub knows."""


def normalize_profile(profile: str) -> str:
    """``"BASIC WL"`` -> ``"basicwl"``; raise :class:`UnknownProfile` otherwise.

    >>> normalize_profile("EN 16931")
    'en16931'
    """
    key = (profile or "").strip().lower().removeprefix("facturx-").removeprefix("factur-x-")
    try:
        return _PROFILE_ALIASES[key]
    except KeyError:
        raise UnknownProfile(f"unknown Factur-X profile {profile!r}; expected one of {', '.join(PROFILE_ORDER)}") from None


def guideline_profile(guideline: str | None) -> str | None:
    """The profile whose rules apply to a guideline id; ``None`` when unknown.

    Any CIUS or extension of EN 16931 (``urn:cen.eu:en16931:2017#compliant#...`` such as
    XRechnung or Peppol BIS) is checked as ``en16931``; ``#conformant#`` as ``extended``.
    """
    if not guideline:
        return None
    guideline = guideline.strip()
    if guideline in KNOWN_GUIDELINES:
        return KNOWN_GUIDELINES[guideline]
    if guideline.startswith("urn:cen.eu:en16931:2017#compliant#"):
        return "en16931"
    if guideline.startswith("urn:cen.eu:en16931:2017#conformant#"):
        return "extended"
    return None


# --------------------------------------------------------------------------------------------
# business terms

# business terms of an allowance / a charge, by (line level, is a charge):
# (amount, base amount, percentage, VAT rate)
ALLOWANCE_TERMS = {(False, False): ("BT-92", "BT-93", "BT-94", "BT-96"), (False, True): ("BT-99", "BT-100", "BT-101", "BT-103"),
                   (True, False): ("BT-136", "BT-137", "BT-138", "BT-96"), (True, True): ("BT-141", "BT-142", "BT-143", "BT-103")}

# French reform: BT-23 carries the operation category (B1 goods, S1 services, M1 mixed).
OPERATION_BY_PROCESS: dict[str, OperationCategory] = {"B1": "goods", "S1": "services", "M1": "both"}
PROCESS_BY_OPERATION: dict[str, str] = {v: k for k, v in OPERATION_BY_PROCESS.items()}


# --------------------------------------------------------------------------------------------
# numbers and identifiers

# Decimals the readers accept per kind of number. EN 16931 writes amounts with 2 decimals, but
# that is rule BR-DEC-* of the schematron to report: the reader accepts up to the 6 the store
# keeps (NUMERIC(20, 6)). Unit prices, quantities and percentages have no decimal rule in
# EN 16931 (real ones carry 4 to 6): up to 10. Every kind: at most 14 integer digits, no exponent,
# no underscore (schemas.money.parse_amount).
DECIMALS: dict[str, int] = {"amount": 6, "price": 10, "quantity": 10, "percentage": 10}


def read_decimal(text: str, *, term: str, kind: str = "amount", document_id: str = "") -> Decimal:
    """``text`` read by :func:`schemas.money.parse_amount` with the decimals of its ``kind``; a
    refusal is :class:`InvalidFormat` naming the business term ``term`` (``BT-115``).

    >>> read_decimal("x1", term="BT-115")
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidFormat: BT-115: amount: not a plain decimal amount: 'x1' (digits, one '.', an optional sign)
    """
    try:
        return parse_amount(text, decimals=DECIMALS[kind])
    except AmountError as exc:
        raise InvalidFormat(f"{kind}: {exc}", document_id=document_id, field=term) from None


def format_amount(value: Decimal, currency: str) -> str:
    """An amount with the currency's decimals, at most 2 (EN 16931 BR-DEC rules)."""
    places = min(minor_units(currency), 2)
    return f"{value:.{places}f}"


def format_number(value: Decimal) -> str:
    """A quantity, price or percentage as written: no exponent, no superfluous zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".") or "0"
    return text


def identifier(el: etree._Element | None, attr: str = "schemeID") -> Identifier | None:
    """The identifier an element carries, with the scheme of attribute ``attr``; ``None`` when empty."""
    if el is None or not (el.text or "").strip():
        return None
    return Identifier(value=el.text.strip(), scheme=el.get(attr))
