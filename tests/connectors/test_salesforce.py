"""Salesforce accounts against the documented contract (tests/fixtures/salesforce, on loopback)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from connectors.base import ConnectionInfo
from connectors.salesforce import SalesforceConnector
from mappings.mapper import load_mapping, mapping_path
from schemas.errors import AuthError, ConfigError, FatalError
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


def test_promise_tasks_by_subject_prefix_map_to_promises():
    with FakeSalesforce() as sf, SalesforceConnector(ConnectionInfo.from_uri(sf.uri()), batch_size=2) as c:
        batches = list(c.pull("promises", dt.datetime(2026, 2, 1, tzinfo=dt.UTC), UNTIL))
        soql = [r for r in sf.requests if r["method"] == "GET"][0]["path"].replace("%20", "+").replace("%27", "'")
    assert "FROM+Task+WHERE+Subject+LIKE+'Promise+to+pay%25'" in soql and "Owner.Name" in soql
    assert "O2C_Promised_Amount__c" in soql and "ORDER+BY+SystemModstamp+ASC,+Id+ASC" in soql.replace("%2C", ",")
    mapping = load_mapping(mapping_path("salesforce", "promise"))
    promises = [mapping.apply(r, "sf") for b in batches for r in b.records]
    # "Call back about the late delivery" is not a promise; "promise to pay (part)" is (LIKE ignores case)
    assert [p.task_id[-7:] for p in promises] == ["0001AAA", "0002AAA", "0004AAA", "0005AAA", "0006AAA", "0007AAA"]
    first = promises[0]
    assert (first.due_on, first.amount, first.invoice_numbers, first.account_id, first.owner, first.promised_on) == (
        dt.date(2026, 2, 20), D("1200.0"), ["FA-1001", "FA-1002"], "0015g00000AbCd1AAF", "Claire Martin", dt.date(2026, 2, 10))
    assert promises[2].invoice_numbers == ["FA-5001", "FA-9999"] and promises[3].amount is None
    assert first.source.updated_at == dt.datetime(2026, 2, 10, 9, 0, tzinfo=dt.UTC)


def test_promise_fields_are_configurable_and_checked():
    with FakeSalesforce() as sf:
        for task in sf.promise_tasks:  # this org keeps the invoice numbers in a field of their own
            task["O2C_Invoice_Numbers__c"], task["Description"] = "FA-7001;FA-7002", "no label here"
        with SalesforceConnector(ConnectionInfo.from_uri(sf.uri()), promise_invoices_field="O2C_Invoice_Numbers__c",
                                 promise_subject="Promise to pay by") as c:
            [record] = [r for b in c.pull("promises", None, UNTIL) for r in b.records]
        assert load_mapping(mapping_path("salesforce", "promise")).apply(record, "sf").invoice_numbers == ["FA-7001", "FA-7002"]
        with SalesforceConnector(ConnectionInfo.from_uri(sf.uri()), promise_amount_field="Promised__c") as c, \
                pytest.raises(FatalError, match="400"):  # the org has no such field: INVALID_FIELD
            list(c.pull("promises", None, UNTIL))
        with pytest.raises(ConfigError, match="promise_subject"):
            SalesforceConnector(ConnectionInfo.from_uri(sf.uri()), promise_subject="x' OR Id != '")
        with pytest.raises(ConfigError, match="promise_amount_field"):
            SalesforceConnector(ConnectionInfo.from_uri(sf.uri()), promise_amount_field="Amount__c FROM Account --")
