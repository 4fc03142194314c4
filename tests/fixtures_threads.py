"""A test module must not leave threads or servers running (registered in tests/conftest.py).

Why: a thread that outlives its test keeps running under every later test. One that spins on
``time.sleep`` (paramiko's prefetch thread of an SFTP download that was abandoned, say) made a
later test that recorded sleeps grow without end, and a loopback server left serving holds a
port and a thread for the rest of the session. Such leaks are found here, at the module that
made them, instead of as a mysterious failure of whichever test runs next.

The check: :func:`no_leaked_threads`, autouse and module-scoped, records
``threading.enumerate()`` before the module; after the module (and its own fixtures) are torn
down it waits a little for threads that are finishing (``GRACE_SECONDS`` in all), then fails the
module, naming the threads, if a thread started during the module is still alive and is either
non-daemon or a known server/transport thread (:func:`is_server_thread`: a ``serve_forever``
loop and its request handlers, a paramiko SSH transport or SFTP prefetch thread). Other daemon
threads (a library's worker pool) are not reported.

Allowance: the session-scoped fixtures (``tryton_server``, ``sshd_server``, ``postgres_url``,
``airflow_db``; the api-server of the UI tests is a module fixture and must stop with its
module) live for the whole session and may be first set up in the middle of some module. Their
setup runs inside :func:`session_threads`, which records any thread it starts as the session's:
those are never reported. Today they run servers as subprocesses and start no thread, so the
allowance is empty; it is there so that one which does cannot fail whichever module first used it.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Iterator

import pytest

GRACE_SECONDS = 5.0  # for threads whose owner was closed and that are finishing their last loop

_SESSION_THREADS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()

# thread names end with "(<target function>)" since Python 3.10
_SERVER_TARGETS = ("(serve_forever)", "(process_request_thread)", "(_prefetch_thread)")


@contextlib.contextmanager
def session_threads() -> Iterator[None]:
    """Record the threads started inside this block as the session's own (not a module's leak)."""
    before = set(threading.enumerate())
    try:
        yield
    finally:
        _SESSION_THREADS.update(t for t in threading.enumerate() if t not in before)


def is_server_thread(thread: threading.Thread) -> bool:
    """A thread that serves a socket or drives a connection: leaving one is always a leak."""
    if thread.name.endswith(_SERVER_TARGETS):
        return True
    return type(thread).__module__.startswith("paramiko.")  # paramiko.Transport is a Thread


def leaked_threads(before: set[threading.Thread], grace: float = GRACE_SECONDS) -> list[threading.Thread]:
    """Threads not in ``before``, not the session's, still alive after ``grace`` seconds, and
    non-daemon or a server thread."""
    deadline = time.monotonic() + grace
    suspects = [t for t in threading.enumerate()
                if t not in before and t not in _SESSION_THREADS and t is not threading.current_thread()
                and (not t.daemon or is_server_thread(t))]
    for t in suspects:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    return [t for t in suspects if t.is_alive()]


def describe(threads: list[threading.Thread]) -> str:
    return ", ".join(f"{t.name} ({type(t).__module__}.{type(t).__qualname__}, daemon={t.daemon})" for t in threads)


@pytest.fixture(scope="module", autouse=True)
def no_leaked_threads(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the module if it leaves threads or servers running (see the module docstring)."""
    before = set(threading.enumerate())
    yield
    leaked = leaked_threads(before)
    if leaked:
        pytest.fail(f"{request.node.nodeid} left {len(leaked)} thread(s) running after its tests: {describe(leaked)}; "
                    "close the server, client or file they belong to in the test or fixture that started them",
                    pytrace=False)
