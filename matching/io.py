"""Files in and out of cash application: customer master, open items, statements, allocations.

Statements are read through the hub's parsers: :func:`edi.camt.iter_entries` streams camt
files (the fast path), :func:`edi.bank.iter_entries` streams every other format (MT940, CFONB 120,
BAI2) and checks each statement as :func:`edi.bank.parse_file` does. Big runs parse files in worker processes (``workers=2``); each worker turns entries into
compact :class:`~matching.lines.Line` tuples and hashes their text keys, so the parent only
receives small tuples and one int64 array per file.
"""

from __future__ import annotations

import csv
import glob
import logging
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matching.columns import trim_heap
from matching.decisions import LinePass, decide_in_order
from matching.engine import Engine
from matching.ledger import Ledger
from matching.lines import Line, is_candidate, line_from_entry, line_keys
from matching.model import CashApplication, MatchConfig
from matching.parallel import ParallelPass

log = logging.getLogger(__name__)

_ALLOC_COLUMNS = ["bank_ref", "invoice_id", "amount_applied", "confidence", "status"]


def read_customers(path: str | os.PathLike[str]) -> pd.DataFrame:
    """customers.csv (every column as text)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


_CATEGORICAL = ("customer_id", "document_type", "currency", "issue_date", "due_date")


def read_open_items(path: str | os.PathLike[str]) -> pd.DataFrame:
    """open_items.csv as text (amounts stay exact decimal strings); repetitive columns categorical.
    Only the columns the ledger reads (:attr:`Ledger.OPEN_ITEM_COLUMNS`) are loaded (at 2M rows, skipping ``amount_total`` alone
    halves the reading time)."""
    with open(path, encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    use = [c for c in header if c in Ledger.OPEN_ITEM_COLUMNS]
    dtypes = {c: ("category" if c in _CATEGORICAL else str) for c in use}
    return pd.read_csv(path, dtype=dtypes, keep_default_na=False, usecols=use)


def statement_files(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Files named directly, plus every regular file inside named directories (sorted)."""
    out: list[str] = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            out.extend(sorted(f for f in glob.glob(os.path.join(p, "*"))
                              if os.path.isfile(f) and not f.endswith((".csv", ".json", ".md"))))
        else:
            out.append(p)
    return out


def _is_camt(path: str) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    return b"urn:iso:std:iso:20022:tech:xsd:camt.05" in head


def read_lines(path: str, config: MatchConfig | None = None) -> tuple[list[Line], np.ndarray, np.ndarray]:
    """Lines of one statement file, with the hashed keys of receipt candidates.

    Returns ``(lines, key_hashes, key_owner)`` where ``key_owner`` is the line position.
    """
    cfg = config or MatchConfig()
    if _is_camt(path):
        from edi.camt import iter_entries

        entries = (e for _, e in iter_entries(path))
    else:  # streamed, each statement checked as parse_file checks it (a failure raises)
        from edi.bank import iter_entries as iter_bank_entries

        entries = (e for _, e in iter_bank_entries(path))
    lines: list[Line] = []
    hs: list[int] = []
    ow: list[int] = []
    for e in entries:
        ln = line_from_entry(e)
        if is_candidate(ln, cfg):
            pos = len(lines)
            for k in line_keys(ln):
                hs.append(hash(k))
                ow.append(pos)
        else:  # debits and non-receipts: keep only what the outputs need
            ln = Line(ln.bank_ref, ln.cents, ln.currency, ln.booking_date, "", "", "", ln.tx_code, (), (), (), "")
        lines.append(ln)
    return lines, np.asarray(hs, dtype=np.int64), np.asarray(ow, dtype=np.int64)


_PROBE = "o2c-hash-probe"


def _read_lines_job(args: tuple[str, MatchConfig]) -> tuple[list[Line], np.ndarray, np.ndarray, int]:
    return (*read_lines(*args), hash(_PROBE))


def load_lines(
    paths: Sequence[str], config: MatchConfig | None = None, workers: int = 2,
    meanwhile: Callable[[], Any] | None = None,
) -> tuple[list[Line], np.ndarray, np.ndarray]:
    """Lines of all files in order, with hashed keys (owners renumbered to the global position).

    Workers are forked so that ``hash()`` of a string agrees with the parent's; without ``fork``
    (or with ``workers <= 1``) everything runs in this process. ``meanwhile`` is called in this
    process while the workers parse (e.g. to build the ledger index); fork early, so the workers
    do not inherit a big parent.
    """
    cfg = config or MatchConfig()
    files = statement_files(paths)
    parts: Iterable[tuple[list[Line], np.ndarray, np.ndarray]]
    pool = None
    if workers > 1 and len(files) > 1 and "fork" in mp.get_all_start_methods():
        pool = mp.get_context("fork").Pool(min(workers, len(files)))
        parts = pool.imap(_read_lines_job, [(f, cfg) for f in files])
        if meanwhile is not None:
            meanwhile()
    else:
        if meanwhile is not None:
            meanwhile()
        parts = (read_lines(f, cfg) for f in files)
    lines: list[Line] = []
    hs: list[np.ndarray] = []
    ow: list[np.ndarray] = []
    try:
        for part in parts:
            ls, h, o = part[0], part[1], part[2]
            if len(part) > 3 and part[3] != hash(_PROBE):
                # the worker hashes strings differently (not forked): hash its keys again here
                hh, oo = [], []
                for pos, ln in enumerate(ls):
                    if is_candidate(ln, cfg):
                        for k in line_keys(ln):
                            hh.append(hash(k))
                            oo.append(pos)
                h, o = np.asarray(hh, dtype=np.int64), np.asarray(oo, dtype=np.int64)
            ow.append(o + len(lines))
            hs.append(h)
            lines.extend(ls)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    if hs:
        return lines, np.concatenate(hs), np.concatenate(ow)
    e = np.empty(0, dtype=np.int64)
    return lines, e, e


def write_allocations(result: CashApplication, path: str | os.PathLike[str]) -> int:
    """The benchmark's allocations.csv: bank_ref,invoice_id,amount_applied,confidence,status."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(_ALLOC_COLUMNS)
        for a in result.allocations:
            w.writerow([a.bank_ref, a.invoice_id, f"{a.amount_applied:.2f}", f"{a.confidence:.3f}", a.status])
    return len(result.allocations)


def apply_cash_files(
    customers: str | os.PathLike[str],
    open_items: str | os.PathLike[str],
    statements: Sequence[str | os.PathLike[str]],
    *,
    config: MatchConfig | None = None,
    learned: Any = None,
    workers: int = 2,
    decide_workers: int = 2,
) -> CashApplication:
    """Cash application from files: customers.csv, open_items.csv and statement files or folders.

    Statement files are parsed by ``workers`` processes while this one indexes the ledger. With
    ``decide_workers`` > 1 (and from 20,000 lines left to decide one by one) the line-by-line
    pass runs on that many cores: this process decides every N-th chunk of lines and
    ``decide_workers - 1`` forked processes speculate the others
    (:class:`matching.parallel.ParallelPass`, chosen here, not by the engine); same results. Each worker copies part of the parent's memory (about 0.7 GB at 1M lines, see
    ``docs/cash-application.md``).
    """
    cfg = config or MatchConfig()
    built: dict[str, Ledger] = {}

    def build() -> None:
        built["ledger"] = Ledger(read_customers(customers), read_open_items(open_items), learned=learned, config=cfg)
        trim_heap()  # the DataFrames and the index's temporaries are gone: return their pages

    t0 = time.perf_counter()
    parsed = list(load_lines([os.fspath(p) for p in statements], cfg, workers=workers, meanwhile=build))
    log.info("%d statement lines read and the ledger of %d open items indexed in %.1f s",
             len(parsed[0]), built["ledger"].n_items, time.perf_counter() - t0)
    line_pass: LinePass = ParallelPass(decide_workers) if decide_workers > 1 else decide_in_order
    engine = Engine(built.pop("ledger"), cfg, line_pass=line_pass)
    # hand the key arrays over without keeping a reference here: the engine frees them once looked up
    return engine.run_loaded(parsed)
