"""The write-back under faults: real kills, an ERP answering 500 or too late, two pushers at once.

Used by ``tests/cash/test_writeback_faults.py`` (a short run, in the suite) and by
``bench/bench_writeback_faults.py`` (``make writeback-faults``: the full run, every kill point at
every position, on SQLite and on PostgreSQL).

**Kill points.** :meth:`Harness.kill_point` queues ``n`` fresh commands, runs the real command
line (``python -m o2c.cli writeback push SOURCE --json``) in a child process with
``O2C_FAULT=<point>:<k>`` (:mod:`transport.faults`), so the child kills itself with SIGKILL at that
step of its ``k``-th command, and checks the state it left: the commands before the ``k``-th
``sent``, the ``k``-th ``pending`` (killed while claiming) or ``sending`` (later), the rest
``pending``, and in the ERP the ``k``-th applied (points after the ERP call) or not (before). It
then restarts the command line without the fault, with ``O2C_WRITEBACK_CLAIM_TIMEOUT=0`` (the dead
pusher's claim is stale at once), and checks that every command is ``sent`` and exists exactly once
in the ERP, its remote reference being the ERP's record.

**The ERP misbehaving.** :class:`FaultProxy` stands on loopback in front of trytond and forwards
every call; armed, it answers the call that posts a payment with HTTP 500 after trytond applied it,
holds that answer past the client's timeout, closes the connection without an answer, or holds the
request itself past the client's timeout before forwarding it (a server still working on it).

**Kinds.** What is queued and how the ERP is counted is a :class:`FaultKind`: payments today
(:class:`PaymentKind`); another kind (holds, write-offs) is one more class with ``queue`` and
``counts``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from connectors.base import ConnectionInfo
from connectors.tryton import TrytonClient
from o2c.jobs.writeback import outbox
from o2c.store import Store, utcnow
from o2c.store.writeback import WriteBackRow
from schemas.receivables import WriteBackCommand
from transport.faults import POINTS

REPO = Path(__file__).resolve().parents[2]
SOURCE = "tryton_faults"
CONNECTION = "erp_tryton_faults"
#: kill points before the ERP applied the command, and after
BEFORE_APPLIED = ("claiming", "claimed", "tryton_asked")
AFTER_APPLIED = ("tryton_posted", "erp_applied", "recording")
assert set(BEFORE_APPLIED + AFTER_APPLIED) == set(POINTS), "a kill point the harness does not know"
CHILD_TIMEOUT = 180.0  # seconds one run of the command line may take before the harness gives up


class HarnessFailure(AssertionError):
    """The ERP or the outbox is not what exactly-once requires (a duplicate, a loss, a bad state)."""


# -- what is written back ----------------------------------------------------------------------


class FaultKind(Protocol):
    """A kind of write-back command under test."""

    name: str

    def queue(self, store: Store, tag: str, n: int) -> list[WriteBackRow]:
        """Write ``n`` fresh pending commands (keys unique to ``tag``) into the outbox; the rows."""

    def counts(self, rows: list[WriteBackRow]) -> dict[str, int]:
        """How many times each row's command exists in the ERP, by idempotency key (read there)."""

    def remote_refs(self, rows: list[WriteBackRow]) -> dict[str, set[str]]:
        """The ERP's references of each row's command, by idempotency key."""

    def asks(self, row: WriteBackRow) -> bool:
        """Whether the command passes ``tryton_asked`` (a partial payment)."""


class PaymentKind:
    """Payments on Tryton's posted customer invoices, through the pay wizard.

    Each scenario's commands pay a small part (1.00 + i cents) of the first ``n - 1`` invoices and,
    while fresh invoices remain, the whole of one fresh invoice (the wizard's other path: the
    ``choice`` step posts it at once); the ERP is counted by the key that starts each payment move's
    description, on the invoice's payment lines."""

    name = "payment"

    def __init__(self, client: TrytonClient) -> None:
        self.client = client
        invoices = [i for i in client.search_read("account.invoice", [("type", "=", "out"), ("state", "=", "posted"),
                                                                      ("total_amount", ">", 0)],
                                                  order=[["id", "ASC"]], fields=["number", "amount_to_pay"])
                    if i["amount_to_pay"] > 100]
        self.invoices = {int(i["id"]): i for i in invoices}
        self.shared = [int(i["id"]) for i in invoices[:8]]  # take partial payments, scenario after scenario
        self.fresh = [int(i["id"]) for i in invoices[8:]]  # each paid in full once
        self.expected_paid: dict[int, Decimal] = {}  # what the commands pay per invoice, in all

    def queue(self, store: Store, tag: str, n: int) -> list[WriteBackRow]:
        if n - 1 > len(self.shared):
            raise ValueError(f"at most {len(self.shared) + 1} payment commands per scenario")
        plan: list[tuple[int, Decimal]] = [(inv, Decimal("1.00") + Decimal(i) / 100) for i, inv in enumerate(self.shared[:n - 1])]
        if self.fresh:
            inv = self.fresh.pop(0)
            plan.append((inv, self.invoices[inv]["amount_to_pay"]))
        else:
            plan.append((self.shared[n - 1] if n - 1 < len(self.shared) else self.shared[0], Decimal("0.50")))
        with store.session() as s:
            for i, (inv, amount) in enumerate(plan):
                cmd = WriteBackCommand(source=SOURCE, kind="payment", target_id=str(inv), reason=f"fault harness {tag}",
                                       payload={"amount": str(amount), "currency": "EUR", "date": "2026-11-20",
                                                "bank_ref": f"{tag}-{i}", "invoice_number": self.invoices[inv]["number"]})
                s.add(WriteBackRow(source=cmd.source, kind=cmd.kind, target_id=cmd.target_id, payload=cmd.payload,
                                   reason=cmd.reason, idempotency_key=cmd.idempotency_key, status="pending", attempts=0,
                                   created_at=utcnow()))
                self.expected_paid[inv] = self.expected_paid.get(inv, Decimal(0)) + amount
        tags = {f"{tag}-{i}" for i in range(len(plan))}
        return [r for r in outbox(store, SOURCE) if r.payload.get("bank_ref") in tags]

    def _lines(self, invoice_ids: set[int]) -> dict[str, list[int]]:
        invoices = self.client.read("account.invoice", invoice_ids, ["payment_lines"])
        line_ids = [line for inv in invoices.values() for line in inv["payment_lines"]]
        lines = self.client.read("account.move.line", line_ids, ["move_description_used"])
        found: dict[str, list[int]] = {}
        for lid, line in lines.items():
            word = (line["move_description_used"] or "").split(" ", 1)[0]
            found.setdefault(word, []).append(lid)
        return found

    def remote_refs(self, rows: list[WriteBackRow]) -> dict[str, set[str]]:
        found = self._lines({int(r.target_id) for r in rows})
        return {r.idempotency_key: {str(x) for x in found.get(f"o2c:{r.idempotency_key}", [])} for r in rows}

    def counts(self, rows: list[WriteBackRow]) -> dict[str, int]:
        return {key: len(refs) for key, refs in self.remote_refs(rows).items()}

    def asks(self, row: WriteBackRow) -> bool:
        return Decimal(row.payload["amount"]) < self.invoices[int(row.target_id)]["amount_to_pay"]

    def ledger_errors(self) -> list[str]:
        """Every invoice touched: Tryton's amount to pay is its amount before the harness minus what
        the commands paid, to the cent (a payment made twice or lost shows here too)."""
        now = self.client.read("account.invoice", self.expected_paid, ["number", "amount_to_pay"])
        return [f"{now[i]['number']}: amount to pay {now[i]['amount_to_pay']}, expected "
                f"{self.invoices[i]['amount_to_pay'] - paid}"
                for i, paid in sorted(self.expected_paid.items())
                if now[i]["amount_to_pay"] != self.invoices[i]["amount_to_pay"] - paid]


# -- the ERP misbehaving -----------------------------------------------------------------------


PAY_WIZARD = "wizard.account.invoice.pay."


class FaultProxy:
    """A loopback HTTP proxy in front of trytond (standard library only).

    Every POST is forwarded as is. :meth:`arm` makes it misbehave once, on the ``nth`` call that
    posts a payment (the pay wizard's ``choice`` step that answers without asking, or its ``pay``
    step):

    - ``"500"``: forwards it (trytond applies and commits it), answers HTTP 500;
    - ``"late"``: forwards it, holds the answer ``hold`` seconds (past the client's timeout);
    - ``"drop"``: forwards it, closes the connection without answering;
    - ``"slow"``: (``pay`` steps only, so partial payments) holds the *request* ``hold`` seconds,
      then forwards it: a server still working on a call when the client gave up. Later calls of
      the same wizard session (its ``delete``) wait behind it, as they would for the server's lock.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.action: str | None = None
        self.nth = 1
        self.hold = 0.0
        self.seen = 0
        self.fired: list[str] = []
        self._lock = threading.Lock()
        self._sessions: dict[Any, threading.Lock] = {}
        self._inflight = 0
        self._sockets: set[Any] = set()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 120  # a backstop: close() ends the kept-alive connections

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._sockets.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._sockets.discard(self.connection)
                super().finish()

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                proxy._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = False
        self.server.block_on_close = True  # close() joins the threads of the calls
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()

    def arm(self, action: str, *, nth: int = 1, hold: float = 0.0) -> None:
        assert action in ("500", "late", "drop", "slow"), action
        with self._lock:
            self.action, self.nth, self.hold, self.seen = action, nth, hold, 0

    def disarm(self) -> None:
        with self._lock:
            self.action = None

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until no call is in flight (a held one has reached trytond and answered)."""
        deadline = time.monotonic() + timeout
        while self._inflight and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._inflight:
            raise HarnessFailure(f"the proxy still holds {self._inflight} call(s) after {timeout} s")

    def close(self) -> None:
        self.server.shutdown()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self.server.server_close()  # joins the calls' threads

    def _forward(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=120)
        try:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read(), resp.getheader("Content-Type") or "application/json"
        finally:
            conn.close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._inflight += 1
        try:
            body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in h.headers.items() if k.lower() in ("authorization", "content-type")}
            try:
                call = json.loads(body)
                method, params = call.get("method", ""), call.get("params") or []
            except ValueError:
                method, params = "", []
            session = params[0] if method.startswith(PAY_WIZARD) and params and method != PAY_WIZARD + "create" else None
            state = params[2] if method == PAY_WIZARD + "execute" and len(params) > 2 else None
            gate = self._session_lock(session)
            with self._lock:
                slow = self.action == "slow" and state == "pay"
                if slow:
                    self.seen += 1
                    slow = self.seen == self.nth
                    if slow:
                        self.fired.append(f"slow {method} {state}")
            if slow:
                with gate:  # the session's later calls (its delete) wait behind this one
                    time.sleep(self.hold)
                    status, data, ctype = self._forward(h.path, body, headers)
                self._answer(h, status, data, ctype)  # to a client long gone
                return
            with gate:
                status, data, ctype = self._forward(h.path, body, headers)
            action = None
            if state in ("choice", "pay") and status == 200:
                result = json.loads(data).get("result")
                posted = not (isinstance(result, dict) and "view" in result) and "error" not in json.loads(data)
                with self._lock:
                    if posted and self.action in ("500", "late", "drop"):
                        self.seen += 1
                        if self.seen == self.nth:
                            action = self.action
                            self.fired.append(f"{action} {method} {state}")
            if action == "500":
                self._answer(h, 500, b'{"error": "injected after the call was applied"}', "application/json")
            elif action == "late":
                time.sleep(self.hold)
                self._answer(h, status, data, ctype)
            elif action == "drop":
                h.close_connection = True
            else:
                self._answer(h, status, data, ctype)
        finally:
            with self._lock:
                self._inflight -= 1

    def _session_lock(self, session: Any) -> threading.Lock:
        if session is None:
            return threading.Lock()
        with self._lock:
            return self._sessions.setdefault(session, threading.Lock())

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, status: int, data: bytes, ctype: str) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:  # the client gave up (its timeout): nobody reads the answer
            h.close_connection = True


# -- the kill points ---------------------------------------------------------------------------


@dataclass
class KillResult:
    point: str
    nth: int
    commands: int
    backend: str
    seconds: float
    killed_state: str  # e.g. "2 sent, #3 sending (applied in the ERP), 2 pending"
    recovered: int


@dataclass
class Harness:
    """Kill points and concurrent pushers against one Tryton (``conn``) and one hub store (``store_url``)."""

    conn: ConnectionInfo
    store_url: str
    workdir: Path
    kind: Any  # a FaultKind
    backend: str = "sqlite"
    results: list[KillResult] = field(default_factory=list)
    _scenario: int = 0

    def __post_init__(self) -> None:
        self.store = Store(self.store_url)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sources = self.workdir / "sources.yaml"
        self.sources.write_text(f"sources:\n  - name: {SOURCE}\n    kind: tryton\n    connection: {CONNECTION}\n")

    def _tag(self, what: str) -> str:
        self._scenario += 1
        return f"{self.backend[:2].upper()}{self._scenario}{what}"

    def child(self, *, fault: str | None = None, claim_timeout: int | None = None) -> subprocess.Popen[str]:
        """The real command line, in its own process."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("O2C_", "AIRFLOW_CONN_"))}
        env.update({
            "PYTHONPATH": str(REPO),
            "O2C_HOME": str(self.workdir),
            "O2C_DATABASE_URL": self.store_url,
            f"O2C_CONN_{CONNECTION.upper()}":
                f"tryton://{self.conn.login}:{self.conn.password}@{self.conn.host}:{self.conn.port}/{self.conn.schema}",
        })
        if fault:
            env["O2C_FAULT"] = fault
        if claim_timeout is not None:
            env["O2C_WRITEBACK_CLAIM_TIMEOUT"] = str(claim_timeout)
        return subprocess.Popen([sys.executable, "-m", "o2c.cli", "writeback", "push", SOURCE, "--sources",
                                 str(self.sources), "--json"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    @staticmethod
    def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
        try:
            out, err = proc.communicate(timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise HarnessFailure(f"the push did not end within {CHILD_TIMEOUT} s:\n{err[-2000:]}") from None
        return proc.returncode, out, err

    def push(self, **kwargs: Any) -> tuple[int, dict[str, Any] | None, str]:
        rc, out, err = self.finish(self.child(**kwargs))
        summary = json.loads(out) if rc in (0, 75) and out.strip().startswith("{") else None
        return rc, summary, err

    def _rows(self, rows: list[WriteBackRow]) -> list[WriteBackRow]:
        ids = {r.id for r in rows}
        return [r for r in outbox(self.store, SOURCE) if r.id in ids]

    def check_exactly_once(self, rows: list[WriteBackRow], what: str) -> None:
        """Every row ``sent``, its command once in the ERP, its remote reference the ERP's record."""
        rows = self._rows(rows)
        refs = self.kind.remote_refs(rows)
        problems = [f"{r.payload.get('bank_ref')} ({r.idempotency_key[:12]}): {len(refs[r.idempotency_key])} in the ERP"
                    for r in rows if len(refs[r.idempotency_key]) != 1]
        problems += [f"{r.payload.get('bank_ref')}: {r.status} in the outbox" for r in rows if r.status != "sent"]
        problems += [f"{r.payload.get('bank_ref')}: remote_ref {r.remote_ref} is not the ERP's {refs[r.idempotency_key]}"
                     for r in rows if r.status == "sent" and {r.remote_ref} != refs[r.idempotency_key]
                     and len(refs[r.idempotency_key]) == 1]
        if problems:
            raise HarnessFailure(f"{what}: not exactly once: " + "; ".join(problems))

    def kill_point(self, point: str, nth: int, commands: int) -> KillResult:
        """Kill the push at ``point`` in its ``nth`` passage, restart it, check exactly once."""
        started = time.monotonic()
        rows = self.kind.queue(self.store, self._tag(f"{point[:3]}{nth}"), commands)
        what = f"{self.backend} kill at {point}:{nth} of {commands}"
        rc, out, err = self.finish(self.child(fault=f"{point}:{nth}"))
        if rc != -9 or f"o2c fault: SIGKILL at {point}:{nth}" not in err:
            raise HarnessFailure(f"{what}: the push was not killed there (exit {rc}):\n{out[-500:]}\n{err[-2000:]}")
        state = self._rows(rows)
        counts = self.kind.counts(state)
        sent = [r for r in state if r.status == "sent"]
        k = len(sent)
        if k >= len(state) or state[:k] != sent:
            raise HarnessFailure(f"{what}: after the kill the outbox is {[r.status for r in state]}")
        cut, rest = state[k], state[k + 1:]
        if point == "tryton_asked" and not self.kind.asks(cut):
            raise HarnessFailure(f"{what}: killed at tryton_asked in a command that does not ask")
        expected_status = "pending" if point == "claiming" else "sending"
        expected_in_erp = 1 if point in AFTER_APPLIED else 0
        if (cut.status != expected_status or counts[cut.idempotency_key] != expected_in_erp
                or any(r.status != "pending" or counts[r.idempotency_key] for r in rest)
                or any(counts[r.idempotency_key] != 1 for r in sent)):
            raise HarnessFailure(f"{what}: after the kill: {[(r.status, counts[r.idempotency_key]) for r in state]}; "
                                 f"expected #{k + 1} {expected_status} and {expected_in_erp} in the ERP")
        killed_state = f"{k} sent, #{k + 1} {cut.status} ({'applied' if expected_in_erp else 'not applied'}), {len(rest)} pending"
        rc, summary, err = self.push(claim_timeout=0)
        if rc != 0 or summary is None:
            raise HarnessFailure(f"{what}: the restart failed (exit {rc}):\n{err[-2000:]}")
        expected_recovered = 0 if point == "claiming" else 1
        if (summary["sent"], summary["failed"], summary["recovered"]) != (len(state) - k, 0, expected_recovered):
            raise HarnessFailure(f"{what}: the restart's summary {summary}, expected {len(state) - k} sent, "
                                 f"{expected_recovered} recovered")
        self.check_exactly_once(rows, what)
        result = KillResult(point, nth, commands, self.backend, round(time.monotonic() - started, 2), killed_state,
                            summary["recovered"])
        self.results.append(result)
        return result

    def two_pushers(self, commands: int, *, kill: str | None = None) -> dict[str, Any]:
        """Two command lines at once on the same outbox; with ``kill`` (``point:n``), one of them
        dies there, the other goes on, and a restart after the claim timeout finishes."""
        rows = self.kind.queue(self.store, self._tag("pair"), commands)
        what = f"{self.backend} two pushers" + (f", one killed at {kill}" if kill else "")
        procs = [self.child(fault=kill), self.child()]
        outcomes = [self.finish(p) for p in procs]
        if kill:
            if outcomes[0][0] != -9:
                raise HarnessFailure(f"{what}: the first pusher was not killed (exit {outcomes[0][0]}): {outcomes[0][2][-1000:]}")
            rc, summary, err = self.push(claim_timeout=0)
            if rc != 0:
                raise HarnessFailure(f"{what}: the restart failed (exit {rc}): {err[-2000:]}")
        for rc, _out, err in outcomes[1 if kill else 0:]:
            if rc != 0:
                raise HarnessFailure(f"{what}: a pusher failed (exit {rc}): {err[-2000:]}")
        self.check_exactly_once(rows, what)
        owners = {r.claimed_by.rsplit(":", 1)[0] for r in self._rows(rows) if r.claimed_by}
        return {"commands": commands, "processes": len(owners)}  # that recorded the commands

    def erp_fault(self, proxy: FaultProxy, action: str, *, commands: int = 3, nth: int = 2, timeout: float = 2.0,
                  hold: float = 4.0) -> dict[str, Any]:
        """A push through ``proxy`` armed with ``action`` on the ``nth`` payment posted (see
        :class:`FaultProxy`), then at once another push (a retry, or the other pusher), then, the
        ERP quiet again, a push past the claim timeout; every command exactly once."""
        import datetime as dt

        from connectors.tryton import TrytonConnector
        from o2c.jobs.writeback import push_pending

        rows = self.kind.queue(self.store, self._tag(action), commands)
        what = f"{self.backend} ERP fault {action!r} on the payment #{nth}"
        via = ConnectionInfo(host="127.0.0.1", port=proxy.port, login=self.conn.login, password=self.conn.password,
                             schema=self.conn.schema, extra=dict(self.conn.extra))
        connector = TrytonConnector(via, timeout=timeout, attempts=2)
        pushes = []
        try:
            proxy.arm(action, nth=nth, hold=hold)
            pushes.append(push_pending(self.store, SOURCE, connector))
            proxy.disarm()
            if not proxy.fired:
                raise HarnessFailure(f"{what}: the proxy never saw the call to break")
            pushes.append(push_pending(self.store, SOURCE, connector))  # at once
            proxy.settle()
            pushes.append(push_pending(self.store, SOURCE, connector, stale_after=dt.timedelta(0)))
        finally:
            proxy.disarm()
            proxy.fired.clear()
            connector.close()
        first = pushes[0]
        if first.sent != nth - 1 or first.retry_later != 1 or not first.stopped:
            raise HarnessFailure(f"{what}: the first push did not stop on the fault: {first}")
        self.check_exactly_once(rows, what)
        return {"action": action, "pushes": [(p.sent, p.retry_later, p.recovered) for p in pushes],
                "outbox": [(r.status, r.attempts) for r in self._rows(rows)]}


def plan(commands: int, points: tuple[str, ...] = tuple(POINTS)) -> list[tuple[str, int]]:
    """Every kill point at every position of ``commands`` commands (``tryton_asked`` only where a
    command asks: the partial payments, all but the last)."""
    return [(p, k) for p in points for k in range(1, commands + (0 if p == "tryton_asked" else 1))]


@contextmanager
def private_tryton(workdir: Path) -> Iterator[Any]:
    """A private copy of the seeded demo Tryton on its own port (for the bench; the tests use the
    ``writable_tryton`` fixture)."""
    from demo.tryton.server import TrytonServer, prepare_database
    from tests.fixtures_tryton import TRYTON_INVOICES, TRYTON_SEED, tryton_cache_dir

    db = prepare_database(workdir, invoices=TRYTON_INVOICES, seed=TRYTON_SEED, cache_dir=tryton_cache_dir())
    server = TrytonServer(db).start()
    try:
        yield server
    finally:
        server.stop()


def connection(server: Any, port: int | None = None) -> ConnectionInfo:
    return ConnectionInfo(host="127.0.0.1", port=port or server.port, login=server.admin_login,
                          password=server.admin_password, schema=server.database)
