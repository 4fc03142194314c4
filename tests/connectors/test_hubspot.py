"""HubSpot companies against the documented contract (tests/fixtures/hubspot, on loopback)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from connectors.base import ConnectionInfo
from connectors.hubspot import HubSpotConnector
from mappings.mapper import load_mapping, mapping_path
from schemas.validation import customer_issues
from tests.fixtures.hubspot.server import FakeHubSpot

UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
PROPS = ["name", "address", "address2", "city", "zip", "state", "country", "phone", "hubspot_owner_id", "siren",
         "vat_number", "credit_limit", "customer_code"]


def test_companies_search_pages_by_after_and_maps():
    with FakeHubSpot() as hs, HubSpotConnector(ConnectionInfo.from_uri(hs.uri()), properties=PROPS, batch_size=2) as c:
        batches = list(c.pull("customers", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), UNTIL))
        bodies = [r["body"] for r in hs.requests]
    assert [len(b.records) for b in batches] == [2, 2, 1]
    assert [b.get("after") for b in bodies] == [None, "2", "4"]
    assert bodies[0]["filterGroups"][0]["filters"][0] == {"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": "1767225600000"}
    mapping = load_mapping(mapping_path("hubspot", "customer"))
    customers = [mapping.apply(r, "hs") for b in batches for r in b.records]
    assert [c.code for c in customers] == ["C001", "C002", "C003", "C004", "C005"]
    assert customers[0].credit_limit == D("15000.00") and customers[0].address.country == "FR"
    assert customers[2].address.country == "DE" and customers[1].siren == "542065479"
    assert all(not customer_issues(c) for c in customers)
