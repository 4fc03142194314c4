"""A rejected record is quarantined under the primary key its connector declares, and superseded
when a corrected version of it is stored.

SAP keys billing documents by ``BillingDocument`` and Salesforce accounts by ``Id``: records
without an ``id`` field. The sync once quarantined every reject under ``record.get("id", "?")``,
so these were all stored as ``"?"`` and never marked superseded.
"""

from __future__ import annotations

import datetime as dt

import pytest

from connectors.base import ConnectionInfo
from connectors.salesforce import SalesforceConnector
from connectors.sap_s4 import SapS4Connector
from o2c.config import SourceConfig
from o2c.jobs.sync import sync_stream
from o2c.store import Store
from tests.connectors.test_salesforce import EXTRA
from tests.connectors.test_sap_s4 import COMPANIES
from tests.fixtures.salesforce.server import FakeSalesforce
from tests.fixtures.sap_s4.server import FakeSap

UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
CHANGED = dt.datetime(2026, 3, 5, 10, 0, tzinfo=dt.UTC)  # the corrected version's last change, in (UNTIL, LATER]


@pytest.fixture
def store(tmp_path) -> Store:
    st = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    st.upgrade()
    return st


def test_sap_billing_document_is_quarantined_under_its_number_and_superseded(store):
    source = SourceConfig(name="s4", kind="sap_s4", connection="x", streams=("invoices",))
    with FakeSap() as sap:
        doc = next(d for d in sap.state.entities["A_BillingDocument"] if d["BillingDocument"] == "90000002")
        good_gross = doc["TotalGrossAmount"]
        doc["TotalGrossAmount"] = "9999.000"  # net + VAT no longer add up to the gross total (BT-112)
        with SapS4Connector(ConnectionInfo.from_uri(sap.uri()), companies=COMPANIES) as c:
            first = sync_stream(store, source, c, "invoices", until=UNTIL)
        assert (first.read, first.inserted, first.rejected) == (6, 5, 1)
        [row] = store.quarantined("s4")
        assert (row.source_id, row.kind, row.field) == ("90000002", "invoice", "BT-112")
        assert first.rejects[0]["id"] == "90000002"

        doc["TotalGrossAmount"] = good_gross  # corrected in SAP: a new change stamp
        doc["LastChangeDateTime"] = f"/Date({int(CHANGED.timestamp() * 1000)}+0000)/"
        with SapS4Connector(ConnectionInfo.from_uri(sap.uri()), companies=COMPANIES) as c:
            second = sync_stream(store, source, c, "invoices", until=LATER)
    assert (second.read, second.inserted, second.rejected) == (1, 1, 0)
    assert store.quarantined("s4") == []
    [row] = store.quarantined("s4", open_only=False)
    assert (row.source_id, row.resolution) == ("90000002", "superseded")
    assert "90000002" in {inv.source_id for inv in store.invoices("s4")}


def test_salesforce_account_is_quarantined_under_its_id_and_superseded(store):
    source = SourceConfig(name="sf", kind="salesforce", connection="x", streams=("customers",))
    with FakeSalesforce() as sf:
        account = next(a for a in sf.accounts if a["Id"] == "0015g00000AbCd2AAF")
        good_currency = account["CurrencyIsoCode"]
        account["CurrencyIsoCode"] = "EUX"  # not an ISO 4217 code
        with SalesforceConnector(ConnectionInfo.from_uri(sf.uri()), extra_fields=EXTRA) as c:
            first = sync_stream(store, source, c, "customers", until=UNTIL)
        assert (first.read, first.inserted, first.rejected) == (5, 4, 1)
        [row] = store.quarantined("sf")
        assert (row.source_id, row.kind) == ("0015g00000AbCd2AAF", "customer") and "EUX" in row.reason

        account["CurrencyIsoCode"] = good_currency
        account["SystemModstamp"] = account["LastModifiedDate"] = CHANGED.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        with SalesforceConnector(ConnectionInfo.from_uri(sf.uri()), extra_fields=EXTRA) as c:
            second = sync_stream(store, source, c, "customers", until=LATER)
    assert (second.read, second.inserted, second.rejected) == (1, 1, 0)
    assert store.quarantined("sf") == []
    [row] = store.quarantined("sf", open_only=False)
    assert (row.source_id, row.resolution) == ("0015g00000AbCd2AAF", "superseded")


def test_mapping_preview_shows_the_declared_ids(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from o2c.cli import cli

    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - name: sf\n    kind: salesforce\n    connection: sf_org\n    streams: [customers]\n"
                       f"    options: {{extra_fields: {json.dumps(EXTRA)}}}\n", encoding="utf-8")
    monkeypatch.setenv("O2C_HOME", str(tmp_path))
    with FakeSalesforce() as sf:
        monkeypatch.setenv("O2C_CONN_SF_ORG", sf.uri())
        result = CliRunner().invoke(cli, ["mapping", "preview", "sf", "--sources", str(sources), "--stream", "customers",
                                          "--limit", "2", "--until", UNTIL.isoformat()])
    assert result.exit_code == 0, result.output
    assert [r["source_id"] for r in json.loads(result.output)["records"]] == ["0015g00000AbCd1AAF", "0015g00000AbCd2AAF"]
