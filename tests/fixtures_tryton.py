"""Session fixtures for the live Tryton ERP (registered in tests/conftest.py).

``tryton_server`` starts one seeded Tryton 8.2 on 127.0.0.1 for the whole test run. The activated
template (about 40-70 s to build) and the seeded database are cached under ``$O2C_TEST_CACHE``,
else ``<repo>/var/test-cache``, so later runs only copy a file and start the server (about 3 s).

Tests that use it carry ``pytest.mark.tryton`` so that ``-m "not tryton"`` skips them::

    pytestmark = pytest.mark.tryton

    def test_something(tryton_server):
        tryton_server.rpc_url          # http://127.0.0.1:PORT/o2c/rpc/
        tryton_server.summary          # the seed summary: posted_count, posted_total, customers...
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.tryton.server import REPO_ROOT, TrytonServer, prepare_database
from tests.fixtures_threads import session_threads

TRYTON_INVOICES = 40
TRYTON_SEED = 1


def tryton_cache_dir() -> Path:
    return Path(os.environ.get("O2C_TEST_CACHE") or REPO_ROOT / "var" / "test-cache")


@pytest.fixture(scope="session")
def tryton_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    """A running, seeded Tryton server shared by the whole session (read-mostly: do not delete data)."""
    workdir = tmp_path_factory.mktemp("tryton")
    with session_threads():
        database = prepare_database(workdir, invoices=TRYTON_INVOICES, seed=TRYTON_SEED, cache_dir=tryton_cache_dir())
        server = TrytonServer(database).start()
    try:
        yield server
    finally:
        server.stop()
