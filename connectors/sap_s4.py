"""SAP S/4HANA billing documents over OData V2 (``API_BILLING_DOCUMENT_SRV``).

Contract (SAP Business Accelerator Hub, "Billing Document (A2X)", API_BILLING_DOCUMENT_SRV,
https://api.sap.com/api/API_BILLING_DOCUMENT_SRV/overview; OData V2 JSON format,
https://www.odata.org/documentation/odata-version-2-0/json-format/):

- ``GET {host}/sap/opu/odata/sap/API_BILLING_DOCUMENT_SRV/A_BillingDocument`` with
  ``$filter=LastChangeDateTime gt datetimeoffset'…' and LastChangeDateTime le datetimeoffset'…'``
  (``LastChangeDateTime`` is the header's ``Edm.DateTimeOffset`` UTC change stamp),
  ``$orderby=LastChangeDateTime,BillingDocument``, ``$expand=to_Item,to_Partner,
  to_Item/to_PricingElement``, ``$top``/``$skip``, ``$format=json``;
- the answer is ``{"d": {"results": [...], "__next": "…$skiptoken=…"}}``: when the server
  caps the page it gives ``__next``, whose path and query are followed on the configured
  host; otherwise ``$skip`` grows by
  ``$top`` until a short page;
- ``Edm.Decimal`` travels as a string (``"2500.000"``: exact, read as Decimal by the
  mapping), ``Edm.DateTime`` as ``/Date(ms)/``, ``Edm.DateTimeOffset`` as ``/Date(ms+0000)/``;
- basic authentication of a communication user; ``sap-client`` from ``extra.sap_client``;
- writes (later: payment status) need a CSRF token: ``GET`` the service root with
  ``x-csrf-token: Fetch``, then send the token and the session cookies back
  (:meth:`SapS4Client.fetch_csrf_token`).

The bill-to party's name, address and tax numbers are not in the billing document:
they are read from ``API_BUSINESS_PARTNER`` (``A_BusinessPartner`` with
``to_BusinessPartnerAddress`` and ``to_BusinessPartnerTax``), once per page for all its
customers. The issuing company's data comes from the source option ``companies`` keyed by
company code (``{"1010": {name, siren, vat, street, city, zip, country}}``).

Lines are ``to_Item``; the VAT rate and tax code of a line come from its tax pricing element
(condition types ``MWST``/``TTX1`` by default, option ``tax_conditions``); the VAT breakdown is
the items grouped by tax code (base = sum of ``NetAmount``, tax = sum of ``TaxAmount``).
Only the ``invoices`` stream is offered (customers: ``API_BUSINESS_PARTNER``, not yet).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

import requests

from connectors.base import BaseConnector, Batch, ConnectionInfo, StreamSpec, add_amounts, source_amount
from schemas.errors import ConfigError, FatalError, RetriableError
from transport.http import Sleep, classify_response, with_retries

log = logging.getLogger(__name__)

BILLING_SERVICE = "sap/opu/odata/sap/API_BILLING_DOCUMENT_SRV"
PARTNER_SERVICE = "sap/opu/odata/sap/API_BUSINESS_PARTNER"
_DATE_RE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def odata_literal(value: dt.datetime) -> str:
    """A ``datetimeoffset`` literal for ``$filter`` (UTC, seconds precision).

    >>> odata_literal(dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC))
    "datetimeoffset'2026-01-05T09:30:00Z'"
    """
    value = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return f"datetimeoffset'{value.strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def parse_odata_datetime(value: Any) -> dt.datetime | None:
    """``/Date(1767225600000+0000)/`` (or an ISO string) as an aware UTC datetime.

    >>> parse_odata_datetime("/Date(1767225600000+0000)/")
    datetime.datetime(2026, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if value in (None, ""):
        return None
    m = _DATE_RE.fullmatch(str(value))
    if m:
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=int(m.group(1)))
    d = dt.datetime.fromisoformat(str(value))
    return d if d.tzinfo else d.replace(tzinfo=dt.UTC)


def _unwrap(entity: Any) -> Any:
    """OData V2 JSON to plain dicts: ``{"results": [...]}`` becomes the list, ``__metadata`` goes."""
    if isinstance(entity, dict):
        if set(entity) == {"results"}:
            return [_unwrap(e) for e in entity["results"]]
        if set(entity) == {"__deferred"}:
            return None
        return {k: _unwrap(v) for k, v in entity.items() if k != "__metadata"}
    if isinstance(entity, list):
        return [_unwrap(e) for e in entity]
    return entity


class SapS4Client:
    """OData V2 reads (and the CSRF handshake) against one S/4HANA system."""

    def __init__(self, conn: ConnectionInfo, *, timeout: float = 60.0, attempts: int = 4,
                 session: requests.Session | None = None, sleep: Sleep = time.sleep) -> None:
        if not conn.login or conn.password is None:
            raise ConfigError("SAP S/4HANA connection has no login or password (communication user)")
        self.conn = conn
        self.base = conn.base_url + (f"{conn.schema.strip('/')}/" if conn.schema else "")
        self.timeout = timeout
        self.attempts = attempts
        self.sleep = sleep
        self.http = session or requests.Session()
        self.http.auth = (conn.login, conn.password)
        self.http.headers.update({"Accept": "application/json"})
        self.params: dict[str, str] = {"$format": "json"}
        if conn.extra.get("sap_client"):
            self.params["sap-client"] = str(conn.extra["sap_client"])
        self.csrf_token: str | None = None

    def get(self, url: str, params: dict[str, Any] | None = None, *, headers: dict[str, str] | None = None) -> requests.Response:
        what = f"SAP {self.conn.host} GET {url.split('?')[0].rsplit('/', 2)[-2:]}"

        def once() -> requests.Response:
            resp = self.http.get(url, params=params, headers=headers, timeout=self.timeout)
            classify_response(resp, what)
            return resp

        return with_retries(once, what=what, attempts=self.attempts, sleep=self.sleep)  # type: ignore[no-any-return]

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = self.get(url, params)
        try:
            body = resp.json()
        except ValueError as exc:
            raise RetriableError(f"SAP {self.conn.host}: not an OData JSON answer: {resp.text[:200]!r}") from exc
        if "error" in body:
            raise FatalError(f"SAP {self.conn.host}: OData error: {body['error']}")
        return body.get("d") or {}

    def entities(self, service: str, entity_set: str, params: dict[str, Any], *, top: int) -> Iterator[list[dict[str, Any]]]:
        """Pages of ``entity_set``: ``__next`` when the server gives it, else ``$top``/``$skip``."""
        url = urljoin(self.base, f"{service}/{entity_set}")
        skip = got = 0  # got: rows received for the current $top request (across its __next pages)
        query: dict[str, Any] | None = {**self.params, **params, "$top": top, "$skip": skip}
        while True:
            d = self.get_json(url, query)
            rows = [_unwrap(r) for r in d.get("results", [])]
            got += len(rows)
            if rows:
                yield rows
            if d.get("__next"):
                # follow the server's link, but on the configured host: behind a reverse proxy
                # SAP often writes its internal host name into __next (and credentials go with it)
                nxt = urlsplit(d["__next"])
                url, query = urljoin(self.base, nxt.path.lstrip("/")) + (f"?{nxt.query}" if nxt.query else ""), None
                continue
            if got < top:
                return
            skip, got = skip + top, 0
            url = urljoin(self.base, f"{service}/{entity_set}")
            query = {**self.params, **params, "$top": top, "$skip": skip}

    def fetch_csrf_token(self, service: str = BILLING_SERVICE) -> str:
        """Fetch the CSRF token that OData writes need (kept with the session's cookies)."""
        resp = self.get(urljoin(self.base, f"{service}/"), self.params, headers={"x-csrf-token": "Fetch"})
        token = resp.headers.get("x-csrf-token")
        if not token or token.lower() == "required":
            raise FatalError(f"SAP {self.conn.host}: no CSRF token returned by {service}")
        self.csrf_token = token
        return token

    def close(self) -> None:
        self.http.close()


class SapS4Connector(BaseConnector):
    """Billing documents (invoices, credit and debit memos) of one S/4HANA system."""

    kind: ClassVar[str] = "sap_s4"
    stream_specs: ClassVar[tuple[StreamSpec, ...]] = (
        StreamSpec("invoices", ("BillingDocument",), "updated_at", changed_on="A_BillingDocument.LastChangeDateTime"),
    )

    def __init__(self, conn: ConnectionInfo, *, batch_size: int = 100, billing_types: Iterable[str] = ("F2", "G2", "L2"),
                 companies: dict[str, dict[str, Any]] | None = None, tax_conditions: Iterable[str] = ("MWST", "TTX1"),
                 bill_to_functions: Iterable[str] = ("RE", "AG"), timeout: float = 60.0, attempts: int = 4,
                 sleep: Sleep = time.sleep) -> None:
        self.client = SapS4Client(conn, timeout=timeout, attempts=attempts, sleep=sleep)
        self.batch_size = int(conn.extra.get("batch_size", batch_size))
        self.billing_types = list(billing_types)
        self.companies = {str(k): v for k, v in (companies or {}).items()}
        self.tax_conditions = set(tax_conditions)
        self.bill_to_functions = list(bill_to_functions)
        self._partners: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.client.close()

    def _filter(self, since: dt.datetime | None, until: dt.datetime) -> str:
        parts = [f"LastChangeDateTime le {odata_literal(until)}"]
        if since is not None:
            parts.insert(0, f"LastChangeDateTime gt {odata_literal(since)}")
        if self.billing_types:
            parts.append("(" + " or ".join(f"BillingDocumentType eq '{t}'" for t in self.billing_types) + ")")
        parts.append("BillingDocumentIsCancelled eq false")
        return " and ".join(parts)

    def _business_partners(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        missing = sorted({i for i in ids if i and i not in self._partners})
        for chunk in (missing[i:i + 20] for i in range(0, len(missing), 20)):
            params = {"$filter": " or ".join(f"BusinessPartner eq '{bp}'" for bp in chunk),
                      "$expand": "to_BusinessPartnerAddress,to_BusinessPartnerTax"}
            for rows in self.client.entities(PARTNER_SERVICE, "A_BusinessPartner", params, top=len(chunk)):
                for bp in rows:
                    addresses = bp.get("to_BusinessPartnerAddress") or []
                    taxes = {t["BPTaxType"]: t["BPTaxNumber"] for t in bp.get("to_BusinessPartnerTax") or []}
                    self._partners[bp["BusinessPartner"]] = {**bp, "address": addresses[0] if addresses else None, "tax_numbers": taxes}
        return {i: self._partners[i] for i in ids if i in self._partners}

    def pull(self, stream: str, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        if stream != "invoices":
            yield from super().pull(stream, since, until)
            return
        params = {"$filter": self._filter(since, until), "$orderby": "LastChangeDateTime asc,BillingDocument asc",
                  "$expand": "to_Item,to_Partner,to_Item/to_PricingElement", "$inlinecount": "allpages"}
        pages = (self._complete(rows) for rows in self.client.entities(BILLING_SERVICE, "A_BillingDocument", params, top=self.batch_size))
        yield from self.cursor_batches(stream, pages)

    def _bill_to(self, doc: dict[str, Any]) -> str | None:
        partners = {p["PartnerFunction"]: p.get("Customer") for p in doc.get("to_Partner") or []}
        for function in self.bill_to_functions:
            if partners.get(function):
                return str(partners[function])
        return doc.get("SoldToParty") or None

    def _complete(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        bill_to = {r["BillingDocument"]: self._bill_to(r) for r in rows}
        partners = self._business_partners([b for b in bill_to.values() if b])
        out = []
        for r in rows:
            items = []
            breakdown: dict[str, dict[str, Any]] = {}
            for item in r.get("to_Item") or []:
                tax = next((p for p in item.get("to_PricingElement") or [] if p.get("ConditionType") in self.tax_conditions), None)
                item = {**item, "tax": tax}
                items.append(item)
                code = (tax or {}).get("TaxCode") or ""
                group = breakdown.setdefault(code, {"TaxCode": code or None, "rate": (tax or {}).get("ConditionRateValue"),
                                                    "base": Decimal(0), "amount": Decimal(0)})
                # checked sums: an absurd item amount makes the group's text, refused with its record by the mapping
                group["base"] = add_amounts(group["base"], source_amount(item.get("NetAmount") or "0"))
                group["amount"] = add_amounts(group["amount"], source_amount(item.get("TaxAmount") or "0"))
            customer = bill_to[r["BillingDocument"]]
            out.append({
                **{k: v for k, v in r.items() if k not in ("to_Item", "to_Partner")},
                "items": items,
                "partners": r.get("to_Partner") or [],
                "vat_breakdown": [{**g, "base": str(g["base"]), "amount": str(g["amount"])} for g in breakdown.values()],
                "bill_to": {"id": customer, **partners.get(customer or "", {})},
                "company": self.companies.get(str(r.get("CompanyCode")), {}),
                "updated_at": parse_odata_datetime(r.get("LastChangeDateTime")),
            })
        return out
