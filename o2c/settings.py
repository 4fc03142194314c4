"""Where the hub keeps its data and how it reaches its store: environment variables only.

- ``O2C_HOME``: the data directory (default ``./var`` under the current directory). The embedded
  store ``o2c.sqlite``, quarantined payloads and staged files live there.
- ``O2C_DATABASE_URL``: a SQLAlchemy URL; default ``sqlite:///$O2C_HOME/o2c.sqlite``. Production:
  ``postgresql+psycopg://user@host:5432/o2c``.
- ``O2C_SOURCES``: the sources file (default ``$O2C_HOME/sources.yaml``, else the bundled
  ``config/sources.example.yaml``).
- ``O2C_EINVOICING``: the e-invoicing settings (default ``$O2C_HOME/einvoicing.yaml``; without
  one, Factur-X EN 16931 for every customer into ``$O2C_HOME/outbox``).
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
        sources = os.environ.get("O2C_SOURCES")
        if sources:
            sources_file = Path(sources)
        elif (home / "sources.yaml").exists():
            sources_file = home / "sources.yaml"
        else:
            sources_file = PROJECT_ROOT / "config" / "sources.example.yaml"
        einvoicing = Path(os.environ.get("O2C_EINVOICING") or home / "einvoicing.yaml")
        return cls(home=home, database_url=url, sources_file=sources_file, einvoicing_file=einvoicing)


def get_settings() -> Settings:
    return Settings.from_env()
