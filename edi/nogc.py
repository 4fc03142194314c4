"""Pause Python's cyclic garbage collector while a parser builds many small objects.

A parser that builds tens of thousands of entries (each a slotted dataclass holding a few
lists, dates and Decimals) makes no reference cycles: everything it allocates and drops is
freed by reference counting. The cyclic collector nevertheless runs a young-generation pass
every 700 allocations and, as the survivors pile up, full passes over everything alive, so
on a large BAI2 file it takes about as much CPU as the parsing itself (measured in
``bench/RESULTS.md``). Mercurial pauses the collector the same way while it fills big
containers.

The cash-application engine (:meth:`matching.engine.Engine.run`) pauses it for the same reason:
its pass makes no cycles either, and the collector's full passes over a million lines and their
growing results cost about 7 % of the run.

The collector's previous state is restored on the way out, also when the parser raises.
Only functions that return a finished result use it: a generator would leave the collector
paused while its caller runs.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def paused_gc(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with the cyclic collector paused (when it was enabled), then restore it."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return wrapper
