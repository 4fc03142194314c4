"""Build, seed and run a live Tryton 8.2 server on loopback, for ``make demo`` and the tests.

Three steps, each cached or isolated:

1. :func:`build_template` activates the modules in an empty SQLite database once (about 35-70 s)
   and keeps the file under ``cache_dir``, keyed by the trytond and module versions.
2. :func:`prepare_database` copies the template into a work directory and seeds it with
   ``python -m demo.tryton.seed`` in a child process. A second cache level keyed by
   (template key, invoices, seed, seed-script hash) turns a re-run into a file copy.
3. :class:`TrytonServer` runs ``trytond -c CONF -d DATABASE`` on ``127.0.0.1`` and a free port and
   waits until ``POST /<db>/rpc/`` answers.

Usage (``python -m demo.tryton.server [WORKDIR]`` does the same and serves until Ctrl-C)::

    db = prepare_database(Path("var/tryton"), invoices=40, seed=1, overwrite=True)
    with TrytonServer(db) as server:
        server.url, server.rpc_url        # http://127.0.0.1:40123/  http://127.0.0.1:40123/o2c/rpc/
        server.admin_login, server.admin_password, server.log_path
        server.summary["posted_total"]    # the seed summary, e.g. "106338.85"

trytond and proteus run in child processes from the venv of :data:`sys.executable`; this module
imports neither.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from schemas.errors import FatalError

MODULES: tuple[str, ...] = (
    "party",
    "company",
    "currency",
    "account",
    "account_invoice",
    "account_fr",
    "account_statement",
    "account_credit_limit",
    # dunning levels on receivable lines: the hub writes the level of each reminder it sends
    # (account.dunning, connectors.tryton.TrytonConnector.push_dunning_level)
    "account_dunning",
    "edocument_uncefact",
    # orders and deliveries: an invoice line's stock moves (account_invoice_stock) carry the
    # shipment, its delivery address and date (the French delivery mentions, BG-13)
    "stock",
    "account_invoice_stock",
    "sale",
    # VAT on receipts (cash basis) or on debits: the tax lines Tryton books on cash basis tell the
    # hub whether an invoice of services states the option for debits (FR-vat-on-debits)
    "account_tax_cash",
)
ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "admin"
DATABASE = "o2c"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = REPO_ROOT / "var" / "tryton-cache"
SEED_SCRIPT = Path(__file__).with_name("seed.py")
SEEDED_KEEP = 4  # seeded databases kept in a cache directory (about 6 MB each)


class TrytonDemoError(FatalError):
    """The demo Tryton could not be built, seeded or started; the message says which step and why."""


def venv_executable(name: str) -> Path:
    """A console script installed beside the running interpreter (``.venv/bin/trytond``)."""
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        raise TrytonDemoError(f"{path} not found: install trytond in the venv of {sys.executable}")
    return path


# -- cache keys and files -------------------------------------------------------------------------------


def _module_versions(modules: tuple[str, ...]) -> dict[str, str]:
    versions = {"trytond": metadata.version("trytond"), "proteus": metadata.version("proteus")}
    for module in modules:
        try:
            versions[module] = metadata.version(f"trytond_{module}")
        except metadata.PackageNotFoundError:
            versions[module] = "?"
    return versions


def template_key(modules: tuple[str, ...] = MODULES) -> str:
    """Cache key of the activated template: trytond version and the module list with versions."""
    blob = json.dumps({"modules": sorted(modules), "versions": _module_versions(modules)}, sort_keys=True)
    return f"{metadata.version('trytond')}-{hashlib.sha1(blob.encode()).hexdigest()[:12]}"


def through_year(today: dt.date | None = None) -> int:
    """The last fiscal year the seed creates: next year. With ``account_tax_cash`` Tryton books a
    payment's cash-basis VAT in the period of *today*, so today needs a fiscal year; next year too,
    so that a database seeded on 31 December still works the next day.

    >>> through_year(dt.date(2026, 12, 31))
    2027
    """
    return (today or dt.date.today()).year + 1


def seeded_key(template: str, invoices: int, seed: int, through: int | None = None) -> str:
    """Cache key of a seeded database: also the last fiscal year, so a new year seeds anew."""
    script = hashlib.sha1(SEED_SCRIPT.read_bytes()).hexdigest()[:12]
    blob = json.dumps([template, invoices, seed, script, through if through is not None else through_year()])
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock so that two test sessions do not build the same cache entry twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fp:
        fcntl.flock(fp, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fp, fcntl.LOCK_UN)


def write_config(path: Path, db_dir: Path, *, port: int | None = None) -> Path:
    """trytond.conf for a SQLite database directory (and the HTTP listener when ``port`` is set)."""
    lines = [
        "[database]",
        "uri = sqlite://",
        f"path = {db_dir}",
        "",
        "[session]",
        # Tests log in with bad passwords on purpose; keep the rate limiter from answering 429.
        "max_attempt = 100",
        "max_attempt_ip_network = 1000",
        "",
    ]
    if port is not None:
        lines += ["[web]", f"listen = 127.0.0.1:{port}", ""]
    path.write_text("\n".join(lines))
    return path


def _run(cmd: list[str], *, env: dict[str, str] | None = None, input: str | None = None, what: str,
         log: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, env=env, input=input, text=True, capture_output=True)
    log.write_text(f"$ {' '.join(cmd)}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-25:])
        raise TrytonDemoError(f"{what} failed (exit {proc.returncode}), full log in {log}:\n{tail}")
    return proc


# -- step 1: template ------------------------------------------------------------------------------------


def build_template(cache_dir: Path = DEFAULT_CACHE_DIR, modules: tuple[str, ...] = MODULES) -> Path:
    """Return an activated, empty SQLite database file for ``modules``, building it once per key.

    Runs ``trytond-admin -c CONF -d NAME --all --activate-dependencies -u MODULES`` with the admin
    password read from ``TRYTONPASSFILE``. The build happens in a scratch directory and the file is
    renamed into ``cache_dir`` only when complete.
    """
    cache_dir = Path(cache_dir)
    key = template_key(modules)
    target = cache_dir / f"template-{key}.sqlite"
    if target.exists():
        return target
    with _file_lock(cache_dir / f"template-{key}.lock"):
        if target.exists():
            return target
        scratch = Path(tempfile.mkdtemp(prefix="template-", dir=cache_dir))
        try:
            db_dir = scratch / "db"
            db_dir.mkdir()
            name = "template"
            (db_dir / f"{name}.sqlite").touch()  # trytond-admin does not create SQLite files
            passfile = scratch / "admin.pass"
            passfile.write_text(ADMIN_PASSWORD + "\n")
            conf = write_config(scratch / "trytond.conf", db_dir)
            env = {**os.environ, "TRYTONPASSFILE": str(passfile)}
            started = time.monotonic()
            _run(
                [str(venv_executable("trytond-admin")), "-c", str(conf), "-d", name, "--all",
                 "--activate-dependencies", "-u", *modules],
                env=env,
                input="\n",  # "email for admin (empty for none)"
                what="trytond-admin (module activation)",
                log=cache_dir / f"template-{key}.log",
            )
            (cache_dir / f"template-{key}.seconds").write_text(f"{time.monotonic() - started:.1f}\n")
            os.replace(db_dir / f"{name}.sqlite", target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target


# -- step 2: seeded database --------------------------------------------------------------------------


@dataclass
class TrytonDatabase:
    """A seeded SQLite database in ``workdir/db``, ready to be served."""

    workdir: Path
    name: str
    summary: dict[str, Any] = field(repr=False)
    admin_login: str = ADMIN_LOGIN
    admin_password: str = ADMIN_PASSWORD
    seconds: float = 0.0
    from_cache: bool = False

    @property
    def db_dir(self) -> Path:
        return self.workdir / "db"

    @property
    def path(self) -> Path:
        return self.db_dir / f"{self.name}.sqlite"


def _server_running(workdir: Path) -> int | None:
    pid_file = workdir / "trytond.pid"
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def prepare_database(
    workdir: Path,
    *,
    invoices: int = 40,
    seed: int = 1,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    name: str = DATABASE,
    overwrite: bool = False,
) -> TrytonDatabase:
    """Copy the template into ``workdir/db/<name>.sqlite`` and seed it (or copy a cached seeded file).

    :param workdir: directory for the database, trytond.conf and the logs; created if missing.
    :param invoices: posted customer invoices to create (credit notes, a draft and a cancelled
        invoice come on top).
    :param seed: random seed; the same seed gives the same data.
    :param cache_dir: where the template and the seeded files are cached.
    :param overwrite: replace an existing database file (refused while a server started by
        :class:`TrytonServer` in ``workdir`` is still running).
    """
    workdir = Path(workdir).resolve()
    cache_dir = Path(cache_dir).resolve()
    db_dir = workdir / "db"
    db_dir.mkdir(parents=True, exist_ok=True)
    target = db_dir / f"{name}.sqlite"
    if target.exists():
        pid = _server_running(workdir)
        if pid is not None:
            raise TrytonDemoError(f"{target} is served by trytond (pid {pid}); stop it before preparing again")
        if not overwrite:
            raise TrytonDemoError(f"{target} exists; pass overwrite=True or use another workdir")

    started = time.monotonic()
    template = build_template(cache_dir)
    through = through_year()
    key = seeded_key(template.stem, invoices, seed, through)
    cached_db = cache_dir / f"seeded-{key}.sqlite"
    cached_summary = cache_dir / f"seeded-{key}.json"
    from_cache = cached_db.exists() and cached_summary.exists()
    if not from_cache:
        with _file_lock(cache_dir / f"seeded-{key}.lock"):
            from_cache = cached_db.exists() and cached_summary.exists()
            if not from_cache:
                _seed_into_cache(template, cached_db, cached_summary, invoices=invoices, seed=seed, name=name,
                                 through=through)

    partial = db_dir / f".{name}.sqlite.partial"
    shutil.copyfile(cached_db, partial)
    # a write-ahead log left by the database this one replaces would be replayed into it by SQLite
    # ("database disk image is malformed" on the next start, seen after the template changed)
    for leftover in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        leftover.unlink(missing_ok=True)
    os.replace(partial, target)
    write_config(workdir / "trytond.conf", db_dir)
    summary = json.loads(cached_summary.read_text())
    summary["database"] = name
    return TrytonDatabase(workdir=workdir, name=name, summary=summary,
                          seconds=round(time.monotonic() - started, 1), from_cache=from_cache)


def _seed_into_cache(template: Path, cached_db: Path, cached_summary: Path, *, invoices: int, seed: int,
                     name: str, through: int) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="seed-", dir=cached_db.parent))
    try:
        db_dir = scratch / "db"
        db_dir.mkdir()
        shutil.copyfile(template, db_dir / f"{name}.sqlite")
        conf = write_config(scratch / "trytond.conf", db_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRYTOND_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        proc = _run(
            [sys.executable, "-m", "demo.tryton.seed", "--config", str(conf), "--database", name,
             "--invoices", str(invoices), "--seed", str(seed), "--through-year", str(through)],
            env=env,
            what="seeding (python -m demo.tryton.seed)",
            log=cached_db.with_suffix(".log"),
        )
        summary = json.loads(proc.stdout)
        os.replace(db_dir / f"{name}.sqlite", cached_db)
        cached_summary.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _prune_seeded(cached_db.parent, keep=SEEDED_KEEP)


def _prune_seeded(cache_dir: Path, keep: int) -> None:
    """Drop all but the ``keep`` newest seeded files (each change of seed.py makes a new one)."""
    entries = sorted(cache_dir.glob("seeded-*.sqlite"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[keep:]:
        for suffix in (".sqlite", ".json", ".log", ".lock"):
            with contextlib.suppress(FileNotFoundError):
                old.with_suffix(suffix).unlink()


# -- step 3: server -----------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def jsonrpc(url: str, method: str, params: list[Any], *, timeout: float = 10.0,
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """POST one JSON-RPC call; return (HTTP status, decoded body or None)."""
    body = json.dumps({"id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


class TrytonServer:
    """``trytond`` serving one database on 127.0.0.1; a context manager.

    :param workdir: the directory of :func:`prepare_database` (holds ``db/``); the server writes
        ``trytond-server.conf``, ``trytond.log`` and ``trytond.pid`` there.
    :param database: database name, or the :class:`TrytonDatabase` itself.
    :param port: TCP port; a free one when ``None``.

    ``summary`` is the seed script's JSON summary when built from a :class:`TrytonDatabase`.
    """

    def __init__(self, workdir: Path | TrytonDatabase, database: str | None = None, port: int | None = None,
                 *, start_timeout: float = 60.0) -> None:
        if isinstance(workdir, TrytonDatabase):
            db = workdir
            workdir, database = db.workdir, database or db.name
            self.admin_login, self.admin_password = db.admin_login, db.admin_password
            self.summary: dict[str, Any] = db.summary
        else:
            self.admin_login, self.admin_password = ADMIN_LOGIN, ADMIN_PASSWORD
            self.summary = {}
        self.workdir = Path(workdir).resolve()
        self.database = database or DATABASE
        self.port = port
        self.start_timeout = start_timeout
        self.log_path = self.workdir / "trytond.log"
        self.conf_path = self.workdir / "trytond-server.conf"
        self.pid_path = self.workdir / "trytond.pid"
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds = 0.0

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123/``."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def rpc_url(self) -> str:
        """The database's JSON-RPC endpoint, e.g. ``http://127.0.0.1:40123/o2c/rpc/``."""
        return f"{self.url}{self.database}/rpc/"

    def start(self) -> TrytonServer:
        db_file = self.workdir / "db" / f"{self.database}.sqlite"
        if not db_file.exists():
            raise TrytonDemoError(f"{db_file} not found: run prepare_database({self.workdir!s}) first")
        if self.port is None:
            self.port = free_port()
        write_config(self.conf_path, self.workdir / "db", port=self.port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRYTOND_")}
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(venv_executable("trytond")), "-c", str(self.conf_path), "-d", self.database],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=self.workdir,
            )
        self.pid_path.write_text(f"{self.process.pid}\n")
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = round(time.monotonic() - started, 2)
        return self

    def _wait_ready(self, started: float) -> None:
        assert self.process is not None
        deadline = started + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise TrytonDemoError(
                    f"trytond exited with code {self.process.returncode} before answering on {self.rpc_url}:\n"
                    + self.log_tail())
            try:
                # A login loads the database pool, so the first real call is not the slow one.
                status, body = jsonrpc(self.rpc_url, "common.db.login",
                                       [self.admin_login, {"password": self.admin_password}], timeout=30)
                if status == 200 and isinstance(body, dict) and isinstance(body.get("result"), list):
                    return
                if status == 200 and isinstance(body, dict) and "error" in body:
                    raise TrytonDemoError(f"trytond answered {body['error']!r} on {self.rpc_url}:\n"
                                          + self.log_tail())
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TrytonDemoError(
                    f"trytond did not answer on {self.rpc_url} within {self.start_timeout:.0f} s:\n"
                    + self.log_tail())
            time.sleep(0.2)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"(no log at {self.log_path})"
        return f"--- last lines of {self.log_path}\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate trytond, wait for it, kill it if it does not stop."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        with contextlib.suppress(FileNotFoundError):
            self.pid_path.unlink()

    def __enter__(self) -> TrytonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.process is not None and self.process.poll() is None else "stopped"
        return f"<TrytonServer {self.database} at {self.url if self.port else '?'} {state}>"


def main(argv: list[str] | None = None) -> int:
    """``python -m demo.tryton.server [WORKDIR]``: prepare, serve until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description="Run the seeded demo Tryton on loopback.")
    parser.add_argument("workdir", nargs="?", default=str(REPO_ROOT / "var" / "tryton"))
    parser.add_argument("--invoices", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int)
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR))
    args = parser.parse_args(argv)
    db = prepare_database(Path(args.workdir), invoices=args.invoices, seed=args.seed,
                          cache_dir=Path(args.cache_dir), overwrite=True)
    with TrytonServer(db, port=args.port) as server:
        print(json.dumps({"url": server.url, "database": server.database, "login": server.admin_login,
                          "password": server.admin_password, "log": str(server.log_path),
                          "posted_count": db.summary["posted_count"],
                          "posted_total": db.summary["posted_total"]}), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while server.process is not None and server.process.poll() is None:
                time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
