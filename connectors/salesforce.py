"""Salesforce accounts (customer master data, credit limits) over the REST API.

Contract (Salesforce REST API Developer Guide, https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/):

- OAuth 2.0 client credentials flow ("OAuth 2.0 Client Credentials Flow for Server-to-Server
  Integration"): ``POST https://<my-domain>/services/oauth2/token`` with
  ``grant_type=client_credentials``, ``client_id``, ``client_secret`` answers
  ``{"access_token", "instance_url", "token_type": "Bearer", "issued_at", "signature"}``;
  refused client credentials answer HTTP 400 ``{"error": "invalid_client", ...}`` (fatal here).
- ``GET {instance_url}/services/data/v<version>/query?q=<SOQL>`` ("Execute a SOQL Query")
  answers ``{"totalSize", "done", "records": [...], "nextRecordsUrl"}``; the next page is
  ``GET {instance_url}{nextRecordsUrl}`` until ``done``. The page size is asked with the header
  ``Sforce-Query-Options: batchsize=<n>`` (200 to 2000).
- SOQL datetime literals are unquoted ISO 8601 (``SystemModstamp > 2026-01-01T00:00:00Z``);
  an expired or bad token answers 401 ``INVALID_SESSION_ID``.

The connection: host = the org's My Domain (``acme.my.salesforce.com``), login = the connected
app's consumer key, password = its consumer secret; ``extra.api_version`` (default 62.0).
Source options: ``fields`` (the Account fields read, default below), ``extra_fields`` (custom
fields such as ``Credit_Limit__c``, ``SIREN__c``, ``VAT_Number__c``: the mapping names them),
``where`` (an extra SOQL condition, e.g. ``Type = 'Customer'``), ``batch_size``.
Incremental by ``SystemModstamp``, ordered by ``SystemModstamp, Id``.

The ``promises`` stream: promises to pay a collector logged as Tasks (Object Reference, "Task":
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm).
``SELECT ... FROM Task WHERE Subject LIKE '<prefix>%' AND SystemModstamp > since AND SystemModstamp
<= until ORDER BY SystemModstamp ASC, Id ASC`` reads the documented standard fields ``Id``,
``Subject`` (string 255), ``ActivityDate`` (date: the due date, here the promised date),
``WhatId`` (the related record: an Account, key prefix ``001``), ``OwnerId`` and ``Owner.Name``
(the user who owns the task), ``Description`` (long text), ``Status``, ``CreatedDate``,
``SystemModstamp``; deleted tasks are not returned by ``query``. The amount is a custom currency
field an administrator adds to Task (option ``promise_amount_field``, default
``O2C_Promised_Amount__c``); the invoice numbers are read from a line ``Invoices: A, B`` of the
Description, or from a custom text field (``promise_invoices_field``: the whole field is the
list); ``promise_currency_field`` (``CurrencyIsoCode`` in a multi-currency org) is read when set;
``promise_subject`` is the prefix (default ``Promise to pay``). The connector adds
``promised_amount``, ``invoice_text``, ``invoices_labelled``, ``promised_currency``, ``owner_name``
and ``updated_at`` to each record for the mapping (mappings/salesforce/promise.yaml).

Write-back (documented contract, docs/writeback.md): ``credit_hold`` and ``note`` commands.

- A credit hold (or its release) is written as risk fields of the Account ("Update a Record":
  ``PATCH /services/data/vXX.X/sobjects/Account/{Id}`` with a JSON body of the fields, answered
  ``204 No Content``; an unknown id answers ``404 [{"errorCode": "NOT_FOUND", ...}]``, an unknown
  field ``400 [{"errorCode": "INVALID_FIELD", ...}]``). They are custom fields an administrator
  creates; their API names are the source option ``risk_fields`` (defaults :data:`RISK_DEFAULTS`:
  risk level (text or picklist ``high``/``none``), exposure and overdue amount (currency), last flag
  (text), and the key of the last command (text, 40+ characters) by which ``find_credit_hold``
  recognises it: "Get Field Values from a Standard Object Record",
  ``GET .../sobjects/Account/{Id}?fields=...``). Salesforce has no credit block of its own: the
  hub's risk level is what sales processes (validation rules, flows) read.
- A note is a completed Task on the Account ("Create a Record": ``POST .../sobjects/Task`` with
  ``WhatId`` (the account), ``Subject``, ``Description``, ``Status``; answered ``201 {"id",
  "success", "errors"}``; an id that is not a record answers ``400 [{"errorCode":
  "INVALID_CROSS_REFERENCE_KEY" ...}]``). The Subject starts with ``o2c:<key>``: ``find_note`` asks
  ``SELECT Id FROM Task WHERE WhatId = '<id>' AND Subject LIKE 'o2c:<key>%'`` (SOQL cannot filter
  on the long-text ``Description``). The create is sent once (no automatic retry): a lost answer is
  found by its key on the next run.

Salesforce has no idempotency header on these calls; payments, invoices and their statuses are
not Salesforce objects here (a CRM): those kinds are not supported.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urljoin

import requests

from connectors.base import (
    BaseConnector,
    Batch,
    Capabilities,
    ConnectionInfo,
    StreamSpec,
    create_once,
    exact_json,
    field_names,
    hub_tag,
    risk_values,
)
from schemas.errors import AuthError, ConfigError, RejectedDocument
from schemas.receivables import WriteBackCommand
from transport.http import Sleep, classify_response, with_retries

log = logging.getLogger(__name__)

ACCOUNT_FIELDS = ["Id", "Name", "AccountNumber", "Type", "BillingStreet", "BillingCity", "BillingPostalCode",
                  "BillingState", "BillingCountry", "BillingCountryCode", "Phone", "Website", "OwnerId",
                  "Industry", "SystemModstamp", "LastModifiedDate"]
#: the Account custom fields of the credit-hold write-back (source option ``risk_fields`` renames or drops them)
TASK_FIELDS = ["Id", "Subject", "ActivityDate", "WhatId", "OwnerId", "Owner.Name", "Description", "Status", "CreatedDate",
               "SystemModstamp"]
PROMISE_SUBJECT, PROMISE_AMOUNT = "Promise to pay", "O2C_Promised_Amount__c"
_FIELD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)?")
RISK_DEFAULTS = {"risk_level": "O2C_Risk_Level__c", "exposure": "O2C_Exposure__c", "overdue": "O2C_Overdue_Amount__c",
                 "last_flag": "O2C_Last_Flag__c", "key": "O2C_Last_Key__c"}
_ID_RE = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


def soql_datetime(value: dt.datetime) -> str:
    """>>> soql_datetime(dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC))
    '2026-01-05T09:30:00Z'
    """
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_sf_datetime(value: str) -> dt.datetime:
    """>>> parse_sf_datetime("2026-01-10T09:00:00.000+0000")
    datetime.datetime(2026, 1, 10, 9, 0, tzinfo=datetime.timezone.utc)
    """
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(dt.UTC)


class SalesforceConnector(BaseConnector):
    """Accounts of one Salesforce org (the ``customers`` stream)."""

    kind: ClassVar[str] = "salesforce"
    stream_specs: ClassVar[tuple[StreamSpec, ...]] = (
        StreamSpec("customers", ("Id",), "updated_at", changed_on="Account.SystemModstamp"),
        StreamSpec("promises", ("Id",), "updated_at", changed_on="Task.SystemModstamp"),
    )
    # the module docstring: Account risk fields (PATCH) and Tasks as notes
    capabilities: ClassVar[Capabilities] = Capabilities(credit_holds=True, notes=True)

    def __init__(self, conn: ConnectionInfo, *, fields: list[str] | None = None, extra_fields: list[str] | None = None,
                 where: str | None = None, batch_size: int = 200, timeout: float = 60.0, attempts: int = 4,
                 risk_fields: dict[str, str | None] | None = None, promise_subject: str = PROMISE_SUBJECT,
                 promise_amount_field: str = PROMISE_AMOUNT, promise_invoices_field: str | None = None,
                 promise_currency_field: str | None = None, sleep: Sleep = time.sleep) -> None:
        if not conn.login or not conn.password:
            raise ConfigError("Salesforce connection needs the connected app's consumer key (login) and secret (password)")
        self.conn = conn
        self.fields = list(dict.fromkeys([*(fields or ACCOUNT_FIELDS), *(extra_fields or [])]))
        self.where = where
        self.risk_fields = field_names("salesforce", "risk_fields", risk_fields, RISK_DEFAULTS)
        for name, value in (("promise_amount_field", promise_amount_field), ("promise_invoices_field", promise_invoices_field),
                            ("promise_currency_field", promise_currency_field)):
            if value is not None and not _FIELD_RE.fullmatch(value):
                raise ConfigError(f"salesforce option {name}: {value!r} is not a field API name")
        if not promise_subject.strip() or "'" in promise_subject or "\\" in promise_subject or "%" in promise_subject \
                or "_" in promise_subject:
            raise ConfigError(f"salesforce option promise_subject: {promise_subject!r} must be plain words "
                              "(no quote, backslash, % or _: they change a SOQL LIKE)")
        self.promise_subject = promise_subject
        self.promise_fields = {"amount": promise_amount_field, "invoices": promise_invoices_field,
                               "currency": promise_currency_field}
        self.batch_size = int(conn.extra.get("batch_size", batch_size))
        self.api_version = str(conn.extra.get("api_version", "62.0"))
        self.timeout = timeout
        self.attempts = attempts
        self.sleep = sleep
        self.http = requests.Session()
        self.instance_url = ""
        self._token()

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        def once() -> dict[str, Any]:
            resp = self.http.request(method, url, timeout=self.timeout, **kwargs)
            if resp.status_code == 400 and "oauth2/token" in url:
                raise AuthError(f"{what}: token refused: {resp.text[:200]}; check the consumer key and secret")
            classify_response(resp, what)
            return resp.json(parse_float=Decimal)  # type: ignore[no-any-return]

        return with_retries(once, what=what, attempts=self.attempts, sleep=self.sleep)  # type: ignore[no-any-return]

    def _token(self) -> None:
        body = self._call("POST", f"{self.conn.base_url}services/oauth2/token", f"Salesforce {self.conn.host} token",
                          data={"grant_type": "client_credentials", "client_id": self.conn.login,
                                "client_secret": self.conn.password})
        self.instance_url = body.get("instance_url") or self.conn.base_url.rstrip("/")
        self.http.headers["Authorization"] = f"Bearer {body['access_token']}"

    def soql(self, since: dt.datetime | None, until: dt.datetime) -> str:
        cond = [f"SystemModstamp <= {soql_datetime(until)}"]
        if since is not None:
            cond.insert(0, f"SystemModstamp > {soql_datetime(since)}")
        if self.where:
            cond.append(f"({self.where})")
        return f"SELECT {', '.join(self.fields)} FROM Account WHERE {' AND '.join(cond)} ORDER BY SystemModstamp ASC, Id ASC"

    def promise_soql(self, since: dt.datetime | None, until: dt.datetime) -> str:
        """The Tasks recording promises to pay changed in ``(since, until]`` (the module docstring)."""
        fields = [*TASK_FIELDS, *(f for f in self.promise_fields.values() if f)]
        cond = [f"Subject LIKE '{self.promise_subject}%'", f"SystemModstamp <= {soql_datetime(until)}"]
        if since is not None:
            cond.insert(1, f"SystemModstamp > {soql_datetime(since)}")
        return (f"SELECT {', '.join(dict.fromkeys(fields))} FROM Task WHERE {' AND '.join(cond)} "
                "ORDER BY SystemModstamp ASC, Id ASC")

    def _promise_record(self, rec: dict[str, Any]) -> dict[str, Any]:
        """A Task with the values the promise mapping reads (the configured fields under fixed names)."""
        owner = rec.get("Owner")
        rec["owner_name"] = owner.get("Name") if isinstance(owner, dict) else None
        rec["promised_amount"] = rec.get(self.promise_fields["amount"])
        invoices = self.promise_fields["invoices"]
        rec["invoice_text"] = rec.get(invoices) if invoices else rec.get("Description")
        rec["invoices_labelled"] = invoices is None
        currency = self.promise_fields["currency"]
        rec["promised_currency"] = rec.get(currency) if currency else None
        return rec

    def _pages(self, since: dt.datetime | None, until: dt.datetime, stream: str = "customers") -> Iterator[list[dict[str, Any]]]:
        promises = stream == "promises"
        what = f"Salesforce {self.conn.host} query {'Task' if promises else 'Account'}"
        headers = {"Sforce-Query-Options": f"batchsize={self.batch_size}"}
        soql = self.promise_soql(since, until) if promises else self.soql(since, until)
        body = self._call("GET", f"{self.instance_url}/services/data/v{self.api_version}/query", what,
                          params={"q": soql}, headers=headers)
        while True:
            records = []
            for rec in body.get("records", []):
                rec = {k: v for k, v in rec.items() if k != "attributes"}
                rec["updated_at"] = parse_sf_datetime(rec["SystemModstamp"])
                if promises:
                    if not str(rec.get("Subject") or "").lower().startswith(self.promise_subject.lower()):
                        continue  # LIKE is case-insensitive and so is this; anything else is not ours
                    rec = self._promise_record(rec)
                records.append(rec)
            if records:
                yield records
            if body.get("done", True) or not body.get("nextRecordsUrl"):
                return
            body = self._call("GET", urljoin(self.instance_url + "/", body["nextRecordsUrl"].lstrip("/")), what, headers=headers)

    def pull(self, stream: str, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        if stream not in ("customers", "promises"):
            yield from super().pull(stream, since, until)
            return
        yield from self.cursor_batches(stream, self._pages(since, until, stream))

    # -- write-back (the module docstring) ---------------------------------------------------
    def _api(self, path: str) -> str:
        return f"{self.instance_url}/services/data/v{self.api_version}/{path}"

    def _send(self, method: str, url: str, what: str, command: WriteBackCommand, *, body: Any = None,
              params: dict[str, str] | None = None, attempts: int | None = None) -> requests.Response:
        """One REST call of a write-back; Salesforce's refusals (400, 404) name its error code and message."""
        def once() -> requests.Response:
            data = None if body is None else exact_json(body).encode()
            resp = self.http.request(method, url, data=data, params=params, timeout=self.timeout,
                                     headers={"Content-Type": "application/json"} if data is not None else None)
            if resp.status_code in (400, 404):
                errors = _errors(resp)
                codes = {e.get("errorCode") for e in errors}
                text = "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for e in errors) or resp.text[:300]
                if "INVALID_FIELD" in codes:
                    raise ConfigError(f"{what}: {text}; create the field in Salesforce or rename it in "
                                      "sources[].options.risk_fields")
                raise RejectedDocument(f"{what}: Salesforce refused it (HTTP {resp.status_code}): {text}",
                                       document_id=command.target_id)
            classify_response(resp, what)
            return resp

        return with_retries(once, what=what, attempts=attempts or self.attempts, sleep=self.sleep)  # type: ignore[no-any-return]

    def _account_id(self, command: WriteBackCommand) -> str:
        if not _ID_RE.fullmatch(command.target_id):
            raise RejectedDocument(f"{command.kind} command: {command.target_id!r} is not a Salesforce record id",
                                   document_id=command.target_id)
        return command.target_id

    def _risk_body(self, command: WriteBackCommand) -> dict[str, Any]:
        values = risk_values(command)
        return {field: values[name] for name, field in self.risk_fields.items()}

    def push_credit_hold(self, command: WriteBackCommand) -> str:
        """The Account's risk fields set from the command (``PATCH``), unless the key field already holds
        this command's key (the fields were written with it: nothing is written twice)."""
        found = self.find_credit_hold(command)  # the key field holds this command's key: written already
        if found is not None:
            return found
        account = self._account_id(command)
        self._send("PATCH", self._api(f"sobjects/Account/{account}"), f"Salesforce {self.conn.host} PATCH Account {account}",
                   command, body=self._risk_body(command))
        return f"Account/{account}"

    def find_credit_hold(self, command: WriteBackCommand) -> str | None:
        """``Account/<Id>`` when its key field holds this command's key (it was written), else None."""
        account = self._account_id(command)
        key_field = self.risk_fields["key"]
        resp = self._send("GET", self._api(f"sobjects/Account/{account}"), f"Salesforce {self.conn.host} GET Account {account}",
                          command, params={"fields": key_field})
        return f"Account/{account}" if resp.json().get(key_field) == hub_tag(command) else None

    def push_note(self, command: WriteBackCommand) -> str:
        """A completed Task on the Account, its Subject ``o2c:<key> <start of the message>``, the whole
        message in its Description; found first by its key (never created twice)."""
        found = self.find_note(command)
        if found is not None:
            return found
        account = self._account_id(command)
        message = str(command.payload.get("message") or command.reason)
        body = {"WhatId": account, "Subject": f"{hub_tag(command)} {message}"[:255], "Description": message[:32000],
                "Status": "Completed", "Priority": "Normal"}
        what = f"Salesforce {self.conn.host} POST Task"
        # a create is sent once: a lost answer is found by its key after the claim timeout
        resp = create_once(lambda: self._send("POST", self._api("sobjects/Task"), what, command, body=body, attempts=1), what)
        return f"Task/{resp.json()['id']}"

    def find_note(self, command: WriteBackCommand) -> str | None:
        if command.payload.get("on") not in (None, "party"):
            raise RejectedDocument(f"note on {command.payload.get('on')!r}: Salesforce notes go on an Account (the customer)",
                                   document_id=command.target_id)
        account = self._account_id(command)
        soql = (f"SELECT Id, Subject FROM Task WHERE WhatId = '{account}' AND Subject LIKE '{hub_tag(command)}%' "
                "ORDER BY CreatedDate ASC")
        resp = self._send("GET", self._api("query"), f"Salesforce {self.conn.host} query Task", command, params={"q": soql})
        mine = [r["Id"] for r in resp.json().get("records", []) if str(r.get("Subject") or "").split(" ", 1)[0] == hub_tag(command)]
        return f"Task/{mine[0]}" if mine else None


def _errors(resp: requests.Response) -> list[dict[str, Any]]:
    """Salesforce's error body ``[{"errorCode", "message", "fields"}]`` (empty when it is not one)."""
    try:
        body = resp.json()
    except ValueError:
        return []
    return [e for e in body if isinstance(e, dict)] if isinstance(body, list) else []
