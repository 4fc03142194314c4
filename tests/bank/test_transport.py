"""The SFTP transport against a real OpenSSH server: pinned host key, settle, verified downloads."""

from __future__ import annotations

import hashlib

import pytest

from o2c.transport.sftp import SftpClient, SftpSettings
from schemas.errors import AuthError, FatalError, RetriableError

pytestmark = pytest.mark.sftp


def test_download_is_hashed_verified_and_atomic(site):
    data = b"x" * 100_000
    site.upload("a.xml", data)
    site.upload("ignored.pdf", b"%PDF")
    with SftpClient(site.settings) as c:
        [f] = c.list_files(site.config.folder, site.config.patterns)
        staged = c.download(f, site.staging)
    assert (f.name, f.size) == ("a.xml", len(data))
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    assert (site.staging / "a.xml").read_bytes() == data
    assert [p.name for p in site.staging.iterdir()] == ["a.xml"]  # no temporary file left


def test_wrong_host_key_is_refused(site, sshd):
    settings = SftpSettings.from_connection(host="127.0.0.1", port=sshd.port, login=sshd.user, password=None,
                                            extra=sshd.extra(host_key=sshd.other_host_key))
    with pytest.raises(FatalError, match="host key mismatch") as exc:
        SftpClient(settings).connect()
    assert not isinstance(exc.value, RetriableError)


def test_missing_host_key_or_auto_add_is_refused(sshd):
    extra = sshd.extra()
    del extra["host_key"]
    with pytest.raises(FatalError, match="no host_key"):
        SftpSettings.from_connection(host="127.0.0.1", port=sshd.port, login=sshd.user, password=None, extra=extra)
    with pytest.raises(FatalError, match="no_host_key_check is not allowed"):
        SftpSettings.from_connection(host="127.0.0.1", port=sshd.port, login=sshd.user, password=None,
                                     extra={**sshd.extra(), "no_host_key_check": "true"})


def test_unknown_key_is_an_auth_failure(site, sshd):
    extra = {**sshd.extra(), "key_file": str(sshd.root / "other_ed25519")}  # a key the server does not know
    settings = SftpSettings.from_connection(host="127.0.0.1", port=sshd.port, login=sshd.user, password=None, extra=extra)
    with pytest.raises(AuthError, match="authentication refused"):
        SftpClient(settings).connect()


def test_server_down_is_retriable(sshd):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = SftpSettings.from_connection(host="127.0.0.1", port=port, login=sshd.user, password=None, extra=sshd.extra())
    with pytest.raises(RetriableError, match="connection"):
        SftpClient(settings).connect()


def test_growing_file_is_left_for_later(site):
    target = site.upload("growing.xml", b"<a>")

    def writer_appends(_seconds: float) -> None:  # the bank is still writing during the settle delay
        with open(target, "ab") as fh:
            fh.write(b"more")

    site.upload("done.xml", b"<b/>")
    with SftpClient(site.settings) as c:
        ready, growing = c.settled_files(site.config.folder, site.config.patterns, 5, sleep=writer_appends)
    assert [f.name for f in ready] == ["done.xml"]
    assert [f.name for f in growing] == ["growing.xml"]
