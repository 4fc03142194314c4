"""Salesforce accounts against the documented contract (tests/fixtures/salesforce, on loopback)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from connectors.base import ConnectionInfo
from connectors.salesforce import SalesforceConnector
from mappings.mapper import load_mapping, mapping_path
from schemas.errors import AuthError, FatalError
from schemas.validation import customer_issues
from tests.fixtures.salesforce.server import FakeSalesforce

UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
EXTRA = ["CurrencyIsoCode", "Credit_Limit__c", "SIREN__c", "VAT_Number__c", "Payment_Terms__c"]


def test_accounts_with_credit_limits_map_to_customers():
    with FakeSalesforce() as sf, SalesforceConnector(ConnectionInfo.from_uri(sf.uri()), extra_fields=EXTRA, batch_size=2) as c:
        batches = list(c.pull("customers", None, UNTIL))
        soql = [r for r in sf.requests if r["method"] == "GET"][0]["path"]
    assert len(batches) == 3 and "ORDER+BY+SystemModstamp+ASC" in soql.replace("%20", "+")
    mapping = load_mapping(mapping_path("salesforce", "customer"))
    customers = [mapping.apply(r, "sf") for b in batches for r in b.records]
    assert [c.code for c in customers] == ["C001", "C002", "C003", "C004", "C005"]
    assert customers[0].credit_limit == D("15000.0") and customers[1].siret == "54206547900017"
    assert customers[2].vat_id == "DE136695976" and customers[2].address.country == "DE" and customers[2].credit_limit is None
    assert all(not customer_issues(c) for c in customers)


def test_refused_client_credentials_and_unknown_fields():
    with FakeSalesforce() as sf:
        with pytest.raises(AuthError, match="token refused"):
            SalesforceConnector(ConnectionInfo.from_uri(sf.uri(secret="wrong")))
        with SalesforceConnector(ConnectionInfo.from_uri(sf.uri()), extra_fields=["No_Such__c"]) as c, \
                pytest.raises(FatalError, match="400"):
            list(c.pull("customers", None, UNTIL))
