"""Odoo 16/17/18 connector against the documented contract (tests/fixtures/odoo, served on loopback)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from connectors.base import ConnectionInfo
from connectors.odoo import OdooConnector
from mappings.mapper import load_mapping, mapping_path
from schemas.errors import AuthError, FatalError
from schemas.validation import customer_issues, invoice_issues
from tests.fixtures.odoo.server import FakeOdoo

EXCHANGES = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "odoo" / "exchanges.json").read_text())
UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
POSTED_CUSTOMER_MOVES = [101, 102, 103, 104, 105, 106, 107]


@pytest.fixture(params=[16, 17, 18])
def odoo(request):
    with FakeOdoo(version=request.param) as server:
        yield server


def connect(server, **kw) -> OdooConnector:
    return OdooConnector(ConnectionInfo.from_uri(server.uri()), **kw)


def pull(c, stream="invoices", since=None, until=UNTIL):
    batches = list(c.pull(stream, since, until))
    return batches, [r for b in batches for r in b.records]


def _shape(obj):
    """The JSON shape (keys and types, list lengths of args) of a request."""
    if isinstance(obj, dict):
        return {k: _shape(v) for k, v in obj.items() if k != "id"}
    if isinstance(obj, list):
        return [type(v).__name__ for v in obj]
    return type(obj).__name__


def test_requests_and_answers_have_the_documented_shapes(odoo):
    with connect(odoo, batch_size=1) as c:
        next(iter(c.pull("invoices", None, UNTIL)))
    seen = odoo.requests
    assert _shape(seen[0]) == _shape(EXCHANGES["version"]["request"])
    assert seen[1] == {**EXCHANGES["authenticate"]["request"], "id": seen[1]["id"]}
    search = next(r for r in seen if r["params"]["args"][3:5] == ["account.move", "search_read"])
    documented = EXCHANGES["search_read"]["request"]["params"]["args"]
    assert _shape(search["params"]["args"]) == _shape(documented)
    assert search["params"]["args"][5] == documented[5]  # the same domain, word for word
    assert set(search["params"]["args"][6]) == set(documented[6])  # fields, offset, limit, order
    fields_get = next(r for r in seen if r["params"]["args"][4:5] == ["fields_get"])
    assert fields_get["params"]["args"][5:] == EXCHANGES["fields_get"]["request"]["params"]["args"][5:]
    # and the server answers as documented
    state = odoo.state
    assert state.dispatch(EXCHANGES["authenticate_refused"]["request"])["result"] is False
    denied = state.dispatch(EXCHANGES["access_denied"]["request"])
    assert _shape(denied) == _shape(EXCHANGES["access_denied"]["response"])


def test_posted_customer_invoices_only_with_product_lines(odoo):
    with connect(odoo) as c:
        _, records = pull(c)
    assert [r["id"] for r in records] == POSTED_CUSTOMER_MOVES
    first = records[0]
    assert [ln["display_type"] for ln in first["lines"]] == ["product", "product"]
    assert first["lines"][1]["tax"]["name"] == "20%" and first["lines"][1]["discount"] == D("10.0")
    assert first["amount_total"] == D("3378.0") and isinstance(first["lines"][0]["quantity"], D)
    assert first["vat_breakdown"] == [{"tax": first["lines"][0]["tax"], "taxes": first["lines"][0]["taxes"],
                                       "base": D("2815.0"), "amount": D("563.0")}]
    assert first["updated_at"] == dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC)


def test_invoices_map_to_valid_canonical_documents(odoo):
    mapping = load_mapping(mapping_path("odoo", "invoice"))
    with connect(odoo) as c:
        _, records = pull(c)
    invoices = {r["id"]: mapping.apply(r, "odoo_acme") for r in records}
    for inv in invoices.values():
        assert [i for i in invoice_issues(inv) if i.severity == "error"] == [], inv.number
    inv = invoices[101]
    assert (inv.number, inv.type_code, inv.currency, inv.issue_date) == ("INV/2026/00001", "380", "EUR", dt.date(2026, 1, 10))
    assert inv.seller.siren == "732829320" and inv.buyer.siren == "552081317" and inv.buyer.vat_id.startswith("FR")
    assert inv.payment.iban == "FR7630006000011234567890189" and inv.payment_terms == "30 Days"
    assert inv.lines[1].net_price == D("0.315") and inv.lines[1].net_amount == D("315.0") and inv.lines[1].unit_code == "C62"
    assert inv.lines[0].unit_code == "HUR" and inv.lines[0].vat_rate == D("20.0")
    assert invoices[104].type_code == "381" and invoices[104].totals.payable == D("120.0")
    assert invoices[102].buyer.siren == "542065479"  # from a SIRET (16.0's l10n_fr siret, 17.0+ company_registry)
    assert invoices[105].buyer.name == "Client SARL"  # invoiced to a contact person: the commercial partner
    assert invoices[103].lines[0].vat_category == "K" and invoices[103].buyer.address.country == "DE"


def test_customers_with_registry_and_bank_accounts(odoo):
    mapping = load_mapping(mapping_path("odoo", "customer"))
    with connect(odoo) as c:
        _, records = pull(c, "customers")
    customers = [mapping.apply(r, "odoo_acme") for r in records]
    assert [c.name for c in customers] == ["Client SARL", "Boulangerie Dupont", "Müller GmbH"]
    client, boulangerie, muller = customers
    assert client.ibans == ["FR1420041010050500013M02606"] and client.credit_limit == D("15000.0")
    assert boulangerie.siren == "542065479" and boulangerie.siret == "54206547900017"
    assert muller.vat_id == "DE136695976" and muller.address.country == "DE"
    assert all(not customer_issues(c) for c in customers)


def test_customer_master_for_collections(odoo):
    """res.partner's documented fields: lang, the child contact of type invoice, the sale module's
    blocking warning (sale_warn = block, sale_warn_msg), property_payment_term_id's name."""
    mapping = load_mapping(mapping_path("odoo", "customer"))
    with connect(odoo) as c:
        _, records = pull(c, "customers")
    client, boulangerie, muller = (mapping.apply(r, "odoo_acme") for r in records)
    assert [(x.name, x.email) for x in client.dunning_contacts] == [("Service comptabilité fournisseurs", "factures@client.example")]
    assert (client.dunning_language, muller.dunning_language) == ("fr-FR", "de-DE")
    assert (client.on_hold, client.on_hold_reason) == (False, None)
    assert boulangerie.on_hold and boulangerie.on_hold_reason == "sales orders blocked: Impayés : commandes bloquées jusqu'au règlement"
    assert boulangerie.dunning_contacts == []  # no e-mail, no invoice contact: no one to remind
    assert client.payment_terms == "30 Days" and client.payment_days is None  # the term's lines are not read
    assert client.blocked is None  # Odoo has no customer block; archived partners are not pulled


def test_optional_fields_follow_the_version(odoo):
    with connect(odoo) as c:
        pull(c, "customers")
        assert ("siret" in c._optional["res.partner"]) == (odoo.state.version == 16)
        assert ("company_registry" in c._optional["res.partner"]) == (odoo.state.version >= 17)


def test_refused_login_is_fatal_at_once():
    with FakeOdoo() as server:
        with pytest.raises(AuthError, match="login refused"):
            OdooConnector(ConnectionInfo.from_uri(server.uri(password="wrong")))
        assert [r["params"]["method"] for r in server.requests] == ["version", "authenticate"]


def test_server_error_names_the_model_and_method():
    with FakeOdoo() as server, connect(server) as c:
        with pytest.raises(FatalError, match="account.move.search_read.*Invalid field 'no_such_field'"):
            c.client.search_read("account.move", [], ["no_such_field"])
