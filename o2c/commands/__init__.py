"""Command groups of the ``o2c`` CLI, one module each."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click


@contextmanager
def exit_on_hub_errors() -> Iterator[None]:
    """Library errors as exit codes a scheduler understands: 2 for a fatal error (configuration,
    credentials: do not retry), 75 (EX_TEMPFAIL) for a transient one (retry later)."""
    from schemas.errors import FatalError, HubError

    try:
        yield
    except FatalError as exc:
        click.echo(f"error (fix the configuration, do not retry): {exc}", err=True)
        sys.exit(2)
    except HubError as exc:
        click.echo(f"error (temporary, retry later): {exc}", err=True)
        sys.exit(75)
