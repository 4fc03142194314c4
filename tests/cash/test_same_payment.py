"""A payment the ERP recorded without the hub's key (entered by hand, or an ERP the hub does not
write payments to) is recognised by its amount and date: the hub's cash is then counted once, in
the ERP's figure, not subtracted a second time as cash in transit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from o2c.jobs.cash import run_cash_application
from o2c.jobs.receivables import explain, reconcile
from o2c.store.models import InvoiceRow
from o2c.store.receivables import upsert_settlements
from schemas import SourceRef
from schemas.settlement import Settlement, SettlementLine
from tests.test_cli_jobs import _fill, _home


def _erp_says(store, number, open_amount, lines):
    with store.session() as s:
        inv = s.query(InvoiceRow).filter_by(number=number).one()
        settlement = Settlement(invoice_id=inv.source_id, state="paid" if open_amount == 0 else "open",
                                open_amount=Decimal(open_amount), currency="EUR", lines=lines,
                                source=SourceRef(system="erp1", id=inv.source_id))
        upsert_settlements(s, [(settlement, inv.id)], run_id=None)


def test_a_keyless_erp_payment_of_the_same_amount_and_date_is_the_hubs(tmp_path, monkeypatch):
    store = _fill(_home(tmp_path, "h", monkeypatch))
    run_cash_application(store)  # the statement pays FA-1 (175.50)
    ex = explain(store, "FA-1")
    assert (ex.basis, ex.open) == ("estimate", Decimal("0.00"))
    # the ERP still shows it open: the hub's cash is in transit
    _erp_says(store, "FA-1", "175.50", [])
    ex = explain(store, "FA-1")
    assert (ex.erp_open, ex.in_transit, ex.open) == (Decimal("175.50"), Decimal("175.50"), Decimal("0.00"))
    # someone enters the payment in the ERP by hand, two days after the bank booked it: no key
    with store.session() as s:
        from o2c.store.cash import CashAllocation

        day = s.query(CashAllocation).one().booking_date
    hand = SettlementLine(id="901", kind="payment", amount=Decimal("175.50"), date=day + dt.timedelta(days=2),
                          reference="virement client")
    _erp_says(store, "FA-1", "0", [hand])
    _erp_says(store, "FA-2", "175.50", [])
    ex = explain(store, "FA-1")
    assert (ex.erp_open, ex.in_transit, ex.recorded_by_erp, ex.open) == (0, 0, Decimal("175.50"), 0)
    assert ex.allocations[0]["counted"].startswith("recorded by the ERP: ERP line 901")
    rec = reconcile(store, "erp1")
    assert (rec.unexplained, rec.totals().settled_in_erp_only, rec.totals().in_transit) == (0, 0, 0)
    # a payment of another amount, or far from the booking date, is not the hub's
    far = SettlementLine(id="902", kind="payment", amount=Decimal("175.50"), date=day + dt.timedelta(days=40), reference="")
    _erp_says(store, "FA-1", "0", [far])
    ex = explain(store, "FA-1")
    assert (ex.in_transit, ex.open) == (Decimal("175.50"), Decimal("-175.50"))
