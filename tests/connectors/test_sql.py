"""The generic SQL connector against the machine's real PostgreSQL and MariaDB servers.

Each dialect gets a throwaway database holding the reference ERP schema of
``mappings/sql/schema.sql`` and a few invoices; it is dropped afterwards. A server that is down
fails the run on CI and is skipped elsewhere, with a message naming it.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal as D
from pathlib import Path

import pytest

from connectors.base import ConnectionInfo
from connectors.sql import SqlConnector, engine_url
from mappings.mapper import load_mapping, mapping_path
from schemas.errors import AuthError, ConfigError, RetriableError
from schemas.money import quantize
from schemas.validation import invoice_issues
from tests.fixtures_services import service_missing

SCHEMA = Path(__file__).resolve().parents[2] / "mappings" / "sql" / "schema.sql"
MARIADB_ADMIN_URL = os.environ.get("O2C_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
PG_ADMIN_URL = os.environ.get("O2C_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
T0 = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
RATES = {"TVA20": D("20"), "TVA10": D("10"), "TVA55": D("5.5"), "EXO": D("0")}


def fr_vat(siren: str) -> str:
    return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"


def erp_rows() -> dict[str, list[dict]]:
    """A company, three customers, eight invoices (one credit note) with two lines each.

    Invoices 4 and 5 share one ``updated_at`` so that a page boundary falls between equal
    watermarks (the keyset must not lose or repeat either)."""
    company = [{"id": 1, "name": "Acme Industrie SAS", "siren": "732829320", "vat": fr_vat("732829320"),
                "street": "1 rue de la Paix", "city": "Paris", "zip": "75002", "country": "FR"}]
    customers = [
        {"id": 10 + i, "code": f"C{i:03d}", "name": name, "siren": siren, "vat": fr_vat(siren) if siren else None,
         "street": f"{i} avenue Foch", "street2": None, "city": city, "zip": "69006", "country": "FR",
         "email": f"ap{i}@client.example", "currency": "EUR", "credit_limit": D("15000.00") * i, "payment_terms": "30N",
         "updated_at": T0 + dt.timedelta(hours=i)}
        for i, (name, siren, city) in enumerate([("Client SARL", "552081317", "Lyon"), ("Boulangerie Dupont", "542065479", "Nantes"),
                                                 ("Export Ltd", None, "Lille")], 1)
    ]
    invoices, lines = [], []
    specs = [("TVA20", "TVA10"), ("TVA20", "TVA55"), ("TVA20", "TVA20"), ("EXO", "TVA20"), ("TVA10", "TVA20"),
             ("TVA20", "TVA55"), ("TVA20", "TVA10"), ("TVA20", "TVA20")]
    for n, (tax_a, tax_b) in enumerate(specs, 1):
        stamp = T0 + dt.timedelta(days=n if n != 5 else 4, minutes=7)
        net = tax = D("0")
        for k, (code, qty, price) in enumerate([(tax_a, D("3"), D("12.50") * n), (tax_b, D("1.5"), D("99.99"))], 1):
            amount = quantize(qty * price)
            vat = quantize(amount * RATES[code] / 100)
            lines.append({"id": n * 10 + k, "invoice_id": n, "line_no": k, "product_code": f"P{k}", "label": f"Article {k}",
                          "qty": qty, "unit": "U" if k == 1 else "KG", "unit_price": price, "net_amount": amount,
                          "tax_code": code, "tax_amount": vat})
            net, tax = net + amount, tax + vat
        invoices.append({"id": n, "doc_number": f"FA2026-{n:04d}", "doc_type": "CRN" if n == 6 else "INV",
                         "customer_id": 10 + (n % 3) + 1, "issue_date": stamp.date(), "due_date": stamp.date() + dt.timedelta(days=30),
                         "currency": "EUR", "payment_terms": "30N", "customer_ref": f"PO-{n}", "total_net": net,
                         "total_tax": tax, "total_gross": net + tax, "status": "OPEN", "amount_open": net + tax,
                         "updated_at": stamp})
    receipts, allocations = settlement_rows(invoices)
    return {"company": company, "customer": customers, "invoice": invoices, "invoice_line": lines, "receipt": receipts,
            "receipt_allocation": allocations}


SETTLED = T0 + dt.timedelta(days=20)  # receipts are entered after the last invoice changed


def settlement_rows(invoices: list[dict]) -> tuple[list[dict], list[dict]]:
    """What the ERP says settled the invoices (and sets their open amount and status, in place):
    1 paid by transfer, 2 paid in part, 3 paid by cheque less a written-off difference, 7 netted by
    the credit note 6 (then open for the rest), 8 cancelled; 4 and 5 untouched."""
    by_id = {inv["id"]: inv for inv in invoices}
    receipts = [
        {"id": 1, "receipt_ref": "VIR-0001", "kind": "PAY", "receipt_date": dt.date(2026, 1, 26), "memo": "Virement client", "updated_at": SETTLED},
        {"id": 2, "receipt_ref": "VIR-0002", "kind": "PAY", "receipt_date": dt.date(2026, 1, 27), "memo": None,
         "updated_at": SETTLED + dt.timedelta(hours=1)},
        {"id": 3, "receipt_ref": "CHQ-0042", "kind": "CHQ", "receipt_date": dt.date(2026, 1, 28), "memo": "cheque 0042",
         "updated_at": SETTLED + dt.timedelta(hours=2)},
        {"id": 4, "receipt_ref": "OD-0003", "kind": "WO", "receipt_date": dt.date(2026, 1, 29), "memo": "écart de règlement",
         "updated_at": SETTLED + dt.timedelta(hours=3)},
        {"id": 5, "receipt_ref": "FA2026-0006", "kind": "CRN", "receipt_date": dt.date(2026, 1, 30), "memo": None,
         "updated_at": SETTLED + dt.timedelta(hours=4)},
    ]
    gross = {n: by_id[n]["total_gross"] for n in by_id}
    allocations = [
        {"id": 1, "receipt_id": 1, "invoice_id": 1, "amount": gross[1], "updated_at": SETTLED},
        {"id": 2, "receipt_id": 2, "invoice_id": 2, "amount": D("100.00"), "updated_at": SETTLED + dt.timedelta(hours=1)},
        {"id": 3, "receipt_id": 3, "invoice_id": 3, "amount": gross[3] - D("0.50"), "updated_at": SETTLED + dt.timedelta(hours=2)},
        {"id": 4, "receipt_id": 4, "invoice_id": 3, "amount": D("0.50"), "updated_at": SETTLED + dt.timedelta(hours=3)},
        {"id": 5, "receipt_id": 5, "invoice_id": 7, "amount": gross[6], "updated_at": SETTLED + dt.timedelta(hours=4)},
    ]
    for a in allocations:
        by_id[a["invoice_id"]]["amount_open"] -= a["amount"]
    for n in (1, 3):
        by_id[n]["status"] = "PAID"
    by_id[8]["status"] = "CANCELLED"  # the ERP keeps its open amount; nothing is left to pay
    return receipts, allocations


def _create_schema(engine, dialect: str, rows: dict[str, list[dict]]) -> None:
    from sqlalchemy import MetaData, text

    ddl = SCHEMA.read_text()
    ddl = ddl.replace("TIMESTAMP NULL", "TIMESTAMPTZ NULL" if dialect == "postgresql" else "DATETIME(6) NULL")
    ddl = "\n".join(ln for ln in ddl.splitlines() if not ln.strip().startswith("--"))
    with engine.begin() as c:
        for stmt in filter(str.strip, ddl.split(";")):
            c.execute(text(stmt))
    meta = MetaData()
    meta.reflect(engine)
    with engine.begin() as c:
        for table in ("company", "customer", "invoice", "invoice_line", "receipt", "receipt_allocation"):
            data = rows[table]
            if dialect != "postgresql":  # DATETIME holds naive UTC here (db_timezone: UTC)
                data = [{k: (v.astimezone(dt.UTC).replace(tzinfo=None) if isinstance(v, dt.datetime) else v) for k, v in r.items()}
                        for r in data]
            c.execute(meta.tables[table].insert(), data)


def _admin_engine(dialect: str):
    from sqlalchemy import create_engine, text

    if dialect == "mariadb":
        try:
            import pymysql  # noqa: F401
        except ImportError:
            service_missing("the PyMySQL driver for MariaDB (pip install pymysql)")
        url = MARIADB_ADMIN_URL
    else:
        url = PG_ADMIN_URL
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001
        what = "MariaDB" if dialect == "mariadb" else "PostgreSQL"
        service_missing(f"{what} at {engine.url.render_as_string(hide_password=True)} ({exc.__class__.__name__})")
    return engine


@contextmanager
def erp_database(dialect: str) -> Iterator[tuple[str, ConnectionInfo, dict]]:
    """(dialect, connection, rows) of a throwaway ERP database on the real server, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = _admin_engine(dialect)
    name = f"o2c_erp_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(str(admin.url.render_as_string(hide_password=False))).set(database=name)
    rows = erp_rows()
    engine = create_engine(url)
    try:
        _create_schema(engine, dialect, rows)
        engine.dispose()
        driver = "psycopg" if dialect == "postgresql" else "pymysql"
        conn = ConnectionInfo(host=url.host, port=url.port, login=url.username, password=url.password, schema=name,
                              extra={"dialect": dialect, "driver": driver})
        yield dialect, conn, rows
    finally:
        engine.dispose()
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name}" + (" WITH (FORCE)" if dialect == "postgresql" else "")))
        admin.dispose()


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
def erp_db(request) -> Iterator[tuple[str, ConnectionInfo, dict]]:
    with erp_database(request.param) as db:
        yield db


UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def pull_all(connector, stream, since=None, until=UNTIL):
    batches = list(connector.pull(stream, since, until))
    return batches, [r for b in batches for r in b.records]


def test_engine_url_from_connection_extra():
    url = engine_url(ConnectionInfo(host="db", port=3306, login="ro", password="p@ss", schema="erp",
                                    extra={"dialect": "mariadb", "driver": "pymysql", "charset__q": "utf8mb4"}))
    assert url.render_as_string(hide_password=False) == "mariadb+pymysql://ro:p%40ss@db:3306/erp?charset=utf8mb4"
    with pytest.raises(ConfigError, match="dialect"):
        engine_url(ConnectionInfo(host="db"))


def test_pull_pages_by_keyset_and_nests_lines(erp_db):
    dialect, conn, rows = erp_db
    with SqlConnector(conn, batch_size=3) as c:
        batches, records = pull_all(c, "invoices")
    assert [len(b.records) for b in batches] == [3, 3, 2]
    assert [r["id"] for r in records] == [1, 2, 3, 4, 5, 6, 7, 8]  # 4 and 5 share a watermark across pages
    assert [b.watermark for b in batches] == [max(r["updated_at"] for r in b.records) for b in batches]
    assert all(b.watermark.tzinfo is not None for b in batches)
    assert batches[-1].watermark == rows["invoice"][-1]["updated_at"]
    first = records[0]
    assert first["buyer"]["name"] == "Boulangerie Dupont" and first["seller"]["siren"] == "732829320"
    assert [ln["line_no"] for ln in first["lines"]] == [1, 2]
    assert first["lines"][1]["unit_price"] == D("99.9900") and isinstance(first["total_gross"], D)
    assert {t["tax_code"] for t in first["taxes"]} == {"TVA20", "TVA10"}


def test_window_is_half_open(erp_db):
    dialect, conn, rows = erp_db
    inv = rows["invoice"]
    with SqlConnector(conn, batch_size=2) as c:
        _, records = pull_all(c, "invoices", since=inv[1]["updated_at"], until=inv[5]["updated_at"])
    assert [r["id"] for r in records] == [3, 4, 5, 6]


def test_invoices_map_to_valid_canonical_equal_to_the_database(erp_db):
    dialect, conn, rows = erp_db
    mapping = load_mapping(mapping_path("sql", "invoice"))
    with SqlConnector(conn) as c:
        _, records = pull_all(c, "invoices")
    by_id = {r["id"]: r for r in rows["invoice"]}
    for rec in records:
        inv = mapping.apply(rec, "erp_sql")
        assert [i for i in invoice_issues(inv) if i.severity == "error"] == []
        truth = by_id[rec["id"]]
        assert (inv.number, inv.totals.payable, inv.totals.tax_total) == (truth["doc_number"], truth["total_gross"], truth["total_tax"])
        assert inv.type_code == ("381" if truth["doc_type"] == "CRN" else "380")
        assert inv.lines[1].unit_code == "KGM" and inv.payment_terms == "30 jours net"
        assert inv.source.updated_at == truth["updated_at"]


def test_customers_stream_maps(erp_db):
    from schemas.validation import customer_issues

    dialect, conn, rows = erp_db
    mapping = load_mapping(mapping_path("sql", "customer"))
    with SqlConnector(conn) as c:
        _, records = pull_all(c, "customers")
    customers = [mapping.apply(r, "erp_sql") for r in records]
    assert [c.code for c in customers] == ["C001", "C002", "C003"]
    assert customers[1].credit_limit == D("30000.00") and customers[0].vat_id == fr_vat("552081317")
    assert all(not customer_issues(c) for c in customers)


def test_json_aggregation_instead_of_a_child_query(erp_db, tmp_path):
    dialect, conn, rows = erp_db
    agg = ("json_agg(json_build_object('line_no', l.line_no, 'qty', l.qty, 'unit_price', l.unit_price) ORDER BY l.line_no)"
           if dialect == "postgresql" else
           "JSON_ARRAYAGG(JSON_OBJECT('line_no', l.line_no, 'qty', l.qty, 'unit_price', l.unit_price))")
    alias = "lines" if dialect == "postgresql" else "`lines`"  # LINES is a MariaDB keyword
    (tmp_path / "invoices.sql").write_text(
        f"SELECT i.id, i.doc_number, i.updated_at, {agg} AS {alias} FROM invoice i JOIN invoice_line l ON l.invoice_id = i.id\n"
        "WHERE i.updated_at > :since AND i.updated_at <= :until GROUP BY i.id, i.doc_number, i.updated_at")
    with SqlConnector(conn, queries=str(tmp_path), json_columns=["lines"], batch_size=5) as c:
        _, records = pull_all(c, "invoices")
    assert len(records) == 8
    lines = sorted(records[0]["lines"], key=lambda ln: ln["line_no"])
    assert lines[1]["qty"] == D("1.5") and lines[1]["unit_price"] == D("99.99")
    assert all(isinstance(v, (D, int)) for v in (lines[0]["qty"], lines[0]["unit_price"]))


def test_bad_query_is_a_config_error_naming_the_file(erp_db, tmp_path):
    dialect, conn, _ = erp_db
    (tmp_path / "invoices.sql").write_text("SELECT id, no_such_column, updated_at FROM invoice WHERE updated_at > :since AND updated_at <= :until")
    with SqlConnector(conn, queries=str(tmp_path)) as c, pytest.raises(ConfigError, match="invoices.sql"):
        pull_all(c, "invoices")


def test_refused_credentials_are_fatal(erp_db):
    dialect, conn, _ = erp_db
    calls = []
    # PostgreSQL here trusts loopback: an unknown role is what it refuses; MariaDB checks the password
    bad = ConnectionInfo(host=conn.host, port=conn.port, login="root" if dialect == "mariadb" else "no_such_role_o2c",
                         password="wrong-password", schema=conn.schema, extra=conn.extra)
    with SqlConnector(bad, sleep=calls.append) as c, pytest.raises(AuthError, match="credentials refused"):
        pull_all(c, "invoices")
    assert calls == []  # not retried


def test_unreachable_server_is_retriable():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens on this port now
    waits = []
    conn = ConnectionInfo(host="127.0.0.1", port=port, login="postgres", schema="x", extra={"dialect": "postgresql", "driver": "psycopg"})
    with SqlConnector(conn, attempts=2, sleep=waits.append) as c, pytest.raises(RetriableError):
        pull_all(c, "invoices")
    assert len(waits) == 1


def test_sync_stream_stores_everything_then_nothing_new(erp_db, tmp_path):
    from o2c.config import SourceConfig
    from o2c.jobs.sync import sync_stream
    from o2c.store import Store

    dialect, conn, rows = erp_db
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    source = SourceConfig(name="erp_sql", kind="sql", connection="x", options={"batch_size": 3})
    with SqlConnector(conn, batch_size=3) as c:
        first = sync_stream(store, source, c, "invoices", until=UNTIL)
        again = sync_stream(store, source, c, "invoices", until=UNTIL)
    assert (first.read, first.inserted, first.rejected) == (8, 8, 0)
    assert again.read == 0
    assert store.get_watermark("erp_sql", "invoices").value == rows["invoice"][-1]["updated_at"]
    stored = {r.number: r for r in store.invoices("erp_sql")}
    assert len(stored) == 8


def test_settlements_stream_reads_the_erps_open_amounts(erp_db):
    dialect, conn, rows = erp_db
    mapping = load_mapping(mapping_path("sql", "settlement"))
    with SqlConnector(conn, batch_size=3) as c:
        batches, records = pull_all(c, "settlements")
    # oldest change first: the untouched invoices by their own time, then those receipts changed later
    assert [r["id"] for r in records] == [4, 5, 6, 8, 1, 2, 3, 7]
    assert records[-1]["updated_at"] == SETTLED + dt.timedelta(hours=4) and batches[-1].watermark == records[-1]["updated_at"]
    got = {r["id"]: mapping.apply(r, "erp_sql") for r in records}
    truth = {inv["id"]: inv for inv in rows["invoice"]}
    for n, st in got.items():
        assert st.open_amount == (0 if truth[n]["status"] == "CANCELLED" else truth[n]["amount_open"]), n
        assert st.source.updated_at == records[[r["id"] for r in records].index(n)]["updated_at"]
    assert {n: st.state for n, st in got.items()} == {1: "paid", 2: "partial", 3: "paid", 4: "open", 5: "open", 6: "open",
                                                      7: "partial", 8: "cancelled"}
    assert [(ln.kind, ln.amount, ln.reference) for ln in got[3].lines] == [
        ("payment", truth[3]["total_gross"] - D("0.50"), "cheque 0042"), ("write_off", D("0.50"), "écart de règlement")]
    assert [(ln.kind, ln.reference) for ln in got[7].lines] == [("credit_note", "FA2026-0006")]
    assert got[2].lines[0].reference == "VIR-0002" and got[1].settled_on == dt.date(2026, 1, 26) and got[2].settled_on is None


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"])
def test_sync_stores_the_open_amounts_of_the_database(dialect, tmp_path):
    """Synced into the hub, the open amounts equal the database's; an allocation entered later
    brings only its invoice again; bad rows are quarantined or recorded as findings. (The ERP
    changes here: a database of its own, not the module's.)"""
    with erp_database(dialect) as db:
        _sync_settlements_and_change_the_erp(db, tmp_path)


def _sync_settlements_and_change_the_erp(erp_db, tmp_path):
    from sqlalchemy import create_engine, text

    from connectors.sql import engine_url
    from o2c.config import SourceConfig
    from o2c.jobs.sync import sync_stream
    from o2c.store import Store
    from o2c.store.receivables import findings, settlement_of

    dialect, conn, rows = erp_db
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    source = SourceConfig(name="erp_sql", kind="sql", connection="x", streams=["invoices", "settlements"])
    erp = create_engine(engine_url(conn))

    def database_open() -> dict[str, D]:
        with erp.connect() as c:
            return {str(r.id): (D(0) if r.status == "CANCELLED" else r.amount_open)
                    for r in c.execute(text("SELECT id, status, amount_open FROM invoice"))}

    def stored() -> dict[str, D]:
        with store.session() as s:
            return {str(n): settlement_of(s, "erp_sql", str(n)).open_amount for n in range(1, 9)}

    try:
        with SqlConnector(conn, batch_size=3) as c:
            assert sync_stream(store, source, c, "invoices", until=UNTIL).inserted == 8
            first = sync_stream(store, source, c, "settlements", until=UNTIL)
            assert (first.read, first.inserted, first.rejected, first.findings) == (8, 8, 0, 0)
            assert stored() == database_open()
            # the ERP records a cheque for the rest of invoice 2, and two bad rows
            later = SETTLED + dt.timedelta(days=1)
            stamp = later if dialect == "postgresql" else later.replace(tzinfo=None)
            with erp.begin() as db:
                db.execute(text("INSERT INTO receipt VALUES (6, 'CHQ-0043', 'CHQ', :d, 'cheque 0043', :t)"),
                           {"d": dt.date(2026, 2, 2), "t": stamp})
                db.execute(text("INSERT INTO receipt_allocation VALUES (6, 6, 2, :a, :t)"),
                           {"a": rows["invoice"][1]["amount_open"], "t": stamp})
                db.execute(text("UPDATE invoice SET amount_open = 0, status = 'PAID' WHERE id = 2"))
                db.execute(text("UPDATE invoice SET amount_open = NULL, updated_at = :t WHERE id = 4"), {"t": stamp})
                db.execute(text("UPDATE invoice SET amount_open = total_gross + 1, updated_at = :t WHERE id = 5"), {"t": stamp})
            second = sync_stream(store, source, c, "settlements", until=UNTIL)
            assert (second.read, second.updated, second.rejected, second.findings, second.status) == (3, 2, 1, 1, "success")
            assert second.rejects[0]["id"] == "4"
            again = sync_stream(store, source, c, "settlements", until=UNTIL)
            assert (again.read, again.updated) == (0, 0)
        truth = database_open()
        got = stored()
        assert {k: v for k, v in got.items() if k != "4"} == {k: v for k, v in truth.items() if k != "4"}
        assert got["4"] == rows["invoice"][3]["amount_open"]  # its last good state stays until the row is fixed
        with store.session() as s:
            assert settlement_of(s, "erp_sql", "2").state == "paid"
            assert [(f.source_id, f.rule) for f in findings(s, "erp_sql")] == [("5", "open_amount_above_total")]
    finally:
        erp.dispose()
