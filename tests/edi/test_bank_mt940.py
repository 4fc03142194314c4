"""edi.mt940: tags, :61: quirks, :86: dialects, MT942."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from edi import bank, mt940
from schemas.errors import InvalidFormat


def sta(lines: str, opening: str = "C260105EUR1000,00", closing: str = "C260105EUR1000,00") -> bytes:
    return (f":20:REF\n:25:NL91ABNA0417164300\n:28C:00007/001\n:60F:{opening}\n{lines}:62F:{closing}\n-\n").encode()


def test_envelope_and_account_iban() -> None:
    data = b"{1:F01ABNANL2AXXXX0000000000}{2:O9401200260105ABNANL2AXXXX00000000002601051200N}{4:\n" + sta("")[:-2] + b"-}"
    [st] = bank.parse(data)
    assert st.account_iban == "NL91ABNA0417164300" and st.sequence_number == "00007/001" and st.page == 1
    assert st.message_id == "REF" and st.format == "mt940"


@pytest.mark.parametrize("line, amount, reversal", [
    (":61:2601050105C10,00NTRFNONREF\n", "10.00", False),
    (":61:2601050105D10,00NTRFNONREF\n", "-10.00", False),
    (":61:2601050105RC10,00NTRFNONREF\n", "-10.00", True),  # reversal of a credit is a debit
    (":61:2601050105RD10,00NTRFNONREF\n", "10.00", True),
    (":61:2601050105CR10,NTRFNONREF\n", "10", False),  # funds code R (3rd letter of EUR)
])
def test_statement_line_marks(line: str, amount: str, reversal: bool) -> None:
    total = Decimal("1000") + Decimal(amount)
    [st] = bank.parse(sta(line, closing=f"C260105EUR{total:.2f}".replace(".", ",")))
    [e] = st.entries
    assert e.amount == Decimal(amount) and e.reversal is reversal and e.proprietary_code == "NTRF"


def test_references_and_supplementary_details() -> None:
    [st] = mt940.parse(sta(":61:2512311231D5,00NMSCCUST-REF-1//BANK-REF-2\nSUPPLEMENTARY TEXT\n",
                           closing="C260105EUR995,00"))
    e = st.entries[0]
    assert (e.entry_ref, e.bank_ref, e.additional_info) == ("CUST-REF-1", "BANK-REF-2", "SUPPLEMENTARY TEXT")
    assert e.value_date == dt.date(2025, 12, 31) and e.booking_date == dt.date(2025, 12, 31)


def test_entry_date_across_new_year() -> None:
    [st] = mt940.parse(sta(":61:2512310102C5,00NMSCNONREF\n", closing="C260105EUR1005,00"))
    assert st.entries[0].booking_date == dt.date(2026, 1, 2)


def test_february_30_value_date() -> None:
    # German interest postings use 30 February; it becomes the last day of the month
    [st] = mt940.parse(sta(":61:2602300301C5,00NMSCNONREF\n", closing="C260105EUR1005,00"))
    assert st.entries[0].value_date == dt.date(2026, 2, 28)


def test_german_structured_86() -> None:
    info = (":86:105?00SEPA-BASISLASTSCHRIFT?10931?20EREF+E2E-77?21MREF+MANDATE-9?22CRED+DE98ZZZ0999999999"
            "9?23SVWZ+Rechnung 2026-00\n042 Januar?24ABWE+Ultimate Creditor?30COBADEFFXXX?31DE893704004405320130"
            "00?32STADTWERKE MUSTER?33STADT GMBH?34992\n")
    [st] = mt940.parse(sta(":61:2601050105D42,00NDDTNONREF\n" + info, closing="C260105EUR958,00"))
    e = st.entries[0]
    assert e.proprietary_code == "105" and e.additional_info == "SEPA-BASISLASTSCHRIFT"
    assert (e.end_to_end_id, e.mandate_id) == ("E2E-77", "MANDATE-9")
    assert e.remittance_lines == ["Rechnung 2026-00042 Januar"]
    assert e.counterparty_name == "STADTWERKE MUSTERSTADT GMBH"
    assert (e.counterparty_iban, e.counterparty_bic) == ("DE89370400440532013000", "COBADEFFXXX")
    assert e.ultimate_party_name == "Ultimate Creditor"


def test_dutch_structured_86() -> None:
    info = (":86:/TRTP/SEPA OVERBOEKING/IBAN/NL02ABNA0123456789/BIC/ABNANL2A/NAME/KLANT B.V./REMI/FACTUUR\n"
            " 2026-00042/EREF/E2E-5//\n")
    [st] = mt940.parse(sta(":61:2601050105C42,00NTRFNONREF\n" + info, closing="C260105EUR1042,00"))
    e = st.entries[0]
    assert (e.counterparty_iban, e.counterparty_bic, e.counterparty_name) == ("NL02ABNA0123456789", "ABNANL2A", "KLANT B.V.")
    assert e.remittance_lines == ["FACTUUR 2026-00042"] and e.end_to_end_id == "E2E-5"
    assert e.additional_info == "SEPA OVERBOEKING"


def test_free_text_86_keeps_cut_words_together() -> None:
    first = ("GIRO 428428 KPN BETALINGSKENM. " + "000000042188659").rjust(65)  # a full 65-character line
    info = f":86:{first}\n5314606715 FACTUUR\nINCL BTW\n"
    [st] = mt940.parse(sta(":61:2601050105C1,00NTRFNONREF\n" + info, closing="C260105EUR1001,00"))
    assert st.entries[0].remittance_lines == [first.strip() + "5314606715 FACTUUR INCL BTW"]


def test_mt942_has_no_balances() -> None:
    data = (b":20:INTRADAY\n:25:NL91ABNA0417164300\n:28C:1/1\n:34F:EUR0,\n:13D:2601051200+0100\n"
            b":61:2601050105C12,50NTRFNONREF\n:86:/NAME/ACME/REMI/INV 1/\n:90C:1EUR12,50\n-\n")
    assert bank.sniff(data) == "mt942"
    [st] = bank.parse(data)
    assert st.format == "mt942" and st.opening_balance is None and st.currency == "EUR"
    assert st.created_at == dt.datetime(2026, 1, 5, 12, 0) and st.entries[0].amount == Decimal("12.50")


@pytest.mark.parametrize("data, reason", [
    (sta("").replace(b":62F:C260105EUR1000,00\n", b""), "without a closing balance"),
    (sta(":61:2601050105X1,00NTRFNONREF\n"), "line 5, :61:: not a statement line"),
    (sta("", opening="C261305EUR1000,00"), "not a date"),
    (b":25:X\n:20:Y\n", ":25: before the first :20:"),
])
def test_rejections(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidFormat) as info:
        mt940.parse(data, document_id="f.sta")
    assert reason in str(info.value) and str(info.value).startswith("f.sta")


def test_german_reference_ends_with_a_short_sub_field() -> None:
    # "?20" is shorter than 27 characters: the EREF+ value ends there; a full one runs on
    info = ":86:159?00RETOURE?20EREF+TFNR 40005 00005?21MTLG:Grund nicht s?22pezifiziert?30DRESDEFF508\n"
    [st] = mt940.parse(sta(":61:2601050105C3,00NTRFNONREF\n" + info, closing="C260105EUR1003,00"))
    e = st.entries[0]
    assert e.end_to_end_id == "TFNR 40005 00005"
    assert e.remittance_lines == ["MTLG:Grund nicht s pezifiziert"]
    full = ":86:166?20EREF+EndToEndId TFNR 22 004?21 00001?22SVWZ+Rechnung 42\n"
    [st] = mt940.parse(sta(":61:2601050105C3,00NTRFNONREF\n" + full, closing="C260105EUR1003,00"))
    assert st.entries[0].end_to_end_id == "EndToEndId TFNR 22 004 00001"
    assert st.entries[0].remittance_lines == ["Rechnung 42"]


def test_german_86_repeated_sub_fields_add_up() -> None:
    info = ":86:166?00GUTSCHRIFT?20EREF+E2E-1?32ACME?20SVWZ+Rechnung 42?32 GMBH?31DE89370400440532013000\n"
    [st] = mt940.parse(sta(":61:2601050105C3,00NTRFNONREF\n" + info, closing="C260105EUR1003,00"))
    e = st.entries[0]
    assert (e.counterparty_name, e.end_to_end_id, e.counterparty_iban) == ("ACME GMBH", "E2E-1", "DE89370400440532013000")
    assert e.remittance_lines == ["Rechnung 42"]


def test_trailer_on_the_first_line_and_repeated_amounts() -> None:
    lines = ":61:2601050105C3,00NTRFNONREF\n:61:2601050105D3,00NTRFNONREF\n:61:2601050105C3,00NTRFNONREF\n"
    data = b"-\nHEADER\n" + sta(lines, closing="C260105EUR1003,00")
    [st] = mt940.parse(data)
    assert [e.amount for e in st.entries] == [Decimal("3.00"), Decimal("-3.00"), Decimal("3.00")]
    with pytest.raises(InvalidFormat, match="line 6, :61:: not a statement line"):
        mt940.parse(sta(lines.replace("D3,00", "X3,00")), document_id="f.sta")
