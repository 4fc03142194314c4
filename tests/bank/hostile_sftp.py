"""A hostile SFTP server for the transport tests, written with asyncssh: it lists whatever names
and sizes a test gives it and serves whatever bytes, which a real OpenSSH server never would
(``/`` or NUL in a name, a listed size that lies about the content).

It runs its own event loop in one thread, binds 127.0.0.1 on a port the kernel picks (port 0),
presents an Ed25519 host key generated for the test (clients pin it, as in the sshd tests) and
accepts one client key, also generated here, and nothing else. :meth:`HostileSftp.stop` closes the
listener and every connection, ends the loop (``asyncio.run`` also shuts its executor down) and
joins the thread; it raises if the thread is still alive.

Every file is in the folder ``inbox``; a path the client asks for is looked up by what follows
``inbox/``, byte for byte (no normalisation: ``inbox//../../x`` is the entry named ``/../../x``).
"""

from __future__ import annotations

import asyncio
import stat
import threading
from dataclasses import dataclass
from typing import Any

import asyncssh

from transport.sftp import SftpSettings

FOLDER = "inbox"
MTIME = 1767225600  # 2026-01-01


@dataclass
class Entry:
    name: bytes
    data: bytes
    listed_size: int  # what the listing and stat say; may differ from len(data)


def _attrs(size: int) -> asyncssh.SFTPAttrs:
    return asyncssh.SFTPAttrs(type=asyncssh.FILEXFER_TYPE_REGULAR, size=size, permissions=stat.S_IFREG | 0o644,
                              uid=0, gid=0, atime=MTIME, mtime=MTIME)


class _Sftp(asyncssh.SFTPServer):
    """Serves :attr:`HostileSftp.entries`; writes, renames and removals are refused."""

    def __init__(self, chan: Any, owner: HostileSftp) -> None:
        super().__init__(chan)
        self.owner = owner

    def _entry(self, path: bytes) -> Entry:
        prefix = FOLDER.encode() + b"/"
        entry = self.owner.entries.get(path[len(prefix):]) if path.startswith(prefix) else None
        if entry is None:
            raise asyncssh.SFTPNoSuchFile("no such file")
        return entry

    async def scandir(self, path: bytes):  # type: ignore[no-untyped-def, override]
        if path.rstrip(b"/") != FOLDER.encode():
            raise asyncssh.SFTPNoSuchFile("no such folder")
        for entry in list(self.owner.entries.values()):
            yield asyncssh.SFTPName(entry.name, b"", _attrs(entry.listed_size))

    def stat(self, path: bytes) -> asyncssh.SFTPAttrs:
        if path.rstrip(b"/") == FOLDER.encode():
            return asyncssh.SFTPAttrs(type=asyncssh.FILEXFER_TYPE_DIRECTORY, permissions=stat.S_IFDIR | 0o755)
        return _attrs(self._entry(path).listed_size)

    lstat = stat

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> Entry:
        if pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT):
            raise asyncssh.SFTPPermissionDenied("read-only")
        entry = self._entry(path)
        self.owner.opened.append(entry.name)
        return entry

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        assert isinstance(file_obj, Entry)
        data = file_obj.data[offset:offset + size]
        self.owner.served[file_obj.name] = self.owner.served.get(file_obj.name, 0) + len(data)
        return data

    def fstat(self, file_obj: object) -> asyncssh.SFTPAttrs:
        assert isinstance(file_obj, Entry)
        return _attrs(file_obj.listed_size)

    def close(self, file_obj: object) -> None:
        return None

    def remove(self, path: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("read-only")

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("read-only")

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        raise asyncssh.SFTPPermissionDenied("read-only")


class _Server(asyncssh.SSHServer):
    def __init__(self, owner: HostileSftp) -> None:
        self.owner = owner

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.owner._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        pass


class HostileSftp:
    """One hostile server; :meth:`start` it, put files with :meth:`add`, :meth:`stop` it."""

    def __init__(self) -> None:
        self.entries: dict[bytes, Entry] = {}
        self.opened: list[bytes] = []  # names the client opened, in order
        self.served: dict[bytes, int] = {}  # bytes sent per name
        self._host = asyncssh.generate_private_key("ssh-ed25519")
        kind, blob = self._host.export_public_key("openssh").decode().split()[:2]
        self.host_key = f"{kind} {blob}"  # what the client pins
        client = asyncssh.generate_private_key("ssh-ed25519")
        self.client_private_key = client.export_private_key("openssh").decode()
        self._authorized = asyncssh.import_authorized_keys(client.export_public_key("openssh").decode())
        self.port = 0
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def add(self, name: bytes | str, data: bytes, *, listed_size: int | None = None) -> None:
        raw = name.encode("utf-8", "surrogatepass") if isinstance(name, str) else name
        self.entries[raw] = Entry(raw, data, len(data) if listed_size is None else listed_size)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="hostile-sftp")
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the asyncssh test server did not start")
        if self._error is not None:
            self._thread.join(10)
            raise RuntimeError(f"the asyncssh test server did not start: {self._error!r}")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            acceptor = await asyncssh.create_server(
                lambda: _Server(self), "127.0.0.1", 0, server_host_keys=[self._host],
                authorized_client_keys=self._authorized, password_auth=False, kbdint_auth=False,
                sftp_factory=lambda chan: _Sftp(chan, self), allow_scp=False)
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
            return
        self.port = acceptor.get_port()
        self._ready.set()
        await self._stopping.wait()
        acceptor.close()
        await acceptor.wait_closed()
        for conn in list(self._connections):
            conn.close()
            await conn.wait_closed()

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(15)
        if self._thread.is_alive():
            raise RuntimeError("the asyncssh test server thread did not stop")
        self._thread = None

    # -- what clients need ----------------------------------------------------------------
    def extra(self) -> dict[str, str]:
        return {"private_key": self.client_private_key, "host_key": self.host_key, "conn_timeout": "5"}

    def settings(self) -> SftpSettings:
        return SftpSettings.from_connection(host="127.0.0.1", port=self.port, login="o2c", password=None,
                                            extra=self.extra())

    def conn_json(self) -> str:
        """The connection as Airflow's JSON form (``O2C_CONN_<ID>``)."""
        import json

        return json.dumps({"conn_type": "sftp", "host": "127.0.0.1", "port": self.port, "login": "o2c",
                           "extra": self.extra()})
