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
# by write_date: payments and the credit note's reconciliation (February) stamped 101, 102, 104 and 107 again
POSTED_CUSTOMER_MOVES = [103, 105, 106, 101, 102, 104, 107]


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
    first = next(r for r in records if r["id"] == 101)
    assert [ln["display_type"] for ln in first["lines"]] == ["product", "product"]
    assert first["lines"][1]["tax"]["name"] == "20%" and first["lines"][1]["discount"] == D("10.0")
    assert first["amount_total"] == D("3378.0") and isinstance(first["lines"][0]["quantity"], D)
    assert first["vat_breakdown"] == [{"tax": first["lines"][0]["tax"], "taxes": first["lines"][0]["taxes"],
                                       "base": D("2815.0"), "amount": D("563.0")}]
    assert first["updated_at"] == dt.datetime(2026, 2, 5, 10, 0, tzinfo=dt.UTC)  # its first instalment was paid then


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


# -- settlements ------------------------------------------------------------------------------
SETTLEMENT_ORDER = [103, 105, 106, 101, 102, 104, 107, 110]  # by their latest change; 110 cancelled
HUB_KEY = "9f" * 16


def odoo_moves(server) -> dict[int, dict]:
    return {m["id"]: m for m in server.state.records["account.move"]}


def test_settlements_carry_the_residual_the_state_and_the_reconciliations(odoo):
    mapping = load_mapping(mapping_path("odoo", "settlement"))
    with connect(odoo, batch_size=3) as c:
        batches, records = pull(c, "settlements")
    assert [r["id"] for r in records] == SETTLEMENT_ORDER
    assert [b.watermark for b in batches] == [dt.datetime(2026, 1, 20, 12, tzinfo=dt.UTC),  # 104 and 107 tie across pages
                                              dt.datetime(2026, 2, 6, 11, tzinfo=dt.UTC), dt.datetime(2026, 2, 8, 8, tzinfo=dt.UTC)]
    moves = odoo_moves(odoo)
    got = {r["id"]: mapping.apply(r, "odoo_acme") for r in records}
    for mid, st in got.items():  # the hub's open amount is Odoo's amount_residual (0 once cancelled)
        assert st.open_amount == (0 if moves[mid]["state"] == "cancel" else D(str(moves[mid]["amount_residual"]))), mid
        assert st.invoice_id == str(mid) and st.source.id == str(mid) and st.currency == "EUR"
    assert {mid: st.state for mid, st in got.items()} == {103: "open", 105: "open", 106: "open", 101: "partial", 102: "paid",
                                                          104: "paid", 107: "partial", 110: "cancelled"}
    lines = {mid: [(ln.kind, ln.amount, ln.date, ln.reference) for ln in st.lines] for mid, st in got.items()}
    assert lines[101] == [("payment", D("1000.00"), dt.date(2026, 2, 5), "PBNK1/2026/00001 (Virement CLIENT SARL acompte)")]
    assert lines[102] == [("payment", D("883.56"), dt.date(2026, 2, 6), f"PBNK1/2026/00002 (o2c:{HUB_KEY} BANKREF9)")]
    assert lines[107] == [("credit_note", D("120.00"), dt.date(2026, 1, 15), "RINV/2026/00001")]
    assert lines[104] == [("other", D("120.00"), dt.date(2026, 2, 3), "INV/2026/00006 (PO-107)")]  # used against that invoice
    assert lines[103] == lines[110] == []
    assert got[102].hub_keys() == {HUB_KEY} and got[101].hub_keys() == set()
    for mid, st in got.items():  # what the partials took off is the total less the residual
        if st.state != "cancelled":
            assert st.settled_amount() == D(str(moves[mid]["amount_total"])) - st.open_amount, mid
    assert (got[102].settled_on, got[104].settled_on, got[101].settled_on) == (dt.date(2026, 2, 6), dt.date(2026, 2, 3), None)
    assert records[SETTLEMENT_ORDER.index(102)]["payment_state"] == "in_payment"


def test_settlement_window_is_incremental(odoo):
    since = dt.datetime(2026, 2, 5, 10, tzinfo=dt.UTC)
    with connect(odoo) as c:
        _, records = pull(c, "settlements", since=since, until=dt.datetime(2026, 2, 7, 9, tzinfo=dt.UTC))
    assert [r["id"] for r in records] == [102, 104, 107]
    assert all(since < r["updated_at"] <= dt.datetime(2026, 2, 7, 9, tzinfo=dt.UTC) for r in records)


def test_a_reconciliation_seen_only_on_its_partial_is_pulled(odoo):
    """The second scan alone (the documents' own write dates ignored) brings in every document of a
    partial reconciliation created in the window, stamped with the partial's time; a document
    without one (the cancelled 110) is not read."""

    class PartialsOnly(OdooConnector):
        def _scan(self, model, domain, fields):
            return iter(()) if model == "account.move" else super()._scan(model, domain, fields)

    since = dt.datetime(2026, 2, 4, tzinfo=dt.UTC)
    with PartialsOnly(ConnectionInfo.from_uri(odoo.uri())) as c:
        _, records = pull(c, "settlements", since=since)
    assert [(r["id"], r["updated_at"]) for r in records] == [
        (101, dt.datetime(2026, 2, 5, 10, tzinfo=dt.UTC)), (102, dt.datetime(2026, 2, 6, 11, tzinfo=dt.UTC)),
        (104, dt.datetime(2026, 2, 7, 9, tzinfo=dt.UTC)), (107, dt.datetime(2026, 2, 7, 9, tzinfo=dt.UTC))]
    # the payments' own moves (move_type entry) are not customer documents: never a settlement
    scan = next(r for r in odoo.requests if r.get("params", {}).get("args", [None] * 5)[3:5] == ["account.partial.reconcile", "search_read"])
    documented = EXCHANGES["search_read_partials"]["request"]["params"]["args"]
    assert _shape(scan["params"]["args"]) == _shape(documented)
    assert scan["params"]["args"][5] == [[["write_date", "<=", "2026-03-01 00:00:00"], ["write_date", ">", "2026-02-04 00:00:00"],
                                          ["id", ">", 0]]]
    assert scan["params"]["args"][6] == documented[6]


def test_sync_stores_odoo_settlements_quarantines_bad_ones_and_records_findings(odoo, tmp_path):
    from o2c.config import SourceConfig
    from o2c.jobs.sync import sync_stream
    from o2c.store import Store
    from o2c.store.models import Quarantine
    from o2c.store.receivables import findings, settlement_of

    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    source = SourceConfig(name="odoo_acme", kind="odoo", connection="x", streams=["invoices", "settlements"])
    moves = odoo_moves(odoo)
    with connect(odoo) as c:
        early = sync_stream(store, source, c, "settlements", until=UNTIL)  # before the invoices: kept in quarantine
        assert (early.read, early.inserted, early.rejected) == (8, 0, 7)  # 110, cancelled and never synced, is skipped
        assert sync_stream(store, source, c, "invoices", until=UNTIL).inserted == 7
        # the ERP changes: an unreadable residual on 105, a residual above its total on 106
        moves[105].update(amount_residual="12,34,56", write_date="2026-02-10 08:00:00")
        moves[106].update(amount_residual=50.0, write_date="2026-02-10 08:00:00")
        later = sync_stream(store, source, c, "settlements", until=UNTIL)
    # the quarantined ones are stored once their invoices are, then the window's changes
    assert (later.inserted, later.rejected, later.findings, later.status) == (7, 1, 1, "success"), later
    assert later.rejects[0]["id"] == "105"
    with store.session() as s:
        stored = {mid: settlement_of(s, "odoo_acme", str(mid)) for mid in POSTED_CUSTOMER_MOVES}
        assert {mid: st.open_amount for mid, st in stored.items()} == \
            {mid: D(str(moves[mid]["amount_residual"])) if mid != 105 else D(str(moves[mid]["amount_total"]))
             for mid in POSTED_CUSTOMER_MOVES}  # 105 keeps its last good state
        assert settlement_of(s, "odoo_acme", "110") is None
        (finding,) = findings(s, "odoo_acme")
        assert (finding.source_id, finding.rule) == ("106", "open_amount_above_total")
        open_rows = s.query(Quarantine).filter(Quarantine.source == "odoo_acme", Quarantine.resolution.is_(None)).all()
        assert [(q.kind, q.source_id) for q in open_rows] == [("settlement", "105")]
    with connect(odoo) as c:
        again = sync_stream(store, source, c, "settlements", until=UNTIL)
    assert (again.read, again.inserted, again.updated) == (0, 0, 0)
