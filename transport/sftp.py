"""SFTP pick-up of partner files (bank statements), with paramiko and without Airflow.

Safety rules, each enforced here rather than left to configuration:

- **Pinned host key.** The server must present exactly the key given in the connection's
  ``host_key`` extra (``"ssh-ed25519 AAAA..."``, as in ``known_hosts``, or the bare base64
  blob: the same extra the Airflow SFTP provider reads). Unknown hosts are refused (paramiko's
  ``RejectPolicy``, system ``known_hosts`` not loaded), a different key raises
  :class:`~schemas.errors.FatalError`. There is no "accept any key" switch.
- **Key authentication only** (``private_key`` extra holding the PEM text, or ``key_file``;
  optional ``private_key_passphrase``); no agent, no key search in ``~/.ssh``.
- **Settled files only.** A file whose size or modification time changes between two looks
  ``settle_seconds`` apart is still being written: it is left for a later run.
- **Verified, atomic downloads.** A file is read into a hidden temporary name, hashed (sha256)
  while it streams, its size checked against the listing, then renamed into the staging folder;
  a file that changed during the download is discarded and left for later.
- **Names are outside data.** The server's listing decides the local file name, so a name that
  is not a plain file name (a ``/`` or ``\\``, ``..``, a NUL or other control character, empty,
  hidden, too long) is refused (:class:`UnsafeName`), and the local path, resolved, must sit
  directly in the staging folder (a link already there that points elsewhere is refused too).
  Otherwise a hostile or compromised server listing ``/../../dags/x.py`` would write anywhere.
- **Bounded downloads.** A file over ``max_bytes`` (default :func:`edi.limits.max_bytes`
  ``("bank_file")``, a bank's ``max_file_bytes``) is a :class:`~schemas.errors.TooLarge`
  rejection: refused on its listed size before anything is read, and the transfer is stopped
  (partial file removed) as soon as more than the limit arrives, since the listed size may lie.
  Refused files stay on the server and are recorded in :attr:`SftpClient.refused` for the run's
  summary; the other files are taken.

Errors: network drops, refused connections and timeouts raise
:class:`~schemas.errors.RetriableError`; refused credentials
(:class:`~schemas.errors.AuthError`) and a missing or mismatching host key
(:class:`~schemas.errors.FatalError`) are fatal, with a message naming what to fix.

>>> parse_host_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZ8ak3J0o0r8oQ5m5gqZ7D9T5jHZl+3Xqk5C9pQm1nE").get_name()
'ssh-ed25519'
>>> SftpSettings.from_connection(host="h", port=None, login="u", password=None, extra={}).host_key
Traceback (most recent call last):
...
schemas.errors.FatalError: SFTP connection to h: no host_key in the connection extras; pin the server's key (ssh-keyscan -p 22 h, then set extra host_key to 'ssh-ed25519 AAAA...')
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fnmatch
import hashlib
import io
import logging
import os
import socket
import stat
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import paramiko

from edi import limits
from schemas.errors import AuthError, FatalError, HubError, RejectedDocument, RetriableError, TooLarge
from transport.redact import redact

log = logging.getLogger(__name__)

CHUNK = 32768
PREFETCH_REQUESTS = 16  # outstanding 32 KB reads: fast on a WAN, bounded memory
MAX_NAME_BYTES = 240  # the temporary name adds 15 characters; file systems stop at 255 bytes
SHOWN_NAME_CHARS = 120  # a refused name is shown escaped and cut to this length


class FileChanged(HubError):
    """A remote file changed (or vanished) while it was read: leave it for a later run."""


class UnsafeName(RejectedDocument):
    """A name the server listed cannot be a file of the staging folder: refused, never downloaded."""


def name_problem(name: str) -> str | None:
    r"""Why ``name`` (as a server listed it) cannot be a file name in the staging folder, or ``None``.

    >>> name_problem("releve_20260105.xml") is None
    True
    >>> for n in ("/../../x", "..", "a\\..\\x", "a\x00b", "a\nb", "", ".x.part", "stmt..xml", "é" * 121):
    ...     print(name_problem(n))
    holds a path separator (/ or \)
    holds '..'
    holds a path separator (/ or \)
    holds a NUL character
    holds a control character
    empty name
    hidden name (starts with '.')
    holds '..'
    longer than 240 bytes
    """
    if not name:
        return "empty name"
    if "/" in name or "\\" in name:
        return "holds a path separator (/ or \\)"
    if "\x00" in name:
        return "holds a NUL character"
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):  # control characters, lone surrogates
        return "holds a control character"
    if ".." in name:
        return "holds '..'"
    if name.startswith("."):
        return "hidden name (starts with '.')"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"longer than {MAX_NAME_BYTES} bytes"
    return None


def shown_name(name: str) -> str:
    r"""``name`` as it may be logged or printed: non-printable characters escaped, cut short, accounts masked.

    >>> print(shown_name("evil\x00\x1b[2J.xml"))
    evil\x00\x1b[2J.xml
    """
    text = "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in name)
    if len(text) > SHOWN_NAME_CHARS:
        text = text[:SHOWN_NAME_CHARS] + f"…({len(name)} characters)"
    return redact(text)


@dataclass(frozen=True)
class SftpSettings:
    """Where and how to reach one SFTP server. Built from a connection, never from a config file."""

    host: str
    username: str
    host_key: str = field(repr=False)
    port: int = 22
    private_key: str | None = field(default=None, repr=False)
    key_file: str | None = None
    passphrase: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    @classmethod
    def from_connection(cls, *, host: str, port: int | None, login: str | None, password: str | None,
                        extra: Mapping[str, Any]) -> SftpSettings:
        """Read an Airflow-style SSH/SFTP connection: extras ``host_key``, ``private_key`` or
        ``key_file``, ``private_key_passphrase``, ``conn_timeout``; ``password`` is used as the
        key's passphrase when no ``private_key_passphrase`` is given (never to log in)."""
        port = int(port or 22)
        where = f"SFTP connection to {host}"
        if not host:
            raise FatalError("SFTP connection has no host")
        if not login:
            raise FatalError(f"{where}: no login (user name) in the connection")
        if str(extra.get("no_host_key_check", "false")).lower() == "true":
            raise FatalError(f"{where}: no_host_key_check is not allowed; pin the server's key in extra host_key")
        host_key = extra.get("host_key")
        if not host_key:
            raise FatalError(f"{where}: no host_key in the connection extras; pin the server's key "
                             f"(ssh-keyscan -p {port} {host}, then set extra host_key to 'ssh-ed25519 AAAA...')")
        private_key = extra.get("private_key")
        key_file = extra.get("key_file")
        if not private_key and not key_file:
            raise FatalError(f"{where}: key authentication needs extra private_key (PEM text) or key_file")
        return cls(host=host, port=port, username=login, host_key=str(host_key), private_key=private_key,
                   key_file=key_file, passphrase=extra.get("private_key_passphrase") or password,
                   timeout=float(extra.get("conn_timeout") or extra.get("timeout") or 30))

    def with_address(self, host: str | None, port: int | None) -> SftpSettings:
        """The same credentials for another address (a bank's ``host``/``port`` in the config)."""
        from dataclasses import replace

        return replace(self, host=host or self.host, port=int(port or self.port))


@dataclass(frozen=True)
class RemoteFile:
    path: str
    name: str
    size: int
    mtime: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StagedFile:
    """A downloaded file in the local staging folder, with what the server said about it."""

    local_path: str
    remote_path: str
    name: str
    size: int
    mtime: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RefusedFile:
    """A listed file the client would not take (:class:`UnsafeName`, :class:`~schemas.errors.TooLarge`),
    left on the server: its name as it may be shown, its listed size, the error and why."""

    name: str
    size: int
    error: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_host_key(value: str) -> paramiko.PKey:
    """A pinned host key from ``"<type> <base64>"`` (a ``known_hosts`` line without the host) or bare base64."""
    parts = value.split()
    if parts and not parts[0].startswith(("ssh-", "ecdsa-", "sk-")) and len(parts) >= 3:
        parts = parts[1:]  # a whole known_hosts line: drop the host name
    try:
        blob = base64.b64decode(parts[-1], validate=True)
        key_type = parts[0] if len(parts) >= 2 else paramiko.Message(blob).get_text()
        return paramiko.PKey.from_type_string(key_type, blob)
    except (IndexError, binascii.Error, paramiko.SSHException, ValueError, UnicodeDecodeError) as exc:
        raise FatalError(f"host_key is not a public key ('ssh-ed25519 AAAA...'): {exc.__class__.__name__}") from None


def _load_private_key(settings: SftpSettings) -> paramiko.PKey:
    where = f"SFTP connection to {settings.host}"
    classes = [c for c in (getattr(paramiko, n, None) for n in ("Ed25519Key", "ECDSAKey", "RSAKey")) if c]
    text = settings.private_key
    if text is None:
        try:
            text = Path(settings.key_file or "").read_text()
        except OSError as exc:
            raise FatalError(f"{where}: cannot read key_file {settings.key_file}: {exc.strerror}") from None
    text = text.replace("\\n", "\n").strip() + "\n"
    last: Exception | None = None
    for cls in classes:
        try:
            return cls.from_private_key(io.StringIO(text), password=settings.passphrase)
        except paramiko.PasswordRequiredException:
            raise FatalError(f"{where}: the private key needs a passphrase (extra private_key_passphrase)") from None
        except (paramiko.SSHException, ValueError, TypeError) as exc:
            last = exc
    raise FatalError(f"{where}: the private key cannot be read ({last.__class__.__name__}); "
                     "expected an OpenSSH or PEM Ed25519, ECDSA or RSA key")


@contextlib.contextmanager
def _translate(settings: SftpSettings, what: str) -> Iterator[None]:
    where = f"SFTP {settings.username}@{settings.host}:{settings.port}"
    try:
        yield
    except HubError:
        raise
    except paramiko.BadHostKeyException as exc:
        raise FatalError(
            f"{where}: host key mismatch: the server presented {exc.key.get_name()} "
            f"{exc.key.fingerprint}, the connection pins {exc.expected_key.fingerprint}. "
            "Refusing to connect (possible interception); if the bank changed its key, confirm the new "
            "fingerprint with the bank and update extra host_key") from None
    except paramiko.AuthenticationException as exc:
        raise AuthError(f"{where}: authentication refused ({exc.__class__.__name__}); check the login and the "
                        "private key the bank has on file") from None
    except paramiko.SSHException as exc:
        msg = str(exc)
        if "not found in known_hosts" in msg:
            raise FatalError(f"{where}: the server's host key is not the pinned one; refusing to connect") from None
        raise RetriableError(f"{where}: {what}: SSH error: {redact(msg)}") from None
    except TimeoutError as exc:
        raise RetriableError(f"{where}: {what}: timed out ({exc.__class__.__name__})") from None
    except (ConnectionError, EOFError, socket.gaierror) as exc:  # refused, reset, dropped, DNS
        raise RetriableError(f"{where}: {what}: connection failed: {exc.__class__.__name__}: {redact(str(exc))}") from None
    except OSError as exc:
        if exc.errno is None:  # paramiko's "Socket is closed", NoValidConnectionsError...
            raise RetriableError(f"{where}: {what}: connection lost: {redact(str(exc))}") from None
        raise  # an SFTP status (no such file, permission denied) or a local disk error: the caller decides


class SftpClient:
    """One SSH connection and its SFTP session; use as a context manager.

    >>> SftpClient  # doctest: +ELLIPSIS
    <class 'transport.sftp.SftpClient'>
    """

    def __init__(self, settings: SftpSettings) -> None:
        self.settings = settings
        self._ssh: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._refused: dict[str, RefusedFile] = {}  # by remote path: two looks at a folder refuse a name once

    # -- connection -------------------------------------------------------------------------
    def connect(self) -> SftpClient:
        s = self.settings
        pinned = parse_host_key(s.host_key)
        pkey = _load_private_key(s)
        ssh = paramiko.SSHClient()
        name = s.host if s.port == 22 else f"[{s.host}]:{s.port}"
        ssh.get_host_keys().add(name, pinned.get_name(), pinned)  # the only key trusted
        ssh.set_missing_host_key_policy(paramiko.RejectPolicy())
        with _translate(s, "connect"):
            try:
                ssh.connect(s.host, port=s.port, username=s.username, pkey=pkey, timeout=s.timeout,
                            banner_timeout=s.timeout, auth_timeout=s.timeout, channel_timeout=s.timeout,
                            look_for_keys=False, allow_agent=False)
                sftp = ssh.open_sftp()
            except BaseException:
                ssh.close()
                raise
        sftp.get_channel().settimeout(s.timeout)
        self._ssh, self._sftp = ssh, sftp
        return self

    def close(self) -> None:
        for thing in (self._sftp, self._ssh):
            if thing is not None:
                with contextlib.suppress(Exception):
                    thing.close()
        self._sftp = self._ssh = None

    def __enter__(self) -> SftpClient:
        return self.connect() if self._sftp is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            raise RuntimeError("SftpClient is not connected (use it as a context manager)")
        return self._sftp

    @property
    def refused(self) -> list[RefusedFile]:
        """Every file this client refused so far (unsafe name at listing or download, over the size
        limit), each once: they stay on the server, and the run's summary reports them."""
        return list(self._refused.values())

    def _refuse(self, remote: RemoteFile, exc: RejectedDocument) -> None:
        shown = RefusedFile(name=shown_name(remote.name), size=remote.size, error=exc.__class__.__name__,
                            reason=redact(exc.reason))
        self._refused[remote.path] = shown
        log.warning("SFTP %s: refused %s (%d bytes listed), left on the server: %s: %s", self.settings.host,
                    shown.name, shown.size, shown.error, shown.reason)

    # -- listing ----------------------------------------------------------------------------
    def list_files(self, folder: str, patterns: Sequence[str]) -> list[RemoteFile]:
        """Regular files of ``folder`` whose name matches one of ``patterns`` (fnmatch), by name."""
        with _translate(self.settings, f"list {folder}"):
            try:
                entries = self.sftp.listdir_attr(folder)
            except FileNotFoundError:
                raise FatalError(f"SFTP {self.settings.host}: folder {folder!r} does not exist") from None
            except PermissionError:
                raise FatalError(f"SFTP {self.settings.host}: folder {folder!r} cannot be read (permission denied)") from None
            except UnicodeDecodeError:  # paramiko decodes every name of the listing as UTF-8, strictly
                raise FatalError(f"SFTP {self.settings.host}: folder {folder!r} lists a file name that is not UTF-8 "
                                 "text; refusing the listing (ask the bank to rename or remove that file)") from None
        out = []
        for e in entries:
            if e.st_mode is None or not stat.S_ISREG(e.st_mode) or e.filename.startswith("."):
                continue
            if any(fnmatch.fnmatchcase(e.filename, p) for p in patterns):
                f = RemoteFile(path=_join(folder, e.filename), name=e.filename, size=int(e.st_size or 0),
                               mtime=int(e.st_mtime or 0))
                problem = name_problem(f.name)
                if problem is not None:  # never handed on: not to the ledger, not to the disk
                    self._refuse(f, UnsafeName(f"file name refused: {problem}", document_id=shown_name(f.name)))
                    continue
                out.append(f)
        return sorted(out, key=lambda f: f.name)

    def settled_files(self, folder: str, patterns: Sequence[str], settle_seconds: float, *,
                      sleep: Callable[[float], None] = time.sleep) -> tuple[list[RemoteFile], list[RemoteFile]]:
        """``(ready, growing)``: files unchanged over ``settle_seconds``, and those still being written."""
        first = {f.path: f for f in self.list_files(folder, patterns)}
        if settle_seconds <= 0 or not first:
            return list(first.values()), []
        sleep(settle_seconds)
        second = self.list_files(folder, patterns)
        ready = [f for f in second if first.get(f.path) == f]
        growing = [f for f in second if first.get(f.path) != f]
        return ready, growing

    def stat(self, path: str) -> RemoteFile | None:
        with _translate(self.settings, f"stat {path}"):
            try:
                a = self.sftp.stat(path)
            except FileNotFoundError:
                return None
        return RemoteFile(path=path, name=path.rsplit("/", 1)[-1], size=int(a.st_size or 0), mtime=int(a.st_mtime or 0))

    # -- download ---------------------------------------------------------------------------
    def download(self, remote: RemoteFile, staging_dir: str | os.PathLike[str], *,
                 progress: Callable[[int], None] | None = None, max_bytes: int | None = None,
                 kind: str = "bank_file") -> StagedFile:
        """Copy ``remote`` into ``staging_dir``: temporary name, sha256 while reading, size check, rename.

        Raises :class:`FileChanged` when the file's size or time differs from ``remote`` (it is
        being rewritten or was removed): leave it for a later run. Raises :class:`UnsafeName` when
        ``remote.name`` cannot be a file of ``staging_dir`` (:func:`name_problem`, or the resolved
        path is not directly in it), and :class:`~schemas.errors.TooLarge` when the file is over
        ``max_bytes`` (default: ``edi.limits.max_bytes(kind)``, ``kind`` being ``bank_file`` or
        ``filedrop``), by its listed size or by
        the bytes actually read; nothing of it stays in ``staging_dir``, and it is recorded in
        :attr:`refused`.
        """
        try:
            return self._download(remote, Path(staging_dir), progress, max_bytes, kind)
        except RejectedDocument as exc:
            self._refuse(remote, exc)
            raise

    def _download(self, remote: RemoteFile, folder: Path, progress: Callable[[int], None] | None,
                  max_bytes: int | None, kind: str = "bank_file") -> StagedFile:
        limit = limits.max_bytes(kind) if max_bytes is None else max_bytes
        shown = shown_name(remote.name)
        where = "the bank's max_file_bytes" if max_bytes is not None else limits.env_name(kind)
        label = "bank" if kind == "bank_file" else kind
        folder.mkdir(parents=True, exist_ok=True)
        final = _staging_path(folder, remote.name)
        if remote.size > limit:  # refused on the listing: nothing is read
            raise TooLarge(f"{remote.size} bytes (listed) is over the {limit}-byte limit for {label} files ({where}); "
                           "not downloaded", document_id=shown)
        tmp = final.parent / f".{remote.name}.{uuid.uuid4().hex[:8]}.part"
        digest = hashlib.sha256()
        total = 0
        try:
            with _translate(self.settings, f"download {redact(remote.path)}"):
                try:
                    fh = self.sftp.open(remote.path, "rb")
                except FileNotFoundError:
                    raise FileChanged(f"{redact(remote.path)} vanished before it was read") from None
                with fh, _create_new(tmp) as out:
                    for chunk in _pipelined_reads(fh, remote.size):
                        total += len(chunk)
                        if total > limit:  # the listed size was wrong, or the file grows: stop now
                            raise TooLarge(f"more than {limit} bytes read (listed {remote.size}): over the "
                                           f"{limit}-byte limit for {label} files ({where}); transfer stopped, "
                                           "partial copy removed", document_id=shown)
                        digest.update(chunk)
                        out.write(chunk)
                        if progress is not None:
                            progress(total)
                    out.flush()
                    os.fsync(out.fileno())
                after = self.stat(remote.path)
            if total != remote.size or after is None or (after.size, after.mtime) != (remote.size, remote.mtime):
                raise FileChanged(f"{redact(remote.path)} changed while it was read "
                                  f"(listed {remote.size} bytes, read {total}): left for a later run")
            os.replace(tmp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return StagedFile(local_path=str(final), remote_path=remote.path, name=remote.name, size=total,
                          mtime=remote.mtime, sha256=digest.hexdigest())

    # -- after ingestion --------------------------------------------------------------------
    def archive(self, remote_path: str, archive_folder: str) -> str:
        """Move a processed file into ``archive_folder`` on the server (created if missing);
        an existing file of the same name is kept and the new one gets a suffix."""
        name = remote_path.rsplit("/", 1)[-1]
        with _translate(self.settings, f"archive {redact(remote_path)}"):
            try:
                self.sftp.stat(archive_folder)
            except FileNotFoundError:
                self.sftp.mkdir(archive_folder)
            target = _join(archive_folder, name)
            try:
                self.sftp.stat(target)
                target = _join(archive_folder, f"{name}.{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}")
            except FileNotFoundError:
                pass
            self.sftp.rename(remote_path, target)
        return target

    def upload(self, content: bytes, folder: str, name: str) -> str:
        """Put ``content`` as ``folder/name`` the way the receiver must see it: written under a
        temporary name, size checked, then renamed, so a half-written file is never picked up."""
        target = _join(folder, name)
        partial = _join(folder, f".{name}.{uuid.uuid4().hex[:8]}.part")
        with _translate(self.settings, f"upload {redact(target)}"):
            with self.sftp.open(partial, "wb") as fh:
                fh.write(content)
            if self.sftp.stat(partial).st_size != len(content):
                self.sftp.remove(partial)
                raise RetriableError(f"upload of {redact(target)}: size mismatch after writing")
            try:
                self.sftp.posix_rename(partial, target)
            except OSError:
                self.sftp.rename(partial, target)
        return target

    def delete(self, remote_path: str) -> None:
        with _translate(self.settings, f"delete {redact(remote_path)}"):
            try:
                self.sftp.remove(remote_path)
            except FileNotFoundError:
                pass


def _staging_path(folder: Path, name: str) -> Path:
    """``folder/name``, once it is sure to resolve to a file directly in ``folder``.

    :func:`name_problem` refuses separators and ``..``; the resolved check also refuses a link
    already in the staging folder under that name that points outside it.
    """
    problem = name_problem(name)
    if problem is not None:
        raise UnsafeName(f"file name refused: {problem}", document_id=shown_name(name))
    final = folder / name
    try:
        inside = final.resolve().parent == folder.resolve()
    except (OSError, RuntimeError):  # a link loop
        inside = False
    if not inside:
        raise UnsafeName("file name refused: the staging folder already holds a link of that name that points "
                         "outside it", document_id=shown_name(name))
    return final


def _create_new(path: Path) -> io.BufferedWriter:
    """Open ``path`` for writing only if nothing (not even a link) is there yet."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    return os.fdopen(fd, "wb")


def _pipelined_reads(fh: paramiko.SFTPFile, size: int) -> Iterator[bytes]:
    """The file's bytes in ``CHUNK`` pieces, ``PREFETCH_REQUESTS`` reads out at a time up to the
    listed ``size``, then plain reads to its end (bytes written after the listing are counted, so
    the size check sees them).

    Not ``fh.prefetch(size, max_concurrent_requests=...)``: paramiko sends those reads from a
    thread that, with its requests all out, waits for their answers in a ``time.sleep(0.01)``
    loop; when the download is abandoned (the line drops, the caller raises) no answer is read
    any more and the thread loops for the life of the process. ``readv`` of one window sends its
    reads from a thread that never waits: it ends once they are sent, or the line is gone.
    """
    offset = 0
    while offset < size:
        end = min(size, offset + CHUNK * PREFETCH_REQUESTS)
        yield from fh.readv([(o, min(CHUNK, end - o)) for o in range(offset, end, CHUNK)])
        offset = end
    while chunk := fh.read(CHUNK):
        yield chunk


def _join(folder: str, name: str) -> str:
    if folder in ("", "."):
        return name
    return folder.rstrip("/") + "/" + name
