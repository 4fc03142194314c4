"""The hub's policy for calling a system over HTTP (ERP and CRM APIs, e-invoice platforms).

One policy, so every connector and delivery channel fails the same way:

- :func:`classify_response` turns a failed response into the hub's error classes: 401/403
  :class:`~schemas.errors.AuthError` (fix the credentials), 429 and 5xx
  :class:`~schemas.errors.RetriableError` (honouring ``Retry-After``), any other 4xx
  :class:`~schemas.errors.FatalError` with the start of the body;
- :func:`with_retries` runs a call, retrying retriable errors and network failures with jittered
  exponential backoff, then lets the last :class:`RetriableError` propagate so the scheduler's
  own retries take over.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

import requests

from schemas.errors import AuthError, FatalError, HubError, RetriableError

log = logging.getLogger(__name__)


def classify_response(resp: requests.Response, what: str) -> None:
    """Raise the right error for a failed HTTP response: 429/5xx retriable, 401/403 fatal."""
    if resp.status_code < 400:
        return
    if resp.status_code in (401, 403):
        raise AuthError(f"{what}: HTTP {resp.status_code}: credentials refused; check the connection's login and password")
    if resp.status_code == 429 or resp.status_code >= 500:
        retry_after = resp.headers.get("Retry-After")
        wait = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
        raise RetriableError(f"{what}: HTTP {resp.status_code} {resp.reason}", retry_after=wait)
    raise FatalError(f"{what}: HTTP {resp.status_code} {resp.reason}: {resp.text[:300]}")


Sleep = Callable[[float], None]


def with_retries(call: Any, *, what: str, attempts: int = 4, base_delay: float = 0.5, max_delay: float = 20.0,
                 sleep: Sleep | None = None) -> Any:
    """Run ``call()``; retry :class:`RetriableError` and network errors with jittered backoff.

    Fatal errors propagate at once. After the last attempt the RetriableError propagates, so
    Airflow's own task retries take over. ``sleep`` waits between attempts (default
    ``time.sleep``); connectors take it at construction so that a test hands them a recording
    one instead of patching ``time.sleep``, which every thread of the process shares.
    """
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (requests.ConnectionError, requests.Timeout) as exc:
            err: HubError = RetriableError(f"{what}: {exc.__class__.__name__}: {exc}")
        except RetriableError as exc:
            err = exc
        if attempt == attempts:
            raise err
        delay = getattr(err, "retry_after", None) or min(max_delay, base_delay * 2 ** (attempt - 1))
        delay = delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto
        log.warning("%s (attempt %d/%d), retrying in %.1f s", err, attempt, attempts, delay)
        (sleep or time.sleep)(delay)
    raise AssertionError("unreachable")
