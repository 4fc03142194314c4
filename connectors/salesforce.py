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
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urljoin

import requests

from connectors.base import BaseConnector, Batch, ConnectionInfo, StreamSpec
from schemas.errors import AuthError, ConfigError
from transport.http import Sleep, classify_response, with_retries

log = logging.getLogger(__name__)

ACCOUNT_FIELDS = ["Id", "Name", "AccountNumber", "Type", "BillingStreet", "BillingCity", "BillingPostalCode",
                  "BillingState", "BillingCountry", "BillingCountryCode", "Phone", "Website", "OwnerId",
                  "Industry", "SystemModstamp", "LastModifiedDate"]


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
    )

    def __init__(self, conn: ConnectionInfo, *, fields: list[str] | None = None, extra_fields: list[str] | None = None,
                 where: str | None = None, batch_size: int = 200, timeout: float = 60.0, attempts: int = 4,
                 sleep: Sleep = time.sleep) -> None:
        if not conn.login or not conn.password:
            raise ConfigError("Salesforce connection needs the connected app's consumer key (login) and secret (password)")
        self.conn = conn
        self.fields = list(dict.fromkeys([*(fields or ACCOUNT_FIELDS), *(extra_fields or [])]))
        self.where = where
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

    def _pages(self, since: dt.datetime | None, until: dt.datetime) -> Iterator[list[dict[str, Any]]]:
        what = f"Salesforce {self.conn.host} query Account"
        headers = {"Sforce-Query-Options": f"batchsize={self.batch_size}"}
        body = self._call("GET", f"{self.instance_url}/services/data/v{self.api_version}/query", what,
                          params={"q": self.soql(since, until)}, headers=headers)
        while True:
            records = []
            for rec in body.get("records", []):
                rec = {k: v for k, v in rec.items() if k != "attributes"}
                rec["updated_at"] = parse_sf_datetime(rec["SystemModstamp"])
                records.append(rec)
            if records:
                yield records
            if body.get("done", True) or not body.get("nextRecordsUrl"):
                return
            body = self._call("GET", urljoin(self.instance_url + "/", body["nextRecordsUrl"].lstrip("/")), what, headers=headers)

    def pull(self, stream: str, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        if stream != "customers":
            yield from super().pull(stream, since, until)
            return
        yield from self.cursor_batches(stream, self._pages(since, until))
