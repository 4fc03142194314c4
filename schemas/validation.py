"""Business checks on canonical records; each finding names the record, the term and the value.

These are the hub's intake checks (identifiers, currencies, arithmetic of the totals). They
are not the EN 16931 rule set: documents exchanged with customers are validated against the
official CEN schematron in ``edi/``.

The arithmetic follows EN 16931 rules BR-CO-10 (sum of line net amounts = BT-106),
BR-CO-13 (BT-109 = BT-106 - BT-107 + BT-108), BR-CO-14 (BT-110 = sum of BT-117),
BR-CO-15 (BT-112 = BT-109 + BT-110) and BR-CO-16 (BT-115 = BT-112 - BT-113 + BT-114).
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from schemas.errors import Issue, ValidationFailed
from schemas.invoice import TYPE_CODES, VAT_CATEGORIES, Invoice, TradeParty
from schemas.money import ZERO, is_currency, minor_units, quantize
from schemas.party import Customer, is_language_tag


def _unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


# Identifier checks depend on the value only, and the same parties come back on invoice after
# invoice: each value is checked once per process (what the check found, None when valid).
@lru_cache(maxsize=8192)
def _siren_problem(value: str) -> str | None:
    from stdnum.fr import siren

    return None if siren.is_valid(value) else "invalid SIREN (9 digits, Luhn check)"


@lru_cache(maxsize=8192)
def _siret_problem(value: str) -> str | None:
    from stdnum.fr import siret

    return None if siret.is_valid(value) else "invalid SIRET (14 digits, Luhn check)"


@lru_cache(maxsize=8192)
def _vat_problem(value: str) -> str | None:
    from stdnum.eu import vat

    prefix = value[:2].lower()
    if prefix in {"gb", "ch", "no"}:
        return None  # outside the EU VIES rules; format checked by the issuing country
    if prefix == "el":
        prefix = "gr"  # Greece's VAT prefix is EL
    if not value[:2].isalpha() or prefix not in vat.MEMBER_STATES:
        return "VAT id needs an EU country prefix (e.g. FR, DE)"
    if not vat.is_valid(value):
        return "invalid VAT id (format or check digits)"
    return None


@lru_cache(maxsize=8192)
def _iban_problem(value: str) -> str | None:
    from schwifty import IBAN

    try:
        IBAN(value)
    except ValueError as exc:
        return f"invalid IBAN ({exc})"
    return None


def _check(problem: Any, record: str, term: str, value: str | None, issues: list[Issue]) -> None:
    if not value:
        return
    found = problem(value) if isinstance(value, str) else problem.__wrapped__(value)
    if found is not None:
        issues.append(Issue(record, term, found, value))


def check_siren(record: str, term: str, value: str | None, issues: list[Issue]) -> None:
    _check(_siren_problem, record, term, value, issues)


def check_siret(record: str, term: str, value: str | None, issues: list[Issue]) -> None:
    _check(_siret_problem, record, term, value, issues)


def check_vat(record: str, term: str, value: str | None, issues: list[Issue]) -> None:
    _check(_vat_problem, record, term, value, issues)


def check_iban(record: str, term: str, value: str | None, issues: list[Issue]) -> None:
    _check(_iban_problem, record, term, value, issues)


def _check_party(record: str, role: str, party: TradeParty, terms: dict[str, str], issues: list[Issue]) -> None:
    if not party.name or not party.name.strip():
        issues.append(Issue(record, terms["name"], f"{role} name is required", party.name))
    for ident in [party.legal_registration, *party.identifiers]:
        if ident is None:
            continue
        if ident.scheme == "0002":
            check_siren(record, terms["legal"], ident.value, issues)
        elif ident.scheme == "0009":
            check_siret(record, terms["legal"], ident.value, issues)
    check_vat(record, terms["vat"], party.vat_id, issues)
    if party.address is None or not party.address.country:
        issues.append(Issue(record, terms["country"], f"{role} country code is required", None))
    elif len(party.address.country) != 2 or not party.address.country.isalpha():
        issues.append(Issue(record, terms["country"], "country must be ISO 3166-1 alpha-2", party.address.country))


def invoice_issues(inv: Invoice) -> list[Issue]:
    """All intake findings for ``inv`` (errors and warnings)."""
    rec = inv.record_id
    issues: list[Issue] = []
    if not inv.number or not str(inv.number).strip():
        issues.append(Issue(rec, "BT-1", "invoice number is required", inv.number))
    if inv.issue_date is None:
        issues.append(Issue(rec, "BT-2", "issue date is required", None))
    if inv.type_code not in TYPE_CODES:
        issues.append(Issue(rec, "BT-3", "type code is not an EN 16931 invoice/credit note code (UNTDID 1001)", inv.type_code))
    if not is_currency(inv.currency):
        issues.append(Issue(rec, "BT-5", "unknown ISO 4217 currency code", inv.currency))
        return issues  # arithmetic below needs the currency's minor unit
    if inv.due_date and inv.issue_date and inv.due_date < inv.issue_date:
        issues.append(Issue(rec, "BT-9", "due date is before the issue date", inv.due_date.isoformat(), "warning"))
    _check_party(rec, "seller", inv.seller, {"name": "BT-27", "legal": "BT-30", "vat": "BT-31", "country": "BT-40"}, issues)
    _check_party(rec, "buyer", inv.buyer, {"name": "BT-44", "legal": "BT-47", "vat": "BT-48", "country": "BT-55"}, issues)
    if inv.payment and inv.payment.iban:
        check_iban(rec, "BT-84", inv.payment.iban, issues)

    unit = _unit(inv.currency)
    t = inv.totals
    for i, line in enumerate(inv.lines, 1):
        if line.vat_category not in VAT_CATEGORIES:
            issues.append(Issue(rec, f"BT-151 (line {line.id or i})", "unknown VAT category code", line.vat_category))
        if not line.unit_code:
            issues.append(Issue(rec, f"BT-130 (line {line.id or i})", "unit of measure is required (UN/ECE rec 20)", line.unit_code))
    if inv.lines:
        line_sum = sum((ln.net_amount for ln in inv.lines), ZERO)
        if abs(line_sum - t.line_total) > unit / 2:
            issues.append(Issue(rec, "BT-106", f"sum of line net amounts is {line_sum}, not the stated line total", str(t.line_total)))
    allowances = sum((a.amount for a in inv.allowances_charges if not a.is_charge), ZERO)
    charges = sum((a.amount for a in inv.allowances_charges if a.is_charge), ZERO)
    if t.allowance_total is not None and abs(allowances - t.allowance_total) > unit / 2:
        issues.append(Issue(rec, "BT-107", f"sum of document allowances is {allowances}", str(t.allowance_total)))
    if t.charge_total is not None and abs(charges - t.charge_total) > unit / 2:
        issues.append(Issue(rec, "BT-108", f"sum of document charges is {charges}", str(t.charge_total)))
    expected_109 = t.line_total - (t.allowance_total or ZERO) + (t.charge_total or ZERO)
    if abs(expected_109 - t.tax_exclusive) > unit / 2:
        issues.append(Issue(rec, "BT-109", f"BT-106 - BT-107 + BT-108 = {expected_109}, not the stated total without VAT", str(t.tax_exclusive)))
    tax_total = t.tax_total or ZERO
    if inv.vat_breakdown:
        vat_sum = sum((v.tax_amount for v in inv.vat_breakdown), ZERO)
        if abs(vat_sum - tax_total) > unit / 2:
            issues.append(Issue(rec, "BT-110", f"sum of VAT breakdown amounts (BT-117) is {vat_sum}", str(tax_total)))
        base_sum = sum((v.taxable_amount for v in inv.vat_breakdown), ZERO)
        if abs(base_sum - t.tax_exclusive) > unit / 2:
            issues.append(Issue(rec, "BT-116", f"sum of VAT taxable amounts is {base_sum}, not BT-109", str(t.tax_exclusive)))
        for v in inv.vat_breakdown:
            if v.category not in VAT_CATEGORIES:
                issues.append(Issue(rec, "BT-118", "unknown VAT category code", v.category))
            if v.rate is not None:
                expected = quantize(v.taxable_amount * v.rate / 100, inv.currency)
                # rounding per line in the source may differ by one unit per line (BR-CO-17 allows 1)
                slack = unit * max(1, len(inv.lines))
                if abs(expected - v.tax_amount) > slack:
                    issues.append(Issue(rec, "BT-117", f"VAT {v.category} {v.rate}% of {v.taxable_amount} should be {expected}", str(v.tax_amount)))
    expected_112 = t.tax_exclusive + tax_total
    if abs(expected_112 - t.tax_inclusive) > unit / 2:
        issues.append(Issue(rec, "BT-112", f"BT-109 + BT-110 = {expected_112}, not the stated total with VAT", str(t.tax_inclusive)))
    expected_115 = t.tax_inclusive - (t.prepaid or ZERO) + (t.rounding or ZERO)
    if abs(expected_115 - t.payable) > unit / 2:
        issues.append(Issue(rec, "BT-115", f"BT-112 - BT-113 + BT-114 = {expected_115}, not the stated amount due", str(t.payable)))
    return issues


def validate_invoice(inv: Invoice) -> list[Issue]:
    """Raise :class:`ValidationFailed` when ``inv`` has errors; return the warnings otherwise."""
    issues = invoice_issues(inv)
    if any(i.severity == "error" for i in issues):
        raise ValidationFailed(inv.record_id, issues)
    return issues


def customer_issues(cust: Customer) -> list[Issue]:
    rec = cust.record_id
    issues: list[Issue] = []
    if not cust.name or not cust.name.strip():
        issues.append(Issue(rec, "name", "customer name is required", cust.name))
    check_siren(rec, "siren", cust.siren, issues)
    check_siret(rec, "siret", cust.siret, issues)
    if cust.siren and cust.siret and not cust.siret.startswith(cust.siren):
        issues.append(Issue(rec, "siret", "SIRET does not start with the SIREN", cust.siret))
    check_vat(rec, "vat_id", cust.vat_id, issues)
    for iban in cust.ibans:
        check_iban(rec, "ibans", iban, issues)
    if cust.currency and not is_currency(cust.currency):
        issues.append(Issue(rec, "currency", "unknown ISO 4217 currency code", cust.currency))
    if cust.dunning_language and not is_language_tag(cust.dunning_language):
        issues.append(Issue(rec, "dunning_language", "not a BCP 47 language tag of a known language (fr, de, pt-BR)",
                            cust.dunning_language))
    if cust.payment_days is not None and not 0 <= cust.payment_days <= 3660:
        issues.append(Issue(rec, "payment_days", "payment days must be between 0 and 3660", cust.payment_days))
    if cust.credit_limit is not None and cust.credit_limit < 0:
        issues.append(Issue(rec, "credit_limit", "a credit limit cannot be negative", cust.credit_limit))
    for contact in cust.dunning_contacts:
        if not (contact.email or contact.phone):
            issues.append(Issue(rec, "dunning_contacts", "a dunning contact needs an email or a phone", contact.name))
    return issues


def validate_customer(cust: Customer) -> list[Issue]:
    issues = customer_issues(cust)
    if any(i.severity == "error" for i in issues):
        raise ValidationFailed(cust.record_id, issues)
    return issues
