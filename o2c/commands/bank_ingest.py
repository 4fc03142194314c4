"""``o2c bank ingest FILE...``: statement files received another way (an e-mail, a portal
download) go through the same exactly-once ledger as SFTP pick-ups."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import click


def staged_local(path: Path):  # type: ignore[no-untyped-def]
    from transport.sftp import StagedFile

    data = path.read_bytes()
    return StagedFile(local_path=str(path), remote_path=f"local:{path.name}", name=path.name, size=len(data),
                      mtime=int(path.stat().st_mtime), sha256=hashlib.sha256(data).hexdigest())


@click.command("ingest")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bank", "bank_name", required=True, help="The bank (or account holder) the files come from.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
def ingest(files: tuple[Path, ...], bank_name: str, as_json: bool) -> None:
    """Parse, check and store statement FILES exactly once (duplicates and bad files reported)."""
    from o2c.commands import open_store
    from o2c.jobs.bank import ingest_file
    from transport.redact import redact

    store = open_store()
    outcomes = [ingest_file(store, bank_name, staged_local(p), run_id=None) for p in files]
    # names and reasons can hold account numbers (a statement's IBAN, a bank's file naming): masked
    if as_json:
        click.echo(json.dumps([{"file": redact(o.name), "outcome": o.outcome, "reason": redact(o.reason) if o.reason else None}
                               for o in outcomes], indent=2))
    else:
        for o in outcomes:
            click.echo(f"{redact(o.name)}: {o.outcome}" + (f" ({redact(o.reason)})" if o.reason else ""))
    if any(o.outcome == "quarantined" for o in outcomes):
        sys.exit(1)
