"""A real OpenSSH server for the SFTP tests, started once per session on a free loopback port.

Unprivileged setup in a temporary folder: its own host key (ssh-keygen), one authorised client
key, ``UsePAM no``, ``StrictModes no``, the ``internal-sftp`` subsystem starting in a home
folder inside the temporary folder (no chroot), its ``PidFile`` there too. The login is the
user running the tests. Tests may :meth:`SshServer.stop` and :meth:`SshServer.start` it (a
"server restart"); the fixture makes sure it is running again for the next test.

When ``/usr/sbin/sshd`` is missing the tests fail on CI (``CI=true``) and are skipped elsewhere.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fixtures_services import service_missing
from tests.fixtures_threads import session_threads

SSHD = os.environ.get("O2C_TEST_SSHD", "/usr/sbin/sshd")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "o2c-test", "-f", str(path)], check=True)
    kind, blob = path.with_suffix(".pub").read_text().split()[:2]
    return f"{kind} {blob}"


def _descendants(pid: int) -> list[int]:
    """Child processes of ``pid`` (sshd forks one per connection, in its own session)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


@dataclass
class SshServer:
    root: Path
    port: int
    user: str
    home: Path = field(init=False)
    client_key: Path = field(init=False)
    host_key: str = field(init=False)  # "ssh-ed25519 AAAA..." of the server
    other_host_key: str = field(init=False)  # a key the server does not have (for mismatch tests)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.home.mkdir()
        self.client_key = self.root / "client_ed25519"
        _keygen(self.client_key)
        self.host_key = _keygen(self.root / "host_ed25519")
        self.other_host_key = _keygen(self.root / "other_ed25519")
        (self.root / "authorized_keys").write_text(self.client_key.with_suffix(".pub").read_text())
        (self.root / "sshd_config").write_text(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.root / 'host_ed25519'}
PidFile {self.root / 'sshd.pid'}
AuthorizedKeysFile {self.root / 'authorized_keys'}
AllowUsers {self.user}
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding no
X11Forwarding no
MaxStartups 50
LogLevel VERBOSE
Subsystem sftp internal-sftp -d {self.home}
""")

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        log = open(self.root / "sshd.log", "ab")  # noqa: SIM115 - kept open by the server
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.root / "sshd_config")],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not answer on port {self.port}:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the server and every session it serves (a crash or restart mid-transfer)."""
        if self.proc is None:
            return
        for pid in [*_descendants(self.proc.pid), self.proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self) -> str:
        try:
            return (self.root / "sshd.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    # -- what clients need --------------------------------------------------------------------
    def extra(self, *, host_key: str | None = None) -> dict[str, str]:
        return {"key_file": str(self.client_key), "host_key": host_key or self.host_key, "conn_timeout": "5"}

    def conn_json(self, *, host_key: str | None = None) -> str:
        """The connection as Airflow's JSON form (``AIRFLOW_CONN_<ID>`` / ``O2C_CONN_<ID>``)."""
        return json.dumps({"conn_type": "sftp", "host": "127.0.0.1", "port": self.port, "login": self.user,
                           "extra": self.extra(host_key=host_key)})

    def folder(self, name: str) -> Path:
        """A fresh folder under the SFTP home (the bank's drop folder for one test)."""
        path = self.home / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[SshServer]:
    if not (os.path.exists(SSHD) and shutil.which("ssh-keygen")):
        service_missing(f"OpenSSH server ({SSHD}; apt-get install openssh-server)")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation folder sshd wants as root
    root = Path(tempfile.mkdtemp(prefix="o2c-sshd-"))
    server = SshServer(root=root, port=_free_port(), user=getpass.getuser())
    check = subprocess.run([SSHD, "-t", "-f", str(root / "sshd_config")], capture_output=True, text=True)
    if check.returncode != 0:
        pytest.fail(f"sshd rejects the test configuration: {check.stderr.strip()}", pytrace=False)
    with session_threads():
        server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def sshd(sshd_server: SshServer) -> Iterator[SshServer]:
    """The session's sshd, running at the start of the test and again after it."""
    sshd_server.start()
    yield sshd_server
    sshd_server.start()
