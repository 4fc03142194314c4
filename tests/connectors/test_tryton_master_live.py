"""The customer master (collections fields) and the currency rates, from the live Tryton.

What Tryton holds is read back with plain JSON-RPC (tests/connectors/tryton_truth.py), not with
the connector under test. A rate written here is at a date of its own (2026-06-01), so the other
tests of the shared server see the seeded rates unchanged for their dates.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from connectors.base import ConnectionInfo
from o2c.config import SourceConfig
from o2c.jobs.risk import run_risk_scoring
from o2c.jobs.sync import sync_source, sync_stream
from o2c.store import Store
from o2c.store.cash import KpiDaily, RiskFlagRow
from o2c.store.rates import CurrencyRateRow, rate_table
from schemas.invoice import Invoice, SourceRef, Totals, TradeParty
from tests.connectors.tryton_truth import tryton_session

pytestmark = pytest.mark.tryton
FAR_FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
RATE_DAY = dt.date(2026, 6, 1)
USD_RATE = Decimal("1.250000")  # 1 EUR = 1.25 USD from 2026-06-01 on
SOURCE = SourceConfig(name="tryton_master", kind="tryton", connection="x", streams=("customers", "invoices", "rates"),
                      options={"hold_categories": ["Blocage encours"]})


def conn_info(server) -> ConnectionInfo:
    return ConnectionInfo(host="127.0.0.1", port=server.port, login=server.admin_login, password=server.admin_password,
                          schema=server.database)


def rpc(server, method: str, *params):
    http, ctx = tryton_session(server)
    body = http.post(server.rpc_url, json={"id": 9, "method": method, "params": [*params, ctx]}, timeout=60).json()
    assert "error" not in body or not body["error"], body
    return body["result"]


def set_usd_rate(server, day: dt.date, rate: Decimal) -> int:
    """Create (or change) Tryton's USD rate at ``day`` over JSON-RPC; its id."""
    (usd,) = rpc(server, "model.currency.currency.search", [["code", "=", "USD"]], 0, None, None)
    date = {"__class__": "date", "year": day.year, "month": day.month, "day": day.day}
    value = {"__class__": "Decimal", "decimal": str(rate)}
    found = rpc(server, "model.currency.currency.rate.search", [["currency", "=", usd], ["date", "=", date]], 0, None, None)
    if found:
        rpc(server, "model.currency.currency.rate.write", found, {"rate": value})
        return found[0]
    (rid,) = rpc(server, "model.currency.currency.rate.create", [{"currency": usd, "date": date, "rate": value}])
    return rid


@pytest.fixture
def store(tmp_path) -> Store:
    st = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    st.upgrade()
    return st


def test_customer_master_from_tryton(tryton_server, store):
    summary = sync_source(store, SOURCE, conn_info(tryton_server), until=FAR_FUTURE, streams=("customers",))
    assert summary.ok and summary.streams[0].rejected == 0
    by_code = {row.code: row for row in store.customers("tryton_master")}
    martin, lefevre, garage, mueller = by_code["C0001"], by_code["C0002"], by_code["C0006"], by_code["C0008"]
    # payment terms: the term's name; the days only for a plain "net N days"
    assert (martin.payment_terms, martin.payment_days) == ("30 jours net", 30)
    assert (lefevre.payment_terms, lefevre.payment_days) == ("45 jours fin de mois", None)
    # dunning contacts: the mechanisms with Tryton's invoice usage, else the first e-mail
    assert lefevre.document["dunning_contacts"] == [{"name": "Service comptabilité clients",
                                                     "email": "relances@lefevre-transports.example", "phone": None}]
    assert martin.document["dunning_contacts"] == [{"name": None, "email": "factures@boulangeries-martin.example",
                                                    "phone": None}]
    # the party's language as a BCP 47 tag
    assert (martin.dunning_language, mueller.dunning_language) == ("fr", "de")
    # holds: the configured party category; blocked: a deactivated party (pulled too)
    assert (garage.on_hold, garage.document["on_hold_reason"], garage.blocked) == (True, "Blocage encours", False)
    assert (martin.on_hold, martin.blocked) == (False, False)
    former = by_code["C0099"]
    assert (former.blocked, former.document["blocked_reason"]) == (True, "party deactivated in Tryton")
    # the credit limit as before
    assert garage.credit_limit == Decimal("0.00") and martin.credit_limit == Decimal("15000.00")


def test_without_hold_categories_the_hold_is_not_stated(tryton_server, store):
    source = SourceConfig(name="tryton_plain", kind="tryton", connection="x", streams=("customers",))
    assert sync_source(store, source, conn_info(tryton_server), until=FAR_FUTURE).ok
    garage = next(r for r in store.customers("tryton_plain") if r.code == "C0006")
    assert garage.on_hold is None and "on_hold_reason" not in {k for k, v in garage.document.items() if v is not None}


def test_rates_are_pulled_incrementally_and_kpis_are_in_the_company_currency(tryton_server, store):
    """Two currencies: the Tryton invoices in EUR and a USD invoice of another source; the KPI of
    the day is one row in EUR with the USD amounts converted at the rate read from Tryton."""
    rate_id = set_usd_rate(tryton_server, RATE_DAY, USD_RATE)
    first = sync_stream(store, SOURCE, _connector(tryton_server), "rates", until=FAR_FUTURE)
    assert first.status == "success" and first.rejected == 0 and first.inserted >= 3  # EUR 1, USD 1.0850, USD 1.25
    with store.session() as s:
        rows = {(r.currency, r.day): r for r in s.scalars(select(CurrencyRateRow))}
        assert rows[("USD", RATE_DAY)].rate == USD_RATE and rows[("USD", RATE_DAY)].source_id == str(rate_id)
        assert {r.company_currency for r in rows.values()} == {"EUR"}
        table = rate_table(s)
    assert table.company_currency == "EUR"
    assert table.convert(Decimal("125.00"), "USD", RATE_DAY) == Decimal("100.00")
    assert table.convert(Decimal("108.50"), "USD", RATE_DAY - dt.timedelta(days=1)) == Decimal("100.00")  # the seeded 1.0850

    # incremental: nothing new, then only the changed rate
    assert sync_stream(store, SOURCE, _connector(tryton_server), "rates", until=FAR_FUTURE).read == 0
    set_usd_rate(tryton_server, RATE_DAY, Decimal("1.280000"))
    again = sync_stream(store, SOURCE, _connector(tryton_server), "rates", until=FAR_FUTURE)
    assert (again.read, again.updated, again.inserted) == (1, 1, 0)
    set_usd_rate(tryton_server, RATE_DAY, USD_RATE)
    assert sync_stream(store, SOURCE, _connector(tryton_server), "rates", until=FAR_FUTURE).updated == 1

    # the invoices: Tryton's (EUR) and one in USD from another source, open at the KPI day
    assert sync_source(store, SOURCE, conn_info(tryton_server), until=FAR_FUTURE, streams=("customers", "invoices")).ok
    as_of = dt.date(2026, 12, 31)
    usd = Invoice(number="US-1", issue_date=dt.date(2026, 11, 2), due_date=dt.date(2026, 12, 2), currency="USD", type_code="380",
                  seller=TradeParty(name="Acme Inc."), buyer=TradeParty(name="Boston Tools LLC"),
                  totals=Totals(line_total=Decimal("1000.00"), tax_exclusive=Decimal("1000.00"), tax_total=Decimal("0.00"),
                                tax_inclusive=Decimal("1000.00"), payable=Decimal("1000.00")),
                  source=SourceRef(system="us_erp", id="1"))
    with store.session() as s:
        store.upsert_invoices(s, [usd], run_id=None)
    eur_open = sum((r.payable if r.type_code == "380" else -r.payable) for r in store.invoices("tryton_master"))
    run_risk_scoring(store, as_of)
    with store.session() as s:
        (kpi,) = s.scalars(select(KpiDaily).where(KpiDaily.day == as_of)).all()
        flags = s.scalars(select(RiskFlagRow).where(RiskFlagRow.as_of == as_of)).all()
    assert (kpi.currency, kpi.converted) == ("EUR", True)
    assert kpi.receivables == eur_open + Decimal("800.00")  # 1,000.00 USD / 1.25
    assert kpi.not_due + kpi.overdue_1_30 + kpi.overdue_31_60 + kpi.overdue_61_90 + kpi.overdue_90_plus == kpi.receivables
    assert kpi.overdue_1_30 >= Decimal("800.00")  # the USD invoice is 29 days late
    assert flags and {f.currency for f in flags} == {"EUR"} and all(" EUR" in f.reason for f in flags)


def _connector(server):
    from connectors.tryton import TrytonConnector

    return TrytonConnector(conn_info(server), hold_categories=["Blocage encours"])
