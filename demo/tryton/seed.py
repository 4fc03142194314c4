"""Seed an activated Tryton 8.2 database with a French order-to-cash data set.

Run in its own process (proteus runs trytond in-process and keeps a global pool)::

    python -m demo.tryton.seed --config trytond.conf --database demo --invoices 40 --seed 1

The database must already exist with the modules ``party company currency account account_invoice
account_fr account_statement account_credit_limit account_dunning edocument_uncefact stock
account_invoice_stock sale account_tax_cash`` activated (see :func:`demo.tryton.server.build_template`). The script creates, in this order:

- currencies EUR (company currency) and USD, countries FR, DE, BE;
- the company "Acme Industrie SAS" with SIREN, SIRET, FR VAT number, address and IBAN;
- fiscal years 2026 through ``--through-year`` (default: next year) with monthly periods and
  strict sequences (``FA2026-00001`` for invoices, ``AV2026-00001`` for credit notes); VAT on
  services on cash basis (``account_tax_cash``) in the periods of January to June 2026, on debits
  from July (see :meth:`Seeder.fiscal_year`);
- the French chart (``account_fr.root``) through the chart wizard, then ``unece_code='VAT'`` and
  the UNCL 5305 category on the sales taxes (S for 20/10/5.5 %, K and AE for intra-EU exemptions);
- payment terms "30 jours net" and "45 jours fin de mois", units, product categories, products;
- 8 customers (7 French with SIREN/SIRET/VAT computed with python-stdnum, 1 German with a DE VAT id;
  one French and the German one with a second, delivery address), with what collections read
  (:data:`MASTER`): the party's language, a named accounts-receivable contact for invoices beside
  the general e-mail, a party category "Blocage encours" (a hold, when the source option
  ``hold_categories`` names it) and one deactivated former customer;
- ``--invoices`` posted customer invoices in date order through 2026 (numbering is strictly
  chronological); an invoice that sells goods comes from a sale (invoiced and shipped on order)
  whose customer shipment is done 0 to 3 days before the invoice date, so its goods lines are
  linked to their stock moves; an invoice of services only is entered directly; 4 posted partial credit notes shaped as Tryton's credit wizard makes them
  (negative quantity, line ``origin`` = the credited invoice line, negative total), one cancelled
  invoice and one draft invoice (the hub must not pull either);
- last (after the invoices, so numbers and totals do not depend on it), the dunning procedure
  "Relance standard" (:data:`DUNNING_LEVELS`: levels at 10, 30 and 60 days past due, the hub's
  default policy), the company's default and every customer's procedure. No dunning is created:
  the hub writes the level of the reminders it sends.

Everything random comes from ``random.Random(seed)``, so a seed gives the same data every time.
The script prints a JSON summary on stdout (amounts as strings).

The invoice report is not rendered at posting: trytond queues ``print_invoice`` (and the VIES
check of new VAT numbers, which would need the network) after each commit; here the queue is
switched to "worker" mode so the tasks are only stored, and the stored tasks are deleted at the
end. The seeded VAT numbers are then marked as validated, so posting over RPC raises no
"unverified VAT number" warning.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from stdnum import luhn
from stdnum.fr import siren as fr_siren
from stdnum.iso7064 import mod_11_10, mod_97_10

YEAR = 2026
FIRST_DATE = dt.date(YEAR, 1, 5)
LAST_DATE = dt.date(YEAR, 11, 13)
# VAT on services reported on receipts (cash basis) before this date, on debits from it on
CASH_BASIS_UNTIL = dt.date(YEAR, 7, 1)
CREDIT_NOTES = 4
CENT = Decimal("0.01")


# -- identifiers -----------------------------------------------------------------------------------


def make_siren(base8: str) -> str:
    """SIREN: 8 digits plus a Luhn check digit.

    >>> make_siren("73282932")
    '732829320'
    """
    return base8 + luhn.calc_check_digit(base8)


def make_siret(siren: str, nic4: str) -> str:
    """SIRET: SIREN, a 4-digit establishment number (NIC) and a Luhn digit over the 14 digits.

    >>> from stdnum.fr import siret
    >>> siret.is_valid(make_siret("732829320", "0007"))
    True
    """
    base = siren + nic4
    return base + luhn.calc_check_digit(base)


def make_fr_vat(siren: str) -> str:
    """French VAT number: ``FR`` + key ``(12 + 3 * (SIREN mod 97)) mod 97`` + SIREN.

    >>> make_fr_vat("732829320")
    'FR44732829320'
    """
    return "FR" + fr_siren.to_tva(siren)


def make_de_vat(base8: str) -> str:
    """German USt-IdNr: ``DE`` + 8 digits + an ISO 7064 Mod 11,10 check digit.

    >>> make_de_vat("13669597")
    'DE136695976'
    """
    return "DE" + base8 + mod_11_10.calc_check_digit(base8)


def make_fr_iban(bank: str, branch: str, account: str) -> str:
    """French IBAN with the RIB key (97 - (89 bank + 15 branch + 3 account) mod 97).

    >>> make_fr_iban("30006", "00001", "12345678901")
    'FR7630006000011234567890189'
    """
    rib_key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97
    bban = f"{bank}{branch}{account}{rib_key:02d}"
    check = mod_97_10.calc_check_digits(bban + "FR")
    return f"FR{check}{bban}"


# -- static data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    code: str
    name: str
    siren_base: str | None  # 8 digits, French customers only
    nic: str | None  # 4 digits of the establishment number; the SIRET adds a Luhn digit
    street: str
    postal_code: str
    city: str
    country: str
    email: str
    payment_term: str  # "30" or "45FDM"
    credit_limit: Decimal | None = None
    de_vat_base: str | None = None
    iban: tuple[str, str, str] | None = None  # bank, branch, account of a French RIB
    weight: int = 1
    # a delivery address other than the invoice address: (site name, street, postal code, city, country)
    delivery: tuple[str, str, str, str, str] | None = None


COMPANY = Customer(
    code="ACME",
    name="Acme Industrie SAS",
    siren_base="84312945",
    nic="0001",
    street="12 rue de la Forge",
    postal_code="69007",
    city="Lyon",
    country="FR",
    email="compta@acme-industrie.example",
    payment_term="30",
    iban=("30004", "00823", "00010739101"),
)

CUSTOMERS = [
    Customer("C0001", "Boulangeries Martin SARL", "51234870", "0002", "8 place Bellecour", "69002", "Lyon",
             "FR", "factures@boulangeries-martin.example", "30", Decimal("15000.00"), weight=3),
    Customer("C0002", "Transports Lefèvre et Fils SAS", "40211736", "0004", "145 avenue de Dunkerque", "59000",
             "Lille", "FR", "comptabilite@lefevre-transports.example", "45FDM", Decimal("40000.00"), weight=3,
             delivery=("Lefèvre - Entrepôt de Lesquin", "Rue de la Haute Borne", "59810", "Lesquin", "FR")),
    Customer("C0003", "Clinique Vétérinaire du Parc", "79305521", "0001", "3 allée des Tilleuls", "44000",
             "Nantes", "FR", "accueil@cliniqueduparc.example", "30", weight=1),
    Customer("C0004", "Hôtel Le Grand Bleu SAS", "88120467", "0003", "27 promenade des Anglais", "06000",
             "Nice", "FR", "direction@grandbleu-hotel.example", "45FDM", Decimal("25000.00"), weight=2),
    Customer("C0005", "Menuiserie Dubois et Cie", "43387102", "0001", "19 quai des Chartrons", "33000",
             "Bordeaux", "FR", "contact@menuiserie-dubois.example", "30", weight=2),
    Customer("C0006", "Garage Moreau Automobiles SARL", "35266819", "0005", "52 route d'Espagne", "31100",
             "Toulouse", "FR", "garage.moreau@example.fr", "30", Decimal("0.00"), weight=1),
    Customer("C0007", "Librairie Rousseau", "61844093", "0002", "4 rue des Juifs", "67000", "Strasbourg", "FR",
             "librairie.rousseau@example.fr", "30", iban=("10278", "01234", "00020134501"), weight=2),
    Customer("C0008", "Müller Maschinenbau GmbH", None, None, "Landsberger Straße 110", "80339", "München",
             "DE", "buchhaltung@mueller-maschinenbau.example", "45FDM", de_vat_base="81452963", weight=2,
             delivery=("Müller Maschinenbau - Werk Augsburg", "Industriestraße 12", "86167", "Augsburg", "DE")),
]

# the customer master's collections part, per customer code: language, a contact for invoices
# (name, e-mail) marked with Tryton's "invoice" usage beside the general e-mail, party categories
MASTER: dict[str, dict[str, Any]] = {
    "C0002": {"contact": ("Service comptabilité clients", "relances@lefevre-transports.example")},
    "C0006": {"categories": ["Blocage encours"]},
    "C0008": {"lang": "de"},
}
HOLD_CATEGORY = "Blocage encours"
FORMER_CUSTOMER = Customer("C0099", "Ancienne Imprimerie Lambert SA", "39912046", "0001", "2 rue de la Paix", "75002",
                           "Paris", "FR", "contact@imprimerie-lambert.example", "30")

# Tryton's dunning procedure: a level per number of days past due (the hub's default levels)
DUNNING_PROCEDURE = "Relance standard"
DUNNING_LEVELS = (10, 30, 60)

# (code, name, kind, unit, list price, category)
PRODUCTS = [
    ("MAT-ACIER-10", "Tôle acier galvanisé 10/10", "goods", "kg", Decimal("4.85"), "biens20"),
    ("MAT-VIS-M8", "Boîte de 100 vis inox M8", "goods", "u", Decimal("24.90"), "biens20"),
    ("EQP-ETABLI", "Établi d'atelier 2 m", "goods", "u", Decimal("689.00"), "biens20"),
    ("EQP-EPI", "Kit équipement de protection individuelle", "goods", "u", Decimal("57.40"), "biens20"),
    ("SRV-INSTALL", "Installation sur site", "service", "h", Decimal("85.00"), "services20"),
    ("SRV-MAINT", "Contrat de maintenance mensuel", "service", "u", Decimal("320.00"), "services20"),
    ("SRV-TRANSPORT", "Transport de marchandises", "service", "u", Decimal("145.00"), "services10"),
    ("SRV-RENOV", "Travaux de rénovation (taux intermédiaire)", "service", "h", Decimal("62.00"), "services10"),
    ("ALI-CAFE", "Café en grains 1 kg", "goods", "u", Decimal("18.60"), "biens5_5"),
    ("LIV-MANUEL", "Manuel technique de soudure", "goods", "u", Decimal("39.00"), "biens5_5"),
]

# account_fr tax template xml ids of the sales taxes, with their UNCL 5305 category code.
SALES_TAXES = {
    "tva_vente_biens_taux_normal": "S",
    "tva_vente_biens_20": "S",
    "tva_vente_services_taux_normal": "S",
    "tva_vente_services_20": "S",
    "tva_vente_biens_taux_intermediaire": "S",
    "tva_vente_biens_10": "S",
    "tva_vente_services_taux_intermediaire": "S",
    "tva_vente_services_10": "S",
    "tva_vente_biens_5_5": "S",
    "tva_vente_services_5_5": "S",
    "tva_vente_intracommunautaire_biens_0": "K",
    "tva_vente_intracommunautaire_services_0": "AE",
}
CATEGORY_TAXES = {
    "biens20": ("Biens TVA 20 %", "tva_vente_biens_taux_normal", "707"),
    "services20": ("Services TVA 20 %", "tva_vente_services_taux_normal", "706"),
    "services10": ("Services TVA 10 %", "tva_vente_services_taux_intermediaire", "706"),
    "biens5_5": ("Biens TVA 5,5 %", "tva_vente_biens_5_5", "707"),
}
# Intra-EU B2B sales are exempt (goods, CGI art. 262 ter I) or reverse-charged (services, art. 283-2).
INTRA_EU_TAX = {"goods": "tva_vente_intracommunautaire_biens_0", "service": "tva_vente_intracommunautaire_services_0"}


# -- seeding ---------------------------------------------------------------------------------------


class Seeder:
    def __init__(self, rng: random.Random) -> None:
        from proteus import Model, Wizard
        from proteus.config import get_config

        self.Model = Model
        self.Wizard = Wizard
        self.config = get_config()
        self.rng = rng
        self.banks: dict[str, Any] = {}
        self.identifiers: dict[str, dict[str, str]] = {}

    def get(self, name: str) -> Any:
        return self.Model.get(name)

    def xml_id(self, module_dot_id: str) -> int:
        ModelData = self.get("ir.model.data")
        return ModelData.get_id(*module_dot_id.split("."), self.config.context)

    # base data
    def currencies_and_countries(self) -> None:
        Currency = self.get("currency.currency")
        Rate = self.get("currency.currency.rate")
        Country = self.get("country.country")
        self.eur = Currency(name="Euro", code="EUR", symbol="€", numeric_code="978", rounding=CENT, digits=2)
        self.eur.save()
        Rate(date=dt.date(YEAR - 1, 1, 1), rate=Decimal("1"), currency=self.eur).save()
        self.usd = Currency(name="US Dollar", code="USD", symbol="$", numeric_code="840", rounding=CENT, digits=2)
        self.usd.save()
        Rate(date=dt.date(YEAR - 1, 1, 1), rate=Decimal("1.0850"), currency=self.usd).save()
        self.countries = {}
        for code, code3, num, name in [("FR", "FRA", "250", "France"), ("DE", "DEU", "276", "Germany"),
                                       ("BE", "BEL", "056", "Belgium")]:
            country = Country(name=name, code=code, code3=code3, code_numeric=num)
            country.save()
            self.countries[code] = country

    def party(self, c: Customer) -> Any:
        Party = self.get("party.party")
        party = Party(name=c.name, code=c.code)
        address = party.addresses[0] if party.addresses else party.addresses.new()
        address.street_unstructured = c.street
        address.postal_code = c.postal_code
        address.city = c.city
        address.country = self.countries[c.country]
        address.invoice = True
        party.contact_mechanisms.new(type="email", value=c.email, invoice=True)
        party.lang = None
        idents: dict[str, str] = {}
        if c.siren_base:
            siren = make_siren(c.siren_base)
            idents["siren"] = siren
            party.identifiers.new(type="fr_siren", code=siren)
            idents["vat"] = make_fr_vat(siren)
            party.identifiers.new(type="eu_vat", code=idents["vat"])
        if c.de_vat_base:
            idents["vat"] = make_de_vat(c.de_vat_base)
            party.identifiers.new(type="eu_vat", code=idents["vat"])
        party.save()
        if c.siren_base and c.nic:
            siret = make_siret(idents["siren"], c.nic)
            idents["siret"] = siret
            Identifier = self.get("party.identifier")
            Identifier(party=party, address=party.addresses[0], type="fr_siret", code=siret).save()
        if c.iban:
            idents["iban"] = make_fr_iban(*c.iban)
            self.bank_account(party, idents["iban"])
        if c.delivery:
            site, street, postal_code, city, country = c.delivery
            Address = self.get("party.address")
            Address(party=party, party_name=site, street_unstructured=street, postal_code=postal_code, city=city,
                    country=self.countries[country], delivery=True, invoice=False).save()
        party.reload()
        self.identifiers[c.code] = idents
        return party

    def bank_account(self, party: Any, iban: str) -> None:
        """A bank account owned by ``party``; its bank (name, BIC) comes from schwifty's registry."""
        import schwifty

        Account = self.get("bank.account")
        Bank = self.get("bank")
        Party = self.get("party.party")
        registry = schwifty.IBAN(iban)
        bic = str(registry.bic)
        bank = self.banks.get(bic)
        if bank is None:
            bank_party = Party(name=registry.bank_name or bic)
            bank_party.save()
            bank = self.banks[bic] = Bank(party=bank_party, bic=bic)
            bank.save()
        account = Account(bank=bank, currency=self.eur)
        account.owners.append(Party(party.id))
        account.numbers.new(type="iban", number=iban)
        account.save()

    def company(self) -> None:
        party = self.party(COMPANY)
        company_config = self.Wizard("company.company.config")
        company_config.execute("company")
        company = company_config.form
        company.party = party
        company.currency = self.eur
        company.timezone = "Europe/Paris"
        company_config.execute("add")
        User = self.get("res.user")
        self.config._context = User.get_preferences(True, {})
        Company = self.get("company.company")
        (self.company_rec,) = Company.find()

    def fiscal_year(self, through: int) -> None:
        """Fiscal years ``YEAR`` to ``through`` (monthly periods, strict sequences ``FA<year>-``...).

        The invoices are all dated in ``YEAR``; the later years are there because Tryton books
        some entries in the period of *today*: with ``account_tax_cash``, paying an invoice moves
        its cash-basis VAT into today's period (``Invoice._update_tax_cash_basis``), so a payment
        recorded in a year without a fiscal year fails. :func:`demo.tryton.server.prepare_database`
        asks for today's year and the next one (its cache is keyed by that year).

        VAT on receipts or on debits (``account_tax_cash``): French VAT on services is due on
        receipt unless the seller opts for debits (CGI art. 269-2-c). The demo company reported
        its VAT on services on cash basis from January to June ``YEAR`` (the periods list the
        tax group "T.V.A. Vente de services") and opted for debits from 1 July (the later periods
        and years list nothing); VAT on goods is due on delivery, never on cash basis.
        """
        FiscalYear = self.get("account.fiscalyear")
        Sequence = self.get("ir.sequence.strict")
        SequenceType = self.get("ir.sequence.type")
        TaxGroup = self.get("account.tax.group")
        (move_type,) = SequenceType.find([("name", "=", "Account Move")], limit=1)
        (invoice_type,) = SequenceType.find([("name", "=", "Invoice")], limit=1)
        services_group = TaxGroup(self.xml_id("account_fr.group_tva_vente_services"))
        self.fiscalyears = {}
        for year in range(YEAR, max(YEAR, through) + 1):
            move_seq = Sequence(name=f"Écritures {year}", sequence_type=move_type, company=self.company_rec,
                                prefix=f"EC{year}-", padding=6)
            move_seq.save()
            out_inv = Sequence(name=f"Factures clients {year}", sequence_type=invoice_type,
                               company=self.company_rec, prefix=f"FA{year}-", padding=5)
            out_inv.save()
            out_cn = Sequence(name=f"Avoirs clients {year}", sequence_type=invoice_type, company=self.company_rec,
                              prefix=f"AV{year}-", padding=5)
            out_cn.save()
            in_seq = Sequence(name=f"Factures fournisseurs {year}", sequence_type=invoice_type,
                              company=self.company_rec, prefix=f"FF{year}-", padding=5)
            in_seq.save()
            fy = FiscalYear(name=str(year), start_date=dt.date(year, 1, 1), end_date=dt.date(year, 12, 31),
                            company=self.company_rec, move_sequence=move_seq)
            (seq,) = fy.invoice_sequences
            seq.out_invoice_sequence = out_inv
            seq.out_credit_note_sequence = out_cn
            seq.in_invoice_sequence = in_seq
            seq.in_credit_note_sequence = in_seq
            fy.save()
            fy.click("create_period")
            fy.reload()
            self.fiscalyears[year] = fy
        self.fiscalyear = self.fiscalyears[YEAR]
        Period = self.get("account.period")
        for period in self.fiscalyear.periods:
            if period.type == "standard" and period.start_date < CASH_BASIS_UNTIL:
                p = Period(period.id)
                p.tax_group_on_cash_basis.append(TaxGroup(services_group.id))
                p.save()

    def chart(self) -> None:
        AccountTemplate = self.get("account.account.template")
        Account = self.get("account.account")
        template = AccountTemplate(self.xml_id("account_fr.root"))
        wizard = self.Wizard("account.create_chart")
        wizard.execute("account")
        wizard.form.account_template = template
        wizard.form.company = self.company_rec
        wizard.execute("create_account")
        # Leaf accounts of the French chart (411, 707 and 607 are closed parents).
        codes = {"411": "4111", "401": "4011", "706": "706", "707": "7071", "607": "6071", "512": "5121"}
        self.accounts = {}
        for key, code in codes.items():
            (self.accounts[key],) = Account.find([("company", "=", self.company_rec.id), ("code", "=", code)])
        wizard.form.account_receivable = self.accounts["411"]
        wizard.form.account_payable = self.accounts["401"]
        if hasattr(wizard.form, "category_account_revenue"):
            wizard.form.category_account_revenue = self.accounts["707"]
            wizard.form.category_account_expense = self.accounts["607"]
        wizard.execute("create_properties")

        # Taxes created from the account_fr templates: set the UN/ECE codes the CII writer needs.
        Tax = self.get("account.tax")
        self.taxes = {}
        for xml_id, category in SALES_TAXES.items():
            template_id = self.xml_id(f"account_fr.{xml_id}")
            (tax,) = Tax.find([("template", "=", template_id), ("company", "=", self.company_rec.id)])
            tax.unece_code = "VAT"
            tax.unece_category_code = category
            tax.save()
            self.taxes[xml_id] = tax

    def payment_terms(self) -> None:
        Term = self.get("account.invoice.payment_term")
        net30 = Term(name="30 jours net", description="Paiement à 30 jours date de facture")
        line = net30.lines.new(type="remainder")
        line.relativedeltas.new(days=30)
        net30.save()
        eom45 = Term(name="45 jours fin de mois", description="Paiement à 45 jours fin de mois")
        line = eom45.lines.new(type="remainder")
        line.relativedeltas.new(days=45)
        line.relativedeltas.new(day=31)
        eom45.save()
        self.terms = {"30": net30, "45FDM": eom45}
        Configuration = self.get("account.configuration")
        configuration = Configuration(1)
        configuration.default_customer_payment_term = net30
        configuration.save()

    def products(self) -> None:
        Uom = self.get("product.uom")
        Category = self.get("product.category")
        Template = self.get("product.template")
        units = {
            "u": Uom(self.xml_id("product.uom_unit")),
            "h": Uom(self.xml_id("product.uom_hour")),
            "kg": Uom(self.xml_id("product.uom_kilogram")),
        }
        categories = {}
        for key, (name, tax_xml_id, revenue) in CATEGORY_TAXES.items():
            category = Category(name=name, accounting=True)
            category.account_revenue = self.accounts[revenue]
            category.account_expense = self.accounts["607"]
            category.customer_taxes.append(self.get("account.tax")(self.taxes[tax_xml_id].id))
            category.save()
            categories[key] = category
        # what the line's on_change_product would fill in, kept to build invoice lines as plain values
        self.product_lines: dict[str, dict[str, Any]] = {}
        for code, name, kind, unit, price, category in PRODUCTS:
            template = Template(name=name, code=code, type=kind, default_uom=units[unit], list_price=price,
                                account_category=categories[category], salable=True)
            template.save()
            (product,) = template.products
            _name, tax_xml_id, revenue = CATEGORY_TAXES[category]
            self.product_lines[code] = {
                "product": product.id,
                "unit": units[unit].id,
                "account": self.accounts[revenue].id,
                "taxes": [self.taxes[tax_xml_id].id],
            }

    def customers(self) -> None:
        self.customer_parties = []
        Lang = self.get("ir.lang")
        Category = self.get("party.category")
        langs = {lang.code: lang for lang in Lang.find([("code", "in", ["fr", "de"])])}
        categories = {HOLD_CATEGORY: Category(name=HOLD_CATEGORY)}
        categories[HOLD_CATEGORY].save()
        for c in CUSTOMERS:
            party = self.party(c)
            master = MASTER.get(c.code, {})
            party.customer_payment_term = self.terms[c.payment_term]
            if c.credit_limit is not None:
                party.credit_limit_amount = c.credit_limit
            party.lang = langs[master.get("lang", "fr")]
            if "contact" in master:
                # the general e-mail stays, without the invoice usage; reminders go to this one
                for mechanism in party.contact_mechanisms:
                    mechanism.invoice = False
                name, email = master["contact"]
                party.contact_mechanisms.new(type="email", value=email, name=name, invoice=True)
            for category in master.get("categories", []):
                party.categories.append(Category(categories[category].id))
            party.save()
            self.customer_parties.append((c, party))
        former = self.party(FORMER_CUSTOMER)
        former.lang = langs["fr"]
        former.active = False
        former.save()
        self.former_party = former

    def dunning(self) -> None:
        """The dunning procedure, the company's default and every customer's (account_dunning)."""
        Procedure = self.get("account.dunning.procedure")
        procedure = Procedure(name=DUNNING_PROCEDURE)
        for days in DUNNING_LEVELS:
            procedure.levels.new(overdue=dt.timedelta(days=days))
        procedure.save()
        Configuration = self.get("account.configuration")
        config = Configuration(1)
        config.default_dunning_procedure = procedure
        config.save()
        Party = self.get("party.party")
        parties = [Party(p.id) for _, p in self.customer_parties]
        for party in parties:
            party.dunning_procedure = procedure
        Party.save(parties)
        self.dunning_procedure = procedure

    # invoices
    #
    # Invoices are created as plain values (what the client's on_change calls would fill in) and
    # posted in batches: about 5 times faster than building them field by field with proteus.
    # Invoice.post numbers a batch in date order, so numbering stays chronological.

    def invoice_dates(self, count: int) -> list[dt.date]:
        days = [FIRST_DATE + dt.timedelta(days=i) for i in range((LAST_DATE - FIRST_DATE).days + 1)]
        business_days = [d for d in days if d.weekday() < 5]
        return sorted(self.rng.choice(business_days) for _ in range(count))

    def invoice_header(self, party: Any) -> dict[str, Any]:
        """Header values from the invoice's own on_change_party (computed once per party, not saved)."""
        if party.id not in self.headers:
            probe = self.get("account.invoice")(type="out", party=party)
            self.headers[party.id] = {
                "company": probe.company.id,
                "type": "out",
                "party": party.id,
                "invoice_address": probe.invoice_address.id,
                "currency": probe.currency.id,
                "journal": probe.journal.id,
                "account": probe.account.id,
                "payment_term": probe.payment_term.id,
            }
        return dict(self.headers[party.id])

    def invoice_values(self, date: dt.date, customer: Customer, party: Any) -> dict[str, Any]:
        values = self.invoice_header(party)
        values["invoice_date"] = date
        values["reference"] = f"CMD-{date:%y%m}-{self.rng.randint(1000, 9999)}"
        values["description"] = f"Commande du {date:%d/%m/%Y}"
        lines = []
        kinds = set()
        for _ in range(self.rng.choice([1, 1, 2, 2, 3, 4])):
            code, _name, kind, unit, price, _cat = self.rng.choice(PRODUCTS)
            kinds.add(kind)
            product = self.product_lines[code]
            if unit == "kg":
                quantity = float(self.rng.randrange(50, 1500, 10))
            elif unit == "h":
                quantity = float(self.rng.choice([2, 3.5, 4, 6, 7.5, 8, 12, 16]))
            else:
                quantity = float(self.rng.randint(1, 12))
            unit_price = (price * Decimal(self.rng.choice([100, 100, 100, 95, 90, 105])) / 100).quantize(
                Decimal("0.0001"))
            taxes = product["taxes"]
            if customer.country != "FR":
                taxes = [self.taxes[INTRA_EU_TAX[kind]].id]
            lines.append({
                "type": "line",
                "invoice_type": "out",
                "company": values["company"],
                "currency": values["currency"],
                "party": party.id,
                "product": product["product"],
                "unit": product["unit"],
                "account": product["account"],
                "quantity": quantity,
                "unit_price": unit_price,
                "taxes": [("add", taxes)],
            })
        values["lines"] = [("create", lines)]
        # goods are ordered and shipped first: the invoice comes from a sale (see create_and_post)
        values["_from_sale"] = "goods" in kinds
        return values

    def credit_values(self, original_id: int, date: dt.date) -> dict[str, Any]:
        """A partial credit note for the first line of a posted invoice, as Tryton's credit wizard
        makes it: same header, negative quantity, ``origin`` pointing at the credited line."""
        Invoice = self.get("account.invoice")
        original = Invoice(original_id)
        line = original.lines[0]
        values = self.invoice_header(original.party)
        values["invoice_date"] = date
        values["reference"] = original.reference
        values["description"] = f"Avoir sur facture {original.number}"
        quantity = line.quantity if line.quantity <= 1 else max(1.0, float(int(line.quantity / 2)))
        values["lines"] = [("create", [{
            "type": "line",
            "invoice_type": "out",
            "company": values["company"],
            "currency": values["currency"],
            "party": original.party.id,
            "product": line.product.id,
            "unit": line.unit.id,
            "account": line.account.id,
            "quantity": -quantity,
            "unit_price": line.unit_price,
            "taxes": [("add", [t.id for t in line.taxes])],
            "origin": f"account.invoice.line,{line.id}",
        }])]
        return values

    def create_and_post(self, vlist: list[dict[str, Any]]) -> list[int]:
        """Create the invoices of ``vlist`` (those marked ``_from_sale`` through a sale and its
        shipment) and post them together, in date order; return their ids in ``vlist`` order."""
        if not vlist:
            return []
        proxy = self.get("account.invoice")._proxy
        ordered: list[int] = []
        # runs of one kind at a time, so that invoice ids keep the date order as before
        for from_sale, run in itertools.groupby(vlist, key=lambda v: bool(v.get("_from_sale"))):
            items = list(run)
            if from_sale:
                ordered += self.sell_and_ship(items)
            else:
                ordered += proxy.create([{k: v for k, v in i.items() if not k.startswith("_")} for i in items],
                                        self.config.context)
        proxy.post(ordered, self.config.context)
        return ordered

    def sell_and_ship(self, vlist: list[dict[str, Any]]) -> list[int]:
        """The order-to-invoice path for goods: a confirmed sale (invoiced on order, shipped on
        order) with the invoice's lines, its customer shipment done a few days before the invoice
        date (to the customer's delivery address), and the sale's draft invoice given the invoice
        date, reference and description. Tryton links each goods invoice line to its stock moves
        (account_invoice_stock): that link is where the hub reads the delivery date and address."""
        ctx = self.config.context
        Sale = self.get("sale.sale")._proxy
        Shipment = self.get("stock.shipment.out")._proxy
        Invoice = self.get("account.invoice")._proxy
        if not hasattr(self, "warehouse"):
            (self.warehouse,) = self.get("stock.location").find([("type", "=", "warehouse")], limit=1)
        sales = []
        for values in vlist:
            party = self.get("party.party")(values["party"])
            # Party.address_get("delivery") on the server: the first delivery address, else the first
            address = next((a for a in party.addresses if a.delivery), party.addresses[0])
            (lines,) = [v for op, v in values["lines"] if op == "create"]
            sales.append({
                "company": values["company"],
                "party": values["party"],
                "invoice_address": values["invoice_address"],
                "shipment_address": address.id,
                "currency": values["currency"],
                "payment_term": values["payment_term"],
                "warehouse": self.warehouse.id,
                "sale_date": values["invoice_date"],
                "reference": values["reference"],
                "description": values["description"],
                "invoice_method": "order",
                "shipment_method": "order",
                "lines": [("create", [
                    {"type": "line", "product": ln["product"], "unit": ln["unit"], "quantity": ln["quantity"],
                     "unit_price": ln["unit_price"], "taxes": ln["taxes"]} for ln in lines])],
            })
        sale_ids = Sale.create(sales, ctx)
        Sale.quote(sale_ids, ctx)
        Sale.confirm(sale_ids, ctx)
        Sale.process(sale_ids, ctx)  # queued by confirm, but the queue only stores tasks here
        done = Sale.read(sale_ids, ["invoices", "shipments"], ctx)
        by_id = {d["id"]: d for d in done}
        invoice_ids = []
        for sale_id, values in zip(sale_ids, vlist, strict=True):
            (invoice_id,) = by_id[sale_id]["invoices"]
            (shipment_id,) = by_id[sale_id]["shipments"]
            date = values["invoice_date"]
            shipped = date - dt.timedelta(days=date.toordinal() % 4)  # delivered 0 to 3 days before
            Shipment.write([shipment_id], {"effective_date": shipped}, ctx)
            Invoice.write([invoice_id], {"invoice_date": date, "reference": values["reference"],
                                         "description": values["description"]}, ctx)
            invoice_ids.append(invoice_id)
        shipment_ids = [by_id[i]["shipments"][0] for i in sale_ids]
        Shipment.assign_force(shipment_ids, ctx)  # the demo keeps no stock levels
        Shipment.pick(shipment_ids, ctx)
        Shipment.pack(shipment_ids, ctx)
        Shipment.do(shipment_ids, ctx)
        return invoice_ids

    def pick_customer(self) -> tuple[Customer, Any]:
        weights = [c.weight for c, _ in self.customer_parties]
        return self.rng.choices(self.customer_parties, weights=weights)[0]

    def invoices(self, count: int, batch: int = 10) -> dict[str, Any]:
        Invoice = self.get("account.invoice")
        self.headers: dict[int, dict[str, Any]] = {}
        dates = self.invoice_dates(count + CREDIT_NOTES)
        # credit notes sit at evenly spread positions, each crediting a recent, uncredited invoice
        credit_slots = {int((i + 1) * len(dates) / (CREDIT_NOTES + 1)) for i in range(CREDIT_NOTES)}
        posted: list[int] = []
        pending: list[dict[str, Any]] = []
        credited: set[int] = set()
        for position, date in enumerate(dates):
            if position in credit_slots:
                posted += self.create_and_post(pending)
                pending = []
                candidates = [i for i in posted[-8:] if i not in credited]
                if candidates:
                    original = self.rng.choice(candidates)
                    credited.add(original)
                    pending.append(self.credit_values(original, date))
                    continue
            customer, party = self.pick_customer()
            pending.append(self.invoice_values(date, customer, party))
            if len(pending) >= batch:
                posted += self.create_and_post(pending)
                pending = []
        posted += self.create_and_post(pending)

        # one cancelled invoice (never numbered) and one draft invoice, dated after the last posted one
        proxy = Invoice._proxy
        customer, party = self.customer_parties[2]
        values = self.invoice_values(LAST_DATE + dt.timedelta(days=3), customer, party)
        values["comment"] = "Annulée : commande en double"
        values.pop("_from_sale")
        (cancelled_id,) = proxy.create([values], self.config.context)
        proxy.cancel([cancelled_id], self.config.context)
        customer, party = self.customer_parties[0]
        values = self.invoice_values(LAST_DATE + dt.timedelta(days=4), customer, party)
        values["comment"] = "Brouillon : en attente du bon de livraison"
        values.pop("_from_sale")
        (draft_id,) = proxy.create([values], self.config.context)

        all_posted = Invoice.find([("type", "=", "out"), ("state", "=", "posted")], order=[("id", "ASC")])
        return {
            "posted": all_posted,
            "invoices": [i for i in all_posted if i.total_amount >= 0],
            "credit_notes": [i for i in all_posted if i.total_amount < 0],
            "draft": Invoice(draft_id),
            "cancelled": Invoice(cancelled_id),
        }


def _no_dns_email_check() -> None:
    """Validate e-mail syntax only: trytond also asks DNS whether the domain takes mail.

    The seeded addresses use the reserved ``.example`` domain and the seed must not touch the
    network, so the party module's validator is swapped for a syntax-only check in this process.
    """
    import trytond.modules.party.contact_mechanism as contact_mechanism
    from trytond.tools import email_

    def validate_email(email: str, check_deliverability: bool = False) -> str:
        return email_.validate_email(email, check_deliverability=False)

    contact_mechanism.validate_email = validate_email


def _finish(database: str) -> None:
    """Drop the queued tasks (report rendering, VIES checks) and mark the seeded VAT numbers valid."""
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    with Transaction().start(database, 0, context={"_check_access": False}) as transaction:
        pool = Pool(database)
        Queue = pool.get("ir.queue")
        Identifier = pool.get("party.identifier")
        Queue.delete(Queue.search([]))
        identifiers = Identifier.search([("type", "=", "eu_vat")])
        Identifier.write(identifiers, {"eu_vat_valid": True, "eu_vat_validated_at": dt.datetime(YEAR, 1, 1)})
        transaction.commit()


def seed(database: str, config_file: str | None, invoices: int, seed_value: int,
         through: int | None = None) -> dict[str, Any]:
    # Store queued tasks instead of running them after each commit (see the module docstring).
    os.environ["TRYTOND_QUEUE__WORKER"] = "True"
    from proteus import config as pconfig

    started = time.monotonic()
    through = through if through is not None else dt.date.today().year + 1
    cfg = pconfig.set_trytond(database=database, config_file=config_file)
    cfg.skip_warning = True  # back-dated invoices, unverified VAT numbers
    _no_dns_email_check()
    s = Seeder(random.Random(seed_value))
    s.currencies_and_countries()
    s.company()
    s.fiscal_year(through)
    s.chart()
    s.payment_terms()
    s.products()
    s.customers()
    setup_seconds = time.monotonic() - started
    result = s.invoices(invoices)
    s.dunning()
    _finish(database)
    elapsed = time.monotonic() - started

    def total(invs: list[Any]) -> str:
        return str(sum((i.total_amount for i in invs), Decimal("0.00")))

    return {
        "database": database,
        "seed": seed_value,
        "company": {"id": s.company_rec.id, "party_id": s.company_rec.party.id, "name": COMPANY.name,
                    **s.identifiers[COMPANY.code]},
        "customers": [
            {"id": p.id, "code": c.code, "name": c.name, "country": c.country,
             "credit_limit": None if c.credit_limit is None else str(c.credit_limit), **s.identifiers[c.code]}
            for c, p in s.customer_parties
        ],
        "dunning_procedure": {"id": s.dunning_procedure.id, "name": DUNNING_PROCEDURE,
                              "levels": [lv.id for lv in s.dunning_procedure.levels]},
        "former_customer": {"id": s.former_party.id, "code": FORMER_CUSTOMER.code, "name": FORMER_CUSTOMER.name},
        "products": len(PRODUCTS),
        "posted_count": len(result["posted"]),
        "posted_total": total(result["posted"]),
        "posted_untaxed": str(sum((i.untaxed_amount for i in result["posted"]), Decimal("0.00"))),
        "posted_tax": str(sum((i.tax_amount for i in result["posted"]), Decimal("0.00"))),
        "invoice_count": len(result["invoices"]),
        "invoice_total": total(result["invoices"]),
        "credit_note_count": len(result["credit_notes"]),
        "credit_note_total": total(result["credit_notes"]),
        "posted_ids": [i.id for i in result["posted"]],
        "credit_note_ids": [i.id for i in result["credit_notes"]],
        "first_number": result["posted"][0].number if result["posted"] else None,
        "last_number": result["invoices"][-1].number if result["invoices"] else None,
        "draft_id": result["draft"].id,
        "cancelled_id": result["cancelled"].id,
        "fiscal_years": sorted(s.fiscalyears),
        "seconds": {"setup": round(setup_seconds, 1), "total": round(elapsed, 1)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="trytond configuration file (database uri and path)")
    parser.add_argument("--database", required=True, help="name of the activated database")
    parser.add_argument("--invoices", type=int, default=40, help="posted customer invoices (default 40)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--through-year", type=int, help="the last fiscal year to create (default: next year)")
    args = parser.parse_args(argv)
    summary = seed(args.database, args.config, args.invoices, args.seed, args.through_year)
    json.dump(summary, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
