"""Any SQL database reachable by SQLAlchemy: invoices, customers and settlements read by query files.

An ERP without an API (or a reporting replica of one) is read with plain ``SELECT`` queries
kept beside its mapping, one file per stream. The connector adds the window, the paging and the
nesting; the queries stay ordinary SQL of the source's dialect.

Connection (an Airflow connection or ``O2C_CONN_<ID>``), e.g.
``sql://erp_ro:secret@db.example:5432/erp?dialect=postgresql&driver=psycopg``:

- host, port, login, password, schema (the database name) as usual;
- ``extra.dialect``: an SQLAlchemy dialect (``postgresql``, ``mysql``, ``mariadb``, ``mssql``,
  ``oracle``, ``sqlite``); ``extra.driver``: its DBAPI driver (``psycopg``, ``pymysql``...;
  default: SQLAlchemy's default for the dialect); any other ``extra`` key ending in ``__q`` is
  passed on as a URL query parameter without the suffix (``sslmode__q=require``);
- or ``extra.url``: a complete SQLAlchemy URL (``sqlite:////srv/erp.db``), login/password
  still taken from the connection when the URL has none.

Source options (``sources.yaml``):

- ``queries``: the folder of the query files, a name under ``mappings/`` or a path
  (default ``sql``, the example folder matching ``mappings/sql/*.yaml``);
- ``watermark_column`` (default ``updated_at``) and ``id_column`` (default ``id``): the keyset;
- ``batch_size`` (default 500); ``db_timezone`` (default ``UTC``): the zone of timestamps the
  database returns without one (MariaDB ``DATETIME``, PostgreSQL ``timestamp``);
- ``json_columns``: columns holding JSON text (MariaDB ``JSON_ARRAYAGG``) to decode.

Query files, per stream ``<stream>.sql`` (``invoices.sql``, ``customers.sql``, and for a source
whose ``streams`` list ``settlements``, ``settlements.sql``: one row per invoice id with the ERP's
own open amount, state and the latest change among the invoice and what settled it, and
optionally ``settlements.lines.sql``, the payments, credit notes and write-offs that settled it;
mapped by the folder's ``settlement.yaml``. A source without it sends no settlement state: the
hub's open amount for its invoices is its own estimate):

- select one row per document with the id and watermark columns, and restrict the window
  with the named parameters ``:since`` and ``:until`` (``WHERE updated_at > :since AND
  updated_at <= :until``); ``:since`` is 1900-01-01 on a first run without a start date;
- the connector wraps the query as a derived table and pages it by keyset on
  ``(watermark, id)``: ``SELECT * FROM (<query>) q WHERE (q.wm, q.id) > (last) ORDER BY q.wm,
  q.id LIMIT n`` (rendered per dialect by SQLAlchemy), so the query needs no ORDER BY or LIMIT;
- a column alias with ``__`` nests: ``buyer__name`` becomes ``record["buyer"]["name"]``;
- nested lists, either way: **a child query** ``<stream>.<list>.sql`` (``invoices.lines.sql``,
  ``invoices.taxes.sql``) selecting the rows of the page's documents with ``WHERE invoice_id IN
  :ids`` (an expanding parameter) and a ``parent_id`` column naming the document, which the
  connector groups into ``record[<list>]`` in query order; or **JSON aggregation** in the main
  query (PostgreSQL ``json_agg(...) AS lines``, decoded by the driver; MariaDB
  ``JSON_ARRAYAGG(JSON_OBJECT(...)) AS lines`` listed in ``json_columns``). JSON numbers are
  read as Decimal, never float.

Money columns must be NUMERIC/DECIMAL: the mappings refuse binary floats for amounts.

Errors: refused credentials are :class:`~schemas.errors.AuthError`; a server that cannot be
reached or drops the connection is :class:`~schemas.errors.RetriableError` (retried with
backoff); a query that does not run (unknown column, syntax) is a
:class:`~schemas.errors.ConfigError` naming the query file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, column, create_engine, literal_column, or_, select, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, OperationalError, ProgrammingError, SQLAlchemyError

from connectors.base import BaseConnector, Batch, ConnectionInfo, StreamSpec
from schemas.errors import AuthError, ConfigError, RetriableError
from transport.http import Sleep, with_retries

log = logging.getLogger(__name__)

MAPPINGS_DIR = Path(__file__).resolve().parent.parent / "mappings"
EPOCH = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
AUTH_PATTERNS = re.compile(r"password authentication failed|access denied|authentication failed|login failed|"
                           r"no pg_hba\.conf entry|role \S+ does not exist|ORA-01017", re.IGNORECASE)
CHILD_RE = re.compile(r"^(?P<stream>[a-z_]+)\.(?P<list>[a-z_][a-z0-9_]*)\.sql$")


def engine_url(conn: ConnectionInfo) -> URL:
    """The SQLAlchemy URL for a connection (see the module docstring).

    >>> str(engine_url(ConnectionInfo(host="db", port=5432, login="ro", schema="erp",
    ...     extra={"dialect": "postgresql", "driver": "psycopg", "sslmode__q": "require"})))
    'postgresql+psycopg://ro@db:5432/erp?sslmode=require'
    >>> str(engine_url(ConnectionInfo(host="local", extra={"url": "sqlite:///erp.db"})))
    'sqlite:///erp.db'
    """
    extra = dict(conn.extra)
    if extra.get("url"):
        url = make_url(str(extra["url"]))
        if url.username is None and conn.login:
            url = url.set(username=conn.login, password=conn.password)
        return url
    dialect = extra.get("dialect")
    if not dialect:
        raise ConfigError("SQL connection: extra 'dialect' is missing (postgresql, mariadb, mysql, mssql, oracle, sqlite), "
                          "or give a complete SQLAlchemy URL in extra 'url'")
    driver = extra.get("driver")
    query = {k[:-3]: str(v) for k, v in extra.items() if k.endswith("__q")}
    return URL.create(f"{dialect}+{driver}" if driver else str(dialect), username=conn.login, password=conn.password,
                      host=conn.host, port=conn.port, database=conn.schema, query=query)


def _nest(row: dict[str, Any]) -> dict[str, Any]:
    """``{"buyer__name": "X"}`` -> ``{"buyer": {"name": "X"}}``.

    >>> _nest({"id": 1, "buyer__name": "X", "buyer__address__city": "Lyon"})
    {'id': 1, 'buyer': {'name': 'X', 'address': {'city': 'Lyon'}}}
    """
    out: dict[str, Any] = {}
    for key, value in row.items():
        parts = key.split("__")
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return out


def _json_value(value: Any) -> Any:
    """JSON text (MariaDB aggregates) to Python with exact decimals; anything else unchanged."""
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8")
    if isinstance(value, str):
        return json.loads(value, parse_float=Decimal)
    return value


def _floats_to_decimal(value: Any) -> Any:
    """Drivers decode PostgreSQL json into floats; amounts must stay exact (shortest repr)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, list):
        return [_floats_to_decimal(v) for v in value]
    if isinstance(value, dict):
        return {k: _floats_to_decimal(v) for k, v in value.items()}
    return value


class SqlConnector(BaseConnector):
    """Documents read by query files from any SQLAlchemy database (see the module docstring)."""

    kind: ClassVar[str] = "sql"
    # the defaults of the options id_column and watermark_column: spec() gives a source's own
    stream_specs: ClassVar[tuple[StreamSpec, ...]] = (
        StreamSpec("invoices", ("id",), "updated_at", changed_on="the watermark_column of invoices.sql"),
        StreamSpec("customers", ("id",), "updated_at", changed_on="the watermark_column of customers.sql"),
        StreamSpec("settlements", ("id",), "updated_at", changed_on="the watermark_column of settlements.sql"),
    )

    def __init__(self, conn: ConnectionInfo, *, queries: str = "sql", watermark_column: str = "updated_at",
                 id_column: str = "id", batch_size: int = 500, db_timezone: str = "UTC",
                 json_columns: list[str] | None = None, attempts: int = 4, engine: Engine | None = None,
                 sleep: Sleep = time.sleep, **unknown: Any) -> None:
        if unknown:
            raise ConfigError(f"sql source: unknown option(s) {sorted(unknown)}")
        folder = Path(queries)
        self.query_dir = folder if folder.is_absolute() or not (MAPPINGS_DIR / queries).is_dir() else MAPPINGS_DIR / queries
        if not self.query_dir.is_dir():
            raise ConfigError(f"sql source: query folder {self.query_dir} does not exist (option 'queries')")
        self.wm_col = watermark_column
        self.id_col = id_column
        self.batch_size = int(conn.extra.get("batch_size", batch_size))
        self.tz = ZoneInfo(db_timezone)
        self.json_columns = set(json_columns or [])
        self.attempts = attempts
        self.sleep = sleep
        self.url = engine_url(conn)
        self.what = f"SQL {self.url.render_as_string(hide_password=True)}"
        try:
            self.engine = engine or create_engine(self.url, pool_pre_ping=True, future=True)
        except (NoSuchModuleError, ImportError) as exc:
            raise ConfigError(f"{self.what}: no driver for this dialect ({exc}); install it or set extra 'driver'") from exc
        self._naive_params = self.engine.dialect.name not in ("postgresql", "mssql", "oracle")

    def close(self) -> None:
        self.engine.dispose()

    def spec(self, stream: str) -> StreamSpec:
        """The declared stream with this source's keyset: ``id_column`` is its primary key,
        ``watermark_column`` its cursor (the query files select both)."""
        return replace(super().spec(stream), primary_key=(self.id_col,), cursor_field=self.wm_col)

    # -- helpers --------------------------------------------------------------------------
    def query_file(self, stream: str) -> Path:
        path = self.query_dir / f"{stream}.sql"
        if not path.is_file():
            raise ConfigError(f"sql source: no query file for stream {stream!r}: {path}")
        return path

    def child_files(self, stream: str) -> dict[str, Path]:
        out = {}
        for path in sorted(self.query_dir.glob(f"{stream}.*.sql")):
            m = CHILD_RE.match(path.name)
            if m and m["stream"] == stream:
                out[m["list"]] = path
        return out

    def _param(self, value: dt.datetime) -> dt.datetime:
        """A window bound as the database compares it: aware for zone-aware servers, else naive local."""
        value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if self._naive_params:
            return value.astimezone(self.tz).replace(tzinfo=None)
        return value

    def _aware(self, value: Any) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        if not isinstance(value, dt.datetime):
            raise ConfigError(f"{self.what}: the watermark column {self.wm_col!r} holds {value!r}, not a timestamp")
        stamp: dt.datetime = value if value.tzinfo is not None else value.replace(tzinfo=self.tz)
        return stamp.astimezone(dt.UTC)

    def _run(self, path: Path, stmt: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
        what = f"{self.what} {path.name}"

        def once() -> list[dict[str, Any]]:
            try:
                with self.engine.connect() as c:
                    return [dict(r._mapping) for r in c.execute(stmt, params)]
            except OperationalError as exc:
                msg = str(exc.orig) if exc.orig is not None else str(exc)
                if AUTH_PATTERNS.search(msg):
                    raise AuthError(f"{what}: credentials refused: {msg.strip()[:300]}") from exc
                if exc.connection_invalidated or _is_connection_error(msg):
                    raise RetriableError(f"{what}: {msg.strip()[:300]}") from exc
                raise ConfigError(f"{what}: query failed: {msg.strip()[:500]}") from exc
            except (ProgrammingError, DBAPIError) as exc:
                msg = str(exc.orig) if getattr(exc, "orig", None) is not None else str(exc)
                if getattr(exc, "connection_invalidated", False):
                    raise RetriableError(f"{what}: {msg.strip()[:300]}") from exc
                raise ConfigError(f"{what}: query failed (fix the query file): {msg.strip()[:500]}") from exc
            except SQLAlchemyError as exc:
                raise ConfigError(f"{what}: {exc}") from exc

        return with_retries(once, what=what, attempts=self.attempts, sleep=self.sleep)  # type: ignore[no-any-return]

    def _record(self, row: dict[str, Any]) -> dict[str, Any]:
        for col in self.json_columns:
            if col in row:
                row[col] = _json_value(row[col])
        return _floats_to_decimal(_nest(row))  # type: ignore[no-any-return]

    # -- streams --------------------------------------------------------------------------
    def pull(self, stream: str, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        if stream not in self.streams:
            yield from super().pull(stream, since, until)
            return
        yield from self.cursor_batches(stream, self._pages(stream, since, until))

    def _pages(self, stream: str, since: dt.datetime | None, until: dt.datetime) -> Iterator[list[dict[str, Any]]]:
        path = self.query_file(stream)
        sql = path.read_text(encoding="utf-8").strip().rstrip(";")
        children = {name: (p, p.read_text(encoding="utf-8").strip().rstrip(";")) for name, p in self.child_files(stream).items()}
        inner = text(sql).columns(column(self.wm_col), column(self.id_col)).subquery("q")
        wm, rid = inner.c[self.wm_col], inner.c[self.id_col]
        base: Any = select(literal_column("q.*")).select_from(inner).order_by(wm, rid).limit(self.batch_size)
        keyset = base.where(or_(wm > bindparam("k_wm"), and_(wm == bindparam("k_wm"), rid > bindparam("k_id"))))
        params: dict[str, Any] = {"since": self._param(since or EPOCH), "until": self._param(until)}
        last: tuple[Any, Any] | None = None
        while True:
            if last is None:
                rows = self._run(path, base, params)
            else:
                rows = self._run(path, keyset, {**params, "k_wm": last[0], "k_id": last[1]})
            if not rows:
                return
            last = (rows[-1][self.wm_col], rows[-1][self.id_col])
            records = [self._record(dict(r)) for r in rows]
            ids = [r[self.id_col] for r in rows]
            for name, (cpath, csql) in children.items():
                stmt = text(csql).bindparams(bindparam("ids", expanding=True))
                grouped: dict[Any, list[dict[str, Any]]] = {}
                for crow in self._run(cpath, stmt, {"ids": ids}):
                    if "parent_id" not in crow:
                        raise ConfigError(f"{self.what} {cpath.name}: the child query must select a 'parent_id' column")
                    parent = crow.pop("parent_id")
                    grouped.setdefault(parent, []).append(self._record(crow))
                for rec, key in zip(records, ids, strict=True):
                    rec[name] = grouped.get(key, [])
            for rec in records:
                rec[self.wm_col] = self._aware(rec.get(self.wm_col))
            yield records
            if len(rows) < self.batch_size:
                return


def _is_connection_error(msg: str) -> bool:
    low = msg.lower()
    return any(s in low for s in ("connection refused", "could not connect", "can't connect", "server closed the connection",
                                  "lost connection", "gone away", "timeout", "timed out", "connection reset",
                                  "terminating connection", "too many connections", "deadlock", "lock wait timeout"))
