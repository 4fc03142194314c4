"""Generated canonical invoices: render to every format, validate with zero errors, read back.

The on-demand run over 1,000 invoices is ``bench/bench_einvoice.py --count 1000``.
"""

from __future__ import annotations

import pytest

from edi import cii, einvoice, samples, ubl, validation
from schemas.validation import invoice_issues

SEEDS = range(100)
OTHER_PROFILES = ("minimum", "basicwl", "basic", "extended")


def _assert_valid(result: validation.ValidationResult) -> None:
    assert result.valid, result.report()
    assert all(n >= validation.MIN_FIRED_RULES for n in result.fired_rules.values())


def test_generator_covers_the_cases() -> None:
    invs = samples.sample_invoices(100)
    cats = {ln.vat_category for inv in invs for ln in inv.lines}
    rates = {ln.vat_rate for inv in invs for ln in inv.lines if ln.vat_category == "S"}
    assert cats == {"S", "Z", "E", "AE"} and len(rates) == 4
    assert any(inv.type_code == "381" and inv.preceding_invoices for inv in invs)
    assert any(inv.tax_currency == "EUR" and inv.currency != "EUR" and inv.totals.tax_total_accounting for inv in invs)
    assert any(a.is_charge for inv in invs for a in inv.allowances_charges)
    assert any(not a.is_charge for inv in invs for a in inv.allowances_charges)
    assert any(a for inv in invs for ln in inv.lines for a in ln.allowances_charges)
    assert any(v.exemption_reason_code == "VATEX-EU-132" for inv in invs for v in inv.vat_breakdown)
    assert any(inv.vat_on_debits for inv in invs) and any(inv.totals.prepaid for inv in invs)
    assert all({n.subject_code for n in inv.notes} >= {"PMT", "PMD", "AAB"} for inv in invs)
    assert all(inv.seller.siren and inv.operation_category for inv in invs)


@pytest.mark.parametrize("seed", SEEDS)
def test_sample(seed: int) -> None:
    inv = samples.sample_invoice(seed)
    assert [i for i in invoice_issues(inv) if i.severity == "error"] == []
    # EN 16931 CII (as Factur-X EN 16931: CEN rules + Factur-X rules) and back
    xml = cii.render(inv, "en16931")
    _assert_valid(einvoice.validate(xml, document_id=f"cii-{seed}", facturx=True))
    assert cii.parse(xml) == inv
    # UBL 2.1 Invoice / CreditNote and back
    xml = ubl.render(inv)
    _assert_valid(einvoice.validate(xml, document_id=f"ubl-{seed}"))
    assert ubl.parse(xml) == inv
    # one of the other Factur-X profiles in turn
    profile = OTHER_PROFILES[seed % len(OTHER_PROFILES)]
    result = einvoice.validate(cii.render(inv, profile), document_id=f"{profile}-{seed}")
    _assert_valid(result)
    assert f"facturx-{profile}" in result.fired_rules


def test_partial_profiles_read_back_what_they_carry() -> None:
    inv = samples.sample_invoice(12)
    minimum = cii.parse(cii.render(inv, "minimum"))
    assert minimum.totals.payable == inv.totals.payable and minimum.lines == [] and minimum.inferred_terms == ["BT-106"]
    basicwl = cii.parse(cii.render(inv, "basicwl"))
    assert basicwl.vat_breakdown == inv.vat_breakdown and basicwl.lines == [] and basicwl.totals == inv.totals
    assert (basicwl.payment.iban, basicwl.payment.means_code) == (inv.payment.iban, inv.payment.means_code)
    assert basicwl.payment.bic is None  # BT-86 is not part of BASIC WL


def test_peppol_customization() -> None:
    inv = samples.sample_invoice(1)
    xml = ubl.render(inv, "peppol")
    assert b"urn:fdc:peppol.eu:2017:poacc:billing:3.0" in xml and b"poacc:billing:01:1.0" in xml
    _assert_valid(einvoice.validate(xml))


@pytest.mark.parametrize("fmt", ["facturx-basic", "cii", "ubl"])
def test_render_valid_rejects_wrong_totals(fmt: str) -> None:
    inv = samples.sample_invoice(9)
    assert einvoice.render(inv, fmt)[:5] in (b"%PDF-", b"<?xml")
    inv.totals.payable += 1
    with pytest.raises(validation.InvoiceRejected) as exc:
        einvoice.render(inv, fmt)
    assert "BR-CO-16" in {f.rule for f in exc.value.result.errors}
    assert exc.value.document_id == inv.number
