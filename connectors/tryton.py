"""Tryton (8.x) over JSON-RPC: posted customer invoices, credit notes, customers and currency rates.

Options: ``batch_size``; ``hold_categories``, the party categories that mean a customer is on hold
(Tryton has no hold flag of its own; docs/customer-master.md); ``payment_method`` (write-back);
``write_offs``, the Tryton write-off method (``account.move.reconcile.write_off``, by name) per
reason the hub writes off (``early_payment_discount``, ``bank_charges``, ``small_difference``).

Protocol (Tryton's own client protocol, https://docs.tryton.org/en/latest/server/topics/rpc.html
is not published; this follows ``trytond/protocols/jsonrpc.py``):

- ``POST {url}{database}/rpc/`` with ``{"id": n, "method": "common.db.login", "params":
  [login, {"password": ...}]}`` answers ``[user_id, session, ...]``; later calls send
  ``Authorization: Session base64(login:user_id:session)``.
- ``model.<model>.<method>`` takes the user's context (``model.res.user.get_preferences``)
  as its last parameter.
- Decimal, date, datetime and bytes travel as ``{"__class__": "Decimal", "decimal": "1.20"}``
  and the like, both ways. Errors come back with HTTP 200 and an ``error`` member; a bad
  login answers HTTP 401.

Tryton stores credit notes as customer invoices with negative totals; the mapping declares
``credit_note_sign: negative``. Datetimes are naive UTC on the server; they become aware here.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import logging
import time
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, ClassVar

import requests

from connectors.base import BaseConnector, Batch, Capabilities, ConnectionInfo, NotSupported, StreamSpec, source_amount
from schemas.errors import AuthError, ConfigError, FatalError, OutcomeUnknown, RejectedDocument, RetriableError
from schemas.receivables import WriteBackCommand
from transport import faults
from transport.http import Sleep, classify_response, with_retries

log = logging.getLogger(__name__)

RETRIABLE_SERVER_ERRORS = {"ConcurrencyException", "TooManyRequests", "DatabaseOperationalError"}


class TrytonUserWarning(FatalError):
    """Tryton asks the user to confirm (``UserWarning``: its ``name`` and message). Acknowledged with
    ``res.user.warning.skip(name)`` and the call made again, only for warnings the hub expects
    (:meth:`TrytonConnector._acknowledging`); any other is refused with Tryton's message."""

    def __init__(self, what: str, name: str, message: str) -> None:
        super().__init__(f"{what}: Tryton asks to confirm: {message}")
        self.name, self.message = name, message


def _decimal(text: Any) -> Decimal | str:
    """Tryton's ``{"__class__": "Decimal", "decimal": "12.50"}``: ``str()`` of a Decimal, so an
    exponent (``1E+2``) is legitimate here. Text that is no finite number, or longer than an
    amount, stays text: the pull goes on and the mapping (``as: decimal``, which also bounds the
    digits) refuses that record, naming the field."""
    if isinstance(text, str) and len(text) <= 64 and text.isascii() and "_" not in text:
        try:
            value = Decimal(text)
        except ArithmeticError:
            pass
        else:
            if value.is_finite():
                return value
    shown = str(text)
    return shown if len(shown) <= 40 else shown[:40] + "…"


def _decode(obj: Any) -> Any:
    if isinstance(obj, dict):
        cls = obj.get("__class__")
        if cls == "Decimal":
            return _decimal(obj.get("decimal"))
        if cls == "date":
            return dt.date(obj["year"], obj["month"], obj["day"])
        if cls == "datetime":
            return dt.datetime(obj["year"], obj["month"], obj["day"], obj.get("hour", 0), obj.get("minute", 0),
                               obj.get("second", 0), obj.get("microsecond", 0), tzinfo=dt.UTC)
        if cls == "time":
            return dt.time(obj.get("hour", 0), obj.get("minute", 0), obj.get("second", 0))
        if cls == "timedelta":
            return dt.timedelta(seconds=obj["seconds"])
        if cls == "bytes":
            return base64.b64decode(obj["base64"])
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def _encode(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return {"__class__": "Decimal", "decimal": str(obj)}
    if isinstance(obj, dt.datetime):
        if obj.tzinfo is not None:
            obj = obj.astimezone(dt.UTC).replace(tzinfo=None)
        return {"__class__": "datetime", "year": obj.year, "month": obj.month, "day": obj.day, "hour": obj.hour,
                "minute": obj.minute, "second": obj.second, "microsecond": obj.microsecond}
    if isinstance(obj, dt.date):
        return {"__class__": "date", "year": obj.year, "month": obj.month, "day": obj.day}
    if isinstance(obj, bytes):
        return {"__class__": "bytes", "base64": base64.b64encode(obj).decode()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    return obj


class TrytonClient:
    """A small JSON-RPC client for one Tryton database."""

    def __init__(self, conn: ConnectionInfo, *, timeout: float = 60.0, attempts: int = 4, session: requests.Session | None = None,
                 sleep: Sleep = time.sleep) -> None:
        if not conn.schema:
            raise FatalError("Tryton connection has no database name (the URI path / connection schema)")
        if not conn.login or conn.password is None:
            raise FatalError("Tryton connection has no login or password")
        self.conn = conn
        self.url = f"{conn.base_url}{conn.schema}/rpc/"
        self.timeout = timeout
        self.attempts = attempts
        self.sleep = sleep
        self.http = session or requests.Session()
        self._ids = itertools.count(1)
        self.context: dict[str, Any] = {}
        self.rpc_seconds = 0.0  # wall time spent waiting for the server (for overhead benchmarks)
        self.rpc_calls = 0
        self._login()

    def _post(self, method: str, params: list[Any], *, auth: bool = True, attempts: int | None = None,
              writes: bool = False) -> Any:
        """One JSON-RPC call, retried on transient errors (``attempts``: default the client's;
        1 for a call that must not run twice, such as a wizard step that posts a move). With
        ``writes`` (such a step), a timeout, a lost connection or an HTTP 5xx raise
        :class:`OutcomeUnknown`: the server may have applied the call, or still be applying it."""
        payload = {"id": next(self._ids), "method": method, "params": _encode(params)}
        what = f"Tryton {self.conn.host}:{self.conn.port}/{self.conn.schema} {method}"

        def once() -> Any:
            started = time.perf_counter()
            try:
                resp = self.http.post(self.url, json=payload, timeout=self.timeout)
                if writes and resp.status_code >= 500:
                    raise OutcomeUnknown(f"{what}: HTTP {resp.status_code} {resp.reason}; Tryton may have applied it")
                classify_response(resp, what)
                body = resp.json()
            except (requests.ConnectionError, requests.Timeout) as exc:
                if writes:
                    raise OutcomeUnknown(f"{what}: {exc.__class__.__name__}; Tryton may have applied it or still be "
                                         "applying it") from None
                raise
            finally:
                self.rpc_seconds += time.perf_counter() - started
                self.rpc_calls += 1
            if body.get("error"):
                kind, *detail = body["error"] if isinstance(body["error"], list) else [body["error"]]
                if kind in RETRIABLE_SERVER_ERRORS:
                    raise RetriableError(f"{what}: {kind}")
                if kind == "UserWarning" and detail and isinstance(detail[0], list) and len(detail[0]) >= 2:
                    raise TrytonUserWarning(what, str(detail[0][0]), str(detail[0][1])[:500])
                raise FatalError(f"{what}: server error {kind}: {str(detail)[:500]}")
            return _decode(body.get("result"))

        return with_retries(once, what=what, attempts=attempts or self.attempts, sleep=self.sleep)

    def _login(self) -> None:
        result = self._post("common.db.login", [self.conn.login, {"password": self.conn.password}], auth=False)
        if not result:
            raise AuthError(f"Tryton {self.conn.schema}: login refused for {self.conn.login!r}")
        user_id, session = result[0], result[1]
        token = base64.b64encode(f"{self.conn.login}:{user_id}:{session}".encode()).decode()
        self.http.headers["Authorization"] = f"Session {token}"
        self.context = self._post("model.res.user.get_preferences", [True, {}])

    def call(self, model: str, method: str, *args: Any) -> Any:
        return self._post(f"model.{model}.{method}", [*args, self.context])

    def wizard(self, name: str, method: str, *args: Any, context: dict[str, Any] | None = None,
               attempts: int | None = None, writes: bool = False) -> Any:
        """``wizard.<name>.<method>`` (``create``, ``execute``, ``delete``) with ``context`` (default:
        the user's) as the last parameter (``writes``: see :meth:`_post`)."""
        return self._post(f"wizard.{name}.{method}", [*args, context or self.context], attempts=attempts,
                          writes=writes)

    def skip_warning(self, name: str) -> None:
        """Acknowledge Tryton's user warning ``name`` once (``res.user.warning.skip``: the next call
        that would raise it goes through, and the acknowledgement is used up)."""
        self.call("res.user.warning", "skip", name, False)

    def read(self, model: str, ids: Iterable[int], fields: list[str]) -> dict[int, dict[str, Any]]:
        ids = sorted({i for i in ids if i is not None})
        if not ids:
            return {}
        return {r["id"]: r for r in self.call(model, "read", ids, fields)}

    def search_read(self, model: str, domain: list[Any], *, offset: int = 0, limit: int | None = None,
                    order: list[list[str]] | None = None, fields: list[str],
                    context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """``search_read``; ``context`` adds to the user's (``{"active_test": False}``: deactivated
        records too, which a domain on ``active`` does not give once the domain nests)."""
        if context:
            return self._post(f"model.{model}.search_read", [domain, offset, limit, order, fields, {**self.context, **context}])
        return self.call(model, "search_read", domain, offset, limit, order, fields)

    def close(self) -> None:
        self.http.close()


def _ref_id(value: Any, model: str) -> int | None:
    """The id in a Tryton Reference value ``"<model>,<id>"`` when it points at ``model``."""
    if isinstance(value, str) and value.startswith(f"{model},"):
        tail = value[len(model) + 1:]
        if tail.isdigit():
            return int(tail)
    return None


def _window(since: dt.datetime | None, until: dt.datetime) -> list[Any]:
    """Records changed in (since, until]; never-written records count by their creation date."""
    upper = ["OR", [("write_date", "<=", until)], [("write_date", "=", None), ("create_date", "<=", until)]]
    if since is None:
        return [upper]
    lower = ["OR", [("write_date", ">", since)], [("write_date", "=", None), ("create_date", ">", since)]]
    return [lower, upper]


INVOICE_FIELDS = ["number", "invoice_date", "type", "state", "currency", "party", "invoice_address", "company",
                  "payment_term", "reference", "description", "total_amount", "untaxed_amount", "tax_amount",
                  "lines", "taxes", "lines_to_pay", "write_date", "create_date"]
LINE_FIELDS = ["invoice", "type", "sequence", "quantity", "unit", "unit_price", "amount", "description", "product", "taxes",
               "origin"]
TAX_FIELDS = ["name", "description", "rate", "type", "unece_code", "unece_category_code", "childs"]
PARTY_FIELDS = ["name", "code", "identifiers", "addresses", "contact_mechanisms", "lang", "write_date", "create_date"]

# -- the customer master's collections part (docs/customer-master.md) --------------------------------
# party.party: customer_payment_term (account_invoice, a MultiValue per company), categories (party),
# active (DeactivableMixin: a deactivated party takes no new document)
PARTY_MASTER_FIELDS = ["customer_payment_term", "categories", "active"]
# party.contact_mechanism: name, language (party: "used to translate communication made using the
# contact mechanism; leave empty for the party language"), invoice (account_invoice's usage flag)
MECHANISM_MASTER_FIELDS = ["name", "language", "invoice"]
TERM_FIELDS = ["name", "description", "lines"]
TERM_LINE_FIELDS = ["type", "relativedeltas"]
TERM_DELTA_FIELDS = ["day", "month", "weekday", "months", "weeks", "days"]
RATE_FIELDS = ["date", "rate", "currency", "write_date", "create_date"]
DUNNING_CONTACT_TYPES = ("email", "phone", "mobile")


def _hold_categories(value: Iterable[str] | str | None) -> frozenset[str] | None:
    """The party categories that mean "on hold" (the source option ``hold_categories``: a list, or
    names separated by commas); None when not configured: Tryton has no hold flag of its own."""
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else list(value)
    return frozenset(n.strip() for n in names if str(n).strip()) or None


def net_days(lines: list[dict[str, Any]]) -> int | None:
    """The number of days of a Tryton payment term that is a plain "net N days": one ``remainder``
    line whose deltas only add days and weeks (``relativedelta(days=..., weeks=...)``). None for
    anything else (end of month ``day=31``, months, a weekday, instalments).

    >>> net_days([{"type": "remainder", "relativedeltas": [{"days": 30, "weeks": 0, "months": 0}]}])
    30
    >>> net_days([{"type": "remainder", "relativedeltas": [{"days": 45, "weeks": 0, "months": 0}, {"day": 31, "days": 0}]}])
    >>> net_days([{"type": "percent", "relativedeltas": []}, {"type": "remainder", "relativedeltas": []}])
    """
    if len(lines) != 1 or lines[0].get("type") != "remainder":
        return None
    days = 0
    for delta in lines[0].get("relativedeltas") or []:
        if any(delta.get(k) for k in ("day", "month", "weekday", "months")):
            return None
        days += int(delta.get("days") or 0) + 7 * int(delta.get("weeks") or 0)
    return days


SETTLEMENT_SPECS = (
    StreamSpec("settlements", ("id",), "updated_at",
               changed_on="the latest write_date (create_date when never written) among the account.invoice and the "
                          "receivable account.move.line records that settle it"),
)
SETTLEMENT_INVOICE_FIELDS = ["number", "type", "state", "total_amount", "amount_to_pay", "currency", "reconciled", "lines_to_pay",
                             "payment_lines", "move", "write_date", "create_date"]
SETTLEMENT_LINE_FIELDS = ["move", "debit", "credit", "amount_second_currency", "second_currency", "reconciliation",
                          "invoice_payments", "move_description_used", "write_date", "create_date"]
# customer documents a settlement is kept for: posted, paid, or cancelled after posting (one never
# posted was never in the hub)
SETTLEMENT_DOMAIN: list[Any] = [("type", "=", "out"), ("state", "in", ["posted", "paid", "cancelled"]), ("move", "!=", None)]
SETTLEMENT_SCAN_PAGE = 1000  # ids per page of the change scans (a few small fields per row)


def _stamp(row: dict[str, Any]) -> dt.datetime:
    return row.get("write_date") or row["create_date"]


class TrytonConnector(BaseConnector):
    """Posted customer invoices / credit notes and customers of one Tryton database."""

    kind: ClassVar[str] = "tryton"
    stream_specs: ClassVar[tuple[StreamSpec, ...]] = (
        StreamSpec("invoices", ("id",), "updated_at", changed_on="account.invoice write_date (create_date when never written)"),
        StreamSpec("customers", ("id",), "updated_at", changed_on="party.party write_date (create_date when never written)"),
        *SETTLEMENT_SPECS,
        StreamSpec("rates", ("id",), "updated_at",
                   changed_on="currency.currency.rate write_date (create_date when never written)"),
    )
    # docs/writeback.md: the pay wizard, the reconcile wizard (netting, write-offs), the cancel wizard
    # (reversals), party credit limit and category (holds), ir.note (notes), account.dunning (blocks)
    capabilities: ClassVar[Capabilities] = Capabilities(payments=True, netting=True, write_offs=True, reversals=True,
                                                        credit_holds=True, notes=True, dunning_blocks=True, statuses=True)
    # its pull may run in another thread than the sync's (o2c.jobs.sync._pull_ahead): HTTP calls and caches only
    pull_ahead: ClassVar[bool] = True

    def __init__(self, conn: ConnectionInfo, *, batch_size: int = 200, timeout: float = 60.0, attempts: int = 4,
                 hold_categories: Iterable[str] | str | None = None, write_offs: dict[str, str] | None = None,
                 sleep: Sleep = time.sleep) -> None:
        self.write_offs = dict(write_offs or {})
        self.client = TrytonClient(conn, timeout=timeout, attempts=attempts, sleep=sleep)
        self.batch_size = int(conn.extra.get("batch_size", batch_size))
        self.hold_categories = _hold_categories(hold_categories if hold_categories is not None else conn.extra.get("hold_categories"))
        self._cache: dict[tuple[str, int], dict[str, Any]] = {}
        self._optional: dict[str, list[str]] = {}

    def close(self) -> None:
        self.client.close()

    # -- write-back -----------------------------------------------------------------------
    def push_payment(self, command: WriteBackCommand) -> str:
        """Record a customer payment on a posted invoice with Tryton's pay wizard; return the
        payment's move line id (on the invoice's receivable account).

        The wizard pays in full when the amount equals the invoice's amount to pay, and asks
        otherwise: the answer is a partial payment (``type='partial'``). Overpayments are refused.
        The move's description is ``o2c:<idempotency key> <bank ref>``: a payment already carrying
        the key is returned instead of paying twice, so a command re-sent after a lost answer is
        applied once. The step that posts the move is sent once (no automatic retry); a timeout, a
        lost connection or an HTTP 5xx there raise :class:`OutcomeUnknown` (Tryton may still be
        posting it: a search by key right away could miss it), and the outbox keeps the command
        claimed until the claim timeout, then finds the payment by its key. "Find by key,
        then pay" is not atomic in Tryton: the outbox claims each command for one pusher at a time
        (:func:`o2c.jobs.writeback.push_pending`), so two pushers never run it for the same command.

        Raises :class:`RejectedDocument` for a command Tryton cannot take (unknown or not posted
        invoice, other currency, amount above the amount to pay), :class:`ConfigError` when no
        payment method is configured, :class:`OutcomeUnknown` when the posting step's answer was lost,
        :class:`RetriableError` for other transient failures.
        """
        invoice, amount, date, label = self._payment_invoice(command)
        payload = command.payload
        key = f"o2c:{command.idempotency_key}"
        existing = self._payment_line(invoice, key)
        if existing is not None:
            log.info("%s: payment %s already recorded (move line %s)", invoice["number"], key, existing)
            return str(existing)
        self._check_payable(invoice, amount, payload, label, command.target_id)
        description = f"{key} {payload.get('bank_ref') or ''}".strip()
        self._run_pay_wizard(invoice, amount, date, description, self._payment_method(invoice["company"]))
        line = self._payment_line(invoice, key)
        if line is None:
            raise FatalError(f"{invoice['number']}: the pay wizard ended but no payment line carries {key}")
        return str(line)

    def find_payment(self, command: WriteBackCommand) -> str | None:
        """The move line of the payment ``command`` recorded (found by its key), or None: asked
        before a command left ``sending`` by a push that stopped is sent again."""
        invoice, _amount, _date, _label = self._payment_invoice(command)
        line = self._payment_line(invoice, f"o2c:{command.idempotency_key}")
        return None if line is None else str(line)

    def preview(self, command: WriteBackCommand) -> dict[str, Any]:
        """The change a payment command would make, read from Tryton, nothing written: the
        invoice's amount to pay and state before and after (``after`` = amount to pay - amount;
        ``paid`` when nothing is left, else ``posted``). A payment already recorded under the
        command's key changes nothing; a command Tryton would refuse raises :class:`RejectedDocument`
        with the reason :meth:`push_payment` would give."""
        if command.kind != "payment":
            raise NotSupported(f"{self.kind}: previewing a {command.kind!r} command is not implemented yet")
        invoice, amount, _date, label = self._payment_invoice(command)
        target = f"account.invoice {invoice['id']} ({invoice['number'] or label})"
        existing = self._payment_line(invoice, f"o2c:{command.idempotency_key}")
        if existing is not None:
            return {"target": target, "changes": [],
                    "note": f"already recorded (move line {existing}): nothing would change"}
        self._check_payable(invoice, amount, command.payload, label, command.target_id)
        before = invoice["amount_to_pay"]
        after = before - amount
        return {"target": target,
                "changes": [{"field": "amount_to_pay", "before": str(before), "after": str(after)},
                            {"field": "state", "before": invoice["state"], "after": "paid" if after == 0 else "posted"}],
                "note": f"payment of {amount} {command.payload.get('currency') or ''} dated {_date.isoformat()}".strip()}

    def _payment_invoice(self, command: WriteBackCommand) -> tuple[dict[str, Any], Decimal, dt.date, str]:
        """The invoice a payment command targets, read from Tryton, with the command's amount,
        date and a label for messages; :class:`RejectedDocument` for a malformed command or an
        unknown invoice."""
        if command.kind != "payment":
            raise RejectedDocument(f"not a payment command: {command.kind!r}", document_id=command.target_id)
        payload = command.payload
        try:
            invoice_id = int(command.target_id)
            amount = Decimal(str(payload["amount"]))
            date = dt.date.fromisoformat(str(payload["date"]))
        except (ValueError, KeyError, ArithmeticError) as exc:
            raise RejectedDocument(f"payment command is incomplete or malformed: {exc!r}",
                                   document_id=command.target_id) from None
        label = payload.get("invoice_number") or f"invoice id {invoice_id}"
        found = self.client.search_read("account.invoice", [("id", "=", invoice_id)],
                                        fields=["number", "type", "state", "amount_to_pay", "currency", "account", "company"])
        if not found:
            raise RejectedDocument(f"no invoice with id {invoice_id} in Tryton ({label} in the hub)",
                                   document_id=command.target_id)
        return found[0], amount, date, label

    def _payment_line(self, invoice: dict[str, Any], key: str) -> int | None:
        """The move line of the payment tagged with exactly ``key`` on ``invoice``'s receivable
        account. The move description is ``<key> <bank ref>``: the search narrows by prefix and
        the first word must then equal the key (never another command's payment)."""
        rows = self.client.search_read(
            "account.move.line",
            [("move.description", "like", f"{key}%"), ("account", "=", invoice["account"]),
             ("move.origin", "=", f"account.invoice,{invoice['id']}")],
            order=[["id", "ASC"]], fields=["id", "move_description_used"])
        mine = [r["id"] for r in rows if (r.get("move_description_used") or "").split(" ", 1)[0] == key]
        return mine[0] if mine else None

    def _check_payable(self, invoice: dict[str, Any], amount: Decimal, payload: dict[str, Any], label: str,
                       target: str) -> None:
        """Refuse what the wizard would get wrong or refuse: state, type, currency, amount."""
        number = invoice["number"] or label
        if invoice["type"] != "out":
            raise RejectedDocument(f"{number}: not a customer invoice (type {invoice['type']!r})", document_id=target)
        if invoice["state"] != "posted":
            raise RejectedDocument(f"{number}: invoice is {invoice['state']!r} in Tryton, only posted invoices take a payment",
                                   document_id=target)
        currency = self._read_cached("currency.currency", [invoice["currency"]], ["code"]).get(invoice["currency"], {}).get("code")
        if payload.get("currency") and currency and payload["currency"] != currency:
            raise RejectedDocument(f"{number}: payment in {payload['currency']} on an invoice in {currency}", document_id=target)
        to_pay = invoice["amount_to_pay"]
        if amount <= 0:
            raise RejectedDocument(f"{number}: payment amount {amount} is not positive", document_id=target)
        if amount > to_pay:
            raise RejectedDocument(f"{number}: payment {amount} exceeds the amount to pay {to_pay} (overpayments are left "
                                   "to a person)", document_id=target)

    def _payment_method(self, company: int) -> int:
        """The ``account.invoice.payment.method`` to pay with: the one named by the connection's
        ``payment_method`` extra, else the company's only active one."""
        wanted = self.client.conn.extra.get("payment_method")
        domain: list[Any] = [("company", "=", company)]
        if wanted:
            domain.append(("name", "=", wanted))
        methods = self.client.search_read("account.invoice.payment.method", domain, fields=["name"])
        if len(methods) == 1:
            return int(methods[0]["id"])
        if not methods:
            what = f"named {wanted!r} " if wanted else ""
            raise ConfigError(f"Tryton {self.client.conn.schema}: no invoice payment method {what}for company {company}; "
                              "create one (Financial > Configuration > Payment Methods) or set the connection's "
                              "payment_method extra")
        raise ConfigError(f"Tryton {self.client.conn.schema}: several payment methods ({', '.join(m['name'] for m in methods)}); "
                          "set the connection's payment_method extra to one name")

    def _run_pay_wizard(self, invoice: dict[str, Any], amount: Decimal, date: dt.date, description: str,
                        method: int) -> None:
        """``account.invoice.pay`` over RPC: ``start`` (defaults), ``choice``, then ``ask`` with
        ``type='partial'`` when Tryton asks how to treat a remainder."""
        wizard = "account.invoice.pay"
        context = {**self.client.context, "active_model": "account.invoice", "active_id": invoice["id"],
                   "active_ids": [invoice["id"]]}
        sid, start_state, _end = self.client.wizard(wizard, "create")
        try:
            view = self.client.wizard(wizard, "execute", sid, {}, start_state, context=context)
            defaults = view["view"]["defaults"]
            start = {
                "payee": defaults["payee"], "payees": defaults.get("payees", []), "company": defaults["company"],
                "currency": defaults["currency"], "invoice_account": defaults["invoice_account"],
                "amount": amount, "description": description, "payment_method": method, "date": date,
            }
            # the choice step posts the payment when it goes straight to 'pay': never sent twice
            answer = self.client.wizard(wizard, "execute", sid, {"start": start}, "choice", context=context, attempts=1,
                                        writes=True)
            if answer and "view" in answer:
                faults.point("tryton_asked")  # kill points: transport/faults.py (off unless O2C_FAULT is set)
                if amount >= invoice["amount_to_pay"]:
                    raise RejectedDocument(f"{invoice['number']}: Tryton asks how to settle a payment of {amount} "
                                           f"(amount to pay {invoice['amount_to_pay']})", document_id=str(invoice["id"]))
                ask = {k: v for k, v in answer["view"]["defaults"].items() if "." not in k}
                ask["type"] = "partial"
                self.client.wizard(wizard, "execute", sid, {"start": start, "ask": ask}, "pay", context=context, attempts=1,
                                   writes=True)
            faults.point("tryton_posted")
        finally:
            try:
                self.client.wizard(wizard, "delete", sid, attempts=1)
            except Exception:  # noqa: BLE001 - a stale wizard session is harmless; the payment is what counts
                log.warning("Tryton: could not delete pay wizard session %s", sid, exc_info=True)

    # -- write-back: the other kinds (docs/writeback.md) ------------------------------------
    def _acknowledging(self, step: Any, expected: tuple[str, ...], label: str, target: str) -> Any:
        """Run ``step()`` (a whole wizard run: Tryton rolled back the one that warned); when Tryton
        raises a user warning whose name ends with one of ``expected`` (``cancel_invoice_move``),
        acknowledge it and run the step once more. Any other warning is a decision for a person:
        :class:`RejectedDocument` with Tryton's message, nothing written."""
        try:
            return step()
        except TrytonUserWarning as warning:
            if not any(warning.name.endswith(f".{suffix}") for suffix in expected):
                raise RejectedDocument(f"{label}: Tryton asks to confirm something the hub does not confirm on its own: "
                                       f"{warning.message}", document_id=target) from None
            log.info("%s: acknowledging Tryton's warning %s (%s)", label, warning.name, warning.message)
            self.client.skip_warning(warning.name)
        return step()

    def _run_wizard(self, name: str, model: str, ids: list[int], steps: list[tuple[str, dict[str, Any]]]) -> Any:
        """Run wizard ``name`` on records ``ids`` of ``model``: its start state, then each
        ``(state, data)``; the answer of the last step. The session is deleted at the end."""
        context = {**self.client.context, "active_model": model, "active_id": ids[0], "active_ids": ids}
        sid, start_state, _end = self.client.wizard(name, "create")
        try:
            answer = self.client.wizard(name, "execute", sid, {}, start_state, context=context, attempts=1)
            for state, data in steps:
                if not answer or "view" not in answer:
                    break
                defaults = {k: v for k, v in answer["view"].get("defaults", {}).items() if "." not in k}
                data = {answer["view"]["state"]: {**defaults, **data}} if data else {}
                answer = self.client.wizard(name, "execute", sid, data, state, context=context, attempts=1)
            return answer
        finally:
            try:
                self.client.wizard(name, "delete", sid, attempts=1)
            except Exception:  # noqa: BLE001 - a stale wizard session is harmless
                log.warning("Tryton: could not delete %s wizard session %s", name, sid, exc_info=True)

    def _documents(self, ids: Iterable[int], target: str) -> dict[int, dict[str, Any]]:
        found = self.client.read("account.invoice", ids, ["number", "type", "state", "amount_to_pay", "currency", "account",
                                                          "company", "party", "lines_to_pay", "payment_lines"])
        missing = sorted(set(ids) - set(found))
        if missing:
            raise RejectedDocument(f"no invoice or credit note with id {', '.join(map(str, missing))} in Tryton",
                                   document_id=target)
        return found

    def _open_lines(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Move lines ``ids`` not reconciled yet, with their amounts."""
        lines = self.client.read("account.move.line", ids, ["debit", "credit", "reconciliation", "move_description_used"])
        return {i: ln for i, ln in lines.items() if not ln["reconciliation"]}

    @staticmethod
    def _int_ids(command: WriteBackCommand, entries: Any, what: str) -> list[dict[str, Any]]:
        try:
            return [{**e, "id": int(e["id"]), "amount": Decimal(str(e["amount"])), "cash": Decimal(str(e.get("cash", 0)))}
                    for e in entries]
        except (TypeError, KeyError, ValueError, ArithmeticError) as exc:
            raise RejectedDocument(f"{command.kind} command: {what} malformed: {exc!r}", document_id=command.target_id) from None

    def push_netting(self, command: WriteBackCommand) -> str:
        """A bank line that nets invoices with credit notes: each invoice's share of the cash paid with
        the pay wizard (its description ``o2c:<key> <bank ref>``, as a payment), then the credit notes'
        receivable lines reconciled with the invoices' (the reconcile wizard, nothing written off).

        The hub nets only documents the line settles in full: every invoice's allocation must be its
        amount to pay in Tryton, every credit note's its whole credit, or nothing is written
        (:class:`RejectedDocument` naming the document). Re-sent after a lost answer, the payments
        already carrying the key are not made again, and reconciled lines are left alone."""
        key = f"o2c:{command.idempotency_key}"
        payload = command.payload
        invoices = self._int_ids(command, payload.get("invoices") or [], "invoices")
        credits = self._int_ids(command, payload.get("credit_notes") or [], "credit notes")
        if not invoices or not credits:
            raise RejectedDocument("netting command without invoices or credit notes", document_id=command.target_id)
        try:
            date = dt.date.fromisoformat(str(payload["date"]))
        except (KeyError, ValueError) as exc:
            raise RejectedDocument(f"netting command: date malformed: {exc!r}", document_id=command.target_id) from None
        docs = self._documents([e["id"] for e in invoices + credits], command.target_id)
        paid = {e["id"]: self._payment_line(docs[e["id"]], key) for e in invoices}
        for e in invoices:
            doc = docs[e["id"]]
            if paid[e["id"]] is None and (doc["type"] != "out" or doc["state"] != "posted" or doc["amount_to_pay"] != e["amount"]):
                raise RejectedDocument(f"{doc['number']}: the bank line settles {e['amount']} of it but Tryton has "
                                       f"{doc['amount_to_pay']} to pay ({doc['state']}): the hub nets only documents settled "
                                       "in full; reconcile the credit notes by hand", document_id=command.target_id)
        for e in credits:
            doc = docs[e["id"]]
            lines = self._open_lines(doc["lines_to_pay"])
            if lines and (doc["state"] != "posted" or doc["amount_to_pay"] != e["amount"]):
                raise RejectedDocument(f"{doc['number']}: the bank line uses {e['amount']} of this credit note but Tryton has "
                                       f"{doc['amount_to_pay']} open ({doc['state']}): reconcile it by hand",
                                       document_id=command.target_id)
        method = None
        for e in invoices:
            if paid[e["id"]] is None and e["cash"] > 0:
                doc = docs[e["id"]]
                self._check_payable(doc, e["cash"], payload, doc["number"], command.target_id)
                method = method or self._payment_method(doc["company"])
                self._run_pay_wizard(doc, e["cash"], date, f"{key} {payload.get('bank_ref') or ''}".strip(), method)
        docs = self._documents([e["id"] for e in invoices + credits], command.target_id)
        group: list[int] = []
        for e in invoices:
            doc = docs[e["id"]]
            mine = [i for i, ln in self._open_lines(doc["payment_lines"]).items()
                    if (ln.get("move_description_used") or "").split(" ", 1)[0] == key]
            group += [*self._open_lines(doc["lines_to_pay"]), *mine]
        for e in credits:
            group += list(self._open_lines(docs[e["id"]]["lines_to_pay"]))
        if group:
            lines = self.client.read("account.move.line", group, ["debit", "credit"])
            rest = sum((ln["debit"] - ln["credit"] for ln in lines.values()), Decimal(0))
            if rest:
                raise RejectedDocument(f"netting leaves {rest} between the invoices, the credit notes and the hub's "
                                       "payments in Tryton: nothing reconciled; reconcile by hand", document_id=command.target_id)
            answer = self._run_wizard("account.move.reconcile_lines", "account.move.line", sorted(group), [])
            if answer and "view" in answer:
                raise RejectedDocument("Tryton asks for a write-off to reconcile the netting", document_id=command.target_id)
        found = self.find_netting(command)
        if found is None:
            raise FatalError(f"netting {key}: the reconciliation ended but Tryton does not show it reconciled")
        return found

    def find_netting(self, command: WriteBackCommand) -> str | None:
        """The reconciliation of a netting: every credit note's receivable line reconciled and every
        invoice paid its share under the key; None while any part is missing."""
        key = f"o2c:{command.idempotency_key}"
        invoices = self._int_ids(command, command.payload.get("invoices") or [], "invoices")
        credits = self._int_ids(command, command.payload.get("credit_notes") or [], "credit notes")
        docs = self._documents([e["id"] for e in invoices + credits], command.target_id)
        for e in invoices:
            if e["cash"] > 0 and self._payment_line(docs[e["id"]], key) is None:
                return None
        recs = set()
        for e in credits:
            lines = self.client.read("account.move.line", docs[e["id"]]["lines_to_pay"], ["reconciliation"])
            if not lines or any(not ln["reconciliation"] for ln in lines.values()):
                return None
            recs |= {ln["reconciliation"] for ln in lines.values()}
        return "reconciliation " + ",".join(str(r) for r in sorted(recs))

    def _write_off_method(self, reason: str, company: int) -> int:
        """The write-off method configured for ``reason`` (source option ``write_offs``); a missing
        or unknown one is a :class:`ConfigError` naming the setting."""
        name = self.write_offs.get(reason)
        setting = f"sources[].options.write_offs.{reason}"
        if not name:
            raise ConfigError(f"Tryton {self.client.conn.schema}: {setting} is not set: name the Tryton write-off method "
                              f"(Financial > Configuration > Write-off Methods) the hub uses for {reason}, e.g. "
                              f"options: {{write_offs: {{{reason}: Escompte}}}}")
        found = self.client.search_read("account.move.reconcile.write_off", [("name", "=", name), ("company", "=", company)],
                                        fields=["name"])
        if len(found) != 1:
            raise ConfigError(f"Tryton {self.client.conn.schema}: {setting} = {name!r}: "
                              f"{'no' if not found else 'several'} active write-off methods of that name for company {company}")
        return int(found[0]["id"])

    def _key_line(self, invoice: dict[str, Any], key: str) -> int | None:
        """A receivable line of ``invoice``'s party whose move description starts with exactly ``key``
        (the write-off move the reconcile wizard made)."""
        rows = self.client.search_read(
            "account.move.line", [("move.description", "like", f"{key}%"), ("account", "=", invoice["account"]),
                                  ("party", "=", invoice["party"])],
            order=[["id", "ASC"]], fields=["id", "move_description_used"])
        mine = [r["id"] for r in rows if (r.get("move_description_used") or "").split(" ", 1)[0] == key]
        return mine[0] if mine else None

    def push_write_off(self, command: WriteBackCommand) -> str:
        """Write off what the hub wrote off on an invoice (an early-payment discount, bank charges, a
        small difference): the invoice's open receivable lines and payments reconciled with Tryton's
        reconcile wizard and the write-off method the source option ``write_offs`` names for the
        reason; the write-off move's description is ``o2c:<key> <reason> <bank ref>``. The invoice's
        amount to pay must be the write-off's amount (its payment recorded first), else nothing is
        written. Returns the write-off's receivable move line."""
        key = f"o2c:{command.idempotency_key}"
        payload = command.payload
        try:
            amount = Decimal(str(payload["amount"]))
            date = dt.date.fromisoformat(str(payload["date"]))
            reason = str(payload["reason"])
            (invoice,) = self._documents([int(command.target_id)], command.target_id).values()
        except (KeyError, ValueError, ArithmeticError) as exc:
            raise RejectedDocument(f"write-off command is incomplete or malformed: {exc!r}", document_id=command.target_id) from None
        method = self._write_off_method(reason, invoice["company"])
        existing = self._key_line(invoice, key)
        if existing is not None:
            return str(existing)
        number = invoice["number"] or payload.get("invoice_number")
        if invoice["type"] != "out" or invoice["state"] != "posted":
            raise RejectedDocument(f"{number}: invoice is {invoice['state']!r} in Tryton: nothing to write off",
                                   document_id=command.target_id)
        if amount <= 0 or invoice["amount_to_pay"] != amount:
            raise RejectedDocument(f"{number}: write-off of {amount} but Tryton has {invoice['amount_to_pay']} to pay (the "
                                   "payment before it is not recorded, or the invoice changed): nothing written off",
                                   document_id=command.target_id)
        lines = sorted([*self._open_lines(invoice["lines_to_pay"]), *self._open_lines(invoice["payment_lines"])])
        description = f"{key} {reason} {payload.get('bank_ref') or ''}".strip()
        answer = self._run_wizard("account.move.reconcile_lines", "account.move.line", lines,
                                  [("reconcile", {"writeoff": method, "date": date, "description": description})])
        if answer and "view" in answer:
            raise RejectedDocument(f"{number}: Tryton did not take the write-off", document_id=command.target_id)
        line = self._key_line(invoice, key)
        if line is None:
            raise FatalError(f"{number}: the reconcile wizard ended but no write-off carries {key}")
        return str(line)

    def find_write_off(self, command: WriteBackCommand) -> str | None:
        try:
            (invoice,) = self._documents([int(command.target_id)], command.target_id).values()
        except ValueError as exc:
            raise RejectedDocument(f"write-off command: {exc!r}", document_id=command.target_id) from None
        line = self._key_line(invoice, f"o2c:{command.idempotency_key}")
        return None if line is None else str(line)

    def push_reversal(self, command: WriteBackCommand) -> str:
        """Cancel a payment the hub wrote back (payload ``payment_key``) whose allocation a reviewer
        rejected or re-allocated: its reconciliation with the invoice removed (the unreconcile wizard),
        then its move cancelled with a reversal (the cancel wizard; Tryton's warning that the move has
        the invoice as origin is acknowledged: cancelling a payment does not pay the invoice). The
        cancel move's description is ``o2c:<key> reversal of o2c:<payment key>``; the invoice's amount
        to pay goes back up by the payment. Any other warning (a write-off on the same reconciliation)
        is refused with Tryton's message. Returns the cancel move."""
        key = f"o2c:{command.idempotency_key}"
        paid_key = f"o2c:{command.payload.get('payment_key') or ''}"
        try:
            (invoice,) = self._documents([int(command.target_id)], command.target_id).values()
        except ValueError as exc:
            raise RejectedDocument(f"reversal command: {exc!r}", document_id=command.target_id) from None
        number = invoice["number"] or command.payload.get("invoice_number")
        line_id = self._payment_line(invoice, paid_key) if len(paid_key) > 4 else None
        if line_id is None:
            raise RejectedDocument(f"{number}: no payment carries {paid_key} in Tryton: nothing to reverse",
                                   document_id=command.target_id)
        line = self.client.read("account.move.line", [line_id], ["move", "reconciliation"])[line_id]
        label = f"{number}: reversing {paid_key}"
        existing = self.find_reversal(command)
        if existing is not None:
            self._unlink_payment(invoice, line_id)
            return existing
        if line["reconciliation"]:
            self._acknowledging(lambda: self._run_wizard("account.move.unreconcile_lines", "account.move.line", [line_id], []),
                                (), label, command.target_id)
        self._acknowledging(
            lambda: self._run_wizard("account.move.cancel", "account.move", [line["move"]],
                                     [("cancel", {"description": f"{key} reversal of {paid_key}", "reversal": True})]),
            ("cancel_invoice_move",), label, command.target_id)
        found = self.find_reversal(command)
        if found is None:
            raise FatalError(f"{label}: the cancel wizard ended but no move carries {key}")
        self._unlink_payment(invoice, line_id)
        return found

    def _unlink_payment(self, invoice: dict[str, Any], line_id: int) -> None:
        """Take a cancelled payment line off the invoice's payment lines (it no longer pays it; left
        there it would count against a new payment: Tryton refuses payment lines above the total)."""
        (current,) = self.client.read("account.invoice", [invoice["id"]], ["payment_lines"]).values()
        if line_id in (current.get("payment_lines") or []):
            self.client.call("account.invoice", "write", [invoice["id"]], {"payment_lines": [["remove", [line_id]]]})

    def find_reversal(self, command: WriteBackCommand) -> str | None:
        key = f"o2c:{command.idempotency_key}"
        rows = self.client.search_read("account.move", [("description", "like", f"{key}%")], order=[["id", "ASC"]],
                                       fields=["description"])
        mine = [r["id"] for r in rows if (r.get("description") or "").split(" ", 1)[0] == key]
        return f"account.move,{mine[0]}" if mine else None

    def _party(self, command: WriteBackCommand) -> dict[str, Any]:
        try:
            party_id = int(command.target_id)
        except ValueError:
            raise RejectedDocument(f"{command.kind} command: {command.target_id!r} is not a Tryton party id",
                                   document_id=command.target_id) from None
        found = self.client.search_read("party.party", [("id", "=", party_id)], fields=self._fields(
            "party.party", ["name", "categories"], ["credit_limit_amount"]), context={"active_test": False})
        if not found:
            raise RejectedDocument(f"no party with id {party_id} in Tryton", document_id=command.target_id)
        if "credit_limit_amount" not in found[0]:
            raise ConfigError(f"Tryton {self.client.conn.schema}: the account_credit_limit module is not activated "
                              "(the party's credit limit amount): activate it to take credit holds")
        return found[0]

    def _category(self, name: str, *, create: bool) -> int | None:
        found = self.client.search_read("party.category", [("name", "=", name)], fields=["name"])
        if found:
            return int(found[0]["id"])
        if not create:
            return None
        (cid,) = self.client.call("party.category", "create", [{"name": name}])
        return int(cid)

    def _hold_state(self, command: WriteBackCommand) -> tuple[dict[str, Any], int | None, bool, Decimal | None]:
        """(party, the hub's category id, whether the party has its target state already, the target limit)."""
        payload = command.payload
        party = self._party(command)
        category = self._category(str(payload.get("category") or "o2c: credit hold"), create=False)
        limit = payload.get("credit_limit")
        target = None if limit in (None, "") else Decimal(str(limit))
        has = category is not None and category in (party.get("categories") or [])
        done = has == bool(payload.get("hold")) and party.get("credit_limit_amount") == target
        return party, category, done, target

    def push_credit_hold(self, command: WriteBackCommand) -> str:
        """Put a party on credit hold (payload ``hold`` true) or release it: the hub's party category
        (payload ``category``, created when missing) added or removed, and the party's credit limit
        amount (account_credit_limit, which the sale module checks when a sale is confirmed) set to
        payload ``credit_limit`` (None: no limit). Writing the target state twice changes nothing.
        A Tryton warning is refused with its message (none is raised by these writes in Tryton 8.2)."""
        party, category, done, target = self._hold_state(command)
        if not done:
            hold = bool(command.payload.get("hold"))
            if category is None:
                category = self._category(str(command.payload.get("category") or "o2c: credit hold"), create=True)
            change = [["add" if hold else "remove", [category]]]
            self._acknowledging(lambda: self.client.call("party.party", "write", [party["id"]],
                                                         {"credit_limit_amount": target, "categories": change}),
                                (), f"party {party['name']}", command.target_id)
        return f"party.party,{party['id']}"

    def find_credit_hold(self, command: WriteBackCommand) -> str | None:
        party, _category, done, _target = self._hold_state(command)
        return f"party.party,{party['id']}" if done else None

    NOTE_MODELS: ClassVar[dict[str, str]] = {"invoice": "account.invoice", "party": "party.party"}

    def _note_resource(self, command: WriteBackCommand) -> str:
        model = self.NOTE_MODELS.get(str(command.payload.get("on") or ""))
        if model is None or not command.target_id.isdigit():
            raise RejectedDocument(f"note command on {command.payload.get('on')!r} {command.target_id!r}: notes go on an "
                                   "invoice or a party, by id", document_id=command.target_id)
        if not self.client.search_read(model, [("id", "=", int(command.target_id))], fields=["id"],
                                       context={"active_test": False}):
            raise RejectedDocument(f"no {model} with id {command.target_id} in Tryton", document_id=command.target_id)
        return f"{model},{command.target_id}"

    def push_note(self, command: WriteBackCommand) -> str:
        """A note (``ir.note``, Tryton's notes on any record: the paper-clip of the client) on an
        invoice or a party, its text ``o2c:<key>`` then payload ``message``."""
        found = self.find_note(command)
        if found is not None:
            return found
        resource = self._note_resource(command)
        message = f"o2c:{command.idempotency_key} {command.payload.get('message') or ''}".strip()
        (note,) = self.client.call("ir.note", "create", [{"resource": resource, "message": message[:4000]}])
        return f"ir.note,{note}"

    def find_note(self, command: WriteBackCommand) -> str | None:
        resource = self._note_resource(command)
        key = f"o2c:{command.idempotency_key}"
        rows = self.client.search_read("ir.note", [("resource", "=", resource), ("message", "like", f"{key}%")],
                                       order=[["id", "ASC"]], fields=["message"])
        mine = [r["id"] for r in rows if (r.get("message") or "").split(" ", 1)[0] == key]
        return f"ir.note,{mine[0]}" if mine else None

    def push_status(self, command: WriteBackCommand) -> str:
        """An e-invoice lifecycle status (payload: ``code``, ``label``, ``date``, ``reason``) on the
        invoice. Tryton 8's invoice has no field for the French lifecycle (nor does any module of
        its distribution), so it is a note on the invoice, ``o2c:<key> e-invoice status 212
        Encaissée on 2026-11-20 ...``: the accountant sees it on the invoice's notes."""
        p = command.payload
        text = (f"e-invoice status {p.get('code')} {p.get('label') or ''} on {p.get('date')}"
                + (f" ({p.get('direction')})" if p.get("direction") else "")
                + (f": {p.get('reason')}" if p.get("reason") else "")).strip()
        note = WriteBackCommand(source=command.source, kind="note", target_id=command.target_id, reason=command.reason,
                                payload={"on": "invoice", "message": text})
        found = self.find_status(command)
        if found is not None:
            return found
        resource = self._note_resource(note)
        (created,) = self.client.call("ir.note", "create", [{"resource": resource,
                                                             "message": f"o2c:{command.idempotency_key} {text}"[:4000]}])
        return f"ir.note,{created}"

    def find_status(self, command: WriteBackCommand) -> str | None:
        note = WriteBackCommand(source=command.source, kind="note", target_id=command.target_id, reason=command.reason,
                                payload={"on": "invoice"})
        resource = self._note_resource(note)
        key = f"o2c:{command.idempotency_key}"
        rows = self.client.search_read("ir.note", [("resource", "=", resource), ("message", "like", f"{key}%")],
                                       order=[["id", "ASC"]], fields=["message"])
        mine = [r["id"] for r in rows if (r.get("message") or "").split(" ", 1)[0] == key]
        return f"ir.note,{mine[0]}" if mine else None

    def _dunnings(self, command: WriteBackCommand) -> list[dict[str, Any]]:
        """The dunnings (account_dunning) of the invoice's receivable lines; :class:`ConfigError` when
        that module is not activated (the demo database does not activate it)."""
        try:
            self.client.call("account.dunning", "fields_get", ["blocked"])
        except FatalError:
            raise ConfigError(f"Tryton {self.client.conn.schema}: the account_dunning module is not activated: activate "
                              "it to take dunning blocks, or stop sending them to this source") from None
        (invoice,) = self._documents([int(command.target_id)], command.target_id).values()
        return self.client.search_read("account.dunning", [("line", "in", invoice["lines_to_pay"])], fields=["blocked", "line"],
                                       context={"active_test": False})

    def push_dunning_block(self, command: WriteBackCommand) -> str:
        """Block (payload ``blocked`` true) or unblock the dunnings of an invoice's receivable lines
        (account_dunning's ``blocked``: Tryton's dunning run leaves a blocked line alone). An open
        line with no dunning yet gets one, ``draft`` and blocked, at the first level of the party's
        procedure, so that Tryton's own run never duns a disputed invoice either; unblocking an
        invoice with no dunning changes nothing."""
        dunnings = self._dunnings(command)
        blocked = bool(command.payload.get("blocked", True))
        if blocked:
            dunnings = dunnings + self._blocked_drafts(command, {d["line"] for d in dunnings})
        if not dunnings:
            return "account.dunning,none"
        change = [d["id"] for d in dunnings if bool(d["blocked"]) != blocked]
        if change:
            self.client.call("account.dunning", "write", change, {"blocked": blocked})
        return "account.dunning," + ",".join(str(d["id"]) for d in dunnings)

    def _blocked_drafts(self, command: WriteBackCommand, have: set[int]) -> list[dict[str, Any]]:
        """Blocked draft dunnings for the invoice's open receivable lines that have none."""
        c = self.client
        (invoice,) = self._documents([int(command.target_id)], command.target_id).values()
        open_lines = self._open_receivable_lines([i for i in invoice["lines_to_pay"] if i not in have])
        if not open_lines:
            return []
        procedure_id, levels = self._dunning_procedure(invoice["party"])
        ids = c.call("account.dunning", "create", [{"company": invoice["company"], "line": lid, "procedure": procedure_id,
                                                    "level": levels[0], "blocked": True} for lid in open_lines])
        return [{"id": int(i), "line": lid, "blocked": True} for i, lid in zip(ids, open_lines, strict=True)]

    def _open_receivable_lines(self, line_ids: list[int]) -> list[int]:
        """Those of ``line_ids`` still to be paid: not reconciled, owed by the customer."""
        lines = self.client.read("account.move.line", line_ids, ["debit", "credit", "reconciliation"])
        return [lid for lid, ln in lines.items() if ln["reconciliation"] is None and
                (Decimal(str(ln["debit"])) > 0 or Decimal(str(ln["credit"])) < 0)]

    def _dunning_procedure(self, party_id: int) -> tuple[int, list[int]]:
        """(procedure id, its level ids in order) that dun ``party_id``; :class:`ConfigError` when it has none."""
        c = self.client
        party = c.read("party.party", [party_id], ["dunning_procedure", "rec_name"])[party_id]
        procedure_id = party.get("dunning_procedure")
        if not procedure_id:
            raise ConfigError(f"Tryton {c.conn.schema}: customer {party.get('rec_name')!r} has no dunning procedure and "
                              "there is no default one (Financial > Configuration > Dunning Procedures)")
        levels = c.read("account.dunning.procedure", [procedure_id], ["levels"])[procedure_id]["levels"]
        if not levels:
            raise ConfigError(f"Tryton {c.conn.schema}: dunning procedure {procedure_id} has no level")
        return int(procedure_id), list(levels)

    def find_dunning_block(self, command: WriteBackCommand) -> str | None:
        dunnings = self._dunnings(command)
        blocked = bool(command.payload.get("blocked", True))
        if dunnings and all(bool(d["blocked"]) == blocked for d in dunnings):
            return "account.dunning," + ",".join(str(d["id"]) for d in dunnings)
        return None

    def push_dunning_level(self, invoice_id: str, level: int, *, reference: str = "") -> dict[str, Any]:
        """Record that invoice ``invoice_id`` was reminded at the hub's ``level`` (1 = the first)
        with Tryton's ``account_dunning``: one ``account.dunning`` per open receivable line of the
        invoice (Tryton's model: a dunning belongs to a move line, one per line), at the party's
        procedure level of that rank (the last one when the hub has more levels), processed
        (``waiting``, dated the day Tryton processes it). Idempotent: a line whose dunning is at
        that level or higher is left alone.

        A dunning still ``draft`` is moved to the level; a processed one (``waiting`` / ``final``)
        is read-only in Tryton except to Tryton's own dunning run, so it is replaced: deleted and
        created again at the new level. Returns ``{"dunnings": [ids], "level": <Tryton level id>,
        "unchanged": n}``; an invoice that is not posted or has nothing left to dun raises
        :class:`RejectedDocument`; no procedure for the party (nor a default one) is a
        :class:`ConfigError`."""
        c = self.client
        try:
            inv_id = int(invoice_id)
        except ValueError:
            raise RejectedDocument(f"Tryton invoice id {invoice_id!r} is not a number", document_id=str(invoice_id)) from None
        invoices = c.read("account.invoice", [inv_id], ["number", "state", "party", "company", "lines_to_pay"])
        if inv_id not in invoices:
            raise RejectedDocument(f"Tryton has no invoice {inv_id}", document_id=str(inv_id))
        invoice = invoices[inv_id]
        if invoice["state"] != "posted":
            raise RejectedDocument(f"{invoice['number']}: the invoice is {invoice['state']} in Tryton, not posted: no dunning",
                                   document_id=str(inv_id))
        open_lines = self._open_receivable_lines(invoice["lines_to_pay"])
        if not open_lines:
            raise RejectedDocument(f"{invoice['number']}: no open receivable line to dun in Tryton (paid, reconciled or a credit)",
                                   document_id=str(inv_id))
        procedure_id, levels = self._dunning_procedure(invoice["party"])
        rank = min(max(level, 1), len(levels)) - 1
        target = levels[rank]
        existing = c.search_read("account.dunning", [("line", "in", open_lines)],
                                 fields=["line", "level", "state", "blocked", "procedure"], context={"active_test": False})
        by_line = {d["line"]: d for d in existing}
        to_process: list[int] = []
        unchanged = 0
        kept: list[int] = []
        for lid in open_lines:
            d = by_line.get(lid)
            if d is not None:
                have = levels.index(d["level"]) if d["level"] in levels else -1
                if have >= rank or d["blocked"]:
                    unchanged += 1
                    kept.append(d["id"])
                    continue
                if d["state"] == "draft":
                    c.call("account.dunning", "write", [d["id"]], {"level": target, "procedure": procedure_id})
                    to_process.append(d["id"])
                    continue
                c.call("account.dunning", "delete", [d["id"]])
            (new_id,) = c.call("account.dunning", "create", [{"company": invoice["company"], "line": lid,
                                                               "procedure": procedure_id, "level": target}])
            to_process.append(int(new_id))
        if to_process:
            self._process_dunnings(to_process)
        log.info("Tryton: invoice %s dunned at level %s (%s)%s", invoice["number"], rank + 1, reference,
                 f", {unchanged} line(s) already there" if unchanged else "")
        return {"dunnings": sorted(kept + to_process), "level": target, "unchanged": unchanged}

    def _process_dunnings(self, ids: list[int]) -> None:
        """Tryton's "Process Dunning" wizard on ``ids``: draft dunnings become ``waiting``, dated today."""
        wizard = "account.dunning.process"
        context = {**self.client.context, "active_model": "account.dunning", "active_id": ids[0], "active_ids": ids}
        sid, start_state, _end = self.client.wizard(wizard, "create")
        try:
            self.client.wizard(wizard, "execute", sid, {}, start_state, context=context)
            self.client.wizard(wizard, "execute", sid, {"start": {}}, "process", context=context, attempts=1)
        finally:
            try:
                self.client.wizard(wizard, "delete", sid, attempts=1)
            except Exception:  # noqa: BLE001 - a stale wizard session is harmless
                log.warning("Tryton: could not delete dunning wizard session %s", sid, exc_info=True)

    def dunning_levels(self, invoice_id: str) -> list[dict[str, Any]]:
        """The dunnings of an invoice's receivable lines: ``[{line, level (1 = first), state, date}]``."""
        c = self.client
        inv = c.read("account.invoice", [int(invoice_id)], ["lines_to_pay"])[int(invoice_id)]
        rows = c.search_read("account.dunning", [("line", "in", inv["lines_to_pay"])],
                             fields=["line", "level", "state", "date", "procedure"], context={"active_test": False})
        out = []
        for d in rows:
            levels = c.read("account.dunning.procedure", [d["procedure"]], ["levels"])[d["procedure"]]["levels"]
            out.append({"line": d["line"], "level": levels.index(d["level"]) + 1, "state": d["state"], "date": d["date"]})
        return sorted(out, key=lambda r: r["line"])

    # -- helpers --------------------------------------------------------------------------
    def _read_cached(self, model: str, ids: Iterable[int], fields: list[str]) -> dict[int, dict[str, Any]]:
        ids = {i for i in ids if i is not None}
        missing = [i for i in ids if (model, i) not in self._cache]
        for rid, rec in self.client.read(model, missing, fields).items():
            self._cache[(model, rid)] = rec
        return {i: self._cache[(model, i)] for i in ids if (model, i) in self._cache}

    def _fields(self, model: str, base: list[str], optional: list[str]) -> list[str]:
        """``base`` plus the ``optional`` fields that the activated modules provide
        (credit_limit_amount from account_credit_limit, siret from party_siret)."""
        if model not in self._optional:
            known = self.client.call(model, "fields_get", optional)
            self._optional[model] = [f for f in optional if f in known]
        return base + self._optional[model]

    def _address_fields(self) -> list[str]:
        return self._fields("party.address", ["street", "postal_code", "city", "country", "sequence"], ["siret"])

    def _parties(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        parties = self._read_cached("party.party", ids, self._fields("party.party", PARTY_FIELDS,
                                                                      ["credit_limit_amount", *PARTY_MASTER_FIELDS]))
        idents = self._read_cached("party.identifier", [i for p in parties.values() for i in p["identifiers"]], ["type", "code"])
        addrs = self._read_cached("party.address", [a for p in parties.values() for a in p["addresses"]], self._address_fields())
        mechs = self._read_cached("party.contact_mechanism", [m for p in parties.values() for m in p["contact_mechanisms"]],
                                  self._fields("party.contact_mechanism", ["type", "value"], MECHANISM_MASTER_FIELDS))
        countries = self._read_cached("country.country", [a["country"] for a in addrs.values()], ["code"])
        out = {}
        for pid, p in parties.items():
            addresses = [dict(addrs[a], country_code=countries.get(addrs[a]["country"], {}).get("code")) for a in p["addresses"] if a in addrs]
            out[pid] = {
                **{k: v for k, v in p.items() if k not in ("identifiers", "addresses", "contact_mechanisms")},
                "identifiers": [idents[i] for i in p["identifiers"] if i in idents],
                "addresses": addresses,
                "address": addresses[0] if addresses else None,
                "contact_mechanisms": [mechs[m] for m in p["contact_mechanisms"] if m in mechs],
            }
        self._customer_master(out)
        return out

    # -- streams --------------------------------------------------------------------------
    def pull(self, stream: str, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        if stream == "invoices":
            yield from self._pull_invoices(since, until)
        elif stream == "customers":
            yield from self._pull_customers(since, until)
        elif stream == "settlements":
            yield from self._pull_settlements(since, until)
        elif stream == "rates":
            yield from self._pull_rates(since, until)
        else:
            yield from super().pull(stream, since, until)

    def _pages(self, model: str, domain: list[Any], fields: list[str],
               context: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        offset = 0
        order = [["write_date", "ASC"], ["create_date", "ASC"], ["id", "ASC"]]
        while True:
            rows = self.client.search_read(model, domain, offset=offset, limit=self.batch_size, order=order, fields=fields,
                                           context=context)
            if not rows:
                return
            yield rows
            if len(rows) < self.batch_size:
                return
            offset += len(rows)

    def _pull_customers(self, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        companies = self.client.search_read("company.company", [], fields=["party"])
        own = [c["party"] for c in companies]
        domain = [("id", "not in", own), *_window(since, until)]

        def pages() -> Iterator[list[dict[str, Any]]]:
            # deactivated parties too: a customer deactivated after its invoices were pulled is "blocked"
            for rows in self._pages("party.party", domain, ["id"], context={"active_test": False}):
                parties = self._parties(r["id"] for r in rows)
                records = [parties[r["id"]] for r in rows if r["id"] in parties]
                for rec in records:
                    rec["updated_at"] = rec.get("write_date") or rec.get("create_date")
                yield records

        yield from self.cursor_batches("customers", pages())

    def _pull_invoices(self, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        domain = [("type", "=", "out"), ("state", "in", ["posted", "paid"]), *_window(since, until)]
        # records sharing a timestamp across two pages keep the watermark below the tie, so a
        # resumed run cannot skip any (Tryton posts batches of invoices with one write date)
        pages = (self._complete_invoices(rows) for rows in self._pages("account.invoice", domain, INVOICE_FIELDS))
        yield from self.cursor_batches("invoices", pages)

    def _applied(self, line_tax_ids: list[int], invoice_tax_ids: set[int], taxes: dict[int, dict[str, Any]]) -> list[int]:
        """The taxes actually applied to a line. A line may carry a parent tax without a rate
        (the French chart's VAT groups); the child that applied is the one among the invoice's
        own tax lines. Reading the line's ``invoice_taxes`` instead makes the server recompute
        every line's taxes: it was 75 % of the pull time."""
        out = []
        for tid in line_tax_ids:
            tax = taxes.get(tid)
            children = (tax or {}).get("childs") or []
            if tax is None or tax.get("rate") is not None or not children:
                out.append(tid)
                continue
            self._read_cached("account.tax", children, TAX_FIELDS)
            stack, found = list(children), []
            while stack:
                child = stack.pop(0)
                if child in invoice_tax_ids:
                    found.append(child)
                    taxes[child] = self._cache[("account.tax", child)]
                else:
                    grand = self._cache.get(("account.tax", child), {}).get("childs") or []
                    if grand:
                        self._read_cached("account.tax", grand, TAX_FIELDS)
                        stack.extend(grand)
            out.extend(found or [tid])
        return out

    def _complete_invoices(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        c = self.client
        lines = c.read("account.invoice.line", [i for r in rows for i in r["lines"]],
                       self._fields("account.invoice.line", LINE_FIELDS, ["stock_moves"]))
        inv_taxes = c.read("account.invoice.tax", [i for r in rows for i in r["taxes"]],
                           self._fields("account.invoice.tax", ["base", "amount", "tax", "description"], ["legal_notice"]))
        to_pay = c.read("account.move.line", [i for r in rows for i in r["lines_to_pay"]], ["maturity_date"])
        taxes = self._read_cached("account.tax", {t for ln in lines.values() for t in ln["taxes"]} | {t["tax"] for t in inv_taxes.values()},
                                  TAX_FIELDS)
        units = self._read_cached("product.uom", [ln["unit"] for ln in lines.values()], ["name", "symbol", "unece_code"])
        products = self._read_cached("product.product", [ln["product"] for ln in lines.values()], ["rec_name", "code", "type"])
        currencies = self._read_cached("currency.currency", [r["currency"] for r in rows], ["code"])
        terms = self._read_cached("account.invoice.payment_term", [r["payment_term"] for r in rows], ["name", "description"])
        companies = self._read_cached("company.company", [r["company"] for r in rows], ["party", "currency"])
        parties = self._parties([r["party"] for r in rows] + [co["party"] for co in companies.values()])
        addresses = self._read_cached("party.address", [r["invoice_address"] for r in rows], self._address_fields())
        countries = self._read_cached("country.country", [a["country"] for a in addresses.values()], ["code"])
        out = []
        for r in rows:
            inv_lines = []
            for lid in r["lines"]:
                ln = lines.get(lid)
                if ln is None or ln["type"] != "line":
                    continue  # titles, comments and subtotals carry no amounts
                invoice_tax_ids = {inv_taxes[t]["tax"] for t in r["taxes"] if t in inv_taxes}
                line_taxes = [taxes[t] for t in self._applied(ln["taxes"], invoice_tax_ids, taxes) if t in taxes]
                inv_lines.append({**ln, "unit": units.get(ln["unit"]), "product": products.get(ln["product"]), "taxes": line_taxes,
                                  "tax": line_taxes[0] if line_taxes else None})
            address = addresses.get(r["invoice_address"])
            if address is not None:
                address = dict(address, country_code=countries.get(address["country"], {}).get("code"))
            company = companies.get(r["company"], {})
            maturities = [m["maturity_date"] for m in (to_pay.get(i) for i in r["lines_to_pay"]) if m and m["maturity_date"]]
            out.append({
                **r,
                "currency": currencies.get(r["currency"]),
                "payment_term": terms.get(r["payment_term"]),
                "party": parties.get(r["party"]),
                "invoice_address": address,
                "company": {**company, "party": parties.get(company.get("party"))},
                "lines": inv_lines,
                "taxes": [{**t, "tax": taxes.get(t["tax"])} for t in (inv_taxes.get(i) for i in r["taxes"]) if t],
                "due_date": min(maturities) if maturities else None,
                "updated_at": r["write_date"] or r["create_date"],
            })
        self._add_credited(out, lines)
        self._add_shipments(out, lines)
        self._add_tax_cash_basis(out)
        return out

    # -- customer master and currency rates ------------------------------------------------
    def _customer_master(self, parties: dict[int, dict[str, Any]]) -> None:
        """Add what collections need to each party record, in place: ``payment_term`` ({name,
        description, days}), ``lang_code``, ``dunning_contacts``, ``category_names``, ``holds``
        (the categories among ``hold_categories``; None when that option is not set).

        Dunning contacts are the ones Tryton's own dunning e-mails pick
        (``account_dunning_email``: ``party.contact_mechanism_get('email', usage=<the level's
        usage>)``, the usage Tryton offers being account_invoice's ``invoice``): the e-mail and
        phone mechanisms marked for invoices, else, as ``contact_mechanism_get`` falls back, the
        first e-mail. Their language is the mechanism's own, else the party's.
        """
        read = self._read_master
        terms = read("account.invoice.payment_term", [p.get("customer_payment_term") for p in parties.values()], TERM_FIELDS)
        lines = read("account.invoice.payment_term.line", [i for t in terms.values() for i in t["lines"]], TERM_LINE_FIELDS)
        deltas = read("account.invoice.payment_term.line.delta", [d for ln in lines.values() for d in ln["relativedeltas"]],
                      TERM_DELTA_FIELDS)
        langs = read("ir.lang", [p.get("lang") for p in parties.values()]
                     + [m.get("language") for p in parties.values() for m in p["contact_mechanisms"]], ["code"])
        categories = read("party.category", [c for p in parties.values() for c in p.get("categories") or []], ["name"])
        for p in parties.values():
            if p.get("active") is not None:
                p["active"] = bool(p["active"])  # 0/1 on a SQLite-backed Tryton
            term = terms.get(p.get("customer_payment_term"))
            if term is not None:
                term_lines = [{**lines[i], "relativedeltas": [deltas[d] for d in lines[i]["relativedeltas"] if d in deltas]}
                              for i in term["lines"] if i in lines]
                p["payment_term"] = {"name": term["name"], "description": term.get("description"), "days": net_days(term_lines)}
            else:
                p["payment_term"] = None
            p["lang_code"] = langs.get(p.get("lang"), {}).get("code")
            mechanisms = [m for m in p["contact_mechanisms"] if m.get("type") in DUNNING_CONTACT_TYPES and m.get("value")]
            chosen = [m for m in mechanisms if m.get("invoice")]
            if not any(m["type"] == "email" for m in chosen):
                chosen += [m for m in mechanisms if m["type"] == "email"][:1]
            p["dunning_contacts"] = [{"name": m.get("name"), "email" if m["type"] == "email" else "phone": m["value"],
                                      "lang_code": langs.get(m.get("language"), {}).get("code")} for m in chosen]
            p["dunning_lang_code"] = next((c["lang_code"] for c in p["dunning_contacts"] if c["lang_code"]), p["lang_code"])
            names = sorted(categories[c]["name"] for c in p.get("categories") or [] if c in categories)
            p["category_names"] = names
            p["holds"] = None if self.hold_categories is None else [n for n in names if n in self.hold_categories]

    def _read_master(self, model: str, ids: Iterable[int | None], fields: list[str]) -> dict[int, dict[str, Any]]:
        """:meth:`_read_cached` with a cache of its own: the invoices read some of these models
        with other fields (a payment term's name only)."""
        cache = self.__dict__.setdefault("_master_cache", {})
        wanted = {i for i in ids if i is not None}
        missing = [i for i in wanted if (model, i) not in cache]
        for rid, rec in self.client.read(model, missing, fields).items():
            cache[(model, rid)] = rec
        return {i: cache[(model, i)] for i in wanted if (model, i) in cache}

    def _pull_rates(self, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        """``currency.currency.rate`` records changed in the window: {id, currency (ISO 4217 code),
        date, rate, company_currency, updated_at}.

        Tryton's rate is the number of units of the currency for one unit of the currency whose
        rate is 1 (``Currency.compute`` converts ``amount * to.rate / from.rate``); the company's
        currency comes with every record, so that the hub converts into it the way Tryton does.
        """
        companies = self.client.search_read("company.company", [], fields=["currency"])
        currencies = self._read_cached("currency.currency", [c["currency"] for c in companies], ["code"])
        codes = sorted({currencies[c["currency"]]["code"] for c in companies if c["currency"] in currencies})
        if len(codes) > 1:
            raise FatalError(f"Tryton {self.client.conn.schema}: companies in several currencies ({', '.join(codes)}); "
                             "the rates stream serves one company currency")
        company_currency = codes[0] if codes else None

        def pages() -> Iterator[list[dict[str, Any]]]:
            for rows in self._pages("currency.currency.rate", _window(since, until), RATE_FIELDS):
                found = self._read_cached("currency.currency", [r["currency"] for r in rows], ["code"])
                yield [{**r, "currency": found.get(r["currency"], {}).get("code"), "company_currency": company_currency,
                        "updated_at": r.get("write_date") or r.get("create_date")} for r in rows]

        yield from self.cursor_batches("rates", pages())

    # -- settlements ----------------------------------------------------------------------
    def _pull_settlements(self, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        """The settlement state of every customer document that changed in ``(since, until]``.

        What changes when a document is settled in Tryton 8.2 (measured against the live
        server, tests/connectors/test_tryton_settlements_live.py): the pay wizard (full or partial)
        writes the invoice (its ``payment_lines``, then its state); a reconciliation (by hand,
        against a credit note, with a write-off) or its removal writes the reconciled move lines
        and then the invoice's state through ``account.invoice.process``, which Tryton queues: with
        a queue worker that write comes later, or never while the worker is down, though the amount
        to pay has already changed. So two scans: documents by their own write date, and
        receivable move lines by theirs, each line mapped back to its documents (the move's origin,
        the invoices it is a payment line of, the documents of the lines reconciled with it). A
        document's cursor is the latest of those changes in the window; records come oldest first.
        """
        changed = self._settlement_changes(since, until)
        order = sorted(changed, key=lambda i: (changed[i], i))
        pages = (self._settlement_records(order[i:i + self.batch_size], changed)
                 for i in range(0, len(order), self.batch_size))
        yield from self.cursor_batches("settlements", pages)

    def _scan(self, model: str, domain: list[Any], fields: list[str]) -> Iterator[dict[str, Any]]:
        """Rows of ``model`` matching ``domain``, read by id ranges (keyset pages: rows changing during
        the scan cannot shift a page as an offset would)."""
        last = 0
        while True:
            rows = self.client.search_read(model, [*domain, ("id", ">", last)], limit=SETTLEMENT_SCAN_PAGE,
                                           order=[["id", "ASC"]], fields=fields)
            yield from rows
            if len(rows) < SETTLEMENT_SCAN_PAGE:
                return
            last = rows[-1]["id"]

    def _settlement_changes(self, since: dt.datetime | None, until: dt.datetime) -> dict[int, dt.datetime]:
        """Document id -> the latest change in the window among it and its receivable move lines."""
        changed: dict[int, dt.datetime] = {}

        def seen(invoice_id: int, stamp: dt.datetime) -> None:
            if invoice_id not in changed or stamp > changed[invoice_id]:
                changed[invoice_id] = stamp

        for row in self._scan("account.invoice", [*SETTLEMENT_DOMAIN, *_window(since, until)], ["write_date", "create_date"]):
            seen(row["id"], _stamp(row))
        lines = list(self._scan("account.move.line", [("account.type.receivable", "=", True), *_window(since, until)],
                                ["move", "invoice_payments", "reconciliation", "write_date", "create_date"]))
        if not lines:
            return changed
        reconciliations = self.client.read("account.move.reconciliation", [ln["reconciliation"] for ln in lines], ["lines"])
        known = {ln["id"]: ln for ln in lines}
        more = {i for r in reconciliations.values() for i in r["lines"]} - set(known)
        known.update(self.client.read("account.move.line", more, ["move", "invoice_payments", "reconciliation"]))
        moves = self.client.read("account.move", [ln["move"] for ln in known.values()], ["origin"])

        def documents(line: dict[str, Any]) -> set[int]:
            origin = str(moves.get(line["move"], {}).get("origin") or "")
            found = set(line.get("invoice_payments") or [])
            if origin.startswith("account.invoice,"):
                found.add(int(origin.split(",", 1)[1]))
            return found

        touched: dict[int, dt.datetime] = {}
        for line in lines:
            related = documents(line)
            if line["reconciliation"] in reconciliations:
                for other in reconciliations[line["reconciliation"]]["lines"]:
                    related |= documents(known.get(other, {"move": None}))
            for invoice_id in related:
                if invoice_id not in touched or _stamp(line) > touched[invoice_id]:
                    touched[invoice_id] = _stamp(line)
        ids = sorted(touched)
        for i in range(0, len(ids), SETTLEMENT_SCAN_PAGE):
            chunk = ids[i:i + SETTLEMENT_SCAN_PAGE]
            for row in self.client.search_read("account.invoice", [*SETTLEMENT_DOMAIN, ("id", "in", chunk)], fields=["id"]):
                seen(row["id"], touched[row["id"]])
        return changed

    def _settlement_records(self, ids: list[int], cursors: dict[int, dt.datetime]) -> list[dict[str, Any]]:
        c = self.client
        invoices = c.read("account.invoice", ids, SETTLEMENT_INVOICE_FIELDS)
        lines = c.read("account.move.line", {i for inv in invoices.values() for i in inv["lines_to_pay"] + inv["payment_lines"]},
                       SETTLEMENT_LINE_FIELDS)
        reconciliations = c.read("account.move.reconciliation", [ln["reconciliation"] for ln in lines.values()], ["lines", "date"])
        others = {i for r in reconciliations.values() for i in r["lines"]} - set(lines)
        lines.update(c.read("account.move.line", others, SETTLEMENT_LINE_FIELDS))
        moves = c.read("account.move", [ln["move"] for ln in lines.values()], ["origin", "journal", "description", "date"])
        journals = self._read_cached("account.journal", [m["journal"] for m in moves.values()], ["type"])
        origins = {int(m["origin"].split(",", 1)[1]) for m in moves.values()
                   if str(m.get("origin") or "").startswith("account.invoice,")}
        documents = {**{i: inv for i, inv in invoices.items()},
                     **c.read("account.invoice", origins - set(invoices), ["number", "total_amount", "move"])}
        currencies = self._read_cached("currency.currency", [inv["currency"] for inv in invoices.values()], ["code"])
        context = _SettlementContext(lines, reconciliations, moves, journals, documents)
        out = []
        for invoice_id in ids:
            inv = invoices.get(invoice_id)
            if inv is None:
                continue  # deleted since the scan
            out.append({
                **{k: v for k, v in inv.items() if k not in ("lines_to_pay", "payment_lines", "move")},
                "currency": currencies.get(inv["currency"]),
                "settlement_lines": context.settling_lines(inv),
                "updated_at": cursors[invoice_id],
            })
        return out

    def _add_credited(self, invoices: list[dict[str, Any]], lines: dict[int, dict[str, Any]]) -> None:
        """Set each invoice's ``credited_invoices`` ({number, invoice_date}): the invoices whose
        lines its lines credit (a credit note line's ``origin`` is the credited invoice line)."""
        c = self.client
        origin = {lid: _ref_id(ln.get("origin"), "account.invoice.line") for lid, ln in lines.items()}
        originals = c.read("account.invoice.line", {i for i in origin.values() if i}, ["invoice"])
        credited = c.read("account.invoice", {ln["invoice"] for ln in originals.values() if ln.get("invoice")},
                          ["number", "invoice_date"])
        for inv in invoices:
            found = {originals[o]["invoice"] for o in (origin.get(ln["id"]) for ln in inv["lines"]) if o in originals}
            inv["credited_invoices"] = [{"number": credited[i]["number"], "invoice_date": credited[i]["invoice_date"]}
                                        for i in sorted(found) if i in credited and credited[i]["number"]]

    # -- French mentions: deliveries and VAT on cash basis ---------------------------------
    def _add_shipments(self, invoices: list[dict[str, Any]], lines: dict[int, dict[str, Any]]) -> None:
        """Set each invoice's ``shipments``: the done customer shipments (``stock.shipment.out``)
        its lines were delivered with, oldest first, each with its ``effective_date`` and
        ``delivery_address`` (street, city, postal code, ``country_code``, ``name``: the address's
        party name, else the customer's). Empty when nothing was shipped.

        Tryton links a goods invoice line to its stock moves (``stock_moves``, module
        account_invoice_stock; a sale fills it), and a move to its shipment (``shipment``,
        ``"stock.shipment.out,7"``). A credit note line made by the credit wizard has no moves
        of its own: it takes those of the line it credits (its ``origin``). Without
        account_invoice_stock every invoice has an empty list.
        """
        for inv in invoices:
            inv["shipments"] = []
        if not any("stock_moves" in ln for ln in lines.values()):
            return
        c = self.client
        credited = {lid: _ref_id(ln.get("origin"), "account.invoice.line") for lid, ln in lines.items()
                    if not ln.get("stock_moves")}
        originals = c.read("account.invoice.line", [i for i in credited.values() if i], ["stock_moves"])

        def moves_of(lid: int) -> list[int]:
            own = lines[lid].get("stock_moves") or []
            return own or (originals.get(credited.get(lid) or 0) or {}).get("stock_moves") or []

        invoice_moves = {inv["id"]: [m for lid in inv_line_ids for m in moves_of(lid)]
                         for inv, inv_line_ids in ((inv, [ln["id"] for ln in inv["lines"]]) for inv in invoices)}
        moves = c.read("stock.move", {m for ms in invoice_moves.values() for m in ms}, ["shipment", "state"])
        shipment_of = {mid: _ref_id(m.get("shipment"), "stock.shipment.out") for mid, m in moves.items()
                       if m.get("state") == "done"}
        shipments = c.read("stock.shipment.out", {s for s in shipment_of.values() if s},
                           ["number", "state", "effective_date", "delivery_address", "customer"])
        shipments = {sid: s for sid, s in shipments.items() if s["state"] == "done" and s["effective_date"]}
        addresses = c.read("party.address", [s["delivery_address"] for s in shipments.values()],
                           [*self._address_fields(), "party_name"])
        countries = self._read_cached("country.country", [a["country"] for a in addresses.values()], ["code"])
        customers = self._parties(s["customer"] for s in shipments.values())
        for inv in invoices:
            found = {shipment_of.get(m) for m in invoice_moves[inv["id"]]} & shipments.keys()
            out = []
            for sid in sorted(found, key=lambda i: (shipments[i]["effective_date"], i)):
                s = shipments[sid]
                address = addresses.get(s["delivery_address"])
                if address is not None:
                    customer = customers.get(s["customer"]) or {}
                    address = {**address, "country_code": countries.get(address["country"], {}).get("code"),
                               "name": address.get("party_name") or customer.get("name")}
                out.append({"id": sid, "number": s["number"], "effective_date": s["effective_date"],
                            "delivery_address": address})
            inv["shipments"] = out

    def _add_tax_cash_basis(self, invoices: list[dict[str, Any]]) -> None:
        """Set each invoice's ``tax_cash_basis``: True when Tryton booked some of its VAT on cash
        basis (VAT due on receipt: a tax line of its move with ``on_cash_basis``, module
        account_tax_cash, which marks the tax groups a fiscal year or period reports on cash
        basis), False when none, None when that module is not active (Tryton then does not say)."""
        if not self._fields("account.tax.line", [], ["on_cash_basis"]):
            for inv in invoices:
                inv["tax_cash_basis"] = None
            return
        c = self.client
        move_of = {r["id"]: r["move"] for r in c.read("account.invoice", [inv["id"] for inv in invoices], ["move"]).values()}
        moves = sorted({m for m in move_of.values() if m})
        cash = c.search_read("account.tax.line", [("move_line.move", "in", moves), ("on_cash_basis", "=", True)],
                             fields=["move_line"]) if moves else []
        cash_moves = {ml["move"] for ml in c.read("account.move.line", {t["move_line"] for t in cash}, ["move"]).values()}
        for inv in invoices:
            inv["tax_cash_basis"] = move_of.get(inv["id"]) in cash_moves


class _SettlementContext:
    """The move lines, reconciliations, moves, journals and documents read for one page of
    settlements, and how one document's settling lines are told from them."""

    def __init__(self, lines: dict[int, dict[str, Any]], reconciliations: dict[int, dict[str, Any]],
                 moves: dict[int, dict[str, Any]], journals: dict[int, dict[str, Any]], documents: dict[int, dict[str, Any]]) -> None:
        self.lines, self.reconciliations, self.moves = lines, reconciliations, moves
        self.journals, self.documents = journals, documents

    def owed(self, line: dict[str, Any], invoice: dict[str, Any], sign: int) -> Decimal | str:
        """What ``line`` adds to what is owed on ``invoice`` (negative: it settles), in the document
        currency (the line's second currency when that is the document's, as Tryton's amount to pay)."""
        if line.get("second_currency") == invoice["currency"] and line.get("amount_second_currency") is not None:
            amount = source_amount(line["amount_second_currency"])
        else:
            debit, credit = source_amount(line["debit"]), source_amount(line["credit"])
            if isinstance(debit, str) or isinstance(credit, str):
                return debit if isinstance(debit, str) else credit
            amount = debit - credit
        return amount if isinstance(amount, str) else amount * sign

    def kind(self, line: dict[str, Any], invoice: dict[str, Any]) -> tuple[str, str | None]:
        """(kind, reference) of a settling line: ``write_off`` (a write-off journal), ``credit_note``
        (the line to pay of a credit note reconciled with this invoice), ``other`` (an invoice's line
        reconciled with this credit note, a cancellation move), else ``payment``."""
        move = self.moves.get(line["move"], {})
        reference = line.get("move_description_used") or move.get("description")
        if self.journals.get(move.get("journal"), {}).get("type") == "write-off":
            return "write_off", reference
        origin = str(move.get("origin") or "")
        if origin.startswith("account.invoice,"):
            other = self.documents.get(int(origin.split(",", 1)[1]))
            if other is not None and other["id"] != invoice["id"] and other.get("move") == line["move"]:
                total = other.get("total_amount")
                is_credit_note = isinstance(total, Decimal) and total < 0
                return ("credit_note" if is_credit_note else "other"), other.get("number") or reference
        elif origin.startswith("account.move,"):
            return "other", reference  # the cancellation of a posted invoice
        return "payment", reference

    def settling_lines(self, invoice: dict[str, Any]) -> list[dict[str, Any]]:
        """The lines that took something off ``invoice``: per reconciliation of its lines to pay, the
        lines of the other side (payments and write-offs first, then other documents), each counted up
        to what the reconciliation settled of this document (a reconciliation can settle several
        documents at once); then its payment lines not reconciled yet (partial payments)."""
        total = invoice.get("total_amount")
        sign = -1 if isinstance(total, Decimal) and total < 0 else 1
        own = set(invoice["lines_to_pay"])
        out: list[dict[str, Any]] = []
        done: set[int] = set(own)
        for rec_id in dict.fromkeys(self.lines[i]["reconciliation"] for i in invoice["lines_to_pay"] if i in self.lines):
            rec = self.reconciliations.get(rec_id)
            if rec is None:
                continue
            budget: Decimal | str = Decimal(0)
            for i in rec["lines"]:
                if i in own and i in self.lines:
                    owed = self.owed(self.lines[i], invoice, sign)
                    budget = owed if isinstance(owed, str) or isinstance(budget, str) else budget + owed
            candidates = []
            for i in rec["lines"]:
                if i in done or i not in self.lines:
                    continue
                owed = self.owed(self.lines[i], invoice, sign)
                if isinstance(owed, str) or owed < 0:
                    kind, reference = self.kind(self.lines[i], invoice)
                    candidates.append((kind in ("credit_note", "other"), self.moves.get(self.lines[i]["move"], {}).get("date")
                                       or dt.date.min, i, owed, kind, reference))
            for _doc, _date, i, owed, kind, reference in sorted(candidates, key=lambda c: c[:3]):
                done.add(i)
                if isinstance(owed, str) or isinstance(budget, str):
                    amount: Decimal | str = owed if isinstance(owed, str) else budget
                else:
                    amount = min(-owed, budget)
                    if amount <= 0:
                        continue
                    budget -= amount
                out.append(self._line(i, kind, amount, reference))
        for i in invoice["payment_lines"]:
            line = self.lines.get(i)
            if i in done or line is None or line["reconciliation"]:
                continue
            done.add(i)
            owed = self.owed(line, invoice, sign)
            kind, reference = self.kind(line, invoice)
            out.append(self._line(i, kind, owed if isinstance(owed, str) else -owed, reference))
        return out

    def _line(self, line_id: int, kind: str, amount: Decimal | str, reference: str | None) -> dict[str, Any]:
        move = self.moves.get(self.lines[line_id]["move"], {})
        return {"id": line_id, "kind": kind, "amount": amount, "date": move.get("date"), "reference": reference}

