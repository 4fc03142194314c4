"""Build a small, valid camt.053.001.02 statement for tests (balances computed, not invented)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from xml.sax.saxutils import escape


def camt053(entries: list[dict], *, iban: str = "FR7630004008230001073910114", opening: Decimal = Decimal("1000.00"),
            day: dt.date = dt.date(2026, 11, 20), stmt_id: str = "STMT-2026-11-20", seq: int = 320) -> bytes:
    """``entries``: dicts with amount (signed Decimal), ref, name, iban, text (list of lines), e2e."""
    closing = opening + sum((e["amount"] for e in entries), Decimal(0))
    ntry = []
    for e in entries:
        amt = abs(e["amount"])
        cd = "CRDT" if e["amount"] > 0 else "DBIT"
        party = "Dbtr" if cd == "CRDT" else "Cdtr"
        acct = f"{party}Acct"
        ustrd = "".join(f"<Ustrd>{escape(t)}</Ustrd>" for t in e.get("text", []))
        ntry.append(f"""
      <Ntry>
        <Amt Ccy="EUR">{amt}</Amt><CdtDbtInd>{cd}</CdtDbtInd><Sts>BOOK</Sts>
        <BookgDt><Dt>{day.isoformat()}</Dt></BookgDt><ValDt><Dt>{day.isoformat()}</Dt></ValDt>
        <AcctSvcrRef>{e['ref']}</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{'RCDT' if cd == 'CRDT' else 'ICDT'}</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>{escape(e.get('e2e', 'NOTPROVIDED'))}</EndToEndId></Refs>
          <RltdPties><{party}><Nm>{escape(e.get('name', ''))}</Nm></{party}>{f'<{acct}><Id><IBAN>{e["iban"]}</IBAN></Id></{acct}>' if e.get('iban') else ''}</RltdPties>
          <RmtInf>{ustrd}</RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>""")
    created = dt.datetime.combine(day, dt.time(18, 0)).isoformat()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>MSG-{stmt_id}</MsgId><CreDtTm>{created}</CreDtTm></GrpHdr>
    <Stmt>
      <Id>{stmt_id}</Id><ElctrncSeqNb>{seq}</ElctrncSeqNb><CreDtTm>{created}</CreDtTm>
      <Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{abs(opening)}</Amt><CdtDbtInd>{'CRDT' if opening >= 0 else 'DBIT'}</CdtDbtInd><Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{abs(closing)}</Amt><CdtDbtInd>{'CRDT' if closing >= 0 else 'DBIT'}</CdtDbtInd><Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>{''.join(ntry)}
    </Stmt>
  </BkToCstmrStmt>
</Document>
""".encode()
