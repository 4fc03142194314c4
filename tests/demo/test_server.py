"""The seeded demo Tryton over plain JSON-RPC, as the hub's connector sees it.

The calls here are the ones the Tryton connector uses; see demo/tryton/server.py for the server.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from stdnum.de import vat as de_vat
from stdnum.fr import siren, siret, tva

from demo.tryton.server import TrytonDemoError, TrytonServer, prepare_database

pytestmark = pytest.mark.tryton

POSTED_OUT = [("type", "=", "out"), ("state", "in", ["posted", "paid"])]
INVOICE_FIELDS = [
    "number", "invoice_date", "state", "type", "currency.code", "party", "party.name", "invoice_address",
    "untaxed_amount", "tax_amount", "total_amount", "payment_term_date", "reference", "write_date", "lines",
    "taxes",
]


# -- a tiny JSON-RPC client (the real one is connectors/tryton.py) ------------------------------------


def _decode(obj: dict[str, Any]) -> Any:
    kind = obj.get("__class__")
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "date":
        return dt.date(obj["year"], obj["month"], obj["day"])
    if kind == "datetime":
        return dt.datetime(obj["year"], obj["month"], obj["day"], obj["hour"], obj["minute"], obj["second"],
                           obj["microsecond"])
    if kind == "bytes":
        return base64.b64decode(obj["base64"])
    return obj


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"__class__": "datetime", "year": value.year, "month": value.month, "day": value.day,
                "hour": value.hour, "minute": value.minute, "second": value.second,
                "microsecond": value.microsecond}
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    raise TypeError(f"cannot encode {value!r}")


class Rpc:
    def __init__(self, server: TrytonServer) -> None:
        self.url = server.rpc_url
        self.http = requests.Session()
        self.context: dict[str, Any] = {}

    def post(self, method: str, params: list[Any]) -> requests.Response:
        body = json.dumps({"id": 1, "method": method, "params": params}, default=_encode)
        return self.http.post(self.url, data=body, headers={"Content-Type": "application/json"}, timeout=30)

    def call(self, method: str, *params: Any) -> Any:
        response = self.post(method, list(params))
        response.raise_for_status()
        body = json.loads(response.text, object_hook=_decode)
        if "error" in body:
            raise AssertionError(f"{method}: {body['error']}")
        return body["result"]

    def login(self, login: str, password: str) -> list[Any]:
        user_id, session, *_ = result = self.call("common.db.login", login, {"password": password})
        token = base64.b64encode(f"{login}:{user_id}:{session}".encode()).decode()
        self.http.headers["Authorization"] = f"Session {token}"
        self.context = self.call("model.res.user.get_preferences", True, {})
        return result

    def model(self, model: str, method: str, *params: Any) -> Any:
        return self.call(f"model.{model}.{method}", *params, self.context)


@pytest.fixture(scope="module")
def rpc(tryton_server: TrytonServer) -> Rpc:
    client = Rpc(tryton_server)
    client.login(tryton_server.admin_login, tryton_server.admin_password)
    return client


# -- tests ---------------------------------------------------------------------------------------------


def test_login_and_context(tryton_server: TrytonServer, rpc: Rpc) -> None:
    assert tryton_server.url.startswith("http://127.0.0.1:")
    assert rpc.context["company"] == tryton_server.summary["company"]["id"]
    (company,) = rpc.model("company.company", "read", [rpc.context["company"]], ["rec_name", "currency.code"])
    assert company["rec_name"] == "Acme Industrie SAS"
    assert company["currency."]["code"] == "EUR"


def test_bad_password_is_http_401(tryton_server: TrytonServer) -> None:
    response = Rpc(tryton_server).post("common.db.login", [tryton_server.admin_login, {"password": "wrong"}])
    assert response.status_code == 401


def test_posted_invoices_match_the_seed(tryton_server: TrytonServer, rpc: Rpc) -> None:
    summary = tryton_server.summary
    invoices = rpc.model("account.invoice", "search_read", POSTED_OUT, 0, None, [("number", "ASC")],
                         INVOICE_FIELDS)
    assert len(invoices) == summary["posted_count"] == 44
    assert rpc.model("account.invoice", "search_count", POSTED_OUT) == summary["posted_count"]
    total = sum((i["total_amount"] for i in invoices), Decimal("0"))
    assert isinstance(total, Decimal)
    assert total == Decimal(summary["posted_total"])
    for invoice in invoices:
        assert invoice["untaxed_amount"] + invoice["tax_amount"] == invoice["total_amount"]
        assert invoice["currency."]["code"] == "EUR"
        assert isinstance(invoice["invoice_date"], dt.date)
    credit_notes = [i for i in invoices if i["total_amount"] < 0]
    assert len(credit_notes) == summary["credit_note_count"] == 4
    assert all(i["number"].startswith("AV2026-") for i in credit_notes)
    # numbering is chronological within each sequence
    for prefix in ("FA2026-", "AV2026-"):
        serie = [i for i in invoices if i["number"].startswith(prefix)]
        assert [i["invoice_date"] for i in serie] == sorted(i["invoice_date"] for i in serie)


def test_fiscal_years_cover_today_and_next_year(tryton_server: TrytonServer, rpc: Rpc) -> None:
    """account_tax_cash books a payment's cash-basis VAT in the period of today: the seed makes
    fiscal years (periods, sequences) from the invoices' year through next year, so a payment made
    today, or after the new year, finds its period."""
    today = dt.date.today()
    years = list(range(2026, today.year + 2))
    assert tryton_server.summary["fiscal_years"] == years
    fys = rpc.model("account.fiscalyear", "search_read", [], 0, None, [("start_date", "ASC")],
                    ["name", "state", "periods", "move_sequence", "invoice_sequences"])
    assert [f["name"] for f in fys] == [str(y) for y in years]
    assert all(f["state"] == "open" and len(f["periods"]) == 12 and f["move_sequence"] and f["invoice_sequences"]
               for f in fys)
    for day in (today, today.replace(month=1, day=1, year=today.year + 1), dt.date(today.year + 1, 12, 31)):
        found = rpc.model("account.period", "search", [("start_date", "<=", day), ("end_date", ">=", day),
                                                       ("type", "=", "standard"), ("state", "=", "open")])
        assert len(found) == 1, day


def test_vat_on_services_is_on_cash_basis_until_june_2026(rpc: Rpc) -> None:
    """The periods of January to June 2026 report the services sales tax group on cash basis
    (account_tax_cash); from July the company opted for VAT on debits: no period lists it."""
    periods = rpc.model("account.period", "search_read", [("type", "=", "standard")], 0, None,
                        [("start_date", "ASC")], ["start_date", "tax_group_on_cash_basis"])
    groups = rpc.model("account.tax.group", "read", sorted({g for p in periods for g in p["tax_group_on_cash_basis"]}),
                       ["name", "kind"])
    assert [(g["name"], g["kind"]) for g in groups] == [("T.V.A. Vente de services", "sale")]
    on_cash = [p["start_date"] for p in periods if p["tax_group_on_cash_basis"]]
    assert on_cash == [dt.date(2026, m, 1) for m in range(1, 7)]


def test_credit_notes_point_at_the_credited_invoice(tryton_server: TrytonServer, rpc: Rpc) -> None:
    notes = rpc.model("account.invoice", "read", tryton_server.summary["credit_note_ids"], ["number", "lines"])
    lines = rpc.model("account.invoice.line", "read", [i for n in notes for i in n["lines"]],
                      ["quantity", "amount", "origin", "invoice"])
    assert len(lines) == 4
    for line in lines:
        assert line["quantity"] < 0 and line["amount"] < 0
        model, _, origin_id = line["origin"].partition(",")
        assert model == "account.invoice.line"
        (origin,) = rpc.model("account.invoice.line", "read", [int(origin_id)], ["invoice.number"])
        assert origin["invoice."]["number"].startswith("FA2026-")


def test_draft_and_cancelled_invoices_are_not_posted(tryton_server: TrytonServer, rpc: Rpc) -> None:
    summary = tryton_server.summary
    draft_id, cancelled_id = summary["draft_id"], summary["cancelled_id"]
    states = {r["id"]: r for r in rpc.model("account.invoice", "read", [draft_id, cancelled_id],
                                            ["state", "number", "total_amount"])}
    assert states[draft_id]["state"] == "draft"
    assert states[cancelled_id]["state"] == "cancelled"
    assert states[draft_id]["number"] is None
    posted_ids = rpc.model("account.invoice", "search", POSTED_OUT, 0, None, None)
    assert draft_id not in posted_ids and cancelled_id not in posted_ids


def test_invoice_lines_carry_vat_codes(tryton_server: TrytonServer, rpc: Rpc) -> None:
    (invoice,) = rpc.model("account.invoice", "search_read", POSTED_OUT, 0, 1, [("number", "ASC")],
                           ["number", "lines", "untaxed_amount"])
    lines = rpc.model("account.invoice.line", "read", invoice["lines"],
                      ["product.code", "description", "quantity", "unit.symbol", "unit_price", "amount",
                       "taxes"])
    assert sum((line["amount"] for line in lines), Decimal("0")) == invoice["untaxed_amount"]
    tax_ids = sorted({t for line in lines for t in line["taxes"]})
    taxes = rpc.model("account.tax", "read", tax_ids, ["name", "type", "rate", "unece_code",
                                                       "unece_category_code", "childs"])
    for tax in taxes:
        assert tax["unece_code"] == "VAT"
        assert tax["unece_category_code"] in {"S", "K", "AE"}
    # invoice-level tax lines give the rate actually applied (the line tax may be a parent "Taux Normal")
    rates = {t["rate"] for t in rpc.model("account.invoice.tax", "search_read",
                                          [("invoice.type", "=", "out"), ("invoice.state", "=", "posted")],
                                          0, None, None, ["tax.rate", "base", "amount"])
             for t in [t["tax."]]}
    assert {Decimal("0.2"), Decimal("0.1"), Decimal("0.055")} <= rates


def test_customers_have_valid_identifiers(tryton_server: TrytonServer, rpc: Rpc) -> None:
    seeded = {c["id"]: c for c in tryton_server.summary["customers"]}
    parties = rpc.model("party.party", "read", list(seeded),
                        ["name", "code", "identifiers", "addresses", "tax_identifier", "credit_limit_amount"])
    identifier_ids = [i for p in parties for i in p["identifiers"]]
    identifiers = rpc.model("party.identifier", "read", identifier_ids, ["party", "type", "code", "code_compact"])
    by_party: dict[int, dict[str, str]] = {}
    for identifier in identifiers:
        by_party.setdefault(identifier["party"], {})[identifier["type"]] = identifier["code_compact"]
    assert len(parties) == 8
    for party in parties:
        codes = by_party[party["id"]]
        if seeded[party["id"]]["country"] == "FR":
            assert siren.is_valid(codes["fr_siren"]), codes
            assert siret.is_valid(codes["fr_siret"]), codes
            assert tva.is_valid(codes["eu_vat"]) and codes["eu_vat"][4:] == codes["fr_siren"]
        else:
            assert de_vat.is_valid(codes["eu_vat"]), codes
        assert party["tax_identifier"] is not None
        limit = seeded[party["id"]]["credit_limit"]
        assert party["credit_limit_amount"] == (None if limit is None else Decimal(limit))
    addresses = rpc.model("party.address", "read", [a for p in parties for a in p["addresses"]],
                          ["party", "street", "postal_code", "city", "country.code"])
    assert {a["country."]["code"] for a in addresses} == {"FR", "DE"}


def test_write_date_filter(rpc: Rpc) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # Tryton stores naive UTC timestamps
    since = now - dt.timedelta(days=3650)
    changed = rpc.model("account.invoice", "search_count",
                        POSTED_OUT + [["OR", ("write_date", ">=", since), ("create_date", ">=", since)]])
    assert changed == rpc.model("account.invoice", "search_count", POSTED_OUT)
    later = now + dt.timedelta(hours=1)
    assert rpc.model("account.invoice", "search_count",
                     POSTED_OUT + [["OR", ("write_date", ">=", later), ("create_date", ">=", later)]]) == 0


def test_prepare_refuses_a_database_under_a_running_server(tryton_server: TrytonServer) -> None:
    with pytest.raises(TrytonDemoError, match="served by trytond"):
        prepare_database(tryton_server.workdir, overwrite=True, cache_dir=tryton_server.workdir / "unused")


def test_start_failure_reports_the_log_tail(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "broken.sqlite").write_bytes(b"not a database")
    server = TrytonServer(tmp_path, "broken", start_timeout=5)
    with pytest.raises(TrytonDemoError, match="last lines of") as raised:
        server.start()
    assert str(server.log_path) in str(raised.value)
    assert server.process is None and not server.pid_path.exists()


def test_a_database_prepared_again_drops_the_old_write_ahead_log(tryton_server: TrytonServer, tmp_path: Path) -> None:
    """A second `make demo` after the template changed copied the new database next to the old
    one's -wal file, which SQLite then replayed into it ("database disk image is malformed")."""
    from tests.fixtures_tryton import TRYTON_INVOICES, TRYTON_SEED, tryton_cache_dir

    first = prepare_database(tmp_path, invoices=TRYTON_INVOICES, seed=TRYTON_SEED, cache_dir=tryton_cache_dir())
    db = tmp_path / "db" / f"{first.name}.sqlite"
    for suffix in ("-wal", "-shm"):  # what a previous server left behind
        db.with_name(db.name + suffix).write_bytes(b"\x37\x7f\x06\x82" + bytes(60))
    again = prepare_database(tmp_path, invoices=TRYTON_INVOICES, seed=TRYTON_SEED, cache_dir=tryton_cache_dir(), overwrite=True)
    assert again.name == first.name
    assert not db.with_name(db.name + "-wal").exists() and not db.with_name(db.name + "-shm").exists()
    server = TrytonServer(again).start()  # answers its login check: the database opens
    server.stop()
