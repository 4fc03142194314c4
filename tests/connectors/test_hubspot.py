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


def test_promise_tasks_search_with_their_companies_map_to_promises():
    with FakeHubSpot() as hs, HubSpotConnector(ConnectionInfo.from_uri(hs.uri()), batch_size=2) as c:
        batches = list(c.pull("promises", dt.datetime(2026, 2, 1, tzinfo=dt.UTC), UNTIL))
        searches = [r for r in hs.requests if r["path"] == "/crm/v3/objects/tasks/search"]
        assoc = [r for r in hs.requests if r["path"] == "/crm/v4/associations/tasks/companies/batch/read"]
    assert searches[0]["body"]["filterGroups"][0]["filters"][-1] == {
        "propertyName": "hs_task_subject", "operator": "CONTAINS_TOKEN", "value": "Promise"}
    assert "o2c_promised_amount" in searches[0]["body"]["properties"] and len(assoc) == len(batches)
    mapping = load_mapping(mapping_path("hubspot", "promise"))
    promises = [mapping.apply(r, "hs") for b in batches for r in b.records]
    assert [p.task_id for p in promises] == ["51000000001", "51000000002", "51000000004", "51000000005", "51000000006", "51000000007"]
    first, last = promises[0], promises[-1]
    assert (first.due_on, first.amount, first.invoice_numbers, first.account_id, first.owner) == (
        dt.date(2026, 2, 20), D("1200.00"), ["FA-1001", "FA-1002"], "9876543201", "hubspot owner 40111")
    assert last.invoice_numbers == ["FA-3001"] and last.account_id == "9876543203"  # <br> in the HTML body is a line break
    assert promises[3].amount is None  # a cleared amount property reads ""
