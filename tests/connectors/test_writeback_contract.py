"""The write-back contract every target passes (docs/writeback.md), on the documented-contract
servers of Odoo (16, 17, 18), SAP S/4HANA, Salesforce and HubSpot on loopback. Tryton's live
write-back is tests/cash/test_writeback_kinds_live.py.

For every kind a connector declares (:class:`connectors.base.Capabilities`):

- applied once: before, ``find_<kind>`` finds nothing; ``push_<kind>`` changes the record as the
  kind says (read back from the server's state), and ``find_<kind>`` then finds it by the key;
- applied again with the same command: the same reference, and no second change (no write
  reaches the server);
- an unknown target: the command fails with the ERP's own reason (:class:`RejectedDocument` or a
  per-command :class:`FatalError`, never a setting error), nothing changed in the ERP;
- a 5xx: :class:`RetriableError` (nothing changed); a 401: :class:`AuthError` at once;
- a kind not declared: :class:`NotSupported` from both methods;
- through the outbox (:func:`o2c.jobs.writeback.push_pending`): sent, an unknown target ``failed``
  with the ERP's reason while the others go on, a stale claim found by its key and not sent again.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from connectors.base import WRITE_METHODS, ConnectionInfo, NotSupported, command_flag, hub_tag
from schemas.errors import AuthError, ConfigError, FatalError, OutcomeUnknown, RejectedDocument, RetriableError
from schemas.receivables import WriteBackCommand

HOLD = {"hold": True, "category": "o2c: credit hold", "credit_limit": "1200.00", "previous_limit": "15000.0",
        "as_of": "2026-02-28", "flags": ["overdue_beyond_policy"], "exposure": "1200.00", "overdue": "800.00"}
REASON = "credit hold by the hub on 2026-02-28: overdue_beyond_policy (high): 800.00 EUR past due over 60 days"


def command(kind: str, target: str, **payload: Any) -> WriteBackCommand:
    base: dict[str, Any] = {
        "credit_hold": HOLD,
        "note": {"on": "party", "message": "held: 800.00 EUR past due", "for": "hold-1"},
        "payment": {"amount": "100.00", "currency": "EUR", "date": "2026-02-20", "bank_ref": "VIR-REF-1",
                    "invoice_number": "INV", "bank_entry": "E1", "tx_index": 0},
    }[kind]
    return WriteBackCommand(source="contract", kind=kind, target_id=target, payload={**base, **payload}, reason=REASON)  # type: ignore[arg-type]


@dataclass
class WriteCase:
    """One target: its connector, the commands of each kind it declares on a known record and on an
    unknown one, what the ERP says about the unknown one, and how to read its state."""

    name: str
    make: Callable[..., Any]  # (**options) -> connector
    server: Any
    known: dict[str, WriteBackCommand]
    unknown: dict[str, WriteBackCommand]
    refusal: str  # a regular expression the ERP's reason for an unknown target matches
    applied: Callable[[WriteBackCommand], bool]  # the server's state shows the command's change
    writes: Callable[[], int]  # write requests the server received so far
    snapshot: Callable[[], Any]  # the server's records a write-back could change
    extra: dict[str, Any] = field(default_factory=dict)


# -- cases -----------------------------------------------------------------------------------
@contextlib.contextmanager
def odoo_case(version: int) -> Iterator[WriteCase]:
    from connectors.odoo import OdooConnector
    from tests.fixtures.odoo.server import FakeOdoo

    writing = {"write", "create", "message_post", "action_create_payments"}
    with FakeOdoo(version=version) as server:
        records = server.state.records

        def applied(cmd: WriteBackCommand) -> bool:
            tag = hub_tag(cmd)
            if cmd.kind == "credit_hold":
                p = next(r for r in records["res.partner"] if str(r["id"]) == cmd.target_id)
                return p["sale_warn"] == "block" and p["sale_warn_msg"].startswith(tag) and p["credit_limit"] == 1200.0
            if cmd.kind == "note":
                return [m["model"] for m in records["mail.message"] if m["res_id"] == int(cmd.target_id) and tag in m["body"]] \
                    == ["res.partner"]
            memo = "memo" if version >= 18 else "ref"
            pays = [p for p in records["account.payment"] if str(p[memo]).startswith(tag)]
            move = next(m for m in records["account.move"] if str(m["id"]) == cmd.target_id)
            return len(pays) == 1 and pays[0]["amount"] == 100.0 and move["amount_residual"] == 4300.0

        def writes() -> int:
            return sum(1 for r in server.requests if (r.get("params") or {}).get("method") == "execute_kw"
                       and r["params"]["args"][4] in writing)

        yield WriteCase(f"odoo-{version}", lambda **kw: OdooConnector(ConnectionInfo.from_uri(server.uri()), **kw), server,
                        known={"credit_hold": command("credit_hold", "7"), "note": command("note", "7"),
                               "payment": command("payment", "103")},
                        unknown={"credit_hold": command("credit_hold", "999"), "note": command("note", "999"),
                                 "payment": command("payment", "999")},
                        refusal=r"Record does not exist|no account\.move with id 999", applied=applied, writes=writes,
                        snapshot=lambda: copy.deepcopy({m: records[m] for m in ("res.partner", "mail.message", "account.payment",
                                                                                "account.move")}))


@contextlib.contextmanager
def sap_case() -> Iterator[WriteCase]:
    from connectors.sap_s4 import SapS4Connector
    from tests.fixtures.sap_s4.server import FakeSap

    with FakeSap() as server:
        def applied(cmd: WriteBackCommand) -> bool:
            account = server.state.credit_account(cmd.target_id, "0000")
            return account["CreditAccountIsBlocked"] is True and account["CreditLimitAmount"] == "15000.000"

        yield WriteCase("sap_s4", lambda **kw: SapS4Connector(ConnectionInfo.from_uri(server.uri()), **kw), server,
                        known={"credit_hold": command("credit_hold", "1000100")},
                        unknown={"credit_hold": command("credit_hold", "1000400")},
                        refusal="no business partner for customer 1000400", applied=applied,
                        writes=lambda: sum(1 for r in server.requests if r.get("method") in ("PATCH", "MERGE")),
                        snapshot=lambda: copy.deepcopy(server.state.entities["CreditManagementAccount"]))


@contextlib.contextmanager
def salesforce_case() -> Iterator[WriteCase]:
    from connectors.salesforce import SalesforceConnector
    from tests.fixtures.salesforce.server import FakeSalesforce

    known, missing = "0015g00000AbCd1AAF", "0015g00000ZzZz9AAF"
    with FakeSalesforce() as server:
        def applied(cmd: WriteBackCommand) -> bool:
            a = server.account(cmd.target_id)
            if cmd.kind == "credit_hold":
                return (a["O2C_Risk_Level__c"], a["O2C_Exposure__c"], a["O2C_Overdue_Amount__c"], a["O2C_Last_Key__c"]) == \
                    ("high", 1200.0, 800.0, hub_tag(cmd)) and "overdue_beyond_policy" in a["O2C_Last_Flag__c"]
            return [t["WhatId"] for t in server.tasks if t["Subject"].startswith(hub_tag(cmd))] == [cmd.target_id]

        yield WriteCase("salesforce", lambda **kw: SalesforceConnector(ConnectionInfo.from_uri(server.uri()), **kw), server,
                        known={"credit_hold": command("credit_hold", known), "note": command("note", known)},
                        unknown={"credit_hold": command("credit_hold", missing), "note": command("note", missing)},
                        refusal="NOT_FOUND|INVALID_CROSS_REFERENCE_KEY", applied=applied,
                        writes=lambda: sum(1 for r in server.requests if r["method"] == "PATCH"
                                           or (r["method"] == "POST" and r["path"].endswith("/sobjects/Task"))),
                        snapshot=lambda: copy.deepcopy((server.accounts, server.tasks)))


@contextlib.contextmanager
def hubspot_case() -> Iterator[WriteCase]:
    from connectors.hubspot import HubSpotConnector
    from tests.fixtures.hubspot.server import FakeHubSpot

    with FakeHubSpot() as server:
        def applied(cmd: WriteBackCommand) -> bool:
            if cmd.kind == "credit_hold":
                p = server.company(cmd.target_id)["properties"]
                return (p.get("o2c_risk_level"), p.get("o2c_exposure"), p.get("o2c_overdue_amount"), p.get("o2c_last_key")) == \
                    ("high", "1200.00", "800.00", hub_tag(cmd))
            mine = [n["id"] for n in server.notes if n["properties"]["hs_note_body"].startswith(hub_tag(cmd))]
            return len(mine) == 1 and server.associations.get(cmd.target_id) == mine

        yield WriteCase("hubspot", lambda **kw: HubSpotConnector(ConnectionInfo.from_uri(server.uri()), **kw), server,
                        known={"credit_hold": command("credit_hold", "9876543201"), "note": command("note", "9876543201")},
                        unknown={"credit_hold": command("credit_hold", "9876543299"), "note": command("note", "9876543299")},
                        refusal="OBJECT_NOT_FOUND|company 9876543299 does not exist", applied=applied,
                        writes=lambda: sum(1 for r in server.requests if r.get("method") == "PATCH"
                                           or r.get("path") == "/crm/v3/objects/notes"),
                        snapshot=lambda: copy.deepcopy((server.companies, server.notes, server.associations)))


CASES = ["odoo-16", "odoo-17", "odoo-18", "sap_s4", "salesforce", "hubspot"]


@pytest.fixture(params=CASES)
def case(request) -> Iterator[WriteCase]:
    name = request.param
    cm = (odoo_case(int(name.split("-")[1])) if name.startswith("odoo-") else
          {"sap_s4": sap_case, "salesforce": salesforce_case, "hubspot": hubspot_case}[name]())
    with cm as c:
        yield c


def kinds(case: WriteCase) -> list[str]:
    with case.make() as c:
        declared = [k for k in WRITE_METHODS if c.capabilities.supports(k)]
    assert declared and set(declared) == set(case.known), "every declared kind has a contract command"
    return declared


# -- the contract ----------------------------------------------------------------------------
def test_each_declared_kind_is_applied_once_and_found_by_its_key(case):
    with case.make() as c:
        for kind in kinds(case):
            push, find = (getattr(c, m) for m in WRITE_METHODS[kind])
            cmd = case.known[kind]
            assert find(cmd) is None and not case.applied(cmd), kind
            ref = push(cmd)
            assert ref and case.applied(cmd), kind
            assert find(cmd) == ref, kind  # recovery after a lost answer sees it by its key
            before = case.writes()
            assert push(cmd) == ref and case.writes() == before, f"{kind}: pushed again, something was written"
            assert case.applied(cmd)


def test_an_unknown_target_fails_with_the_erps_reason_and_writes_nothing(case):
    with case.make() as c:
        for kind in kinds(case):
            before = case.snapshot()
            with pytest.raises((RejectedDocument, FatalError)) as info:
                getattr(c, WRITE_METHODS[kind][0])(case.unknown[kind])
            err = info.value
            assert not isinstance(err, (ConfigError, AuthError, NotSupported)), (kind, err)  # not a setting: this command only
            assert re.search(case.refusal, str(err)), (kind, str(err))
            assert case.snapshot() == before, kind  # the ERP refused it: nothing changed there


def test_a_server_error_is_retriable_and_writes_nothing(case):
    with case.make(attempts=1) as c:
        for kind in kinds(case):
            cmd = case.known[kind]
            before = case.snapshot()
            case.server.fail_next((503, {}, b"Service Unavailable"))
            with pytest.raises(RetriableError, match="503"):
                getattr(c, WRITE_METHODS[kind][0])(cmd)
            assert case.snapshot() == before and not case.applied(cmd), kind


def test_a_create_whose_answer_is_lost_is_an_unknown_outcome(case, monkeypatch):
    """A note is created once: a 5xx or a dropped connection on the create itself says the system may
    have created it (:class:`OutcomeUnknown`: the outbox keeps it claimed and looks it up by its key
    after the claim timeout, never sends it again at once); a 429 was refused before anything was
    done and stays a plain retriable error."""
    if "note" not in case.known:
        pytest.skip(f"{case.name}: takes no notes")
    with case.make() as c:
        monkeypatch.setattr(c, "find_note", lambda cmd: None)  # the next request is the create itself
        for failure, unknown in (((503, {}, b"Service Unavailable"), True), ((429, {"Retry-After": "0"}, b""), False)):
            case.server.fail_next(failure)
            with pytest.raises(RetriableError) as info:
                c.push_note(case.known["note"])
            assert isinstance(info.value, OutcomeUnknown) == unknown, (failure, info.value)
        assert not case.applied(case.known["note"])


def test_refused_credentials_are_an_auth_error_at_once(case):
    waits: list[float] = []
    with case.make(sleep=waits.append) as c:
        for kind in kinds(case):
            before = len(case.server.requests)
            case.server.fail_next((401, {}, b"Unauthorized"))
            with pytest.raises(AuthError, match="401"):
                getattr(c, WRITE_METHODS[kind][0])(case.known[kind])
            assert len(case.server.requests) == before + 1 and not case.applied(case.known[kind])
    assert waits == []


def test_a_kind_not_declared_is_not_supported(case):
    with case.make() as c:
        undeclared = [k for k in WRITE_METHODS if not c.capabilities.supports(k)]
        assert undeclared
        for kind in undeclared:
            assert command_flag(kind) not in c.capabilities.names
            for name in WRITE_METHODS[kind]:
                with pytest.raises(NotSupported):
                    getattr(c, name)(WriteBackCommand(source="contract", kind=kind, target_id="1", payload={},  # type: ignore[arg-type]
                                                      reason="x"))


def test_through_the_outbox_sent_failed_and_recovered_by_key(case, tmp_path):
    from o2c.config import KindPolicy, WriteBackApprovalConfig
    from o2c.jobs.writeback import _add, outbox, push_pending
    from o2c.store import Store, utcnow
    from o2c.store.writeback import WriteBackRow

    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    declared = kinds(case)
    policy = WriteBackApprovalConfig(policy={kind: KindPolicy(auto=True) for kind in declared})
    with store.session() as s:
        for kind in declared:  # per kind: an unknown target first (fails, the run goes on), then the known one
            assert _add(s, case.unknown[kind], utcnow(), policy=policy) and _add(s, case.known[kind], utcnow(), policy=policy)
    with case.make() as c:
        summary = push_pending(store, "contract", c)
    assert (summary.sent, summary.failed, summary.retry_later) == (len(declared), len(declared), 0), summary
    rows = outbox(store, "contract")
    for row in rows:
        cmd = case.known[row.kind] if row.target_id == case.known[row.kind].target_id else case.unknown[row.kind]
        if cmd is case.known[row.kind]:
            assert row.status == "sent" and row.remote_ref and case.applied(cmd), row.kind
        else:
            assert row.status == "failed" and re.search(case.refusal, row.last_error or ""), (row.kind, row.last_error)
    # a pusher died after the ERP applied a command: the next run finds it by its key, writes nothing
    with store.session() as s:
        for row in s.query(WriteBackRow).filter(WriteBackRow.status == "sent"):
            row.status, row.claimed_by, row.claimed_at = "sending", "dead:1:x", utcnow() - dt.timedelta(hours=3)
    before = case.writes()
    with case.make() as c:
        again = push_pending(store, "contract", c, stale_after=dt.timedelta(hours=1))
    assert (again.recovered, again.sent, again.failed) == (len(declared), len(declared), 0)
    assert case.writes() == before


@pytest.mark.parametrize("kind", ["odoo", "salesforce"])
def test_risk_flags_become_holds_and_notes_for_a_documented_target(kind, tmp_path):
    """From the sync to the ERP: a customer synced from the target with a high risk flag is enqueued a
    credit hold (with what it owes and the part past due) and, where the target takes notes, a note
    on it (:func:`o2c.jobs.writeback.enqueue_all`: the capabilities, not the kind, decide), both
    pushed and visible in the target; a later run without the flag releases it."""
    from sqlalchemy import select

    from o2c.config import KindPolicy, SourceConfig, WriteBackApprovalConfig
    from o2c.jobs.sync import sync_stream
    from o2c.jobs.writeback import enqueue_all, outbox, push_pending
    from o2c.store import Store, utcnow
    from o2c.store.cash import RiskFlagRow
    from o2c.store.models import CustomerRow
    from o2c.store.parties import PartyLink

    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    until = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    cm = odoo_case(17) if kind == "odoo" else salesforce_case()
    with cm as case:
        source = SourceConfig(name="contract", kind=kind, connection="x",
                              streams=["customers", "invoices"] if kind == "odoo" else ["customers"],
                              writeback=WriteBackApprovalConfig(policy={"credit_hold": KindPolicy(auto=True),
                                                                        "note": KindPolicy(auto=True)}))
        options = {} if kind == "odoo" else {"extra_fields": ["CurrencyIsoCode", "Credit_Limit__c", "SIREN__c", "VAT_Number__c",
                                                                "Payment_Terms__c"]}
        with case.make(**options) as c:
            for stream in source.streams:
                sync_stream(store, source, c, stream, until=until)
        with store.session() as s:
            cust, party = next((c, p) for c, p in s.execute(
                select(CustomerRow, PartyLink.party_id).join(PartyLink, PartyLink.customer_id == CustomerRow.id, isouter=True)
                .where(CustomerRow.source == "contract").order_by(CustomerRow.id)) if c.credit_limit)
            key = str(party) if party is not None else f"contract:{cust.siren or cust.vat_id or cust.source_id}"
            s.add(RiskFlagRow(run_id="r1", as_of=dt.date(2026, 2, 28), customer_key=key, customer_name=cust.name,
                              kind="overdue_beyond_policy", severity="high", reason="past due beyond policy", amount=None,
                              currency=None, created_at=utcnow()))
        added = enqueue_all(store, sources=[source])
        assert (added["credit_hold"], added["note"]) == (2, 0)  # the hold, and its note counted with it
        rows = outbox(store, "contract")
        assert sorted(r.kind for r in rows) == ["credit_hold", "note"]
        hold = next(r for r in rows if r.kind == "credit_hold")
        assert hold.target_id == cust.source_id and {"exposure", "overdue"} <= set(hold.payload)
        with case.make(**options) as c:
            assert push_pending(store, "contract", c).sent == 2
        cmd = WriteBackCommand(source=hold.source, kind="credit_hold", target_id=hold.target_id, payload=dict(hold.payload),
                               reason=hold.reason)
        if kind == "odoo":
            p = next(r for r in case.server.state.records["res.partner"] if str(r["id"]) == cust.source_id)
            assert p["sale_warn"] == "block" and p["sale_warn_msg"].startswith(hub_tag(cmd))
            assert any(m["res_id"] == int(cust.source_id) and "credit hold by the hub" in m["body"]
                       for m in case.server.state.records["mail.message"])
        else:
            a = case.server.account(cust.source_id)
            assert (a["O2C_Risk_Level__c"], a["O2C_Last_Key__c"]) == ("high", hub_tag(cmd))
            assert a["O2C_Exposure__c"] == float(hold.payload["exposure"])
            assert [t["WhatId"] for t in case.server.tasks] == [cust.source_id]
        # the next risk run has no high flag for it: released
        with store.session() as s:
            s.add(RiskFlagRow(run_id="r2", as_of=dt.date(2026, 3, 7), customer_key=key, customer_name=cust.name,
                              kind="overdue_beyond_policy", severity="low", reason="paid", amount=None, currency=None,
                              created_at=utcnow()))
        assert enqueue_all(store, sources=[source])["credit_hold"] == 2
        with case.make(**options) as c:
            assert push_pending(store, "contract", c).sent == 2
        if kind == "odoo":
            assert (p["sale_warn"], p["sale_warn_msg"], p["credit_limit"]) == ("no-message", False, float(cust.credit_limit))
        else:
            assert case.server.account(cust.source_id)["O2C_Risk_Level__c"] == "none" and len(case.server.tasks) == 2
