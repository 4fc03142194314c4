"""``o2c db``: create or upgrade the hub store's schema (Alembic)."""

from __future__ import annotations

import click

from o2c.commands import exit_on_hub_errors
from o2c.settings import get_settings


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.group()
def db() -> None:
    """The hub store: create or upgrade its schema."""


@db.command()
@click.option("--url", envvar="O2C_DATABASE_URL", help="SQLAlchemy URL (default: the embedded SQLite store).")
@click.option("--revision", default="head", show_default=True)
def upgrade(url: str | None, revision: str) -> None:
    """Create the store or bring it to the latest schema."""
    from o2c.store import Store

    with exit_on_hub_errors():  # a bad database URL: one line naming the setting, exit 2
        store = Store(url or get_settings().database_url)
        store.upgrade(revision)
    click.echo(f"store {_redact(store.url)} at revision {store.current_revision()}")


@db.command()
@click.option("--url", envvar="O2C_DATABASE_URL")
def current(url: str | None) -> None:
    """Print the store's schema revision."""
    from o2c.store import Store

    with exit_on_hub_errors():
        store = Store(url or get_settings().database_url)
        revision = store.current_revision()
    click.echo(revision or "empty (run: o2c db upgrade)")
