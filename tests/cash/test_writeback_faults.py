"""Exactly once under faults: the write-back killed (SIGKILL) at each step and restarted, the ERP
answering 500, late or not at all after applying, a server slower than the client, two pushers.

A short run of the harness in ``tests/cash/writeback_faults.py``; the full one (every kill point at
every position, SQLite and PostgreSQL) is ``make writeback-faults`` (``bench/bench_writeback_faults.py``).
The kill points themselves (:mod:`transport.faults`) are checked first, without Tryton.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.tryton import TrytonClient
from o2c.store import Store
from schemas.errors import ConfigError
from tests.cash.test_writeback_live import add_payment_method
from tests.cash.writeback_faults import REPO, FaultProxy, Harness, PaymentKind, connection, plan, private_tryton
from transport import faults

# -- the kill points, without Tryton --------------------------------------------------------------


def test_fault_setting_is_refused_unless_it_names_a_known_point(monkeypatch):
    assert faults.parse("") == ("", 0) and faults.parse("erp_applied:3") == ("erp_applied", 3)
    for bad in ("erp_aplied:1", "recording", "recording:0", "recording:-1", "recording:x", ":1", "claimed:1:2"):
        with pytest.raises(ConfigError, match="O2C_FAULT"):
            faults.parse(bad)
    monkeypatch.setenv("O2C_FAULT", "erp_aplied:1")  # a misspelt point stops the push, it never does nothing
    faults.reset()
    try:
        with pytest.raises(ConfigError, match="erp_aplied"):
            faults.point("claimed")
    finally:
        monkeypatch.delenv("O2C_FAULT")
        faults.reset()
    faults.point("claimed")  # unset: nothing happens


def test_every_kill_point_in_the_code_is_documented_and_every_documented_one_is_in_the_code():
    calls: dict[str, list[str]] = {}
    for path in [*REPO.glob("o2c/**/*.py"), *REPO.glob("connectors/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "point"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "faults"):
                (arg,) = node.args
                assert isinstance(arg, ast.Constant), f"{path}: faults.point takes a literal name"
                calls.setdefault(arg.value, []).append(str(path.relative_to(REPO)))
    assert set(calls) == set(faults.POINTS), calls
    assert all(len(where) == 1 for where in calls.values()), calls  # one call per point


def test_a_process_armed_at_a_point_kills_itself_at_its_nth_passage(tmp_path):
    script = ("from transport import faults\n"
              "for i in range(5):\n"
              "    print(i, flush=True)\n"
              "    faults.point('claimed')\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(REPO), "O2C_FAULT": "claimed:3", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == -9  # SIGKILL: no exit handler ran
    assert proc.stdout.split() == ["0", "1", "2"]
    assert "O2C_FAULT=claimed:3 is set" in proc.stderr and "o2c fault: SIGKILL at claimed:3" in proc.stderr
    assert plan(3) == [(p, k) for p in faults.POINTS for k in range(1, 3 if p == "tryton_asked" else 4)]


# -- against a private Tryton ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def fault_erp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, TrytonClient, PaymentKind]]:
    """One private copy of the seeded Tryton for this module (each scenario pays with fresh keys),
    its client, and the payment kind (which invoices, what was paid in all)."""
    with private_tryton(tmp_path_factory.mktemp("tryton-faults")) as server:
        client = TrytonClient(connection(server))
        add_payment_method(client)
        kind = PaymentKind(client)
        try:
            yield server, client, kind
        finally:
            assert kind.ledger_errors() == []  # Tryton's amounts to pay: every payment once, none lost
            client.close()


def harness(request: pytest.FixtureRequest, backend: str, fault_erp, tmp_path: Path) -> Harness:
    server, _client, kind = fault_erp
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = Store(url)
    store.upgrade()
    if backend == "postgres":
        from o2c.store.models import Base

        with store.session() as s:
            for table in reversed(Base.metadata.sorted_tables):
                s.execute(table.delete())
    store.engine.dispose()
    return Harness(connection(server), url, tmp_path / "hub", kind, backend=backend)


SHORT = {
    "sqlite": [("claiming", 1), ("claimed", 2), ("tryton_asked", 1), ("tryton_posted", 2), ("erp_applied", 3),
               ("recording", 3)],
    "postgres": [("claiming", 2), ("erp_applied", 1), ("recording", 2)],
}


@pytest.mark.tryton
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_push_killed_at_each_step_then_restarted_writes_each_payment_once(request, backend, fault_erp, tmp_path):
    """The command line killed with SIGKILL at each step (one position each here; every position in
    ``make writeback-faults``), restarted after the claim timeout: each payment once in Tryton."""
    h = harness(request, backend, fault_erp, tmp_path)
    for point, nth in SHORT[backend]:
        h.kill_point(point, nth, commands=3)
    assert [(r.point, r.nth, r.recovered) for r in h.results] == \
        [(p, k, 0 if p == "claiming" else 1) for p, k in SHORT[backend]]
    applied = [r.killed_state for r in h.results if r.point in ("tryton_posted", "erp_applied", "recording")]
    assert applied and all("(applied)" in s for s in applied)
    h.store.engine.dispose()


@pytest.fixture()
def proxied(request, fault_erp, tmp_path) -> Iterator[tuple[Harness, FaultProxy]]:
    h = harness(request, "sqlite", fault_erp, tmp_path)
    proxy = FaultProxy(h.conn.port)
    try:
        yield h, proxy
    finally:
        proxy.close()
        h.store.engine.dispose()


@pytest.mark.tryton
@pytest.mark.slow
def test_erp_failing_after_applying_writes_each_payment_once(proxied):
    """Through a proxy in front of trytond, the call that posts the 2nd payment is applied by trytond,
    then answered 500, answered after the client's timeout, or left unanswered (connection closed).
    The push stops there; a push right after sends the 3rd and leaves the 2nd alone (kept claimed:
    Tryton may have it); past the claim timeout the 2nd is found in Tryton, not paid again."""
    h, proxy = proxied
    for action in ("500", "late", "drop"):
        outcome = h.erp_fault(proxy, action, commands=3, nth=2, timeout=2.0, hold=4.0)
        # (sent, retry later, recovered) of: the first push, one at once, one past the claim timeout
        assert outcome["pushes"] == [(1, 1, 0), (1, 0, 0), (1, 0, 1)], outcome
        assert outcome["outbox"] == [("sent", 1)] * 3, outcome  # one attempt each: the 2nd was found, not re-sent


@pytest.mark.tryton
@pytest.mark.slow
def test_erp_slower_than_the_client_is_not_paid_twice(proxied):
    """Regression: the call that posts the 2nd payment reaches trytond only after the client gave up
    (a server still working on it; the wizard's delete waits behind it, as for the server's lock).
    Before the fix the command went back to ``pending``, the next push found no payment yet and
    paid it, then trytond posted the first: two payments for one command. Now the timeout means
    "outcome unknown": the command stays claimed until the claim timeout, then is found in Tryton."""
    h, proxy = proxied
    outcome = h.erp_fault(proxy, "slow", commands=3, nth=2, timeout=2.0, hold=4.0)
    assert outcome["pushes"] == [(1, 1, 0), (1, 0, 0), (1, 0, 1)], outcome


@pytest.mark.tryton
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_pushers_at_once_one_killed_write_each_payment_once(request, backend, fault_erp, tmp_path):
    """Two command lines at once on one outbox, one killed after Tryton applied its first payment:
    the other goes on, a restart after the claim timeout settles the dead one's claim. (Two live
    pushers in one process: tests/cash/test_writeback_live.py; two live command lines: the bench.)"""
    h = harness(request, backend, fault_erp, tmp_path)
    outcome = h.two_pushers(4, kill="erp_applied:1")
    assert outcome["commands"] == 4
    h.store.engine.dispose()
