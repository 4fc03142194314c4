"""The contract every connector passes with its own fixtures (as Singer's standard tap tests).

Each case is one connector on its own test data: the real PostgreSQL and MariaDB servers for
``sql`` (and its ``settlements`` stream on PostgreSQL), a real folder for ``filedrop``, the documented-contract servers on loopback for
``odoo`` (16, 17, 18, and its ``settlements`` stream), ``sap_s4`` (invoices, customers, settlements), ``salesforce`` and ``hubspot``
(customers, and promises to pay logged as tasks), and the live
Tryton server of the test session for ``tryton``'s ``settlements`` stream. The checks:

- paging: more records than one page arrive in several batches, each once, oldest first;
- watermark: only records changed in ``(since, until]``, bounds exclusive / inclusive;
- resume: starting again from any committed batch watermark loses no record;
- retry: a transient failure (HTTP 5xx; a dropped database connection) then success;
  HTTP 429 honours ``Retry-After``;
- fatal auth: refused credentials (401, 403, a refused database login) raise ``AuthError``
  at once, without retrying;
- mapping round-trip: raw record -> canonical (the kind's YAML) -> no intake errors;
- declarations: every record of a stream carries the primary key and the cursor field its
  connector declares (the checks above identify and order records by them), the kind's mapping
  reads its id and timestamp from those fields, and the declared write-back capabilities are
  the ones implemented (tryton and every other registered kind, without connecting).

A check that does not apply to a kind (no HTTP for a folder) is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import doctest
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectionInfo
from mappings.mapper import load_mapping, mapping_path
from o2c.config import MAPPED_DOCUMENTS, STREAM_DOCUMENTS
from schemas.errors import AuthError, RetriableError
from schemas.validation import customer_issues, invoice_issues

UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@dataclass
class Case:
    """One connector with its fixtures, and how to disturb it."""

    name: str
    make: Callable[..., Any]  # (batch_size, **options such as sleep=) -> connector
    mapping: str
    source_name: str = "contract"
    stream: str = "invoices"
    server: Any = None  # an HTTP fake with fail_next(), or None
    http_calls_at_pull: Callable[[], int] | None = None  # requests seen so far
    transient_failure: Callable[[Any, pytest.MonkeyPatch], None] | None = None
    refused_login: Callable[..., Any] | None = None  # (**options) -> a connector with bad credentials
    small_batch: int = 2
    until: dt.datetime = UNTIL  # the window end that takes in all its records
    extra: dict[str, Any] = field(default_factory=dict)


def pull(connector: Any, stream: str, since: dt.datetime | None = None, until: dt.datetime = UNTIL):
    batches = list(connector.pull(stream, since, until))
    return batches, [r for b in batches for r in b.records]


# -- cases -------------------------------------------------------------------------------
@contextlib.contextmanager
def sql_case(dialect: str, databases: dict[str, Any], stack: contextlib.ExitStack, stream: str = "invoices") -> Iterator[Case]:
    from sqlalchemy.exc import OperationalError

    from connectors.sql import SqlConnector
    from tests.connectors.test_sql import erp_database

    if dialect not in databases:  # one throwaway database per dialect for the whole module
        databases[dialect] = stack.enter_context(erp_database(dialect))
    _, conn, _rows = databases[dialect]

    def transient(connector: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        real = connector.engine.connect
        state = {"failed": False}

        def flaky() -> Any:
            if not state["failed"]:
                state["failed"] = True
                raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
            return real()

        monkeypatch.setattr(connector.engine, "connect", flaky)

    def refused(**options: Any) -> Any:
        login = "root" if dialect == "mariadb" else "o2c_no_such_role"
        return SqlConnector(ConnectionInfo(host=conn.host, port=conn.port, login=login, password="wrong", schema=conn.schema,
                                           extra=conn.extra), **options)

    yield Case(f"sql-{dialect}", lambda n, **kw: SqlConnector(conn, batch_size=n, **kw), "sql", stream=stream,
               transient_failure=transient, refused_login=refused)


@contextlib.contextmanager
def filedrop_case(tmp: Path) -> Iterator[Case]:
    from connectors.filedrop import FileDropConnector
    from tests.connectors.test_filedrop import FR_HEADERS

    base = dt.datetime(2026, 1, 20, 8, 0, tzinfo=dt.UTC)
    for i, name in enumerate(["factures_2026-01_cp1252.csv", "invoices_2026-01_utf8bom.csv", "factures_2026-01_cp1252.csv"]):
        target = tmp / f"invoices_{i}.csv"
        data = (FIXTURES / "filedrop" / name).read_bytes()
        if i == 2:  # a later export of other invoices: renumbered, so a different file and different ids
            data = data.replace(b"FA-10", b"FA-20").replace(b"AV-00", b"AV-10")
        target.write_bytes(data)
        stamp = (base + dt.timedelta(days=i)).timestamp()
        os.utime(target, (stamp, stamp))
    options = {"files": {"invoices": "invoices_*.csv"}, "headers": FR_HEADERS, "group_by": "invoice_number"}
    yield Case("filedrop", lambda n, **kw: FileDropConnector(ConnectionInfo(host="local", extra={"path": str(tmp)}), **options, **kw),
               "filedrop")


@contextlib.contextmanager
def odoo_case(version: int) -> Iterator[Case]:
    from connectors.odoo import OdooConnector
    from tests.fixtures.odoo.server import FakeOdoo

    with FakeOdoo(version=version) as server:
        yield Case(f"odoo-{version}", lambda n, **kw: OdooConnector(ConnectionInfo.from_uri(server.uri()), batch_size=n, **kw), "odoo",
                   server=server, small_batch=2)


@contextlib.contextmanager
def odoo_settlements_case() -> Iterator[Case]:
    from connectors.odoo import OdooConnector
    from tests.fixtures.odoo.server import FakeOdoo

    with FakeOdoo(version=17) as server:
        yield Case("odoo-settlements", lambda n, **kw: OdooConnector(ConnectionInfo.from_uri(server.uri()), batch_size=n, **kw),
                   "odoo", stream="settlements", server=server, small_batch=3)


@contextlib.contextmanager
def sap_case(stream: str = "invoices") -> Iterator[Case]:  # cases sap_s4, sap_s4-customers, sap_s4-settlements
    from connectors.sap_s4 import SapS4Connector
    from tests.connectors.test_sap_s4 import COMPANIES
    from tests.fixtures.sap_s4.server import FakeSap

    with FakeSap() as server:
        yield Case("sap_s4" if stream == "invoices" else f"sap_s4-{stream}",
                   lambda n, **kw: SapS4Connector(ConnectionInfo.from_uri(server.uri()), companies=COMPANIES, batch_size=n, **kw),
                   "sap_s4", stream=stream, server=server)


@contextlib.contextmanager
def salesforce_case(stream: str = "customers") -> Iterator[Case]:
    from connectors.salesforce import SalesforceConnector
    from tests.connectors.test_salesforce import EXTRA
    from tests.fixtures.salesforce.server import FakeSalesforce

    with FakeSalesforce() as server:
        yield Case("salesforce", lambda n, **kw: SalesforceConnector(ConnectionInfo.from_uri(server.uri()), extra_fields=EXTRA, batch_size=n, **kw),
                   "salesforce", stream=stream, server=server)


@contextlib.contextmanager
def hubspot_case(stream: str = "customers") -> Iterator[Case]:
    from connectors.hubspot import HubSpotConnector
    from tests.connectors.test_hubspot import PROPS
    from tests.fixtures.hubspot.server import FakeHubSpot

    with FakeHubSpot() as server:
        yield Case("hubspot", lambda n, **kw: HubSpotConnector(ConnectionInfo.from_uri(server.uri()), properties=PROPS, batch_size=n, **kw),
                   "hubspot", stream=stream, server=server)


@contextlib.contextmanager
def tryton_settlements_case(server: Any) -> Iterator[Case]:
    import base64

    import requests

    from connectors.tryton import TrytonConnector
    from tests.connectors.test_tryton_live import conn_info

    def transient(connector: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        real, state = connector.client.http.post, {"failed": False}

        def flaky(*args: Any, **kwargs: Any) -> Any:
            if not state["failed"]:
                state["failed"] = True
                raise requests.ConnectionError("connection reset by peer")
            return real(*args, **kwargs)

        monkeypatch.setattr(connector.client.http, "post", flaky)

    def refused(**options: Any) -> Any:  # a session the server does not know (expired, or revoked)
        connector = TrytonConnector(conn_info(server), **options)
        token = base64.b64encode(f"{server.admin_login}:1:not-a-session".encode()).decode()
        connector.client.http.headers["Authorization"] = f"Session {token}"
        return connector

    yield Case("tryton-settlements", lambda n, **kw: TrytonConnector(conn_info(server), batch_size=n, **kw), "tryton",
               stream="settlements", transient_failure=transient, refused_login=refused, small_batch=3,
               until=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))  # the server stamps records with its own clock


CASES = ["sql-postgresql", "sql-mariadb", "sql-postgresql-settlements", "filedrop", "odoo-16", "odoo-17", "odoo-18", "odoo-settlements", "sap_s4", "salesforce",
         "hubspot",
         pytest.param("tryton-settlements", marks=pytest.mark.tryton)]
CASES += ["sap_s4-customers", "sap_s4-settlements"]  # SAP S/4HANA's other streams (sap_case)
CASES += ["salesforce-promises", "hubspot-promises"]  # promises to pay logged as CRM tasks


@pytest.fixture(scope="module")
def sql_databases() -> Iterator[tuple[dict[str, Any], contextlib.ExitStack]]:
    with contextlib.ExitStack() as stack:
        yield {}, stack


@pytest.fixture(params=CASES)
def case(request, tmp_path, sql_databases) -> Iterator[Case]:
    name = request.param
    if name.startswith("sql-"):
        dialect, _, stream = name.removeprefix("sql-").partition("-")
        cm = sql_case(dialect, *sql_databases, stream=stream or "invoices")
    elif name == "filedrop":
        cm = filedrop_case(tmp_path)
    elif name == "odoo-settlements":
        cm = odoo_settlements_case()
    elif name.startswith("odoo-"):
        cm = odoo_case(int(name.removeprefix("odoo-")))
    elif name.startswith("salesforce"):
        cm = salesforce_case(name.partition("-")[2] or "customers")
    elif name.startswith("hubspot"):
        cm = hubspot_case(name.partition("-")[2] or "customers")
    elif name == "tryton-settlements":
        cm = tryton_settlements_case(request.getfixturevalue("tryton_server"))
    else:
        cm = sap_case(name.partition("-")[2] or "invoices")
    with cm as c:
        yield c


@pytest.fixture
def other_thread_sleeping() -> Iterator[None]:
    """Another thread of the process calls ``time.sleep`` in a loop for the whole test.

    The retry checks count the waits of the connector under test: they hand it a recording
    ``sleep``. They once patched ``time.sleep`` itself, which every thread shares, so a thread
    left running by an earlier test (a paramiko prefetch thread spinning on ``time.sleep(0.01)``)
    added its sleeps to the count, failed the checks and grew the list without end. With this
    thread running, the checks must still count only the connector's waits.
    """
    stop, first = threading.Event(), threading.Event()

    def loop() -> None:
        while not stop.is_set():
            time.sleep(0.001)
            first.set()

    thread = threading.Thread(target=loop, name="contract-test-sleeper")
    thread.start()
    try:
        first.wait(timeout=60)  # it has slept once: it sleeps during the test too
        yield
    finally:
        stop.set()
        thread.join()


# -- the contract -------------------------------------------------------------------------
def test_paging_more_records_than_one_page(case):
    with case.make(case.small_batch) as c:
        batches, records = pull(c, case.stream, until=case.until)
        spec = c.spec(case.stream)
    with case.make(1000) as c:
        _, everything = pull(c, case.stream, until=case.until)
    assert len(batches) > 1, "the fixtures must hold more records than one page"
    ids = [spec.record_id(r) for r in records]
    assert ids == [spec.record_id(r) for r in everything] and len(set(ids)) == len(ids)
    stamps = [r[spec.cursor_field] for r in records]
    assert stamps == sorted(stamps) and all(s.tzinfo is not None for s in stamps)
    marks = [b.watermark for b in batches if b.watermark is not None]
    assert marks == sorted(marks) and marks[-1] == stamps[-1]


def test_watermark_window_is_half_open(case):
    with case.make(case.small_batch) as c:
        spec = c.spec(case.stream)
        key, cursor = spec.record_id, spec.cursor_field
        _, everything = pull(c, case.stream, until=case.until)
        stamps = sorted({r[cursor] for r in everything})
        assert len(stamps) >= 3
        since, until = stamps[0], stamps[-2]
        _, window = pull(c, case.stream, since, until)
    expected = [key(r) for r in everything if since < r[cursor] <= until]
    assert [key(r) for r in window] == expected
    assert all(r[cursor] != since for r in window) and any(r[cursor] == until for r in window)


@pytest.mark.parametrize("batch_size", [2, 3, 5])
def test_resume_from_any_committed_batch_loses_nothing(case, batch_size):
    with case.make(batch_size) as c:
        key = c.spec(case.stream).record_id
        batches, everything = pull(c, case.stream, until=case.until)
        all_ids = {key(r) for r in everything}
        for i, batch in enumerate(batches):
            if batch.watermark is None:
                continue  # not committed as a watermark: the run would resume from the one before
            done = {key(r) for b in batches[: i + 1] for r in b.records}
            _, rest = pull(c, case.stream, since=batch.watermark, until=case.until)
            assert done | {key(r) for r in rest} == all_ids, f"resuming after batch {i} loses records"


def test_transient_failure_then_success_is_retried(case, monkeypatch, other_thread_sleeping):
    waits: list[float] = []
    with case.make(1000, sleep=waits.append) as c:
        if case.server is not None:
            case.server.fail_next((503, {}, b"Service Unavailable"), (502, {}, b"Bad Gateway"))
        elif case.transient_failure is not None:
            case.transient_failure(c, monkeypatch)
        else:
            pytest.skip(f"{case.name}: reads local files, nothing transient to retry")
        _, records = pull(c, case.stream, until=case.until)
    assert records and len(waits) == (2 if case.server is not None else 1)


def test_429_honours_retry_after(case, other_thread_sleeping):
    if case.server is None:
        pytest.skip(f"{case.name}: not HTTP, no Retry-After")
    waits: list[float] = []
    with case.make(1000, sleep=waits.append) as c:
        case.server.fail_next((429, {"Retry-After": "3"}, b"Too Many Requests"))
        _, records = pull(c, case.stream, until=case.until)
        assert records and len(waits) == 1 and 1.5 <= waits[0] <= 3.0
        case.server.fail_next(*[(429, {"Retry-After": "1"}, b"")] * 4)
        with pytest.raises(RetriableError, match="429"):
            pull(c, case.stream, until=case.until)


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_fatal_at_once(case, status, other_thread_sleeping):
    waits: list[float] = []
    if case.server is not None:
        with case.make(1000, sleep=waits.append) as c:
            before = len(case.server.requests)
            case.server.fail_next((status, {}, b"Unauthorized" if status == 401 else b"Forbidden"))
            with pytest.raises(AuthError, match=str(status)):
                pull(c, case.stream, until=case.until)
            assert len(case.server.requests) == before + 1
    elif case.refused_login is not None:
        if status == 403:
            pytest.skip(f"{case.name}: a database has no 403; the refused login is checked under 401")
        with case.refused_login(sleep=waits.append) as c, pytest.raises(AuthError):
            pull(c, case.stream, until=case.until)
    else:
        pytest.skip(f"{case.name}: reads local files, no credentials")
    assert waits == []


def test_mapping_round_trip_has_no_intake_errors(case):
    document = STREAM_DOCUMENTS[case.stream]
    mapping = load_mapping(mapping_path(case.mapping, document))
    issues = {"invoice": invoice_issues, "customer": customer_issues}.get(document, lambda _: [])  # settlements: no intake checks
    with case.make(1000) as c:
        _, records = pull(c, case.stream, until=case.until)
        spec = c.spec(case.stream)
    assert records
    for rec in records:
        canonical = mapping.apply(rec, case.source_name)
        errors = [str(i) for i in issues(canonical) if i.severity == "error"]
        assert errors == [], errors
        assert canonical.source.id == spec.record_id(rec)  # the id a quarantined version of it was stored under
        assert canonical.source.updated_at == rec[spec.cursor_field]


def test_records_carry_the_declared_primary_key_and_cursor(case):
    with case.make(case.small_batch) as c:
        spec = c.spec(case.stream)
        batches, records = pull(c, case.stream, until=case.until)
    assert spec.name == case.stream and records
    for rec in records:
        assert all(rec.get(f) not in (None, "") for f in spec.primary_key), (spec.primary_key, rec)
        stamp = rec.get(spec.cursor_field)
        assert isinstance(stamp, dt.datetime) and stamp.tzinfo is not None, (spec.cursor_field, rec)
    for batch in batches:  # a batch's watermark is a value of the declared cursor (or stays put on a tie)
        assert batch.watermark is None or batch.watermark in {r[spec.cursor_field] for r in batch.records}


def test_every_registered_connector_has_a_contract_case_and_a_mapping():
    from connectors import REGISTRY, connector_class

    covered = {getattr(c, "values", [c])[0].split("-")[0] for c in CASES}  # tryton's other streams: tests/connectors/test_tryton_live.py
    assert set(REGISTRY) <= covered
    for kind in REGISTRY:
        for stream in connector_class(kind).streams:
            if STREAM_DOCUMENTS[stream] in MAPPED_DOCUMENTS:  # rates are stored as the connector gives them
                load_mapping(mapping_path(kind, STREAM_DOCUMENTS[stream]))


# what each connector really implements today (the write-back reads these declarations)
WRITES = {"tryton": {"payments", "netting", "write_offs", "reversals", "credit_holds", "notes", "dunning_blocks", "statuses"},
          # documented contracts: tests/connectors/test_writeback_contract.py
          "odoo": {"payments", "credit_holds", "notes"}, "sap_s4": {"credit_holds"},
          "salesforce": {"credit_holds", "notes"}, "hubspot": {"credit_holds", "notes"}}


@pytest.mark.parametrize("kind", ["tryton", "sql", "filedrop", "odoo", "sap_s4", "salesforce", "hubspot"])
def test_declarations_match_the_mappings_and_the_implementation(kind):
    from connectors import REGISTRY, capabilities, connector_class, stream_specs
    from connectors.base import WRITE_METHODS, BaseConnector, Capabilities, NotSupported, command_flag

    assert kind in REGISTRY
    cls = connector_class(kind)
    specs = stream_specs(kind)
    assert specs and cls.streams == tuple(s.name for s in specs) and len(set(cls.streams)) == len(specs)
    for spec in specs:  # the kind's own mapping reads its id and timestamp where the connector puts them
        if STREAM_DOCUMENTS[spec.name] not in MAPPED_DOCUMENTS:
            assert spec.cursor_field == "updated_at", (kind, spec.name)
            continue
        mapping = load_mapping(mapping_path(kind, STREAM_DOCUMENTS[spec.name]))
        assert (mapping.source_id,) == spec.primary_key, (kind, spec.name)
        assert mapping.updated_at == spec.cursor_field, (kind, spec.name)
    declared = capabilities(kind)
    assert isinstance(declared, Capabilities) and set(declared.names) == WRITES.get(kind, set())
    assert declared.supports("payment") == ("payments" in WRITES.get(kind, set()))
    bare = cls.__new__(cls)  # the write-back stubs touch nothing but the kind
    for command_kind, methods in WRITE_METHODS.items():
        flag = command_flag(command_kind)
        for name in methods:
            if getattr(declared, flag):
                assert getattr(cls, name) is not getattr(BaseConnector, name), f"{kind} declares {flag} but not {name}"
            else:
                with pytest.raises(NotSupported):
                    getattr(bare, name)(None)


def test_mapping_functions_doctests():
    import mappings.functions

    result = doctest.testmod(mappings.functions, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 20
