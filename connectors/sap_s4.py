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

Two more streams (docs/customer-master.md, docs/receivables.md):

- ``customers``: the customer master from ``API_BUSINESS_PARTNER`` (*Business Partner (A2X)*):
  ``A_BusinessPartner`` with ``to_BusinessPartnerAddress`` (and its ``to_EmailAddress``,
  ``to_PhoneNumber``), ``to_BusinessPartnerTax``, ``to_BusinessPartnerBank`` and ``to_Customer``
  (``A_Customer``: central order / delivery / billing / posting blocks, deletion flag) with
  ``to_CustomerCompany`` (``A_CustomerCompany``: payment terms, company code posting block, the
  clerk at the customer; ``to_CustomerDunning``: procedure, level, block, clerk) and
  ``to_CustomerSalesArea`` (``A_CustomerSalesArea``: order / delivery / billing blocks per sales
  area). Changed since: ``A_BusinessPartner.LastChangeDate`` + ``LastChangeTime``
  (``CreationDate`` + ``CreationTime`` when never changed), the system's local time (option
  ``system_timezone``). SAP documents no change stamp on ``A_Customer`` and its company code or
  sales area data: a change made there alone is read when the business partner changes next, or
  by a full sync (the limitation is in docs/customer-master.md).
- ``settlements``: the open / cleared state of each billing document's receivable, from
  ``API_OPLACCTGDOCITEMCUBE_SRV`` (*Operational Accounting Document Item - Read*, released for
  communication scenario SAP_COM_0303 "Finance - Accounting Analytics Integration"; entity set
  ``A_OperationalAcctgDocItemCube``, one row per journal entry item, i.e. BSEG). The customer
  items (``FinancialAccountType`` ``D``) of a billing document's journal entry are those with
  ``ReferenceDocumentType`` ``VBRK`` and ``OriginalReferenceDocument`` = the billing document
  (the reference key SD writes); partial payments and residual items refer to that journal entry
  with ``InvoiceReference`` / ``InvoiceReferenceFiscalYear``. The open amount is the sum of
  ``AmountInTransactionCurrency`` of those items that are not ``IsCleared``; the settling lines are
  the clearing documents (``ClearingAccountingDocument``) and the documents that posted partial
  payments or residual items, each with what it took off, its kind told from the other items it
  cleared (payment document types, option ``payment_document_types``, default ``DZ``; credit memo
  types, option ``credit_document_types``, default ``DG``, and SD credit memos). The service has
  no change timestamp: a billing document changed on the day its items were entered
  (``AccountingDocumentCreationDate``), cleared (``ClearingCreationDate``) or changed
  (``LastChangeDate``), and its cursor is the end of the latest of those days in the system's
  time zone, so a day is read once it is over. A clearing reset (FBRA) leaves no date on the
  item: it is read with the document's next change, or by a full sync (docs/receivables.md).

Write-back (documented contract, docs/writeback.md): ``credit_hold`` only. SAP Credit Management's
block on the business partner's credit account, through the released OData V2 API *Credit
Management Business Partner* ``API_CRDTMBUSINESSPARTNER`` (https://api.sap.com/api/API_CRDTMBUSINESSPARTNER/overview;
entity set ``CreditManagementAccount``, key ``BusinessPartner`` + ``CreditSegment``, properties
``CreditAccountIsBlocked`` (Edm.Boolean, "Blocked by Credit Management"),
``CreditAccountBlockReason`` (2 characters, a block reason of the system's customizing),
``CreditLimitAmount`` (Edm.Decimal), ``CreditSegmentCurrency``; checked against the service's
metadata as generated into an ABAP service consumption model in a public repository). A blocked
credit account fails SAP's credit check, so new sales documents of the customer are blocked; its
credit limit is left to finance (not written). The call: the business partner of the customer
(``A_BusinessPartner`` with ``$filter=Customer eq '...'``), the account read by key
(``GET CreditManagementAccount(BusinessPartner='..',CreditSegment='..')``: its ETag), a CSRF token
fetched from the service root, then ``PATCH`` of the changed properties with ``If-Match`` (SAP
Gateway answers ``204``; ``404`` with OData's error body for an account that does not exist, ``412``
when it changed since it was read: retried later, ``403`` ``x-csrf-token: Required`` when the token
expired: fetched again once). Source options ``credit_segment`` (default ``0000``, SAP's main
credit segment) and ``credit_block_reason`` (default empty: blocked without a reason code).
``find_credit_hold`` reads the account: the command is applied when its block is the command's.
No released API of S/4HANA takes a free-text note on a business partner or billing document, nor a
customer payment as a simple call (incoming payments are posted by bank statement processing or
the SOAP *Journal Entry - Post* service): notes and payments are not supported.
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

from connectors.base import BaseConnector, Batch, Capabilities, ConnectionInfo, StreamSpec, add_amounts, source_amount
from schemas.errors import AuthError, ConfigError, FatalError, RejectedDocument, RetriableError
from schemas.receivables import WriteBackCommand
from transport.http import Sleep, classify_response, with_retries

log = logging.getLogger(__name__)

BILLING_SERVICE = "sap/opu/odata/sap/API_BILLING_DOCUMENT_SRV"
PARTNER_SERVICE = "sap/opu/odata/sap/API_BUSINESS_PARTNER"
ITEM_SERVICE = "sap/opu/odata/sap/API_OPLACCTGDOCITEMCUBE_SRV"
CREDIT_SERVICE = "sap/opu/odata/sap/API_CRDTMBUSINESSPARTNER"
CREDIT_SET = "CreditManagementAccount"
ITEM_SET = "A_OperationalAcctgDocItemCube"
ITEM_KEY = ("CompanyCode", "FiscalYear", "AccountingDocument", "AccountingDocumentItem")
# what the settlements read of a journal entry item (always with its key: the service is a cube, and
# selecting the key keeps one row per item)
ITEM_FIELDS = (*ITEM_KEY, "AccountingDocumentType", "FinancialAccountType", "Customer", "DebitCreditCode", "PostingDate",
               "AccountingDocumentCreationDate", "LastChangeDate", "ClearingAccountingDocument", "ClearingDocFiscalYear",
               "ClearingDate", "ClearingCreationDate", "IsCleared", "IsReversal", "IsReversed", "ReferenceDocumentType",
               "OriginalReferenceDocument", "InvoiceReference", "InvoiceReferenceFiscalYear", "TransactionCurrency",
               "AmountInTransactionCurrency", "DocumentItemText", "AssignmentReference", "PaymentReference")
SCAN_FIELDS = (*ITEM_KEY, "ReferenceDocumentType", "OriginalReferenceDocument", "InvoiceReference", "InvoiceReferenceFiscalYear",
               "AccountingDocumentCreationDate", "ClearingCreationDate", "LastChangeDate")
CHANGE_DATES = ("AccountingDocumentCreationDate", "ClearingCreationDate", "LastChangeDate")
CUSTOMER_EXPAND = ("to_BusinessPartnerAddress,to_BusinessPartnerAddress/to_EmailAddress,to_BusinessPartnerAddress/to_PhoneNumber,"
                   "to_BusinessPartnerTax,to_BusinessPartnerBank,to_Customer,to_Customer/to_CustomerCompany,"
                   "to_Customer/to_CustomerCompany/to_CustomerDunning,to_Customer/to_CustomerSalesArea")
SCAN_PAGE = 1000  # rows per page of the change scans (a few small fields per row)
OR_CHUNK = 20  # ids per "or" filter (URL length)
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


def odata_date_literal(day: dt.date) -> str:
    """A ``datetime`` literal for a date property (``Edm.DateTime`` holding a date).

    >>> odata_date_literal(dt.date(2026, 2, 5))
    "datetime'2026-02-05T00:00:00'"
    """
    return f"datetime'{day.isoformat()}T00:00:00'"


def _quoted(value: str) -> str:
    """A string literal for ``$filter`` (quotes doubled).

    >>> _quoted("O'Neil")
    "'O''Neil'"
    """
    return "'" + str(value).replace("'", "''") + "'"


_TIME_RE = re.compile(r"PT(\d+)H(\d+)M(\d+)S")


def local_stamp(day: Any, time_of_day: Any, tz: dt.tzinfo) -> dt.datetime | None:
    """An ``Edm.DateTime`` date and an ``Edm.Time`` (``PT16H40M00S``) of the system's local time
    ``tz`` as an aware UTC datetime; None without a date.

    >>> from zoneinfo import ZoneInfo
    >>> local_stamp("/Date(1771027200000)/", "PT16H40M00S", ZoneInfo("Europe/Paris")).isoformat()
    '2026-02-14T15:40:00+00:00'
    """
    d = parse_odata_datetime(day)
    if d is None:
        return None
    m = _TIME_RE.fullmatch(str(time_of_day or ""))
    h, mi, sec = (int(g) for g in m.groups()) if m else (0, 0, 0)
    return dt.datetime(d.year, d.month, d.day, h, mi, sec, tzinfo=tz).astimezone(dt.UTC)


def end_of_day(day: Any, tz: dt.tzinfo) -> dt.datetime | None:
    """The end of a system date (midnight after it, in the system's time zone ``tz``) in UTC: the
    cursor of a change known by its day only, reached once the day is over.

    >>> end_of_day("/Date(1770249600000)/", dt.UTC).isoformat()
    '2026-02-06T00:00:00+00:00'
    """
    d = parse_odata_datetime(day)
    if d is None:
        return None
    nxt = d.date() + dt.timedelta(days=1)
    return dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).astimezone(dt.UTC)


def _timezone(name: Any) -> dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name in (None, "", "UTC"):
        return dt.UTC
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"SAP S/4HANA: system_timezone {name!r} is not an IANA time zone (e.g. Europe/Paris)") from None


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

    def send(self, method: str, url: str, what: str, *, headers: dict[str, str] | None = None, json_body: Any = None,
             attempts: int | None = None, document_id: str = "") -> requests.Response:
        """An OData call of a write-back (``GET`` by key, ``PATCH``): a refusal (400, 404) is a
        :class:`RejectedDocument` with SAP's message; 412 (changed since read) is retriable."""
        def once() -> requests.Response:
            resp = self.http.request(method, url, params=self.params if method == "GET" else
                                     {k: v for k, v in self.params.items() if k != "$format"},
                                     headers=headers, json=json_body, timeout=self.timeout)
            if resp.status_code in (400, 404):
                raise RejectedDocument(f"{what}: SAP refused it (HTTP {resp.status_code}): {_odata_message(resp)}",
                                       document_id=document_id)
            if resp.status_code == 403 and resp.headers.get("x-csrf-token", "").lower() == "required":
                raise CsrfRequired(f"{what}: SAP refused the CSRF token (HTTP 403, x-csrf-token: Required)")
            if resp.status_code == 412:
                raise RetriableError(f"{what}: changed in SAP since it was read (HTTP 412): {_odata_message(resp)}")
            classify_response(resp, what)
            return resp

        return with_retries(once, what=what, attempts=attempts or self.attempts, sleep=self.sleep)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.http.close()


class CsrfRequired(AuthError):
    """SAP Gateway refused a write's CSRF token (expired with its session): fetch a new one."""


def _odata_message(resp: requests.Response) -> str:
    """The message of OData's error body ``{"error": {"code", "message": {"value"}}}`` (else the text)."""
    try:
        err = resp.json().get("error") or {}
        message = err.get("message")
        return f"{err.get('code')}: {message.get('value') if isinstance(message, dict) else message}"
    except (ValueError, AttributeError):
        return resp.text[:300]


class SapS4Connector(BaseConnector):
    """Billing documents (invoices, credit and debit memos) of one S/4HANA system."""

    kind: ClassVar[str] = "sap_s4"
    stream_specs: ClassVar[tuple[StreamSpec, ...]] = (
        StreamSpec("invoices", ("BillingDocument",), "updated_at", changed_on="A_BillingDocument.LastChangeDateTime"),
        StreamSpec("customers", ("Customer",), "updated_at",
                   changed_on="A_BusinessPartner.LastChangeDate + LastChangeTime (CreationDate + CreationTime when never "
                              "changed), system local time"),
        StreamSpec("settlements", ("BillingDocument",), "updated_at",
                   changed_on="the end of the latest day among AccountingDocumentCreationDate, ClearingCreationDate and "
                              "LastChangeDate of the billing document's customer items in A_OperationalAcctgDocItemCube"),
    )
    # the module docstring: the credit account's block (API_CRDTMBUSINESSPARTNER)
    capabilities: ClassVar[Capabilities] = Capabilities(credit_holds=True)

    def __init__(self, conn: ConnectionInfo, *, batch_size: int = 100, billing_types: Iterable[str] = ("F2", "G2", "L2"),
                 companies: dict[str, dict[str, Any]] | None = None, tax_conditions: Iterable[str] = ("MWST", "TTX1"),
                 bill_to_functions: Iterable[str] = ("RE", "AG"), company_code: str | None = None,
                 system_timezone: str | None = None, payment_document_types: Iterable[str] = ("DZ",),
                 credit_document_types: Iterable[str] = ("DG",), timeout: float = 60.0, attempts: int = 4,
                 credit_segment: str = "0000", credit_block_reason: str = "", sleep: Sleep = time.sleep) -> None:
        self.client = SapS4Client(conn, timeout=timeout, attempts=attempts, sleep=sleep)
        self.batch_size = int(conn.extra.get("batch_size", batch_size))
        self.billing_types = list(billing_types)
        self.companies = {str(k): v for k, v in (companies or {}).items()}
        self.tax_conditions = set(tax_conditions)
        self.bill_to_functions = list(bill_to_functions)
        # the company code whose customer data (payment terms, dunning, posting block) is read:
        # the option, else the only one in `companies`, else the first the customer has
        self.company_code = company_code or (next(iter(self.companies)) if len(self.companies) == 1 else None)
        self.tz = _timezone(system_timezone or conn.extra.get("system_timezone"))
        self.payment_types = set(payment_document_types)
        self.credit_types = set(credit_document_types)
        self._partners: dict[str, dict[str, Any]] = {}
        self.credit_segment = str(credit_segment)
        if len(str(credit_block_reason)) > 2:
            raise ConfigError(f"SAP S/4HANA: sources[].options.credit_block_reason {credit_block_reason!r} is longer than "
                              "SAP's 2-character block reason code")
        self.credit_block_reason = str(credit_block_reason)

    def close(self) -> None:
        self.client.close()

    # -- write-back (the module docstring) ---------------------------------------------------
    def _credit_account(self, command: WriteBackCommand) -> tuple[str, dict[str, Any], str]:
        """(the account's URL, the account, its ETag) for the customer a credit-hold command targets."""
        customer = command.target_id
        if not re.fullmatch(r"[0-9A-Za-z]{1,10}", customer):
            raise RejectedDocument(f"credit_hold command: {customer!r} is not an SAP customer number", document_id=customer)
        found = next(self.client.entities(PARTNER_SERVICE, "A_BusinessPartner",
                                          {"$filter": f"Customer eq {_quoted(customer)}", "$select": "BusinessPartner,Customer"},
                                          top=1), [])
        if not found:
            raise RejectedDocument(f"SAP has no business partner for customer {customer}", document_id=customer)
        bp = found[0]["BusinessPartner"]
        url = urljoin(self.client.base, f"{CREDIT_SERVICE}/{CREDIT_SET}(BusinessPartner={_quoted(bp)},"
                                        f"CreditSegment={_quoted(self.credit_segment)})")
        resp = self.client.send("GET", url, f"SAP {self.client.conn.host} GET {CREDIT_SET} {bp}/{self.credit_segment}",
                                document_id=customer)
        account = (resp.json().get("d") or {})
        etag = resp.headers.get("ETag") or (account.get("__metadata") or {}).get("etag") or "*"
        return url, account, etag

    def _block_change(self, command: WriteBackCommand, account: dict[str, Any]) -> dict[str, Any]:
        hold = bool(command.payload.get("hold"))
        want = {"CreditAccountIsBlocked": hold, "CreditAccountBlockReason": self.credit_block_reason if hold else ""}
        return {k: v for k, v in want.items() if account.get(k) != v}

    def push_credit_hold(self, command: WriteBackCommand) -> str:
        """Block (payload ``hold``) or unblock the customer's credit account in SAP Credit Management;
        writing the target state twice changes nothing."""
        url, account, etag = self._credit_account(command)
        change = self._block_change(command, account)
        ref = f"{CREDIT_SET}({account.get('BusinessPartner')},{self.credit_segment})"
        if not change:
            return ref
        what = f"SAP {self.client.conn.host} PATCH {ref}"
        for attempt in (1, 2):
            token = self.client.csrf_token or self.client.fetch_csrf_token(CREDIT_SERVICE)
            try:
                self.client.send("PATCH", url, what, json_body=change, document_id=command.target_id,
                                 headers={"x-csrf-token": token, "If-Match": etag, "Content-Type": "application/json"})
                return ref
            except CsrfRequired:
                if attempt == 2:
                    raise
                self.client.csrf_token = None  # expired: fetch a new one, once
        return ref

    def find_credit_hold(self, command: WriteBackCommand) -> str | None:
        _url, account, _etag = self._credit_account(command)
        return None if self._block_change(command, account) else f"{CREDIT_SET}({account.get('BusinessPartner')},{self.credit_segment})"

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
        if stream == "customers":
            yield from self._pull_customers(since, until)
            return
        if stream == "settlements":
            yield from self._pull_settlements(since, until)
            return
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

    # -- customers ------------------------------------------------------------------------
    def _since_date(self, since: dt.datetime | None) -> dt.date | None:
        return since.astimezone(self.tz).date() if since is not None else None

    def _pull_customers(self, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        """Customers whose business partner changed in ``(since, until]``, oldest first.

        A scan of the business partners that are customers (``Customer ne ''``), changed or
        created on or after the day of ``since`` (a few fields each), gives every candidate its
        change stamp; those in the window are read in pages with their expansions."""
        day = self._since_date(since)
        where = "Customer ne ''"
        if day is not None:
            where += f" and (LastChangeDate ge {odata_date_literal(day)} or CreationDate ge {odata_date_literal(day)})"
        params = {"$filter": where, "$orderby": "BusinessPartner",
                  "$select": "BusinessPartner,Customer,CreationDate,CreationTime,LastChangeDate,LastChangeTime"}
        stamps: dict[str, dt.datetime] = {}
        for rows in self.client.entities(PARTNER_SERVICE, "A_BusinessPartner", params, top=SCAN_PAGE):
            for bp in rows:
                if not isinstance(bp, dict) or not isinstance(bp.get("BusinessPartner"), str) or not bp["BusinessPartner"]:
                    raise FatalError(f"SAP {self.client.conn.host}: A_BusinessPartner answered a row without BusinessPartner")
                stamp = self._partner_stamp(bp)
                if stamp is not None and (since is None or stamp > since) and stamp <= until:
                    stamps[bp["BusinessPartner"]] = stamp
        order = sorted(stamps, key=lambda b: (stamps[b], b))
        pages = (self._customer_records(order[i:i + self.batch_size], stamps) for i in range(0, len(order), self.batch_size))
        yield from self.cursor_batches("customers", pages)

    def _partner_stamp(self, bp: dict[str, Any]) -> dt.datetime | None:
        if bp.get("LastChangeDate"):
            return local_stamp(bp["LastChangeDate"], bp.get("LastChangeTime"), self.tz)
        return local_stamp(bp.get("CreationDate"), bp.get("CreationTime"), self.tz)

    def _customer_records(self, ids: list[str], stamps: dict[str, dt.datetime]) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for chunk in (ids[i:i + OR_CHUNK] for i in range(0, len(ids), OR_CHUNK)):
            params = {"$filter": " or ".join(f"BusinessPartner eq {_quoted(bp)}" for bp in chunk), "$expand": CUSTOMER_EXPAND}
            for rows in self.client.entities(PARTNER_SERVICE, "A_BusinessPartner", params, top=len(chunk)):
                for bp in rows:
                    found[bp["BusinessPartner"]] = bp
        out = []
        for bp_id in ids:
            bp = found.get(bp_id)
            if bp is None or not bp.get("Customer"):
                continue  # gone, or no longer a customer, since the scan
            out.append(self._customer_master(bp, stamps[bp_id]))
        return out

    def _customer_master(self, bp: dict[str, Any], stamp: dt.datetime) -> dict[str, Any]:
        """The business partner with what collections need, read from its customer data."""
        addresses = bp.get("to_BusinessPartnerAddress") or []
        address = addresses[0] if addresses else {}
        customer = bp.get("to_Customer") or {}
        companies = customer.get("to_CustomerCompany") or []
        company = next((c for c in companies if c.get("CompanyCode") == self.company_code), None) if self.company_code else None
        if company is None and not self.company_code and companies:
            company = companies[0]
        company = company or {}
        dunning = next(iter(company.get("to_CustomerDunning") or []), {})  # the first dunning area
        areas = [a for a in customer.get("to_CustomerSalesArea") or [] if not a.get("DeletionIndicator")]

        def default_first(rows: list[dict[str, Any]], flag: str) -> list[dict[str, Any]]:
            return sorted(rows or [], key=lambda r: (not r.get(flag), r.get("OrdinalNumber") or ""))

        emails = [e["EmailAddress"] for e in default_first(address.get("to_EmailAddress") or [], "IsDefaultEmailAddress")
                  if e.get("EmailAddress")]
        phones = [p.get("InternationalPhoneNumber") or p.get("PhoneNumber") for p in
                  default_first(address.get("to_PhoneNumber") or [], "IsDefaultPhoneNumber")
                  if p.get("InternationalPhoneNumber") or p.get("PhoneNumber")]
        # who reminders go to: the clerk at the customer of the company code (KNB1 ZSABE / INTAD /
        # TLFNS), else the standard address's e-mail and phone (where SAP's dunning by e-mail looks)
        contacts = []
        if company.get("AccountingClerkInternetAddress") or company.get("AccountingClerkPhoneNumber"):
            contacts.append({"name": company.get("UserAtCustomer") or None, "email": company.get("AccountingClerkInternetAddress") or None,
                             "phone": company.get("AccountingClerkPhoneNumber") or None})
        elif emails or phones:
            contacts.append({"name": bp.get("BusinessPartnerFullName"), "email": emails[0] if emails else None,
                             "phone": phones[0] if phones else None})
        blocks = []
        if customer.get("PostingIsBlocked"):
            blocks.append("central posting block")
        if customer.get("DeletionIndicator"):
            blocks.append("central deletion flag")
        if bp.get("BusinessPartnerIsBlocked"):
            blocks.append("business partner central block")
        if company.get("PhysicalInventoryBlockInd"):  # KNB1-SPERR, labelled "Co.code post.block" in the metadata
            blocks.append(f"posting block in company code {company.get('CompanyCode')}")
        if company.get("DeletionIndicator"):
            blocks.append(f"deletion flag in company code {company.get('CompanyCode')}")
        holds = []
        for label, field_name in (("order block", "OrderIsBlockedForCustomer"), ("delivery block", "DeliveryIsBlocked"),
                                  ("billing block", "BillingIsBlockedForCustomer")):
            if customer.get(field_name):
                holds.append(f"central {label} {customer[field_name]}")
        for area in areas:
            where = f"{area.get('SalesOrganization')}/{area.get('DistributionChannel')}/{area.get('Division')}"
            for label, field_name in (("order block", "OrderIsBlockedForCustomer"), ("delivery block", "DeliveryIsBlockedForCustomer"),
                                      ("billing block", "BillingIsBlockedForCustomer")):
                if area.get(field_name):
                    holds.append(f"{label} {area[field_name]} in sales area {where}")
        return {
            **{k: v for k, v in bp.items() if not k.startswith("to_")},
            "address": {k: v for k, v in address.items() if not k.startswith("to_")} or None,
            "tax_numbers": {t["BPTaxType"]: t["BPTaxNumber"] for t in bp.get("to_BusinessPartnerTax") or []},
            "ibans": [b["IBAN"] for b in bp.get("to_BusinessPartnerBank") or [] if b.get("IBAN")],
            "emails": emails,
            "phones": phones,
            "customer": {k: v for k, v in customer.items() if not k.startswith("to_")},
            "company": {k: v for k, v in company.items() if not k.startswith("to_")} or None,
            "dunning": dunning or None,
            "sales_areas": areas,
            "currency": next((a.get("Currency") for a in areas if a.get("Currency")), None),
            "dunning_lang": address.get("Language") or bp.get("CorrespondenceLanguage") or bp.get("Language") or None,
            "dunning_contacts": contacts,
            "blocks": blocks,
            "holds": holds,
            "updated_at": stamp,
        }

    # -- settlements ----------------------------------------------------------------------
    def _items(self, where: str, *, fields: tuple[str, ...] = ITEM_FIELDS, top: int = SCAN_PAGE) -> Iterator[dict[str, Any]]:
        params = {"$filter": f"FinancialAccountType eq 'D' and ({where})", "$select": ",".join(fields),
                  "$orderby": ",".join(ITEM_KEY)}
        for rows in self.client.entities(ITEM_SERVICE, ITEM_SET, params, top=top):
            for row in rows:
                if not isinstance(row, dict) or any(not isinstance(row.get(k), str) or not row[k] for k in ITEM_KEY):
                    raise FatalError(f"SAP {self.client.conn.host}: {ITEM_SET} answered an item without its key {ITEM_KEY}")
                yield row

    def _items_where(self, clauses: list[str]) -> Iterator[dict[str, Any]]:
        """Customer items matching any of ``clauses`` (read in chunks of "or")."""
        for i in range(0, len(clauses), OR_CHUNK):
            yield from self._items(" or ".join(clauses[i:i + OR_CHUNK]))

    def _pull_settlements(self, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        """The settlement state of every billing document whose receivable changed in ``(since, until]``.

        A scan of the customer items entered, cleared or changed on or after the day of ``since``
        gives the billing documents concerned (an item referring to an invoice's journal entry
        counts for that invoice) and each one's latest change; those whose cursor (the end of
        that day) is in the window are read in pages, oldest first."""
        day = self._since_date(since)
        where = " or ".join(f"{f} ge {odata_date_literal(day)}" for f in CHANGE_DATES) if day else "CompanyCode ne ''"
        latest: dict[str, dt.datetime] = {}
        referring: dict[tuple[str, str, str], dt.datetime] = {}  # invoice journal entry -> latest change of an item referring to it

        def seen(target: dict[Any, dt.datetime], key: Any, stamp: dt.datetime | None) -> None:
            if stamp is not None and (key not in target or stamp > target[key]):
                target[key] = stamp

        for item in self._items(where, fields=SCAN_FIELDS):
            stamp = max((s for f in CHANGE_DATES if (s := end_of_day(item.get(f), self.tz)) is not None), default=None)
            if item.get("ReferenceDocumentType") == "VBRK" and item.get("OriginalReferenceDocument"):
                seen(latest, item["OriginalReferenceDocument"], stamp)
            if item.get("InvoiceReference"):
                seen(referring, (item["CompanyCode"], item.get("InvoiceReferenceFiscalYear") or "", item["InvoiceReference"]), stamp)
        if referring:  # which billing documents those journal entries are
            clauses = [f"(CompanyCode eq {_quoted(c)} and FiscalYear eq {_quoted(y)} and AccountingDocument eq {_quoted(d)})"
                       for c, y, d in sorted(referring)]
            for item in self._items_where(clauses):
                if item.get("ReferenceDocumentType") == "VBRK" and item.get("OriginalReferenceDocument"):
                    key = (item["CompanyCode"], item["FiscalYear"], item["AccountingDocument"])
                    seen(latest, item["OriginalReferenceDocument"], referring.get(key))
        stamps = {b: s for b, s in latest.items() if (since is None or s > since) and s <= until}
        order = sorted(stamps, key=lambda b: (stamps[b], b))
        pages = (self._settlement_records(order[i:i + self.batch_size], stamps) for i in range(0, len(order), self.batch_size))
        yield from self.cursor_batches("settlements", pages)

    def _settlement_records(self, billing_docs: list[str], stamps: dict[str, dt.datetime]) -> list[dict[str, Any]]:
        own: dict[str, list[dict[str, Any]]] = {}
        for item in self._items_where([f"(ReferenceDocumentType eq 'VBRK' and OriginalReferenceDocument eq {_quoted(b)})"
                                       for b in billing_docs]):
            own.setdefault(item["OriginalReferenceDocument"], []).append(item)
        entries = {(i["CompanyCode"], i["FiscalYear"], i["AccountingDocument"]) for items in own.values() for i in items}
        related: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for item in self._items_where([f"(CompanyCode eq {_quoted(c)} and InvoiceReferenceFiscalYear eq {_quoted(y)} and "
                                       f"InvoiceReference eq {_quoted(d)})" for c, y, d in sorted(entries)]):
            related.setdefault((item["CompanyCode"], item["InvoiceReferenceFiscalYear"], item["InvoiceReference"]), []).append(item)
        clearings = {(i["CompanyCode"], i.get("ClearingDocFiscalYear") or "", i["ClearingAccountingDocument"])
                     for items in [*own.values(), *related.values()] for i in items if i.get("ClearingAccountingDocument")}
        cleared_by: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for item in self._items_where([f"(CompanyCode eq {_quoted(c)} and ClearingDocFiscalYear eq {_quoted(y)} and "
                                       f"ClearingAccountingDocument eq {_quoted(d)})" for c, y, d in sorted(clearings)]):
            cleared_by.setdefault((item["CompanyCode"], item["ClearingDocFiscalYear"], item["ClearingAccountingDocument"]), []).append(item)
        out = []
        for billing in billing_docs:
            items = own.get(billing)
            if not items:
                continue  # its journal entry is gone since the scan (deleted in a test system...)
            mine = [i for e in sorted({(i["CompanyCode"], i["FiscalYear"], i["AccountingDocument"]) for i in items})
                    for i in related.get(e, [])]
            out.append(self._settlement(billing, items, mine, cleared_by, stamps[billing]))
        return out

    def _kind(self, items: list[dict[str, Any]]) -> str:
        """payment / credit_note / other from the items a settling document posted or cleared."""
        types = {i.get("AccountingDocumentType") for i in items}
        if types & self.payment_types:
            return "payment"
        if types & self.credit_types or any(i.get("ReferenceDocumentType") == "VBRK" and i.get("DebitCreditCode") == "H"
                                            for i in items):
            return "credit_note"
        return "other"

    def _settlement(self, billing: str, own: list[dict[str, Any]], related: list[dict[str, Any]],
                    cleared_by: dict[tuple[str, str, str], list[dict[str, Any]]], stamp: dt.datetime) -> dict[str, Any]:
        """One billing document's receivable: its own customer items and those referring to them.

        What settled it, per settling document: each of its items cleared by a clearing document
        counts its amount for that document, and each item referring to it (a partial payment, a
        residual item) counts minus its amount for the document that posted it, so the lines add
        up to the total less the open amount."""
        items = own + related
        mine = {key_of(i) for i in items}
        referring = {key_of(i) for i in related}
        total = add_amounts(*(source_amount(i.get("AmountInTransactionCurrency")) for i in own))
        open_amount = add_amounts(*(source_amount(i.get("AmountInTransactionCurrency")) for i in items if not i.get("IsCleared")))
        lines: dict[str, dict[str, Any]] = {}

        def take(doc: tuple[str, str, str], amount: Decimal | str, day: Any, counter: list[dict[str, Any]]) -> None:
            line_id = "/".join(doc)
            line = lines.setdefault(line_id, {"id": line_id, "amount": Decimal(0), "date": None, "counter": []})
            line["amount"] = add_amounts(line["amount"], amount) if not isinstance(line["amount"], str) else line["amount"]
            line["date"] = max(filter(None, [line["date"], parse_odata_datetime(day)]), default=None)
            line["counter"] += counter

        for item in items:
            amount = source_amount(item.get("AmountInTransactionCurrency"))
            if item.get("IsCleared") and item.get("ClearingAccountingDocument"):
                doc = (item["CompanyCode"], item.get("ClearingDocFiscalYear") or "", item["ClearingAccountingDocument"])
                counter = [c for c in cleared_by.get(doc, []) if key_of(c) not in mine]
                take(doc, amount, item.get("ClearingDate"), counter)
            if key_of(item) in referring:
                posted = (item["CompanyCode"], item["FiscalYear"], item["AccountingDocument"])
                take(posted, -amount if not isinstance(amount, str) else amount, item.get("PostingDate"), [item])
        settlement_lines = []
        for line in lines.values():
            counter = line.pop("counter")
            if line["amount"] == 0:
                continue  # took nothing off (an item it posted, cleared by itself)
            reference = next((c.get(f) for c in counter for f in ("DocumentItemText", "PaymentReference") if c.get(f)), None)
            settlement_lines.append({**line, "amount": str(line["amount"]), "kind": self._kind(counter),
                                     "date": line["date"].date() if line["date"] else None, "reference": reference})
        settlement_lines.sort(key=lambda ln: (ln["date"] or dt.date.min, ln["id"]))
        cleared = all(i.get("IsCleared") for i in items)
        reversed_ = all(i.get("IsReversed") for i in own)
        first = own[0]
        return {
            "BillingDocument": billing,
            "CompanyCode": first["CompanyCode"], "FiscalYear": first["FiscalYear"], "AccountingDocument": first["AccountingDocument"],
            "Customer": first.get("Customer"),
            "currency": first.get("TransactionCurrency"),
            "total_amount": str(total), "open_amount": str(open_amount),
            "status": "reversed" if reversed_ else "cleared" if cleared else "open",
            "cleared_on": max(filter(None, (parse_odata_datetime(i.get("ClearingDate")) for i in items)), default=None) if cleared else None,
            "items": items,
            "settlement_lines": settlement_lines,
            "updated_at": stamp,
        }


def key_of(item: dict[str, Any]) -> tuple[str, str, str, str]:
    """The key of a journal entry item (company code, fiscal year, journal entry, item)."""
    return (item["CompanyCode"], item["FiscalYear"], item["AccountingDocument"], item["AccountingDocumentItem"])
