"""Fixtures of the bank ingestion tests: a store, and a bank whose drop folder is on the test sshd."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from o2c.config import BankConfig
from o2c.store import Store
from tests.bank.hostile_sftp import HostileSftp
from tests.fixtures_sshd import SshServer
from transport.sftp import SftpSettings


@dataclass
class BankSite:
    """One bank's folders on the test server, its configuration, and where the hub stages files."""

    server: SshServer
    config: BankConfig
    inbox: Path
    archive: Path
    staging: Path

    @property
    def settings(self) -> SftpSettings:
        return SftpSettings.from_connection(host="127.0.0.1", port=self.server.port, login=self.server.user,
                                            password=None, extra=self.server.extra())

    def upload(self, name: str, data: bytes) -> Path:
        """Put a file in the inbox the way a bank does: written elsewhere, then renamed in."""
        tmp = self.inbox.parent / f".upload-{uuid.uuid4().hex}"
        tmp.write_bytes(data)
        target = self.inbox / name
        tmp.rename(target)
        return target

    def configured(self, **changes: object) -> BankConfig:
        self.config = self.config.model_copy(update=changes)
        return self.config


@pytest.fixture
def store(tmp_path: Path) -> Store:
    st = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    st.upgrade()
    return st


@pytest.fixture
def site(sshd: SshServer, tmp_path: Path) -> BankSite:
    key = uuid.uuid4().hex[:8]
    inbox = sshd.folder(f"{key}/outgoing")
    archive = inbox.parent / "archive"
    config = BankConfig(name="testbank", connection="sftp_bank_test", folder=f"{key}/outgoing",
                        patterns=("*.xml", "*.sta", "*.txt", "*.bai2"), archive_folder=f"{key}/archive",
                        settle_seconds=0)
    return BankSite(server=sshd, config=config, inbox=inbox, archive=archive, staging=tmp_path / "staging")


@pytest.fixture
def hostile_sftp() -> Iterator[HostileSftp]:
    """A running asyncssh SFTP server that lists whatever a test adds (tests/bank/hostile_sftp.py);
    stopped after the test, its thread joined."""
    server = HostileSftp()
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert not [t for t in threading.enumerate() if t.name == "hostile-sftp"]
