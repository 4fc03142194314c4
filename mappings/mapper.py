"""The generic mapping engine: a source record (a dict) + a YAML mapping -> a canonical record.

A mapping file (``mappings/<source>/<document>.yaml``) is data, keyed by EN 16931 business
terms for invoices and by canonical field paths for customers and settlements (:data:`DOCUMENTS`)::

    version: 1
    document: invoice            # invoice | customer | settlement | promise
    source_id: id                # path of the record's id in the source
    updated_at: write_date       # path of its last-change timestamp (the watermark)
    credit_note_sign: negative   # the source stores credit notes with negative amounts
    tables:
      units: {u: C62, kg: KGM}
    terms:
      BT-1:  {from: number}
      BT-2:  {from: invoice_date, as: date}
      BT-3:  {fn: tryton_type_code}
      BT-130: {from: unit.symbol, table: units, default: C62}
    groups:
      BG-25:
        from: lines
        terms: {BT-126: {from: id, as: str}}

A term spec takes ``from`` (a dotted path; integer segments index lists), ``value`` (a
constant), ``fn`` (a named function of :mod:`mappings.functions`, with ``args``), ``as`` (a converter:
str, date, datetime, decimal, quantity, int, bool, upper, digits), ``table``, ``default`` and
``required``. A settlement mapping (``document: settlement``) fills the fields of
:class:`schemas.settlement.Settlement` (``invoice_id`` defaults to the record's id) and has one
group, ``lines``, filling :class:`~schemas.settlement.SettlementLine` (``id``, ``kind``, ``amount``,
``date``, ``reference``). A promise mapping (``document: promise``) fills :class:`schemas.promise.Promise`
(a CRM task recording a promise to pay; ``task_id`` defaults to the record's id). An optional top-level ``reject_if: <path>`` rejects any record that has a value
at that path, with the value as the reason (a connector's marker for an unreadable file or row,
e.g. ``_error`` from :mod:`connectors.filedrop`). Loading checks every key and names the file and key of any error; mapping a
record that cannot be mapped raises :class:`~schemas.errors.RejectedDocument` naming the
record and the business term.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import yaml
from pydantic import ValidationError

from mappings import functions
from mappings.terms import (
    CUSTOMER_FIELDS,
    GROUP_TERMS,
    INVOICE_TERMS,
    PROMISE_FIELDS,
    SETTLEMENT_FIELDS,
    SETTLEMENT_GROUPS,
    SIGNED_PATHS,
)
from schemas.errors import ConfigError, RejectedDocument
from schemas.invoice import Invoice
from schemas.jsonio import from_json
from schemas.money import AmountError, to_decimal
from schemas.party import Customer
from schemas.promise import Promise
from schemas.settlement import Settlement

MAPPINGS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class DocumentKind:
    """What a mapping's ``document:`` maps to: the canonical model, the keys its ``terms`` may use
    (each with the canonical path it fills), its repeating groups and what a key is called in messages."""

    model: type[Any]
    fields: dict[str, str]
    groups: dict[str, tuple[str, dict[str, str]]]
    key_label: str


DOCUMENTS: dict[str, DocumentKind] = {
    "invoice": DocumentKind(Invoice, INVOICE_TERMS, GROUP_TERMS, "EN 16931 business term"),
    "customer": DocumentKind(Customer, {k: k for k in CUSTOMER_FIELDS}, {}, "customer field"),
    "settlement": DocumentKind(Settlement, {k: k for k in SETTLEMENT_FIELDS}, SETTLEMENT_GROUPS, "settlement field"),
    "promise": DocumentKind(Promise, {k: k for k in PROMISE_FIELDS}, {}, "promise field"),
}


class TermSpec(TypedDict, total=False):
    """One business term: where its value comes from and how it is converted."""

    # ``from`` is a Python keyword: the key is spelled ``from`` in YAML and read with .get()
    value: Any
    fn: str
    table: str
    default: Any
    required: bool


class GroupSpec(TypedDict):
    terms: dict[str, TermSpec]


class MappingFile(TypedDict):
    """The shape of a mapping file, checked by :func:`load_mapping`."""

    version: int
    document: str
    source_id: str
    updated_at: NotRequired[str]
    credit_note_sign: NotRequired[str]
    reject_if: NotRequired[str]
    tables: NotRequired[dict[str, dict[str, Any]]]
    terms: dict[str, TermSpec]
    groups: NotRequired[dict[str, GroupSpec]]


TERM_KEYS = {"from", "value", "fn", "args", "as", "table", "default", "required"}
TOP_KEYS = {"version", "document", "source_id", "updated_at", "credit_note_sign", "tables", "terms", "groups", "description",
            "reject_if"}


def _to_date(v: Any) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(str(v)[:10])


def _to_datetime(v: Any) -> dt.datetime:
    d = v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(str(v))
    return d if d.tzinfo else d.replace(tzinfo=dt.UTC)


def _to_str(v: Any) -> str | None:
    s = str(v).strip()
    return s or None


def _to_quantity(v: Any) -> Decimal:
    """Quantities may come as binary floats (Tryton's Float fields); their shortest repr is exact
    for values typed in decimal. Money never goes through here: amounts refuse floats."""
    return to_decimal(repr(v) if isinstance(v, float) else v)


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "quantity": _to_quantity,
    "str": _to_str,
    "date": _to_date,
    "datetime": _to_datetime,
    "decimal": to_decimal,
    "int": int,
    "bool": bool,
    "upper": lambda v: str(v).strip().upper() or None,
    "digits": lambda v: "".join(ch for ch in str(v) if ch.isdigit()) or None,
}


class MappingError(ConfigError):
    """A mapping file is invalid; the message names the file and the key."""


@lru_cache(maxsize=4096)
def _path_parts(path: str) -> tuple[tuple[str, int | None], ...]:
    """A dotted path split once (mapping paths are few; records are many)."""
    return tuple((part, int(part) if part.lstrip("-").isdigit() else None) for part in path.split("."))


def _resolve(record: Any, path: str) -> Any:
    cur = record
    for part, idx in _path_parts(path):
        if cur is None:
            return None
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, (list, tuple)) and idx is not None:
            cur = cur[idx] if -len(cur) <= idx < len(cur) else None
        else:
            return None
    return cur


def _set(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def _getter(path: str) -> Callable[[Any], Any]:
    """:func:`_resolve` for one path, split once: a mapping applies the same paths to every record."""
    parts = _path_parts(path)
    if len(parts) == 1 and parts[0][1] is None:
        name = parts[0][0]
        return lambda record: record.get(name) if isinstance(record, dict) else None
    if all(idx is None for _, idx in parts):  # dict keys only (company.party.name)
        names = tuple(part for part, _ in parts)

        def get(record: Any) -> Any:
            cur = record
            for name in names:
                if not isinstance(cur, dict):
                    return None
                cur = cur.get(name)
            return cur

        return get
    return lambda record: _resolve(record, path)


ValueFn = Callable[[Any, Any, str], Any]
"""A compiled term: (record or group element, whole record, record label) -> value."""


def _compile_term(spec: dict[str, Any], term: str, tables: dict[str, dict[str, Any]], mapping_name: str) -> ValueFn:
    """One term spec as a function: what :meth:`Mapping._value` does, with the spec read once."""
    has_value, const = "value" in spec, spec.get("value")
    fname = spec.get("fn")
    get = _getter(spec["from"]) if "from" in spec else None
    args = tuple(spec.get("args", []))
    table_name = spec.get("table")
    table = tables[table_name] if table_name is not None else None
    conv_name = spec.get("as")
    conv = CONVERTERS[conv_name] if conv_name is not None else None
    has_default, default = "default" in spec, spec.get("default")
    required = bool(spec.get("required"))
    source_label = spec.get("from", spec.get("fn"))
    lookup = functions.get
    if get is not None and not has_value and fname is None and table is None and not has_default and not required:
        # the common term, {from: path} or {from: path, as: converter}: one lookup, one conversion
        if conv is None:
            return lambda record, root, rid: get(record)

        def converted(record: Any, root: Any, rid: str) -> Any:
            value = get(record)
            if value is None:
                return None
            try:
                return conv(value)
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise RejectedDocument(f"cannot read {value!r} as {conv_name} ({exc})", document_id=rid, field=term) from exc

        return converted

    def value_of(record: Any, root: Any, rid: str) -> Any:
        if has_value:
            value = const
        elif fname is not None:
            arg = get(record) if get is not None else record
            try:
                value = lookup(fname)(arg, root, *args)
            except (AmountError, ArithmeticError) as exc:  # an absurd amount in the record: refuse this record only
                raise RejectedDocument(f"{fname}: {exc}", document_id=rid, field=term) from None
        else:
            value = get(record)  # type: ignore[misc]
        if value is not None and table is not None:
            key = str(value)
            if key not in table:
                if has_default:
                    value = default
                else:
                    raise RejectedDocument(f"value {key!r} is not in table {table_name!r} of {mapping_name}",
                                           document_id=rid, field=term)
            else:
                value = table[key]
        if value is not None and conv is not None:
            try:
                value = conv(value)
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise RejectedDocument(f"cannot read {value!r} as {conv_name} ({exc})", document_id=rid, field=term) from exc
        if value is None:
            if has_default:
                value = default
            if value is None and required:
                raise RejectedDocument(f"required value is missing (from {source_label!r})", document_id=rid, field=term)
        return value

    return value_of


@dataclass
class _Compiled:
    """A mapping's terms as functions, with where each value goes: built once per :class:`Mapping`."""

    terms: list[tuple[str, ValueFn]]
    targets: dict[str, tuple[tuple[str, ...], str | None]]  # term -> (canonical path split, its identifier term if a scheme)
    groups: list[tuple[str, Any, str, list[tuple[str, ValueFn]]]]  # (list attribute, source getter, name, (field, fn))


@dataclass
class GroupMap:
    """A repeating group (lines, VAT breakdown...): the source list and the terms of one element."""

    list_attr: str
    source_path: str
    terms: dict[str, dict[str, Any]]


@dataclass
class Mapping:
    """A checked mapping file, ready to apply to source records."""

    path: Path
    document: str
    source_id: str
    updated_at: str | None
    credit_note_sign: str
    tables: dict[str, dict[str, Any]]
    terms: dict[str, dict[str, Any]]
    groups: dict[str, GroupMap] = field(default_factory=dict)
    reject_if: str | None = None
    fingerprint: str | None = None  # of the file's text and of the mapping code (see code_fingerprint); None: unknown
    _compiled: _Compiled | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    def _compile(self) -> _Compiled:
        """The terms compiled once (paths split, converters and tables looked up): mapping paths are
        few, records are many."""
        kind = DOCUMENTS[self.document]
        name = self.name
        terms = [(term, _compile_term(spec, term, self.tables, name)) for term, spec in self.terms.items()]
        targets = {term: (tuple(kind.fields[term].split(".")),
                          term[:-2] if term.count("-") == 2 and term.endswith("-1") else None) for term in self.terms}
        groups = [(gmap.list_attr, _getter(gmap.source_path), group,
                   [(kind.groups[group][1][term], _compile_term(spec, f"{group}/{term}", self.tables, name))
                    for term, spec in gmap.terms.items()])
                  for group, gmap in self.groups.items()]
        self._compiled = _Compiled(terms, targets, groups)
        return self._compiled

    # -- applying -------------------------------------------------------------------------
    def record_id(self, record: dict[str, Any]) -> str:
        rid = _resolve(record, self.source_id)
        if rid is None:
            raise RejectedDocument(f"the record has no id at {self.source_id!r} ({self.name})", field="source_id")
        return str(rid)

    def to_dict(self, record: dict[str, Any], source: str) -> dict[str, Any]:
        """The canonical JSON structure for ``record`` (before type checking)."""
        rid = self.record_id(record)
        label = f"{source}:{rid}"
        marker = _resolve(record, self.reject_if) if self.reject_if else None
        if marker not in (None, "", [], {}):
            raise RejectedDocument(str(marker), document_id=label, field=self.reject_if)
        out: dict[str, Any] = {}
        compiled = self._compiled or self._compile()
        values = {term: fn(record, record, label) for term, fn in compiled.terms}
        targets = compiled.targets
        for term, value in values.items():
            if value is None:
                continue
            parts, identifier = targets[term]
            if identifier is not None and values.get(identifier) is None:
                continue  # a scheme (BT-x-1) only goes with its identifier BT-x
            target = out
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = value
        for list_attr, get_list, _group, gterms in compiled.groups:
            items = []
            for element in get_list(record) or []:
                item: dict[str, Any] = {}
                for attr, fn in gterms:
                    value = fn(element, record, label)
                    if value is not None:
                        item[attr] = value
                items.append(item)
            out[list_attr] = items
        updated = _resolve(record, self.updated_at) if self.updated_at else None
        if self.document == "settlement":
            out.setdefault("invoice_id", rid)
        if self.document == "promise":
            out.setdefault("task_id", rid)
        out["source"] = {"system": source, "id": rid, "updated_at": _to_datetime(updated) if updated else None}
        try:
            if self.document == "invoice" and self.credit_note_sign == "negative":
                _flip_credit_note(out)
            if self.document == "invoice" and out.get("vat_breakdown"):
                out["vat_breakdown"] = merge_vat_breakdown(out["vat_breakdown"])
        except (AmountError, ArithmeticError) as exc:  # an amount left unconverted by the mapping was absurd
            raise RejectedDocument(f"unreadable amount: {exc}", document_id=label) from None
        return out

    def apply(self, record: dict[str, Any], source: str) -> Invoice | Customer | Settlement | Promise:
        """Map ``record`` to a canonical :class:`Invoice`, :class:`Customer`, :class:`Settlement` or :class:`Promise`."""
        data = self.to_dict(record, source)
        model = DOCUMENTS[self.document].model
        try:
            return from_json(model, data)
        except ValidationError as exc:
            err = exc.errors()[0]
            path = ".".join(str(p) for p in err["loc"])
            raise RejectedDocument(f"{err['msg']} (canonical field {path})", document_id=f"{source}:{data['source']['id']}",
                                   field=term_for_path(path) or path) from exc


def _flip_credit_note(out: dict[str, Any]) -> None:
    """A source that stores credit notes negative: make BT-3 381 and amounts positive."""
    payable = _resolve(out, "totals.payable")
    if payable is None or to_decimal(payable) >= 0:
        return
    if out.get("type_code") in (None, "380"):
        out["type_code"] = "381"
    for path in SIGNED_PATHS:
        head, _, leaf = path.rpartition(".")
        holder = _resolve(out, head)
        for obj in holder if isinstance(holder, list) else [holder]:
            if isinstance(obj, dict) and obj.get(leaf) is not None:
                obj[leaf] = -to_decimal(obj[leaf])
    for line in out.get("lines", []):
        # EN 16931 credit notes carry positive quantities and prices
        if line.get("net_price") is not None and to_decimal(line["net_price"]) < 0:
            line["net_price"] = -to_decimal(line["net_price"])


def merge_vat_breakdown(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One BG-23 per VAT category, rate and exemption code, as EN 16931 requires (BR-S-08...).

    Sources often keep several taxes with the same rate (French charts split goods and services
    at 20 %); their bases and amounts are added up.

    >>> merge_vat_breakdown([{"category": "S", "rate": "20", "taxable_amount": "100", "tax_amount": "20"},
    ...                      {"category": "S", "rate": "20", "taxable_amount": "50.5", "tax_amount": "10.1"}])
    [{'category': 'S', 'rate': '20', 'taxable_amount': Decimal('150.5'), 'tax_amount': Decimal('30.1')}]
    """
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in items:
        rate = item.get("rate")
        key = (item.get("category"), None if rate is None else to_decimal(rate), item.get("exemption_reason_code"))
        if key not in merged:
            merged[key] = dict(item)
            continue
        into = merged[key]
        for amount in ("taxable_amount", "tax_amount"):
            into[amount] = to_decimal(into.get(amount) or 0) + to_decimal(item.get(amount) or 0)
        if item.get("exemption_reason") and not into.get("exemption_reason"):
            into["exemption_reason"] = item["exemption_reason"]
    for into in merged.values():
        for amount in ("taxable_amount", "tax_amount"):
            if amount in into and not isinstance(into[amount], Decimal):
                into[amount] = to_decimal(into[amount])
    return list(merged.values())


def term_for_path(path: str) -> str | None:
    for term, p in INVOICE_TERMS.items():
        if p == path:
            return term
    parts = path.split(".")
    for group, (attr, gterms) in GROUP_TERMS.items():
        if parts and parts[0] == attr and len(parts) >= 3:
            for term, p in gterms.items():
                if p == parts[2]:
                    return f"{group}/{term} (line {int(parts[1]) + 1})"
    return None


# -- loading and checking ----------------------------------------------------------------
def _check_term(where: str, term: str, spec: Any, tables: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise MappingError(f"{where}: {term}: expected a mapping like {{from: field}}, got {spec!r}")
    unknown = set(spec) - TERM_KEYS
    if unknown:
        raise MappingError(f"{where}: {term}: unknown key(s) {sorted(unknown)} (allowed: {sorted(TERM_KEYS)})")
    if not ({"from", "value", "fn"} & set(spec)):
        raise MappingError(f"{where}: {term}: needs one of 'from', 'value' or 'fn'")
    if "as" in spec and spec["as"] not in CONVERTERS:
        raise MappingError(f"{where}: {term}: unknown converter {spec['as']!r} (known: {sorted(CONVERTERS)})")
    if "table" in spec and spec["table"] not in tables:
        raise MappingError(f"{where}: {term}: table {spec['table']!r} is not defined under 'tables'")
    if "args" in spec and ("fn" not in spec or not isinstance(spec["args"], list)):
        raise MappingError(f"{where}: {term}: 'args' must be a list and needs 'fn'")
    if "fn" in spec and not functions.exists(spec["fn"]):
        raise MappingError(f"{where}: {term}: unknown function {spec['fn']!r} (known: {functions.names()})")
    return spec


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file; :class:`MappingError` names the file and key."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{where}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise MappingError(f"{where}: cannot read: {exc}") from exc
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: expected a mapping at the top level")
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise MappingError(f"{where}: unknown top-level key(s) {sorted(unknown)}")
    for key in ("version", "document", "source_id", "terms"):
        if key not in raw:
            raise MappingError(f"{where}: missing required key {key!r}")
    if raw["version"] != 1:
        raise MappingError(f"{where}: version: only version 1 is known, got {raw['version']!r}")
    document = raw["document"]
    if document not in DOCUMENTS:
        raise MappingError(f"{where}: document: must be one of {', '.join(map(repr, DOCUMENTS))}, got {document!r}")
    sign = raw.get("credit_note_sign", "positive")
    if sign not in ("positive", "negative"):
        raise MappingError(f"{where}: credit_note_sign: must be 'positive' or 'negative'")
    tables = raw.get("tables") or {}
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise MappingError(f"{where}: tables: each table must be a mapping of source value to canonical value")
    tables = {name: {str(k): v for k, v in t.items()} for name, t in tables.items()}
    kind = DOCUMENTS[document]
    terms: dict[str, dict[str, Any]] = {}
    for term, spec in (raw["terms"] or {}).items():
        if term not in kind.fields:
            raise MappingError(f"{where}: terms.{term}: unknown {kind.key_label}")
        terms[term] = _check_term(f"{where}: terms", term, spec, tables)
    groups: dict[str, GroupMap] = {}
    for group, gspec in (raw.get("groups") or {}).items():
        if group not in kind.groups:
            raise MappingError(f"{where}: groups.{group}: unknown group (known: {sorted(kind.groups)})")
        if not isinstance(gspec, dict) or "from" not in gspec or "terms" not in gspec:
            raise MappingError(f"{where}: groups.{group}: needs 'from' (the list in the record) and 'terms'")
        gterms = {}
        for term, spec in gspec["terms"].items():
            if term not in kind.groups[group][1]:
                raise MappingError(f"{where}: groups.{group}.terms.{term}: not a term of {group}")
            gterms[term] = _check_term(f"{where}: groups.{group}.terms", term, spec, tables)
        groups[group] = GroupMap(kind.groups[group][0], gspec["from"], gterms)
    reject_if = raw.get("reject_if")
    if reject_if is not None and not isinstance(reject_if, str):
        raise MappingError(f"{where}: reject_if: must be a field path (a string), got {reject_if!r}")
    code = code_fingerprint()
    fingerprint = hashlib.sha256(f"{code}\n{text}".encode()).hexdigest() if code else None
    return Mapping(path=path, document=document, source_id=raw["source_id"], updated_at=raw.get("updated_at"),
                   credit_note_sign=sign, tables=tables, terms=terms, groups=groups, reject_if=reject_if,
                   fingerprint=fingerprint)


@lru_cache(maxsize=1)
def code_fingerprint() -> str | None:
    """sha256 of the code that turns a source record into a stored canonical one: the mapping engine,
    its functions (``mappings/*.py``) and the canonical model with its checks (``schemas/*.py``).

    With the mapping file's text it makes :attr:`Mapping.fingerprint`: a sync keeps it, hashed with
    each raw record, beside the stored row and does not map a record again while record, mapping file
    and this code are unchanged. None when the sources cannot be read (then every record is mapped).
    """
    files = sorted([*MAPPINGS_DIR.glob("*.py"), *(MAPPINGS_DIR.parent / "schemas").glob("*.py")])
    if not files:
        return None
    digest = hashlib.sha256()
    try:
        for file in files:
            digest.update(f"{file.parent.name}/{file.name}\n".encode())
            digest.update(file.read_bytes())
    except OSError:
        return None
    return digest.hexdigest()


def mapping_path(source_kind: str, document: str) -> Path:
    return MAPPINGS_DIR / source_kind / f"{document}.yaml"


def all_mapping_files() -> list[Path]:
    return sorted(MAPPINGS_DIR.glob("*/*.yaml"))
