"""Where the hub keeps its data and how it reaches its store: environment variables only.

- ``O2C_HOME``: the data directory (default ``./var`` under the current directory). The embedded
  store ``o2c.sqlite``, quarantined payloads and staged files live there.
- ``O2C_DATABASE_URL``: a SQLAlchemy URL; default ``sqlite:///$O2C_HOME/o2c.sqlite``. Production:
  ``postgresql+psycopg://user@host:5432/o2c``.
- ``O2C_SOURCES``: the sources file (default ``$O2C_HOME/sources.yaml``). There is no fallback:
  without the file, reading the sources is a ``ConfigError`` saying how to create it.
- ``O2C_BANKS``: the file with the ``banks:`` section (default: the sources file).
- ``O2C_EINVOICING``: the e-invoicing settings (default ``$O2C_HOME/einvoicing.yaml``; without
  one, the ``einvoicing:`` section of the sources file, else Factur-X EN 16931 for every customer
  into ``$O2C_HOME/outbox``).

The files themselves are modelled, read and checked by :mod:`o2c.config`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    sources_file: Path
    einvoicing_file: Path

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("O2C_HOME") or Path.cwd() / "var").resolve()
        url = os.environ.get("O2C_DATABASE_URL") or f"sqlite:///{home / 'o2c.sqlite'}"
        sources_file = Path(os.environ.get("O2C_SOURCES") or home / "sources.yaml")
        einvoicing = Path(os.environ.get("O2C_EINVOICING") or home / "einvoicing.yaml")
        return cls(home=home, database_url=url, sources_file=sources_file, einvoicing_file=einvoicing)


def get_settings() -> Settings:
    return Settings.from_env()
