"""Compact read-only columns for the ledger's per-item values.

A ledger of two million open items kept as Python lists holds two million ``int`` or ``str``
objects per column. Besides their size (about 60 bytes per string, 32 per integer, plus the
list's pointer), every read of such an object writes its reference count: a forked worker that
reads them (:mod:`matching.parallel`) copies, page by page, the parent's memory that holds them.
The columns here hold no per-item object: integers are a memoryview of a numpy array, strings
one UTF-8 buffer and an offsets array. A read builds a fresh object and writes nothing shared.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np


def int_column(values: np.ndarray) -> Sequence[int]:
    """Scalar reads of an integer array as Python ints, without per-item objects (``memoryview``:
    as fast as a list to index and to bisect)."""
    arr = np.ascontiguousarray(values, dtype=np.int64)
    return memoryview(arr)  # type: ignore[return-value]


class StrColumn(Sequence[str]):
    """Strings stored as one UTF-8 buffer and the offsets of each (``column[i]`` decodes one)."""

    __slots__ = ("_buf", "_off")

    def __init__(self, values: Iterable[str]) -> None:
        parts = [v.encode("utf-8") for v in values]
        off = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)), out=off[1:])
        self._off = memoryview(off)
        self._buf = b"".join(parts)

    def __len__(self) -> int:
        return len(self._off) - 1

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self._off) - 1
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("StrColumn index out of range")
        return self._buf[self._off[i] : self._off[i + 1]].decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        buf, off = self._buf, self._off
        for i in range(len(off) - 1):
            yield buf[off[i] : off[i + 1]].decode("utf-8")


_LIBC: Any = None


def trim_heap() -> bool:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim``); False elsewhere.

    Building the ledger frees a DataFrame and many large temporary arrays. glibc keeps that memory
    in its heap (after a large block is freed it raises its threshold for serving blocks by
    ``mmap``), so the process would carry hundreds of megabytes of free pages into the matching
    pass, and into the workers forked for it. Called after each phase that frees much."""
    global _LIBC
    if _LIBC is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC = lib if hasattr(lib, "malloc_trim") else False
        except OSError:
            _LIBC = False
    if not _LIBC:
        return False
    _LIBC.malloc_trim(0)
    return True
