"""File drops: CSV and Excel (xlsx) exports left in a watched folder by an ERP or a person.

Many ERPs (and most accountants) can only export a file. The hub reads the files of a folder
whose modification time falls in the window ``(since, until]``, oldest first; a file is read
whole and its rows are yielded as one batch whose watermark is the file's modification time
(files with the same modification time share a batch, so a resumed run cannot skip one of
them). The files are never moved or changed: re-reading a window changes nothing.

A file is the unit of idempotency: every record carries the file's SHA-256, and record ids
come from the data (the invoice number of grouped lines, or ``id_column``) or, failing that,
from the content hash and the row number, so re-dropping the same file (renamed or touched)
upserts nothing new; two identical files in one window are read once.

Connection: ``filedrop://local/srv/drops/erp_x`` (the path is the URI path, made absolute) or
``extra.path``; the source option ``folder`` overrides both. Any other host is an **SFTP**
server, reached through the bank transport :mod:`transport.sftp` (same connection extras:
pinned ``host_key``, ``private_key``/``key_file``; key authentication only): the files of the
remote folder that are settled (unchanged over ``settle_seconds``, default 2) and in the
window are downloaded (verified, atomically) into a staging folder (option ``staging``,
default a temporary folder removed on close) and read from there; the watermark is the
server's modification time. Remote files are never moved or deleted.

Source options:

- ``files``: per stream, a glob (``{invoices: "factures_*.csv", customers: "clients_*.xlsx"}``;
  default ``invoices*``, ``customers*`` and ``settlements*``). Hidden, ``~$`` (Excel lock), ``.part`` and
  ``.tmp`` files are ignored; ``.csv``, ``.txt`` and ``.xlsx`` are read.
- ``encoding``: ``auto`` (default: a UTF-8 BOM means UTF-8, else strict UTF-8, else
  Windows-1252) or a Python codec name (``utf-8``, ``cp1252``, ``latin-1``...).
- ``delimiter``: ``auto`` (default: sniffed among ``; , TAB |``) or the character.
- ``sheet``: the Excel sheet (default: the first); ``skip_rows``: lines above the header.
- ``headers``: a renaming of column headers to record keys (``{"N° facture": number}``);
  other headers are kept as they are (stripped).
- ``group_by``: a column (after renaming) whose equal values make one record: the first row's
  columns plus ``lines``, the list of all its rows (one invoice per row when absent).
- ``id_column``: the column holding the record id when not grouping.
- ``parser``: read ``.xml`` files with a format module of ``edi/`` instead of as tables:
  ``idoc_invoic02`` (SAP IDoc INVOIC02, :mod:`edi.idoc_invoic02`: one record per IDoc, id =
  the invoice number; use with ``mapping: sap_idoc``).

Settlements (optional: only for a source whose ``streams`` list ``settlements``): the ERP's open
amount per invoice, from an open-items export (``files: {settlements: "soldes_*.csv"}``: one
row per invoice, its id column, ``open_amount``, and optionally ``total_gross``, ``status``,
``currency``, ``settled_on``) or from the invoice export itself when it carries an open-amount
column (``files: {settlements: "factures_*.csv"}``: the same file read by both streams). The
records are made as for the invoices (same ``group_by`` / ``id_column``), so a settlement's id is
its invoice's; a file drop without one sends no state, and the hub's open amount for its
invoices is its own estimate.

Values are text as written (``1 234,56`` stays a string: the mapping's ``decimal`` converter
reads French and English number formats through :func:`schemas.money.to_decimal`); Excel
numbers become ``int`` or the ``Decimal`` of their shortest repr, Excel dates ``datetime``.
A file that cannot be read becomes one record with ``_error`` (the mappings declare
``reject_if: _error``), quarantined with the reason while the run goes on.
"""

from __future__ import annotations

import csv
import datetime as dt
import fnmatch
import hashlib
import io
import logging
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from connectors.base import BaseConnector, Batch, ConnectionInfo, StreamSpec
from edi.limits import check_size
from schemas.errors import ConfigError, RejectedDocument, TooLarge
from transport.http import Sleep

log = logging.getLogger(__name__)

READABLE = (".csv", ".txt", ".xlsx")
PARSERS = {"idoc_invoic02": "edi.idoc_invoic02"}
DEFAULT_FILES = {"invoices": "invoices*", "customers": "customers*", "settlements": "settlements*"}


def detect_encoding(data: bytes) -> str:
    """The encoding of an export: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252.

    >>> detect_encoding("é".encode("utf-8-sig")), detect_encoding("é".encode()), detect_encoding("é".encode("cp1252"))
    ('utf-8-sig', 'utf-8', 'cp1252')
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def sniff_delimiter(text: str) -> str:
    """The field separator of a CSV text (``;`` in French exports when in doubt).

    >>> sniff_delimiter("a;b;c\\n1,5;2;3\\n"), sniff_delimiter("a,b\\n1,2\\n"), sniff_delimiter("a\\tb\\n1\\t2\\n")
    (';', ',', '\\t')
    """
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,\t|").delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        counts = {d: header.count(d) for d in ";,\t|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ";"


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float):
        return int(value) if value.is_integer() else Decimal(repr(value))
    return value


class FileDropConnector(BaseConnector):
    """CSV / xlsx exports in a local folder (see the module docstring)."""

    kind: ClassVar[str] = "filedrop"
    # ``id`` is set on every record (from the data, else the content hash); ``updated_at`` is the file's time
    stream_specs: ClassVar[tuple[StreamSpec, ...]] = (
        StreamSpec("invoices", ("id",), "updated_at", changed_on="the file's modification time"),
        StreamSpec("customers", ("id",), "updated_at", changed_on="the file's modification time"),
        StreamSpec("settlements", ("id",), "updated_at", changed_on="the file's modification time"),
    )

    def __init__(self, conn: ConnectionInfo, *, folder: str | None = None, files: dict[str, str] | None = None,
                 encoding: str = "auto", delimiter: str = "auto", sheet: str | None = None, skip_rows: int = 0,
                 headers: dict[str, str] | None = None, group_by: str | None = None, id_column: str | None = None,
                 parser: str | None = None, staging: str | None = None, settle_seconds: float = 2.0,
                 sleep: Sleep = time.sleep, **unknown: Any) -> None:
        if unknown:
            raise ConfigError(f"filedrop source: unknown option(s) {sorted(unknown)}")
        path = folder or conn.extra.get("path")
        self.sleep = sleep  # the settle delay's wait
        self.sftp: Any = None
        self._own_staging: str | None = None
        self._refused: dict[Path, tuple[str, str]] = {}  # SFTP files refused at download: name, reason
        if conn.host not in ("local", "localhost", ""):
            try:
                from transport.sftp import SftpSettings
            except ImportError as exc:  # pragma: no cover - the transport ships with the hub
                raise ConfigError(f"filedrop: SFTP pickup from {conn.host!r} needs transport.sftp ({exc})") from exc
            self.sftp = SftpSettings.from_connection(host=conn.host, port=conn.port, login=conn.login,
                                                     password=conn.password, extra=conn.extra)
            self.remote_folder = str(path or conn.schema or ".")
            self.settle_seconds = float(settle_seconds)
            if staging is None:
                import tempfile

                staging = self._own_staging = tempfile.mkdtemp(prefix="o2c-filedrop-")
            path = staging
            Path(path).mkdir(parents=True, exist_ok=True)
        elif not path:
            path = "/" + (conn.schema or "")
        self.folder = Path(path)
        if not self.folder.is_dir():
            raise ConfigError(f"filedrop: folder {self.folder} does not exist (connection path or option 'folder')")
        self.files = {**DEFAULT_FILES, **(files or {})}
        self.encoding = encoding
        self.delimiter = delimiter
        self.sheet = sheet
        self.skip_rows = int(skip_rows)
        self.headers = {str(k).strip(): v for k, v in (headers or {}).items()}
        self.group_by = group_by
        self.id_column = id_column
        self.parser: Any = None
        if parser is not None:
            if parser not in PARSERS:
                raise ConfigError(f"filedrop: unknown parser {parser!r} (known: {sorted(PARSERS)})")
            import importlib

            self.parser = importlib.import_module(PARSERS[parser]).parse

    def close(self) -> None:
        if self._own_staging:
            import shutil

            shutil.rmtree(self._own_staging, ignore_errors=True)

    # -- listing --------------------------------------------------------------------------
    def _wanted(self, name: str, pattern: str) -> bool:
        return not (name.startswith((".", "~$")) or name.endswith((".part", ".tmp"))
                    or not name.lower().endswith(READABLE + ((".xml",) if self.parser else ()))
                    or not fnmatch.fnmatch(name, pattern))

    def candidates(self, stream: str, since: dt.datetime | None, until: dt.datetime) -> list[tuple[dt.datetime, Path]]:
        """Files of ``stream`` modified in ``(since, until]``, oldest first (downloaded first over SFTP)."""
        pattern = self.files.get(stream)
        if not pattern:
            raise ConfigError(f"filedrop: no file pattern for stream {stream!r} (option 'files')")
        if self.sftp is not None:
            return self._sftp_candidates(pattern, since, until)
        out = []
        for path in self.folder.iterdir():
            if not path.is_file() or not self._wanted(path.name, pattern):
                continue
            mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
            if (since is None or mtime > since) and mtime <= until:
                out.append((mtime, path))
        return sorted(out)

    def _sftp_candidates(self, pattern: str, since: dt.datetime | None, until: dt.datetime) -> list[tuple[dt.datetime, Path]]:
        from transport.sftp import FileChanged, SftpClient

        out = []
        with SftpClient(self.sftp) as client:
            ready, growing = client.settled_files(self.remote_folder, [pattern], self.settle_seconds, sleep=self.sleep)
            for f in growing:
                log.info("filedrop: %s is still being written: left for a later run", f.name)
            for f in ready:
                mtime = dt.datetime.fromtimestamp(f.mtime, tz=dt.UTC)
                if not self._wanted(f.name, pattern) or (since is not None and mtime <= since) or mtime > until:
                    continue
                try:
                    staged = client.download(f, self.folder, kind="filedrop")
                except FileChanged as exc:
                    log.info("filedrop: %s", exc)
                    continue
                except RejectedDocument as exc:  # unsafe name or over the size limit: never staged
                    log.warning("filedrop: refused %s", exc)
                    placeholder = self.folder / f"refused-{len(self._refused)}"
                    self._refused[placeholder] = (f.name, str(exc))
                    out.append((mtime, placeholder))
                    continue
                local = Path(staged.local_path)
                os.utime(local, (f.mtime, f.mtime))  # the staged copy keeps the server's time
                out.append((mtime, local))
        return sorted(out)

    def _too_large(self, path: Path) -> tuple[str, str] | None:
        try:
            check_size("filedrop", path.stat().st_size, document_id=path.name)
        except TooLarge as exc:
            return path.name, str(exc)
        return None

    # -- reading --------------------------------------------------------------------------
    def read_rows(self, path: Path, data: bytes) -> list[dict[str, Any]]:
        """The rows of one file as dicts keyed by (renamed) header, with their 1-based line number."""
        if path.name.lower().endswith(".xlsx"):
            table = self._xlsx_rows(data)
        else:
            encoding = detect_encoding(data) if self.encoding == "auto" else self.encoding
            text = data.decode(encoding)
            text = text.removeprefix("\ufeff")
            delimiter = sniff_delimiter(text) if self.delimiter == "auto" else self.delimiter
            table = [[_cell(c) for c in row] for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
        table = table[self.skip_rows:]
        while table and not any(c not in (None, "") for c in table[0]):
            table.pop(0)
        if not table:
            return []
        header = [self.headers.get(str(h).strip(), str(h).strip()) if h is not None else f"column_{i + 1}"
                  for i, h in enumerate(table[0])]
        rows = []
        for n, cells in enumerate(table[1:], start=self.skip_rows + 2):
            if not any(c not in (None, "") for c in cells):
                continue
            row: dict[str, Any] = dict(zip(header, cells, strict=False))
            if len(cells) != len(header):
                row["_error"] = f"{path.name} line {n}: {len(cells)} cells for {len(header)} columns"
            row["_line"] = n
            rows.append(row)
        return rows

    def _xlsx_rows(self, data: bytes) -> list[list[Any]]:
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            ws = wb[self.sheet] if self.sheet else wb.worksheets[0]
            return [[_cell(c) for c in row] for row in ws.iter_rows(values_only=True)]
        finally:
            wb.close()

    def records(self, path: Path, mtime: dt.datetime, data: bytes) -> list[dict[str, Any]]:
        digest = hashlib.sha256(data).hexdigest()
        info = {"name": path.name, "sha256": digest, "modified": mtime}
        try:
            if self.parser is not None and path.name.lower().endswith(".xml"):
                docs = self.parser(data, path.name)
                for i, doc in enumerate(docs, 1):
                    rid = doc.get(self.id_column or "number")
                    doc.update({"id": str(rid) if rid else f"{digest[:16]}-{i}", "_file": info, "updated_at": mtime})
                return docs  # type: ignore[no-any-return]
            rows = self.read_rows(path, data)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is quarantined, never fatal
            log.warning("filedrop: cannot read %s: %s", path, exc)
            return [{"id": f"{path.name}@{digest[:16]}", "_file": info, "updated_at": mtime,
                     "_error": f"cannot read {path.name}: {exc.__class__.__name__}: {exc}"}]
        out: list[dict[str, Any]] = []
        if self.group_by:
            groups: dict[Any, dict[str, Any]] = {}
            for row in rows:
                key = row.get(self.group_by)
                if key in (None, ""):
                    out.append({**row, "id": f"{digest[:16]}-{row['_line']}", "lines": [row],
                                "_error": f"{path.name} line {row['_line']}: no {self.group_by!r}"})
                    continue
                rec = groups.get(key)
                if rec is None:
                    rec = groups[key] = {**row, "id": str(key), "lines": []}
                    out.append(rec)
                rec["lines"].append(row)
                if row.get("_error") and not rec.get("_error"):
                    rec["_error"] = row["_error"]
        else:
            for row in rows:
                rid = row.get(self.id_column) if self.id_column else None
                out.append({**row, "id": str(rid) if rid not in (None, "") else f"{digest[:16]}-{row['_line']}"})
        for rec in out:
            rec["_file"] = info
            rec["updated_at"] = mtime
        return out

    def pull(self, stream: str, since: dt.datetime | None, until: dt.datetime) -> Iterator[Batch]:
        if stream not in self.streams:
            yield from super().pull(stream, since, until)
            return
        seen: set[str] = set()
        files = self.candidates(stream, since, until)
        i = 0
        while i < len(files):
            mtime = files[i][0]
            records: list[dict[str, Any]] = []
            while i < len(files) and files[i][0] == mtime:  # one batch per modification time
                path = files[i][1]
                refused = self._refused.pop(path, None) or self._too_large(path)
                if refused is not None:  # quarantined with its reason, without reading it
                    name, reason = refused
                    records.append({"id": f"{name}@{mtime.isoformat()}", "updated_at": mtime,
                                    "_file": {"name": name, "modified": mtime}, "_error": reason})
                    i += 1
                    continue
                data = path.read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                if digest in seen:
                    log.info("filedrop: %s repeats a file already read in this window: skipped", path.name)
                else:
                    seen.add(digest)
                    records.extend(self.records(path, mtime, data))
                i += 1
            yield Batch(records, mtime, cursor=files[i - 1][1].name)
