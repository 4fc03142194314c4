"""SAP IDoc ``INVOIC02`` (message type INVOIC) in its XML form: invoices sent by an SAP ERP.

Standard: SAP IDoc basic type INVOIC02 (documentation in transaction WE60; the XML form is
what ``XML file`` ports write: ``<INVOIC02><IDOC BEGIN="1"><EDI_DC40 SEGMENT="1">…``). One
file may hold several ``IDOC`` elements; each becomes one raw record for the mapping
``mappings/sap_idoc/invoice.yaml``. Segments read:

- ``EDI_DC40`` control record: ``DOCNUM`` (IDoc number), ``IDOCTYP``, ``MESTYP``, ``CREDAT``/``CRETIM``;
- ``E1EDK01`` header: ``CURCY`` currency, ``BSART`` document type (``INVO`` invoice, ``CRME``
  credit memo), ``BELNR``, ``ZTERM`` payment terms key, ``KUNDEUINR`` customer VAT id,
  ``EIGENUINR`` own VAT id;
- ``E1EDKA1`` partners by ``PARVW``: ``RS`` invoicing party (the seller), ``RE`` bill-to,
  ``AG`` sold-to, ``RG`` payer; ``PARTN``, ``NAME1``, ``STRAS``, ``ORT01``, ``PSTLZ``, ``LAND1``;
- ``E1EDK02`` references by ``QUALF``: ``009`` invoice number (``BELNR``, ``DATUM``), ``001``
  customer order;
- ``E1EDK18`` terms of payment: ``TAGE`` days, ``ZTERM_TXT``;
- ``E1EDP01`` items: ``POSEX``, ``MENGE``, ``MENEE`` (ISO unit), ``VPREI`` price per ``PEINH``,
  ``NETWR``, with ``E1EDP19`` (``QUALF 002`` material ``IDTNR``, ``KTEXT``), ``E1EDP26``
  (``QUALF 003`` net item value ``BETRG``) and ``E1EDP04`` (``MWSKZ`` tax code, ``MSATZ`` rate,
  ``MWSBT`` tax amount);
- ``E1EDS01`` totals by ``SUMID``: "010 Net invoice value", "011 Billed value", "005 Sales
  tax total" (SUMID domain values).

Dates are ``YYYYMMDD``. Amounts are kept as the strings written (exact); SAP writes a trailing
minus for negative values (``12.50-``), turned into a leading one here.

>>> xml = b'''<INVOIC02><IDOC BEGIN="1"><EDI_DC40 SEGMENT="1"><DOCNUM>0000000000012345</DOCNUM>
... <IDOCTYP>INVOIC02</IDOCTYP><MESTYP>INVOIC</MESTYP><CREDAT>20260110</CREDAT><CRETIM>091500</CRETIM></EDI_DC40>
... <E1EDK01 SEGMENT="1"><CURCY>EUR</CURCY><BSART>INVO</BSART><BELNR>90000001</BELNR></E1EDK01>
... <E1EDK02 SEGMENT="1"><QUALF>009</QUALF><BELNR>90000001</BELNR><DATUM>20260109</DATUM></E1EDK02>
... <E1EDP01 SEGMENT="1"><POSEX>000010</POSEX><MENGE>2.000</MENGE><MENEE>HUR</MENEE><NETWR>2500.00</NETWR>
... <E1EDP04 SEGMENT="1"><MWSKZ>A1</MWSKZ><MSATZ>20.000</MSATZ><MWSBT>500.00</MWSBT></E1EDP04></E1EDP01>
... <E1EDS01 SEGMENT="1"><SUMID>011</SUMID><SUMME>3000.00</SUMME></E1EDS01></IDOC></INVOIC02>'''
>>> [inv] = parse(xml, "t.xml")
>>> inv["number"], inv["type"], inv["date"], inv["totals"]["gross"], inv["lines"][0]["tax_rate"]
('90000001', 'INVO', datetime.date(2026, 1, 9), '3000.00', '20.000')
>>> validate(b"<ORDERS05/>", "o.xml")
Traceback (most recent call last):
...
schemas.errors.InvalidFormat: o.xml: not an INVOIC02 IDoc (root ORDERS05)
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from edi.xmlsafe import localname, parse_bytes
from schemas.errors import InvalidFormat
from schemas.money import AmountError, parse_amount

PARTNER_ROLES = {"RS": "seller", "RE": "bill_to", "AG": "sold_to", "RG": "payer", "WE": "ship_to"}


def _text(el: Any, tag: str) -> str | None:
    child = el.find(tag)
    if child is None or child.text is None:
        return None
    value = child.text.strip()
    return value or None


def _amount(value: str | None) -> str | None:
    """SAP's trailing minus: ``12.50-`` -> ``-12.50``.

    >>> _amount("12.50-"), _amount(" 3.00 "), _amount(None)
    ('-12.50', '3.00', None)
    """
    if value is None:
        return None
    value = value.strip()
    return f"-{value[:-1]}" if value.endswith("-") else value


def _decimal(value: str | None, field: str, position: str | None, where: str) -> Decimal:
    """An item amount as a Decimal (0 when absent), through :func:`schemas.money.parse_amount`:
    no exponent, no underscore, at most 14 integer digits, else the IDoc is refused naming the field."""
    if not value:
        return Decimal(0)
    try:
        return parse_amount(value)
    except AmountError as exc:
        raise InvalidFormat(f"item {position or '?'}: {exc}", document_id=where, field=field) from None


def _date(value: str | None, document_id: str) -> dt.date | None:
    if not value or value == "00000000":
        return None
    try:
        return dt.datetime.strptime(value, "%Y%m%d").date()
    except ValueError as exc:
        raise InvalidFormat(f"bad IDoc date {value!r} (YYYYMMDD)", document_id=document_id) from exc


def _fields(el: Any) -> dict[str, str]:
    return {localname(c.tag): c.text.strip() for c in el if isinstance(c.tag, str) and c.text and c.text.strip() and len(c) == 0}


def _idoc(idoc: Any, document_id: str) -> dict[str, Any]:
    control = idoc.find("EDI_DC40")
    head = idoc.find("E1EDK01")
    if control is None or head is None:
        raise InvalidFormat("IDoc without EDI_DC40 control record or E1EDK01 header", document_id=document_id)
    docnum = (_text(control, "DOCNUM") or "").lstrip("0") or None
    where = f"{document_id} IDoc {docnum}"
    parties: dict[str, dict[str, Any]] = {}
    for seg in idoc.findall("E1EDKA1"):
        role = PARTNER_ROLES.get(_text(seg, "PARVW") or "")
        if role:
            parties[role] = {k.lower(): v for k, v in _fields(seg).items()}
    refs = {(_text(seg, "QUALF") or ""): seg for seg in idoc.findall("E1EDK02")}
    invoice_ref = refs.get("009")
    terms = idoc.find("E1EDK18")
    totals = {(_text(s, "SUMID") or ""): _amount(_text(s, "SUMME")) for s in idoc.findall("E1EDS01")}
    lines = []
    breakdown: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    for item in idoc.findall("E1EDP01"):
        ids = {(_text(s, "QUALF") or ""): s for s in item.findall("E1EDP19")}
        values = {(_text(s, "QUALF") or ""): _amount(_text(s, "BETRG")) for s in item.findall("E1EDP26")}
        tax = item.find("E1EDP04")
        material = ids.get("002")
        line = {
            "position": _text(item, "POSEX"),
            "quantity": _text(item, "MENGE"),
            "unit": _text(item, "MENEE"),
            "price": _amount(_text(item, "VPREI")),
            "price_unit": _text(item, "PEINH"),
            "net_amount": values.get("003") or _amount(_text(item, "NETWR")),
            "material": _text(material, "IDTNR") if material is not None else None,
            "text": _text(material, "KTEXT") if material is not None else None,
            "tax_code": _text(tax, "MWSKZ") if tax is not None else None,
            "tax_rate": _text(tax, "MSATZ") if tax is not None else None,
            "tax_amount": _amount(_text(tax, "MWSBT")) if tax is not None else None,
        }
        lines.append(line)
        key = (line["tax_code"], line["tax_rate"])
        group = breakdown.setdefault(key, {"tax_code": key[0], "rate": key[1], "base": Decimal(0), "amount": Decimal(0)})
        net_field = "E1EDP26/BETRG" if values.get("003") else "E1EDP01/NETWR"
        group["base"] += _decimal(line["net_amount"], net_field, line["position"], where)
        group["amount"] += _decimal(line["tax_amount"], "E1EDP04/MWSBT", line["position"], where)
    created = _date(_text(control, "CREDAT"), where)
    time = _text(control, "CRETIM") or "000000"
    return {
        "docnum": docnum,
        "idoc_type": _text(control, "IDOCTYP"),
        "message_type": _text(control, "MESTYP"),
        "created": dt.datetime.combine(created, dt.time(int(time[:2]), int(time[2:4]), int(time[4:6])), dt.UTC) if created else None,
        "number": (_text(invoice_ref, "BELNR") if invoice_ref is not None else None) or _text(head, "BELNR"),
        "date": _date(_text(invoice_ref, "DATUM"), where) if invoice_ref is not None else None,
        "type": _text(head, "BSART"),
        "currency": _text(head, "CURCY"),
        "payment_terms_key": _text(head, "ZTERM"),
        "payment_days": _text(terms, "TAGE") if terms is not None else None,
        "payment_terms": _text(terms, "ZTERM_TXT") if terms is not None else None,
        "customer_order": _text(refs["001"], "BELNR") if "001" in refs else None,
        "seller_vat": _text(head, "EIGENUINR"),
        "buyer_vat": _text(head, "KUNDEUINR"),
        "parties": parties,
        "totals": {"net": totals.get("010"), "gross": totals.get("011"), "tax": totals.get("005")},
        "lines": lines,
        "taxes": [{**g, "base": str(g["base"]), "amount": str(g["amount"])} for g in breakdown.values()],
    }


def validate(data: bytes, document_id: str = "idoc") -> Any:
    """Parse and check the envelope; raise :class:`InvalidFormat` naming the file otherwise."""
    root = parse_bytes(data, document_id)
    if localname(root.tag) != "INVOIC02":
        raise InvalidFormat(f"not an INVOIC02 IDoc (root {localname(root.tag)})", document_id=document_id)
    if not root.findall("IDOC"):
        raise InvalidFormat("no IDOC element in the file", document_id=document_id)
    return root


def parse(data: bytes, document_id: str = "idoc") -> list[dict[str, Any]]:
    """One raw invoice record per ``IDOC`` of the file."""
    root = validate(data, document_id)
    return [_idoc(idoc, document_id) for idoc in root.findall("IDOC")]
