"""``make demo``: the order-to-cash hub on the embedded default, end to end, in one command.

1. starts a seeded demo Tryton 8.2 ERP on loopback (SQLite; built once, then cached) and drops a
   CRM customer export (CSV, French number format) in a watched folder: two sources;
2. runs the ``erp_invoice_sync`` Airflow DAG once (``airflow dags test``) over both, with the
   hub store in ``$O2C_HOME/o2c.sqlite``: customers of both sources become one customer base
   (matched by SIREN / VAT id / IBAN, conflicts reported), invoices are stored;
3. runs ``einvoice_outbound``: each invoice rendered in its customer's format (Factur-X, UBL,
   the French EXTENDED-CTC-FR with the demo company's legal payment notes),
   validated against the official EN 16931 artefacts, delivered once to ``$O2C_HOME/outbox``;
4. receives a camt.053 bank statement paying some of those invoices (ingested exactly once),
   runs ``cash_application`` (allocations with their reasons, Encaissée statuses for settled
   invoices) and ``risk_scoring`` (credit-limit and overdue flags, DSO, ageing);
5. prints what reached the store and how to open the Airflow UI (``python -m demo ui``).

``python -m demo ui [--port 8080]`` starts the demo ERP and ``airflow standalone`` on the same
data; Ctrl-C (or SIGTERM) stops every process it started.

Everything lives under ``$O2C_HOME`` (default ``./var``); delete it to start over.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from o2c.settings import PROJECT_ROOT, get_settings
from schemas.invoice import is_credit_note_type, receivable_amount

CONN_ID = "erp_tryton_demo"
SOURCE = "tryton_demo"
CRM_CONN_ID = "drop_crm_export"
# A CRM export: two of the ERP's customers (one with another credit limit and a shortened
# name), one prospect the ERP does not know. Semicolons and French amounts, as Excel writes them.
CRM_EXPORT = """code;name;siren;vat;street;zip;city;country;email;currency;credit_limit;payment_terms
CRM-0001;BOULANGERIES MARTIN;512348707;FR41512348707;12 rue des Lilas;69003;Lyon;FR;compta@martin.example;EUR;20 000,00;30N
CRM-0002;Transports Lefèvre et Fils SAS;;FR49402117360;8 quai Rambaud;69002;Lyon;FR;;EUR;40 000,00;45FM
CRM-0003;Atelier Numérique Girard;;;3 rue Mercière;69002;Lyon;FR;contact@girard.example;EUR;5 000,00;30N
"""


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def airflow_env(home: Path) -> dict[str, str]:
    af = home / "airflow"
    return {
        # `airflow standalone` starts its components as plain `airflow` from PATH: the venv's bin comes
        # first, so that it works without an activated venv (`.venv/bin/python -m demo ui`)
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)]),
        "AIRFLOW_HOME": str(af),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        # the review page's plugin; the DAGs' glue (o2c_airflow) is a package of the checkout, like o2c
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{af / 'airflow.db'}"),
        "PYTHONPATH": str(PROJECT_ROOT),
    }


def start_erp(home: Path, invoices: int, step: str) -> object:
    from demo.tryton.server import TrytonServer, prepare_database

    print(f"[{step}] demo ERP: Tryton 8.2 on SQLite, {invoices} posted invoices (first run builds a template: about 2 minutes)")
    t0 = time.monotonic()
    db = prepare_database(home / "demo" / "tryton", invoices=invoices, cache_dir=home / "tryton-cache", overwrite=True)
    server = TrytonServer(db).start()
    print(f"      Tryton ready at {server.url} (database {server.database}) in {time.monotonic() - t0:.0f} s")
    return server


def prepare_writeback(server: object) -> None:
    """What a Tryton accountant sets up once before the hub writes payments back: an invoice payment
    method (bank transfers on the cash journal and account 5121). Kept out of the seed, which the
    tests share; created only when the company has none."""
    from connectors.base import ConnectionInfo
    from connectors.tryton import TrytonClient

    client = TrytonClient(ConnectionInfo(host="127.0.0.1", port=server.port, login=server.admin_login,  # type: ignore[attr-defined]
                                         password=server.admin_password, schema=server.database))  # type: ignore[attr-defined]
    company = client.context["company"]
    if client.search_read("account.invoice.payment.method", [("company", "=", company)], fields=["id"]):
        return
    journal = client.search_read("account.journal", [("type", "=", "cash")], limit=1, fields=["id"])[0]["id"]
    bank = client.search_read("account.account", [("code", "=", "5121")], limit=1, fields=["id"])[0]["id"]
    client.call("account.invoice.payment.method", "create", [{"name": "Virement SEPA", "company": company, "journal": journal,
                                                               "credit_account": bank, "debit_account": bank}])


def write_sources(home: Path) -> Path:
    path = home / "demo" / "sources.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    drops = home / "demo" / "drops" / "crm"
    drops.mkdir(parents=True, exist_ok=True)
    export = drops / "clients_2026-11.csv"
    if not export.exists() or export.read_text(encoding="utf-8") != CRM_EXPORT:
        export.write_text(CRM_EXPORT, encoding="utf-8")
    path.write_text(
        "# written by `make demo`: the demo's two sources (credentials come from the environment)\n"
        "sources:\n"
        f"  - name: {SOURCE}\n    kind: tryton\n    connection: {CONN_ID}\n    streams: [customers, invoices, settlements]\n"
        "    # every applied payment flows back to Tryton without a person (a kind with no policy waits for an\n"
        "    # approval: `o2c writeback approve`, the review page or the erp_writeback DAG's approval task)\n"
        "    writeback: {policy: {payment: {auto: true}, credit_hold: {auto: true}, note: {auto: true},\n"
        "                         status: {auto: true}, dunning_block: {auto: true}}, approvers: [admin]}\n"
        f"  - name: crm_export\n    kind: filedrop\n    connection: {CRM_CONN_ID}\n    streams: [customers]\n"
        "    options: {files: {customers: 'clients_*.csv'}, id_column: code}\n"
    )
    return path


#: the demo company's legal payment notes (BR-FR-05): its general terms of sale, which Tryton's
#: invoice has no field for. An example to adapt, never a default of the hub.
DEMO_PAYMENT_NOTES = {
    "recovery_fee": "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 € "
                    "(art. L441-10 et D441-5 du Code de commerce).",
    "late_penalties": "Pénalités de retard : trois fois le taux d'intérêt légal, exigibles dès le lendemain "
                      "de la date d'échéance.",
    "early_payment_discount": "Pas d'escompte pour paiement anticipé.",
}


def write_einvoicing(home: Path) -> Path:
    path = home / "demo" / "einvoicing.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    notes = "".join(f"    {key}: {json.dumps(text, ensure_ascii=False)}\n" for key, text in DEMO_PAYMENT_NOTES.items())
    path.write_text(
        "# written by `make demo`: Factur-X EN 16931 by default; one customer wants UBL, one the French\n"
        "# EXTENDED-CTC-FR; the demo company's legal payment notes (BR-FR-05) on every invoice\n"
        "default_format: facturx-en16931\n"
        "customers:\n  - {siren: '512348707', format: ubl}\n  - {siren: '402117360', format: facturx-extended-ctc-fr}\n"
        f"channel: {{kind: folder, path: {home / 'outbox'}}}\n"
        f"payment_notes:\n  - seller_siren: '843129453'\n{notes}",
        encoding="utf-8",
    )
    return path


def run_dag(env: dict[str, str], home: Path, dag_id: str) -> int:
    log = home / "demo" / f"{dag_id}.log"
    with open(log, "w") as out:
        if dag_id == "erp_invoice_sync":
            subprocess.run([_bin("airflow"), "db", "migrate"], env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
        proc = subprocess.run([_bin("airflow"), "dags", "test", dag_id], env=env, stdout=out, stderr=subprocess.STDOUT)
    print(f"      Airflow log: {log}")
    return proc.returncode


def summary(database_url: str) -> str:
    from o2c.store import Store

    store = Store(database_url)
    lines = []
    invoices = store.invoices()
    by_source: dict[str, list] = defaultdict(list)
    for row in invoices:
        by_source[row.source].append(row)
    lines.append(f"{'source':<16}{'invoices':>9}{'credit notes':>14}{'net receivable':>18}  currency")
    for source, rows in sorted(by_source.items()):
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for r in rows:
            totals[r.currency] += receivable_amount(r.type_code, r.payable)
        credit = sum(1 for r in rows if is_credit_note_type(r.type_code))
        for cur, total in sorted(totals.items()):
            lines.append(f"{source:<16}{len(rows) - credit:>9}{credit:>14}{total:>18,.2f}  {cur}")
    customers = store.customers()
    lines.append(f"customer records: {len(customers)} from {', '.join(sorted({c.source for c in customers}))}")
    lines.extend(_parties(store))
    lines.extend(_einvoices(store))
    lines.extend(_cash_and_risk(store))
    quarantined = store.quarantined()
    lines.append(f"rejected records in quarantine: {len(quarantined)}")
    for q in quarantined[:10]:
        reason = q.reason if len(q.reason) <= 150 else q.reason[:147] + "..."
        lines.append(f"  - {q.source} {q.kind} {q.source_id}: {reason}")
    lines.append("last sync runs:")
    for run in store.runs(limit=4):
        lines.append(f"  {run.started_at:%Y-%m-%d %H:%M:%S} {run.source}/{run.stream}: {run.status}, read {run.read}, "
                     f"inserted {run.inserted}, updated {run.updated}, unchanged {run.unchanged}, rejected {run.rejected}")
    return "\n".join(lines)


def receive_statement(home: Path, database_url: str) -> str:
    """The demo bank's camt.053 of 2026-11-20: payments of some stored invoices (same file every
    run, so a second demo recognises it as already ingested)."""
    import datetime as dt

    from demo.bank import camt053, demo_payments
    from o2c.commands.bank_ingest import staged_local
    from o2c.jobs.bank import ingest_file
    from o2c.store import Store

    store = Store(database_url)
    day = dt.date(2026, 11, 20)
    payments = demo_payments(store.invoices(SOURCE), day=day)
    path = home / "demo" / "bank" / f"camt053_FR76-BNP_{day:%Y%m%d}.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(camt053(payments, day=day))
    outcome = ingest_file(store, "demo_bank", staged_local(path), run_id=None)
    return f"{path.name}: {len(payments)} entries, {outcome.outcome}"


def _cash_and_risk(store: object) -> list[str]:
    from sqlalchemy import func, select

    from o2c.store.cash import CashAllocation, CashUnapplied, KpiDaily, RiskFlagRow
    from o2c.store.einvoice import LifecycleEvent

    out = []
    with store.session() as s:  # type: ignore[attr-defined]
        allocs = s.scalars(select(CashAllocation).order_by(CashAllocation.id)).all()
        if allocs:
            out.append(f"cash application: {len(allocs)} allocations "
                       f"({sum(a.status == 'auto' for a in allocs)} automatic, {sum(a.status == 'suggested' for a in allocs)} for review)")
            for a in allocs[:6]:
                out.append(f"  {a.bank_ref} -> {a.invoice_number} {a.amount:,.2f} {a.currency} [{a.status}, {a.rule}] {a.explanation}")
        for u in s.scalars(select(CashUnapplied)):
            out.append(f"  unapplied {u.bank_ref}: {u.amount:,.2f} {u.currency} ({u.reason})")
        paid = s.scalars(select(LifecycleEvent).where(LifecycleEvent.code == "212")).all()
        if paid:
            out.append(f"lifecycle: {len(paid)} invoices Encaissée (212) sent to the platform")
        latest = s.scalar(select(func.max(RiskFlagRow.as_of)))
        flags = s.scalars(select(RiskFlagRow).where(RiskFlagRow.as_of == latest)
                          .order_by(RiskFlagRow.severity, RiskFlagRow.customer_name)).all()
        if flags:
            out.append(f"risk flags at {latest}: {len(flags)} ({sum(f.severity == 'high' for f in flags)} high)")
            for f in flags[:5]:
                out.append(f"  [{f.severity}] {f.reason}")
        kpi = s.scalars(select(KpiDaily).order_by(KpiDaily.day.desc())).first()
        if kpi is not None:
            dso = f"{kpi.dso_countback:.1f}" if kpi.dso_countback is not None else "n/a"
            out.append(f"KPIs {kpi.day}: receivables {kpi.receivables:,.2f} {kpi.currency}, DSO (count-back) {dso} days, "
                       f"overdue >90 days {kpi.overdue_90_plus:,.2f}")
    out += _writeback_and_collections(store)
    return out


def _writeback_and_collections(store: object) -> list[str]:
    from collections import Counter

    from sqlalchemy import select

    from o2c.store.audit import verify
    from o2c.store.collections import ReminderRow, SkipRow
    from o2c.store.writeback import WriteBackRow

    out = []
    with store.session() as s:  # type: ignore[attr-defined]
        commands = Counter((w.kind, w.status) for w in s.scalars(select(WriteBackRow)))
        if commands:
            out.append("write-back to Tryton: " + ", ".join(f"{n} {kind} {status}" for (kind, status), n in sorted(commands.items())))
        reminders = s.scalars(select(ReminderRow).order_by(ReminderRow.level.desc(), ReminderRow.customer_name)).all()
        if reminders:
            out.append(f"reminders planned: {len(reminders)} (" + ", ".join(
                f"{n} {st}" for st, n in sorted(Counter(r.status for r in reminders).items())) + ")")
            for r in reminders[:4]:
                out.append(f"  {r.customer_name}: level {r.level}, {r.total:,.2f} {r.currency} ({r.status})")
        skips = Counter(k.rule for k in s.scalars(select(SkipRow)))
        if skips:
            out.append("overdue invoices left out of reminders: " + ", ".join(f"{n} {rule}" for rule, n in sorted(skips.items())))
    check = verify(store)  # type: ignore[arg-type]
    out.append(f"audit trail: {check.entries} entries, " + ("intact" if check.ok else f"BROKEN at entry {check.broken_seq}"))
    return out


def _parties(store: object) -> list[str]:
    from sqlalchemy import func, select

    from o2c.store.parties import Party, PartyConflict, PartyLink

    out = []
    with store.session() as s:  # type: ignore[attr-defined]
        parties = s.scalar(select(func.count()).select_from(Party))
        shared = s.execute(select(PartyLink.party_id).group_by(PartyLink.party_id).having(func.count() > 1)).all()
        out.append(f"one customer base: {parties} customers, {len(shared)} of them known to both sources")
        for c in s.scalars(select(PartyConflict).where(PartyConflict.resolved_at.is_(None))):
            party = s.get(Party, c.party_id)
            values = ", ".join(f"{k}: {v}" for k, v in c.values.items())
            out.append(f"  conflict on {party.name} / {c.field}: {values}")
    return out


def _einvoices(store: object) -> list[str]:
    from sqlalchemy import func, select

    from o2c.store.einvoice import EInvoiceDocument

    out = []
    with store.session() as s:  # type: ignore[attr-defined]
        rows = s.execute(select(EInvoiceDocument.format, EInvoiceDocument.status, func.count())
                         .group_by(EInvoiceDocument.format, EInvoiceDocument.status)).all()
        if rows:
            out.append("e-invoices: " + ", ".join(f"{n} {fmt} {status}" for fmt, status, n in sorted(rows)))
        for d in s.scalars(select(EInvoiceDocument).where(EInvoiceDocument.status == "rejected").limit(5)):
            rules = sorted({e["rule"] for e in d.report.get("errors", [])})
            out.append(f"  held back {d.invoice_number} ({d.format}): fails {', '.join(rules)}")
    return out


# -- the UI: `airflow standalone` and everything it starts, stopped together --------------------------

def _processes() -> dict[int, tuple[int, int, int]]:
    """Live processes as ``pid -> (ppid, process group, start time)``, read from /proc (Linux); zombies,
    which are already dead, are left out. Empty where there is no /proc."""
    out = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
        if fields[0] not in ("Z", "X"):
            out[int(entry.name)] = (int(fields[1]), int(fields[2]), int(fields[19]))
    return out


def _tree(root: int, procs: dict[int, tuple[int, int, int]]) -> set[tuple[int, int]]:
    """``(pid, start time)`` of ROOT and its live descendants (a start time tells a reused pid apart)."""
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            found.add((pid, procs[pid][2]))
        todo.extend(child for child, (ppid, _, _) in procs.items() if ppid == pid)
    return found


def _left(group: int, known: set[tuple[int, int]]) -> tuple[bool, set[int]]:
    """Whether the process group GROUP still has a live member, and which of the processes KNOWN
    outside that group are still alive."""
    procs = _processes()
    if not procs:  # no /proc: the process group is all we can see
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return False, set()
        return True, set()
    in_group = any(pgrp == group for _, pgrp, _ in procs.values())
    return in_group, {pid for pid, (_, pgrp, start) in procs.items() if pgrp != group and (pid, start) in known}


def stop_process_tree(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """Stop PROC (started in a process group of its own) and every process it started, then wait for them.

    SIGINT to the group first, as a Ctrl-C in a terminal would do: each Airflow component shuts down
    cleanly. Then SIGTERM, then SIGKILL, to what is left of the group and of the descendants seen on
    the way (task runners put themselves in process groups of their own; orphans leave the tree, so
    they are remembered before their parent goes). A second Ctrl-C skips to the next signal.
    """
    known: set[tuple[int, int]] = set()
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        known |= _tree(proc.pid, _processes())
        _, outside = _left(proc.pid, known)
        for pid in outside:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + wait
        try:
            while time.monotonic() < deadline:
                done = proc.poll() is not None
                known |= _tree(proc.pid, _processes()) if not done else set()
                if done and _left(proc.pid, known) == (False, set()):
                    return
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("      stopping harder")
    proc.wait(timeout=5)


@contextlib.contextmanager
def _stop_signals_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (the terminal closed) are handled as Ctrl-C, so that what the UI started is
    stopped, and the ERP too: Airflow runs in a process group of its own, which they do not reach."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_ui(env: dict[str, str], home: Path, port: int) -> int:
    """``airflow standalone`` (api-server, scheduler, dag-processor, triggerer) until Ctrl-C or SIGTERM."""
    env = {**env, "AIRFLOW__API__PORT": str(port),
           # the demo's UI is for this machine only (Airflow's default listens on every interface)
           "AIRFLOW__API__HOST": "127.0.0.1",
           # the task runners reach the API server here (Airflow's default says port 8080)
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/"}
    print("[2/3] Airflow 3: metadata database", flush=True)
    subprocess.run([_bin("airflow"), "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    print(f"[3/3] Airflow UI: starting the api-server, scheduler, dag-processor and triggerer on http://127.0.0.1:{port}")
    print(f"      login: admin, password in {home / 'airflow' / 'simple_auth_manager_passwords.json.generated'}")
    print("      Ctrl-C stops Airflow and the demo ERP.", flush=True)
    # its own process group, so that it can be stopped as a whole; no terminal input for a background group
    proc = subprocess.Popen([_bin("airflow"), "standalone"], env=env, process_group=0, stdin=subprocess.DEVNULL)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        print("      stopping Airflow (every process it started) and the demo ERP")
        stop_process_tree(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    parser.add_argument("action", nargs="?", default="run", choices=["run", "ui"],
                        help="run: the demo once (default); ui: the demo ERP + Airflow UI (airflow standalone)")
    parser.add_argument("--invoices", type=int, default=40)
    parser.add_argument("--port", type=int, default=8080, help="ui: the Airflow UI's port (default 8080)")
    args = parser.parse_args(argv)
    if args.action == "ui":
        with _stop_signals_as_interrupt():
            try:
                return _main(args)
            except KeyboardInterrupt:  # before the UI was up (while the ERP or the database started)
                return 0
    return _main(args)


def _main(args: argparse.Namespace) -> int:
    settings = get_settings()
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    server = start_erp(home, args.invoices, "1/3" if args.action == "ui" else "1/5")
    try:
        env = {
            **os.environ,
            **airflow_env(home),
            "O2C_HOME": str(home),
            "O2C_DATABASE_URL": settings.database_url,
            "O2C_SOURCES": str(write_sources(home)),
            "O2C_EINVOICING": str(write_einvoicing(home)),
            f"AIRFLOW_CONN_{CRM_CONN_ID.upper()}": f"filedrop://local{home / 'demo' / 'drops' / 'crm'}",
            f"AIRFLOW_CONN_{CONN_ID.upper()}": f"tryton://{server.admin_login}:{server.admin_password}"  # type: ignore[attr-defined]
                                               f"@127.0.0.1:{server.port}/{server.database}",  # type: ignore[attr-defined]
        }
        from o2c.store import Store

        # a deployment step, run once: the DAG tasks only check the store's revision
        Store(settings.database_url).upgrade()
        prepare_writeback(server)
        if args.action == "ui":
            return run_ui(env, home, args.port)
        rc = 0
        for step, dag_id in (("2/5", "erp_invoice_sync"), ("3/5", "einvoice_outbound")):
            print(f"[{step}] Airflow 3: running DAG {dag_id} once (store: {settings.database_url})")
            t0 = time.monotonic()
            rc = run_dag(env, home, dag_id) or rc
            print(f"      DAG run {'succeeded' if rc == 0 else 'FAILED'} in {time.monotonic() - t0:.0f} s")
        print(f"[4/5] bank: {receive_statement(home, settings.database_url)}")
        for dag_id in ("cash_application", "risk_scoring", "erp_writeback", "collections"):
            t0 = time.monotonic()
            rc = run_dag(env, home, dag_id) or rc
            print(f"      DAG {dag_id} {'succeeded' if rc == 0 else 'FAILED'} in {time.monotonic() - t0:.0f} s")
        print("[5/5] what reached the hub store:\n")
        print(summary(settings.database_url))
        print("\nNext: `make demo` again shows a re-run changes nothing; "
              "`.venv/bin/python -m demo ui` opens the Airflow UI (http://127.0.0.1:8080) on the same data, where "
              "the finance review page (O2C sync review) accepts, rejects or re-allocates bank lines "
              "(also `.venv/bin/o2c cash-review LINE --accept | --reject | --reallocate INVOICE --reviewer NAME`).")
        return rc
    finally:
        server.stop()  # type: ignore[attr-defined]

