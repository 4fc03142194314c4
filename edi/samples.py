"""Varied, internally consistent canonical invoices for tests and benchmarks.

``sample_invoice(seed)`` is deterministic: the same seed gives the same invoice. Across seeds it
covers several VAT rates (S 20 / 10 / 5.5 / 2.1 %), zero-rated (Z), exempt (E with a VATEX
code) and reverse-charge (AE, intra-EU buyer) lines, line and document allowances and charges,
gross prices with discounts, credit notes (381) referring to their invoice, foreign currency
with the VAT total in EUR (BT-6 / BT-111), prepayments, and the French mentions (SIREN/SIRET,
late-payment penalties and the 40 EUR recovery indemnity, operation category, VAT on debits).

All arithmetic follows EN 16931 (BR-CO-10..17, BR-S/Z/E/AE-08/09), so every sample should pass
the CEN schematron; ``tests/einvoice`` checks that.

>>> inv = sample_invoice(7)
>>> inv == sample_invoice(7)
True
>>> sum(ln.net_amount for ln in inv.lines) == inv.totals.line_total
True
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import ROUND_HALF_UP, Decimal

from stdnum import luhn

from schemas.invoice import (
    Address,
    AllowanceCharge,
    Contact,
    Delivery,
    DocumentRef,
    Identifier,
    Invoice,
    InvoiceLine,
    Note,
    PaymentInstructions,
    Totals,
    TradeParty,
    VatBreakdown,
)

CENT = Decimal("0.01")
_ITEMS = [
    ("Papier A4 80 g, ramette de 500", "C62", "4.35", "B1"),
    ("Cartouche d'encre noire", "C62", "32.90", "B1"),
    ("Câble réseau Cat 6, 5 m", "C62", "7.80", "B1"),
    ("Prestation de maintenance", "HUR", "85.00", "S1"),
    ("Formation utilisateurs", "DAY", "950.00", "S1"),
    ("Abonnement logiciel", "MON", "149.00", "S1"),
    ("Livres techniques", "C62", "39.00", "B1"),
    ("Palette de granulés bois", "KGM", "0.42", "B1"),
    ("Transport express", "C62", "25.00", "S1"),
    ("Produits alimentaires", "KGM", "3.15", "B1"),
]
_CITIES = [("Paris", "75002"), ("Lyon", "69003"), ("Nantes", "44000"), ("Lille", "59000"), ("Bordeaux", "33000")]
_FOREIGN = [("DE", "DE136695976", "Berlin", "10115", "Kunde GmbH"), ("BE", "BE0477472701", "Bruxelles", "1000", "Client SA"),
            ("IT", "IT00743110157", "Milano", "20121", "Cliente S.p.A."), ("ES", "ESB58378431", "Barcelona", "08001", "Cliente S.L.")]
_IBANS = [("FR7630006000011234567890189", "AGRIFRPP"), ("FR1420041010050500013M02606", "PSSTFRPP")]


def _q(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def siren(rng: random.Random) -> str:
    """A random SIREN with a valid Luhn check digit."""
    body = str(rng.randint(10_000_000, 99_999_999))
    return body + luhn.calc_check_digit(body)


def siret(siren_: str, rng: random.Random) -> str:
    body = siren_ + f"{rng.randint(1, 9999):04d}"
    return body + luhn.calc_check_digit(body)


def fr_vat(siren_: str) -> str:
    return f"FR{(12 + 3 * (int(siren_) % 97)) % 97:02d}{siren_}"


def gtin(rng: random.Random) -> str:
    body = f"{rng.randint(0, 10**12 - 1):012d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _party_fr(rng: random.Random, name: str, *, seller: bool) -> TradeParty:
    s = siren(rng)
    city, pc = rng.choice(_CITIES)
    return TradeParty(
        name=name,
        trading_name=f"{name.split()[0]} Services" if seller and rng.random() < 0.3 else None,
        identifiers=[Identifier(value=siret(s, rng), scheme="0009")],
        legal_registration=Identifier(value=s, scheme="0002"),
        vat_id=fr_vat(s),
        legal_info="SAS au capital de 10 000 EUR, RCS " + city if seller else None,
        electronic_address=Identifier(value=s, scheme="0225") if rng.random() < 0.5 else Identifier(
            value=f"factures@{name.split()[0].lower()}.example", scheme="EM"),
        address=Address(line1=f"{rng.randint(1, 120)} rue de la République", city=city, postcode=pc, country="FR"),
        contact=Contact(name="Service comptabilité", phone="+33 1 23 45 67 89", email="compta@example.fr") if rng.random() < 0.6 else None,
    )


def sample_invoice(seed: int) -> Invoice:
    """One deterministic, EN 16931-consistent canonical invoice (see the module docstring)."""
    rng = random.Random(seed)
    credit = seed % 7 == 3
    reverse_charge = seed % 5 == 2
    foreign_currency = seed % 6 == 4 and not reverse_charge
    currency = rng.choice(["USD", "GBP", "CHF"]) if foreign_currency else "EUR"
    issue = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 300))
    seller = _party_fr(rng, rng.choice(["Atelier Dupont SARL", "Logiciels Martin SAS", "Fournitures Leroy SA"]), seller=True)
    seller.tax_registration_id = f"{seller.legal_registration.value}00012" if rng.random() < 0.3 else None  # type: ignore[union-attr]
    if reverse_charge:
        country, vat_id, city, pc, name = rng.choice(_FOREIGN)
        buyer = TradeParty(name=name, vat_id=vat_id, address=Address(line1="Hauptstraße 1", city=city, postcode=pc, country=country),
                           electronic_address=Identifier(value=f"ap@{country.lower()}.example", scheme="EM"))
    else:
        buyer = _party_fr(rng, rng.choice(["Client Bernard SAS", "Mairie de Villeneuve", "Cabinet Petit"]), seller=False)

    # VAT situations of this invoice: (category, rate, exemption reason, VATEX code)
    situations: list[tuple[str, Decimal, str | None, str | None]]
    if reverse_charge:
        situations = [("AE", Decimal("0"), "Autoliquidation", "VATEX-EU-AE")]
    else:
        situations = [("S", Decimal("20"), None, None)]
        extra: list[tuple[str, Decimal, str | None, str | None]] = [("S", Decimal("10"), None, None), ("S", Decimal("5.5"), None, None), ("S", Decimal("2.1"), None, None),
                 ("Z", Decimal("0"), None, None), ("E", Decimal("0"), "Exonération de TVA, article 261 du CGI", "VATEX-EU-132")]
        situations += rng.sample(extra, rng.randint(0, 2))

    lines: list[InvoiceLine] = []
    processes = set()
    for i in range(1, rng.randint(1, 6) + 1):
        name, unit, price, process = rng.choice(_ITEMS)
        processes.add(process)
        cat, rate, _, _ = rng.choice(situations)
        qty = Decimal(rng.choice(["1", "2", "3", "5", "10", "12.5", "0.75", "40"]))
        net_price = Decimal(price)
        gross = discount = None
        if rng.random() < 0.25:
            discount = _q(net_price * Decimal("0.1"))
            gross = net_price + discount
        base = _q(qty * net_price)
        acs: list[AllowanceCharge] = []
        if rng.random() < 0.2:
            acs.append(AllowanceCharge(is_charge=False, amount=_q(base * Decimal("0.05")), base_amount=base, percent=Decimal("5"),
                                       reason="Remise fidélité", reason_code="95"))
        if rng.random() < 0.15:
            acs.append(AllowanceCharge(is_charge=True, amount=Decimal("12.00"), reason="Emballage", reason_code="ABL"))
        net = base - sum((a.amount for a in acs if not a.is_charge), Decimal(0)) + sum((a.amount for a in acs if a.is_charge), Decimal(0))
        lines.append(InvoiceLine(
            id=str(i), quantity=qty, unit_code=unit, net_amount=net, net_price=net_price, item_name=name,
            vat_category=cat, vat_rate=rate, allowances_charges=acs, gross_price=gross, price_discount=discount,
            note="Livraison partielle" if rng.random() < 0.1 else None,
            seller_item_id=f"ART-{rng.randint(100, 999)}" if rng.random() < 0.7 else None,
            buyer_item_id=f"REF-{rng.randint(1000, 9999)}" if rng.random() < 0.2 else None,
            standard_item_id=Identifier(value=gtin(rng), scheme="0160") if rng.random() < 0.3 else None,
            description="Conforme au devis" if rng.random() < 0.2 else None,
            origin_country="FR" if rng.random() < 0.2 else None,
            order_line_ref=str(i) if rng.random() < 0.2 else None,
            period_start=issue.replace(day=1) if process == "S1" and rng.random() < 0.3 else None,
            period_end=issue if process == "S1" and rng.random() < 0.3 else None,
        ))
        if lines[-1].period_end and lines[-1].period_start is None:
            lines[-1].period_start = issue.replace(day=1)
    used: list[tuple[str, Decimal]] = sorted({(ln.vat_category, ln.vat_rate or Decimal(0)) for ln in lines})

    # document-level allowance / charge on one of the used categories
    doc_acs: list[AllowanceCharge] = []
    if rng.random() < 0.3:
        cat, rate = used[0]
        base = sum((ln.net_amount for ln in lines if (ln.vat_category, ln.vat_rate) == (cat, rate)), Decimal(0))
        doc_acs.append(AllowanceCharge(is_charge=False, amount=_q(base * Decimal("0.02")), base_amount=base, percent=Decimal("2"),
                                       vat_category=cat, vat_rate=rate, reason="Remise commerciale", reason_code="95"))
    if rng.random() < 0.25:
        cat, rate = used[-1]
        doc_acs.append(AllowanceCharge(is_charge=True, amount=Decimal("15.00"), vat_category=cat, vat_rate=rate,
                                       reason="Frais de port", reason_code="FC"))

    vat: list[VatBreakdown] = []
    for cat, rate in used:
        taxable = sum((ln.net_amount for ln in lines if (ln.vat_category, ln.vat_rate) == (cat, rate)), Decimal(0))
        for a in doc_acs:
            if (a.vat_category, a.vat_rate) == (cat, rate):
                taxable += a.amount if a.is_charge else -a.amount
        reason, code = next(((r, c) for k, rt, r, c in situations if (k, rt) == (cat, rate)), (None, None))
        vat.append(VatBreakdown(category=cat, taxable_amount=_q(taxable), tax_amount=_q(taxable * rate / 100), rate=rate,
                                exemption_reason=reason, exemption_reason_code=code))

    line_total = sum((ln.net_amount for ln in lines), Decimal(0))
    allowances = [a for a in doc_acs if not a.is_charge]
    charges = [a for a in doc_acs if a.is_charge]
    allowance_total = sum((a.amount for a in allowances), Decimal(0)) if allowances else None
    charge_total = sum((a.amount for a in charges), Decimal(0)) if charges else None
    tax_exclusive = line_total - (allowance_total or 0) + (charge_total or 0)
    tax_total = sum((v.tax_amount for v in vat), Decimal(0))
    inclusive = tax_exclusive + tax_total
    prepaid = _q(inclusive * Decimal("0.3")) if not credit and rng.random() < 0.15 else None
    totals = Totals(line_total=line_total, tax_exclusive=tax_exclusive, tax_inclusive=inclusive,
                    payable=inclusive - (prepaid or 0), allowance_total=allowance_total, charge_total=charge_total,
                    tax_total=tax_total, prepaid=prepaid)
    tax_currency = None
    if foreign_currency:
        tax_currency = "EUR"
        rate_eur = {"USD": Decimal("0.9213"), "GBP": Decimal("1.1642"), "CHF": Decimal("1.0671")}[currency]
        totals.tax_total_accounting = _q(tax_total * rate_eur)

    process = "M1" if len(processes) > 1 else processes.pop()
    number = f"{'AV' if credit else 'FA'}-2026-{seed:06d}"
    iban, bic = rng.choice(_IBANS)
    vat_on_debits = "S1" in process and rng.random() < 0.3
    notes = [
        Note(text="En cas de retard de paiement, pénalités au taux de 3 fois le taux d'intérêt légal.", subject_code="PMD"),
        Note(text="Indemnité forfaitaire pour frais de recouvrement : 40 EUR.", subject_code="PMT"),
        Note(text="Pas d'escompte pour paiement anticipé.", subject_code="AAB"),
    ]
    if reverse_charge:
        notes.append(Note(text="Autoliquidation - article 283-2 du CGI", subject_code="REG"))
    return Invoice(
        number=number,
        issue_date=issue,
        type_code="381" if credit else "380",
        currency=currency,
        seller=seller,
        buyer=buyer,
        totals=totals,
        lines=lines,
        vat_breakdown=vat,
        allowances_charges=doc_acs,
        tax_currency=tax_currency,
        tax_point_date=issue if not vat_on_debits and rng.random() < 0.2 else None,
        due_date=issue + dt.timedelta(days=30),
        buyer_reference=f"SERV-{rng.randint(10, 99)}" if rng.random() < 0.5 else None,
        project_ref=f"PRJ-{rng.randint(100, 999)}" if rng.random() < 0.1 else None,
        contract_ref=f"CTR-{rng.randint(100, 999)}" if rng.random() < 0.2 else None,
        order_ref=f"PO-{rng.randint(10000, 99999)}" if rng.random() < 0.6 else None,
        sales_order_ref=f"SO-{rng.randint(10000, 99999)}" if rng.random() < 0.1 else None,
        despatch_advice_ref=f"BL-{rng.randint(1000, 9999)}" if rng.random() < 0.2 else None,
        receiving_advice_ref=f"RA-{rng.randint(1000, 9999)}" if rng.random() < 0.1 else None,
        buyer_accounting_ref=f"6064{rng.randint(10, 99)}" if rng.random() < 0.1 else None,
        payment_terms="Paiement à 30 jours date de facture",
        notes=notes,
        business_process=process,
        specification_id="urn:cen.eu:en16931:2017",
        preceding_invoices=[DocumentRef(number=f"FA-2026-{seed - 1:06d}", issue_date=issue - dt.timedelta(days=10))] if credit else [],
        payee=TradeParty(name="Affacturage Exemple SA", legal_registration=Identifier(value="552081317", scheme="0002"))
        if seed % 11 == 5 else None,
        delivery=Delivery(party_name=buyer.name, date=issue - dt.timedelta(days=2),
                          address=Address(line1="Zone industrielle, quai 4", city="Rungis", postcode="94150", country="FR"))
        if not reverse_charge and rng.random() < 0.4 else (Delivery(date=issue) if reverse_charge else None),
        period_start=issue.replace(day=1) if process != "B1" and rng.random() < 0.3 else None,
        period_end=None,
        payment=PaymentInstructions(means_code="58", remittance_info=number, iban=iban,
                                    account_name=seller.name if rng.random() < 0.5 else None, bic=bic),
        operation_category={"B1": "goods", "S1": "services", "M1": "both"}[process],  # type: ignore[arg-type]
        vat_on_debits=vat_on_debits,
    )


def sample_invoices(count: int, start: int = 0) -> list[Invoice]:
    return [sample_invoice(seed) for seed in range(start, start + count)]
