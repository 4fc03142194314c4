"""E-invoices delivered to a platform's SFTP folder (real sshd, pinned host key), once."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from edi.einvoice import validate
from edi.samples import sample_invoice
from o2c.config import EInvoicingConfig, SftpChannel
from o2c.jobs.einvoice import deliver, outbound
from o2c.store import Store
from schemas.errors import FatalError
from schemas.invoice import SourceRef
from transport.sftp import SftpSettings

pytestmark = pytest.mark.sftp


def settings(sshd, host_key=None) -> SftpSettings:
    extra = sshd.extra()
    if host_key:
        extra = {**extra, "host_key": host_key}
    return SftpSettings.from_connection(host="127.0.0.1", port=sshd.port, login=sshd.user, password=None, extra=extra)


def test_outbound_to_platform_sftp_folder(sshd, tmp_path):
    folder = f"{uuid.uuid4().hex[:8]}/depot"
    inbox = sshd.folder(folder)
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    with store.session() as s:
        for seed in (1, 2, 3):
            inv = sample_invoice(seed)
            inv.source = SourceRef(system="erp", id=str(seed), updated_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
            store.upsert_invoice(s, inv, run_id=None)
    cfg = EInvoicingConfig(default_format="ubl", channel={"kind": "sftp", "folder": folder, "connection": "pa"})
    first = outbound(store, cfg, connection=settings(sshd))
    assert first.delivered == 3
    files = sorted(p for p in inbox.iterdir())
    assert len(files) == 3 and not [p for p in files if p.name.startswith(".")]  # no partial files left
    assert all(validate(p.read_bytes(), document_id=p.name).valid for p in files)
    assert outbound(store, cfg, connection=settings(sshd)).delivered == 0


def test_wrong_platform_host_key_is_refused(sshd):
    folder = f"{uuid.uuid4().hex[:8]}/depot"
    sshd.folder(folder)
    with pytest.raises(FatalError):
        deliver(SftpChannel(folder=folder, connection="pa"), "x.xml", b"<x/>",
                connection=settings(sshd, host_key=sshd.other_host_key))
