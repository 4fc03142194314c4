"""edi.bai2: funds types, implied decimals, trailers and their control totals."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from edi import bai2, bank
from schemas.errors import InvalidChecksum, InvalidFormat

FILE = """01,BANK,ACME,260105,2300,F1,,,2/
02,ACME,BANK,1,260105,,{ccy},2/
03,111,,010,100000,,,015,95000,,,100,10000,2,,400,15000,1,/
16,165,5000,V,260106,,B1,C1,ACH CREDIT/
16,195,5000,S,1000,2000,2000,B2,,WIRE, WITH COMMA/
88,MORE TEXT
16,475,15000,D,2,1,5000,2,10000,B3,,CHECK/
49,245000,6/
98,245000,1,8/
99,245000,1,10/
"""


def test_funds_types_text_and_balances() -> None:
    [st] = bank.parse(FILE.format(ccy="USD").encode())
    a, b, c = st.entries
    assert (a.amount, a.value_date, a.bank_ref, a.entry_ref) == (Decimal("50.00"), dt.date(2026, 1, 6), "B1", "C1")
    assert b.remittance_lines == ["WIRE, WITH COMMA", "MORE TEXT"] and b.bank_ref == "B2"
    assert c.amount == Decimal("-150.00") and c.remittance_lines == ["CHECK"]
    assert st.opening_balance.amount == Decimal("1000.00") and st.closing_balance.amount == Decimal("950.00")
    assert st.balance_difference() == 0


def test_implied_decimals_follow_the_currency() -> None:
    [st] = bai2.parse(FILE.format(ccy="JPY").encode())
    assert st.currency == "JPY" and st.opening_balance.amount == Decimal("100000")


def test_blank_currency_is_usd() -> None:
    assert bai2.parse(FILE.format(ccy="").encode())[0].currency == "USD"


@pytest.mark.parametrize("old, new, reason", [
    ("49,245000,6/", "49,245000,7/", "account trailer counts 7 records, the account has 6"),
    ("98,245000,1,8/", "98,245001,1,8/", "group control total 245001"),
    ("99,245000,1,10/", "99,245000,2,10/", "file trailer counts 2 groups"),
    ("99,245000,1,10/", "99,245000,1,11/", "file trailer counts 11 records, the file has 10"),
])
def test_trailer_checks(old: str, new: str, reason: str) -> None:
    with pytest.raises(InvalidChecksum, match=re.escape(reason)):
        bai2.parse(FILE.format(ccy="USD").replace(old, new).encode(), document_id="f.bai2")


@pytest.mark.parametrize("old, new, reason", [
    ("99,245000,1,10/\n", "", "file trailer (99) missing"),
    ("16,475,", "16,775,", "neither a credit (100-399) nor a debit (400-699)"),
    ("02,ACME,BANK,1,260105", "02,ACME,BANK,1,261305", "not a date"),
    ("16,165,5000,V", "16,165,5000,Q", "unknown funds type 'Q'"),
])
def test_format_errors(old: str, new: str, reason: str) -> None:
    with pytest.raises(InvalidFormat, match=re.escape(reason)):
        bai2.parse(FILE.format(ccy="USD").replace(old, new).encode(), document_id="f.bai2")


def test_a_malformed_record_further_on_is_the_error_reported() -> None:
    # records are read as the parse goes: a bad record code anywhere still wins over an earlier
    # content error, as when the whole file was split first
    data = FILE.format(ccy="USD").replace("16,475,", "16,775,") + "X1,JUNK\n"
    with pytest.raises(InvalidFormat, match=re.escape("line 11, record code: not a BAI2 record: 'X1,JUNK'")):
        bai2.parse(data.encode(), document_id="f.bai2")


def test_repeated_amounts_and_88_after_the_file_trailer() -> None:
    # the same amount field on a credit and a debit keeps each sign; an 88 after 99 continues it
    data = FILE.format(ccy="USD").replace("16,475,15000,D,2,1,5000,2,10000,B3,,CHECK/",
                                          "16,475,5000,0,B3,,CHECK/\n16,475,10000,Z,B4,,/")
    data = data.replace("49,245000,6/", "49,245000,7/").replace("98,245000,1,8/", "98,245000,1,9/")
    data = data.replace("99,245000,1,10/", "99,245000,1\n88,12/")
    [st] = bai2.parse(data.encode())
    assert [e.amount for e in st.entries] == [Decimal("50.00"), Decimal("50.00"), Decimal("-50.00"),
                                              Decimal("-100.00")]
    assert st.entries[3].remittance_lines == [] and st.entries[3].bank_ref == "B4"
    assert st.balance_difference() == 0


def test_iter_entries_streams_the_accounts() -> None:
    pairs = list(bai2.iter_entries(FILE.format(ccy="USD").encode()))
    assert [e.bank_ref for _, e in pairs] == ["B1", "B2", "B3"]
