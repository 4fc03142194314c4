"""The connector protocol: what every ERP/CRM connector offers, and the HTTP error policy.

A connector pulls raw records of a stream (``invoices``, ``customers``) changed in a fixed
window ``(since, until]``, in batches; the sync commits each batch and advances the watermark
after it, so a failed run resumes from the last committed batch.

A connector declares what it is, so that nothing downstream guesses (the contract suite,
``tests/connectors/test_contract.py``, checks the declarations against what it returns):

- per stream it offers, a :class:`StreamSpec`: the record field(s) of its primary key (the id
  the sync quarantines a rejected record under, and the id a corrected version supersedes) and
  its cursor field (the aware datetime the window reads; batch watermarks are its values);
- its write-back :class:`Capabilities` (payments, credit holds, notes, statuses, CRM fields):
  what it really implements. A write-back entry point it does not declare raises
  :class:`NotSupported`.

Connectors never read secrets themselves: they get a :class:`ConnectionInfo` built by the
Airflow hook (``o2c_airflow.hooks``) from an Airflow connection, or by :mod:`o2c.sources` from an
environment variable outside Airflow.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Protocol, runtime_checkable

from schemas.errors import ConfigError, FatalError, OutcomeUnknown, RetriableError
from schemas.money import AmountError, check_amount, parse_amount

log = logging.getLogger(__name__)


class NotSupported(FatalError):
    """The connector does not offer this operation."""


@dataclass(frozen=True)
class ConnectionInfo:
    """Where and how to reach a system: what an Airflow connection holds."""

    host: str
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None  # database name, tenant, path prefix
    scheme: str = "http"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{self.host}{port}/"

    @classmethod
    def from_uri(cls, uri: str, *, setting: str = "the connection URI") -> ConnectionInfo:
        """Parse an Airflow-style connection URI (``tryton://admin:pw@127.0.0.1:8000/demo?x=1``).

        Query parameters become extras; Airflow's ``__extra__`` parameter holds them as one JSON
        object. Errors are :class:`ConfigError` naming ``setting`` (the variable the URI came
        from) and never repeating the URI, which holds the password.
        """
        from urllib.parse import parse_qsl, unquote, urlsplit

        parts = urlsplit(uri)
        try:
            port = parts.port
        except ValueError:  # not repeated: a password with an unencoded '/' or '#' ends up here
            raise ConfigError(f"{setting}: the port is not a number from 0 to 65535; write kind://login:password@host:port/database "
                              "(percent-encode ':', '/', '@', '?' and '#' in the login and password)") from None
        if not parts.hostname:
            raise ConfigError(f"{setting}: the URI has no host; write kind://login:password@host:port/database")
        extra: dict[str, Any] = dict(parse_qsl(parts.query))
        if "__extra__" in extra:
            extra.update(_json_object(extra.pop("__extra__"), f"{setting}: the __extra__ parameter", _EXTRA_EXAMPLE))
        return cls(
            host=parts.hostname,
            port=port,
            login=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            schema=parts.path.lstrip("/") or None,
            scheme=_scheme(parts.scheme, extra),
            extra=extra,
        )

    @classmethod
    def from_json(cls, value: str, *, setting: str) -> ConnectionInfo:
        """Parse Airflow's JSON form of a connection (``{"conn_type": "sftp", "host": ..., "port": 22,
        "login": ..., "password": ..., "schema": ..., "extra": {...}}``; ``extra`` may also be a
        string holding a JSON object). The host may be empty (a bank's configuration can give it).
        """
        conn = _json_object(value, setting, _CONNECTION_EXAMPLE)
        extra = conn.get("extra") or {}
        if isinstance(extra, str):
            extra = _json_object(extra, f'{setting}: its "extra"', _EXTRA_EXAMPLE)
        elif not isinstance(extra, dict):
            raise ConfigError(f'{setting}: "extra" must be a JSON object such as {_EXTRA_EXAMPLE}')
        port = conn.get("port")
        if port in (None, ""):
            port = None
        elif isinstance(port, bool) or not str(port).isdigit() or int(port) > 65535:
            raise ConfigError(f'{setting}: "port" must be a number from 0 to 65535, e.g. "port": 22')
        fields = {k: conn.get(k) for k in ("host", "login", "password", "schema", "conn_type")}
        bad = sorted(k for k, v in fields.items() if v is not None and not isinstance(v, str))
        if bad:
            raise ConfigError(f"{setting}: {', '.join(repr(k) for k in bad)} must be text (a JSON string)")
        return cls(host=fields["host"] or "", port=int(port) if port is not None else None, login=fields["login"] or None,
                   password=fields["password"], schema=fields["schema"] or None, scheme=_scheme(fields["conn_type"] or "", extra),
                   extra=extra)

    @classmethod
    def from_setting(cls, value: str, setting: str) -> ConnectionInfo:
        """The connection held by the variable ``setting`` (``O2C_CONN_<ID>``): a URI or Airflow's JSON form."""
        value = value.strip()
        return cls.from_json(value, setting=setting) if value.startswith("{") else cls.from_uri(value, setting=setting)


def _scheme(kind: str, extra: dict[str, Any]) -> str:
    """``https`` for a connection type ending in ``s`` (but ``tryton``), unless extra ``__scheme`` says."""
    return str(extra.pop("__scheme", None) or ("https" if kind.endswith("s") and kind != "tryton" else "http"))


_CONNECTION_EXAMPLE = ('{"conn_type": "sftp", "host": "sftp.example.com", "port": 22, "login": "hub", '
                       '"extra": {"key_file": "/path/to/key", "host_key": "ssh-ed25519 AAAA..."}}')
_EXTRA_EXAMPLE = '{"key_file": "/path/to/key", "host_key": "ssh-ed25519 AAAA..."}'


def _json_object(text: str, what: str, example: str) -> dict[str, Any]:
    """``text`` as a JSON object, or a :class:`ConfigError` naming ``what`` (never the text: it may hold a password)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not valid JSON ({exc.msg} at character {exc.pos}); write a JSON object such as {example}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a JSON object such as {example}, not a JSON {type(value).__name__}")
    return value


@dataclass
class Batch:
    """Raw records of one page, and the watermark reached once they are committed."""

    records: list[dict[str, Any]]
    watermark: dt.datetime | None
    cursor: str | None = None


@dataclass(frozen=True)
class StreamSpec:
    """What a connector declares about one stream it offers.

    ``primary_key``: the record field(s) whose value identifies a record in the source system
    (``id``, ``Id``, ``BillingDocument``): the mapping's ``source_id`` reads the same field, so a
    record quarantined under it is superseded when a corrected version is stored. ``cursor_field``:
    the record field holding the aware UTC datetime of its last change, the one the window
    ``(since, until]`` reads and batch watermarks are taken from. ``changed_on`` says, for people,
    which field of the source system that is (``SystemModstamp``, ``write_date``...).

    >>> spec = StreamSpec("invoices", ("BillingDocument",), changed_on="LastChangeDateTime")
    >>> spec.record_id({"BillingDocument": "90000001"}), spec.record_id({"id": 7})
    ('90000001', None)
    >>> StreamSpec("lines", ("invoice", "line")).record_id({"invoice": 7, "line": 2})
    '7/2'
    """

    name: str
    primary_key: tuple[str, ...]
    cursor_field: str = "updated_at"
    changed_on: str = ""

    def __post_init__(self) -> None:
        if not self.primary_key or not all(self.primary_key):
            raise ValueError(f"stream {self.name!r}: a primary key names at least one field")

    def record_id(self, record: Mapping[str, Any]) -> str | None:
        """The record's id in the source, as text (the fields of a composite key joined by ``/``);
        None when a key field is missing or empty."""
        values = [record.get(f) for f in self.primary_key]
        if any(v is None or v == "" for v in values):
            return None
        return "/".join(str(v) for v in values)


@dataclass(frozen=True)
class Capabilities:
    """The write-back a connector implements today (every flag defaults to no).

    A flag per :data:`schemas.receivables.WriteBackKind` (:data:`WRITE_METHODS` names the connector
    methods behind each): ``payments`` (``push_payment`` and ``find_payment``: record a payment,
    look a recorded one up), ``netting`` (a bank line that nets invoices with credit notes: the
    cash paid and the credit notes reconciled with the invoices), ``write_offs`` (the rest of an
    invoice written off with a write-off method), ``reversals`` (a recorded payment cancelled),
    ``credit_holds``, ``notes``, ``dunning_blocks``, ``statuses``, ``crm_fields``. The write-back
    reads these flags (which sources take which commands); an entry point whose flag is off raises
    :class:`NotSupported`.

    >>> Capabilities(payments=True).supports("payment"), Capabilities().supports("note")
    (True, False)
    >>> Capabilities(write_offs=True).names
    ('write_offs',)
    """

    payments: bool = False
    netting: bool = False
    write_offs: bool = False
    reversals: bool = False
    credit_holds: bool = False
    notes: bool = False
    dunning_blocks: bool = False
    statuses: bool = False
    crm_fields: bool = False

    def supports(self, command_kind: str) -> bool:
        """Whether an outbox command of ``command_kind`` (``payment``, ``credit_hold``...) can be sent."""
        flag = _COMMAND_FLAGS.get(command_kind)
        return bool(flag and getattr(self, flag))

    @property
    def names(self) -> tuple[str, ...]:
        """The declared flags, e.g. ``("payments",)``."""
        return tuple(f for f in _COMMAND_FLAGS.values() if getattr(self, f))


_COMMAND_FLAGS = {"payment": "payments", "netting": "netting", "write_off": "write_offs", "reversal": "reversals",
                  "credit_hold": "credit_holds", "note": "notes", "dunning_block": "dunning_blocks", "status": "statuses",
                  "crm_field": "crm_fields"}

#: command kind -> (the connector method that applies a command, the one that looks an applied one
#: up by its key: asked before a command whose pusher died is sent again). Both take the command.
WRITE_METHODS: dict[str, tuple[str, str]] = {
    kind: (f"push_{kind}", f"find_{kind}") for kind in _COMMAND_FLAGS
}


def command_flag(command_kind: str) -> str | None:
    """The :class:`Capabilities` flag of an outbox command kind (``write_off`` -> ``write_offs``)."""
    return _COMMAND_FLAGS.get(command_kind)


def find_spec(kind: str, specs: Iterable[StreamSpec], stream: str) -> StreamSpec:
    """The spec of ``stream`` among ``specs``; :class:`NotSupported` naming the streams offered."""
    specs = tuple(specs)
    for spec in specs:
        if spec.name == stream:
            return spec
    raise NotSupported(f"{kind}: stream {stream!r} is not supported (streams: {tuple(s.name for s in specs)})")


@runtime_checkable
class Connector(Protocol):
    kind: ClassVar[str]
    stream_specs: ClassVar[tuple[StreamSpec, ...]]
    streams: ClassVar[tuple[str, ...]]
    capabilities: ClassVar[Capabilities]

    def spec(self, stream: str) -> StreamSpec:
        """The declaration of ``stream`` as this connector reads it (options included)."""
        ...

    def pull(self, stream: str, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        """Records of ``stream`` changed in ``(since, until]``, oldest first, in batches."""
        ...

    def preview(self, command: Any) -> dict[str, Any]:
        """What a write-back command would change (before -> after, read from the source), nothing
        written; :class:`NotSupported` where the connector cannot tell."""
        ...

    def close(self) -> None: ...


class BaseConnector:
    """Shared behaviour: the declarations' lookups, and write-back stubs that say they are not supported.

    A connector class declares ``kind``, ``stream_specs`` and ``capabilities``; ``streams`` (the
    names of the streams offered) is derived from ``stream_specs``.
    """

    kind: ClassVar[str] = ""
    stream_specs: ClassVar[tuple[StreamSpec, ...]] = ()
    streams: ClassVar[tuple[str, ...]] = ()
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.streams = tuple(s.name for s in cls.stream_specs)

    def spec(self, stream: str) -> StreamSpec:
        """The declaration of ``stream`` (a connector whose options move its key or cursor overrides this)."""
        return find_spec(self.kind, self.stream_specs, stream)

    def cursor_batches(self, stream: str, pages: Iterable[list[dict[str, Any]]]) -> Iterator[Batch]:
        """:func:`tie_safe_batches` of ``pages``, watermarks taken from the stream's declared cursor field."""
        cursor = self.spec(stream).cursor_field
        return tie_safe_batches(pages, lambda r: r[cursor])

    def pull(self, stream: str, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        raise NotSupported(f"{self.kind}: stream {stream!r} is not supported (streams: {self.streams})")

    def push_payment(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: payment write-back is not implemented yet")

    def find_payment(self, *args: Any, **kwargs: Any) -> Any:
        """The ERP's reference of the payment a ``push_payment(command)`` recorded, or None; used
        to re-examine a command whose pusher died mid-send without paying it twice."""
        raise NotSupported(f"{self.kind}: looking a written-back payment up is not implemented yet")

    # one pair per other command kind (push_<kind>, find_<kind>): not supported unless overridden
    def push_netting(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: netting write-back (credit notes reconciled with invoices) is not implemented yet")

    def find_netting(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: looking a written-back netting up is not implemented yet")

    def push_write_off(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: write-off write-back is not implemented yet")

    def find_write_off(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: looking a written-back write-off up is not implemented yet")

    def push_reversal(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: reversing a written-back payment is not implemented yet")

    def find_reversal(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: looking a reversal up is not implemented yet")

    def push_credit_hold(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: credit-hold write-back is not implemented yet")

    def find_credit_hold(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: looking a credit hold up is not implemented yet")

    def push_note(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: note write-back is not implemented yet")

    def find_note(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: looking a note up is not implemented yet")

    def push_dunning_block(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: dunning-block write-back is not implemented yet")

    def find_dunning_block(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: looking a dunning block up is not implemented yet")

    def push_status(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: status write-back is not implemented yet")

    def find_status(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: looking a status up is not implemented yet")

    def push_crm_field(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: CRM field write-back is not implemented yet")

    def find_crm_field(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(f"{self.kind}: looking a CRM field up is not implemented yet")

    def preview(self, command: Any) -> dict[str, Any]:
        """What ``command`` would change in the source, read from it and written nowhere (a dry
        run): ``{"target": "<the record>", "changes": [{"field", "before", "after"}], "note": ...}``.
        Raises :class:`schemas.errors.RejectedDocument` when the source would refuse the command."""
        raise NotSupported(f"{self.kind}: previewing a {getattr(command, 'kind', 'write-back')} command is not "
                           "implemented yet")

    def close(self) -> None:
        return None

    def __enter__(self) -> BaseConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tie_safe_batches(pages: Iterable[list[dict[str, Any]]], key: Callable[[dict[str, Any]], Any]) -> Iterator[Batch]:
    """Batches whose watermark a resumed run can start from without losing a record.

    The sync resumes from the last committed watermark, exclusively. When records sharing the
    last watermark of a page continue on the next page, committing that watermark would skip
    them; the page's watermark is then the greatest one below the tie (None when the whole page
    is one tie: the watermark does not move), so a resumed run reads the tie again
    (at-least-once; upserts of unchanged records are no-ops). Each page is yielded once the
    first record of the next one is known. ``key`` gives a record's (aware) watermark.

    >>> import datetime as dt
    >>> t = [dt.datetime(2026, 1, d, tzinfo=dt.UTC) for d in (1, 2, 3)]
    >>> pages = [[{"w": t[0]}, {"w": t[1]}], [{"w": t[1]}, {"w": t[2]}]]
    >>> [b.watermark.day for b in tie_safe_batches(pages, lambda r: r["w"])]
    [1, 3]
    >>> [b.watermark for b in tie_safe_batches([[{"w": t[1]}], [{"w": t[1]}]], lambda r: r["w"])]
    [None, datetime.datetime(2026, 1, 2, 0, 0, tzinfo=datetime.timezone.utc)]
    """
    held: list[dict[str, Any]] | None = None
    for page in pages:
        if not page:
            continue
        if held is not None:
            top = max(key(r) for r in held)
            if key(page[0]) == top:
                below = [key(r) for r in held if key(r) < top]
                yield Batch(held, max(below) if below else None)
            else:
                yield Batch(held, top)
        held = page
    if held is not None:
        yield Batch(held, max(key(r) for r in held))


# -- amounts a connector adds up ------------------------------------------------------------
def source_amount(value: Any) -> Decimal | str:
    """A number a source system sent, as an exact Decimal a connector may add up; else its text.

    Text goes through :func:`schemas.money.parse_amount` (no exponent, no underscore, at most 14
    integer digits), floats through their shortest ``repr``, and every result through
    :func:`~schemas.money.check_amount`. A value that is not such an amount is returned as
    (at most 40 characters of) its text instead of raising: the pull goes on, and the mapping's
    ``as: decimal`` refuses that one record, naming the field, so it is quarantined.

    >>> source_amount("350.000"), source_amount(12.5), source_amount(3)
    (Decimal('350.000'), Decimal('12.5'), Decimal('3'))
    >>> source_amount("1E+999999999"), source_amount(1e300), source_amount(False)
    ('1E+999999999', '1e+300', 'False')
    """
    try:
        if isinstance(value, bool):
            raise AmountError("a boolean is not an amount")
        if isinstance(value, float):
            return check_amount(Decimal(repr(value)))
        if isinstance(value, (int, Decimal)):
            return check_amount(Decimal(value))
        if isinstance(value, str):
            return parse_amount(value)
    except (AmountError, ArithmeticError):
        pass
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = str(value)
    return text if len(text) <= 40 else text[:40] + "…"


def add_amounts(*values: Decimal | str) -> Decimal | str:
    """The sum of :func:`source_amount` results: the first refused text if any, else the checked sum.

    >>> add_amounts(Decimal("1.10"), Decimal("2")), add_amounts(Decimal("1"), "1e+300")
    (Decimal('3.10'), '1e+300')
    """
    total = Decimal(0)
    for v in values:
        if isinstance(v, str):
            return v
        total += v
    return source_amount(total)


# -- write-back helpers shared by the connectors ------------------------------------------------
def hub_tag(command: Any) -> str:
    """The tag a connector writes with a command's change so that it can be found again by its key
    (``o2c:<idempotency key>``: a payment's memo, a note's first word, a CRM field)."""
    return f"o2c:{command.idempotency_key}"


def create_once(call: Callable[[], Any], what: str) -> Any:
    """Run a call that creates something in the remote system, sent once (no automatic retry): a
    transient failure other than a 429 (a timeout, a lost connection, an HTTP 5xx) means the system
    may have created it, or still be creating it, and becomes :class:`OutcomeUnknown` (the outbox
    keeps the command claimed, then looks it up by its key after the claim timeout)."""
    try:
        return call()
    except OutcomeUnknown:
        raise
    except RetriableError as exc:
        if "HTTP 429" in str(exc):
            raise  # refused before anything was done: safe to send again
        raise OutcomeUnknown(f"{what}: {exc}; the system may have applied it") from None


_DECIMAL_MARK = "\u0000o2c-decimal:"


def exact_json(value: Any) -> str:
    """JSON text with every :class:`~decimal.Decimal` written as the exact number it holds (never a
    float, which would round 14-digit amounts).

    >>> exact_json({"a": Decimal("12345678901234.56"), "b": [Decimal("0.10")], "c": "x"})
    '{"a": 12345678901234.56, "b": [0.10], "c": "x"}'
    """
    text = json.dumps(value, default=lambda v: f"{_DECIMAL_MARK}{v}" if isinstance(v, Decimal) else str(v))
    return re.sub(r'"\\u0000o2c-decimal:(-?[0-9.]+)"', r"\1", text)


#: the risk fields a CRM connector writes for a ``credit_hold`` command (names of its fields in the options)
RISK_FIELDS = ("risk_level", "exposure", "overdue", "last_flag", "key")


def risk_values(command: Any) -> dict[str, Any]:
    """What a ``credit_hold`` command means as CRM risk fields: ``risk_level`` (``high`` while the hub
    holds the customer, ``none`` once released), ``exposure`` and ``overdue`` (what it owes in that
    source, and the part past due, as Decimals; None when the command does not say), ``last_flag``
    (the day and the flags that decided it, or the release) and ``key`` (:func:`hub_tag`).

    >>> from schemas.receivables import WriteBackCommand
    >>> cmd = WriteBackCommand(source="s", kind="credit_hold", target_id="1", reason="r", payload={"hold": True,
    ...       "as_of": "2026-02-28", "flags": ["overdue_beyond_policy"], "exposure": "1200.00", "overdue": "800.00"})
    >>> v = risk_values(cmd); (v["risk_level"], v["exposure"], v["last_flag"])
    ('high', Decimal('1200.00'), '2026-02-28 hold: overdue_beyond_policy')
    """
    payload = command.payload
    hold = bool(payload.get("hold"))

    def amount(name: str) -> Decimal | None:
        value = payload.get(name)
        return None if value in (None, "") else Decimal(str(value))

    flags = ", ".join(payload.get("flags") or [])
    last = f"{payload.get('as_of') or ''} {'hold: ' + flags if hold else 'released'}".strip()
    return {"risk_level": "high" if hold else "none", "exposure": amount("exposure"), "overdue": amount("overdue"),
            "last_flag": last, "key": hub_tag(command)}


def field_names(kind: str, option: str, given: Mapping[str, Any] | None, defaults: Mapping[str, str]) -> dict[str, str]:
    """The source option naming the CRM fields of :data:`RISK_FIELDS` (``given`` over ``defaults``); a
    field set to null or "" is not written, but ``key`` is required (the command is found again by it).
    A :class:`ConfigError` names the setting."""
    names = dict(defaults)
    for k, v in (given or {}).items():
        if k not in defaults:
            raise ConfigError(f"{kind}: sources[].options.{option}.{k} is not a risk field (known: {', '.join(defaults)})")
        names[k] = str(v) if v else ""
    if not names.get("key"):
        raise ConfigError(f"{kind}: sources[].options.{option}.key must name a text field: the hub finds its last "
                          "credit-hold command again by the key it holds")
    return {k: v for k, v in names.items() if v}
