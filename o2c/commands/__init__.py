"""Command groups of the ``o2c`` CLI, one module each."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from o2c.store import Store

EXIT_REJECTED = 1
"""A document or input was refused (the message says why): fix it, do not retry as is."""
EXIT_FATAL = 2
"""Configuration or credentials to fix; do not retry."""
EXIT_TEMPFAIL = 75
"""EX_TEMPFAIL: a transient failure, retry later."""
EXIT_UNEXPECTED = 1
"""Anything else: a one-line message; ``o2c -v`` shows the (redacted) traceback."""

_MAX_MESSAGE = 500  # a message is one line of a terminal or a scheduler's log, not a dump


def one_line(text: str) -> str:
    """``text`` on one line, credentials and account numbers masked, at most a few hundred characters."""
    from transport.redact import redact_secrets

    flat = " / ".join(part.strip() for part in str(text).splitlines() if part.strip())
    if len(flat) > _MAX_MESSAGE:
        flat = flat[:_MAX_MESSAGE] + "…"
    return redact_secrets(flat)


def describe_error(exc: BaseException) -> tuple[int, str]:
    """The exit status and the one-line message for an error that reached the command line.

    Typed errors say what to do next (:mod:`schemas.errors`). Any other error is a bug or a
    failure of something below the hub (the database, the disk): only its class and the first
    line of its message are shown, because the rest can hold the data being processed (a
    driver's message, SQL); ``o2c -v`` prints the traceback, redacted.
    """
    from schemas.errors import FatalError, HubError, RejectedDocument, RetriableError

    if isinstance(exc, FatalError):
        return EXIT_FATAL, f"error (fix the configuration or credentials, do not retry): {one_line(str(exc))}"
    if isinstance(exc, RetriableError):
        return EXIT_TEMPFAIL, f"error (temporary, retry later): {one_line(str(exc))}"
    if isinstance(exc, RejectedDocument):
        return EXIT_REJECTED, f"rejected: {one_line(str(exc))}"
    if isinstance(exc, HubError):
        return EXIT_REJECTED, f"error: {one_line(str(exc))}"
    lines = [line for line in str(exc).splitlines() if line.strip()]
    first = f": {one_line(lines[0])}" if lines else ""
    return EXIT_UNEXPECTED, f"unexpected error ({exc.__class__.__name__}{first}); run 'o2c -v ...' for the traceback"


def redacted_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` (and its causes), credentials and account numbers masked."""
    import traceback

    from transport.redact import redact_secrets

    return redact_secrets("".join(traceback.format_exception(exc)))


@contextmanager
def exit_on_hub_errors() -> Iterator[None]:
    """Library errors as exit codes a scheduler understands, the same for every command
    (:func:`describe_error`): 2 for a fatal error (configuration, credentials: do not retry),
    75 (EX_TEMPFAIL) for a transient one (retry later), 1 for a rejected document."""
    from schemas.errors import HubError

    try:
        yield
    except HubError as exc:
        code, message = describe_error(exc)
        click.echo(message, err=True)
        sys.exit(code)


def open_store() -> Store:
    """The hub store named by the settings (``O2C_DATABASE_URL``, default the SQLite store under
    ``O2C_HOME``), brought to this code's schema.

    The commands upgrade the schema themselves, as they always have: a command is one process
    started by a person (or a cron line), the first one on a fresh home creates the store, and
    nobody has to remember ``o2c db upgrade`` first. The Airflow tasks do not: several of them
    start together on a fresh database, so there the schema is a deployment step and a task only
    checks it (:meth:`o2c.store.Store.check_revision`).
    """
    from o2c.settings import get_settings
    from o2c.store import Store

    store = Store(get_settings().database_url)
    store.upgrade()
    return store
