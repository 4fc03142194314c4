"""Enlarge a seeded demo Tryton database to N posted customer invoices at the SQL level (bench only).

Seeding through Tryton's business logic costs about 0.65 s per posted invoice here (18 hours for
100,000), so this script takes the demo database made by ``prepare_database`` (40 invoices + 4
credit notes, seed 1) in a scratch directory and clones its posted customer invoices in the
SQLite file while no server runs:

- ``account_invoice`` (new id, new number from the invoice's own strict sequence, ``number_alnum``
  / ``number_digit`` as Tryton computes them, new ``invoice_date`` and ``create_date`` /
  ``write_date`` spread over 2026-01-02..2026-11-20 in id order, "Commande du <date>" and
  "Avoir sur facture <number>" descriptions rewritten to the clone's date / credited clone),
- ``account_invoice_line`` (``origin`` of a credit-note line re-pointed at the clone of the
  credited line of the same generation) and ``account_invoice_line-account_tax``,
- ``account_invoice_tax``,
- ``account_move`` (new number from the period's move sequence, ``date`` and ``period`` of the new
  invoice date, ``origin`` = the clone), ``account_move_line`` (``origin`` re-pointed at the cloned
  invoice line / invoice tax, ``maturity_date`` shifted by the same number of days as the invoice
  date, so ``lines_to_pay`` and due dates keep working) and ``account_tax_line``.

Every other column is copied as is. ``sqlite_sequence`` and ``ir_sequence_strict.number_next_internal``
are moved past the new rows so that the server can still create and post records afterwards.
The clone numbers are chronological among the clones, but their dates interleave with the 44
seeded originals (numbers FA2026-00001..00040 keep their dates); all clone dates are before today,
so new invoices dated today still pass Tryton's "number after" check.

The cache files are only read: the template and the seeded file are copied into a private cache
under the work directory first.

    .venv/bin/python bench/tryton_volume.py --invoices 10000 --workdir /tmp/tryton-10k [--check]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import random
import re
import shutil
import sqlite3
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from demo.tryton.server import (  # noqa: E402
    REPO_ROOT,
    TrytonDatabase,
    TrytonServer,
    prepare_database,
    seeded_key,
    template_key,
)

SOURCE_CACHE = REPO_ROOT / "var" / "test-cache"  # read only: copied, never written
FIRST_DAY = dt.datetime(2026, 1, 2, 8, 0, 0)
LAST_DAY = dt.datetime(2026, 11, 20, 18, 0, 0)


def _private_cache(workdir: Path, source: Path = SOURCE_CACHE) -> Path:
    """Copy the template and the matching seeded file (40 invoices, seed 1) into workdir/cache."""
    cache = workdir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    tkey = template_key()
    template = f"template-{tkey}.sqlite"
    skey = seeded_key(f"template-{tkey}", 40, 1)
    for name in (template, f"seeded-{skey}.sqlite", f"seeded-{skey}.json"):
        if (source / name).exists() and not (cache / name).exists():
            shutil.copyfile(source / name, cache / name)
    return cache


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]


def _rows(db: sqlite3.Connection, table: str, where: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    cols = _columns(db, table)
    sql = f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{table}" WHERE {where} ORDER BY id'
    return [dict(zip(cols, r, strict=True)) for r in db.execute(sql, params)]


def _ts(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _fmt_ts(value: dt.datetime) -> str:
    return value.isoformat(sep=" ", timespec="microseconds")


class _Inserter:
    """Buffered executemany per table, with ids taken from max(id) + 1."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.cols: dict[str, list[str]] = {}
        self.next_id: dict[str, int] = {}
        self.buf: dict[str, list[tuple[Any, ...]]] = defaultdict(list)

    def new_id(self, table: str) -> int:
        if table not in self.next_id:
            self.next_id[table] = (self.db.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"').fetchone()[0]) + 1
        nid = self.next_id[table]
        self.next_id[table] = nid + 1
        return nid

    def add(self, table: str, row: dict[str, Any]) -> None:
        cols = self.cols.setdefault(table, list(row))
        self.buf[table].append(tuple(row[c] for c in cols))
        if len(self.buf[table]) >= 20000:
            self.flush(table)

    def flush(self, table: str | None = None) -> None:
        for t in [table] if table else list(self.buf):
            rows = self.buf.pop(t, [])
            if rows:
                cols = self.cols[t]
                self.db.executemany(
                    f'INSERT INTO "{t}" ({", ".join(chr(34) + c + chr(34) for c in cols)}) VALUES ({", ".join("?" * len(cols))})',
                    rows)


def multiply(db_path: Path, target: int, *, seed: int = 1) -> dict[str, Any]:
    """Clone the posted customer invoices of ``db_path`` until there are ``target`` of them."""
    started = time.monotonic()
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA synchronous = OFF")
    originals = _rows(db, "account_invoice", "type = 'out' AND state IN ('posted', 'paid')")
    if not originals:
        raise SystemExit(f"{db_path}: no posted customer invoices to clone")
    n_clones = target - len(originals)
    if n_clones < 0:
        raise SystemExit(f"{db_path} already has {len(originals)} posted customer invoices (> {target})")
    orig_ids = tuple(o["id"] for o in originals)
    ph = ",".join("?" * len(orig_ids))
    lines_by_inv: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in _rows(db, "account_invoice_line", f"invoice IN ({ph})", orig_ids):
        lines_by_inv[r["invoice"]].append(r)
    line_ids = tuple(r["id"] for rs in lines_by_inv.values() for r in rs)
    line_taxes: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in _rows(db, "account_invoice_line-account_tax", f"line IN ({','.join('?' * len(line_ids))})", line_ids):
        line_taxes[r["line"]].append(r)
    taxes_by_inv: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in _rows(db, "account_invoice_tax", f"invoice IN ({ph})", orig_ids):
        taxes_by_inv[r["invoice"]].append(r)
    move_ids = tuple(o["move"] for o in originals)
    moves = {r["id"]: r for r in _rows(db, "account_move", f"id IN ({','.join('?' * len(move_ids))})", move_ids)}
    mlines_by_move: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in _rows(db, "account_move_line", f"move IN ({','.join('?' * len(move_ids))})", move_ids):
        mlines_by_move[r["move"]].append(r)
    ml_ids = tuple(r["id"] for rs in mlines_by_move.values() for r in rs)
    tax_lines: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in _rows(db, "account_tax_line", f"move_line IN ({','.join('?' * len(ml_ids))})", ml_ids):
        tax_lines[r["move_line"]].append(r)
    # tables this script does not clone must hold nothing for the originals (else the clones would be partial)
    for table, col, ids in [("account_invoice-additional-account_move", "invoice", orig_ids),
                            ("account_invoice-account_move_line", "invoice", orig_ids),
                            ("account_invoice_alternative_payee", "invoice", orig_ids),
                            ("account_invoice_payment_mean", "invoice", orig_ids),
                            ("account_invoice_report_revision", "invoice", orig_ids)]:
        count = db.execute(f'SELECT COUNT(*) FROM "{table}" WHERE "{col}" IN ({ph})', ids).fetchone()[0]
        if count:
            raise SystemExit(f"{table} has {count} rows for the seeded invoices: this script does not clone them")
    if db.execute(f"SELECT COUNT(*) FROM account_move_line WHERE reconciliation IS NOT NULL AND move IN ({','.join('?' * len(move_ids))})",
                  move_ids).fetchone()[0]:
        raise SystemExit("seeded invoices are reconciled (paid): cloning reconciliations is not supported")

    periods = db.execute("SELECT id, start_date, end_date, move_sequence, fiscalyear FROM account_period "
                         "WHERE type = 'standard' ORDER BY start_date").fetchall()
    seq_cols = ["id", "prefix", "suffix", "padding", "number_increment", "number_next_internal"]
    seqs = {r[0]: dict(zip(seq_cols, r, strict=True)) for r in db.execute(f"SELECT {', '.join(seq_cols)} FROM ir_sequence_strict")}

    def period_for(day: dt.date) -> tuple[int, int]:
        for pid, start, end, move_seq, _fy in periods:
            if start <= day.isoformat() <= end:
                return pid, move_seq
        raise SystemExit(f"no accounting period for {day}")

    def next_number(seq_id: int) -> str:
        s = seqs[seq_id]
        n = s["number_next_internal"]
        s["number_next_internal"] = n + (s["number_increment"] or 1)
        return f"{s['prefix'] or ''}{n:0{s['padding'] or 0}d}{s['suffix'] or ''}"

    def remap_origin(value: str | None, maps: dict[str, dict[int, int]]) -> str | None:
        if not value or "," not in value:
            return value
        model, _, rid = value.partition(",")
        if model in maps and rid.isdigit() and int(rid) in maps[model]:
            return f"{model},{maps[model][int(rid)]}"
        return value

    rng = random.Random(seed)
    span = (LAST_DAY - FIRST_DAY).total_seconds()
    stamps = sorted(FIRST_DAY + dt.timedelta(seconds=rng.uniform(0, span)) for _ in range(n_clones))
    ins = _Inserter(db)
    n_orig = len(originals)
    gen_maps: dict[str, dict[int, int]] = {}
    gen_numbers: dict[str, str] = {}  # original number -> clone number, this generation
    counts: dict[str, int] = defaultdict(int)
    for k in range(n_clones):
        if k % n_orig == 0:
            gen_maps = {"account.invoice": {}, "account.invoice.line": {}, "account.invoice.tax": {}, "account.move": {}}
            gen_numbers = {}
        src = originals[k % n_orig]
        created = stamps[k]
        src_created, src_written = _ts(src["create_date"]), _ts(src["write_date"])
        written = created + ((src_written - src_created) if src_written and src_created else dt.timedelta(0))
        new_date = created.date()
        old_date = dt.date.fromisoformat(src["invoice_date"])
        shift = new_date - old_date
        c_ts, w_ts = _fmt_ts(created), _fmt_ts(written)

        def desc(text: str | None, new_date: dt.date = new_date, gen_numbers: dict[str, str] = gen_numbers) -> str | None:
            if not text:
                return text
            text = re.sub(r"^Commande du \d\d/\d\d/\d{4}$", f"Commande du {new_date:%d/%m/%Y}", text)
            m = re.match(r"^(Avoir sur facture )(\S+)$", text)
            if m and m.group(2) in gen_numbers:
                text = m.group(1) + gen_numbers[m.group(2)]
            return text

        inv_id = ins.new_id("account_invoice")
        move_src = moves[src["move"]]
        move_id = ins.new_id("account_move")
        gen_maps["account.invoice"][src["id"]] = inv_id
        gen_maps["account.move"][move_src["id"]] = move_id
        number = next_number(src["sequence"])
        gen_numbers[src["number"]] = number

        # invoice lines first (the credit-note line origins and move-line origins need their new ids)
        for ln in lines_by_inv[src["id"]]:
            lid = ins.new_id("account_invoice_line")
            gen_maps["account.invoice.line"][ln["id"]] = lid
            ins.add("account_invoice_line", {**ln, "id": lid, "invoice": inv_id,
                                             "origin": remap_origin(ln["origin"], gen_maps),
                                             "create_date": c_ts, "write_date": ln["write_date"] and w_ts})
            counts["account_invoice_line"] += 1
            for lt in line_taxes[ln["id"]]:
                ins.add("account_invoice_line-account_tax", {**lt, "id": ins.new_id("account_invoice_line-account_tax"),
                                                             "line": lid, "create_date": c_ts,
                                                             "write_date": lt["write_date"] and w_ts})
                counts["account_invoice_line-account_tax"] += 1
        for tx in taxes_by_inv[src["id"]]:
            tid = ins.new_id("account_invoice_tax")
            gen_maps["account.invoice.tax"][tx["id"]] = tid
            ins.add("account_invoice_tax", {**tx, "id": tid, "invoice": inv_id, "create_date": c_ts,
                                            "write_date": tx["write_date"] and w_ts})
            counts["account_invoice_tax"] += 1
        period_id, move_seq = period_for(new_date)
        ins.add("account_move", {**move_src, "id": move_id, "date": new_date.isoformat(), "period": period_id,
                                 "number": next_number(move_seq) if move_src["number"] else None,
                                 "origin": remap_origin(move_src["origin"], gen_maps),
                                 "description": desc(move_src["description"]),
                                 "create_date": c_ts, "write_date": move_src["write_date"] and w_ts})
        counts["account_move"] += 1
        for ml in mlines_by_move[move_src["id"]]:
            mlid = ins.new_id("account_move_line")
            maturity = ml["maturity_date"]
            if maturity:
                maturity = (dt.date.fromisoformat(maturity) + shift).isoformat()
            ins.add("account_move_line", {**ml, "id": mlid, "move": move_id, "maturity_date": maturity,
                                          "origin": remap_origin(ml["origin"], gen_maps),
                                          "description": desc(ml["description"]),
                                          "create_date": c_ts, "write_date": ml["write_date"] and w_ts})
            counts["account_move_line"] += 1
            for tl in tax_lines[ml["id"]]:
                ins.add("account_tax_line", {**tl, "id": ins.new_id("account_tax_line"), "move_line": mlid,
                                             "create_date": c_ts, "write_date": tl["write_date"] and w_ts})
                counts["account_tax_line"] += 1
        alnum = re.sub(r"[\W_]", "", number)
        digits = re.sub(r"\D", "", number)
        ins.add("account_invoice", {**src, "id": inv_id, "move": move_id, "invoice_date": new_date.isoformat(),
                                    "number": number, "number_alnum": alnum,
                                    "number_digit": int(digits[-18:]) if digits else None,
                                    "description": desc(src["description"]),
                                    "create_date": c_ts, "write_date": src["write_date"] and w_ts})
        counts["account_invoice"] += 1
    ins.flush()

    # keep the id and number counters past the new rows
    for table in ("account_invoice", "account_invoice_line", "account_invoice_line-account_tax", "account_invoice_tax",
                  "account_move", "account_move_line", "account_tax_line"):
        top = db.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"').fetchone()[0]
        if db.execute("SELECT COUNT(*) FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()[0]:
            db.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?", (top, table))
        else:
            db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, top))
    for s in seqs.values():
        db.execute("UPDATE ir_sequence_strict SET number_next_internal = ? WHERE id = ?", (s["number_next_internal"], s["id"]))
    db.commit()
    db.execute("ANALYZE")
    db.commit()
    posted = db.execute("SELECT COUNT(*) FROM account_invoice WHERE type = 'out' AND state IN ('posted', 'paid')").fetchone()[0]
    db.close()
    return {"target": target, "originals": n_orig, "clones": n_clones, "posted": posted, "rows": dict(counts),
            "seconds": round(time.monotonic() - started, 1), "db_bytes": db_path.stat().st_size}


def _script_hash() -> str:
    import hashlib

    return hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:12]


def build(workdir: Path, invoices: int, *, seed: int = 1, reuse: bool = False) -> tuple[TrytonDatabase, dict[str, Any]]:
    """prepare_database (40 invoices, seed 1) in ``workdir`` from a private copy of the cache, then multiply.

    With ``reuse``, a database this script already built in ``workdir`` for the same target, seed
    and script version (``workdir/volume.json``) is served again as it is.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    marker = workdir / "volume.json"
    if reuse and marker.exists():
        info = json.loads(marker.read_text())
        db_file = workdir / "tryton" / "db" / "o2c.sqlite"
        if (info.get("target"), info.get("seed"), info.get("script")) == (invoices, seed, _script_hash()) and db_file.exists():
            summary = json.loads((workdir / "summary.json").read_text())
            return TrytonDatabase(workdir=workdir / "tryton", name="o2c", summary=summary, from_cache=True), {**info, "reused": True}
    marker.unlink(missing_ok=True)
    cache = _private_cache(workdir)
    for stale in (workdir / "tryton" / "db").glob("*.sqlite-*"):  # -wal / -shm of an earlier server run
        stale.unlink()
    database = prepare_database(workdir / "tryton", invoices=40, seed=1, cache_dir=cache, overwrite=True)
    info = multiply(database.path, invoices, seed=seed)
    info["base_from_cache"] = database.from_cache
    info.update(seed=seed, script=_script_hash())
    (workdir / "summary.json").write_text(json.dumps(database.summary))
    marker.write_text(json.dumps(info))
    return database, info


# -- check through the live server ---------------------------------------------------------------------


class _Rpc:
    def __init__(self, server: TrytonServer) -> None:
        import requests

        self.http = requests.Session()
        self.url = server.rpc_url
        body = self._raw("common.db.login", [server.admin_login, {"password": server.admin_password}])
        self.user = body[0]
        token = base64.b64encode(f"{server.admin_login}:{body[0]}:{body[1]}".encode()).decode()
        self.http.headers["Authorization"] = f"Session {token}"
        self.ctx = self._raw("model.res.user.get_preferences", [True, {}])

    def _raw(self, method: str, params: list[Any]) -> Any:
        body = self.http.post(self.url, json={"id": 1, "method": method, "params": params}, timeout=300).json()
        if body.get("error"):
            raise RuntimeError(f"{method}: {body['error']}", body["error"])
        return body["result"]

    def __call__(self, model: str, method: str, *args: Any) -> Any:
        return self._raw(f"model.{model}.{method}", [*args, self.ctx])


def _dec(v: Any) -> Any:
    return v["decimal"] if isinstance(v, dict) and v.get("__class__") == "Decimal" else v


def _date(v: Any) -> dt.date:
    if not isinstance(v, dict):
        raise AssertionError(f"expected a date, got {v!r}")
    return dt.date(v["year"], v["month"], v["day"])


def check(server: TrytonServer, target: int, originals: int = 44, sample: int = 6, seed: int = 7) -> dict[str, Any]:
    """Through JSON-RPC: the posted count, and sampled clones read back like their originals."""
    rpc = _Rpc(server)
    domain = [["type", "=", "out"], ["state", "in", ["posted", "paid"]]]
    count = rpc("account.invoice", "search_count", domain)
    assert count == target, f"search_count of posted customer invoices is {count}, expected {target}"
    ids = rpc("account.invoice", "search", domain, 0, None, [["id", "ASC"]])
    orig_ids, clone_ids = ids[:originals], ids[originals:]
    rng = random.Random(seed)
    picks = sorted(rng.sample(range(len(clone_ids)), min(sample, len(clone_ids)))) if clone_ids else []
    if clone_ids:
        picks = sorted(set(picks) | {0, len(clone_ids) - 1})
    fields = ["number", "invoice_date", "total_amount", "untaxed_amount", "tax_amount", "lines", "taxes", "lines_to_pay",
              "party", "state", "description", "amount_to_pay"]
    checked = []
    for p in picks:
        clone_id, orig_id = clone_ids[p], orig_ids[p % originals]
        clone, orig = rpc("account.invoice", "read", [clone_id, orig_id], fields)
        if clone["id"] != clone_id:
            clone, orig = orig, clone
        for f in ("total_amount", "untaxed_amount", "tax_amount", "amount_to_pay"):
            assert _dec(clone[f]) == _dec(orig[f]), (f, clone, orig)
        assert clone["party"] == orig["party"] and clone["state"] == orig["state"]
        assert len(clone["lines"]) == len(orig["lines"]) and len(clone["taxes"]) == len(orig["taxes"])
        assert len(clone["lines_to_pay"]) == len(orig["lines_to_pay"]) >= 1, (clone, orig)
        assert set(clone["lines"]).isdisjoint(orig["lines"]) and set(clone["lines_to_pay"]).isdisjoint(orig["lines_to_pay"])
        cl = rpc("account.invoice.line", "read", clone["lines"], ["quantity", "unit_price", "amount", "taxes", "product"])
        ol = rpc("account.invoice.line", "read", orig["lines"], ["quantity", "unit_price", "amount", "taxes", "product"])
        key = lambda r: (r["product"], r["quantity"], _dec(r["unit_price"]), _dec(r["amount"]), tuple(r["taxes"]))  # noqa: E731
        assert sorted(map(key, cl)) == sorted(map(key, ol)), (cl, ol)
        ct = rpc("account.invoice.tax", "read", clone["taxes"], ["base", "amount", "tax"])
        ot = rpc("account.invoice.tax", "read", orig["taxes"], ["base", "amount", "tax"])
        tkey = lambda r: (r["tax"], _dec(r["base"]), _dec(r["amount"]))  # noqa: E731
        assert sorted(map(tkey, ct)) == sorted(map(tkey, ot))
        cm = rpc("account.move.line", "read", clone["lines_to_pay"], ["maturity_date", "debit", "credit", "move"])
        om = rpc("account.move.line", "read", orig["lines_to_pay"], ["maturity_date", "debit", "credit", "move"])
        shift = _date(clone["invoice_date"]) - _date(orig["invoice_date"])
        assert sorted(_date(m["maturity_date"]) for m in cm) == sorted(_date(m["maturity_date"]) + shift for m in om)
        assert sorted((_dec(m["debit"]), _dec(m["credit"])) for m in cm) == sorted((_dec(m["debit"]), _dec(m["credit"])) for m in om)
        checked.append({"clone": clone["number"], "original": orig["number"], "date": str(_date(clone["invoice_date"])),
                        "total": _dec(clone["total_amount"]), "lines": len(cl), "taxes": len(ct), "lines_to_pay": len(cm)})
    numbers = rpc("account.invoice", "search_count", domain + [["number", "like", "%"]])
    assert numbers == target
    return {"posted_count": count, "checked": checked}


def check_can_still_post(server: TrytonServer) -> str:
    """Post one more invoice through Tryton's business logic: copy a seeded one, date it today, post it."""
    rpc = _Rpc(server)
    first = rpc("account.invoice", "search", [["type", "=", "out"], ["state", "=", "posted"]], 0, 1, [["id", "ASC"]])
    today = dt.date.today()
    (new,) = rpc("account.invoice", "copy", first, {"invoice_date": {"__class__": "date", "year": today.year,
                                                                      "month": today.month, "day": today.day}})
    try:
        rpc("account.invoice", "post", [new])
    except RuntimeError as exc:  # Tryton's UserWarning (e.g. non-default taxes): acknowledge once, retry
        warning = exc.args[1] if len(exc.args) > 1 else None
        if not warning or warning[0] != "UserWarning":
            raise
        rpc("res.user.warning", "create", [{"user": rpc.user, "name": warning[1][0], "always": False}])
        rpc("account.invoice", "post", [new])
    (row,) = rpc("account.invoice", "read", [new], ["number", "state", "move"])
    assert row["state"] == "posted" and row["number"], row
    return row["number"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, required=True, help="posted customer invoices wanted (>= 44)")
    parser.add_argument("--workdir", type=Path, required=True, help="scratch directory (database under tryton/db/)")
    parser.add_argument("--seed", type=int, default=1, help="random seed for the clone dates")
    parser.add_argument("--reuse", action="store_true", help="serve a database built earlier in --workdir as it is")
    parser.add_argument("--check", action="store_true", help="start the server and check the result over JSON-RPC")
    parser.add_argument("--post-one", action="store_true",
                        help="with --check: also post one new invoice through Tryton (changes the count by one)")
    args = parser.parse_args(argv)
    database, info = build(args.workdir, args.invoices, seed=args.seed, reuse=args.reuse)
    print(json.dumps(info, indent=2), flush=True)
    if args.check:
        with TrytonServer(database) as server:
            print(json.dumps(check(server, args.invoices), indent=2, default=str), flush=True)
            if args.post_one:
                (args.workdir / "volume.json").unlink(missing_ok=True)  # no longer the pure N-invoice database
                print(json.dumps({"posted_after_clone": check_can_still_post(server)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
