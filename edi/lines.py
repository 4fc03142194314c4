"""Line-based bank files (MT940, CFONB 120, BAI2) read a block at a time: memory stays flat.

The parsers of these formats once decoded the whole file into one string and kept every entry
until the end: a 200 MB MT940 file of one statement took gigabytes. They now read the file
through :func:`text_chunks` (decoded text, :data:`CHUNK` bytes at a time, newlines made
``\\n``) and :func:`blocks` (that text cut into blocks of whole *units*: what a format cannot
cut, such as an MT940 field with its continuation lines or a BAI2 record with its ``88``
continuations). Each block is parsed with the same regular expressions as the whole text was,
so the speed is that of the whole-text parser.

The file is outside data, so two bounds hold before anything is kept in memory:

- a line of more than ``max_line`` characters raises :class:`TooLong` (SWIFT lines are at most
  a few hundred characters, CFONB records 120, BAI2 records as long as a bank makes them, in
  practice below 100); a file of one 200 MB "line" is refused after ``max_line`` characters;
- a unit of more than ``max_unit`` characters (its lines, from its first one to the first line
  of the next unit) raises :class:`TooLong` too: a field with a million continuation lines
  would otherwise be held whole.

Both are raised when the reader reaches that place: the units before it have been given out,
so a parser reports the errors of a file in the order of its lines, as it did on the whole text.

>>> import io, re
>>> unit = re.compile(r"\\n(?=[A-Z])")  # a unit starts with a capital letter
>>> list(blocks(text_chunks(io.BytesIO(b"A1\\r\\n a2\\r\\nB1\\nC1\\n c2\\n"), "latin-1"), max_line=10,
...      max_unit=100, unit=unit))
['A1\\n a2\\nB1\\n', 'C1\\n c2\\n']
>>> list(blocks(["A1\\n a2\\n", "B1\\n b", "2\\nC1\\n"], max_line=10, max_unit=100, unit=unit))
['A1\\n a2\\n', 'B1\\n b2\\n', 'C1\\n']
>>> list(blocks(["A1\\n a2\\n", "B1 is a long line\\nC1\\n"], max_line=10, max_unit=100, unit=unit))
Traceback (most recent call last):
...
edi.lines.TooLong: line 3 has more than 10 characters
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterable, Iterator
from typing import IO

__all__ = ["CHUNK", "Source", "TooLong", "text_chunks", "blocks", "utf8_or_latin1"]

#: Bytes read (and characters handed to the parser) at a time. A block is at most this plus the
#: unit carried over from the previous one. Tests set it small to put block edges everywhere.
CHUNK = 1 << 19

Source = bytes | bytearray | memoryview | str | IO[bytes]
"""What the line-based parsers read: the file's bytes, its text, or a binary file object."""


class TooLong(Exception):
    """A line or a unit over its bound; ``line`` is the number of its first line (from 1)."""

    def __init__(self, line: int, what: str, bound: int) -> None:
        super().__init__(f"{'line' if what == 'line' else 'unit starting on line'} {line} has more than "
                         f"{bound} characters")
        self.line, self.what, self.bound = line, what, bound


def _binary(source: Source, *, seek: bool) -> IO[bytes]:
    """``source`` as a binary file; with ``seek`` one that can be read twice."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(source)
    if seek and not source.seekable():  # type: ignore[union-attr]
        return io.BytesIO(source.read())  # type: ignore[union-attr]  # a pipe, read whole to decide its encoding
    return source  # type: ignore[return-value]


def utf8_or_latin1(fh: IO[bytes]) -> str:
    """``"utf-8"`` when the rest of ``fh`` is valid UTF-8, else ``"latin-1"``; ``fh`` is put back."""
    start = fh.tell()
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while True:
            data = fh.read(CHUNK)
            if not data:
                decoder.decode(b"", final=True)
                return "utf-8"
            decoder.decode(data)
    except UnicodeDecodeError:
        return "latin-1"
    finally:
        fh.seek(start)


def text_chunks(source: Source, encoding: str, *, clean: bool = True) -> Iterator[str]:
    """The text of ``source`` a chunk at a time, decoded with ``encoding`` (``"utf-8|latin-1"``:
    :func:`utf8_or_latin1` decides).

    With ``clean`` (what the parsers always did to the whole text) leading byte-order marks are
    dropped and ``\\r\\n`` and lone ``\\r`` become ``\\n``; a ``\\r`` at the end of a chunk waits
    for the next one, so a ``\\r\\n`` cut in two is still one newline.
    """
    raw: Iterable[str]
    if isinstance(source, str):
        raw = (source[i: i + CHUNK] for i in range(0, len(source), CHUNK))
    elif encoding == "utf-8|latin-1":
        raw = _utf8_or_latin1_decoded(_binary(source, seek=True))
    else:
        raw = _decoded(_binary(source, seek=False), codecs.getincrementaldecoder(encoding)())
    if not clean:
        yield from raw
        return
    start = True
    carry = ""
    for text in raw:
        if carry:
            text, carry = carry + text, ""
        if start:
            text = text.lstrip("\ufeff")
            if not text:
                continue
            start = False
        if text.endswith("\r"):
            text, carry = text[:-1], "\r"
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if text:
            yield text
    if carry:
        yield "\n"


def _utf8_or_latin1_decoded(fh: IO[bytes]) -> Iterator[str]:
    """The text of a file in UTF-8 or ISO 8859-1, which says nothing of which.

    The whole file decides, as when it was decoded in one go: a file with one byte sequence that
    is not UTF-8 is read as ISO 8859-1 throughout (MT940 files from German and Dutch banks come in
    either). Both read ASCII alike: the rest of the file is checked from its first chunk that is
    not ASCII on, and a file in ASCII is read once.
    """
    while True:
        pos = fh.tell()
        data = fh.read(CHUNK)
        if not data:
            return
        if data.isascii():
            yield data.decode("ascii")
            continue
        fh.seek(pos)
        yield from _decoded(fh, codecs.getincrementaldecoder(utf8_or_latin1(fh))())
        return


def _decoded(fh: IO[bytes], decoder: codecs.IncrementalDecoder) -> Iterator[str]:
    while True:
        data = fh.read(CHUNK)
        if not data:
            rest = decoder.decode(b"", final=True)
            if rest:
                yield rest
            return
        text = decoder.decode(data)
        if text:
            yield text


def blocks(chunks: Iterable[str], *, max_line: int, max_unit: int, unit: re.Pattern[str] | None) -> Iterator[str]:
    """The text of ``chunks`` in blocks of whole units, each block but the last ending with ``\\n``.

    ``unit`` matches the newline before each line that starts a unit (``None``: every line is
    one). A block starts where a unit starts; the last unit of a read is carried over to the
    next block, since its continuation lines may follow. Raises :class:`TooLong` (after giving
    out the units before it) at the first line over ``max_line`` or unit over ``max_unit``.
    Every unit is checked, wherever the block edges fall: a chunk may not be longer than
    ``max_unit - max_line`` (:data:`CHUNK` is far below), so only the first unit of a block can
    be too long.
    """
    long_line = re.compile(rf"\n[^\n]{{{max_line + 1}}}")
    tail = ""
    line = 1  # number of the first line of ``tail``
    for chunk in chunks:
        if unit is not None and len(chunk) > max_unit - max_line:
            raise ValueError(f"a chunk of {len(chunk)} characters is over max_unit - max_line ({max_unit - max_line})")
        buf = tail + chunk if tail else chunk
        end = buf.rfind("\n") + 1  # buf[:end]: whole lines; buf[end:]: the start of one more
        first = buf.find("\n")
        if first > max_line or (first == -1 and len(buf) > max_line):
            too_long = 0
        elif _short_lines(buf, max_line):
            too_long = -1
        else:
            m = long_line.search(buf, first)
            too_long = m.start() + 1 if m else -1
        if too_long >= 0:
            cut = _unit_start(buf, too_long, unit)
            if cut:
                yield buf[:cut]
            raise TooLong(line + buf.count("\n", 0, too_long), "line", max_line)
        if unit is None:
            cut = end
        elif end:
            _check_first_unit(buf, end, unit, max_unit, line)
            # the last unit of the whole lines is carried over: its continuation lines may follow
            cut = _unit_start(buf, buf.rfind("\n", 0, end - 1) + 1, unit)
        else:
            cut = 0
        if cut:
            yield buf[:cut]
            line += buf.count("\n", 0, cut)
            tail = buf[cut:]
        else:
            tail = buf
    if tail:
        if unit is not None:
            _check_first_unit(tail, len(tail), unit, max_unit, line)
        yield tail


def _short_lines(buf: str, max_line: int) -> bool:
    """True when no line of ``buf`` can be over ``max_line`` (False: look line by line).

    A line over ``max_line`` characters covers a whole stretch of ``max_line // 2`` aligned on a
    multiple of it; when every such stretch holds a newline, no line is that long. One ``find``
    per stretch is many times faster than matching every line.
    """
    step = max(1, max_line // 2)
    find = buf.find
    for start in range(0, len(buf), step):
        if find("\n", start, start + step) == -1 and start + step <= len(buf):
            return False
    return True


def _check_first_unit(buf: str, end: int, unit: re.Pattern[str], max_unit: int, line: int) -> None:
    """Raise when the unit at the start of ``buf`` (its whole lines end at ``end``) is over ``max_unit``."""
    if end <= max_unit:
        return
    m = unit.search(buf, 0, end)
    if (m.start() + 1 if m else end) > max_unit:
        raise TooLong(line, "unit", max_unit)


def _unit_start(buf: str, last: int, unit: re.Pattern[str] | None) -> int:
    """Where the last unit whose first line starts at or before ``last`` (a line start) starts.

    0 when none does after the start of ``buf`` (which is where a unit starts).
    """
    if unit is None:
        return last
    pos = last - 1
    while pos >= 0:
        if unit.match(buf, pos):
            return pos + 1
        pos = buf.rfind("\n", 0, pos)
    return 0
