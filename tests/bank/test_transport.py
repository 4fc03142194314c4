"""The SFTP transport against a real OpenSSH server: pinned host key, settle, verified downloads."""

from __future__ import annotations

import hashlib
import linecache
import os
import sys
import threading
import time

import pytest

from schemas.errors import AuthError, FatalError, RejectedDocument, RetriableError, TooLarge
from tests.fixtures_threads import leaked_threads
from transport.sftp import SftpClient, SftpSettings

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


def test_file_over_the_limit_is_refused_on_its_listed_size(site, monkeypatch):
    monkeypatch.setenv("O2C_MAX_BANK_FILE_BYTES", "1000")
    site.upload("big.xml", b"x" * 5000)
    site.upload("small.xml", b"x" * 1000)  # at the limit: taken
    with SftpClient(site.settings) as c:
        big, small = c.list_files(site.config.folder, site.config.patterns)
        with pytest.raises(TooLarge, match=r"big.xml: 5000 bytes \(listed\) is over the 1000-byte limit.*O2C_MAX_BANK_FILE_BYTES"):
            c.download(big, site.staging)
        c.download(small, site.staging)
        with pytest.raises(TooLarge, match="bank's max_file_bytes"):  # a bank's own limit wins over the default
            c.download(small, site.staging, max_bytes=999)
        assert [(r.name, r.size, r.error) for r in c.refused] == [("big.xml", 5000, "TooLarge"), ("small.xml", 1000, "TooLarge")]
    assert [p.name for p in site.staging.iterdir()] == ["small.xml"]
    assert (site.inbox / "big.xml").stat().st_size == 5000  # left on the server


def test_file_growing_past_the_limit_while_read_is_stopped(site, monkeypatch):
    monkeypatch.setenv("O2C_MAX_BANK_FILE_BYTES", "100000")
    target = site.upload("growing.xml", b"x" * 500)
    with SftpClient(site.settings) as c:
        [f] = c.list_files(site.config.folder, site.config.patterns)
        with open(target, "ab") as fh:  # the listing said 500 bytes; by the time it is read it is 1 MB
            fh.write(b"y" * 1_000_000)
        with pytest.raises(TooLarge, match=r"more than 100000 bytes read \(listed 500\)"):
            c.download(f, site.staging)
    assert list(site.staging.iterdir()) == []  # the partial copy is removed


def test_a_link_in_staging_pointing_outside_is_refused(site, tmp_path):
    site.upload("a.xml", b"<new/>")
    outside = tmp_path / "outside.xml"
    outside.write_bytes(b"<precious/>")
    site.staging.mkdir(parents=True)
    (site.staging / "a.xml").symlink_to(outside)
    with SftpClient(site.settings) as c:
        [f] = c.list_files(site.config.folder, site.config.patterns)
        with pytest.raises(RejectedDocument, match="file name refused: the staging folder already holds a link of that name that points outside"):
            c.download(f, site.staging)
    assert outside.read_bytes() == b"<precious/>"
    assert [p.name for p in site.staging.iterdir()] == ["a.xml"] and (site.staging / "a.xml").is_symlink()


def _prefetch_waiting_or_done(thread: threading.Thread) -> bool:
    """paramiko's prefetch thread has ended, or waits in its loop for answers to its reads."""
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None or not thread.is_alive():
        return True
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    return frame.f_code.co_name == "_prefetch_thread" and "sleep" in line


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # a read sent on the closed channel
def test_a_download_cut_by_a_server_crash_leaves_no_thread_behind(site, sshd):
    """A download cut half-way by the server's crash must not leave a reader thread behind.

    paramiko's ``prefetch(max_concurrent_requests=...)`` reads in a thread that, with its
    requests all out, waits for their answers in a ``time.sleep(0.01)`` loop; once the server is
    gone no answer comes, and it looped for the life of the process (an Airflow worker, or the
    test run, where it filled a later test's list of recorded sleeps). The crash is made to come
    while that thread waits, the case the old download left looping.
    """
    data = os.urandom(40 * 32768)  # many more reads than the download keeps outstanding
    site.upload("big.xml", data)
    before = set(threading.enumerate())

    def crash_while_reads_are_out(done: int) -> None:
        if sshd.proc is None:
            return
        readers = [t for t in threading.enumerate() if t not in before and t.name.endswith("(_prefetch_thread)")]
        deadline = time.monotonic() + 30
        while not all(_prefetch_waiting_or_done(t) for t in readers) and time.monotonic() < deadline:
            time.sleep(0.01)
        sshd.stop()
        raise ConnectionResetError("the line dropped")

    with SftpClient(site.settings) as c:
        [f] = c.list_files(site.config.folder, site.config.patterns)
        with pytest.raises((RetriableError, ConnectionResetError)):
            c.download(f, site.staging, progress=crash_while_reads_are_out)
    assert leaked_threads(before) == []
    assert list(site.staging.iterdir()) == []  # nothing staged, no temporary file left
