"""edi.cfonb120: amount encoding, records, qualifiers, structure errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from edi import bank, cfonb120
from schemas.errors import InvalidChecksum, InvalidFormat

HEAD = "30004    00001EUR2 00012345601  "


def rec(code: str, rest: str) -> str:
    return (code + rest).ljust(120)


def op(amount: str, label: str = "VIR SEPA ACME", ref: str = "", opcode: str = "0117") -> str:
    return rec("04", f"30004{opcode}00001EUR2 00012345601B1050126  050126{label:<31}  0000000  {amount}{ref:<16}")


def detail(qualifier: str, text: str) -> str:
    return rec("05", f"30004011700001EUR2 00012345601B1050126     {qualifier}{text}")


def statement(*lines: str, opening: str = "0000000010000{", closing: str = "0000000010000{") -> bytes:
    return "\n".join([rec("01", HEAD + "050126" + " " * 50 + opening), *lines,
                      rec("07", HEAD + "060126" + " " * 50 + closing)]).encode("latin-1")


@pytest.mark.parametrize("text, decimals, value", [
    ("0000000000000{", 2, "0.00"), ("0000000000123A", 2, "12.31"), ("0000000000123I", 2, "12.39"),
    ("0000000000123}", 2, "-12.30"), ("0000000000123J", 2, "-12.31"), ("0000000000123R", 2, "-12.39"),
    ("0000000000123{", 0, "1230"), ("0000000000123{", 3, "1.230"),
])
def test_amount_encoding(text: str, decimals: int, value: str) -> None:
    assert cfonb120.decode_amount(text, decimals) == Decimal(value)


def test_operations_and_qualifiers() -> None:
    data = statement(
        op("0000000000250{", ref="REF-BANK-1"),
        detail("LIB", "FACTURE FA2026-00042"), detail("NPY", "CLIENT SARL"), detail("NBE", "NOUS SAS"),
        detail("RCN", "E2E-0042".ljust(35) + "PAIEMENT FACTURE"), detail("REF", "INSTR-1"),
        detail("RUM", "MANDAT-7"), detail("MMO", "USD200000000002700"), detail("NPO", "MAISON MERE SA"),
        detail("ZZZ", "QUALIFIANT INCONNU"),
        op("0000000000050}", label="FRAIS"),
        closing="0000000010200{",
    )
    [st] = bank.parse(data)
    credit, fee = st.entries
    assert credit.amount == Decimal("25.00") and fee.amount == Decimal("-5.00")
    assert credit.remittance_lines == ["FACTURE FA2026-00042"]
    assert (credit.counterparty_name, credit.ultimate_party_name) == ("CLIENT SARL", "MAISON MERE SA")
    assert (credit.end_to_end_id, credit.tx_id, credit.mandate_id) == ("E2E-0042", "INSTR-1", "MANDAT-7")
    assert (credit.instructed_amount, credit.instructed_currency) == (Decimal("27.00"), "USD")
    assert credit.bank_ref == "REF-BANK-1" and credit.proprietary_code == "0117"
    assert credit.additional_info == "VIR SEPA ACME; ZZZ: QUALIFIANT INCONNU"
    assert st.account_number == "300040000100012345601" and st.balance_difference() == 0


def test_records_without_line_breaks() -> None:
    data = statement(op("0000000000250{"), closing="0000000010250{").replace(b"\n", b"")
    [st] = bank.parse(data)
    assert len(st.entries) == 1


@pytest.mark.parametrize("data, reason", [
    (statement(op("0000000000250{")), "difference"),
    (statement(op("00000000002X0{")), "amount (positions 91-104): not a CFONB amount"),
    (statement().replace(b"\n07", b"\n09"), "unknown record code '09'"),
    (statement()[:-121], "statement not closed"),
    (statement(rec("04", "x" * 130)), "record of 132 characters"),
])
def test_rejections(data: bytes, reason: str) -> None:
    with pytest.raises(Exception) as info:
        bank.parse(data, document_id="f.txt")
    assert reason in str(info.value), str(info.value)
    assert isinstance(info.value, (InvalidFormat, InvalidChecksum))
