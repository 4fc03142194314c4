"""Small bank files made on the fly for the SFTP ingestion tests (sequence numbers, sizes)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "bank"
CAMT053 = FIXTURES / "camt053" / "genkgo" / "camt053.v2.multi.statement.xml"  # 2 statements
MT940 = FIXTURES / "mt940" / "jejik" / "sns.sta"  # 2 statements, sequence 160, 161
CFONB = FIXTURES / "cfonb120" / "pennylane" / "example.txt"  # 2 statements, 2 accounts
CAMT053_INVALID = FIXTURES / "camt053" / "invalid" / "camt053.v2.wrong.xml"

ACCOUNT = "DE89370400440532013000"


def mt940(seq: int, *, account: str = ACCOUNT, opening: int = 1000, amount: int = 250, balance_ok: bool = True) -> bytes:
    """One MT940 statement number ``seq`` of ``account``: one credit of ``amount``."""
    day = 1 + seq % 28
    closing = opening + amount + (0 if balance_ok else 1)
    return (
        f":20:O2CTEST{seq:05d}\r\n:25:{account}\r\n:28C:{seq:05d}/001\r\n"
        f":60F:C2601{day:02d}EUR{opening},00\r\n"
        f":61:2601{day:02d}01{day:02d}CR{amount},00NTRFNONREF//B{seq:08d}\r\n"
        f":86:Payment of invoice FA-{seq}\r\n"
        f":62F:C2601{day:02d}EUR{closing},00\r\n-\r\n"
    ).encode()


def big_camt053(entries: int, *, stmt_id: str = "BIG-1") -> bytes:
    """A camt.053.001.08 statement with ``entries`` credits of 1.00 (about 700 bytes each)."""
    ntry = []
    for i in range(entries):
        ntry.append(
            f"<Ntry><Amt Ccy=\"EUR\">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
            f"<BookgDt><Dt>2026-01-05</Dt></BookgDt><ValDt><Dt>2026-01-05</Dt></ValDt>"
            f"<AcctSvcrRef>REF{i:08d}</AcctSvcrRef><NtryDtls><TxDtls><Refs><EndToEndId>E2E-{i:08d}</EndToEndId></Refs>"
            f"<RltdPties><Dbtr><Pty><Nm>Customer number {i} with a rather long company name SARL</Nm></Pty></Dbtr>"
            f"<DbtrAcct><Id><IBAN>FR7630006000011234567890189</IBAN></Id></DbtrAcct></RltdPties>"
            f"<RmtInf><Ustrd>Payment of invoice FA2026-{i:06d} and thanks for your business</Ustrd></RmtInf>"
            f"</TxDtls></NtryDtls></Ntry>\n")
    total = Decimal(entries)
    return (
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt>"
        "<GrpHdr><MsgId>BIG-MSG</MsgId><CreDtTm>2026-01-05T20:30:00+01:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{stmt_id}</Id><ElctrncSeqNb>7</ElctrncSeqNb><CreDtTm>2026-01-05T20:30:00+01:00</CreDtTm>"
        "<Acct><Id><IBAN>FR7630004000031234567890143</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        "<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
        "<Dt><Dt>2026-01-05</Dt></Dt></Bal>"
        f"<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">{total}.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
        "<Dt><Dt>2026-01-05</Dt></Dt></Bal>\n"
        + "".join(ntry)
        + "</Stmt></BkToCstmrStmt></Document>\n"
    ).encode()
