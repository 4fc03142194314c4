"""Every public CII, UBL and Factur-X fixture parses; totals equal the document's own; golden JSON.

``UPDATE_GOLDEN=1 pytest tests/einvoice/test_corpus.py`` rewrites the ``*.expected.json`` files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edi import cii, einvoice, ubl
from schemas.jsonio import to_json
from schemas.validation import invoice_issues
from tests.einvoice.helpers import ARITHMETIC_TERMS, corpus, ids, stated_totals, xml_of

ALL = corpus("cii") + corpus("ubl") + corpus("pdf")

# Real documents that legitimately trip an intake arithmetic check (see test_known_intake_findings).
KNOWN_ARITHMETIC = {"huf_example_cii.xml": {"BT-117"}}


def _parse(path: Path):
    data = path.read_bytes()
    if path.suffix.lower() == ".pdf":
        return einvoice.parse(data, document_id=path.name)
    if b"urn:oasis:names:specification:ubl" in data[:2000]:
        return ubl.parse(data, document_id=path.name)
    return cii.parse(data, document_id=path.name)


def test_fixture_counts() -> None:
    assert (len(corpus("cii")), len(corpus("ubl")), len(corpus("pdf"))) == (34, 46, 35)


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_parses_with_stated_totals(path: Path) -> None:
    inv = _parse(path)
    stated = stated_totals(xml_of(path))
    assert stated, "no totals found in the document"
    for term, value in stated.items():
        got = getattr(inv.totals, term)
        if term == "allowance_total" and path.parent.name.startswith("zugferd1"):
            value = abs(value)
        assert got == value, f"{term}: parsed {got}, document says {value}"
    findings = {i.term.split()[0] for i in invoice_issues(inv) if i.severity == "error"} & ARITHMETIC_TERMS
    assert findings == KNOWN_ARITHMETIC.get(path.name, set())


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_golden(path: Path) -> None:
    got = to_json(_parse(path))
    golden = path.with_name(path.name + ".expected.json")
    if os.environ.get("UPDATE_GOLDEN") or not golden.exists():
        golden.write_text(json.dumps(got, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        if not os.environ.get("UPDATE_GOLDEN"):
            pytest.fail(f"{golden.name} was missing and has been written: review it and rerun")
    assert got == json.loads(golden.read_text(encoding="utf-8"))


def test_known_intake_findings() -> None:
    """CEN's Hungarian example rounds VAT to whole forints (18,679 for 27 % of 69,180.00 = 18,678.60).

    The intake check allows one minor unit per line; the CEN schematron (BR-S-09 with its own
    tolerance) accepts the document. The finding is right to flag it for a person to look at.
    """
    inv = _parse(next(p for p in corpus("cii") if p.name == "huf_example_cii.xml"))
    bt117 = [i for i in invoice_issues(inv) if i.term == "BT-117"]
    assert len(bt117) == 1 and "18678.60" in bt117[0].message


def test_minimum_is_a_partial_invoice() -> None:
    """A Factur-X MINIMUM invoice parses to header and totals only; BT-106 is inferred."""
    inv = _parse(next(p for p in corpus("cii") if p.name == "factur-x-minimum.xml"))
    assert inv.lines == [] and inv.vat_breakdown == []
    assert inv.inferred_terms == ["BT-106"]
    assert inv.totals.line_total == inv.totals.tax_exclusive
    assert inv.specification_id == "urn:factur-x.eu:1p0:minimum"


def test_minimum_with_implied_prepayment() -> None:
    """FNFE's MINIMUM PDFs state 470.15 due on 671.15: MINIMUM has no BT-113, the parser infers it."""
    inv = _parse(next(p for p in corpus("pdf") if p.name == "Facture_FR_MINIMUM.pdf"))
    assert inv.inferred_terms == ["BT-106", "BT-113"]
    assert str(inv.totals.prepaid) == "201.00"


def test_basicwl_has_vat_but_no_lines() -> None:
    inv = _parse(next(p for p in corpus("cii") if p.name == "factur-x-basicwl.xml"))
    assert inv.lines == [] and inv.vat_breakdown and inv.inferred_terms == []


def test_zugferd1_is_read() -> None:
    inv = _parse(next(p for p in corpus("cii") if p.name == "zugferd-comfort.xml"))
    assert inv.specification_id == "urn:ferd:CrossIndustryDocument:invoice:1p0:comfort"
    assert len(inv.lines) == 2 and inv.lines[0].vat_category == "S"


def test_credit_note_ubl() -> None:
    inv = _parse(next(p for p in corpus("ubl") if p.name == "ubl-tc434-creditnote1.xml"))
    assert inv.is_credit_note and inv.lines


def test_lenient_xml_declaration() -> None:
    """A real producer wrote encoding="UTF-8-W/O-BOM": read anyway, and validation refuses it."""
    from schemas.errors import InvalidFormat

    path = next(p for p in corpus("pdf") if p.name == "factur-x-invalid-xml-encoding-attribute.pdf")
    assert _parse(path).number
    with pytest.raises(InvalidFormat):
        einvoice.validate(path.read_bytes(), schematrons=False)
