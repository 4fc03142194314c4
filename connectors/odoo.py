"""Odoo 16, 17 and 18 over JSON-RPC: posted customer invoices, credit notes and customers.

Protocol (Odoo's External API, https://www.odoo.com/documentation/17.0/developer/reference/external_api.html;
the JSON-RPC transport is ``odoo/http.py``'s ``/jsonrpc`` dispatcher, the same services as
``/xmlrpc/2/common`` and ``/xmlrpc/2/object``):

- ``POST {url}jsonrpc`` with ``{"jsonrpc": "2.0", "method": "call", "params": {"service":
  "common", "method": "authenticate", "args": [db, login, password, {}]}, "id": n}`` answers
  the user id, or ``false`` for refused credentials;
- then ``{"service": "object", "method": "execute_kw", "args": [db, uid, password, model,
  method, args, kwargs]}``; the password may be an API key (Odoo 14+);
- errors come back with HTTP 200 and ``{"error": {"code": 200, "message": "Odoo Server Error",
  "data": {"name": "odoo.exceptions.AccessDenied", "message": ...}}}``.

Read here (field names identical in 16, 17 and 18 unless noted):

- ``account.move`` with ``move_type in (out_invoice, out_refund)`` and ``state = posted``,
  changed in ``(since, until]`` by ``write_date`` (UTC, ``YYYY-MM-DD HH:MM:SS``);
- its product lines, ``account.move.line`` with ``display_type = product`` (16.0 introduced
  this value), their taxes ``account.tax`` and units (``product_uom_id``);
- the partner (``res.partner``: ``vat``, the SIREN/SIRET in ``company_registry`` from 17.0,
  in ``siret`` from ``l10n_fr`` in 16.0, both probed with ``fields_get``; ``credit_limit``
  when the accounting app provides it), its country, its bank accounts (``res.partner.bank``),
  the issuing company (``res.company``) and the invoice's bank account (``partner_bank_id``).

Paging: pages of ``batch_size`` ordered by ``write_date, id``; a page's watermark never
splits records that share a ``write_date`` (:func:`connectors.sql.tie_safe_batches`). Instead of a growing
``offset`` (a record written during the pull would leave the window and shift the later
pages, losing one record), each page asks ``limit`` records after the last one read, by
keyset in the domain: ``write_date > w OR (write_date = w AND id > i)``; ``offset`` stays 0.

JSON numbers are read as :class:`~decimal.Decimal` (Odoo's monetary fields are floats on the
server, rounded to the currency; their JSON text is the exact amount). Odoo sends ``false`` for
any empty field; the mappings turn it into None (``falsy_none``, ``ref_name``).

The VAT breakdown is computed here from the product lines, grouped by their set of taxes:
base = sum of ``price_subtotal``, tax = sum of ``price_total - price_subtotal``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, ClassVar

import requests

from connectors.base import BaseConnector, Batch, ConnectionInfo, StreamSpec, add_amounts, source_amount
from schemas.errors import AuthError, ConfigError, FatalError, RetriableError
from transport.http import Sleep, classify_response, with_retries

log = logging.getLogger(__name__)

AUTH_ERRORS = ("AccessDenied", "AccessError", "SessionExpiredException")
RETRIABLE_ERRORS = ("SerializationFailure", "TransactionRollbackError", "concurrent update", "LockNotAvailable",
                    "OperationalError")

MOVE_FIELDS = ["name", "move_type", "state", "invoice_date", "invoice_date_due", "partner_id", "commercial_partner_id",
               "currency_id", "company_id", "amount_untaxed", "amount_tax", "amount_total", "invoice_payment_term_id",
               "ref", "payment_reference", "invoice_origin", "partner_bank_id", "write_date", "create_date"]
LINE_FIELDS = ["move_id", "sequence", "display_type", "name", "product_id", "quantity", "product_uom_id", "price_unit",
               "discount", "price_subtotal", "price_total", "tax_ids"]
TAX_FIELDS = ["name", "amount", "amount_type", "type_tax_use"]
PARTNER_FIELDS = ["name", "ref", "vat", "street", "street2", "zip", "city", "country_id", "email", "phone", "lang",
                  "is_company", "bank_ids", "type", "child_ids", "write_date", "create_date"]
# sale_warn / invoice_warn ('no-message', 'warning', 'block') and their messages: the sale and
# account modules' "Warning on the Sales Order" / "Warning on the Invoice" (docs/customer-master.md)
PARTNER_OPTIONAL = ["company_registry", "siret", "credit_limit", "property_payment_term_id", "sale_warn", "sale_warn_msg",
                    "invoice_warn", "invoice_warn_msg"]
BLOCKING_WARNINGS = (("sale_warn", "sale_warn_msg", "sales orders blocked"), ("invoice_warn", "invoice_warn_msg", "invoicing blocked"))
BANK_FIELDS = ["acc_number", "sanitized_acc_number", "bank_bic", "partner_id"]
COMPANY_FIELDS = ["name", "vat", "company_registry", "street", "street2", "zip", "city", "country_id", "email", "phone",
                  "currency_id", "partner_id"]

_FMT = "%Y-%m-%d %H:%M:%S"


def odoo_datetime(value: dt.datetime) -> str:
    """A UTC datetime as Odoo writes it in domains.

    >>> odoo_datetime(dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    '2026-01-05 08:30:00'
    """
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime(_FMT)


def parse_odoo_datetime(value: Any) -> dt.datetime | None:
    """>>> parse_odoo_datetime("2026-01-05 08:30:00")
    datetime.datetime(2026, 1, 5, 8, 30, tzinfo=datetime.timezone.utc)
    """
    if not value:
        return None
    return dt.datetime.strptime(str(value)[:19], _FMT).replace(tzinfo=dt.UTC)


def _ref_id(value: Any) -> int | None:
    """The id of a many2one value ``[id, name]`` (``false`` when empty)."""
    if isinstance(value, (list, tuple)) and value:
        return int(value[0])
    return None


class OdooClient:
    """A small JSON-RPC client of Odoo's External API (one database, one user)."""

    def __init__(self, conn: ConnectionInfo, *, timeout: float = 60.0, attempts: int = 4,
                 session: requests.Session | None = None, sleep: Sleep = time.sleep) -> None:
        if not conn.schema:
            raise ConfigError("Odoo connection has no database name (the URI path / connection schema)")
        if not conn.login or conn.password is None:
            raise ConfigError("Odoo connection has no login or password (API key)")
        self.conn = conn
        self.db = conn.schema
        self.url = f"{conn.base_url}{conn.extra.get('path_prefix', '')}jsonrpc"
        self.timeout = timeout
        self.attempts = attempts
        self.sleep = sleep
        self.http = session or requests.Session()
        self._ids = itertools.count(1)
        self.uid: int | None = None
        self.version: dict[str, Any] = {}
        self._login()

    def rpc(self, service: str, method: str, args: list[Any]) -> Any:
        payload: dict[str, Any] = {"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method, "args": args},
                   "id": next(self._ids)}
        label = method if service != "object" else f"{args[3]}.{args[4]}"
        what = f"Odoo {self.conn.host}:{self.conn.port or ''}/{self.db} {label}"

        def once() -> Any:
            resp = self.http.post(self.url, json=payload, timeout=self.timeout)
            classify_response(resp, what)
            try:
                body = resp.json(parse_float=Decimal)
            except ValueError as exc:
                raise RetriableError(f"{what}: not a JSON-RPC answer (HTTP {resp.status_code}): {resp.text[:200]!r}") from exc
            err = body.get("error")
            if err:
                data = err.get("data") or {}
                name = str(data.get("name") or "")
                message = str(data.get("message") or err.get("message") or "")
                if any(a in name for a in AUTH_ERRORS):
                    raise AuthError(f"{what}: {name}: {message[:300]}; check the connection's login and password/API key")
                if any(r in name or r in message for r in RETRIABLE_ERRORS):
                    raise RetriableError(f"{what}: {name}: {message[:300]}")
                raise FatalError(f"{what}: server error {name or err.get('message')}: {message[:500]}")
            return body.get("result")

        return with_retries(once, what=what, attempts=self.attempts, sleep=self.sleep)

    def _login(self) -> None:
        self.version = self.rpc("common", "version", []) or {}
        uid = self.rpc("common", "authenticate", [self.db, self.conn.login, self.conn.password, {}])
        if not uid:
            raise AuthError(f"Odoo {self.db}: login refused for {self.conn.login!r}; check the login and password/API key")
        self.uid = int(uid)

    @property
    def major(self) -> int | None:
        info = self.version.get("server_version_info") or []
        return int(info[0]) if info and str(info[0]).isdigit() else None

    def execute_kw(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any] | None = None) -> Any:
        return self.rpc("object", "execute_kw", [self.db, self.uid, self.conn.password, model, method, args, kwargs or {}])

    def search_read(self, model: str, domain: list[Any], fields: list[str], *, offset: int = 0, limit: int | None = None,
                    order: str | None = None) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"fields": fields, "offset": offset}
        if limit is not None:
            kwargs["limit"] = limit
        if order:
            kwargs["order"] = order
        return self.execute_kw(model, "search_read", [domain], kwargs)  # type: ignore[no-any-return]

    def read(self, model: str, ids: Iterable[int], fields: list[str]) -> dict[int, dict[str, Any]]:
        ids = sorted({i for i in ids if i})
        if not ids:
            return {}
        return {r["id"]: r for r in self.execute_kw(model, "read", [ids], {"fields": fields})}

    def fields_get(self, model: str, fields: list[str]) -> dict[str, Any]:
        return self.execute_kw(model, "fields_get", [fields], {"attributes": ["type"]})  # type: ignore[no-any-return]

    def close(self) -> None:
        self.http.close()


class OdooConnector(BaseConnector):
    """Posted customer invoices / credit notes and customers of one Odoo database."""

    kind: ClassVar[str] = "odoo"
    stream_specs: ClassVar[tuple[StreamSpec, ...]] = (
        StreamSpec("invoices", ("id",), "updated_at", changed_on="account.move write_date"),
        StreamSpec("customers", ("id",), "updated_at", changed_on="res.partner write_date"),
    )

    def __init__(self, conn: ConnectionInfo, *, batch_size: int = 200, timeout: float = 60.0, attempts: int = 4,
                 customer_domain: list[Any] | None = None, sleep: Sleep = time.sleep) -> None:
        self.client = OdooClient(conn, timeout=timeout, attempts=attempts, sleep=sleep)
        self.batch_size = int(conn.extra.get("batch_size", batch_size))
        self.customer_domain = customer_domain if customer_domain is not None else [["customer_rank", ">", 0]]
        self._cache: dict[tuple[str, int], dict[str, Any]] = {}
        self._optional: dict[str, list[str]] = {}

    def close(self) -> None:
        self.client.close()

    # -- helpers --------------------------------------------------------------------------
    def _fields(self, model: str, base: list[str], optional: list[str]) -> list[str]:
        if model not in self._optional:
            known = self.client.fields_get(model, optional)
            self._optional[model] = [f for f in optional if f in known]
        return base + self._optional[model]

    def _read_cached(self, model: str, ids: Iterable[int | None], fields: list[str]) -> dict[int, dict[str, Any]]:
        wanted = {i for i in ids if i}
        missing = [i for i in wanted if (model, i) not in self._cache]
        for rid, rec in self.client.read(model, missing, fields).items():
            self._cache[(model, rid)] = rec
        return {i: self._cache[(model, i)] for i in wanted if (model, i) in self._cache}

    def _countries(self, recs: Iterable[dict[str, Any]]) -> dict[int, str]:
        countries = self._read_cached("res.country", [_ref_id(r.get("country_id")) for r in recs], ["code"])
        return {cid: c["code"] for cid, c in countries.items()}

    def _partners(self, ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
        partners = self._read_cached("res.partner", ids, self._fields("res.partner", PARTNER_FIELDS, PARTNER_OPTIONAL))
        banks = self._read_cached("res.partner.bank", [b for p in partners.values() for b in p.get("bank_ids") or []], BANK_FIELDS)
        codes = self._countries(partners.values())
        out = {}
        for pid, p in partners.items():
            out[pid] = {
                **p,
                "country_code": codes.get(_ref_id(p.get("country_id")) or 0),
                # the French registration number: company_registry (17.0+) or l10n_fr's siret (16.0)
                "registry": p.get("company_registry") or p.get("siret") or None,
                "banks": [banks[b] for b in p.get("bank_ids") or [] if b in banks],
            }
        self._customer_master(out)
        return out

    def _customer_master(self, partners: dict[int, dict[str, Any]]) -> None:
        """Add ``dunning_contacts`` and ``holds`` to each partner record, in place.

        Dunning contacts: the child contacts of type ``invoice`` (the address Odoo sends invoices
        to, ``address_get(['invoice'])``), else the partner itself, as ``address_get`` falls back.
        Holds: the "Blocking Message" warnings (``sale_warn`` / ``invoice_warn`` = ``block``) with
        their message; None when the database has neither field (no sale nor account module)."""
        fields = self._fields("res.partner", PARTNER_FIELDS, PARTNER_OPTIONAL)
        children = self._read_cached("res.partner", [c for p in partners.values() for c in p.get("child_ids") or []], fields)
        for p in partners.values():
            invoice = [children[c] for c in p.get("child_ids") or [] if c in children and children[c].get("type") == "invoice"]
            p["dunning_contacts"] = [{"name": c.get("name"), "email": c.get("email"), "phone": c.get("phone")} for c in invoice] \
                or [{"name": None, "email": p.get("email"), "phone": p.get("phone")}]
            known = [w for w in BLOCKING_WARNINGS if w[0] in fields]
            p["holds"] = None if not known else [
                f"{label}: {p.get(msg) or ''}".rstrip(": ") for flag, msg, label in known if p.get(flag) == "block"]

    def _window(self, since: dt.datetime | None, until: dt.datetime) -> list[Any]:
        domain: list[Any] = [["write_date", "<=", odoo_datetime(until)]]
        if since is not None:
            domain.append(["write_date", ">", odoo_datetime(since)])
        return domain

    def _pages(self, model: str, domain: list[Any], fields: list[str]) -> Iterator[list[dict[str, Any]]]:
        last: tuple[str, int] | None = None
        while True:
            keyset = [] if last is None else ["|", ["write_date", ">", last[0]], "&", ["write_date", "=", last[0]], ["id", ">", last[1]]]
            rows = self.client.search_read(model, domain + keyset, fields, offset=0, limit=self.batch_size, order="write_date asc, id asc")
            if not rows:
                return
            yield rows
            if len(rows) < self.batch_size:
                return
            last = (rows[-1]["write_date"], rows[-1]["id"])

    # -- streams --------------------------------------------------------------------------
    def pull(self, stream: str, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        if stream == "invoices":
            domain = [["move_type", "in", ["out_invoice", "out_refund"]], ["state", "=", "posted"], *self._window(since, until)]
            pages = (self._complete_moves(rows) for rows in self._pages("account.move", domain, MOVE_FIELDS))
            yield from self.cursor_batches(stream, pages)
        elif stream == "customers":
            domain = [*self.customer_domain, *self._window(since, until)]
            yield from self.cursor_batches(stream, self._customer_pages(domain))
        else:
            yield from super().pull(stream, since, until)

    def _customer_pages(self, domain: list[Any]) -> Iterator[list[dict[str, Any]]]:
        for rows in self._pages("res.partner", domain, ["write_date"]):
            partners = self._partners(r["id"] for r in rows)
            records = []
            for r in rows:
                rec = dict(partners[r["id"]])
                rec["updated_at"] = parse_odoo_datetime(rec.get("write_date") or rec.get("create_date"))
                records.append(rec)
            yield records

    def _complete_moves(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        c = self.client
        ids = [r["id"] for r in rows]
        lines = c.search_read("account.move.line", [["move_id", "in", ids], ["display_type", "=", "product"]], LINE_FIELDS,
                              order="move_id asc, sequence asc, id asc")
        taxes = self._read_cached("account.tax", {t for ln in lines for t in ln.get("tax_ids") or []}, TAX_FIELDS)
        partners = self._partners([_ref_id(r.get("commercial_partner_id")) or _ref_id(r.get("partner_id")) for r in rows])
        companies = self._read_cached("res.company", [_ref_id(r.get("company_id")) for r in rows], COMPANY_FIELDS)
        company_codes = self._countries(companies.values())
        banks = self._read_cached("res.partner.bank", [_ref_id(r.get("partner_bank_id")) for r in rows], BANK_FIELDS)
        by_move: dict[int, list[dict[str, Any]]] = {}
        for ln in lines:
            line_taxes = [taxes[t] for t in ln.get("tax_ids") or [] if t in taxes]
            by_move.setdefault(_ref_id(ln["move_id"]) or 0, []).append({**ln, "taxes": line_taxes, "tax": line_taxes[0] if line_taxes else None})
        out = []
        for r in rows:
            move_lines = by_move.get(r["id"], [])
            breakdown: dict[tuple[int, ...], dict[str, Any]] = {}
            for ln in move_lines:
                key = tuple(sorted(ln.get("tax_ids") or []))
                group = breakdown.setdefault(key, {"tax": ln["tax"], "taxes": ln["taxes"], "base": Decimal(0), "amount": Decimal(0)})
                # checked sums: an absurd line amount makes the group's text, refused with its record by the mapping
                subtotal, total = source_amount(ln["price_subtotal"]), source_amount(ln["price_total"])
                group["base"] = add_amounts(group["base"], subtotal)
                group["amount"] = add_amounts(group["amount"], total, subtotal if isinstance(subtotal, str) else -subtotal)
            company = companies.get(_ref_id(r.get("company_id")) or 0, {})
            company = {**company, "country_code": company_codes.get(_ref_id(company.get("country_id")) or 0),
                       "registry": company.get("company_registry") or None}
            out.append({
                **r,
                "lines": move_lines,
                "vat_breakdown": list(breakdown.values()),
                "partner": partners.get(_ref_id(r.get("commercial_partner_id")) or _ref_id(r.get("partner_id")) or 0),
                "company": company,
                "partner_bank": banks.get(_ref_id(r.get("partner_bank_id")) or 0),
                "updated_at": parse_odoo_datetime(r.get("write_date") or r.get("create_date")),
            })
        return out
