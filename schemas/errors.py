"""One error hierarchy for the whole hub: each class says what to do next.

- :class:`RetriableError`: a transient failure (network, timeout, HTTP 429/5xx, SFTP drop).
  Airflow retries the task with backoff. :class:`OutcomeUnknown`, one of them, says a write may
  have been applied (checked before it is sent again).
- :class:`FatalError`: configuration or credentials are wrong. Fail at once, no retry;
  a person must fix the setting named in the message.
- :class:`RejectedDocument`: one document (invoice, statement, file) cannot be taken.
  It is quarantined with its raw payload and the reason; the run goes on and counts it.
"""

from __future__ import annotations

from dataclasses import dataclass


class HubError(Exception):
    """Base class of every error o2c-hub raises on purpose."""


class RetriableError(HubError):
    """Transient failure: retry later (network, timeout, 429, 5xx)."""

    def __init__(self, msg: str, *, retry_after: float | None = None) -> None:
        super().__init__(msg)
        self.retry_after = retry_after


class OutcomeUnknown(RetriableError):
    """A call that writes failed in flight (timeout, connection lost, HTTP 5xx): the remote system
    may have applied it, or may still be applying it. Sending it again at once could apply it
    twice; the write-back keeps such a command claimed and looks it up after the claim timeout."""


class FatalError(HubError):
    """Wrong configuration or credentials: do not retry, fix the named setting."""


class ConfigError(FatalError):
    """A configuration file or mapping is invalid; the message names the file and key."""


class AuthError(FatalError):
    """Credentials were refused by the remote system."""


@dataclass(frozen=True)
class Issue:
    """One finding about a record: which record, which business term, which value, why."""

    record: str
    term: str
    message: str
    value: object = None
    severity: str = "error"  # "error" or "warning"

    def short(self) -> str:
        """The finding without the record name (for messages that already name the record)."""
        shown = "" if self.value is None else f" (value {self.value!r})"
        return f"{self.term}: {self.message}{shown}"

    def __str__(self) -> str:
        return f"{self.record}: {self.short()}"


class RejectedDocument(HubError):
    """One document cannot be taken: quarantine it whole, keep going."""

    def __init__(
        self,
        msg: str,
        *,
        document_id: str = "",
        line: int | None = None,
        field: str | None = None,
        issues: list[Issue] | None = None,
    ) -> None:
        where = []
        if document_id:
            where.append(document_id)
        if line is not None:
            where.append(f"line {line}")
        if field:
            where.append(field)
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {msg}" if prefix else msg)
        self.reason = msg
        self.document_id = document_id
        self.line = line
        self.field = field
        self.issues = list(issues or [])


class InvalidFormat(RejectedDocument):
    """The document is not well-formed for its declared format."""


class InvalidChecksum(RejectedDocument):
    """A check digit or a balance does not add up."""


class ValidationFailed(RejectedDocument):
    """Business validation found errors; ``issues`` lists each one."""

    def __init__(self, document_id: str, issues: list[Issue]) -> None:
        errors = [i for i in issues if i.severity == "error"]
        msg = "; ".join(i.short() for i in errors[:5])
        if len(errors) > 5:
            msg += f"; and {len(errors) - 5} more"
        first = errors[0].term if errors else None
        super().__init__(msg, document_id=document_id, field=None, issues=issues)
        self.first_term = first


class TooLarge(RejectedDocument):
    """A file or payload is over the configured size limit for its kind (see :mod:`edi.limits`)."""
