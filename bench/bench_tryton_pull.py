"""Pull speed from the live Tryton server: raw JSON-RPC against the full hub sync (on demand, not a test).

    .venv/bin/python bench/bench_tryton_pull.py [--sizes 1000,10000,100000] [--batch-sizes 200,1000]
        [--modes raw,full,resync] [--repeat 3] [--baseline /path/to/older/checkout]
        [--profile-size 10000] [--workdir /tmp/o2c-tryton-bench] [--reuse] [--write-results [--section TITLE]]
    .venv/bin/python bench/bench_tryton_pull.py --merge RUN1.json:before,RUN2.json:after [--write-results]

For every size N the demo database is enlarged to N posted customer invoices with
``bench/tryton_volume.py`` (SQL-level clones of the 44 seeded invoices and credit notes, see there),
``trytond`` is started on it (loopback, SQLite backend), and for every batch size, each measurement
in a fresh Python process (so its peak RSS is its own):

- **raw**: ``for batch in TrytonConnector(conn, batch_size=B).pull("invoices", None, FAR_FUTURE)``:
  the connector's sequence of JSON-RPC calls (a ``search_read`` page, then ``read`` of the page's
  lines, invoice taxes, lines to pay, and the cached reads of taxes, units, products, parties...)
  and its assembly of the records; nothing mapped or stored. ``client.rpc_seconds`` is the time
  spent waiting for the server (HTTP round trip + ``resp.json()``).
- **full**: ``sync_stream(store, source, connector, "invoices", since=None, until=FAR_FUTURE)`` into a
  fresh SQLite store: pull + map + validate + upsert + commit per batch. The hub's time is
  ``wall - rpc_seconds``; **overhead = (wall - rpc_seconds) / rpc_seconds**. The time is broken
  down with light timing wrappers (pull generator minus RPC = connector assembly, ``Mapping.apply``,
  ``validate_invoice``, ``Store.upsert_invoice`` with its ``to_json`` / ``content_hash`` share,
  the per-batch commit, the rest of the sync loop).
- **resync**: the same full sync run a second time over the same window into the store the first one
  filled (untimed): every record comes back unchanged, the path of a routine re-run.
- **baseline** (with ``--baseline DIR``, a checkout of older hub code, e.g. ``git archive`` of a
  commit): that checkout's own worker runs the full sync in the same rounds, against the same server,
  labelled ``before`` (this checkout's runs are ``after``).
- **profile** (N = ``--profile-size``, first batch size only): the same full sync under cProfile; the
  top functions by own time and the cumulative time of the hub's stages are reported, the
  ``.pstats`` file is kept in the work directory.

The modes run in rounds (``--repeat``), alternating: raw, full, baseline, resync, raw, full...; the
hub's overhead over the raw read is given against the raw run of the same round:
``full wall / raw wall - 1``, and, as what it would be if nothing overlapped (the pull runs one
batch ahead in a thread since the ninth session), ``(hub CPU of full - hub CPU of raw) / raw wall``.

Each run's figures go to ``<workdir>/bench_tryton_pull.json``; ``--merge`` turns several such files (e.g.
one per size, or before / after a change of the hub code) into one results section.

The connector is logged in before the clock starts (login + preferences are 2 calls); the
first measurement of each server is preceded by a short warm-up pull (2 pages). The machine may
be shared: load averages are recorded before each measurement, and CPU seconds of the hub process
and of the trytond process are given beside wall times.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FAR_FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "## Tryton pull"


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _proc_cpu(pid: int) -> float:
    """user + system CPU seconds of another process (the trytond server)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_rss_kib(pid: int, key: str = "VmHWM") -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# -- worker (one measurement per process) ---------------------------------------------------------------


def _conn(args: argparse.Namespace) -> Any:
    from connectors.base import ConnectionInfo

    return ConnectionInfo(host="127.0.0.1", port=args.port, login="admin", password="admin", schema="o2c")


class _Timer:
    def __init__(self) -> None:
        self.t: dict[str, float] = {}
        self.n: dict[str, int] = {}

    def add(self, key: str, seconds: float) -> None:
        self.t[key] = self.t.get(key, 0.0) + seconds
        self.n[key] = self.n.get(key, 0) + 1

    def wrap(self, key: str, fn: Any) -> Any:
        perf = time.perf_counter

        def timed(*a: Any, **kw: Any) -> Any:
            start = perf()
            try:
                return fn(*a, **kw)
            finally:
                self.add(key, perf() - start)

        return timed


class _TimedPull:
    """Wraps a connector: times each step of its pull generator and the RPC time inside it."""

    def __init__(self, connector: Any, timer: _Timer) -> None:
        self.connector, self.timer = connector, timer
        self.pull_ahead = getattr(connector, "pull_ahead", False)  # the sync pulls one batch ahead in a thread

    def spec(self, stream: str) -> Any:
        return self.connector.spec(stream)  # the sync reads the stream's declared primary key

    def pull(self, stream: str, since: Any, until: Any) -> Any:
        gen = self.connector.pull(stream, since, until)
        client = self.connector.client
        while True:
            start, rpc0 = time.perf_counter(), client.rpc_seconds
            try:
                batch = next(gen)
            except StopIteration:
                self.timer.add("pull", time.perf_counter() - start)
                self.timer.add("pull_rpc", client.rpc_seconds - rpc0)
                return
            self.timer.add("pull", time.perf_counter() - start)
            self.timer.add("pull_rpc", client.rpc_seconds - rpc0)
            yield batch


def worker(args: argparse.Namespace) -> dict[str, Any]:
    from connectors.tryton import TrytonConnector

    cpu0 = _cpu_self()
    srv_cpu0 = _proc_cpu(args.server_pid)
    out: dict[str, Any] = {"mode": args.worker, "n": args.n, "batch": args.batch, "load": _loadavg()}
    connector = TrytonConnector(_conn(args), batch_size=args.batch)
    client = connector.client
    client.rpc_seconds, client.rpc_calls = 0.0, 0
    if args.worker == "warmup":
        for i, _batch in enumerate(connector.pull("invoices", None, FAR_FUTURE)):
            if i >= 1:
                break
        return {"mode": "warmup"}
    if args.worker == "raw":
        records = 0
        cpu_t0, srv_t0 = _cpu_self(), _proc_cpu(args.server_pid)
        start = time.perf_counter()
        for batch in connector.pull("invoices", None, FAR_FUTURE):
            records += len(batch.records)
        wall = time.perf_counter() - start
        cpu_t1, srv_t1 = _cpu_self(), _proc_cpu(args.server_pid)
        out.update(read=records)
    else:
        from o2c.config import SourceConfig
        from o2c.jobs.sync import sync_stream
        from o2c.store import Store

        source = SourceConfig(name="tryton_bench", kind="tryton", connection="erp_tryton_bench")
        tmp = Path(tempfile.mkdtemp(prefix="hub-", dir=args.tmp))
        store = Store(f"sqlite:///{tmp / 'hub.sqlite'}")
        store.upgrade()
        timer = _Timer()
        pulled: Any = connector
        profiler = None
        if args.worker == "resync":  # the store first filled by a sync of the same window (untimed)
            sync_stream(store, source, connector, "invoices", since=None, until=FAR_FUTURE)
            client.rpc_seconds, client.rpc_calls = 0.0, 0
            srv_cpu0 = _proc_cpu(args.server_pid)
        if args.worker == "full":
            import mappings.mapper as mapper
            import o2c.jobs.sync as sync_mod
            import o2c.store as store_mod

            mapper.Mapping.apply = timer.wrap("map", mapper.Mapping.apply)  # type: ignore[method-assign]
            sync_mod.validate_invoice = timer.wrap("validate", sync_mod.validate_invoice)
            store_mod.to_json = timer.wrap("upsert.to_json", store_mod.to_json)
            store_mod.content_hash = timer.wrap("upsert.content_hash", store_mod.content_hash)
            store.upsert_invoices = timer.wrap("upsert", store.upsert_invoices)  # type: ignore[method-assign]
            store.resolve_quarantine = timer.wrap("resolve_quarantine", store.resolve_quarantine)  # type: ignore[method-assign]
            store.set_watermark = timer.wrap("set_watermark", store.set_watermark)  # type: ignore[method-assign]
            plain_session = store.session

            @contextlib.contextmanager
            def timed_session() -> Any:
                cm = plain_session()
                s = cm.__enter__()
                try:
                    yield s
                except BaseException:
                    if not cm.__exit__(*sys.exc_info()):
                        raise
                else:
                    start = time.perf_counter()
                    cm.__exit__(None, None, None)
                    timer.add("commit", time.perf_counter() - start)

            store.session = timed_session  # type: ignore[method-assign]
            pulled = _TimedPull(connector, timer)
        elif args.worker == "profile":
            profiler = cProfile.Profile()
        cpu_t0, srv_t0 = _cpu_self(), _proc_cpu(args.server_pid)
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        # resync: the same window again (the watermark would make it empty)
        since = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) if args.worker == "resync" else None
        summary = sync_stream(store, source, pulled, "invoices", since=since, until=FAR_FUTURE)
        if profiler:
            profiler.disable()
        wall = time.perf_counter() - start
        cpu_t1, srv_t1 = _cpu_self(), _proc_cpu(args.server_pid)
        out.update(read=summary.read, inserted=summary.inserted, unchanged=summary.unchanged, rejected=summary.rejected,
                   status=summary.status)
        if summary.rejects:
            out["first_rejects"] = summary.rejects[:3]
        if args.worker == "full":
            t = timer.t
            bd = {
                "rpc": client.rpc_seconds,
                "connector_assembly": t.get("pull", 0.0) - t.get("pull_rpc", 0.0),
                "map": t.get("map", 0.0),
                "validate": t.get("validate", 0.0),
                "upsert_to_json": t.get("upsert.to_json", 0.0),
                "upsert_content_hash": t.get("upsert.content_hash", 0.0),
                "upsert_sql_orm": t.get("upsert", 0.0) - t.get("upsert.to_json", 0.0) - t.get("upsert.content_hash", 0.0),
                "resolve_quarantine": t.get("resolve_quarantine", 0.0),
                "commit": t.get("commit", 0.0),
                "set_watermark": t.get("set_watermark", 0.0),
            }
            bd["rest"] = wall - sum(bd.values())
            out["breakdown_s"] = {k: round(v, 3) for k, v in bd.items()}
        if profiler:
            pfile = Path(args.tmp) / f"profile-n{args.n}-b{args.batch}.pstats"
            profiler.dump_stats(pfile)
            out["pstats"] = str(pfile)
            out["profile"] = _profile_summary(pfile, wall, client.rpc_seconds)
        store.engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    rpc = client.rpc_seconds
    out.update(
        wall=round(wall, 3), rpc_seconds=round(rpc, 3), rpc_calls=client.rpc_calls,
        per_s=round(out["read"] / wall, 1) if wall else None,
        rpc_share=round(rpc / wall, 4) if wall else None,
        overhead=round((wall - rpc) / rpc, 4) if rpc else None,
        hub_cpu=round(_cpu_self() - cpu0, 2),
        hub_cpu_timed=round(cpu_t1 - cpu_t0, 2),
        server_cpu_timed=round(srv_t1 - srv_t0, 2),
        server_cpu=round(_proc_cpu(args.server_pid) - srv_cpu0, 2),
        rss_mib=round(_peak_rss_kib() / 1024, 1),
        load_after=_loadavg(),
    )
    connector.close()
    return out


def _profile_summary(pfile: Path, wall: float, rpc: float) -> dict[str, Any]:
    st = pstats.Stats(str(pfile))
    stats = st.stats  # type: ignore[attr-defined]

    def cum(filename_part: str, func: str) -> float:
        return sum(v[3] for (f, _l, name), v in stats.items() if name == func and filename_part in f)

    stages = {
        "TrytonClient._post (RPC + json + retries)": cum("connectors/tryton.py", "_post"),
        "requests Session.post": cum("requests/sessions.py", "post"),
        "Response.json": cum("requests/models.py", "json"),
        "connectors.tryton._decode": cum("connectors/tryton.py", "_decode"),
        "TrytonConnector._complete_invoices": cum("connectors/tryton.py", "_complete_invoices"),
        "Mapping.apply": cum("mappings/mapper.py", "apply"),
        "Mapping.to_dict": cum("mappings/mapper.py", "to_dict"),
        "jsonio.from_json (pydantic validate)": cum("schemas/jsonio.py", "from_json"),
        "validate_invoice": cum("schemas/validation.py", "validate_invoice"),
        "Store.upsert_invoice": cum("o2c/store/__init__.py", "upsert_invoice"),
        "jsonio.to_json": cum("schemas/jsonio.py", "to_json"),
        "jsonio.content_hash": cum("schemas/jsonio.py", "content_hash"),
        "Session.flush": cum("sqlalchemy/orm/session.py", "flush"),
        "Session.scalar": cum("sqlalchemy/orm/session.py", "scalar"),
        "Session.commit": cum("sqlalchemy/orm/session.py", "commit"),
        "Store.resolve_quarantine": cum("o2c/store/__init__.py", "resolve_quarantine"),
    }
    buf = io.StringIO()
    pstats.Stats(str(pfile), stream=buf).sort_stats("tottime").print_stats(25)
    top = [ln for ln in buf.getvalue().splitlines() if ln.strip()][-26:]
    return {"wall_under_profiler": round(wall, 2), "rpc_under_profiler": round(rpc, 2),
            "cumulative_s": {k: round(v, 2) for k, v in stages.items()}, "top_tottime": top}


# -- driver ---------------------------------------------------------------------------------------------


def _run_worker(mode: str, n: int, batch: int, port: int, pid: int, tmp: Path, repo: Path = REPO) -> dict[str, Any]:
    script = repo / "bench" / "bench_tryton_pull.py"
    cmd = [sys.executable, str(script.resolve()), "--worker", mode, "--n", str(n), "--batch", str(batch),
           "--port", str(port), "--server-pid", str(pid), "--tmp", str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=repo)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} n={n} b={batch} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _print(res: dict[str, Any]) -> None:
    brief = {k: v for k, v in res.items() if k not in ("profile",)}
    print(json.dumps(brief, default=str), flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench import tryton_volume
    from demo.tryton.server import TrytonServer

    base = args.workdir.resolve()
    base.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "cores": os.cpu_count(),
                           "python": platform.python_version(), "machine": platform.machine(),
                           "command": " ".join([".venv/bin/python", "bench/bench_tryton_pull.py", *sys.argv[1:]]),
                           "builds": [], "results": []}
    with contextlib.suppress(Exception):
        from importlib import metadata

        out["trytond"] = metadata.version("trytond")
    for n in args.sizes:
        workdir = base / f"n{n}"
        started = time.monotonic()
        database, info = tryton_volume.build(workdir, n, reuse=args.reuse)
        info["build_wall"] = round(time.monotonic() - started, 1)
        info["load"] = _loadavg()
        out["builds"].append({"n": n, **{k: info.get(k) for k in ("clones", "seconds", "db_bytes", "reused", "build_wall", "load")}})
        print(json.dumps({"built": n, **out["builds"][-1]}), flush=True)
        with TrytonServer(database) as server:
            assert server.process is not None and server.port is not None
            pid, port = server.process.pid, server.port
            tmp = workdir / "runs"
            tmp.mkdir(exist_ok=True)
            if args.check:
                print(json.dumps({"check": tryton_volume.check(server, n)}, default=str), flush=True)
            _run_worker("warmup", n, args.batch_sizes[0], port, pid, tmp)
            for batch in args.batch_sizes:
                for round_no in range(1, args.repeat + 1):
                    for mode in args.modes:
                        runs = [(mode, REPO, "after" if args.baseline else "")]
                        if mode == "full" and args.baseline:
                            runs.append(("full", args.baseline.resolve(), "before"))
                        for worker_mode, repo, code in runs:
                            res = _run_worker(worker_mode, n, batch, port, pid, tmp, repo)
                            res.update(round=round_no, server_rss_mib=round((_proc_rss_kib(pid) or 0) / 1024, 1))
                            if code and worker_mode != "raw":
                                res["code"] = code
                            out["results"].append(res)
                            _print(res)
            if n == args.profile_size:
                res = _run_worker("profile", n, args.batch_sizes[0], port, pid, tmp)
                out["results"].append(res)
                print(json.dumps(res["profile"], indent=1), flush=True)
    out["finished"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    (base / "bench_tryton_pull.json").write_text(json.dumps(out, indent=1, default=str))
    return out


def _merge(outs: list[dict[str, Any]], labels: list[str] | None = None) -> dict[str, Any]:
    """Several runs (e.g. one per size) as one: results in order, commands joined; ``labels`` name
    the hub code each run measured (e.g. before / after a store change)."""
    for out in outs:
        for r in out["results"]:
            r.setdefault("started", out["started"])  # rounds are numbered per run
    for out, label in zip(outs, labels or [], strict=False):
        for r in out["results"]:
            if label:
                r["code"] = label
    first = outs[0]
    return {**first, "started": min(o["started"] for o in outs), "finished": max(o["finished"] for o in outs),
            "command": "`, `".join(o["command"] for o in outs),
            "builds": [b for o in outs for b in o["builds"]], "results": [r for o in outs for r in o["results"]]}


def _section(out: dict[str, Any], section_title: str | None = None) -> str:
    rows = [r for r in out["results"] if r["mode"] in ("raw", "full", "resync")]
    raws = {(r["n"], r["batch"], r.get("round"), r.get("started", out["started"])): r for r in rows if r["mode"] == "raw"}

    def vs_raw(r: dict[str, Any]) -> tuple[str, str]:
        raw = raws.get((r["n"], r["batch"], r.get("round"), r.get("started", out["started"])))
        if r["mode"] == "raw" or raw is None or r.get("round") is None:
            return "–", "–"
        cpu = (r.get("hub_cpu_timed", r["hub_cpu"]) - raw.get("hub_cpu_timed", raw["hub_cpu"])) / raw["wall"]
        return f"{(r['wall'] / raw['wall'] - 1) * 100:+.0f} %", f"{cpu * 100:.0f} %"

    lines = [
        section_title or SECTION,
        "",
        f"Measured {out['started']} – {out['finished']} with `{out['command']}` on {out['cores']} cores ({out['machine']}), "
        f"Python {out['python']}, trytond {out.get('trytond', '?')} (SQLite backend, loopback HTTP, same machine as the hub). "
        "The machine is shared with other engineers' jobs: the load average (1/5/15 min) before each run is given.",
        "",
        "**How the volume was made**: `bench/tryton_volume.py` takes the seeded demo database (40 invoices + 4 credit notes "
        "posted through Tryton's business logic) and clones those 44 posted invoices at the SQL level (invoice, lines, line "
        "taxes, invoice taxes, account move, move lines, tax lines; new ids, numbers, dates spread over 2026) up to N. "
        "So the data is 44 distinct invoice shapes repeated, 11 customers, 1–4 lines per invoice; checked over JSON-RPC "
        "(`search_count`, sampled clones read back with lines, taxes and `lines_to_pay` like their originals, one new "
        "invoice posted afterwards).",
        "",
        "raw = `TrytonConnector.pull` only (the connector's JSON-RPC calls + assembly of the records); full = "
        "`sync_stream` into a fresh SQLite store (pull + map + validate + upsert). RPC = `client.rpc_seconds` (waiting for "
        "the server, incl. `resp.json()`); overhead = (wall − RPC) / RPC; target < 20 %. Each run is one fresh process "
        "(peak RSS is the hub process's).",
        "",
        "hub CPU / trytond CPU are the CPU seconds of the hub process and of the server during the timed part; their ratio "
        "is a load-independent estimate of the overhead (the hub and the server take turns, they never run at once).",
        "",
        "| N | batch | round | run | hub code | load before | wall s | invoices/s | RPC s | RPC calls | overhead (wall − RPC) / RPC | vs raw: wall | vs raw: hub CPU / raw wall | hub CPU s | trytond CPU s | hub/trytond CPU | peak RSS MiB | trytond RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        timed = "hub_cpu_timed" in r
        ratio = f"{r['hub_cpu_timed'] / r['server_cpu_timed'] * 100:.0f} %" if timed and r["server_cpu_timed"] else "–"
        wall_vs, cpu_vs = vs_raw(r)
        lines.append(
            f"| {r['n']:,} | {r['batch']} | {r.get('round', '')} | {r['mode']} | {r.get('code', '')} | {r['load']} | {r['wall']:.1f} | {r['per_s']:,.0f} | "
            f"{r['rpc_seconds']:.1f} | {r['rpc_calls']:,} | {r['overhead'] * 100:.0f} % | {wall_vs} | {cpu_vs} | {r.get('hub_cpu_timed', r['hub_cpu']):.1f} | "
            f"{r.get('server_cpu_timed', r['server_cpu']):.1f}{'' if timed else '*'} | {ratio} | {r['rss_mib']:.0f} | {r.get('server_rss_mib', 0):.0f} |")
    if any("hub_cpu_timed" not in r for r in rows):
        lines += ["", "\\* CPU seconds of the whole worker process (imports, store creation, login included), not of the "
                  "timed part only: no ratio given."]
    full = [r for r in rows if r["mode"] == "full" and "breakdown_s" in r]
    if full:
        keys = list(full[0]["breakdown_s"])
        lines += ["", "Where the full sync's wall time goes (seconds; timing wrappers, no profiler):", "",
                  "| N | batch | hub code | " + " | ".join(keys) + " |", "|---|---|---|" + "---|" * len(keys)]
        for r in full:
            lines.append(f"| {r['n']:,} | {r['batch']} | {r.get('code', '')} | " + " | ".join(f"{r['breakdown_s'][k]:.1f}" for k in keys) + " |")
    return "\n".join(lines) + "\n"


def write_results(section: str, path: Path = RESULTS, title: str = SECTION) -> None:
    """Replace (or append) the section ``title`` ("## Tryton pull"), leaving the others as they are."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(title + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(title))
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
        text = text.replace(section + "## ", section + "\n## ")
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated invoice counts")
    parser.add_argument("--batch-sizes", default="200,1000", help="comma-separated connector batch sizes")
    parser.add_argument("--modes", default="raw,full", help="comma-separated: raw, full, resync")
    parser.add_argument("--baseline", type=Path, help="a checkout of older hub code: its full sync runs beside this one's")
    parser.add_argument("--section", default=SECTION, help="the results section (a '## ' title) written by --write-results")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile-size", type=int, default=10000, help="N for the cProfile run (0: none)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "o2c-tryton-bench")
    parser.add_argument("--reuse", action="store_true", help="reuse databases built earlier in --workdir")
    parser.add_argument("--check", action="store_true", help="check each enlarged database over JSON-RPC first")
    parser.add_argument("--write-results", action="store_true", help=f"write the '{SECTION}' section of {RESULTS}")
    # worker mode (internal)
    parser.add_argument("--worker", choices=["raw", "full", "resync", "profile", "warmup"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--merge", help="comma-separated JSON outputs of earlier runs, each optionally PATH:LABEL (the hub code "
                        "measured): print (or with --write-results write) their section, measure nothing")
    args = parser.parse_args(argv)
    if args.merge:
        items = [item.partition(":") for item in args.merge.split(",")]
        section = _section(_merge([json.loads(Path(p).read_text()) for p, _, _ in items], [label for _, _, label in items]),
                           args.section)
        if args.write_results:
            write_results(section, title=args.section)
        print(section)
        return 0
    if args.worker:
        print(json.dumps(worker(args), default=str))
        return 0
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.batch_sizes = [int(s) for s in args.batch_sizes.split(",") if s]
    args.modes = [m for m in args.modes.split(",") if m]
    out = run(args)
    if args.write_results:
        write_results(_section(out, args.section), title=args.section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
