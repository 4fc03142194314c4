from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from o2c.store import Store
from o2c.store.models import InvoiceVersion, Quarantine
from schemas import SourceRef
from tests.schemas.test_validation import make_invoice


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path) -> Store:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    st = Store(url)
    st.upgrade()
    if request.param == "postgres":  # the session database is shared: start from empty tables
        from o2c.store.models import Base

        with st.session() as s:
            for table in reversed(Base.metadata.sorted_tables):
                s.execute(table.delete())
    return st


def sourced(**over):
    inv = make_invoice(**over)
    inv.source = SourceRef(system="erp1", id="42", updated_at=dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC))
    return inv


def test_upgrade_is_idempotent(store):
    store.upgrade()
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(store.alembic_config()).get_current_head()
    assert store.current_revision() == head


def test_upsert_insert_unchanged_update_keeps_history(store):
    run = store.start_run(source="erp1", stream="invoices")
    with store.session() as s:
        assert store.upsert_invoice(s, sourced(), run_id=run.id).outcome == "inserted"
    with store.session() as s:
        assert store.upsert_invoice(s, sourced(), run_id=run.id).outcome == "unchanged"
    with store.session() as s:
        res = store.upsert_invoice(s, sourced(payment_terms="30 days net"), run_id=run.id)
    assert (res.outcome, res.version) == ("updated", 2)
    rows = store.invoices("erp1")
    assert len(rows) == 1
    assert rows[0].payable == D("175.50") and isinstance(rows[0].payable, D)
    assert rows[0].source_updated_at == dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
    with store.session() as s:
        versions = s.scalars(select(InvoiceVersion.version).order_by(InvoiceVersion.version)).all()
    assert versions == [1, 2]


def test_amounts_are_exact(store):
    inv = sourced()
    inv.totals.payable = D("175.50")
    inv.totals.tax_exclusive = D("0.1") + D("0.2") + D("149.70")  # float would drift
    with store.session() as s:
        store.upsert_invoice(s, inv, run_id=None)
    assert store.invoices()[0].tax_exclusive == D("150.00")


def test_quarantine_keeps_payload_and_counts_sightings(store):
    run1 = store.start_run(source="erp1", stream="invoices")
    run2 = store.start_run(source="erp1", stream="invoices")
    payload = {"number": "X1", "total_amount": "12.00"}
    for run in (run1, run1, run2):
        with store.session() as s:
            store.quarantine(s, source="erp1", kind="invoice", source_id="7", payload=payload,
                             reason="BT-5: unknown currency", field="BT-5", run_id=run.id)
    rows = store.quarantined("erp1")
    assert len(rows) == 1
    assert rows[0].seen_count == 2 and rows[0].field == "BT-5"
    assert b'"total_amount": "12.00"' in rows[0].raw_payload
    with store.session() as s:
        assert store.resolve_quarantine(s, source="erp1", kind="invoice", source_id="7", resolution="fixed_at_source") == 1
        assert s.scalar(select(func.count()).select_from(Quarantine).where(Quarantine.resolution.is_(None))) == 0


def test_sync_run_and_watermark(store):
    t1 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    t2 = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    run = store.start_run(source="erp1", stream="invoices", window_start=t1, window_end=t2)
    run.read, run.inserted = 3, 3
    store.finish_run(run, status="success")
    [saved] = store.runs("erp1")
    assert (saved.status, saved.read, saved.inserted, saved.window_end) == ("success", 3, 3, t2)
    with store.session() as s:
        store.set_watermark(s, "erp1", "invoices", t2, run_id=run.id)
    with store.session() as s:
        store.set_watermark(s, "erp1", "invoices", t1, run_id=run.id)  # never goes back
    assert store.get_watermark("erp1", "invoices").value == t2


def test_refuses_float_amounts(store):
    inv = sourced()
    inv.totals.payable = 175.5  # type: ignore[assignment]
    with pytest.raises(Exception, match="Decimal"):
        with store.session() as s:
            store.upsert_invoice(s, inv, run_id=None)
