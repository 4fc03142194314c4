"""The check of tests/fixtures_threads.py: a test module that leaves a server running fails.

Each case is a small test module run by pytest in a subprocess with only that plugin.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

LEAKY = """
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

def test_starts_a_server_and_forgets_it():
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    pytest_leaked.append(server)  # stopped by the conftest at the end of the session

def test_leaves_a_worker():
    stop = threading.Event()
    threading.Thread(target=stop.wait, name="forgotten-worker").start()  # not a daemon
    pytest_leaked.append(stop)
"""

CLEAN = """
import threading
import pytest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from tests.fixtures_threads import session_threads

@pytest.fixture(scope="session")
def session_server():
    with session_threads():  # a session fixture's server lives for the session: allowed
        server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()

def test_closes_its_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    server.shutdown()
    server.server_close()
    thread.join()

def test_uses_the_session_server(session_server):  # first used here, in the middle of the module
    assert session_server.server_address
"""

CONFTEST = """
import pytest

def pytest_configure(config):
    import builtins
    builtins.pytest_leaked = []

def pytest_unconfigure(config):
    import builtins
    for thing in builtins.pytest_leaked:
        getattr(thing, "shutdown", getattr(thing, "set", None))()
"""


def run_module(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_module.py").write_text(textwrap.dedent(source))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.fixtures_threads",
                           "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_module.py")],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_a_module_leaving_a_server_and_a_worker_fails_naming_them(tmp_path):
    proc = run_module(tmp_path, LEAKY)
    assert proc.returncode != 0, proc.stdout
    assert "2 passed, 1 error" in proc.stdout, proc.stdout
    assert "left 2 thread(s) running" in proc.stdout and "(serve_forever)" in proc.stdout and "forgotten-worker" in proc.stdout


def test_a_module_closing_its_servers_passes_and_session_servers_are_allowed(tmp_path):
    proc = run_module(tmp_path, CLEAN)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout and "error" not in proc.stdout
