"""Canonical records to and from JSON-ready dicts (amounts as strings, dates as ISO 8601).

>>> from decimal import Decimal
>>> from schemas.statement import Balance
>>> import datetime as dt
>>> data = to_json(Balance(amount=Decimal("12.30"), date=dt.date(2026, 1, 2), type_code="OPBD"))
>>> data["amount"], data["date"]
('12.30', '2026-01-02')
>>> from_json(Balance, {'amount': '12.30', 'date': '2026-01-02', 'type_code': 'OPBD'}).amount
Decimal('12.30')
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")


@lru_cache(maxsize=64)
def _adapter(tp: type) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def to_json(obj: Any) -> Any:
    """A JSON-ready structure: Decimal as string, date/datetime as ISO 8601."""
    return _adapter(type(obj)).dump_python(obj, mode="json")


def from_json(tp: type[T], data: Any) -> T:
    """Build ``tp`` from a JSON structure, checking types (strings become Decimal, dates...)."""
    result: T = _adapter(tp).validate_python(data)
    return result


def content_hash(obj: Any) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (keys sorted): equal content, equal hash."""
    payload = obj if isinstance(obj, (dict, list)) else to_json(obj)
    data = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()
