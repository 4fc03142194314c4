"""Named converter functions that mapping files may call with ``fn:`` (and ``args:``).

Each function takes the value found at ``from`` (or the whole record when ``from`` is absent),
the whole source record, and the mapping's ``args``. Keep them small, pure and tested: this is
the only code a mapping may run.

>>> identifier([{"type": "fr_siren", "code": "732829320"}], {}, "fr_siren")
'732829320'
>>> fraction_to_percent("0.055", {})
Decimal('5.5')
>>> fraction_to_percent("0.20", {})
Decimal('20')
>>> text_line("12 rue de la Paix\\nBat. B", {}, 2)
'Bat. B'
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from schemas.money import to_decimal

Converter = Callable[..., Any]
_REGISTRY: dict[str, Converter] = {}


def register(name: str) -> Callable[[Converter], Converter]:
    def deco(fn: Converter) -> Converter:
        _REGISTRY[name] = fn
        return fn

    return deco


def get(name: str) -> Converter:
    return _REGISTRY[name]


def exists(name: str) -> bool:
    return name in _REGISTRY


def names() -> list[str]:
    return sorted(_REGISTRY)


@register("identifier")
def identifier(identifiers: Any, record: Any, kind: str, *more_kinds: str) -> str | None:
    """The code of the first identifier of one of the given types in a list of {type, code}."""
    wanted = (kind, *more_kinds)
    for ident in identifiers or []:
        if isinstance(ident, dict) and ident.get("type") in wanted and ident.get("code"):
            return str(ident["code"]).replace(" ", "")
    return None


@register("siren_from_siret")
def siren_from_siret(value: Any, record: Any) -> str | None:
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    return digits[:9] if len(digits) == 14 else None


@register("fraction_to_percent")
def fraction_to_percent(value: Any, record: Any) -> Decimal | None:
    """A rate stored as a fraction (0.2) as a percentage (20), exactly."""
    if value is None:
        return None
    pct = to_decimal(value) * 100
    return pct.quantize(Decimal(1)) if pct == pct.to_integral_value() else pct.normalize()


@register("text_line")
def text_line(value: Any, record: Any, n: int = 1) -> str | None:
    """Line ``n`` (1-based) of a multi-line text such as a street field."""
    lines = [ln.strip() for ln in str(value or "").splitlines() if ln.strip()]
    return lines[n - 1] if len(lines) >= n else None


@register("first")
def first(value: Any, record: Any, key: str | None = None) -> Any:
    """The first element of a list (or its ``key`` field)."""
    if not value:
        return None
    item = value[0]
    return item.get(key) if key and isinstance(item, dict) else item


@register("contact")
def contact(mechanisms: Any, record: Any, kind: str) -> str | None:
    """The first contact mechanism of a type (email, phone...) in a list of {type, value}."""
    for mech in mechanisms or []:
        if isinstance(mech, dict) and mech.get("type") == kind and mech.get("value"):
            return str(mech["value"])
    return None


@register("join")
def join(value: Any, record: Any, sep: str = " ") -> str | None:
    parts = [str(v).strip() for v in (value or []) if v not in (None, "")]
    return sep.join(parts) or None
