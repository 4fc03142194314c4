"""Fixtures for the machine's real services (PostgreSQL). Each checks the service is up and says
clearly what is missing: the test fails on CI (CI=true) and is skipped elsewhere."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.fixtures_threads import session_threads

PG_ADMIN_URL = os.environ.get("O2C_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def service_missing(what: str) -> None:
    msg = f"{what} is not reachable; start it (see README, 'Services the tests use')"
    if os.environ.get("CI") == "true" or os.environ.get("O2C_REQUIRE_SERVICES") == "1":
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001
        service_missing(f"PostgreSQL at {make_url(PG_ADMIN_URL).render_as_string(hide_password=True)} ({exc.__class__.__name__})")
    name = f"o2c_test_{uuid.uuid4().hex[:10]}"
    with session_threads(), admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
