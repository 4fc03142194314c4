"""Sending e-mail over SMTP (smtplib), with the outcome classified for the caller.

:class:`SmtpSettings` comes from an Airflow-style connection (``smtp://login:password@host:587``,
extras ``security``: ``starttls`` (the default on any port but 465), ``ssl`` (the default on 465
or with the ``smtps://`` scheme) or ``none`` (a relay on loopback); ``timeout`` in seconds;
``local_hostname`` for EHLO). :func:`send` delivers one message and returns what the server did:

- every recipient accepted: :class:`Delivery` with ``refused`` empty;
- some recipients refused, the others accepted: :class:`Delivery` listing the refused ones (the
  message left: it must not be sent again to the others);
- a *permanent* refusal (a 5xx answer to the sender, the data, or every recipient):
  :class:`~schemas.errors.RejectedDocument` with the server's answer;
- a *transient* one (a 4xx answer, the connection refused, dropped or timed out):
  :class:`~schemas.errors.RetriableError` with the server's answer: the caller retries later;
- a refused login: :class:`~schemas.errors.AuthError` (a setting to fix).

The password never appears in a message of this module.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from schemas.errors import AuthError, ConfigError, RejectedDocument, RetriableError

SECURITY = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    security: str = "starttls"
    timeout: float = 30.0
    local_hostname: str | None = None

    def __post_init__(self) -> None:
        if self.security not in SECURITY:
            raise ConfigError(f"SMTP security {self.security!r}: use one of {', '.join(SECURITY)}")

    @classmethod
    def from_connection(cls, host: str, port: int | None, login: str | None, password: str | None, scheme: str,
                        extra: Mapping[str, Any], *, setting: str = "the SMTP connection") -> SmtpSettings:
        """From the parts of a connection (:class:`connectors.base.ConnectionInfo`)."""
        security = str(extra.get("security") or ("ssl" if port == 465 or scheme == "https" else "starttls")).lower()
        if security not in SECURITY:
            raise ConfigError(f"{setting}: security={security!r}; write security=starttls, ssl or none")
        try:
            timeout = float(extra.get("timeout") or 30)
        except ValueError:
            raise ConfigError(f"{setting}: timeout={extra.get('timeout')!r} is not a number of seconds") from None
        return cls(host=host, port=port or (465 if security == "ssl" else 587), login=login, password=password,
                   security=security, timeout=timeout, local_hostname=extra.get("local_hostname") or None)


@dataclass(frozen=True)
class Delivery:
    accepted: tuple[str, ...]
    refused: dict[str, str]  # recipient -> the server's answer


def _answer(code: int | None, message: bytes | str | None) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else (message or "")
    return f"{code} {text}".strip() if code is not None else text.strip()


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                                local_hostname=settings.local_hostname,
                                                context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout,
                              local_hostname=settings.local_hostname)
        if settings.security == "starttls":
            client.starttls(context=ssl.create_default_context())
    if settings.login:
        client.login(settings.login, settings.password or "")
    return client


def send(message: EmailMessage, settings: SmtpSettings, *, recipients: list[str] | None = None) -> Delivery:
    """Deliver ``message`` to ``recipients`` (default: its To, Cc and Bcc)."""
    to = recipients or [a for h in ("To", "Cc", "Bcc") for a in _addresses(message.get_all(h, []))]
    if not to:
        raise RejectedDocument("the message has no recipient")
    where = f"SMTP server {settings.host}:{settings.port}"
    try:
        client = _connect(settings)
    except smtplib.SMTPAuthenticationError as exc:
        raise AuthError(f"{where} refused the login: {_answer(exc.smtp_code, exc.smtp_error)}") from None
    except smtplib.SMTPResponseException as exc:
        raise _classified(where, exc.smtp_code, exc.smtp_error) from None
    except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, TLS handshake, dropped
        raise RetriableError(f"{where} could not be reached: {type(exc).__name__}: {exc}") from None
    try:
        try:
            refused = client.send_message(message, to_addrs=to)
        except smtplib.SMTPRecipientsRefused as exc:
            answers = {r: _answer(code, msg) for r, (code, msg) in exc.recipients.items()}
            text = "; ".join(f"{r}: {a}" for r, a in answers.items())
            if all(code >= 500 for code, _ in exc.recipients.values()):
                raise RejectedDocument(f"{where} refused every recipient: {text}") from None
            raise RetriableError(f"{where} refused the recipients for now: {text}") from None
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused
            raise _classified(where, exc.smtp_code, exc.smtp_error) from None
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise RetriableError(f"{where} dropped the connection while sending: {type(exc).__name__}: {exc}") from None
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
    answers = {r: _answer(code, msg) for r, (code, msg) in refused.items()}
    return Delivery(accepted=tuple(r for r in to if r not in answers), refused=answers)


def _classified(where: str, code: int, message: bytes | str) -> Exception:
    answer = _answer(code, message)
    if 500 <= code < 600:
        return RejectedDocument(f"{where} refused the message: {answer}")
    return RetriableError(f"{where} answered: {answer}")


def _addresses(values: list[Any]) -> list[str]:
    from email.utils import getaddresses

    return [addr for _, addr in getaddresses([str(v) for v in values]) if addr]


def reachable(settings: SmtpSettings) -> bool:
    """Whether something listens on the server's port (a quick check for the CLI)."""
    try:
        with socket.create_connection((settings.host, settings.port), timeout=min(settings.timeout, 5)):
            return True
    except OSError:
        return False
