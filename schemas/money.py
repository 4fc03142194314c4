"""Money as :class:`~decimal.Decimal`, never float, with ISO 4217 minor units.

>>> to_decimal("1 234,56")
Decimal('1234.56')
>>> quantize(Decimal("10.005"), "EUR")
Decimal('10.01')
>>> quantize(Decimal("1500.4"), "JPY")
Decimal('1500')
>>> minor_units("KWD")
3
>>> parse_amount("-1234.5")
Decimal('-1234.5')
>>> parse_amount("1E+3")
Traceback (most recent call last):
...
schemas.money.AmountError: not a plain decimal amount: '1E+3' (digits, one '.', an optional sign)

Every amount that comes from outside (bank files, e-invoices, ERP answers, JSON intake, file
drops) goes through :func:`parse_amount` or :func:`check_amount`: no exponent, no underscore,
no NaN or infinity, at most :data:`MAX_INTEGER_DIGITS` integer digits and the format's decimals.
ISO 20022 allows 18 digits in all, 5 of them decimals; the store keeps ``NUMERIC(20, 6)``, so 14
integer digits (a hundred thousand billion) is the bound: a larger amount is refused at the parser,
never by the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

ZERO = Decimal("0")
CENT = Decimal("0.01")

MAX_INTEGER_DIGITS = 14
"""Integer digits an amount may have: the store keeps ``NUMERIC(20, 6)``, i.e. 14 before the point."""
MAX_DECIMALS = 5
"""Decimals an amount may have unless the format says otherwise (ISO 20022: 5)."""
_MAX_TEXT = 64  # longer text is refused before any other work
_PLAIN = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


class AmountError(ValueError):
    """An amount from outside is not a plain, bounded decimal number; the message says why."""


def _where(field: str | None) -> str:
    return f"{field}: " if field else ""


def check_amount(value: Decimal, *, decimals: int = MAX_DECIMALS, field: str | None = None,
                 integer_digits: int = MAX_INTEGER_DIGITS) -> Decimal:
    """Return ``value`` when it is finite and within the digit limits, else raise :class:`AmountError`.

    >>> check_amount(Decimal("12.50"))
    Decimal('12.50')
    >>> check_amount(Decimal("1E+20"), field="BT-112")
    Traceback (most recent call last):
    ...
    schemas.money.AmountError: BT-112: amount 1E+20 has more than 14 integer digits
    """
    if not isinstance(value, Decimal):
        raise AmountError(f"{_where(field)}not an amount: {type(value).__name__}")
    if not value.is_finite():
        raise AmountError(f"{_where(field)}not a finite amount: {value}")
    if value and value.adjusted() >= integer_digits:
        raise AmountError(f"{_where(field)}amount {value} has more than {integer_digits} integer digits")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -decimals and value != value.quantize(Decimal(1).scaleb(-decimals)):
        raise AmountError(f"{_where(field)}amount {value} has more than {decimals} decimals")
    return value


def parse_amount(text: str, *, decimals: int = MAX_DECIMALS, field: str | None = None,
                 integer_digits: int = MAX_INTEGER_DIGITS) -> Decimal:
    """Read a plain decimal amount (``-1234.50``): the one amount parser for outside data.

    Refused with :class:`AmountError`: exponents (``1E+3``), underscores (``1_0``), NaN and
    infinities, blanks inside, more than ``integer_digits`` integer digits or ``decimals``
    significant decimals (trailing zeros past them are accepted: ``1.500000``).
    """
    if not isinstance(text, str):
        raise AmountError(f"{_where(field)}not an amount: {type(text).__name__}")
    stripped = text.strip()
    if len(stripped) > _MAX_TEXT:
        raise AmountError(f"{_where(field)}amount of {len(stripped)} characters is too long")
    if not _PLAIN.fullmatch(stripped):
        raise AmountError(f"{_where(field)}not a plain decimal amount: {stripped!r} (digits, one '.', an optional sign)")
    return check_amount(Decimal(stripped), decimals=decimals, field=field, integer_digits=integer_digits)


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
        if value.is_finite():  # nearly every amount: within the limits at one look at its digits
            _sign, digits, exponent = value.as_tuple()
            if exponent >= -MAX_DECIMALS and len(digits) + exponent <= MAX_INTEGER_DIGITS:  # type: ignore[operator]
                return value
        return check_amount(value)
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    if isinstance(value, int):
        return check_amount(Decimal(value))
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
        return parse_amount(text)
    except AmountError as exc:
        raise AmountError(f"not an amount: {value[:_MAX_TEXT]!r} ({exc})") from None


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
