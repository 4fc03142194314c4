"""Money as :class:`~decimal.Decimal`, never float, with ISO 4217 minor units.

>>> to_decimal("1 234,56")
Decimal('1234.56')
>>> quantize(Decimal("10.005"), "EUR")
Decimal('10.01')
>>> quantize(Decimal("1500.4"), "JPY")
Decimal('1500')
>>> minor_units("KWD")
3
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

ZERO = Decimal("0")
CENT = Decimal("0.01")


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    from babel.numbers import list_currencies

    return frozenset(list_currencies())


def is_currency(code: str) -> bool:
    """True for an ISO 4217 alphabetic code known to CLDR (e.g. ``EUR``)."""
    return isinstance(code, str) and len(code) == 3 and code.upper() == code and code in _currencies()


@lru_cache(maxsize=512)
def minor_units(currency: str) -> int:
    """Number of decimals of ``currency`` (ISO 4217 minor unit, 2 when unknown)."""
    from babel.numbers import get_currency_precision

    try:
        return int(get_currency_precision(currency))
    except Exception:  # noqa: BLE001 - babel raises various errors for unknown codes
        return 2


def quantize(amount: Decimal, currency: str = "EUR") -> Decimal:
    """Round half-up to the currency's minor unit (commercial rounding)."""
    exp = Decimal(1).scaleb(-minor_units(currency))
    return amount.quantize(exp, rounding=ROUND_HALF_UP)


def to_decimal(value: object) -> Decimal:
    """Read an amount from a string, int or Decimal; refuse floats.

    Accepts ``1234.56``, ``1,234.56``, ``1.234,56`` and ``1 234,56``: when both separators
    appear the last one is the decimal one; blanks and non-breaking spaces group thousands.
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        raise TypeError(f"refusing float {value!r}: pass amounts as strings or Decimal")
    if not isinstance(value, str):
        raise TypeError(f"not an amount: {value!r}")
    text = value.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    if "," in text and "." in text:
        # 1.234,56 (continental) or 1,234.56 (anglo): the last separator is the decimal one
        if text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")
        else:
            text = text.replace(",", "")
    elif "," in text:
        text = text.replace(",", ".")
    try:
        result = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return result


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in a currency."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            object.__setattr__(self, "amount", to_decimal(self.amount))

    def quantized(self) -> Money:
        return Money(quantize(self.amount, self.currency), self.currency)

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot subtract {other.currency} from {self.currency}")
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __str__(self) -> str:
        return f"{quantize(self.amount, self.currency)} {self.currency}"
