"""HubSpot companies (customer master data) over the CRM API v3.

Contract (HubSpot developer documentation, "CRM API | Companies" and "CRM API | Search",
https://developers.hubspot.com/docs/api/crm/companies, https://developers.hubspot.com/docs/api/crm/search):

- authentication: a private app's access token, ``Authorization: Bearer <token>`` (the
  connection's password); host ``api.hubapi.com``;
- incremental reads: ``POST /crm/v3/objects/companies/search`` with
  ``{"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GT",
  "value": <ms>}, {... "LTE" ...}]}], "sorts": [{"propertyName": "hs_lastmodifieddate",
  "direction": "ASCENDING"}], "properties": [...], "limit": <n ≤ 200>, "after": <cursor>}``;
- answers ``{"total", "results": [{"id", "properties": {...}, "createdAt", "updatedAt",
  "archived"}], "paging": {"next": {"after": "<cursor>"}}}``: the next page repeats the
  request with ``after``; no ``paging.next`` means the last page;
- 401 for a bad token, 403 for a token without the ``crm.objects.companies.read`` scope,
  429 when rate-limited (per 10 s and per day).

A search returns at most 10,000 results per query: the connector restarts the search from the
last ``hs_lastmodifieddate`` it committed when a window holds more (the sync's next batch
resumes from there). Property values are strings (``"15000"``; amounts stay exact).
Source options: ``properties`` (default below; custom ones such as ``credit_limit``,
``siren``, ``vat_number`` as created in the portal), ``batch_size`` (≤ 200).

The ``promises`` stream: promises to pay logged as tasks ("CRM API | Tasks",
https://developers.hubspot.com/docs/api/crm/tasks; "CRM API | Associations v4",
https://developers.hubspot.com/docs/api/crm/associations). ``POST /crm/v3/objects/tasks/search``
with the same ``hs_lastmodifieddate`` window, sort and paging as companies, plus the filter
``{"propertyName": "hs_task_subject", "operator": "CONTAINS_TOKEN", "value": "<first word of the
prefix>"}`` (search has no prefix operator: the whole prefix is checked on each result); the
documented task properties read: ``hs_task_subject``, ``hs_task_body``, ``hs_timestamp`` (the due
date, here the promised date), ``hs_task_status``, ``hubspot_owner_id``, ``hs_createdate``,
``hs_lastmodifieddate``; the amount is a custom number property (option ``promise_amount_property``,
default ``o2c_promised_amount``), the invoice numbers a line ``Invoices: A, B`` of the body or a
custom property (``promise_invoices_property``: the whole value is the list), the prefix
``promise_subject`` (default ``Promise to pay``). The company of each task is read in one call per
page: ``POST /crm/v4/associations/tasks/companies/batch/read`` with ``{"inputs": [{"id": <task>}]}``,
answered ``{"status", "results": [{"from": {"id"}, "to": [{"toObjectId", "associationTypes"}]}]}``
(a task with no company is absent from the results); the first company is the account. The token
needs ``crm.objects.contacts.read`` (tasks) and ``crm.objects.companies.read``.

Write-back (documented contract, docs/writeback.md): ``credit_hold`` and ``note`` commands.

- A credit hold (or its release) is written as company properties ("Companies: Update",
  ``PATCH /crm/v3/objects/companies/{companyId}`` with ``{"properties": {...}}``, answered 200 with
  the object; an unknown id answers ``404 {"status": "error", "category": "OBJECT_NOT_FOUND"}``, a
  property the portal lacks ``400 {"category": "VALIDATION_ERROR", "errors": [{"code":
  "PROPERTY_DOESNT_EXIST"}]}``). They are custom properties an administrator creates; their internal
  names are the source option ``risk_properties`` (defaults :data:`RISK_DEFAULTS`): risk level,
  exposure and overdue amount (number), last flag (text), and the key of the last command, read
  back by ``find_credit_hold`` (``GET /crm/v3/objects/companies/{companyId}?properties=...``).
  Property values travel as strings (amounts exact). The token needs ``crm.objects.companies.write``.
- A note is a note engagement ("Notes": ``POST /crm/v3/objects/notes`` with ``properties``
  ``hs_timestamp`` (required) and ``hs_note_body``, and ``associations`` ``[{"to": {"id":
  companyId}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 190}]}]``,
  190 being HubSpot's note-to-company type; answered 201). Its body starts with ``o2c:<key>``:
  ``find_note`` lists the company's notes (``GET .../companies/{companyId}?associations=notes``)
  and reads their bodies (``POST /crm/v3/objects/notes/batch/read``). The create is sent once.

HubSpot's CRM object endpoints take no idempotency key; payments, invoices and statuses are not
HubSpot objects here (a CRM): those kinds are not supported.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, ClassVar

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
from schemas.errors import ConfigError, RejectedDocument
from schemas.receivables import WriteBackCommand
from transport.http import Sleep, classify_response, with_retries

log = logging.getLogger(__name__)

PROPERTIES = ["name", "domain", "address", "address2", "city", "zip", "state", "country", "phone", "industry",
              "hubspot_owner_id", "hs_lastmodifieddate", "createdate"]
TASK_PROPERTIES = ["hs_task_subject", "hs_task_body", "hs_timestamp", "hs_task_status", "hubspot_owner_id", "hs_createdate",
                   "hs_lastmodifieddate"]
PROMISE_SUBJECT, PROMISE_AMOUNT = "Promise to pay", "o2c_promised_amount"
_PROPERTY_RE = re.compile(r"[a-z][a-z0-9_]*")
SEARCH_LIMIT = 10_000
#: the company properties of the credit-hold write-back (source option ``risk_properties`` renames or drops them)
RISK_DEFAULTS = {"risk_level": "o2c_risk_level", "exposure": "o2c_exposure", "overdue": "o2c_overdue_amount",
                 "last_flag": "o2c_last_flag", "key": "o2c_last_key"}
NOTE_TO_COMPANY = 190  # HubSpot-defined association type: note -> company
_TAG_RE = re.compile(r"<[^>]*>")


def epoch_ms(value: dt.datetime) -> str:
    """>>> epoch_ms(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    '1767225600000'
    """
    return str(int(value.timestamp() * 1000))


def parse_hs_datetime(value: str) -> dt.datetime:
    """>>> parse_hs_datetime("2026-01-10T09:00:00.000Z")
    datetime.datetime(2026, 1, 10, 9, 0, tzinfo=datetime.timezone.utc)
    """
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)


class HubSpotConnector(BaseConnector):
    """Companies of one HubSpot portal (the ``customers`` stream)."""

    kind: ClassVar[str] = "hubspot"
    stream_specs: ClassVar[tuple[StreamSpec, ...]] = (
        StreamSpec("customers", ("id",), "updated_at", changed_on="company hs_lastmodifieddate"),
        StreamSpec("promises", ("id",), "updated_at", changed_on="task hs_lastmodifieddate"),
    )
    # the module docstring: company properties (PATCH) and note engagements
    capabilities: ClassVar[Capabilities] = Capabilities(credit_holds=True, notes=True)

    def __init__(self, conn: ConnectionInfo, *, properties: list[str] | None = None, batch_size: int = 100,
                 timeout: float = 60.0, attempts: int = 4, risk_properties: dict[str, str | None] | None = None,
                 promise_subject: str = PROMISE_SUBJECT, promise_amount_property: str = PROMISE_AMOUNT,
                 promise_invoices_property: str | None = None, sleep: Sleep = time.sleep) -> None:
        if not conn.password:
            raise ConfigError("HubSpot connection needs the private app's access token (password)")
        self.conn = conn
        self.properties = list(dict.fromkeys([*(properties or PROPERTIES), "hs_lastmodifieddate"]))
        self.risk_properties = field_names("hubspot", "risk_properties", risk_properties, RISK_DEFAULTS)
        for name, value in (("promise_amount_property", promise_amount_property),
                            ("promise_invoices_property", promise_invoices_property)):
            if value is not None and not _PROPERTY_RE.fullmatch(value):
                raise ConfigError(f"hubspot option {name}: {value!r} is not a property's internal name")
        if not promise_subject.split():
            raise ConfigError("hubspot option promise_subject: give the subject prefix of a promise task")
        self.promise_subject = promise_subject
        self.promise_props = {"amount": promise_amount_property, "invoices": promise_invoices_property}
        self.batch_size = min(200, int(conn.extra.get("batch_size", batch_size)))
        self.timeout = timeout
        self.attempts = attempts
        self.sleep = sleep
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {conn.password}"

    def close(self) -> None:
        self.http.close()

    def _search(self, body: dict[str, Any], objects: str = "companies") -> dict[str, Any]:
        return self._post(f"crm/v3/objects/{objects}/search", body, f"{objects}/search")

    def _post(self, path: str, body: dict[str, Any], label: str) -> dict[str, Any]:
        url = f"{self.conn.base_url}{path}"
        what = f"HubSpot {self.conn.host} {label}"

        def once() -> dict[str, Any]:
            resp = self.http.post(url, json=body, timeout=self.timeout)
            classify_response(resp, what)
            return resp.json(parse_float=Decimal)  # type: ignore[no-any-return]

        return with_retries(once, what=what, attempts=self.attempts, sleep=self.sleep)  # type: ignore[no-any-return]

    def _pages(self, since: dt.datetime | None, until: dt.datetime, stream: str = "customers") -> Iterator[list[dict[str, Any]]]:
        for page in self._search_pages(since, until, stream):
            if stream != "promises":
                yield page
                continue
            prefix = self.promise_subject.lower()
            page = [r for r in page if str(r.get("hs_task_subject") or "").lower().startswith(prefix)]
            if page:
                companies = self._task_companies([r["id"] for r in page])
                yield [self._promise_record(r, companies.get(r["id"])) for r in page]

    def _task_companies(self, task_ids: list[str]) -> dict[str, str]:
        """Task id -> its first associated company (Associations v4 batch read, the module docstring)."""
        answer = self._post("crm/v4/associations/tasks/companies/batch/read", {"inputs": [{"id": i} for i in task_ids]},
                            "associations tasks->companies")
        found: dict[str, str] = {}
        for item in answer.get("results") or []:
            targets = sorted((t for t in item.get("to") or [] if t.get("toObjectId") is not None), key=lambda t: int(t["toObjectId"]))
            if targets:
                found[str((item.get("from") or {}).get("id"))] = str(targets[0]["toObjectId"])
        return found

    def _promise_record(self, rec: dict[str, Any], company: str | None) -> dict[str, Any]:
        """A task with the values the promise mapping reads (the configured properties under fixed names)."""
        rec["company_id"] = company
        rec["promised_amount"] = rec.get(self.promise_props["amount"]) or None  # a cleared property reads ""
        invoices = self.promise_props["invoices"]
        body = _TAG_RE.sub("\n", str(rec.get("hs_task_body") or "")) if rec.get("hs_task_body") else None
        rec["invoice_text"] = rec.get(invoices) if invoices else body
        rec["invoices_labelled"] = invoices is None
        owner = rec.get("hubspot_owner_id")
        rec["owner_name"] = f"hubspot owner {owner}" if owner else None
        return rec

    def _search_pages(self, since: dt.datetime | None, until: dt.datetime, stream: str) -> Iterator[list[dict[str, Any]]]:
        objects = "tasks" if stream == "promises" else "companies"
        if stream == "promises":
            properties = list(dict.fromkeys([*TASK_PROPERTIES, *(p for p in self.promise_props.values() if p)]))
        else:
            properties = self.properties
        lower = since
        while True:
            filters = [{"propertyName": "hs_lastmodifieddate", "operator": "LTE", "value": epoch_ms(until)}]
            if lower is not None:
                filters.insert(0, {"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": epoch_ms(lower)})
            if stream == "promises":
                filters.append({"propertyName": "hs_task_subject", "operator": "CONTAINS_TOKEN",
                                "value": self.promise_subject.split()[0]})
            body: dict[str, Any] = {"filterGroups": [{"filters": filters}],
                                    "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                                    "properties": properties, "limit": self.batch_size}
            seen = 0
            last: dt.datetime | None = None
            while True:
                answer = self._search(body, objects)
                records = []
                for item in answer.get("results", []):
                    props = item.get("properties") or {}
                    stamp = parse_hs_datetime(props.get("hs_lastmodifieddate") or item["updatedAt"])
                    records.append({"id": item["id"], **props, "archived": item.get("archived", False), "updated_at": stamp})
                if records:
                    seen += len(records)
                    last = records[-1]["updated_at"]
                    yield records
                after = ((answer.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    return
                if seen + self.batch_size > SEARCH_LIMIT:
                    break  # the search stops at 10,000 results: start a new one after the last stamp read
                body["after"] = after
            if last is None or last == lower:
                return
            lower = last

    def pull(self, stream: str, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        if stream not in ("customers", "promises"):
            yield from super().pull(stream, since, until)
            return
        yield from self.cursor_batches(stream, self._pages(since, until, stream))

    # -- write-back (the module docstring) ---------------------------------------------------
    def _send(self, method: str, path: str, what: str, command: WriteBackCommand, *, body: Any = None,
              params: dict[str, str] | None = None, attempts: int | None = None) -> dict[str, Any]:
        """One CRM call of a write-back; HubSpot's refusals (400, 404) carry its category and message."""
        url = f"{self.conn.base_url}{path}"
        what = f"HubSpot {self.conn.host} {what}"

        def once() -> dict[str, Any]:
            data = None if body is None else exact_json(body).encode()
            resp = self.http.request(method, url, data=data, params=params, timeout=self.timeout,
                                     headers={"Content-Type": "application/json"} if data is not None else None)
            if resp.status_code in (400, 404):
                try:
                    err = resp.json()
                except ValueError:
                    err = {"message": resp.text[:300]}
                codes = {e.get("code") for e in err.get("errors") or [] if isinstance(e, dict)}
                text = f"{err.get('category') or ''}: {err.get('message') or ''}".strip(": ")
                if "PROPERTY_DOESNT_EXIST" in codes:
                    raise ConfigError(f"{what}: {text}; create the property in HubSpot or rename it in "
                                      "sources[].options.risk_properties")
                raise RejectedDocument(f"{what}: HubSpot refused it (HTTP {resp.status_code}): {text}",
                                       document_id=command.target_id)
            classify_response(resp, what)
            return resp.json(parse_float=Decimal)  # type: ignore[no-any-return]

        return with_retries(once, what=what, attempts=attempts or self.attempts, sleep=self.sleep)  # type: ignore[no-any-return]

    @staticmethod
    def _company_id(command: WriteBackCommand) -> str:
        if not command.target_id.isdigit():
            raise RejectedDocument(f"{command.kind} command: {command.target_id!r} is not a HubSpot record id",
                                   document_id=command.target_id)
        return command.target_id

    def push_credit_hold(self, command: WriteBackCommand) -> str:
        """The company's risk properties set from the command (``PATCH``), unless the key field already holds
        this command's key (the fields were written with it: nothing is written twice)."""
        found = self.find_credit_hold(command)  # the key field holds this command's key: written already
        if found is not None:
            return found
        company = self._company_id(command)
        values = risk_values(command)
        props = {name: "" if values[k] is None else str(values[k]) for k, name in self.risk_properties.items()}
        self._send("PATCH", f"crm/v3/objects/companies/{company}", f"PATCH companies/{company}", command,
                   body={"properties": props})
        return f"companies/{company}"

    def find_credit_hold(self, command: WriteBackCommand) -> str | None:
        company = self._company_id(command)
        key = self.risk_properties["key"]
        got = self._send("GET", f"crm/v3/objects/companies/{company}", f"GET companies/{company}", command,
                         params={"properties": key})
        return f"companies/{company}" if (got.get("properties") or {}).get(key) == hub_tag(command) else None

    def push_note(self, command: WriteBackCommand) -> str:
        """A note on the company, its body ``o2c:<key> <message>``; found first by its key (never created twice)."""
        found = self.find_note(command)
        if found is not None:
            return found
        company = self._company_id(command)
        message = str(command.payload.get("message") or command.reason)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        body = {"properties": {"hs_timestamp": stamp, "hs_note_body": f"{hub_tag(command)} {message}"[:65536]},
                "associations": [{"to": {"id": company},
                                  "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_COMPANY}]}]}
        created = create_once(lambda: self._send("POST", "crm/v3/objects/notes", "POST notes", command, body=body, attempts=1),
                              f"HubSpot {self.conn.host} POST notes")
        return f"notes/{created['id']}"

    def find_note(self, command: WriteBackCommand) -> str | None:
        if command.payload.get("on") not in (None, "party"):
            raise RejectedDocument(f"note on {command.payload.get('on')!r}: HubSpot notes go on a company (the customer)",
                                   document_id=command.target_id)
        company = self._company_id(command)
        got = self._send("GET", f"crm/v3/objects/companies/{company}", f"GET companies/{company} notes", command,
                         params={"associations": "notes"})
        ids = [a["id"] for a in ((got.get("associations") or {}).get("notes") or {}).get("results", [])]
        if not ids:
            return None
        notes = self._send("POST", "crm/v3/objects/notes/batch/read", "notes/batch/read", command,
                           body={"properties": ["hs_note_body"], "inputs": [{"id": i} for i in ids]})
        tag = hub_tag(command)
        mine = sorted((n["id"] for n in notes.get("results", [])
                       if _TAG_RE.sub("", str((n.get("properties") or {}).get("hs_note_body") or "")).strip().split(" ", 1)[0] == tag),
                      key=int)
        return f"notes/{mine[0]}" if mine else None
