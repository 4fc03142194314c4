"""The ledger's compact columns read back exactly what was stored."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

import numpy as np
import pandas as pd
import pytest

from matching.columns import StrColumn, int_column, trim_heap
from matching.ledger import Ledger


def test_str_column_round_trips_unicode_empty_and_negative_indexes() -> None:
    values = ["FA-2025-0001", "", "Überweisung Nr. 7", "発票-12", "x" * 300]
    col = StrColumn(values)
    assert len(col) == 5
    assert [col[i] for i in range(5)] == values
    assert list(col) == values
    assert col[-1] == "x" * 300 and col[-5] == "FA-2025-0001"
    assert col[1:4] == values[1:4] and col[::-2] == values[::-2]
    with pytest.raises(IndexError):
        col[5]
    with pytest.raises(IndexError):
        col[-6]
    assert list(StrColumn([])) == [] and len(StrColumn([])) == 0


def test_int_column_indexes_and_bisects_like_the_list() -> None:
    rng = np.random.default_rng(3)
    arr = np.sort(rng.integers(-(2**40), 2**40, 5_000))
    col, ref = int_column(arr), arr.tolist()
    assert [col[i] for i in range(0, 5_000, 37)] == ref[::37]
    assert all(type(col[i]) is int for i in (0, 1, 4_999))
    for q in rng.integers(-(2**40), 2**40, 200).tolist() + ref[:50]:
        assert bisect_left(col, q) == bisect_left(ref, q)
        assert bisect_right(col, q) == bisect_right(ref, q)
    assert col[10:20].tolist() == ref[10:20]  # type: ignore[attr-defined]


def test_trim_heap_is_harmless() -> None:
    big = [str(i) * 3 for i in range(200_000)]
    del big
    assert trim_heap() in (True, False)


def test_ledger_reads_numbers_ids_customers_and_amounts_from_compact_columns() -> None:
    customers = pd.DataFrame({"customer_id": ["C1", "C2"], "name": ["Alpha SA", "Béta GmbH"], "country": ["FR", "DE"],
                              "vat_id": ["", ""], "ibans": ["", ""], "aliases": ["", ""]})
    items = pd.DataFrame({
        "invoice_id": ["i-1", "i-2", "i-3"], "customer_id": ["C2", "C1", "C9"],
        "document_type": ["invoice", "credit_note", "invoice"], "invoice_number": ["FA-0001", "AV-0002", "Rechnung-ä3"],
        "issue_date": ["2025-01-02", "2025-01-03", "2025-01-04"], "due_date": ["2025-02-02", "2025-02-03", "2025-02-04"],
        "currency": ["EUR", "EUR", "USD"], "amount_total": ["100.00", "-20.50", "7.00"],
        "amount_open": ["100.00", "-20.50", "7.00"], "creditor_reference": ["", "", ""]})
    L = Ledger(customers, items)
    assert list(L.item_ids) == ["i-1", "i-2", "i-3"]
    assert [L.numbers[i] for i in range(3)] == ["FA-0001", "AV-0002", "Rechnung-ä3"]
    assert [L.cust_l[i] for i in range(3)] == [1, 0, -1]
    assert [L.open_l[i] for i in range(3)] == [10_000, -2_050, 700]
    assert L.items_with_amount(10_000, L.ccy_codes["EUR"]) == [0]
    assert L.items_with_amount(700, L.ccy_codes["USD"]) == [2] and L.items_with_amount(700, L.ccy_codes["EUR"]) == []
    assert "FA0001" in L.item_keys(0)


def test_open_items_are_read_with_the_engines_columns_only(tmp_path) -> None:
    from matching.io import read_open_items

    p = tmp_path / "open_items.csv"
    p.write_text("\ufeffinvoice_id,customer_id,document_type,invoice_number,issue_date,due_date,currency,"
                 "amount_total,amount_open,creditor_reference,note\n"
                 "OI1,C1,invoice,FA-0001,2026-01-02,2026-02-01,EUR,120.00,100.50,RF18539007547034,\"a, b\"\n"
                 "OI2,C2,credit_note,AV-0002,2026-01-03,2026-02-02,EUR,-20.00,-20.00,,\n", encoding="utf-8")
    df = read_open_items(p)
    assert list(df.columns) == ["invoice_id", "customer_id", "document_type", "invoice_number", "issue_date",
                                "due_date", "currency", "amount_open", "creditor_reference"]
    assert df["amount_open"].tolist() == ["100.50", "-20.00"]
    assert df["creditor_reference"].tolist() == ["RF18539007547034", ""]
    assert df["customer_id"].astype(str).tolist() == ["C1", "C2"]


def test_lines_share_their_repeated_values() -> None:
    import datetime as dt
    from decimal import Decimal

    from matching.lines import line_from_entry
    from schemas.statement import BankEntry

    def entry(ref: str) -> BankEntry:
        return BankEntry(amount=Decimal("10.00"), currency="".join(["E", "UR"]), booking_date=dt.date(2026, 2, 3),
                         bank_ref=ref, counterparty_name="".join(["ACME ", "SA"]), counterparty_iban="FR76 3000 6000",
                         bank_tx_code="PMNT/RCDT/ESCT", remittance_lines=["FA-1"])

    a, b = line_from_entry(entry("B1")), line_from_entry(entry("B2"))
    assert (a.currency, a.booking_date, a.name, a.iban, a.tx_code) == ("EUR", "2026-02-03", "ACME SA", "FR7630006000",
                                                                       "PMNT/RCDT/ESCT")
    assert a.currency is b.currency and a.booking_date is b.booking_date and a.name is b.name and a.iban is b.iban
    assert a.bank_ref == "B1" and b.bank_ref == "B2"

    class Text(str):  # what some XML and ORM libraries return; such strings cannot be interned
        pass

    c = line_from_entry(BankEntry(amount=Decimal("1.00"), currency=Text("EUR"), counterparty_name=Text("ACME SA")))
    assert type(c.currency) is str and c.currency is a.currency and c.name is a.name
