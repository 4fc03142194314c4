"""The hub's configuration: one typed model per section, one loader, one way of reporting mistakes.

A configuration file is YAML with up to three sections; each is optional in the file, and each
part of the hub reads the section it needs::

    sources:      # the systems the hub pulls from (config/sources.example.yaml)
      - {name: tryton_demo, kind: tryton, connection: erp_tryton_demo}
    banks:        # the SFTP folders banks drop statements into (config/banks.example.yaml)
      - {name: bnp, connection: sftp_bank_bnp, folder: /out, patterns: ["*.xml"]}
    einvoicing:   # formats and delivery channel of outbound e-invoices (config/einvoicing.example.yaml)
      channel: {kind: folder, path: outbox}

Where each section is read from (environment variables only, see :mod:`o2c.settings`):

- ``sources:``: the sources file, ``$O2C_SOURCES``, else ``$O2C_HOME/sources.yaml``. There is no
  fallback to an example: a missing file is a :class:`~schemas.errors.ConfigError` saying which
  file was looked for and how to create one (a deployment never quietly "configures" the demo ERP).
- ``banks:``: the file named by ``$O2C_BANKS``, else the sources file.
- e-invoicing: the file ``$O2C_EINVOICING`` (its keys at the top level, as in
  ``config/einvoicing.example.yaml``), else ``$O2C_HOME/einvoicing.yaml`` when it exists, else the
  ``einvoicing:`` section of the sources file when it has one, else the defaults (Factur-X EN 16931
  for every customer into ``$O2C_HOME/outbox``).

Every model refuses unknown keys (``extra="forbid"``: a misspelt key is an error, not a silently
ignored setting; a password written into the file is refused, credentials belong in connections)
and is frozen. A key left blank takes its default. Mistakes are reported as one
:class:`~schemas.errors.ConfigError` naming the file, then one line per problem with the key path
and what to write:

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "sources.yaml"
>>> _ = p.write_text("banks:\\n  - name: bnp\\n    connection: sftp_bank_bnp\\n    max_file_bytes: 2GB\\n    password: x\\n")
>>> load_config(p)
Traceback (most recent call last):
...
schemas.errors.ConfigError: .../sources.yaml: 2 problems:
  banks[0].max_file_bytes: must be a positive whole number of bytes (got '2GB'); write e.g. 104857600 for 100 MiB, or leave it out for the default (O2C_MAX_BANK_FILE_BYTES, else 2 GiB)
  banks[0].password: unknown key (known: name, connection, ...); credentials belong in the connection, not in this file
"""

from __future__ import annotations

import datetime as dt
import os
import re
import types
import typing
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from schemas.errors import ConfigError
from schemas.receivables import WriteBackKind

__all__ = [
    "BankConfig", "Channel", "CollectionsConfig", "ConfigFile", "CustomerFormat", "DunningLevel", "EInvoicingConfig",
    "FolderChannel", "HttpChannel", "KindPolicy", "MAPPED_DOCUMENTS", "MAX_CONFIG_BYTES", "PAYMENT_NOTE_SUBJECTS",
    "PaymentNotes", "STREAM_DOCUMENTS", "SftpChannel", "SourceConfig", "WriteBackApprovalConfig", "banks_file",
    "load_banks_section", "load_collections", "load_config", "load_einvoicing", "load_sources_section",
]

#: a configuration file is a few kilobytes; a larger one is refused before it is parsed
MAX_CONFIG_BYTES = 2**20
#: stream -> the canonical document its records map to
STREAM_DOCUMENTS = {"invoices": "invoice", "customers": "customer", "settlements": "settlement", "rates": "currency_rate",
                    "promises": "promise"}
#: the documents read through a YAML mapping (mappings/<kind>/<document>.yaml); a currency rate is
#: the connector's record as it is, checked by o2c.store.rates.check_rate
MAPPED_DOCUMENTS = frozenset({"invoice", "customer", "settlement", "promise"})
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
MAX_PROBLEMS = 20  # lines of one error message; the rest are counted


def _problem(message: str, *at: str | int) -> PydanticCustomError:
    """A validation problem with a message written for the person editing the file; ``at``
    extends the key path below the validated field (``banks`` + ``(1, "name")``)."""
    return PydanticCustomError("o2c_config", "{message}", {"message": message, "at": at})


class _Section(BaseModel):
    """Base of every configuration model: unknown keys refused, frozen, a blank key is its default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: said after "unknown key" for this model's keys
    unknown_key_hint: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _blank_is_default(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if v is not None}
        return data


def _check_name(value: str, what: str) -> str:
    if not NAME_RE.match(value):
        raise _problem(f"{value!r} must be lower-case letters, digits and _ (2 to 64, starting with a letter), "
                       f"e.g. {what}")
    return value


# -- write-back approval -----------------------------------------------------------------------
#: how long an Airflow approval request waits for an answer when ``response_timeout`` is not set
DEFAULT_RESPONSE_TIMEOUT = dt.timedelta(hours=24)
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class KindPolicy(_Section):
    """What of one write-back kind flows without a person (every other command of the kind waits).

    ``{auto: true}``: every command flows; ``{auto_below: "5000.00"}``: a command carrying an
    amount strictly below it flows; ``allocation_status: [auto]`` narrows either to commands made
    from allocations of these statuses (``auto``: decided by the engine, ``accepted``: by a
    reviewer). ``{}`` or no entry for the kind: everything waits."""

    auto: bool = Field(default=False, description="true (every command of this kind flows) or false")
    auto_below: Decimal | None = Field(default=None, description="a positive amount as text such as '5000.00': "
                                                                 "commands of a smaller amount flow")
    allocation_status: tuple[Literal["auto", "accepted"], ...] | None = Field(
        default=None, description="a list among auto, accepted: only commands made from allocations of these "
                                  "statuses flow")

    @field_validator("auto_below", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise _problem(f"must be an amount such as '5000.00' (got {value!r})")
        try:
            amount = Decimal(str(value).strip())
        except ArithmeticError:
            raise _problem(f"must be an amount such as '5000.00' (got {value!r})") from None
        if not amount.is_finite() or amount <= 0:
            raise _problem(f"must be a positive amount such as '5000.00' (got {value!r})")
        return amount

    @model_validator(mode="after")
    def _one_rule(self) -> KindPolicy:
        if self.auto and self.auto_below is not None:
            raise _problem("give either 'auto: true' (everything flows) or 'auto_below' (an amount), not both",
                           "auto_below")
        return self

    def flows(self, amount: Decimal | None, allocation_status: str | None) -> tuple[bool, str]:
        """Whether a command of ``amount`` (None: it carries none) made from an allocation of
        ``allocation_status`` flows without a person, and why (said to the approvers)."""
        if self.allocation_status is not None and allocation_status not in self.allocation_status:
            shown = allocation_status or "no allocation"
            return False, f"{shown} is not among the statuses that flow ({', '.join(self.allocation_status)})"
        if self.auto:
            return True, "flows without approval (auto: true)"
        if self.auto_below is None:
            return False, "every command of this kind waits for approval"
        if amount is None:
            return False, "it carries no amount (auto_below applies to amounts)"
        if amount < self.auto_below:
            return True, f"{amount} is below {self.auto_below}"
        return False, f"{amount} is not below {self.auto_below}"


class WriteBackApprovalConfig(_Section):
    """A source's write-back approval: per kind what flows without a person (anything else waits,
    and a kind without an entry waits entirely), who may approve, how long Airflow waits."""

    policy: dict[WriteBackKind, KindPolicy] = Field(
        default_factory=dict, description=f"a mapping of write-back kind ({', '.join(typing.get_args(WriteBackKind))}) "
                                          "to {auto: true} or {auto_below: '5000.00', allocation_status: [auto]}")
    approvers: tuple[str, ...] = Field(default=(), description="a list of Airflow user names who may approve "
                                                               "(empty: anyone allowed to approve in Airflow, the "
                                                               "review page or the command line)")
    response_timeout: dt.timedelta = Field(default=DEFAULT_RESPONSE_TIMEOUT,
                                           description="a duration such as 24h, 90m, 2d or 3600 (seconds): how "
                                                       "long Airflow waits for an answer")
    on_timeout: Literal["refuse", "wait"] = Field(default="refuse",
                                                  description="refuse (the waiting commands are refused, never "
                                                              "sent) or wait (they keep waiting for the next run)")

    @field_validator("approvers", mode="before")
    @classmethod
    def _approvers(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
            raise _problem("must be a list of Airflow user names such as [alice, bob]")
        return tuple(v.strip() for v in value)

    @field_validator("response_timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, dt.timedelta):
            return value
        match = _DURATION_RE.match(str(value)) if isinstance(value, str | int) and not isinstance(value, bool) else None
        if match is None or int(match.group(1)) <= 0:
            raise _problem(f"must be a positive duration such as 24h, 90m, 2d or 3600 (seconds) (got {value!r})")
        return dt.timedelta(seconds=int(match.group(1)) * _DURATION_UNITS[match.group(2)])

    def flows(self, kind: str, amount: Decimal | None, allocation_status: str | None) -> tuple[bool, str]:
        """Whether a command flows without a person, and why; a kind with no policy waits."""
        rule = self.policy.get(kind)  # type: ignore[call-overload]
        if rule is None:
            return False, f"no policy for {kind} commands: they wait for approval"
        return rule.flows(amount, allocation_status)


# -- sources ---------------------------------------------------------------------------------
class SourceConfig(_Section):
    """One system the hub pulls from: a connector kind, a connection id, its streams and options."""

    name: str = Field(description="a unique lower-case name such as erp_acme; it becomes the 'source' of "
                                  "every stored record")
    kind: str = Field(description="a connector kind such as tryton (connectors.REGISTRY)")
    connection: str = Field(min_length=1, description="a connection id such as erp_acme_db (the credentials are "
                                                      "in that connection: Airflow's, or O2C_CONN_<ID>)")
    streams: tuple[str, ...] = Field(default=("customers", "invoices"),
                                     description=f"a list among {', '.join(STREAM_DOCUMENTS)}")
    mapping: str | None = Field(default=None, description="a folder under mappings/ (default: the kind)")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="a mapping of the connector's options, e.g. {batch_size: 200}")
    start: dt.datetime | None = Field(default=None, description="an ISO date-time such as 2026-01-01T00:00:00Z: "
                                                                "where the first sync starts")
    enabled: bool = Field(default=True, description="true or false")
    writeback: WriteBackApprovalConfig = Field(default_factory=WriteBackApprovalConfig,
                                               description="a mapping {policy: {payment: {auto_below: '5000.00'}}, "
                                                           "approvers: [alice], response_timeout: 24h}")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value, "erp_acme")

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        from connectors import REGISTRY

        if value not in REGISTRY:
            raise _problem(f"unknown kind {value!r}; write one of {', '.join(sorted(REGISTRY))}")
        return value

    @field_validator("streams", mode="before")
    @classmethod
    def _streams_default(cls, value: Any) -> Any:
        return value or ("customers", "invoices")  # an empty list is the default, as before

    @field_validator("streams")
    @classmethod
    def _streams(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in value if s not in STREAM_DOCUMENTS]
        if bad:
            raise _problem(f"unknown stream(s) {', '.join(map(repr, bad))}; write a list among "
                           f"{', '.join(STREAM_DOCUMENTS)}")
        return value

    @field_validator("start")
    @classmethod
    def _start_utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value

    @property
    def mapping_folder(self) -> str:
        return self.mapping or self.kind

    def load_mapping(self, stream: str) -> Any:
        """The checked mapping of ``stream`` (a :class:`mappings.mapper.Mapping`); None for a stream
        whose records are not mapped (``rates``)."""
        from mappings.mapper import load_mapping, mapping_path

        if STREAM_DOCUMENTS[stream] not in MAPPED_DOCUMENTS:
            return None
        return load_mapping(mapping_path(self.mapping_folder, STREAM_DOCUMENTS[stream]))


# -- banks -----------------------------------------------------------------------------------
class BankConfig(_Section):
    """One bank dropping statement files on an SFTP server (``config/banks.example.yaml``)."""

    unknown_key_hint: ClassVar[str] = "credentials belong in the connection, not in this file"

    name: str = Field(description="a unique lower-case name such as bnp; it becomes the 'source' of its "
                                  "stored statements")
    connection: str = Field(min_length=1, description="a connection id such as sftp_bank_bnp (credentials and "
                                                      "pinned host key: Airflow's, or O2C_CONN_<ID>)")
    host: str | None = Field(default=None, description="a host name (overrides the connection's host)")
    port: int | None = Field(default=None, description="a port number (overrides the connection's port)")
    folder: str = Field(default=".", description="the folder the bank drops files into, e.g. /outgoing/statements")
    patterns: tuple[str, ...] = Field(default=("*",), description="a list of file name patterns such as '*.xml'")
    archive_folder: str | None = Field(default=None, description="a folder on the server to move processed "
                                                                 "files to")
    delete_after: bool = Field(default=False, description="true to delete processed files from the server")
    settle_seconds: float = Field(default=10.0, ge=0, description="a number of seconds >= 0 (a file whose size or "
                                                                  "time changes over it is left for the next run)")
    enabled: bool = Field(default=True, description="true or false")
    # larger files are refused at download; None: edi.limits.max_bytes("bank_file") (O2C_MAX_BANK_FILE_BYTES)
    max_file_bytes: int | None = Field(default=None, description="a positive whole number of bytes")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value, "bnp")

    @field_validator("host", "archive_folder", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None

    @field_validator("folder", mode="before")
    @classmethod
    def _folder(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else (value or ".")

    @field_validator("patterns", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not value or not all(isinstance(p, str) and p for p in value):
            raise _problem("must be a list of file name patterns such as '*.xml'")
        return value

    @field_validator("max_file_bytes", mode="before")
    @classmethod
    def _max_file_bytes(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise _problem(f"must be a positive whole number of bytes (got {value!r}); write e.g. 104857600 for "
                           "100 MiB, or leave it out for the default (O2C_MAX_BANK_FILE_BYTES, else 2 GiB)")
        return value

    @model_validator(mode="after")
    def _archive_or_delete(self) -> BankConfig:
        if self.archive_folder and self.delete_after:
            raise _problem("give either 'archive_folder' or 'delete_after', not both", "delete_after")
        return self


# -- e-invoicing -----------------------------------------------------------------------------
def _check_format(value: str) -> str:
    from edi.einvoice import FORMATS

    if value not in FORMATS:
        raise _problem(f"unknown format {value!r}; write one of {', '.join(FORMATS)}")
    return value


class CustomerFormat(_Section):
    """The e-invoice format one buyer wants, by SIREN (checked first) or VAT id."""

    siren: str | None = Field(default=None, description="the buyer's SIREN, e.g. '512348707'")
    vat_id: str | None = Field(default=None, description="the buyer's VAT id, e.g. DE814529638")
    format: str = Field(description="an e-invoice format such as ubl (edi.einvoice.FORMATS)")

    @field_validator("siren", "vat_id", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        return _check_format(value)

    @model_validator(mode="after")
    def _identified(self) -> CustomerFormat:
        if not self.siren and not self.vat_id:
            raise _problem("needs siren or vat_id: write {siren: '512348707', format: ubl}")
        return self


#: BR-FR-05: the seller's legal payment notes (BG-1), by setting key -> UNTDID 4451 subject code (BT-21)
PAYMENT_NOTE_SUBJECTS = {"recovery_fee": "PMT", "late_penalties": "PMD", "early_payment_discount": "AAB"}


class PaymentNotes(_Section):
    """The seller's legal payment notes (French Code de commerce L441-9; BR-FR-05 on EXTENDED-CTC-FR):
    the fixed recovery fee (PMT), the late-payment penalties (PMD), the early-payment discount or
    its absence (AAB). They are a seller's general terms of sale, which an ERP's invoice seldom
    carries; the outbound job adds them as BG-1 notes to an invoice that lacks a note of that
    subject. For one seller (its SIREN), one source, or, with neither, every invoice."""

    seller_siren: str | None = Field(default=None, description="the seller's SIREN, e.g. '843129453'")
    source: str | None = Field(default=None, description="a source name such as tryton_demo")
    recovery_fee: str | None = Field(default=None, min_length=1, max_length=1000,
                                     description="the PMT note, e.g. 'Indemnité forfaitaire pour frais de "
                                                 "recouvrement : 40 €.'")
    late_penalties: str | None = Field(default=None, min_length=1, max_length=1000,
                                       description="the PMD note, e.g. 'Pénalités de retard : trois fois le taux "
                                                   "d'intérêt légal.'")
    early_payment_discount: str | None = Field(default=None, min_length=1, max_length=1000,
                                               description="the AAB note, e.g. \"Pas d'escompte pour paiement "
                                                           "anticipé.\"")

    @field_validator("seller_siren", mode="before")
    @classmethod
    def _siren(cls, value: Any) -> Any:
        value = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(value, str) and not re.fullmatch(r"\d{9}", value.replace(" ", "")):
            raise _problem(f"{value!r} is not a SIREN: write the seller's 9 digits in quotes, e.g. '843129453'")
        return value.replace(" ", "") if isinstance(value, str) else value

    @model_validator(mode="after")
    def _some_note(self) -> PaymentNotes:
        if not any(getattr(self, key) for key in PAYMENT_NOTE_SUBJECTS):
            raise _problem(f"gives no note: write at least one of {', '.join(PAYMENT_NOTE_SUBJECTS)}")
        if self.seller_siren and self.source:
            raise _problem("give either 'seller_siren' or 'source', not both (neither: every invoice)", "source")
        return self

    @property
    def scope(self) -> str:
        return f"seller_siren {self.seller_siren}" if self.seller_siren else (
            f"source {self.source}" if self.source else "every invoice")

    def notes(self) -> dict[str, str]:
        """Subject code -> text of the notes this entry gives."""
        return {code: getattr(self, key) for key, code in PAYMENT_NOTE_SUBJECTS.items() if getattr(self, key)}


class FolderChannel(_Section):
    """Documents written into a local folder (a platform's drop folder, or an outbox)."""

    kind: Literal["folder"] = "folder"
    path: str = Field(default="outbox", min_length=1,
                      description="a folder; a relative one is under $O2C_HOME (default: outbox)")


class SftpChannel(_Section):
    """Documents uploaded to a platform's SFTP folder (key authentication, pinned host key)."""

    kind: Literal["sftp"] = "sftp"
    connection: str = Field(min_length=1, description="a connection id such as pa_sftp (key and pinned host "
                                                      "key: Airflow's, or O2C_CONN_<ID>)")
    folder: str = Field(default=".", description="the platform's folder, e.g. /in")


class HttpChannel(_Section):
    """Documents POSTed to a platform's HTTP API."""

    kind: Literal["http"] = "http"
    url: str = Field(min_length=1, description="the platform's URL, e.g. https://pa.example/api/invoices")
    connection: str | None = Field(default=None, description="a connection id holding the login and password")


Channel = Annotated[FolderChannel | SftpChannel | HttpChannel, Field(discriminator="kind")]


class EInvoicingConfig(_Section):
    """Formats and delivery of outbound e-invoices (``config/einvoicing.example.yaml``)."""

    default_format: str = Field(default="facturx-en16931",
                                description="an e-invoice format such as facturx-en16931 (edi.einvoice.FORMATS)")
    customers: tuple[CustomerFormat, ...] = Field(default=(), description="a list of {siren or vat_id, format}")
    channel: Channel = Field(default_factory=FolderChannel,
                             description="{kind: folder, path: ...}, {kind: sftp, connection: ..., folder: ...} "
                                         "or {kind: http, url: ..., connection: ...}")
    sources: tuple[str, ...] | None = Field(default=None, description="a list of source names whose invoices are "
                                                                      "issued (default: all)")
    payment_notes: tuple[PaymentNotes, ...] = Field(
        default=(), description="a list of {seller_siren or source (or neither: every invoice), recovery_fee, "
                                "late_penalties, early_payment_discount}")

    @field_validator("default_format")
    @classmethod
    def _format(cls, value: str) -> str:
        return _check_format(value)

    @field_validator("payment_notes")
    @classmethod
    def _one_entry_per_scope(cls, items: tuple[PaymentNotes, ...]) -> tuple[PaymentNotes, ...]:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.scope in seen:
                raise _problem(f"{item.scope} has two entries; merge them into one", i)
            seen.add(item.scope)
        return items

    def payment_notes_for(self, inv: Any, source: str | None = None) -> PaymentNotes | None:
        """The payment notes entry of ``inv`` (from ``source``): its seller's SIREN, else the
        source's, else the one for every invoice; None when the settings give none."""
        by_scope = {p.scope: p for p in self.payment_notes}
        siren = inv.seller.siren
        return (by_scope.get(f"seller_siren {siren}") if siren else None) or (
            by_scope.get(f"source {source}") if source else None) or by_scope.get("every invoice")

    @property
    def by_siren(self) -> dict[str, str]:
        return {c.siren: c.format for c in self.customers if c.siren}

    @property
    def by_vat(self) -> dict[str, str]:
        return {c.vat_id.upper(): c.format for c in self.customers if c.vat_id and not c.siren}

    def format_for(self, inv: Any) -> str:
        """The format of ``inv`` (a :class:`schemas.invoice.Invoice`): its buyer's, else the default."""
        if inv.buyer.siren and inv.buyer.siren in self.by_siren:
            return self.by_siren[inv.buyer.siren]
        if inv.buyer.vat_id and inv.buyer.vat_id.upper() in self.by_vat:
            return self.by_vat[inv.buyer.vat_id.upper()]
        return self.default_format

    def under(self, home: Path) -> EInvoicingConfig:
        """This configuration with a relative folder channel placed under ``home`` ($O2C_HOME)."""
        if isinstance(self.channel, FolderChannel) and not Path(self.channel.path).is_absolute():
            return self.model_copy(update={"channel": FolderChannel(path=str(home / self.channel.path))})
        return self


# -- the file --------------------------------------------------------------------------------
class DunningLevel(_Section):
    """One dunning level: from how many days past due, and the least a reminder at it asks for."""

    level: int = Field(ge=1, le=9, description="a number from 1 to 9")
    days: int = Field(ge=0, le=3650, description="days past due from which an invoice is at this level, e.g. 30")
    min_amount: Decimal = Field(default=Decimal(0), ge=0, description="an amount such as \"20.00\"")


class CollectionsConfig(_Section):
    """The ``collections:`` section: the dunning policy (matching.dunning.Policy) and who sends reminders."""

    levels: tuple[DunningLevel, ...] = Field(default=(DunningLevel(level=1, days=10), DunningLevel(level=2, days=30),
                                                      DunningLevel(level=3, days=60)),
                                             description="a list of levels with increasing days")
    annual_rate: Decimal = Field(default=Decimal(0), ge=0, le=1, description="the yearly late-payment interest rate as "
                                 "a fraction, e.g. \"0.1215\" (France: the ECB rate + 10 points)")
    indemnity: Decimal = Field(default=Decimal(0), ge=0, description="the fixed recovery indemnity per invoice, "
                               "e.g. \"40.00\" (France, between businesses)")
    indemnity_currency: str = Field(default="EUR", pattern="^[A-Z]{3}$", description="an ISO 4217 code such as EUR")
    possibly_paid_days: int = Field(default=10, ge=0, le=365, description="days of unreviewed cash that hold a reminder")
    promise_grace_days: int = Field(default=3, ge=0, le=90, description="days after a promised date before it is broken")
    repeat_days: int = Field(default=7, ge=0, le=365, description="days before a customer is reminded again at the "
                             "same level")
    sender_name: str = Field(default="Service recouvrement", description="the name reminders are sent under")
    sender_email: str | None = Field(default=None, pattern=r"^[^@\s<>]+@[^@\s<>]+$",
                                     description="the From address, e.g. recouvrement@example.com")
    reply_to: str | None = Field(default=None, pattern=r"^[^@\s<>]+@[^@\s<>]+$",
                                 description="where customers' answers go, e.g. compta@example.com")
    smtp_connection: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]+$",
                                        description="the connection id of the SMTP server, e.g. smtp_relay "
                                                    "(O2C_CONN_SMTP_RELAY=smtp://login:password@host:587?security=starttls)")
    default_language: Literal["fr", "en", "de"] = Field(default="fr", description="the language of a reminder when "
                                                        "the customer has none or one the hub has no text in: fr, en or de")
    attach_invoices: bool = Field(default=True, description="attach the invoices' PDFs the hub delivered (true/false)")
    approval_above: Decimal | None = Field(default=None, ge=0, description="a reminder asking for more than this "
                                           "amount waits for approval, e.g. \"10000.00\"")
    approval_levels: tuple[int, ...] = Field(default=(), description="levels whose reminders wait for approval, e.g. [3]")
    send_attempts: int = Field(default=5, ge=1, le=100, description="transient SMTP failures before a reminder is failed")
    write_erp_level: bool = Field(default=True, description="write the level of each sent reminder to the ERP "
                                  "(Tryton account_dunning) (true/false)")

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: tuple[DunningLevel, ...]) -> tuple[DunningLevel, ...]:
        if not value:
            raise _problem("give at least one level, e.g. [{level: 1, days: 10}]")
        for i, (a, b) in enumerate(zip(value, value[1:], strict=False)):
            if b.days <= a.days or b.level <= a.level:
                raise _problem(f"levels must go up in level and days: level {b.level} at {b.days} days comes after "
                               f"level {a.level} at {a.days} days", i + 1)
        return value

    @model_validator(mode="after")
    def _approval_levels(self) -> CollectionsConfig:
        known = {lv.level for lv in self.levels}
        for i, level in enumerate(self.approval_levels):
            if level not in known:
                raise _problem(f"level {level} is not one of the levels ({', '.join(str(k) for k in sorted(known))}); "
                               "name a configured level", "approval_levels", i)
        return self

    def needs_approval(self, level: int, total: Decimal) -> str | None:
        """Why a reminder at ``level`` asking for ``total`` waits for approval, or None."""
        if level in self.approval_levels:
            return f"level {level} reminders are approved before they are sent"
        if self.approval_above is not None and total > self.approval_above:
            return f"{total} is above the approval threshold of {self.approval_above}"
        return None

    def policy(self) -> Any:
        """The :class:`matching.dunning.Policy` these settings describe."""
        from matching.dunning import Level, Policy

        return Policy(levels=tuple(Level(lv.level, lv.days, lv.min_amount) for lv in self.levels),
                      annual_rate=self.annual_rate, indemnity=self.indemnity, indemnity_currency=self.indemnity_currency,
                      possibly_paid_days=self.possibly_paid_days, promise_grace_days=self.promise_grace_days)


class ConfigFile(_Section):
    """A whole configuration file: ``sources:``, ``banks:`` and ``einvoicing:``, each optional."""

    sources: tuple[SourceConfig, ...] | None = Field(default=None, description="a list of sources "
                                                                               "(config/sources.example.yaml)")
    banks: tuple[BankConfig, ...] = Field(default=(), description="a list of banks (config/banks.example.yaml)")
    einvoicing: EInvoicingConfig | None = Field(default=None, description="the e-invoicing settings "
                                                                          "(config/einvoicing.example.yaml)")
    collections: CollectionsConfig | None = Field(default=None, description="the dunning policy (docs/collections.md)")

    @field_validator("sources", "banks")
    @classmethod
    def _unique_names(cls, items: tuple[Any, ...] | None, info: ValidationInfo) -> tuple[Any, ...] | None:
        what = {"sources": "source", "banks": "bank"}[str(info.field_name)]
        seen: set[str] = set()
        for i, item in enumerate(items or ()):
            if item.name in seen:
                raise _problem(f"duplicate {what} name {item.name!r}; each {what} needs its own name", i, "name")
            seen.add(item.name)
        return items


# -- reading ---------------------------------------------------------------------------------
class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if isinstance(key, typing.Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _example_for(path: Path) -> str:
    return {"O2C_BANKS": "banks", "O2C_EINVOICING": "einvoicing"}.get(_named_by(path) or "", "sources")


def _named_by(path: Path) -> str | None:
    """The environment variable naming ``path``, if one does."""
    for var in ("O2C_SOURCES", "O2C_BANKS", "O2C_EINVOICING"):
        value = os.environ.get(var)
        if value and Path(value) == path:
            return var
    return None


def _missing(path: Path) -> ConfigError:
    from o2c.settings import get_settings

    var = _named_by(path)
    example = f"config/{_example_for(path)}.example.yaml"
    if var:
        why = f"named by {var}"
        alternative = f", or point {var} at your file"
    elif path == get_settings().home / "sources.yaml":
        why = "the default sources file, $O2C_HOME/sources.yaml"
        alternative = ", or set O2C_SOURCES to your sources file"
    else:
        why, alternative = "", ""
    return ConfigError(f"{path}: no such configuration file{f' ({why})' if why else ''}. Create it: copy {example} "
                       f"(in the o2c-hub repository) to {path} and adapt it{alternative}")


def read_yaml(path: Path) -> Any:
    """The YAML document in ``path``: size-bounded, safe (no Python objects), no key given twice."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise _missing(path) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: over {MAX_CONFIG_BYTES} bytes; a configuration file is a few kilobytes "
                          "(is this the right file?)")
    try:
        return yaml.load(data.decode("utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None


def validate(model: type[_Section], raw: Any, path: Path) -> Any:
    """``raw`` as ``model``, or one :class:`ConfigError` naming ``path``, each key path and what to write."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        keys = ", ".join(f"{k}:" for k in model.model_fields)
        raise ConfigError(f"{path}: expected a mapping at the top level (keys {keys}), got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = list(_describe(model, exc))
        if len(lines) == 1:
            raise ConfigError(f"{path}: {lines[0]}") from None
        shown = lines[:MAX_PROBLEMS]
        more = f"\n  ... and {len(lines) - MAX_PROBLEMS} more" if len(lines) > MAX_PROBLEMS else ""
        raise ConfigError(f"{path}: {len(lines)} problems:\n  " + "\n  ".join(shown) + more) from None


def load_config(path: str | Path | None = None) -> ConfigFile:
    """The configuration file ``path`` (default: the sources file, ``$O2C_SOURCES`` or
    ``$O2C_HOME/sources.yaml``), every section checked; a missing file is a :class:`ConfigError`."""
    if path is None:
        from o2c.settings import get_settings

        path = get_settings().sources_file
    path = Path(path)
    return validate(ConfigFile, read_yaml(path), path)  # type: ignore[no-any-return]


def load_sources_section(path: str | Path | None = None) -> tuple[SourceConfig, ...]:
    """The ``sources:`` section of ``path`` (default: the sources file); a file without one is an error."""
    from o2c.settings import get_settings

    path = Path(path) if path is not None else get_settings().sources_file
    config = load_config(path)
    if config.sources is None:
        raise ConfigError(f"{path}: no 'sources:' section; write a list of sources (see config/sources.example.yaml)")
    return config.sources


def banks_file() -> Path:
    """Where the ``banks:`` section is read from: ``$O2C_BANKS``, else the sources file."""
    from o2c.settings import get_settings

    env = os.environ.get("O2C_BANKS")
    return Path(env) if env else get_settings().sources_file


def load_banks_section(path: str | Path | None = None) -> tuple[BankConfig, ...]:
    """The ``banks:`` section of ``path`` (default: :func:`banks_file`); none written is no bank."""
    return load_config(Path(path) if path is not None else banks_file()).banks


def load_einvoicing(path: str | Path | None = None, *, home: Path | None = None) -> EInvoicingConfig:
    """The e-invoicing settings, a relative folder channel placed under ``home`` (default ``$O2C_HOME``).

    ``path`` is an e-invoicing file (its keys at the top level) that must exist. Without it: the
    file named by ``$O2C_EINVOICING`` (which must exist), else ``$O2C_HOME/einvoicing.yaml`` when
    it exists, else the ``einvoicing:`` section of the sources file when it has one, else the
    defaults. Settings both in their own file and in the sources file are an error: which one was
    meant cannot be guessed."""
    from o2c.settings import get_settings

    settings = get_settings()
    home = home or settings.home
    if path is not None:
        return validate(EInvoicingConfig, read_yaml(Path(path)), Path(path)).under(home)  # type: ignore[no-any-return]
    own = settings.einvoicing_file
    has_own = bool(os.environ.get("O2C_EINVOICING")) or own.is_file()
    section = load_config(settings.sources_file).einvoicing if settings.sources_file.is_file() else None
    if has_own and section is not None:
        raise ConfigError(f"{own}: e-invoicing is configured twice, in this file and in the 'einvoicing:' section of "
                          f"{settings.sources_file}; keep one of the two")
    if has_own:
        return validate(EInvoicingConfig, read_yaml(own), own).under(home)  # type: ignore[no-any-return]
    return (section or EInvoicingConfig()).under(home)


def load_collections() -> CollectionsConfig:
    """The ``collections:`` section of the sources file, or the defaults (levels at 10, 30 and 60
    days; no interest nor indemnity unless configured)."""
    from o2c.settings import get_settings

    settings = get_settings()
    section = load_config(settings.sources_file).collections if settings.sources_file.is_file() else None
    return section or CollectionsConfig()


# -- error messages --------------------------------------------------------------------------
def _describe(model: type[BaseModel], exc: ValidationError) -> Iterator[str]:
    """One line per problem of ``exc``: the key path, what is wrong, what to write."""
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        loc = tuple(err["loc"]) + tuple(ctx.get("at", ()))
        owner, field, shown = _walk(model, loc)
        # the key's own field: its description says what to write (an item of a list has none of its own)
        info = owner.model_fields.get(field) if owner is not None and loc and isinstance(loc[-1], str) else None
        hint = f"; write {info.description}" if info is not None and info.description else ""
        kind = err["type"]
        if kind == "o2c_config":
            message = ctx["message"]
        elif kind == "extra_forbidden":
            known = ", ".join(owner.model_fields) if owner is not None else ""
            extra = getattr(owner, "unknown_key_hint", "")
            message = f"unknown key (known: {known})" + (f"; {extra}" if extra else "")
        elif kind == "missing":
            message = f"missing{hint}"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            shown = f"{shown}.kind" if shown else "kind"
            tags = (ctx.get("expected_tags") or "'folder', 'sftp', 'http'").replace("'", "")
            message = f"must be one of {tags}" + (f" (got {ctx['tag']!r})" if "tag" in ctx else "")
        elif kind in ("tuple_type", "list_type"):
            message = f"must be a list{hint}"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            message = f"must be a mapping (key: value){hint}"
        elif kind == "string_too_short":
            message = f"must not be empty{hint}"
        else:
            said = err["msg"].replace("Input should be", "should be").replace("Input", "the value")
            message = f"{said}{_got(err.get('input'))}{hint}"
        yield f"{shown}: {message}" if shown else message


def _got(value: Any) -> str:
    if isinstance(value, str | int | float | bool):
        text = repr(value)
        return f" (got {text if len(text) <= 60 else text[:57] + '...'})"
    return ""


def _walk(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[type[BaseModel] | None, Any, str]:
    """Follow ``loc`` through the models: the model owning its last key, that key, and the key
    path as written in the file (``banks[1].max_file_bytes``; a union's tag is not shown)."""
    shown = ""
    current: Any = model
    owner: type[BaseModel] | None = None
    field: Any = None
    for part in loc:
        if isinstance(part, int):
            shown += f"[{part}]"
            current = _element(current)
            continue
        if part == "[key]":  # the problem is the mapping's key itself, already shown
            continue
        if typing.get_origin(_strip_optional(current)) is dict:  # a mapping's key (policy.payment): its value's model
            shown += f".{part}" if shown else str(part)
            current = _strip_optional(typing.get_args(_strip_optional(current))[1])
            owner, field = None, part
            continue
        members = _union_members(current)
        if members is not None:  # a discriminated union: the part is the tag, not a key
            current = next((m for m in members if m.model_fields["kind"].default == part), None)
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            owner, field = current, part
            shown += f".{part}" if shown else str(part)
            info = current.model_fields.get(part)
            current = _strip_optional(info.annotation) if info is not None else None
            continue
        if part != "[key]":
            shown += f".{part}" if shown else str(part)
        owner, field = None, part
    return owner, field, shown


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _strip_optional(args[0])
    return tp


def _element(tp: Any) -> Any:
    tp = _strip_optional(tp)
    if typing.get_origin(tp) in (tuple, list):
        return _strip_optional(typing.get_args(tp)[0])
    return None


def _union_members(tp: Any) -> list[type[BaseModel]] | None:
    tp = _strip_optional(tp)
    if typing.get_origin(tp) in (Union, types.UnionType):
        members = typing.get_args(tp)
        if all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
            return list(members)
    return None
