"""The validation wrapper: XSD + CEN EN 16931 schematron + Factur-X profile rules, on real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from edi import einvoice, validation
from schemas.errors import InvalidFormat
from tests.einvoice.helpers import FIXTURES, corpus, ids

EN16931_XML = [p for p in corpus("cii") + corpus("ubl") if p.parent.parent.name in ("cen-tc434", "kosit-xrechnung", "peppol-bis3")]


@pytest.mark.parametrize("path", EN16931_XML, ids=ids(EN16931_XML))
def test_public_en16931_documents_are_valid(path: Path) -> None:
    result = einvoice.validate(path.read_bytes(), document_id=path.name)
    assert result.valid, result.report()
    sch = "en16931-ubl" if result.syntax == "ubl" else "en16931-cii"
    assert result.fired_rules[sch] >= validation.MIN_FIRED_RULES
    assert sch in result.artefacts and any(k.startswith("xsd-") for k in result.artefacts)


@pytest.mark.parametrize("profile", ["minimum", "basicwl", "basic", "en16931", "extended"])
def test_facturx_reference_files_pass_their_profile(profile: str) -> None:
    data = (FIXTURES / "akretion-factur-x" / "cii" / f"factur-x-{profile}.xml").read_bytes()
    result = einvoice.validate(data, facturx=True)
    assert result.valid, result.report()
    assert result.profile == profile
    assert f"facturx-{profile}" in result.fired_rules
    # MINIMUM and BASIC WL are not EN 16931: the CEN rules are not applied to them
    assert ("en16931-cii" in result.fired_rules) == (profile not in ("minimum", "basicwl"))


def test_extended_warnings_are_kept_apart() -> None:
    data = (FIXTURES / "akretion-factur-x" / "cii" / "factur-x-extended.xml").read_bytes()
    result = einvoice.validate(data, facturx=True)
    assert result.valid and len(result.warnings) == 12
    assert all(w.flag == "warning" and w.location.startswith("/") for w in result.warnings)


def test_zugferd1_is_not_trusted_to_a_silent_schematron() -> None:
    data = (FIXTURES / "akretion-factur-x" / "cii" / "zugferd-comfort.xml").read_bytes()
    result = einvoice.validate(data)
    assert result.syntax == "zugferd1" and result.valid
    assert [w.rule for w in result.warnings] == ["NO-SCHEMATRON"]
    assert "en16931-cii" not in result.fired_rules


def test_fired_rule_count_guards_against_a_wrong_namespace() -> None:
    """Run the CII schematron on a UBL document: nothing fires, and that is an error, not "valid"."""
    data = (FIXTURES / "cen-tc434" / "ubl" / "ubl-tc434-example1.xml").read_text(encoding="utf-8")
    result = validation.ValidationResult(syntax="cii", guideline=None, profile=None)
    validation.schematron("en16931-cii", data, result)
    assert result.fired_rules["en16931-cii"] == 0
    assert [e.rule for e in result.errors] == ["SCHEMATRON-NOT-APPLIED"]


def test_missing_invoice_number_fires_br_02() -> None:
    data = (FIXTURES / "cen-tc434" / "cii" / "CII_example1.xml").read_bytes()
    root = etree.fromstring(data)
    ns = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
          "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
    number = root.find("rsm:ExchangedDocument/ram:ID", ns)
    number.getparent().remove(number)
    result = einvoice.validate(etree.tostring(root))
    fatal = [e for e in result.errors if e.source == "en16931-cii"]
    assert [e.rule for e in fatal] == ["BR-02"] and fatal[0].flag == "fatal"
    assert fatal[0].location.startswith("/*:CrossIndustryInvoice")
    with pytest.raises(validation.InvoiceRejected) as exc:
        result.raise_for_errors()
    assert exc.value.issues[0].term in ("XSD", "BR-02")


def test_pdf_validation_extracts_the_xml() -> None:
    ok = FIXTURES / "zugferd-corpus" / "facturx" / "zugferd2.0-intarsys" / "zugferd_2p0_EN16931_Einfach.pdf"
    assert einvoice.validate(ok.read_bytes()).valid
    bad = FIXTURES / "zugferd-corpus" / "facturx" / "invalid" / "Facture_FR_EN16931.pdf"
    result = einvoice.validate(bad.read_bytes())
    assert not result.valid and "CII-DT-031" in {e.rule for e in result.errors}


def test_unknown_root_is_refused() -> None:
    with pytest.raises(InvalidFormat, match="not an e-invoice"):
        einvoice.validate(b"<Order xmlns='urn:x'/>")


# --- CEN's own rule unit tests (VEFA testSet files) ---------------------------------------

VEFA = "{http://difi.no/xsd/vefa/validator/1.0}"
UNIT_TESTS = sorted((FIXTURES / "cen-tc434" / "unit-tests").glob("*/*.xml"))


def _cases(path: Path) -> list[tuple[str, str, str]]:
    """(expectation, rule, document) for every <test> of a testSet."""
    out = []
    for test in etree.parse(str(path)).getroot().iter(f"{VEFA}test"):
        expect = test.find(f"{VEFA}assert")
        doc = next(el for el in test if isinstance(el.tag, str) and not el.tag.startswith(VEFA))
        for kind in ("success", "error", "warning"):
            for el in expect.findall(f"{VEFA}{kind}"):
                out.append((kind, el.text.strip(), etree.tostring(doc, encoding="unicode")))
    return out


@pytest.mark.parametrize("path", UNIT_TESTS, ids=[f"{p.parent.name}/{p.name}" for p in UNIT_TESTS])
def test_cen_unit_tests(path: Path) -> None:
    cases = _cases(path)
    assert cases
    name = "en16931-cii" if path.parent.name == "cii" else "en16931-ubl"
    for kind, rule, doc in cases:
        result = validation.ValidationResult(syntax="", guideline=None, profile=None)
        validation.schematron(name, doc, result)
        fired = {f.rule for f in result.errors + result.warnings}
        if kind == "success":
            assert rule not in fired, f"{rule} fired on a success case"
        else:
            assert rule in fired, f"{rule} did not fire ({kind} expected)"


def test_unit_test_selection_size() -> None:
    assert len(UNIT_TESTS) >= 15


def test_one_validate_for_every_format() -> None:
    """The format modules have no validate of their own: edi.einvoice.validate checks them all."""
    from edi import cii, ctcfr, facturx, samples, ubl

    assert not [m.__name__ for m in (cii, ctcfr, facturx, ubl) if hasattr(m, "validate")]
    inv = samples.sample_invoice(2)
    assert einvoice.validate(cii.render(inv)).raise_for_errors().valid
    assert einvoice.validate(ubl.render(inv)).raise_for_errors().valid
    assert einvoice.validate(facturx.render_pdf(inv, "basic")).raise_for_errors().profile == "basic"
    inv.totals.payable += 1
    with pytest.raises(validation.InvoiceRejected):
        einvoice.validate(ubl.render(inv)).raise_for_errors()
