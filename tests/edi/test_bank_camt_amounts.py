"""edi.camt reads every amount through schemas.money.parse_amount (hardening, defects 5 and 8).

An amount the store cannot hold (``NUMERIC(20, 6)``: 14 integer digits), an exponent
(``1E+309``), an underscore (``1_0``) or more than ISO 20022's 5 decimals is refused by the
parser as InvalidFormat naming the element, instead of passing the parser and the balance check
and failing (or, with exponents, blowing up) later in the database or a renderer.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from edi import bank, camt
from schemas.errors import InvalidFormat

IBAN = "FR7630004580174324836762859"


def statement(entry: str = "", *, opening: str = "100.00", closing: str = "100.00") -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08'><BkToCstmrStmt>"
        "<GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-01-05T20:30:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>ST-1</Id><CreDtTm>2026-01-05T20:30:00</CreDtTm><Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        f"<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy='EUR'>{opening}</Amt>"
        "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-05</Dt></Dt></Bal>"
        f"<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy='EUR'>{closing}</Amt>"
        "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-05</Dt></Dt></Bal>"
        f"{entry}</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def entry(amount: str = "30.00", *, tx_amount: str | None = None, instructed: str | None = None,
          charges: str | None = None, remitted: str | None = None, sign: str = "CRDT") -> str:
    """One Ntry with one TxDtls; each optional amount goes into its element."""
    amt_dtls = f"<AmtDtls><InstdAmt><Amt Ccy='USD'>{instructed}</Amt></InstdAmt></AmtDtls>" if instructed else ""
    chrgs = f"<Chrgs><Rcrd><Amt Ccy='EUR'>{charges}</Amt></Rcrd></Chrgs>" if charges else ""
    strd = ("<RmtInf><Strd><RfrdDocInf><Nb>FA-1</Nb></RfrdDocInf>"
            f"<RfrdDocAmt><RmtdAmt Ccy='EUR'>{remitted}</RmtdAmt></RfrdDocAmt></Strd></RmtInf>") if remitted else ""
    tx_amt = f"<Amt Ccy='EUR'>{tx_amount}</Amt>" if tx_amount else ""
    return (f"<Ntry><Amt Ccy='EUR'>{amount}</Amt><CdtDbtInd>{sign}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
            f"<BookgDt><Dt>2026-01-05</Dt></BookgDt><AcctSvcrRef>B1</AcctSvcrRef>{amt_dtls}{chrgs}"
            f"<NtryDtls><TxDtls><Refs><EndToEndId>E1</EndToEndId></Refs>{tx_amt}{strd}</TxDtls></NtryDtls></Ntry>")


ABSURD = ["1E+309", "100000000000000", "1_0", "1.123456", "9" * 100_000, "NaN", "-5"]


def test_plain_amounts_at_the_limits_are_read_exactly() -> None:
    big = "99999999999999.99999"
    data = statement(entry(big, tx_amount=big, instructed="0.00001", charges="1.5", remitted=big),
                     opening="0", closing=big)
    [st] = camt.parse(data)
    [e] = st.entries
    assert (e.amount, e.instructed_amount, e.charges) == (Decimal(big), Decimal("0.00001"), Decimal("1.5"))
    assert e.referred_documents[0].amount == Decimal(big) and st.closing_balance.amount == Decimal(big)
    bank.check_statement(st)


@pytest.mark.parametrize("bad", ABSURD, ids=lambda b: b[:20])
@pytest.mark.parametrize("where,field", [
    ("entry", "Ntry/Amt"), ("balance", "Bal/Amt"), ("tx", "TxDtls/Amt"), ("instructed", "AmtDtls/InstdAmt/Amt"),
    ("charges", "Chrgs/Rcrd/Amt"), ("remitted", "RfrdDocAmt/RmtdAmt"),
])
def test_absurd_amount_is_refused_naming_the_field(bad: str, where: str, field: str) -> None:
    data = {
        "entry": lambda: statement(entry(bad)),
        "balance": lambda: statement(entry("0.00"), opening=bad),
        "tx": lambda: statement(entry("30.00", tx_amount=bad), closing="130.00"),
        "instructed": lambda: statement(entry("30.00", instructed=bad), closing="130.00"),
        "charges": lambda: statement(entry("30.00", charges=bad), closing="130.00"),
        "remitted": lambda: statement(entry("30.00", remitted=bad), closing="130.00"),
    }[where]()
    with pytest.raises(InvalidFormat) as info:
        camt.parse(data, document_id="poison.xml")
    assert info.value.field == field, str(info.value)
    message = str(info.value)
    assert message.startswith(f"poison.xml, line 1, {field}: ") and len(message) < 300
    with pytest.raises(InvalidFormat):  # the streaming reader refuses it the same way
        list(camt.iter_entries(data))


def test_sums_past_the_store_are_refused_too() -> None:
    # two charge records of 9e13 each: each is an amount, their total (1.8e14) is not
    data = statement(entry("30.00", charges="90000000000000").replace(
        "</Rcrd>", "</Rcrd><Rcrd><Amt Ccy='EUR'>90000000000000</Amt></Rcrd>", 1), closing="130.00")
    with pytest.raises(InvalidFormat, match="add up past what an amount may hold") as info:
        camt.parse(data)
    assert info.value.field == "Chrgs/Rcrd/Amt"


def test_poison_file_is_rejected_by_the_bank_parser(tmp_path) -> None:
    path = tmp_path / "poison.xml"
    path.write_bytes(statement(entry("100000000000000", sign="CRDT") + entry("100000000000000", sign="DBIT")))
    with pytest.raises(InvalidFormat, match="Ntry/Amt: amount 100000000000000 has more than 14 integer digits"):
        bank.parse_file(path)
