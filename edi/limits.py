"""Size limits for everything that comes from outside, one place, one name per kind of file.

Bank servers, partners, platforms and ERPs are not trusted: a file over its kind's limit is a
:class:`~schemas.errors.TooLarge` rejection (quarantined like any rejected document), checked
at download and again at parse. Each limit has a default here and can be set per deployment
with the environment variable ``O2C_MAX_<KIND>_BYTES`` (e.g. ``O2C_MAX_BANK_FILE_BYTES=4294967296``);
a bank's own ``max_file_bytes`` setting (``banks.yaml``) lowers or raises it for that bank only.

>>> max_bytes("einvoice")
52428800
>>> check_size("einvoice", 60 * 2**20, document_id="FA-1.xml")
Traceback (most recent call last):
...
schemas.errors.TooLarge: FA-1.xml: 62914560 bytes is over the 52428800-byte limit for einvoice files (O2C_MAX_EINVOICE_BYTES)
"""

from __future__ import annotations

import os

from schemas.errors import ConfigError, TooLarge

__all__ = ["DEFAULTS", "max_bytes", "check_size", "env_name"]

MiB = 2**20

#: kind -> default maximum size in bytes
DEFAULTS: dict[str, int] = {
    # statements stream (camt, MT940, CFONB 120, BAI2): memory stays flat, so the bound is about disk and time
    "bank_file": 2048 * MiB,
    # an e-invoice (CII / UBL XML or Factur-X PDF) is parsed whole: real ones are kilobytes to a few MB
    "einvoice": 50 * MiB,
    # the XML embedded in a Factur-X PDF, once decompressed
    "einvoice_attachment": 5 * MiB,
    # how many embedded files a Factur-X PDF may declare before it is refused
    "einvoice_attachment_count": 32,
    # a lifecycle status message (CDAR) from a platform
    "lifecycle": 5 * MiB,
    # a CSV / Excel export dropped by an ERP or CRM
    "filedrop": 512 * MiB,
}


def env_name(kind: str) -> str:
    """The environment variable that overrides ``kind``'s limit."""
    return f"O2C_MAX_{kind.upper()}_BYTES" if not kind.endswith("_count") else f"O2C_MAX_{kind.upper()}"


def max_bytes(kind: str) -> int:
    """The limit in force for ``kind``: the environment's override, else the default."""
    if kind not in DEFAULTS:
        raise KeyError(f"unknown size-limit kind {kind!r}; known: {', '.join(sorted(DEFAULTS))}")
    name = env_name(kind)
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return DEFAULTS[kind]
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: write a whole number of bytes, e.g. {DEFAULTS[kind]}") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r}: the limit must be a positive number of bytes")
    return value


def check_size(kind: str, size: int, *, document_id: str = "", limit: int | None = None,
               setting: str | None = None) -> None:
    """Raise :class:`TooLarge` when ``size`` is over ``limit`` (default: :func:`max_bytes` of ``kind``).

    The message names where the limit comes from: ``setting`` when the caller passed its own
    ``limit`` (e.g. a bank's ``max_file_bytes``), else the environment variable of ``kind``.

    >>> check_size("bank_file", 2000, document_id="a.sta", limit=1000, setting="bank bnp's max_file_bytes")
    Traceback (most recent call last):
    ...
    schemas.errors.TooLarge: a.sta: 2000 bytes is over the 1000-byte limit for bank files (bank bnp's max_file_bytes)
    """
    bound = max_bytes(kind) if limit is None else limit
    if size > bound:
        unit = "items" if kind.endswith("_count") else "bytes"
        where = setting if (limit is not None and setting) else env_name(kind)
        raise TooLarge(f"{size} {unit} is over the {bound}-{unit[:-1]} limit for "
                       f"{kind.removesuffix('_count').removesuffix('_file')} files ({where})", document_id=document_id)
