"""Canonical records to and from JSON-ready dicts (amounts as strings, dates as ISO 8601).

Every Decimal that :func:`from_json` builds is checked like an amount from outside
(:mod:`schemas.money`): pydantic alone reads ``"1E+999999999"``, ``"1_0"`` or a number of a
hundred thousand digits as a Decimal, and a renderer then writes it out digit by digit. Texts go
through :func:`~schemas.money.parse_amount` (no exponent, no underscore, no non-ASCII digits, at
most 64 characters) and every Decimal through :func:`~schemas.money.check_amount` (finite, at
most 14 integer digits, at most :data:`JSON_MAX_DECIMALS` decimals); a refusal is a pydantic
``ValidationError`` naming the field, like any other type error.

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

import dataclasses
import datetime as dt
import hashlib
import json
import re
import types
import typing
from decimal import Decimal, localcontext
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import TypeAdapter
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from schemas.money import MAX_INTEGER_DIGITS as _MAX_INTEGER_DIGITS
from schemas.money import AmountError, check_amount, parse_amount

T = TypeVar("T")

JSON_MAX_DECIMALS = 28
"""Decimals a Decimal of a canonical record may have: the precision of Decimal arithmetic, so a
computed unit price (``100 / 3``) passes while ``1E-999999999`` (a billion zeros once written
out) does not. Amounts of a given format are held to that format's decimals by its parser."""
_MAX_ERRORS = 20
# what parse_amount accepts, in its most common spelling (14 integer digits, 28 decimals at most)
_COMMON = re.compile(r"-?[0-9]{1,14}(?:\.[0-9]{1,28})?")
_ATOMS = frozenset({str, int, float, bool, type(None), dt.date, dt.datetime})


@lru_cache(maxsize=64)
def _adapter(tp: type) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def to_json(obj: Any) -> Any:
    """A JSON-ready structure: Decimal as string, date/datetime as ISO 8601."""
    return _adapter(type(obj)).dump_python(obj, mode="json")


def from_json(tp: type[T], data: Any) -> T:
    """Build ``tp`` from a JSON structure, checking types (strings become Decimal, dates...).

    Raises pydantic's ``ValidationError`` (a ``ValueError``) for a wrong type and for an
    absurd amount (see the module docstring):

    >>> from schemas.statement import Balance
    >>> from_json(Balance, {'amount': '1E+999999999', 'date': '2026-01-02', 'type_code': 'OPBD'})
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Balance
    amount
      not a plain decimal amount: '1E+999999999' (digits, one '.', an optional sign) [type=amount, ...]
    """
    result: T = _adapter(tp).validate_python(data)
    errors: list[InitErrorDetails] = []
    _check_amounts(result, data, (), errors)
    if errors:
        raise ValidationError.from_exception_data(getattr(tp, "__name__", str(tp)), errors)
    return result


def _amount_problem(value: Decimal, raw: Any) -> str | None:
    """Why ``value`` (read from ``raw``) is not an acceptable amount, or None."""
    if isinstance(raw, str) and _COMMON.fullmatch(raw):  # nearly every amount: decided without Decimal work
        return None
    if not isinstance(raw, str) and value.is_finite():  # a Decimal (or int) within the limits: one look at its digits
        sign, digits, exponent = value.as_tuple()
        if exponent >= -JSON_MAX_DECIMALS and (len(digits) + exponent <= _MAX_INTEGER_DIGITS or not value):  # type: ignore[operator]
            return None
    try:
        with localcontext() as ctx:
            ctx.prec = 80  # check_amount quantizes to JSON_MAX_DECIMALS: 14 + 28 digits must fit
            if isinstance(raw, str):  # pydantic read this text: it must be a plain amount (parse_amount checks its value)
                parse_amount(raw, decimals=JSON_MAX_DECIMALS)
            else:
                check_amount(value, decimals=JSON_MAX_DECIMALS)
    except AmountError as exc:
        text = str(exc)
        return text if len(text) <= 200 else text[:200] + "…"
    return None


def _check_amounts(value: Any, raw: Any, loc: tuple[int | str, ...], errors: list[InitErrorDetails]) -> None:
    """Walk a validated record beside the data it was built from; collect the refused amounts."""
    if type(value) in _ATOMS or len(errors) >= _MAX_ERRORS:
        return
    if isinstance(value, Decimal):
        reason = _amount_problem(value, raw)
        if reason is not None:
            shown = raw if isinstance(raw, (str, int, float)) else str(value)
            if isinstance(shown, str) and len(shown) > 40:
                shown = shown[:40] + "…"
            elif isinstance(shown, int) and shown.bit_length() > 128:
                shown = f"{str(shown)[:40]}… ({len(str(shown))} digits)"
            errors.append(InitErrorDetails(type=PydanticCustomError("amount", "{reason}", {"reason": reason}),
                                           loc=loc, input=shown))
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        raw_map = raw if isinstance(raw, dict) else None
        for name in _amount_fields(type(value)):
            _check_amounts(getattr(value, name), raw_map.get(name) if raw_map is not None else None, (*loc, name), errors)
    elif isinstance(value, (list, tuple)):
        raw_seq = raw if isinstance(raw, (list, tuple)) and len(raw) == len(value) else None
        for i, item in enumerate(value):
            _check_amounts(item, raw_seq[i] if raw_seq is not None else None, (*loc, i), errors)
    elif isinstance(value, dict):
        raw_map = raw if isinstance(raw, dict) else None
        for key, item in value.items():
            _check_amounts(item, raw_map.get(key) if raw_map is not None else None, (*loc, str(key)), errors)


@lru_cache(maxsize=256)
def _amount_fields(cls: type) -> tuple[str, ...]:
    """The fields of dataclass ``cls`` whose type can hold a Decimal (directly or nested)."""
    names = tuple(f.name for f in dataclasses.fields(cls))
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an unresolvable annotation: walk every field
        return names
    return tuple(n for n in names if _may_hold_amount(hints.get(n, Any)))


_VISITING: set[type] = set()


def _may_hold_amount(tp: Any) -> bool:
    if tp is Decimal or tp is Any or tp is object:
        return True
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            if tp in _VISITING:  # a recursive record type: assume it can
                return True
            _VISITING.add(tp)
            try:
                return bool(_amount_fields(tp))
            finally:
                _VISITING.discard(tp)
        return not issubclass(tp, (str, int, float, bool, dt.date, type(None)))
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return False
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType) or args:
        return any(_may_hold_amount(a) for a in args if a is not Ellipsis)
    return True


def content_hash(obj: Any) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (keys sorted): equal content, equal hash."""
    payload = obj if isinstance(obj, (dict, list)) else to_json(obj)
    data = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()
