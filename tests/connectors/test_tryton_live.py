"""The Tryton connector and the sync engine against the live, seeded Tryton server."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest

from connectors.base import ConnectionInfo
from connectors.tryton import TrytonConnector
from o2c.config import SourceConfig
from o2c.jobs.sync import sync_source, sync_stream
from o2c.store import Store
from schemas.errors import AuthError, RetriableError
from tests.connectors.tryton_truth import posted_invoices, write_dates

pytestmark = pytest.mark.tryton
SOURCE = SourceConfig(name="tryton_test", kind="tryton", connection="erp_tryton_test")
FAR_FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def conn_info(server, password=None) -> ConnectionInfo:
    return ConnectionInfo(host="127.0.0.1", port=server.port, login=server.admin_login,
                          password=password or server.admin_password, schema=server.database)


@pytest.fixture
def store(tmp_path) -> Store:
    st = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    st.upgrade()
    return st


def test_sync_matches_tryton_to_the_cent_and_rerun_changes_nothing(tryton_server, store):
    truth = posted_invoices(tryton_server)
    assert len(truth) >= 20
    first = sync_source(store, SOURCE, conn_info(tryton_server), until=FAR_FUTURE)
    assert first.ok
    inv = {s.stream: s for s in first.streams}["invoices"]
    assert (inv.read, inv.inserted, inv.rejected) == (len(truth), len(truth), 0)
    stored = {row.number: row for row in store.invoices("tryton_test")}
    assert set(stored) == set(truth)
    for number, total in truth.items():
        row = stored[number]
        assert row.payable == abs(total), number
        assert row.type_code == ("381" if total < 0 else "380"), number
    assert sum(r.payable if r.type_code == "380" else -r.payable for r in stored.values()) == sum(truth.values())
    for row in stored.values():  # every line carries the VAT rate actually applied
        rates = {ln["vat_rate"] for ln in row.document["lines"]}
        assert None not in rates and rates <= {"20", "10", "5.5", "0"}, (row.number, rates)
    customers = {s.stream: s for s in first.streams}["customers"]
    assert customers.inserted >= 5 and customers.rejected == 0

    # same window again, from the start: every record read, nothing changes
    again = sync_stream(store, SOURCE, TrytonConnector(conn_info(tryton_server)), "invoices", until=FAR_FUTURE,
                        since=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert (again.read, again.inserted, again.updated, again.unchanged) == (len(truth), 0, 0, len(truth))
    # and from the watermark: nothing new to read
    incremental = sync_stream(store, SOURCE, TrytonConnector(conn_info(tryton_server)), "invoices", until=FAR_FUTURE)
    assert incremental.read == 0
    assert all(r.version == 1 for r in store.invoices("tryton_test"))


def test_incremental_windows_add_up(tryton_server, store):
    dates = write_dates(tryton_server)
    middle = dates[len(dates) // 2]
    cut = dt.datetime(middle["year"], middle["month"], middle["day"], middle["hour"], middle["minute"],
                      middle["second"], middle.get("microsecond", 0), tzinfo=dt.UTC)
    conn = TrytonConnector(conn_info(tryton_server), batch_size=7)  # several pages per window
    part1 = sync_stream(store, SOURCE, conn, "invoices", until=cut)
    part2 = sync_stream(store, SOURCE, conn, "invoices", until=FAR_FUTURE)
    assert 0 < part1.inserted < len(dates)
    assert part1.inserted + part2.inserted == len(dates)
    assert store.get_watermark("tryton_test", "invoices").value >= cut


def test_bad_records_are_quarantined_and_the_rest_stored(tryton_server, store):
    """Real Tryton records, four of them damaged on the way: each is quarantined naming its field."""

    class Damaging(TrytonConnector):
        def pull(self, stream, since, until):
            for batch in super().pull(stream, since, until):
                if stream == "invoices":
                    recs = batch.records
                    recs[0]["currency"] = {"code": "EUX"}
                    recs[1]["total_amount"] = recs[1]["total_amount"] + Decimal("0.01")
                    recs[2]["party"] = {**recs[2]["party"], "identifiers": [{"type": "fr_siren", "code": "123456789"}]}
                    recs[3]["number"] = None
                yield batch

    truth = posted_invoices(tryton_server)
    summary = sync_stream(store, SOURCE, Damaging(conn_info(tryton_server), batch_size=500), "invoices", until=FAR_FUTURE)
    assert summary.rejected == 4 and summary.inserted == len(truth) - 4
    reasons = {q.field: q.reason for q in store.quarantined("tryton_test")}
    assert set(reasons) == {"BT-5", "BT-112", "BT-47", "BT-1"}
    assert "EUX" in reasons["BT-5"] and "123456789" in reasons["BT-47"]
    raw = store.quarantined("tryton_test")[0].raw_payload
    assert b'"number"' in raw and b'"lines"' in raw  # the whole raw record is kept
    [run] = [r for r in store.runs("tryton_test") if r.id == summary.run_id]
    assert (run.rejected, run.status) == (4, "success")


def test_records_carry_the_declared_primary_key_and_cursor(tryton_server):
    """The contract's declaration check (tests/connectors/test_contract.py) for the live Tryton."""
    with TrytonConnector(conn_info(tryton_server), batch_size=50) as c:
        for stream in c.streams:
            spec = c.spec(stream)
            records = [r for b in c.pull(stream, None, FAR_FUTURE) for r in b.records]
            assert records, stream
            ids = [spec.record_id(r) for r in records]
            assert None not in ids and len(set(ids)) == len(ids), stream
            assert all(r[spec.cursor_field].tzinfo is not None for r in records), stream


def test_wrong_password_fails_at_once(tryton_server):
    start = time.perf_counter()
    with pytest.raises(AuthError, match="credentials refused"):
        TrytonConnector(conn_info(tryton_server, password="wrong"))
    assert time.perf_counter() - start < 5  # no retries with backoff


def test_server_down_is_retriable(tryton_server):
    from demo.tryton.server import free_port

    info = ConnectionInfo(host="127.0.0.1", port=free_port(), login="admin", password="x", schema="o2c")
    with pytest.raises(RetriableError, match="ConnectionError"):
        TrytonConnector(info, attempts=2)
