"""The write-back under faults, full run (``make writeback-faults``; on demand, not a test).

    .venv/bin/python bench/bench_writeback_faults.py [--commands 6] [--backends sqlite,postgres]
        [--points claimed,erp_applied] [--workdir DIR] [--json FILE]

For each hub store backend (a SQLite file; a fresh database on the local PostgreSQL, dropped
afterwards) against its own private copy of the seeded demo Tryton, with the harness of
``tests/cash/writeback_faults.py``:

1. **kill points**: every kill point of :data:`transport.faults.POINTS` at every position of
   ``--commands`` queued payment commands (``tryton_asked`` at the partial payments only): the real
   command line ``python -m o2c.cli writeback push`` killed there with SIGKILL, its state checked,
   restarted past the claim timeout, and every command checked exactly once in Tryton
   (6 commands: 6 x 5 + 5 = 35 kill points per backend);
2. **the ERP misbehaving** (a loopback proxy in front of trytond, client timeout 2 s): the call that
   posts a payment answered 500 after trytond applied it, answered after the timeout, unanswered,
   or delivered to trytond after the client gave up;
3. **two pushers at once**: two command lines on one outbox, then again with one of them killed
   after its first payment;
4. **the ledger**: each invoice's amount to pay in Tryton is its amount before minus what the
   commands paid, to the cent.

Exit status 0 when every check held, 1 with the first failure otherwise. Prints a Markdown summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from connectors.tryton import TrytonClient  # noqa: E402
from o2c.store import Store  # noqa: E402
from tests.cash.test_writeback_live import add_payment_method  # noqa: E402
from tests.cash.writeback_faults import (  # noqa: E402
    FaultProxy,
    Harness,
    HarnessFailure,
    PaymentKind,
    connection,
    plan,
    private_tryton,
)
from transport.faults import POINTS  # noqa: E402

PG_ADMIN_URL = os.environ.get("O2C_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def postgres_database() -> tuple[str, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"o2c_faults_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False), drop


def run_backend(backend: str, workdir: Path, commands: int, points: tuple[str, ...]) -> dict[str, Any]:
    started = time.monotonic()
    report: dict[str, Any] = {"backend": backend, "kills": [], "erp_faults": [], "pairs": []}
    drop = None
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'hub.sqlite'}"
    else:
        url, drop = postgres_database()
    try:
        with private_tryton(workdir / "tryton") as server:
            client = TrytonClient(connection(server))
            add_payment_method(client)
            store = Store(url)
            store.upgrade()
            store.engine.dispose()
            kind = PaymentKind(client)
            h = Harness(connection(server), url, workdir / "hub", kind, backend=backend)
            for point, nth in plan(commands, points):
                result = h.kill_point(point, nth, commands)
                print(f"  {backend:8} kill {point}:{nth:<2} {result.seconds:6.2f} s  {result.killed_state}", flush=True)
                report["kills"].append(result.__dict__)
            report["kill_seconds"] = round(time.monotonic() - started, 1)
            proxy = FaultProxy(server.port)
            try:
                for action in ("500", "late", "drop", "slow"):
                    t0 = time.monotonic()
                    outcome = h.erp_fault(proxy, action, commands=3, nth=2, timeout=2.0, hold=4.0)
                    outcome["seconds"] = round(time.monotonic() - t0, 2)
                    print(f"  {backend:8} ERP {action:5} {outcome}", flush=True)
                    report["erp_faults"].append(outcome)
            finally:
                proxy.close()
            for kill in (None, "erp_applied:1", "claimed:2"):
                t0 = time.monotonic()
                outcome = h.two_pushers(commands, kill=kill)
                outcome.update(kill=kill, seconds=round(time.monotonic() - t0, 2))
                print(f"  {backend:8} two pushers {outcome}", flush=True)
                report["pairs"].append(outcome)
            report["ledger_errors"] = kind.ledger_errors()
            report["full_payments"] = sum(1 for i in kind.expected_paid if i not in kind.shared)
            if report["ledger_errors"]:
                raise HarnessFailure(f"{backend}: Tryton's amounts to pay disagree: {report['ledger_errors']}")
            h.store.engine.dispose()
            client.close()
    finally:
        if drop:
            drop()
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=6, help="payment commands per scenario (2..9)")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--points", default=",".join(POINTS), help="kill points to run (default: all)")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path, help="write the figures there")
    args = parser.parse_args(argv)
    points = tuple(p for p in args.points.split(",") if p)
    unknown = set(points) - set(POINTS)
    if unknown:
        parser.error(f"unknown kill points {sorted(unknown)}; known: {', '.join(POINTS)}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="o2c-writeback-faults-"))
    started = time.monotonic()
    reports = []
    try:
        for backend in args.backends.split(","):
            print(f"{backend}: {len(plan(args.commands, points))} kill points, {args.commands} commands each", flush=True)
            reports.append(run_backend(backend, workdir / backend, args.commands, points))
    except HarnessFailure as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    total = round(time.monotonic() - started, 1)
    kills = sum(len(r["kills"]) for r in reports)
    print(f"\n{kills} kill points, {sum(len(r['erp_faults']) for r in reports)} ERP faults, "
          f"{sum(len(r['pairs']) for r in reports)} runs of two pushers: no duplicate, nothing lost; {total} s "
          f"({platform.python_version()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})\n")
    print("| backend | kill points | invoices paid in full | kills s | per kill point s (median) | "
          "ERP faults | two pushers | total s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in reports:
        per = sorted(k["seconds"] for k in r["kills"])
        median = per[len(per) // 2] if per else 0
        print(f"| {r['backend']} | {len(r['kills'])} | {r['full_payments']} | {r['kill_seconds']} | {median} | "
              f"{len(r['erp_faults'])} | {len(r['pairs'])} | {r['seconds']} |")
    if args.json:
        args.json.write_text(json.dumps({"seconds": total, "reports": reports}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
