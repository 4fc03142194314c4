"""Every EN 16931 credit-note type code is a credit note in the store's views (not only 381)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from o2c.review import overview
from o2c.store import Store
from o2c.store.cash import ledger_frames
from schemas import SourceRef
from schemas.invoice import CREDIT_NOTE_TYPE_CODES, is_credit_note_type
from tests.schemas.test_validation import make_invoice


def test_the_helper_knows_every_credit_note_code() -> None:
    assert all(is_credit_note_type(c) for c in CREDIT_NOTE_TYPE_CODES)
    assert not any(is_credit_note_type(c) for c in ("380", "384", "386", "389", "", None))


@pytest.mark.parametrize("code", ["381", "261", "396", "532"])
def test_self_billed_and_factored_credit_notes_reduce_the_customer_balance(tmp_path, code: str) -> None:
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    run = store.start_run(source="erp1", stream="invoices")
    with store.session() as s:
        for i, (number, type_code) in enumerate([("FA-1", "380"), ("AV-1", code)], start=1):
            inv = make_invoice(number=number, type_code=type_code)
            inv.source = SourceRef(system="erp1", id=str(i), updated_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
            store.upsert_invoice(s, inv, run_id=run.id)
    store.finish_run(run, status="success")
    _, items = ledger_frames(store)
    by_number = {r.invoice_number: r for r in items.itertuples()}
    payable = Decimal(by_number["FA-1"].amount_total)
    assert by_number["AV-1"].document_type == "credit_note"
    assert Decimal(by_number["AV-1"].amount_open) == -payable  # was +payable for 261, 396, 532
    [totals] = [t for t in overview(store)["totals"] if t.source == "erp1"]  # the review page's per-source totals
    assert totals.credit_notes == 1 and totals.net_by_currency["EUR"] == 0
