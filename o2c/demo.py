"""``make demo``: the order-to-cash hub on the embedded default, end to end, in one command.

1. starts a seeded demo Tryton 8.2 ERP on loopback (SQLite; built once, then cached);
2. runs the ``erp_invoice_sync`` Airflow DAG once (``airflow dags test``) against it, with the
   hub store in ``$O2C_HOME/o2c.sqlite``;
3. prints what reached the store (invoices per source, totals, rejects) and how to open the
   Airflow UI on the same data (``python -m o2c.demo ui``).

Everything lives under ``$O2C_HOME`` (default ``./var``); delete it to start over.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from o2c.settings import PROJECT_ROOT, get_settings

CONN_ID = "erp_tryton_demo"
SOURCE = "tryton_demo"


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def airflow_env(home: Path) -> dict[str, str]:
    af = home / "airflow"
    return {
        "AIRFLOW_HOME": str(af),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{af / 'airflow.db'}"),
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "plugins")]),
    }


def start_erp(home: Path, invoices: int) -> object:
    from o2c.tryton_demo.server import TrytonServer, prepare_database

    print(f"[1/3] demo ERP: Tryton 8.2 on SQLite, {invoices} posted invoices (first run builds a template: about 2 minutes)")
    t0 = time.monotonic()
    db = prepare_database(home / "demo" / "tryton", invoices=invoices, cache_dir=home / "tryton-cache", overwrite=True)
    server = TrytonServer(db).start()
    print(f"      Tryton ready at {server.url} (database {server.database}) in {time.monotonic() - t0:.0f} s")
    return server


def write_sources(home: Path) -> Path:
    path = home / "demo" / "sources.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# written by `make demo`: the demo's one source (credentials come from the environment)\n"
        "sources:\n"
        f"  - name: {SOURCE}\n    kind: tryton\n    connection: {CONN_ID}\n    streams: [customers, invoices]\n"
    )
    return path


def run_dag(env: dict[str, str], home: Path, dag_id: str) -> int:
    log = home / "demo" / f"{dag_id}.log"
    with open(log, "w") as out:
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
            totals[r.currency] += r.payable if r.type_code != "381" else -r.payable
        credit = sum(1 for r in rows if r.type_code == "381")
        for cur, total in sorted(totals.items()):
            lines.append(f"{source:<16}{len(rows) - credit:>9}{credit:>14}{total:>18,.2f}  {cur}")
    customers = store.customers()
    lines.append(f"customers: {len(customers)} ({', '.join(sorted({c.source for c in customers}))})")
    quarantined = store.quarantined()
    lines.append(f"rejected records in quarantine: {len(quarantined)}")
    for q in quarantined[:10]:
        lines.append(f"  - {q.source} {q.kind} {q.source_id}: {q.reason}")
    lines.append("last sync runs:")
    for run in store.runs(limit=4):
        lines.append(f"  {run.started_at:%Y-%m-%d %H:%M:%S} {run.source}/{run.stream}: {run.status}, read {run.read}, "
                     f"inserted {run.inserted}, updated {run.updated}, unchanged {run.unchanged}, rejected {run.rejected}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m o2c.demo", description=__doc__.splitlines()[0])
    parser.add_argument("action", nargs="?", default="run", choices=["run", "ui"],
                        help="run: the demo once (default); ui: the demo ERP + Airflow UI (airflow standalone)")
    parser.add_argument("--invoices", type=int, default=40)
    args = parser.parse_args(argv)

    settings = get_settings()
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    server = start_erp(home, args.invoices)
    try:
        env = {
            **os.environ,
            **airflow_env(home),
            "O2C_HOME": str(home),
            "O2C_DATABASE_URL": settings.database_url,
            "O2C_SOURCES": str(write_sources(home)),
            f"AIRFLOW_CONN_{CONN_ID.upper()}": f"tryton://{server.admin_login}:{server.admin_password}"  # type: ignore[attr-defined]
                                               f"@127.0.0.1:{server.port}/{server.database}",  # type: ignore[attr-defined]
        }
        if args.action == "ui":
            print("[ui] starting Airflow (api-server, scheduler, dag-processor, triggerer) on http://127.0.0.1:8080")
            print(f"     login: admin, password in {home / 'airflow' / 'simple_auth_manager_passwords.json.generated'}")
            print("     Ctrl-C stops Airflow and the demo ERP.")
            subprocess.run([_bin("airflow"), "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
            try:
                return subprocess.run([_bin("airflow"), "standalone"], env=env).returncode
            except KeyboardInterrupt:
                return 0
        from o2c.store import Store

        Store(settings.database_url).upgrade()
        print(f"[2/3] Airflow 3: running DAG erp_invoice_sync once (store: {settings.database_url})")
        t0 = time.monotonic()
        rc = run_dag(env, home, "erp_invoice_sync")
        print(f"      DAG run {'succeeded' if rc == 0 else 'FAILED'} in {time.monotonic() - t0:.0f} s")
        print("[3/3] what reached the hub store:\n")
        print(summary(settings.database_url))
        print("\nNext: `make demo` again shows a re-run changes nothing; "
              "`.venv/bin/python -m o2c.demo ui` opens the Airflow UI (http://127.0.0.1:8080) on the same data.")
        return rc
    finally:
        server.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
