"""Outbound e-invoicing of real Tryton invoices: render, official validation, delivery, statuses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from edi import cdar
from edi.einvoice import validate
from o2c.config import EInvoicingConfig, SourceConfig
from o2c.jobs.einvoice import emit_encaissee, ingest_statuses, outbound
from o2c.jobs.sync import sync_source
from o2c.store import Store
from o2c.store.einvoice import EInvoiceDocument, LifecycleEvent
from tests.connectors.test_tryton_live import FAR_FUTURE, conn_info

pytestmark = [pytest.mark.tryton, pytest.mark.slow]


@pytest.fixture(scope="module")
def synced(tryton_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("einv")
    store = Store(f"sqlite:///{path / 'hub.sqlite'}")
    store.upgrade()
    sync_source(store, SourceConfig(name="tryton_demo", kind="tryton", connection="x"), conn_info(tryton_server), until=FAR_FUTURE)
    return store, path


def test_tryton_invoices_leave_as_valid_einvoices_once(synced):
    store, path = synced
    cfg = EInvoicingConfig(default_format="facturx-en16931",
                           customers=[{"siren": "512348707", "format": "ubl"}, {"vat_id": "DE814529638", "format": "cii"}],
                           channel={"kind": "folder", "path": str(path / "platform")})
    first = outbound(store, cfg)
    total = len(store.invoices())
    assert first.considered == total
    # every one leaves, intra-community supplies (VAT K) too: their delivery date and country
    # (BR-IC-11/12) come from the sale's shipment (tests/einvoice/test_tryton_mentions.py)
    assert (first.delivered, first.rejected, first.rejects) == (total, 0, [])
    files = sorted((path / "platform").iterdir())
    assert len(files) == first.delivered
    kinds = {f.suffix for f in files}
    assert kinds == {".pdf", ".xml"}
    for f in files[:6]:  # what was delivered passes the official artefacts, read back from disk
        assert validate(f.read_bytes(), document_id=f.name).valid, f.name
    with store.session() as s:
        docs = s.scalars(select(EInvoiceDocument)).all()
        assert {d.status for d in docs} == {"delivered"} and all(d.content for d in docs)
        deposited = s.scalars(select(LifecycleEvent).where(LifecycleEvent.code == "200")).all()
        assert len(deposited) == first.delivered and {e.label for e in deposited} == {"Déposée"}
    second = outbound(store, cfg)
    assert (second.delivered, second.rendered, second.already_done) == (0, 0, total)
    assert len(list((path / "platform").iterdir())) == first.delivered


def test_statuses_in_and_encaissee_out(synced, tmp_path):
    store, path = synced
    inv = next(r for r in store.invoices() if r.type_code == "380")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    refused = cdar.LifecycleStatus(invoice_number=inv.number, invoice_issue_date=inv.issue_date, seller_siren="843129453",
                                   status_code="210", status_date=dt.date(2026, 11, 20), issuer_id="512348707",
                                   issuer_role="BY", reason_code="TX_TVA_ERR", reason="Taux de TVA erroné")
    (inbox / "status1.xml").write_bytes(cdar.render(refused))
    (inbox / "junk.xml").write_bytes(b"<not-cdar/>")
    first = ingest_statuses(store, inbox)
    assert (first.read, first.recorded, first.rejected) == (2, 1, 1)
    again = ingest_statuses(store, inbox)
    assert (again.recorded, again.duplicates) == (0, 1)
    # the refusal disputes the invoice (once): its reminders wait
    from o2c.store.collections import disputes

    assert (first.disputes, again.disputes) == (1, 0)
    [d] = [d for d in disputes(store) if d.invoice_id == inv.id]
    assert (d.origin, d.reason_code, d.opened_on) == ("lifecycle_210", "price", dt.date(2026, 11, 20))
    assert "Taux de TVA erroné" in d.comments[0]["text"]
    cfg = EInvoicingConfig(channel={"kind": "folder", "path": str(tmp_path / "out")})
    event = emit_encaissee(store, cfg, inv.id, inv.payable, dt.date(2026, 11, 21))
    assert event is not None and event.code == "212" and event.amount == inv.payable
    assert emit_encaissee(store, cfg, inv.id, inv.payable, dt.date(2026, 11, 21)) is None  # sent once
    sent = list((tmp_path / "out").iterdir())
    assert len(sent) == 1 and cdar.parse(sent[0].read_bytes()).status_code == "212"
    with store.session() as s:
        events = s.scalars(select(LifecycleEvent).where(LifecycleEvent.invoice_number == inv.number)).all()
        assert {(e.direction, e.code) for e in events} >= {("in", "210"), ("out", "212")}
        assert next(e for e in events if e.code == "210").reason == "Taux de TVA erroné"
        assert sum((e.amount for e in events if e.code == "212"), Decimal(0)) == inv.payable
