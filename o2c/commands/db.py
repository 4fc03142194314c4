"""``o2c db``: the hub store's schema (placeholder until the store lands)."""

from __future__ import annotations

import click


@click.group()
def db() -> None:
    """The hub store: create or upgrade its schema."""
