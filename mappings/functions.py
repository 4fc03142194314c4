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

from schemas.money import AmountError, to_decimal

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


# -- converters for the ERP/CRM connectors (filedrop, sql, odoo, sap_s4, salesforce, hubspot) --
@register("parse_date")
def parse_date(value: Any, record: Any, *formats: str) -> Any:
    """A date written in one of ``formats`` (strptime; default day/month/year as in French exports).

    Dates and datetimes pass through; ISO dates are always accepted.

    >>> parse_date("31/01/2026", {})
    datetime.date(2026, 1, 31)
    >>> parse_date("2026-01-31", {}, "%d.%m.%Y")
    datetime.date(2026, 1, 31)
    >>> parse_date("31.01.26", {}, "%d.%m.%y")
    datetime.date(2026, 1, 31)
    >>> parse_date("", {}) is None
    True
    """
    import datetime as dt

    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in formats or ("%d/%m/%Y", "%d/%m/%y", "%d.%m.%Y", "%d-%m-%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return dt.date.fromisoformat(text[:10])  # ValueError -> the mapper rejects the record naming the term


@register("vat_category")
def vat_category(rate: Any, record: Any, zero_category: str = "E") -> str | None:
    """The VAT category (UNCL 5305) of a rate: ``S`` when positive, else ``zero_category``
    (``E`` exempt, ``Z`` zero-rated, ``AE`` reverse charge, ``K`` intra-EU, ``G`` export).

    >>> vat_category("5,5", {})
    'S'
    >>> vat_category("0", {}, "AE")
    'AE'
    >>> vat_category(None, {}) is None
    True
    """
    if rate is None or rate == "":
        return None
    return "S" if to_decimal(rate) > 0 else zero_category


@register("decimal_from_number")
def decimal_from_number(value: Any, record: Any) -> Decimal | None:
    """A JSON or spreadsheet number (possibly a binary float) as the Decimal it was typed as
    (its shortest repr), for rates and quantities; amounts should arrive as text or Decimal.

    >>> decimal_from_number(5.5, {})
    Decimal('5.5')
    >>> decimal_from_number(0.1, {}) + decimal_from_number(0.2, {})
    Decimal('0.3')
    """
    if value is None or value is False or value == "":
        return None
    return to_decimal(repr(value) if isinstance(value, float) else value)


@register("ref_name")
def ref_name(value: Any, record: Any) -> Any:
    """The display name of an Odoo many2one value ``[id, "name"]`` (``False`` when empty).

    >>> ref_name([3, "EUR"], {})
    'EUR'
    >>> ref_name(False, {}) is None
    True
    """
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[1]
    return None


@register("falsy_none")
def falsy_none(value: Any, record: Any) -> Any:
    """Odoo sends ``False`` for an empty field of any type: make it None.

    >>> falsy_none(False, {}) is None
    True
    >>> falsy_none("FR123", {})
    'FR123'
    """
    return None if value is False or value == "" else value


@register("discounted_price")
def discounted_price(line: Any, record: Any, price_key: str = "price_unit", discount_key: str = "discount") -> Decimal | None:
    """The net unit price (BT-146) of a line with a percentage discount: price x (1 - d/100).

    >>> discounted_price({"price_unit": Decimal("80.00"), "discount": Decimal("12.5")}, {})
    Decimal('70.00000')
    >>> discounted_price({"price_unit": Decimal("80.00"), "discount": False}, {})
    Decimal('80.00')
    """
    price = line.get(price_key) if isinstance(line, dict) else None
    if price is None or price is False:
        return None
    price = to_decimal(repr(price) if isinstance(price, float) else price)
    discount = line.get(discount_key)
    if not discount:
        return price
    discount = to_decimal(repr(discount) if isinstance(discount, float) else discount)
    return price * (1 - discount / 100)


@register("odata_datetime")
def odata_datetime(value: Any, record: Any) -> Any:
    """An OData V2 JSON date ``/Date(1767225600000)/`` or ``/Date(...+0060)/`` as an aware UTC datetime;
    ISO strings pass through. The offset suffix (minutes) is informational: the ticks are UTC.

    >>> odata_datetime("/Date(1767225600000)/", {})
    datetime.datetime(2026, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    >>> odata_datetime("/Date(1767225600000+0060)/", {}).isoformat()
    '2026-01-01T00:00:00+00:00'
    >>> odata_datetime(None, {}) is None
    True
    """
    import datetime as dt
    import re

    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value
    m = re.fullmatch(r"/Date\((-?\d+)([+-]\d{4})?\)/", str(value).strip())
    if not m:
        return dt.datetime.fromisoformat(str(value))
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=int(m.group(1)))


@register("odata_date")
def odata_date(value: Any, record: Any) -> Any:
    """An OData V2 ``Edm.DateTime`` holding a date (``/Date(1767225600000)/``) as a date.

    >>> odata_date("/Date(1767225600000)/", {})
    datetime.date(2026, 1, 1)
    """
    d = odata_datetime(value, record)
    return d.date() if d is not None else None


@register("siren_of")
def siren_of(value: Any, record: Any) -> str | None:
    """The SIREN in a French registration number: a SIREN itself (9 digits) or a SIRET (14).

    >>> siren_of("552 081 317", {}), siren_of("54206547900017", {}), siren_of("HRB 1234", {})
    ('552081317', '542065479', None)
    """
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    if len(digits) == 14:
        return digits[:9]
    return digits if len(digits) == 9 else None


@register("siret_of")
def siret_of(value: Any, record: Any) -> str | None:
    """The SIRET (14 digits) in a registration number, if it is one.

    >>> siret_of("542 065 479 00017", {}), siret_of("552081317", {})
    ('54206547900017', None)
    """
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    return digits if len(digits) == 14 else None


@register("pluck")
def pluck(items: Any, record: Any, key: str) -> list[Any]:
    """The non-empty ``key`` values of a list of dicts (bank accounts -> IBANs...).

    >>> pluck([{"iban": "FR76..."}, {"iban": False}, {"x": 1}], {}, "iban")
    ['FR76...']
    """
    return [item[key] for item in items or [] if isinstance(item, dict) and item.get(key) not in (None, False, "")]


@register("sap_tax_number")
def sap_tax_number(numbers: Any, record: Any, *types: str) -> str | None:
    """The first business-partner tax number of one of ``types`` (SAP BPTaxType: FR0 VAT id,
    FR1 SIREN, FR2 SIRET, DE0 VAT id...) in a ``{type: number}`` dict, blanks removed; a SIRET
    asked as an identifier gives its SIREN when the type list starts with a SIREN type.

    >>> sap_tax_number({"FR0": "FR 44 732829320", "FR2": "73282932000074"}, {}, "FR0")
    'FR44732829320'
    >>> sap_tax_number({"FR2": "73282932000074"}, {}, "FR1", "FR2")
    '732829320'
    """
    for kind in types:
        raw = (numbers or {}).get(kind)
        if raw:
            value = str(raw).replace(" ", "")
            if types[0] == "FR1" and kind == "FR2":
                siren: str | None = siren_of(value, record)
                return siren
            return value
    return None


@register("unit_price")
def unit_price(item: Any, record: Any, amount_key: str, quantity_key: str) -> Decimal | None:
    """The net unit price of a line that states only its amount and quantity (amount / quantity).

    >>> unit_price({"NetAmount": "350.000", "BillingQuantity": "1000.000"}, {}, "NetAmount", "BillingQuantity")
    Decimal('0.35')
    >>> unit_price({"NetAmount": "2500.000", "BillingQuantity": "2.000"}, {}, "NetAmount", "BillingQuantity")
    Decimal('1250')
    >>> unit_price({"NetAmount": "10", "BillingQuantity": "0"}, {}, "NetAmount", "BillingQuantity") is None
    True
    """
    amount, quantity = item.get(amount_key), item.get(quantity_key)
    if amount in (None, "") or quantity in (None, ""):
        return None
    q = to_decimal(quantity)
    if q == 0:
        return None
    price = to_decimal(amount) / q
    return price.quantize(Decimal(1)) if price == price.to_integral_value() else price.normalize()


@register("siren_from_vat")
def siren_from_vat(value: Any, record: Any) -> str | None:
    """The SIREN inside a French VAT id (``FR`` + 2-character key + SIREN).

    >>> siren_from_vat("FR44732829320", {}), siren_from_vat("DE136695976", {})
    ('732829320', None)
    """
    text = str(value or "").replace(" ", "").upper()
    if len(text) == 13 and text.startswith("FR") and text[4:].isdigit():
        return text[4:]
    return None


@register("add_days")
def add_days(value: Any, record: Any, days_path: str) -> Any:
    """A date plus the number of days found at ``days_path`` in the record (a due date from
    payment terms in days); None when either is missing.

    >>> import datetime as dt
    >>> add_days(dt.date(2026, 1, 9), {"terms": {"days": "30"}}, "terms.days")
    datetime.date(2026, 2, 8)
    """
    import datetime as dt

    days: Any = record
    for part in days_path.split("."):
        days = days.get(part) if isinstance(days, dict) else None
    if value is None or days in (None, ""):
        return None
    start = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return start + dt.timedelta(days=int(str(days).strip()))


@register("nonzero")
def nonzero(value: Any, record: Any) -> Decimal | None:
    """An amount where 0 means "not set" (Odoo's ``credit_limit``): None for 0, else the Decimal.

    >>> nonzero(Decimal("0.0"), {}) is None, nonzero("2500.5", {})
    (True, Decimal('2500.5'))
    """
    if value is None or value is False or value == "":
        return None
    amount = to_decimal(repr(value) if isinstance(value, float) else value)
    return None if amount == 0 else amount


def _at(record: Any, path: str) -> Any:
    """The value at a dotted ``path`` of ``record`` (dicts only), or None."""
    value = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@register("sign_like")
def sign_like(value: Any, record: Any, total_path: str) -> Decimal | None:
    """An amount with the sign turned the way of the document's total (at ``total_path``): a source
    that keeps credit notes negative (Tryton's ``amount_to_pay`` of -40 on a -50 credit note) gives
    the positive open amount of the settlement model; a value of the other sign stays visible
    (an overpaid invoice's negative open amount), it is not clamped.

    >>> sign_like("-40.00", {"total": "-50.00"}, "total"), sign_like("12.5", {"t": {"x": "50"}}, "t.x")
    (Decimal('40.00'), Decimal('12.5'))
    >>> sign_like("3", {"total": "-50"}, "total")
    Decimal('-3')
    """
    if value is None or value == "":
        return None
    amount = to_decimal(value)
    total = _at(record, total_path)
    return -amount if total not in (None, "") and to_decimal(total) < 0 else amount


@register("settlement_state")
def settlement_state(record: Any, root: Any, open_path: str, total_path: str, state_path: str, *cancelled: str) -> str:
    """open / partial / paid / cancelled from a source's open amount, total and state.

    ``cancelled`` names the source states that mean cancelled. Otherwise nothing left to pay (or
    less than nothing) is ``paid``, the whole total ``open`` (or more: the sync then records a
    data-quality finding), anything between ``partial``. Amounts compare by size, so a source
    that keeps credit notes negative needs nothing more.

    >>> r = {"state": "posted", "amount_to_pay": "-20", "total_amount": "-50"}
    >>> settlement_state(r, r, "amount_to_pay", "total_amount", "state", "cancelled")
    'partial'
    >>> settlement_state({**r, "amount_to_pay": "-50"}, r, "amount_to_pay", "total_amount", "state")
    'open'
    >>> settlement_state({**r, "state": "paid", "amount_to_pay": "0"}, r, "amount_to_pay", "total_amount", "state")
    'paid'
    >>> settlement_state({**r, "state": "cancelled"}, r, "amount_to_pay", "total_amount", "state", "cancelled")
    'cancelled'
    """
    if str(_at(record, state_path)) in cancelled:
        return "cancelled"
    total = _amount(_at(record, total_path) or 0)
    left = _amount(_at(record, open_path) or 0)
    if total < 0:
        total, left = -total, -left
    if left <= 0:
        return "paid"
    if left >= total:
        return "open"
    return "partial"


def _dig(item: Any, path: str) -> Any:
    for part in path.split("."):
        item = item.get(part) if isinstance(item, dict) else None
    return item


@register("operation_category")
def operation_category(items: Any, record: Any, key: str, goods: str, services: str) -> str | None:
    """The French operation category of an invoice (``goods``, ``services`` or ``both``) from
    the kind of what its lines sell: ``key`` is the dotted path of that kind in a line,
    ``goods`` and ``services`` the kinds (space-separated) that count as each. Lines of another
    kind, or with none (no product), decide nothing; None when no line decides.

    >>> lines = [{"product": {"type": "goods"}}, {"product": {"type": "service"}}, {"product": None}]
    >>> operation_category(lines, {}, "product.type", "goods assets", "service")
    'both'
    >>> operation_category(lines[1:], {}, "product.type", "goods assets", "service")
    'services'
    >>> operation_category([{"product": None}], {}, "product.type", "goods assets", "service") is None
    True
    """
    kinds = {_dig(item, key) for item in items or []}
    has_goods = bool(kinds & set(goods.split()))
    has_services = bool(kinds & set(services.split()))
    if has_goods and has_services:
        return "both"
    return "goods" if has_goods else "services" if has_services else None


@register("vat_on_debits")
def vat_on_debits(cash_basis: Any, record: Any, lines: str, key: str, services: str) -> bool:
    """Whether the invoice states the option for VAT on debits: the source keeps a cash-basis
    (VAT on receipts) flag and it is ``False`` for an invoice that sells services (a line of
    ``lines`` whose ``key`` is one of the space-separated ``services`` kinds). VAT on goods is
    due on delivery whatever the option, and an unknown flag (``None``) states nothing.

    >>> rec = {"lines": [{"product": {"type": "service"}}]}
    >>> vat_on_debits(False, rec, "lines", "product.type", "service"), vat_on_debits(True, rec, "lines", "product.type", "service")
    (True, False)
    >>> vat_on_debits(None, rec, "lines", "product.type", "service")
    False
    >>> vat_on_debits(False, {"lines": [{"product": {"type": "goods"}}]}, "lines", "product.type", "service")
    False
    """
    if cash_basis is not False:
        return False
    wanted = set(services.split())
    return any(_dig(item, key) in wanted for item in _dig(record, lines) or [])


@register("routing_address")
def routing_address(party: Any, record: Any, part: str, siren_type: str = "fr_siren", email_type: str = "email") -> str | None:
    """A buyer's electronic address (BT-49, ``part="id"``) or its scheme (BT-49-1,
    ``part="scheme"``): the SIREN under scheme 0225 when the party has one (a French company's
    line in the e-invoicing directory at SIREN level, the one every company has; BR-FR-21 wants
    BT-49 to start with the SIREN), else its first e-mail under scheme EM. ``party`` holds
    ``identifiers`` ({type, code}) and ``contact_mechanisms`` ({type, value}).

    >>> p = {"identifiers": [{"type": "fr_siren", "code": "512 348 707"}], "contact_mechanisms": [{"type": "email", "value": "a@b.example"}]}
    >>> routing_address(p, {}, "id"), routing_address(p, {}, "scheme")
    ('512348707', '0225')
    >>> q = {"identifiers": [], "contact_mechanisms": [{"type": "email", "value": "a@b.example"}]}
    >>> routing_address(q, {}, "id"), routing_address(q, {}, "scheme")
    ('a@b.example', 'EM')
    """
    if not isinstance(party, dict):
        return None
    siren = identifier(party.get("identifiers"), record, siren_type)
    if siren:
        return siren if part == "id" else "0225"
    email = contact(party.get("contact_mechanisms"), record, email_type)
    if email:
        return email if part == "id" else "EM"
    return None


# -- customer master (docs/customer-master.md) ---------------------------------------------------
@register("language_tag")
def language_tag_of(value: Any, record: Any) -> str | None:
    """A source's language code (Tryton ``fr``, Odoo ``fr_FR``, SAP ``FR``) as a BCP 47 tag; Odoo's
    ``False`` is no language.

    >>> language_tag_of("fr_FR", {}), language_tag_of("DE", {}), language_tag_of(False, {})
    ('fr-FR', 'de', None)
    """
    from schemas.party import language_tag

    return None if value is False else language_tag(value)


@register("contact_list")
def contact_list(items: Any, record: Any, name_key: str = "name", email_key: str = "email", phone_key: str = "phone") -> list[dict[str, str]]:
    """Canonical contacts ({name, email, phone}) from a list of records, with the keys the source
    uses; empty values (and Odoo's ``False``) left out, and an entry with neither e-mail nor phone
    dropped (no one to send a reminder to).

    >>> contact_list([{"name": "AP", "email": "ap@x.example", "phone": False}, {"name": "Nobody", "email": False}], {})
    [{'name': 'AP', 'email': 'ap@x.example'}]
    """
    out = []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        contact = {k: str(item[src]).strip() for k, src in (("name", name_key), ("email", email_key), ("phone", phone_key))
                   if item.get(src) not in (None, False, "") and str(item[src]).strip()}
        if "email" in contact or "phone" in contact:
            out.append(contact)
    return out


@register("negate")
def negate(value: Any, record: Any) -> bool | None:
    """``not value`` for a flag the source states (``active`` -> blocked); None stays None.

    >>> negate(False, {}), negate(True, {}), negate(None, {})
    (True, False, None)
    """
    return None if value is None else not value


@register("when_false")
def when_false(value: Any, record: Any, text: str) -> str | None:
    """``text`` when ``value`` is False (the reason going with a flag set by its absence).

    >>> when_false(False, {}, "deactivated"), when_false(True, {}, "deactivated")
    ('deactivated', None)
    """
    return text if value is False else None


@register("nonempty")
def nonempty(value: Any, record: Any) -> bool | None:
    """Whether a list has anything in it; None when the source gives no list at all (not stated).

    >>> nonempty(["Credit hold"], {}), nonempty([], {}), nonempty(None, {})
    (True, False, None)
    """
    return None if value is None else bool(value)


@register("zero_when")
def zero_when(value: Any, record: Any, state_path: str, *states: str) -> Decimal | None:
    """An amount, or 0 when the record's state (at ``state_path``) is one of ``states``: a cancelled
    document has nothing left to pay, whatever residual its source still shows on it (Odoo keeps
    the ``amount_residual`` of a cancelled invoice).

    >>> zero_when("44.31", {"state": "cancel"}, "state", "cancel"), zero_when("44.31", {"state": "posted"}, "state", "cancel")
    (Decimal('0'), Decimal('44.31'))
    >>> zero_when(None, {"state": "posted"}, "state", "cancel") is None
    True
    """
    if str(_at(record, state_path)) in states:
        return Decimal(0)
    if value is None or value == "":
        return None
    return _amount(value)


def _amount(value: Any) -> Decimal:
    """:func:`~schemas.money.to_decimal`, a value of another type (a date in an amount column of
    a spreadsheet, a float) refused as an unreadable amount: the record is quarantined, the run goes on.

    >>> _amount(__import__("datetime").date(2026, 1, 5))
    Traceback (most recent call last):
    ...
    schemas.money.AmountError: not an amount: datetime.date(2026, 1, 5)
    """
    try:
        return to_decimal(value)
    except TypeError as exc:
        raise AmountError(f"not an amount: {value!r}") from exc


@register("invoice_numbers")
def invoice_numbers_of(value: Any, record: Any, labelled: bool | str = True) -> list[str]:
    """The invoice numbers a CRM task names (:func:`schemas.promise.invoice_numbers`): on a line
    ``Invoices: A, B`` of free text (``labelled``), or a whole dedicated field. ``labelled`` may be
    the name of a record field saying which (the CRM connectors set ``invoices_labelled``).

    >>> invoice_numbers_of("Promised on the phone.\\nInvoices: FA-1; FA-2", {})
    ['FA-1', 'FA-2']
    >>> invoice_numbers_of("FA-1,FA-2", {}, False)
    ['FA-1', 'FA-2']
    >>> invoice_numbers_of("FA-1,FA-2", {"invoices_labelled": False}, "invoices_labelled")
    ['FA-1', 'FA-2']
    """
    from schemas.promise import invoice_numbers

    if isinstance(labelled, str):
        labelled = record.get(labelled) is not False if isinstance(record, dict) else True
    return invoice_numbers(None if value is None else str(value), labelled=bool(labelled))
