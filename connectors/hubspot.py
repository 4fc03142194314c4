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
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, ClassVar

import requests

from connectors.base import BaseConnector, Batch, ConnectionInfo, StreamSpec
from schemas.errors import ConfigError
from transport.http import Sleep, classify_response, with_retries

log = logging.getLogger(__name__)

PROPERTIES = ["name", "domain", "address", "address2", "city", "zip", "state", "country", "phone", "industry",
              "hubspot_owner_id", "hs_lastmodifieddate", "createdate"]
SEARCH_LIMIT = 10_000


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
    )

    def __init__(self, conn: ConnectionInfo, *, properties: list[str] | None = None, batch_size: int = 100,
                 timeout: float = 60.0, attempts: int = 4, sleep: Sleep = time.sleep) -> None:
        if not conn.password:
            raise ConfigError("HubSpot connection needs the private app's access token (password)")
        self.conn = conn
        self.properties = list(dict.fromkeys([*(properties or PROPERTIES), "hs_lastmodifieddate"]))
        self.batch_size = min(200, int(conn.extra.get("batch_size", batch_size)))
        self.timeout = timeout
        self.attempts = attempts
        self.sleep = sleep
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {conn.password}"

    def close(self) -> None:
        self.http.close()

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.conn.base_url}crm/v3/objects/companies/search"
        what = f"HubSpot {self.conn.host} companies/search"

        def once() -> dict[str, Any]:
            resp = self.http.post(url, json=body, timeout=self.timeout)
            classify_response(resp, what)
            return resp.json(parse_float=Decimal)  # type: ignore[no-any-return]

        return with_retries(once, what=what, attempts=self.attempts, sleep=self.sleep)  # type: ignore[no-any-return]

    def _pages(self, since: dt.datetime | None, until: dt.datetime) -> Iterator[list[dict[str, Any]]]:
        lower = since
        while True:
            filters = [{"propertyName": "hs_lastmodifieddate", "operator": "LTE", "value": epoch_ms(until)}]
            if lower is not None:
                filters.insert(0, {"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": epoch_ms(lower)})
            body: dict[str, Any] = {"filterGroups": [{"filters": filters}],
                                    "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                                    "properties": self.properties, "limit": self.batch_size}
            seen = 0
            last: dt.datetime | None = None
            while True:
                answer = self._search(body)
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
        if stream != "customers":
            yield from super().pull(stream, since, until)
            return
        yield from self.cursor_batches(stream, self._pages(since, until))
