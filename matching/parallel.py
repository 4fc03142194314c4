"""The line-by-line pass of cash application on several cores, with the same results.

:class:`ParallelPass` is a :data:`matching.decisions.LinePass`: a caller that wants the pass on
several cores hands it to :class:`matching.engine.Engine` (``matching.io.apply_cash_files`` does
from ``decide_workers``); below :data:`PARALLEL_MIN_LINES` lines, or without ``fork``, it decides
the lines one by one here (:func:`~matching.decisions.decide_in_order`).

The pass is sequential by nature: a line consumes open items, and later lines read what is left
(the payer's open items for an amount combination, the items of an amount for a typo, a settled
item for a duplicate). Splitting the lines by customer would not give the same answers, because
those searches cross customers.

So the pass is split into chunks of lines (in booking order), and every ``workers``-th chunk is
decided by this process while the others are speculated, then checked:

* worker processes (forked: they share the ledger; each chunk's lines and key hits are sent to
  them) decide their chunks against the consumption state so far (a shared memory map, which
  this process updates as it decides and commits) plus their own earlier decisions, and record
  every read of that state their decisions depended on: each item read as open, each item they
  saw consumed by their own earlier lines, each "paid by" looked up;
* this process decides its own chunks against the true state and commits the workers' chunks
  in order. A speculated line whose reads all still hold against the true state is taken as
  decided, with its allocations, flags and consumed items; any other line is decided again
  here, against the true state.

Every committed decision is therefore the one the sequential pass takes at that point: the
outputs are identical, in the same order. The gain depends on how seldom a line reads an item
that a line decided at the same time in another chunk consumed (a few per cent of lines at a
million lines; those are decided twice), and on what a line costs when two processes share
the work: each warms its own caches with its half of the lines, and two busy cores share the
machine's caches (recording the reads costs nothing measurable; bench/RESULTS.md).
"""

from __future__ import annotations

import gc
import logging
import mmap
import multiprocessing as mp
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from matching.decisions import LineDecider, decide_in_order
from matching.lines import Line
from matching.model import CashApplication

PARALLEL_MIN_LINES = 20_000  # below this the line-by-line pass is not worth forking for
CHUNK = 1_000  # lines per chunk: small enough that few lines in flight overlap, large enough for IPC
# Chunks per worker submitted beyond the one being decided or committed here: with one, a worker
# that finished early waited for work and this process then waited for it (17 s of 99 at 1M
# lines); with two, 9 s of 88; four gain nothing more (bench/RESULTS.md).
LOOKAHEAD = 2
log = logging.getLogger(__name__)
_BIG = 32  # reads checked with numpy from this many on

# what the forked workers inherit (the decider of this process, the shared state): set just before
# the fork, cleared after the pass
_STATE: dict[str, Any] = {}


class _Reads:
    """The consumption state as a speculating worker sees it, recording what it reads.

    An item the shared state shows consumed stays consumed (items are only ever consumed, and only
    lines before the chunk have been committed), so such a read is not recorded. An item read as
    open, or seen consumed by this worker's own earlier (not yet committed) decisions, is.
    """

    __slots__ = ("shared", "own", "own_np", "zeros", "ones", "writes")

    def __init__(self, shared: mmap.mmap, n: int) -> None:
        self.shared = shared
        self.own: set[int] = set()
        self.own_np = np.zeros(n, dtype=np.bool_)
        self.zeros: list[int] = []
        self.ones: list[int] = []
        self.writes: list[int] = []

    def __getitem__(self, i: int) -> int:
        if i in self.own:
            self.ones.append(i)
            return 1
        v = self.shared[i]
        if not v:
            self.zeros.append(i)
        return v

    def __setitem__(self, i: int, v: int) -> None:
        self.own.add(i)
        self.own_np[i] = True
        self.writes.append(i)


class _PaidBy(dict):
    """``paid_by`` of a speculating worker: lookups are recorded with the value seen."""

    def __init__(self, base: dict[int, str]) -> None:
        super().__init__(base)
        self.log: list[tuple[int, Any, Any]] = []

    def get(self, i: int, default: Any = None) -> Any:  # type: ignore[override]
        v = dict.get(self, i, default)
        self.log.append((i, default, v))
        return v


class _Speculator(LineDecider):
    """A decider deciding lines against the shared state plus its own decisions (in a worker)."""

    def __init__(self, parent: LineDecider, shared: mmap.mmap) -> None:
        super().__init__(parent.ledger, parent.config)
        n = parent.ledger.n_items
        self.reads = _Reads(shared, n)
        self.used = self.reads  # type: ignore[assignment]
        self._shared_np = np.frombuffer(shared, dtype=np.bool_, count=n)
        self.consumed = self._shared_np
        self.paid_by = _PaidBy(parent.paid_by)

    def free(self, its: np.ndarray) -> np.ndarray:
        r = self.reads
        own = r.own_np[its]
        taken = self._shared_np[its] | own
        r.zeros.extend(its[~taken].tolist())
        if own.any():
            r.ones.extend(its[own].tolist())
        return ~taken


def _task(lines: Sequence[Line], cand: list[int], hits: dict[int, dict[int, int]],
          a: int, b: int) -> tuple[int, int, list[Line], list[dict[int, int]]]:
    """Lines ``cand[a:b]`` as a task: their lines and key hits travel pickled, so that the workers do
    not touch (and so copy, page by page, through reference counts) the parent's million line objects."""
    ks = cand[a:b]
    return a, b, [lines[i] for i in ks], [hits.get(i, {}) for i in ks]


def _segments(n: int, workers: int, chunk: int) -> list[tuple[int, int, bool]]:
    """``(start, end, here)``: ``n`` lines in chunks of ``chunk``, in order; every ``workers``-th is
    decided here, the others are speculated by a worker."""
    return [(a, min(n, a + chunk), k % workers == 0) for k, a in enumerate(range(0, n, chunk))]


def _decide_chunk(task: tuple[int, int, list[Line], list[dict[int, int]]]) -> tuple[Any, ...]:
    """In a worker: decide one chunk of lines; the decisions, per-line offsets and recorded reads."""
    a, b, chunk_lines, chunk_hits = task
    st = _STATE
    w: _Speculator | None = st.get("worker")
    if w is None:
        w = st["worker"] = _Speculator(st["decider"], st["shared"])
    r, res, paid = w.reads, w.result, w.paid_by
    zeros: list[int] = []
    ones: list[int] = []
    writes: list[int] = []
    r.zeros, r.ones, r.writes = zeros, ones, writes
    paid.log = []
    offsets = [(0, 0, 0, 0, 0, 0, 0)]
    paid_reads: list[tuple[int, int, Any, Any]] = []
    for k in range(b - a):
        w.decide(chunk_lines[k], chunk_hits[k])
        if paid.log:
            paid_reads.extend((k, *x) for x in paid.log)
            paid.log = []
        offsets.append((len(zeros), len(ones), len(writes), len(res.allocations), len(res.flags),
                        len(res.unapplied), len(res.write_offs)))
    # integer arrays pickle as raw bytes: far cheaper to send than lists of ints
    out = (a, b, np.asarray(offsets, dtype=np.int64), np.asarray(zeros, dtype=np.int64),
           np.asarray(ones, dtype=np.int64), np.asarray(writes, dtype=np.int64), paid_reads,
           res.allocations, res.flags, res.unapplied, res.write_offs)
    w.result = CashApplication()
    return out


def _commit(decider: LineDecider, part: tuple[Any, ...], lines: Sequence[Line], cand: list[int],
            hits: dict[int, dict[int, int]], used_np: np.ndarray) -> int:
    """Commit one chunk in order: take each line's decision when its reads still hold, otherwise
    decide the line again here. Returns how many lines were decided again."""
    a, b, offs, zeros_np, ones_np, writes_np, paid_reads, allocs, flags, unapplied, write_offs = part
    used, paid_by, res = decider.used, decider.paid_by, decider.result
    zeros, ones, writes = zeros_np.tolist(), ones_np.tolist(), writes_np.tolist()
    by_line: dict[int, list[tuple[int, Any, Any]]] = defaultdict(list)
    for k, i, default, v in paid_reads:
        by_line[k].append((i, default, v))
    redone = 0
    offl = offs.tolist()
    for k in range(b - a):
        z0, o0, w0, al0, f0, u0, wo0 = offl[k]
        z1, o1, w1, al1, f1, u1, wo1 = offl[k + 1]
        if z1 - z0 >= _BIG:
            ok = not used_np[zeros_np[z0:z1]].any()
        else:
            ok = not any(used[j] for j in zeros[z0:z1])
        if ok and o1 > o0:
            ok = all(used[j] for j in ones[o0:o1])
        if ok and k in by_line:
            ok = all(paid_by.get(i, default) == v for i, default, v in by_line[k])
        ln = lines[cand[a + k]]
        if ok:
            for j in writes[w0:w1]:
                used[j] = 1
                paid_by[j] = ln.bank_ref
            if al1 > al0:
                res.allocations.extend(allocs[al0:al1])
            if f1 > f0:
                res.flags.extend(flags[f0:f1])
            if u1 > u0:
                res.unapplied.extend(unapplied[u0:u1])
            if wo1 > wo0:
                res.write_offs.extend(write_offs[wo0:wo1])
        else:
            decider.decide(ln, hits.get(cand[a + k], {}))
            redone += 1
    return redone


def decide_in_parallel(decider: LineDecider, lines: Sequence[Line], cand: list[int],
                       hits: dict[int, dict[int, int]], workers: int, chunk: int | None = None) -> dict[str, int] | None:
    """Decide ``cand`` (line positions in booking order) as the sequential pass
    (:func:`~matching.decisions.decide_in_order`) with ``decider`` would, on ``workers`` cores:
    this process decides every ``workers``-th chunk itself, against the true state, while
    ``workers - 1`` forked processes speculate the chunks in between; their chunks are committed
    here, in order. Returns the pass's statistics (workers, lines, chunks, lines decided again,
    lines decided here); None (nothing done) with fewer than two workers, no lines, or where
    ``fork`` is missing.

    This process works too instead of only committing: on two cores one speculating worker and
    this process share the lines, where two workers and a committing parent would compete for
    the cores (three processes on two cores). Each worker runs a bounded number of chunks ahead
    of the commits, so that what it reads is recent."""
    if workers < 2 or not cand or "fork" not in mp.get_all_start_methods():
        return None
    n = decider.ledger.n_items
    shared = mmap.mmap(-1, max(n, 1))
    shared.write(bytes(decider.used))
    decider.used = shared  # type: ignore[assignment]
    decider.consumed = used_np = np.frombuffer(shared, dtype=np.bool_, count=n)
    _STATE.update(decider=decider, shared=shared)
    chunk = chunk or CHUNK
    segs = _segments(len(cand), workers, chunk)
    stats = {"workers": workers, "lines": len(cand), "chunks": len(segs), "redecided": 0, "here": 0}
    clock = {"deciding": 0.0, "waiting": 0.0, "committing": 0.0}
    # the workers only read the parent's objects: keep the collector from writing to their pages
    gc.freeze()
    pool = mp.get_context("fork").Pool(workers - 1)
    pending: deque[tuple[int, Any]] = deque()
    submitted = 0
    ahead = LOOKAHEAD * workers
    try:
        for c, (a, b, here) in enumerate(segs):
            # keep the workers fed, at most ``ahead`` chunks beyond the one decided or committed now
            while submitted < len(segs) and submitted <= c + ahead:
                sa, sb, sh = segs[submitted]
                if not sh:
                    pending.append((submitted, pool.apply_async(_decide_chunk, (_task(lines, cand, hits, sa, sb),))))
                submitted += 1
            t0 = time.perf_counter()
            if here:
                for i in cand[a:b]:
                    decider.decide(lines[i], hits.get(i, {}))
                stats["here"] += b - a
                clock["deciding"] += time.perf_counter() - t0
            else:
                got, res = pending.popleft()
                assert got == c
                part = res.get()
                t1 = time.perf_counter()
                clock["waiting"] += t1 - t0
                stats["redecided"] += _commit(decider, part, lines, cand, hits, used_np)
                clock["committing"] += time.perf_counter() - t1
        pool.close()
    finally:
        pool.terminate()
        pool.join()
        gc.unfreeze()
        _STATE.clear()
    decider.used = bytearray(shared[:n])
    decider.consumed = np.frombuffer(decider.used, dtype=np.bool_)
    log.info("parallel pass: %s; seconds here: %s", stats, {k: round(v, 1) for k, v in clock.items()})
    return stats


class ParallelPass:
    """The line-by-line pass on ``workers`` cores (:func:`decide_in_parallel`), for
    :class:`matching.engine.Engine`'s ``line_pass``; the lines are decided one by one here
    instead when fewer than :data:`PARALLEL_MIN_LINES` are left, with fewer than two workers, or
    without ``fork``. Same outputs either way. ``chunk``: lines per chunk (default :data:`CHUNK`)."""

    def __init__(self, workers: int, chunk: int | None = None) -> None:
        self.workers = workers
        self.chunk = chunk

    def __call__(self, decider: LineDecider, lines: Sequence[Line], order: list[int],
                 hits: dict[int, dict[int, int]]) -> dict[str, int] | None:
        if len(order) >= PARALLEL_MIN_LINES:
            stats = decide_in_parallel(decider, lines, order, hits, self.workers, self.chunk)
            if stats is not None:
                return stats
        decide_in_order(decider, lines, order, hits)
        return None
