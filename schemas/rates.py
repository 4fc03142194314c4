"""Currency rates as an ERP keeps them, and converting an amount into the company currency.

A :class:`RateTable` holds, per ISO 4217 currency, its rates by the date from which each applies,
in one convention: the number of units of the currency for one unit of a base whose rate is 1
(Tryton's ``currency.currency.rate``: the company currency is usually that base, EUR 1 and USD
1.0850 means 1 EUR = 1.0850 USD). Converting works as the ERP does (Tryton's
``Currency.compute``: ``amount * to.rate / from.rate``), with the latest rate on or before the
date of each of the two currencies; without a rate for either, there is no conversion (None),
never a guess.

>>> table = RateTable("EUR", {"EUR": [(dt.date(2025, 1, 1), Decimal("1"))],
...                           "USD": [(dt.date(2025, 1, 1), Decimal("1.0850")), (dt.date(2026, 3, 1), Decimal("1.25"))]})
>>> table.convert(Decimal("108.50"), "USD", dt.date(2026, 2, 28))
Decimal('100.00')
>>> table.convert(Decimal("125.00"), "USD", dt.date(2026, 3, 1))
Decimal('100.00')
>>> table.convert(Decimal("10.00"), "USD", dt.date(2024, 12, 31)) is None  # no rate yet on that day
True
>>> table.convert(Decimal("10.00"), "GBP", dt.date(2026, 3, 1)) is None, table.convert(Decimal("7.5"), "EUR", dt.date(2000, 1, 1))
(True, Decimal('7.50'))
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal

from schemas.money import minor_units


class RateTable:
    """The rates of one company: ``company_currency`` and, per currency, (date, rate) pairs."""

    def __init__(self, company_currency: str | None, rates: Mapping[str, Iterable[tuple[dt.date, Decimal]]] | None = None) -> None:
        self.company_currency = company_currency
        self._days: dict[str, list[dt.date]] = {}
        self._rates: dict[str, list[Decimal]] = {}
        for currency, pairs in (rates or {}).items():
            ordered = sorted((d, Decimal(r)) for d, r in pairs if Decimal(r) > 0)
            self._days[currency] = [d for d, _ in ordered]
            self._rates[currency] = [r for _, r in ordered]

    def __bool__(self) -> bool:
        return self.company_currency is not None

    @property
    def currencies(self) -> tuple[str, ...]:
        return tuple(sorted(self._rates))

    def rate(self, currency: str, on_date: dt.date) -> Decimal | None:
        """The rate of ``currency`` applying on ``on_date``: the latest one dated on or before it."""
        days = self._days.get(currency)
        if not days:
            return None
        i = bisect.bisect_right(days, on_date)
        return self._rates[currency][i - 1] if i else None

    def factor(self, currency: str, on_date: dt.date) -> Decimal | None:
        """What one unit of ``currency`` is worth in the company currency on ``on_date``; None
        without a rate for either currency (1 for the company currency itself)."""
        if self.company_currency is None:
            return None
        if currency == self.company_currency:
            return Decimal(1)
        own, company = self.rate(currency, on_date), self.rate(self.company_currency, on_date)
        if own is None or company is None:
            return None
        return company / own

    def can_convert(self, currency: str, on_date: dt.date) -> bool:
        return self.factor(currency, on_date) is not None

    def convert(self, amount: Decimal, currency: str, on_date: dt.date, *, rounded: bool = True) -> Decimal | None:
        """``amount`` of ``currency`` in the company currency at the rates of ``on_date`` (rounded
        half-even to the company currency's minor unit unless ``rounded=False``); None when a
        rate is missing."""
        factor = self.factor(currency, on_date)
        if factor is None:
            return None
        value = Decimal(amount) * factor
        if not rounded:
            return value
        assert self.company_currency is not None
        return value.quantize(Decimal(1).scaleb(-minor_units(self.company_currency)), rounding=ROUND_HALF_EVEN)


def convert(table: RateTable | None, amount: Decimal, currency: str, on_date: dt.date) -> Decimal | None:
    """``table.convert(amount, currency, on_date)``, None without a table."""
    return None if table is None else table.convert(amount, currency, on_date)
