"""One customer from several sources becomes one party; disagreements are reported."""

from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import select

from o2c.store import Store
from o2c.store.models import CustomerRow
from o2c.store.parties import Party, PartyConflict, consolidate, party_view
from schemas import Address, Customer, SourceRef


def add(store: Store, source: str, sid: str, **fields) -> int:
    cust = Customer(source=SourceRef(system=source, id=sid), **fields)
    with store.session() as s:
        res = store.upsert_customer(s, cust, run_id=None)
        party = consolidate(s, s.get(CustomerRow, res.row_id))
        return party.id


def test_same_company_from_three_sources(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'h.sqlite'}")
    store.upgrade()
    a = add(store, "tryton", "3", name="Boulangeries Martin SARL", siren="512348707",
            address=Address(country="FR", postcode="69003"), credit_limit=D("15000.00"))
    b = add(store, "odoo", "88", name="BOULANGERIES MARTIN", vat_id="FR41512348707",
            address=Address(country="FR", postcode="69003"), credit_limit=D("20000.00"))
    c = add(store, "crm", "acc-1", name="Martin Boulangeries", ibans=["FR7610278012340002013450131"])
    d = add(store, "bank_master", "x", name="Autre nom", ibans=["FR76 1027 8012 3400 0201 3450 131"])
    other = add(store, "tryton", "4", name="Transports Lefèvre", siren="402117360")
    assert a == b  # SIREN read from the French VAT id
    assert c != a  # an IBAN alone links only to records that share that IBAN
    assert d == c
    assert other != a
    with store.session() as s:
        view = party_view(s, a)
        assert {x["source"] for x in view["sources"]} == {"tryton", "odoo"}
        assert {x["matched_by"] for x in view["sources"]} == {"new", "siren"}
        conflicts = {c["field"]: c["values"] for c in view["conflicts"]}
        assert conflicts["credit_limit"] == {"tryton:3": "15000.00", "odoo:88": "20000.00"}
        assert "name" in conflicts  # "SARL" dropped: reported, not overwritten
        assert "address.postcode" not in conflicts
        assert s.get(Party, a).name == "Boulangeries Martin SARL"  # the first source's name is kept


def test_conflict_resolves_when_sources_agree_again(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'h.sqlite'}")
    store.upgrade()
    add(store, "erp1", "1", name="Acme", siren="732829320", credit_limit=D("100"))
    add(store, "erp2", "1", name="Acme", siren="732829320", credit_limit=D("200"))
    add(store, "erp2", "1", name="Acme", siren="732829320", credit_limit=D("100"))
    with store.session() as s:
        rows = s.scalars(select(PartyConflict)).all()
        assert [(r.field, r.resolved_at is not None) for r in rows] == [("credit_limit", True)]
