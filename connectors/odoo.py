"""Odoo 16, 17 and 18 over JSON-RPC: posted customer invoices, credit notes and customers.

Protocol (Odoo's External API, https://www.odoo.com/documentation/17.0/developer/reference/external_api.html;
the JSON-RPC transport is ``odoo/http.py``'s ``/jsonrpc`` dispatcher, the same services as
``/xmlrpc/2/common`` and ``/xmlrpc/2/object``):

- ``POST {url}jsonrpc`` with ``{"jsonrpc": "2.0", "method": "call", "params": {"service":
  "common", "method": "authenticate", "args": [db, login, password, {}]}, "id": n}`` answers
  the user id, or ``false`` for refused credentials;
- then ``{"service": "object", "method": "execute_kw", "args": [db, uid, password, model,
  method, args, kwargs]}``; the password may be an API key (Odoo 14+);
- errors come back with HTTP 200 and ``{"error": {"code": 200, "message": "Odoo Server Error",
  "data": {"name": "odoo.exceptions.AccessDenied", "message": ...}}}``.

Read here (field names identical in 16, 17 and 18 unless noted):

- ``account.move`` with ``move_type in (out_invoice, out_refund)`` and ``state = posted``,
  changed in ``(since, until]`` by ``write_date`` (UTC, ``YYYY-MM-DD HH:MM:SS``);
- its product lines, ``account.move.line`` with ``display_type = product`` (16.0 introduced
  this value), their taxes ``account.tax`` and units (``product_uom_id``);
- the partner (``res.partner``: ``vat``, the SIREN/SIRET in ``company_registry`` from 17.0,
  in ``siret`` from ``l10n_fr`` in 16.0, both probed with ``fields_get``; ``credit_limit``
  when the accounting app provides it), its country, its bank accounts (``res.partner.bank``),
  the issuing company (``res.company``) and the invoice's bank account (``partner_bank_id``).

Settlements (the ``settlements`` stream, :meth:`OdooConnector._pull_settlements`): per customer
invoice or credit note (posted or cancelled), ``amount_residual`` (what is left to pay, in the
document currency, positive for credit notes too), ``amount_total``, ``payment_state`` and ``state``,
and the reconciliations that settled it: the ``account.partial.reconcile`` records of its
receivable lines (``matched_debit_ids`` / ``matched_credit_ids``), the counterpart line, its move
and journal. That is what Odoo's own "Paid on ..." widget shows (``invoice_payments_widget``,
built by ``_get_reconciled_info_JSON_values`` from ``_get_reconciled_invoices_partials``,
addons/account/models/account_move.py 16.0-18.0); the widget itself is not read: a non-stored
computed Binary field for the web client (currency symbol, digits, position; ``exportable=False``,
restricted to the accounting groups) whose keys change between versions, and the method is
private (a leading underscore: not callable through ``execute_kw``). The partials are stored
records with documented fields (addons/account/models/account_partial_reconcile.py:
``debit_move_id``, ``credit_move_id``, ``amount`` in the company currency,
``debit_amount_currency`` / ``credit_amount_currency`` in each line's currency, ``max_date``).

Paging: pages of ``batch_size`` ordered by ``write_date, id``; a page's watermark never
splits records that share a ``write_date`` (:func:`connectors.sql.tie_safe_batches`). Instead of a growing
``offset`` (a record written during the pull would leave the window and shift the later
pages, losing one record), each page asks ``limit`` records after the last one read, by
keyset in the domain: ``write_date > w OR (write_date = w AND id > i)``; ``offset`` stays 0.

JSON numbers are read as :class:`~decimal.Decimal` (Odoo's monetary fields are floats on the
server, rounded to the currency; their JSON text is the exact amount). Odoo sends ``false`` for
any empty field; the mappings turn it into None (``falsy_none``, ``ref_name``).

The VAT breakdown is computed here from the product lines, grouped by their set of taxes:
base = sum of ``price_subtotal``, tax = sum of ``price_total - price_subtotal``.

Write-back (documented contract, docs/writeback.md), each found again by its key:

- ``payment``: the "Register Payment" wizard of an invoice, as the invoice's button opens it
  (addons/account/wizard/account_payment_register.py, 16.0-18.0): ``account.payment.register``
  ``create`` with the context ``active_model = account.move``, ``active_ids = [invoice]`` and
  ``amount``, ``payment_date``, ``communication`` (the memo: ``o2c:<key> <bank ref>``),
  ``journal_id``, ``payment_difference_handling = open`` (a partial payment leaves the rest open,
  nothing written off); then ``action_create_payments`` (creates, posts and reconciles the
  ``account.payment``; sent once, never retried). The wizard copies the memo to the payment's
  ``ref`` (16.0, 17.0) or ``memo`` (18.0; probed with ``fields_get``), where ``find_payment``
  looks it up. The journal is the source option ``payment_journal`` (a journal's name or code),
  else the database's only bank journal. Refused before anything is written: an unknown,
  unposted or non-customer invoice, another currency, an amount above ``amount_residual``.
- ``credit_hold``: on the ``res.partner``, the sale module's "Warning on the Sales Order"
  (addons/sale/models/res_partner.py: ``sale_warn`` ``block`` with ``sale_warn_msg``: a sales order
  for the customer cannot be confirmed... the web client stops at the partner with the message),
  the message ``o2c:<key> <why>``; and, where the accounting app has them
  (addons/account/models/partner.py), the partner's ``credit_limit`` (company-dependent: written
  for the API user's company) set to the hold's limit, released to the limit before the hold, or
  to none (``use_partner_credit_limit = False``, whose inverse restores the company's default).
  A block a person set (a message not written by the hub) is left as it is, on hold and release.
- ``note``: ``message_post`` (mail.thread, public, returns the ``mail.message`` id) on the invoice
  (``account.move``) or the customer (``res.partner``) as an internal note
  (``message_type = comment``, ``subtype_xmlid = mail.mt_note``), the body ``o2c:<key> <message>``;
  ``find_note`` reads ``mail.message`` by ``model``, ``res_id`` and ``body ilike o2c:<key>``.

Write-offs, nettings, reversals, dunning blocks and statuses are not written to Odoo (not supported).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import time
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, ClassVar

import requests

from connectors.base import (
    BaseConnector,
    Batch,
    Capabilities,
    ConnectionInfo,
    StreamSpec,
    add_amounts,
    create_once,
    exact_json,
    hub_tag,
    source_amount,
)
from schemas.errors import AuthError, ConfigError, FatalError, RejectedDocument, RetriableError
from schemas.receivables import WriteBackCommand
from transport.http import Sleep, classify_response, with_retries

log = logging.getLogger(__name__)

AUTH_ERRORS = ("AccessDenied", "AccessError", "SessionExpiredException")
RETRIABLE_ERRORS = ("SerializationFailure", "TransactionRollbackError", "concurrent update", "LockNotAvailable",
                    "OperationalError")

MOVE_FIELDS = ["name", "move_type", "state", "invoice_date", "invoice_date_due", "partner_id", "commercial_partner_id",
               "currency_id", "company_id", "amount_untaxed", "amount_tax", "amount_total", "invoice_payment_term_id",
               "ref", "payment_reference", "invoice_origin", "partner_bank_id", "write_date", "create_date"]
LINE_FIELDS = ["move_id", "sequence", "display_type", "name", "product_id", "quantity", "product_uom_id", "price_unit",
               "discount", "price_subtotal", "price_total", "tax_ids"]
TAX_FIELDS = ["name", "amount", "amount_type", "type_tax_use"]
PARTNER_FIELDS = ["name", "ref", "vat", "street", "street2", "zip", "city", "country_id", "email", "phone", "lang",
                  "is_company", "bank_ids", "type", "child_ids", "write_date", "create_date"]
# sale_warn / invoice_warn ('no-message', 'warning', 'block') and their messages: the sale and
# account modules' "Warning on the Sales Order" / "Warning on the Invoice" (docs/customer-master.md)
PARTNER_OPTIONAL = ["company_registry", "siret", "credit_limit", "property_payment_term_id", "sale_warn", "sale_warn_msg",
                    "invoice_warn", "invoice_warn_msg"]
BLOCKING_WARNINGS = (("sale_warn", "sale_warn_msg", "sales orders blocked"), ("invoice_warn", "invoice_warn_msg", "invoicing blocked"))
BANK_FIELDS = ["acc_number", "sanitized_acc_number", "bank_bic", "partner_id"]
COMPANY_FIELDS = ["name", "vat", "company_registry", "street", "street2", "zip", "city", "country_id", "email", "phone",
                  "currency_id", "partner_id"]

# the settlements stream (see the module docstring)
SETTLEMENT_DOMAIN: list[Any] = [["move_type", "in", ["out_invoice", "out_refund"]], ["state", "in", ["posted", "cancel"]]]
SETTLEMENT_MOVE_FIELDS = ["name", "move_type", "state", "amount_total", "amount_residual", "payment_state", "currency_id",
                          "write_date", "create_date"]
SETTLEMENT_LINE_FIELDS = ["move_id", "matched_debit_ids", "matched_credit_ids"]
PARTIAL_FIELDS = ["debit_move_id", "credit_move_id", "amount", "debit_amount_currency", "credit_amount_currency", "max_date",
                  "write_date", "create_date"]
COUNTERPART_LINE_FIELDS = ["move_id", "name", "date"]
COUNTERPART_MOVE_FIELDS = ["name", "ref", "move_type", "journal_id", "date"]
DOCUMENT_TYPES = ("out_invoice", "out_refund", "in_invoice", "in_refund", "out_receipt", "in_receipt")
SETTLEMENT_SCAN_PAGE = 1000  # ids per page of the change scans (a few small fields per row)

_FMT = "%Y-%m-%d %H:%M:%S"


def odoo_datetime(value: dt.datetime) -> str:
    """A UTC datetime as Odoo writes it in domains.

    >>> odoo_datetime(dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    '2026-01-05 08:30:00'
    """
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime(_FMT)


def parse_odoo_datetime(value: Any) -> dt.datetime | None:
    """>>> parse_odoo_datetime("2026-01-05 08:30:00")
    datetime.datetime(2026, 1, 5, 8, 30, tzinfo=datetime.timezone.utc)
    """
    if not value:
        return None
    return dt.datetime.strptime(str(value)[:19], _FMT).replace(tzinfo=dt.UTC)


def _ref_id(value: Any) -> int | None:
    """The id of a many2one value ``[id, name]`` (``false`` when empty)."""
    if isinstance(value, (list, tuple)) and value:
        return int(value[0])
    return None


class OdooClient:
    """A small JSON-RPC client of Odoo's External API (one database, one user)."""

    def __init__(self, conn: ConnectionInfo, *, timeout: float = 60.0, attempts: int = 4,
                 session: requests.Session | None = None, sleep: Sleep = time.sleep) -> None:
        if not conn.schema:
            raise ConfigError("Odoo connection has no database name (the URI path / connection schema)")
        if not conn.login or conn.password is None:
            raise ConfigError("Odoo connection has no login or password (API key)")
        self.conn = conn
        self.db = conn.schema
        self.url = f"{conn.base_url}{conn.extra.get('path_prefix', '')}jsonrpc"
        self.timeout = timeout
        self.attempts = attempts
        self.sleep = sleep
        self.http = session or requests.Session()
        self._ids = itertools.count(1)
        self.uid: int | None = None
        self.version: dict[str, Any] = {}
        self._login()

    def rpc(self, service: str, method: str, args: list[Any], *, attempts: int | None = None) -> Any:
        payload: dict[str, Any] = {"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method, "args": args},
                   "id": next(self._ids)}
        label = method if service != "object" else f"{args[3]}.{args[4]}"
        what = f"Odoo {self.conn.host}:{self.conn.port or ''}/{self.db} {label}"

        def once() -> Any:
            # exact JSON: a Decimal amount of a write goes as the number it is, never through a float
            resp = self.http.post(self.url, data=exact_json(payload).encode(), timeout=self.timeout,
                                  headers={"Content-Type": "application/json"})
            classify_response(resp, what)
            try:
                body = resp.json(parse_float=Decimal)
            except ValueError as exc:
                raise RetriableError(f"{what}: not a JSON-RPC answer (HTTP {resp.status_code}): {resp.text[:200]!r}") from exc
            err = body.get("error")
            if err:
                data = err.get("data") or {}
                name = str(data.get("name") or "")
                message = str(data.get("message") or err.get("message") or "")
                if any(a in name for a in AUTH_ERRORS):
                    raise AuthError(f"{what}: {name}: {message[:300]}; check the connection's login and password/API key")
                if any(r in name or r in message for r in RETRIABLE_ERRORS):
                    raise RetriableError(f"{what}: {name}: {message[:300]}")
                raise FatalError(f"{what}: server error {name or err.get('message')}: {message[:500]}")
            return body.get("result")

        return with_retries(once, what=what, attempts=attempts or self.attempts, sleep=self.sleep)

    def _login(self) -> None:
        self.version = self.rpc("common", "version", []) or {}
        uid = self.rpc("common", "authenticate", [self.db, self.conn.login, self.conn.password, {}])
        if not uid:
            raise AuthError(f"Odoo {self.db}: login refused for {self.conn.login!r}; check the login and password/API key")
        self.uid = int(uid)

    @property
    def major(self) -> int | None:
        info = self.version.get("server_version_info") or []
        return int(info[0]) if info and str(info[0]).isdigit() else None

    def execute_kw(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any] | None = None, *,
                   attempts: int | None = None) -> Any:
        return self.rpc("object", "execute_kw", [self.db, self.uid, self.conn.password, model, method, args, kwargs or {}],
                        attempts=attempts)

    def search_read(self, model: str, domain: list[Any], fields: list[str], *, offset: int = 0, limit: int | None = None,
                    order: str | None = None) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"fields": fields, "offset": offset}
        if limit is not None:
            kwargs["limit"] = limit
        if order:
            kwargs["order"] = order
        return self.execute_kw(model, "search_read", [domain], kwargs)  # type: ignore[no-any-return]

    def read(self, model: str, ids: Iterable[int], fields: list[str]) -> dict[int, dict[str, Any]]:
        ids = sorted({i for i in ids if i})
        if not ids:
            return {}
        return {r["id"]: r for r in self.execute_kw(model, "read", [ids], {"fields": fields})}

    def fields_get(self, model: str, fields: list[str]) -> dict[str, Any]:
        return self.execute_kw(model, "fields_get", [fields], {"attributes": ["type"]})  # type: ignore[no-any-return]

    def close(self) -> None:
        self.http.close()


class OdooConnector(BaseConnector):
    """Posted customer invoices / credit notes and customers of one Odoo database."""

    kind: ClassVar[str] = "odoo"
    stream_specs: ClassVar[tuple[StreamSpec, ...]] = (
        StreamSpec("invoices", ("id",), "updated_at", changed_on="account.move write_date"),
        StreamSpec("customers", ("id",), "updated_at", changed_on="res.partner write_date"),
        StreamSpec("settlements", ("id",), "updated_at",
                   changed_on="the latest write_date among the account.move and the account.partial.reconcile "
                              "records of its receivable lines"),
    )
    # the module docstring: the Register Payment wizard, the partner's sale block and credit limit, message_post
    capabilities: ClassVar[Capabilities] = Capabilities(payments=True, credit_holds=True, notes=True)

    def __init__(self, conn: ConnectionInfo, *, batch_size: int = 200, timeout: float = 60.0, attempts: int = 4,
                 customer_domain: list[Any] | None = None, payment_journal: str | None = None,
                 sleep: Sleep = time.sleep) -> None:
        self.client = OdooClient(conn, timeout=timeout, attempts=attempts, sleep=sleep)
        self.payment_journal = payment_journal or conn.extra.get("payment_journal")
        self.batch_size = int(conn.extra.get("batch_size", batch_size))
        self.customer_domain = customer_domain if customer_domain is not None else [["customer_rank", ">", 0]]
        self._cache: dict[tuple[str, int], dict[str, Any]] = {}
        self._optional: dict[str, list[str]] = {}

    def close(self) -> None:
        self.client.close()

    # -- write-back (the module docstring) -----------------------------------------------------
    def push_payment(self, command: WriteBackCommand) -> str:
        """Register a customer payment on a posted invoice (the Register Payment wizard); return
        ``account.payment,<id>``. A payment whose memo starts with the key is returned instead."""
        found = self.find_payment(command)
        if found is not None:
            return found
        move, amount, date = self._payable(command)
        tag = hub_tag(command)
        context = {"active_model": "account.move", "active_ids": [move["id"]], "active_id": move["id"]}
        wizard = self.client.execute_kw("account.payment.register", "create", [{
            "amount": amount, "payment_date": date.isoformat(), "journal_id": self._journal(),
            "communication": f"{tag} {command.payload.get('bank_ref') or ''}".strip(),
            "payment_difference_handling": "open",
        }], {"context": context})
        # creates, posts and reconciles the payment: sent once (a lost answer is found by its key next time)
        create_once(lambda: self.client.execute_kw("account.payment.register", "action_create_payments", [[wizard]],
                                                    {"context": context}, attempts=1), f"Odoo {move['name']} register payment")
        found = self.find_payment(command)
        if found is None:
            raise FatalError(f"{move['name']}: the Register Payment wizard ended but no payment carries {tag}")
        return found

    def find_payment(self, command: WriteBackCommand) -> str | None:
        """The ``account.payment`` whose memo's first word is this command's key, or None."""
        memo = "memo" if "memo" in self.client.fields_get("account.payment", ["memo", "ref"]) else "ref"
        tag = hub_tag(command)
        rows = self.client.search_read("account.payment", [[memo, "=like", f"{tag}%"]], ["id", memo], order="id asc")
        mine = [r["id"] for r in rows if str(r.get(memo) or "").split(" ", 1)[0] == tag]
        return f"account.payment,{mine[0]}" if mine else None

    def _payable(self, command: WriteBackCommand) -> tuple[dict[str, Any], Decimal, dt.date]:
        payload = command.payload
        try:
            move_id, amount = int(command.target_id), Decimal(str(payload["amount"]))
            date = dt.date.fromisoformat(str(payload["date"]))
        except (ValueError, KeyError, ArithmeticError) as exc:
            raise RejectedDocument(f"payment command is incomplete or malformed: {exc!r}", document_id=command.target_id) from None
        label = payload.get("invoice_number") or f"account.move {move_id}"
        found = self.client.search_read("account.move", [["id", "=", move_id]],
                                        ["name", "move_type", "state", "amount_residual", "currency_id"])
        if not found:
            raise RejectedDocument(f"no account.move with id {move_id} in Odoo ({label} in the hub)", document_id=command.target_id)
        move = found[0]
        name = move.get("name") or label
        if move["move_type"] != "out_invoice":
            raise RejectedDocument(f"{name}: not a customer invoice (move_type {move['move_type']!r})", document_id=command.target_id)
        if move["state"] != "posted":
            raise RejectedDocument(f"{name}: the invoice is {move['state']!r} in Odoo, only posted invoices take a payment",
                                   document_id=command.target_id)
        currency = (move.get("currency_id") or [None, None])[1]
        if payload.get("currency") and currency and payload["currency"] != currency:
            raise RejectedDocument(f"{name}: payment in {payload['currency']} on an invoice in {currency}", document_id=command.target_id)
        residual = Decimal(str(move["amount_residual"]))
        if amount <= 0 or amount > residual:
            raise RejectedDocument(f"{name}: payment {amount} is not within the amount due {residual} (overpayments are left "
                                   "to a person)", document_id=command.target_id)
        return move, amount, date

    def _journal(self) -> int:
        domain: list[Any] = [["type", "=", "bank"]]
        if self.payment_journal:
            domain = [["type", "in", ["bank", "cash"]], "|", ["name", "=", self.payment_journal], ["code", "=", self.payment_journal]]
        journals = self.client.search_read("account.journal", domain, ["name", "code"])
        if len(journals) == 1:
            return int(journals[0]["id"])
        if self.payment_journal:
            raise ConfigError(f"Odoo {self.client.db}: no bank or cash journal named or coded {self.payment_journal!r}; fix "
                              "sources[].options.payment_journal")
        raise ConfigError(f"Odoo {self.client.db}: {len(journals)} bank journals; name the one payments go to in "
                          "sources[].options.payment_journal")

    HOLD_FIELDS: ClassVar[list[str]] = ["sale_warn", "sale_warn_msg", "credit_limit", "use_partner_credit_limit"]

    def _hold_target(self, command: WriteBackCommand) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the partner as Odoo has it, the values the command wants written that differ)."""
        try:
            partner_id = int(command.target_id)
        except ValueError:
            raise RejectedDocument(f"credit_hold command: {command.target_id!r} is not an Odoo partner id",
                                   document_id=command.target_id) from None
        known = self.client.fields_get("res.partner", self.HOLD_FIELDS)
        if "sale_warn" not in known:
            raise ConfigError(f"Odoo {self.client.db}: res.partner has no sale_warn (the Sales app is not installed): the "
                              "credit hold is a sale block; install Sales or stop sending credit holds to this source")
        fields = [f for f in self.HOLD_FIELDS if f in known]
        partner = self.client.read("res.partner", [partner_id], ["name", *fields])[partner_id]
        payload, tag = command.payload, hub_tag(command)
        hold = bool(payload.get("hold"))
        want: dict[str, Any] = {}
        ours = str(partner.get("sale_warn_msg") or "").startswith("o2c:")
        if hold and (ours or partner.get("sale_warn") != "block"):  # a block a person set stays theirs
            want = {"sale_warn": "block", "sale_warn_msg": f"{tag} {command.reason}"[:2000]}
        elif not hold and ours:  # released: only the hub's own block is lifted
            want = {"sale_warn": "no-message", "sale_warn_msg": False}
        if "credit_limit" in known:
            limit = payload.get("credit_limit")
            if limit in (None, ""):
                want["use_partner_credit_limit" if "use_partner_credit_limit" in known else "credit_limit"] = \
                    False if "use_partner_credit_limit" in known else 0.0
            else:
                want["credit_limit"] = Decimal(str(limit))
        differ = {k: v for k, v in want.items() if not _same(partner.get(k), v)}
        return partner, differ

    def push_credit_hold(self, command: WriteBackCommand) -> str:
        """Put a partner on hold (payload ``hold``) or release it: sale block and credit limit (the module
        docstring). Writing the target state twice changes nothing."""
        partner, differ = self._hold_target(command)
        if differ:
            self.client.execute_kw("res.partner", "write", [[partner["id"]], differ])
        return f"res.partner,{partner['id']}"

    def find_credit_hold(self, command: WriteBackCommand) -> str | None:
        partner, differ = self._hold_target(command)
        return None if differ else f"res.partner,{partner['id']}"

    NOTE_MODELS: ClassVar[dict[str, str]] = {"invoice": "account.move", "party": "res.partner"}

    def _note_target(self, command: WriteBackCommand) -> tuple[str, int]:
        model = self.NOTE_MODELS.get(str(command.payload.get("on") or ""))
        if model is None or not command.target_id.isdigit():
            raise RejectedDocument(f"note command on {command.payload.get('on')!r} {command.target_id!r}: notes go on an "
                                   "invoice or a customer, by id", document_id=command.target_id)
        return model, int(command.target_id)

    def push_note(self, command: WriteBackCommand) -> str:
        """An internal note in the record's chatter (``message_post``), its body ``o2c:<key> <message>``."""
        found = self.find_note(command)
        if found is not None:
            return found
        model, res_id = self._note_target(command)
        body = f"{hub_tag(command)} {command.payload.get('message') or command.reason}"
        message = create_once(lambda: self.client.execute_kw(model, "message_post", [[res_id]], {
            "body": body[:10000], "message_type": "comment", "subtype_xmlid": "mail.mt_note"}, attempts=1),
            f"Odoo {model} {res_id} message_post")
        return f"mail.message,{message[0] if isinstance(message, list) else message}"

    def find_note(self, command: WriteBackCommand) -> str | None:
        model, res_id = self._note_target(command)
        tag = hub_tag(command)
        rows = self.client.search_read("mail.message", [["model", "=", model], ["res_id", "=", res_id], ["body", "ilike", tag]],
                                       ["body"], order="id asc")
        mine = [r["id"] for r in rows if _TAGS.sub(" ", str(r.get("body") or "")).split(None, 1)[:1] == [tag]]
        return f"mail.message,{mine[0]}" if mine else None

    # -- helpers --------------------------------------------------------------------------
    def _fields(self, model: str, base: list[str], optional: list[str]) -> list[str]:
        if model not in self._optional:
            known = self.client.fields_get(model, optional)
            self._optional[model] = [f for f in optional if f in known]
        return base + self._optional[model]

    def _read_cached(self, model: str, ids: Iterable[int | None], fields: list[str]) -> dict[int, dict[str, Any]]:
        wanted = {i for i in ids if i}
        missing = [i for i in wanted if (model, i) not in self._cache]
        for rid, rec in self.client.read(model, missing, fields).items():
            self._cache[(model, rid)] = rec
        return {i: self._cache[(model, i)] for i in wanted if (model, i) in self._cache}

    def _countries(self, recs: Iterable[dict[str, Any]]) -> dict[int, str]:
        countries = self._read_cached("res.country", [_ref_id(r.get("country_id")) for r in recs], ["code"])
        return {cid: c["code"] for cid, c in countries.items()}

    def _partners(self, ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
        partners = self._read_cached("res.partner", ids, self._fields("res.partner", PARTNER_FIELDS, PARTNER_OPTIONAL))
        banks = self._read_cached("res.partner.bank", [b for p in partners.values() for b in p.get("bank_ids") or []], BANK_FIELDS)
        codes = self._countries(partners.values())
        out = {}
        for pid, p in partners.items():
            out[pid] = {
                **p,
                "country_code": codes.get(_ref_id(p.get("country_id")) or 0),
                # the French registration number: company_registry (17.0+) or l10n_fr's siret (16.0)
                "registry": p.get("company_registry") or p.get("siret") or None,
                "banks": [banks[b] for b in p.get("bank_ids") or [] if b in banks],
            }
        self._customer_master(out)
        return out

    def _customer_master(self, partners: dict[int, dict[str, Any]]) -> None:
        """Add ``dunning_contacts`` and ``holds`` to each partner record, in place.

        Dunning contacts: the child contacts of type ``invoice`` (the address Odoo sends invoices
        to, ``address_get(['invoice'])``), else the partner itself, as ``address_get`` falls back.
        Holds: the "Blocking Message" warnings (``sale_warn`` / ``invoice_warn`` = ``block``) with
        their message; None when the database has neither field (no sale nor account module)."""
        fields = self._fields("res.partner", PARTNER_FIELDS, PARTNER_OPTIONAL)
        children = self._read_cached("res.partner", [c for p in partners.values() for c in p.get("child_ids") or []], fields)
        for p in partners.values():
            invoice = [children[c] for c in p.get("child_ids") or [] if c in children and children[c].get("type") == "invoice"]
            p["dunning_contacts"] = [{"name": c.get("name"), "email": c.get("email"), "phone": c.get("phone")} for c in invoice] \
                or [{"name": None, "email": p.get("email"), "phone": p.get("phone")}]
            known = [w for w in BLOCKING_WARNINGS if w[0] in fields]
            p["holds"] = None if not known else [
                f"{label}: {p.get(msg) or ''}".rstrip(": ") for flag, msg, label in known if p.get(flag) == "block"]

    def _window(self, since: dt.datetime | None, until: dt.datetime) -> list[Any]:
        domain: list[Any] = [["write_date", "<=", odoo_datetime(until)]]
        if since is not None:
            domain.append(["write_date", ">", odoo_datetime(since)])
        return domain

    def _pages(self, model: str, domain: list[Any], fields: list[str]) -> Iterator[list[dict[str, Any]]]:
        last: tuple[str, int] | None = None
        while True:
            keyset = [] if last is None else ["|", ["write_date", ">", last[0]], "&", ["write_date", "=", last[0]], ["id", ">", last[1]]]
            rows = self.client.search_read(model, domain + keyset, fields, offset=0, limit=self.batch_size, order="write_date asc, id asc")
            if not rows:
                return
            yield rows
            if len(rows) < self.batch_size:
                return
            last = (rows[-1]["write_date"], rows[-1]["id"])

    # -- streams --------------------------------------------------------------------------
    def pull(self, stream: str, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        if stream == "invoices":
            domain = [["move_type", "in", ["out_invoice", "out_refund"]], ["state", "=", "posted"], *self._window(since, until)]
            pages = (self._complete_moves(rows) for rows in self._pages("account.move", domain, MOVE_FIELDS))
            yield from self.cursor_batches(stream, pages)
        elif stream == "customers":
            domain = [*self.customer_domain, *self._window(since, until)]
            yield from self.cursor_batches(stream, self._customer_pages(domain))
        elif stream == "settlements":
            yield from self._pull_settlements(since, until)
        else:
            yield from super().pull(stream, since, until)

    def _customer_pages(self, domain: list[Any]) -> Iterator[list[dict[str, Any]]]:
        for rows in self._pages("res.partner", domain, ["write_date"]):
            partners = self._partners(r["id"] for r in rows)
            records = []
            for r in rows:
                rec = dict(partners[r["id"]])
                rec["updated_at"] = parse_odoo_datetime(rec.get("write_date") or rec.get("create_date"))
                records.append(rec)
            yield records

    def _complete_moves(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        c = self.client
        ids = [r["id"] for r in rows]
        lines = c.search_read("account.move.line", [["move_id", "in", ids], ["display_type", "=", "product"]], LINE_FIELDS,
                              order="move_id asc, sequence asc, id asc")
        taxes = self._read_cached("account.tax", {t for ln in lines for t in ln.get("tax_ids") or []}, TAX_FIELDS)
        partners = self._partners([_ref_id(r.get("commercial_partner_id")) or _ref_id(r.get("partner_id")) for r in rows])
        companies = self._read_cached("res.company", [_ref_id(r.get("company_id")) for r in rows], COMPANY_FIELDS)
        company_codes = self._countries(companies.values())
        banks = self._read_cached("res.partner.bank", [_ref_id(r.get("partner_bank_id")) for r in rows], BANK_FIELDS)
        by_move: dict[int, list[dict[str, Any]]] = {}
        for ln in lines:
            line_taxes = [taxes[t] for t in ln.get("tax_ids") or [] if t in taxes]
            by_move.setdefault(_ref_id(ln["move_id"]) or 0, []).append({**ln, "taxes": line_taxes, "tax": line_taxes[0] if line_taxes else None})
        out = []
        for r in rows:
            move_lines = by_move.get(r["id"], [])
            breakdown: dict[tuple[int, ...], dict[str, Any]] = {}
            for ln in move_lines:
                key = tuple(sorted(ln.get("tax_ids") or []))
                group = breakdown.setdefault(key, {"tax": ln["tax"], "taxes": ln["taxes"], "base": Decimal(0), "amount": Decimal(0)})
                # checked sums: an absurd line amount makes the group's text, refused with its record by the mapping
                subtotal, total = source_amount(ln["price_subtotal"]), source_amount(ln["price_total"])
                group["base"] = add_amounts(group["base"], subtotal)
                group["amount"] = add_amounts(group["amount"], total, subtotal if isinstance(subtotal, str) else -subtotal)
            company = companies.get(_ref_id(r.get("company_id")) or 0, {})
            company = {**company, "country_code": company_codes.get(_ref_id(company.get("country_id")) or 0),
                       "registry": company.get("company_registry") or None}
            out.append({
                **r,
                "lines": move_lines,
                "vat_breakdown": list(breakdown.values()),
                "partner": partners.get(_ref_id(r.get("commercial_partner_id")) or _ref_id(r.get("partner_id")) or 0),
                "company": company,
                "partner_bank": banks.get(_ref_id(r.get("partner_bank_id")) or 0),
                "updated_at": parse_odoo_datetime(r.get("write_date") or r.get("create_date")),
            })
        return out

    # -- settlements ----------------------------------------------------------------------
    def _pull_settlements(self, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        """The settlement state of every customer invoice / credit note that changed in ``(since, until]``.

        Two scans: the documents by their own ``write_date`` (Odoo's ORM stamps a record whose
        stored computed fields are recomputed, so registering a payment or reconciling a credit
        note writes the invoice's ``amount_residual`` and ``payment_state`` and its write date:
        odoo/models.py ``_write``/``_write_multi``), and the ``account.partial.reconcile``
        records created or written in the window, each mapped back to the documents of its two
        lines (``debit_move_id`` / ``credit_move_id`` -> ``move_id``), in case a reconciliation
        leaves a document's computed fields as they were. A removed reconciliation deletes its
        partial: only the documents' recomputed residuals show it, through the first scan. A
        document's cursor is the latest of these changes in the window; records come oldest first.
        """
        changed = self._settlement_changes(since, until)
        order = sorted(changed, key=lambda i: (changed[i], i))
        pages = (self._settlement_records(order[i:i + self.batch_size], changed)
                 for i in range(0, len(order), self.batch_size))
        yield from self.cursor_batches("settlements", pages)

    def _scan(self, model: str, domain: list[Any], fields: list[str]) -> Iterator[dict[str, Any]]:
        """Rows of ``model`` matching ``domain``, read by id ranges (keyset pages: a row changing
        during the scan cannot shift a page as an offset would)."""
        last = 0
        while True:
            rows = self.client.search_read(model, [*domain, ["id", ">", last]], fields, limit=SETTLEMENT_SCAN_PAGE,
                                           order="id asc")
            yield from rows
            if len(rows) < SETTLEMENT_SCAN_PAGE:
                return
            last = rows[-1]["id"]

    def _settlement_changes(self, since: dt.datetime | None, until: dt.datetime) -> dict[int, dt.datetime]:
        """Document id -> the latest change in the window among it and its reconciliations."""
        changed: dict[int, dt.datetime] = {}

        def seen(move_id: int, stamp: dt.datetime) -> None:
            if move_id not in changed or stamp > changed[move_id]:
                changed[move_id] = stamp

        window = self._window(since, until)
        for row in self._scan("account.move", [*SETTLEMENT_DOMAIN, *window], ["write_date", "create_date"]):
            seen(row["id"], _stamp(row))
        partials = list(self._scan("account.partial.reconcile", window, ["debit_move_id", "credit_move_id", "write_date",
                                                                         "create_date"]))
        if not partials:
            return changed
        wanted = sorted({i for p in partials for side in ("debit_move_id", "credit_move_id") if (i := _ref_id(p[side]))})
        lines: dict[int, dict[str, Any]] = {}
        for i in range(0, len(wanted), SETTLEMENT_SCAN_PAGE):  # bounded requests on a first, full read
            lines.update(self.client.read("account.move.line", wanted[i:i + SETTLEMENT_SCAN_PAGE], ["move_id"]))
        touched: dict[int, dt.datetime] = {}
        for p in partials:
            for side in ("debit_move_id", "credit_move_id"):
                move_id = _ref_id(lines.get(_ref_id(p[side]) or 0, {}).get("move_id"))
                if move_id and (move_id not in touched or _stamp(p) > touched[move_id]):
                    touched[move_id] = _stamp(p)
        ids = sorted(touched)
        for i in range(0, len(ids), SETTLEMENT_SCAN_PAGE):  # keep the customer documents among them
            chunk = ids[i:i + SETTLEMENT_SCAN_PAGE]
            for row in self.client.search_read("account.move", [*SETTLEMENT_DOMAIN, ["id", "in", chunk]], ["id"]):
                seen(row["id"], touched[row["id"]])
        return changed

    def _settlement_records(self, ids: list[int], cursors: dict[int, dt.datetime]) -> list[dict[str, Any]]:
        c = self.client
        moves = c.read("account.move", ids, SETTLEMENT_MOVE_FIELDS)
        # the receivable lines ("lines to pay") of these documents, as _get_reconciled_invoices_partials takes them
        own = c.search_read("account.move.line", [["move_id", "in", sorted(moves)], ["account_type", "=", "asset_receivable"]],
                            SETTLEMENT_LINE_FIELDS, order="id asc")
        partials = c.read("account.partial.reconcile",
                          [p for ln in own for p in (ln.get("matched_debit_ids") or []) + (ln.get("matched_credit_ids") or [])],
                          PARTIAL_FIELDS)
        own_ids = {ln["id"] for ln in own}
        others = {_ref_id(p[side]) for p in partials.values() for side in ("debit_move_id", "credit_move_id")} - own_ids
        counterparts = c.read("account.move.line", [i for i in others if i], COUNTERPART_LINE_FIELDS)
        other_moves = c.read("account.move", [_ref_id(ln.get("move_id")) for ln in counterparts.values()], COUNTERPART_MOVE_FIELDS)
        journals = self._read_cached("account.journal", [_ref_id(m.get("journal_id")) for m in other_moves.values()], ["type"])
        by_move: dict[int, list[dict[str, Any]]] = {}
        for ln in own:
            by_move.setdefault(_ref_id(ln["move_id"]) or 0, []).append(ln)
        out = []
        for move_id in ids:
            move = moves.get(move_id)
            if move is None:
                continue  # deleted since the scan
            settling, dates = [], []
            for ln in by_move.get(move_id, []):
                for pid in (ln.get("matched_debit_ids") or []) + (ln.get("matched_credit_ids") or []):
                    p = partials.get(pid)
                    if p is None:
                        continue
                    mine_is_debit = _ref_id(p["debit_move_id"]) == ln["id"]
                    # what this partial took off the document, in its currency (the widget's 'amount')
                    amount = p["debit_amount_currency" if mine_is_debit else "credit_amount_currency"]
                    other = counterparts.get(_ref_id(p["credit_move_id" if mine_is_debit else "debit_move_id"]) or 0)
                    if other is None or not amount:
                        continue  # an exchange difference: nothing taken off in the document currency
                    other_move = other_moves.get(_ref_id(other.get("move_id")) or 0, {})
                    settling.append({"id": pid, "kind": _settling_kind(move, other_move, journals),
                                     "amount": amount, "date": other.get("date") or other_move.get("date") or None,
                                     "reference": _reconciliation_ref(other_move) or other.get("name") or None})
                    if p.get("max_date"):
                        dates.append(str(p["max_date"]))
            settled = move.get("state") == "posted" and move.get("amount_residual") == 0 and bool(settling)
            out.append({**move, "settlement_lines": settling, "settled_on": max(dates) if settled and dates else None,
                        "updated_at": cursors[move_id]})
        return out


_TAGS = re.compile(r"<[^>]*>")


def _same(have: Any, want: Any) -> bool:
    """Whether an Odoo value (``false`` for empty, floats as Decimals) already is the wanted one."""
    if isinstance(want, Decimal):
        return have not in (None, False) and Decimal(str(have)) == want
    if want is False:
        return have in (None, False, "")
    return bool(have == want)


def _stamp(row: dict[str, Any]) -> dt.datetime:
    stamp = parse_odoo_datetime(row.get("write_date") or row.get("create_date"))
    if stamp is None:
        raise FatalError(f"Odoo record {row.get('id')} has neither write_date nor create_date")
    return stamp


def _reconciliation_ref(move: dict[str, Any]) -> str | None:
    """The widget's ``ref``: the counterpart move's name, with its reference (a payment's memo) in
    brackets (``PBNK1/2026/00001 (Virement client)``)."""
    name, ref = move.get("name") or None, move.get("ref") or None
    if name and ref:
        return f"{name} ({ref})"
    return name or ref


def _settling_kind(move: dict[str, Any], other: dict[str, Any], journals: dict[int, dict[str, Any]]) -> str:
    """``credit_note`` (a customer credit note reconciled with this invoice), ``payment`` (a move of
    a bank or cash journal: a payment or a bank statement line), else ``other`` (the invoice a
    credit note was used against, a miscellaneous entry: Odoo has no write-off journal type, a
    write-off booked by hand is a miscellaneous entry)."""
    other_type = other.get("move_type")
    if other_type in DOCUMENT_TYPES:
        return "credit_note" if other_type == "out_refund" and move.get("move_type") == "out_invoice" else "other"
    journal = journals.get(_ref_id(other.get("journal_id")) or 0, {})
    return "payment" if journal.get("type") in ("bank", "cash") else "other"
