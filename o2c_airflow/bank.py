"""Airflow glue of bank statement ingestion: the SFTP hook and the task runtimes of
``bank_statement_ingest``. The work is in :mod:`o2c.jobs.bank` and :mod:`transport`.

Why a hook of our own rather than the provider's ``SFTPSensor``/``SFTPHook``: the check must
know the file ledger (a bank that keeps its files on the server would make a plain sensor fire
on every run), must apply the settle delay (a file still being written is not "new"), takes
several patterns per bank, and must use the same pinned-host-key transport as ``o2c bank fetch``
so that the CLI and the DAG cannot drift apart. :class:`O2CSftpHook` reads the same Airflow
SFTP/SSH connection the provider would (extras ``private_key``/``key_file``, ``host_key``), so one
connection serves both.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowSkipException

from o2c_airflow.runtime import airflow_errors, run_context, task_store

log = logging.getLogger(__name__)


class O2CSftpHook(BaseHook):
    """Resolve an SFTP connection id (``sftp_bank_bnp``) to :class:`transport.sftp.SftpSettings`.

    Host, port and login come from the connection; the private key (``private_key`` PEM text or
    ``key_file``), its passphrase (``private_key_passphrase``) and the pinned ``host_key`` from its
    extras. ``no_host_key_check`` is refused.
    """

    conn_name_attr = "sftp_conn_id"
    default_conn_name = "sftp_default"
    conn_type = "sftp"
    hook_name = "o2c-hub SFTP (pinned host key)"

    def __init__(self, sftp_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sftp_conn_id = sftp_conn_id

    def get_sftp_settings(self) -> Any:
        from transport.sftp import SftpSettings

        conn = self.get_connection(self.sftp_conn_id)
        return SftpSettings.from_connection(host=conn.host or "", port=conn.port, login=conn.login,
                                            password=conn.password, extra=dict(conn.extra_dejson or {}))


def _bank_and_client(name: str) -> tuple[Any, Any]:
    from o2c.banks import get_bank
    from transport.sftp import SftpClient

    bank = get_bank(name)
    settings = O2CSftpHook(bank.connection).get_sftp_settings().with_address(bank.host, bank.port)
    return bank, SftpClient(settings)


def enabled_bank_names() -> list[str]:
    from o2c.banks import load_banks

    with airflow_errors():
        return [b.name for b in load_banks() if b.enabled]


def check_bank(name: str) -> dict[str, Any]:
    """List the bank's folder: settled new files, files still being written, files only to archive,
    and the files refused at listing (unsafe names), which the summary reports.

    Skips (the rest of this bank's tasks too) when there is nothing to do or report.
    """
    from o2c.jobs.bank import check

    with airflow_errors():
        bank, client = _bank_and_client(name)
        with client:
            new, growing, known = check(client, bank, task_store())
    result = {"bank": name, "new": [f.as_dict() for f in new], "growing": [f.name for f in growing],
              "known": [f.as_dict() for f in known] if (bank.archive_folder or bank.delete_after) else [],
              "refused": [r.as_dict() for r in client.refused]}
    if not result["new"] and not result["known"] and not result["refused"]:
        raise AirflowSkipException(f"{name}: no new settled file"
                                   + (f" ({len(growing)} still being written)" if growing else ""))
    return result


def fetch_bank(listing: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Download the listed files into the staging folder of this DAG run (``run_id``)."""
    from o2c.jobs.bank import fetch, staging_dir
    from o2c.settings import get_settings
    from transport.sftp import RemoteFile

    name = listing["bank"]
    folder = staging_dir(get_settings().home / "staging" / "bank", name, run_id)
    with airflow_errors():
        bank, client = _bank_and_client(name)
        with client:
            staged, later = fetch(client, bank, [RemoteFile(**f) for f in listing["new"]], folder)
    return {**listing, "staged": [sf.as_dict() for sf in staged], "left_for_later": later,
            "refused": list(listing.get("refused", [])) + [r.as_dict() for r in client.refused]}


def ingest_bank(fetched: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Ledger, parse, store (one transaction per file), then archive on the server; returns the summary."""
    from o2c.jobs.bank import STREAM, BankRunSummary, finish_remote, ingest, known_outcomes, record_run
    from transport.sftp import RemoteFile, StagedFile

    name = fetched["bank"]
    store = task_store()
    summary = BankRunSummary(bank=name, growing=list(fetched.get("growing", [])),
                             left_for_later=list(fetched.get("left_for_later", [])),
                             refused=list(fetched.get("refused", [])))
    summary.checked = len(fetched.get("new", [])) + len(summary.growing) + len(fetched.get("known", []))
    with store.run(source=name, stream=STREAM, context=run_context(context)) as run:
        summary.run_id = run.id
        try:
            with airflow_errors():
                bank, client = _bank_and_client(name)
                summary.files = ingest(store, name, [StagedFile(**sf) for sf in fetched["staged"]], run_id=run.id,
                                       max_bytes=bank.max_file_bytes)  # the bank's own limit holds at parse too
                done = summary.files + known_outcomes([RemoteFile(**f) for f in fetched.get("known", [])])
                if bank.archive_folder or bank.delete_after:
                    with client:
                        finish_remote(client, bank, done)
        finally:
            record_run(run, summary)
    for line in summary.lines():
        log.info("%s", line)
    result = summary.as_dict()
    result["files"] = result["files"][:50]  # XCom carries counts and a sample, never documents
    return result


def publish_bank(summary: dict[str, Any], event: Any) -> dict[str, Any]:
    """Let the bank statements asset event out only when this bank stored at least one new statement.

    In Airflow 3 a task emits an event for each asset in its ``outlets`` when it *succeeds*, and
    none when it is skipped (``AirflowSkipException``); an outlet cannot be withheld from a task
    that succeeds. So the ``publish`` task carries the outlet and skips when the ingest summary
    shows no statement stored (only duplicates, files already seen, or quarantined files), and
    ``cash_application`` is not triggered for nothing. ``event`` is the task's outlet event
    accessor (``outlet_events[asset]``); it gets counts only, never file names or accounts.
    """
    stored = int(summary.get("statements_stored") or 0)
    if stored <= 0:
        raise AirflowSkipException(
            f"{summary.get('bank')}: no new statement stored (duplicates {summary.get('duplicates', 0)}, "
            f"quarantined {summary.get('quarantined', 0)}): bank statements asset not updated")
    extra = {"bank": summary.get("bank"), "statements_stored": stored,
             "entries_stored": int(summary.get("entries_stored") or 0)}
    event.extra = extra
    log.info("%s: %d new statement(s) stored: bank statements asset updated", summary.get("bank"), stored)
    return extra


def report_banks(summaries: Any) -> dict[str, Any]:
    """Totals over the banks' ingest summaries (skipped banks have none)."""
    if isinstance(summaries, dict):  # a single pushed value is not always wrapped in a sequence
        summaries = [summaries]
    done = [s for s in (summaries or []) if isinstance(s, dict)]
    keys = ("ingested", "duplicates", "quarantined", "statements_stored", "entries_stored", "conflicts", "refused")
    totals = {k: sum(s.get(k, 0) for s in done) for k in keys}
    gaps = [{"bank": s["bank"], **g} for s in done for g in s["sequence_gaps"]]
    log.info("banks with new files: %d; %s", len(done), ", ".join(f"{k} {v}" for k, v in totals.items()))
    for g in gaps:
        log.warning("SEQUENCE GAP %s account %s: statements %s..%s missing", g["bank"], g["account"],
                    g["missing_from"], g["missing_to"])
    return {"banks": len(done), **totals, "sequence_gaps": gaps}
