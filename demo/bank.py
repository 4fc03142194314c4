"""A small, valid camt.053.001.02 bank statement for the demo and the tests (balances computed,
not invented), and the demo's payments of stored invoices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from xml.sax.saxutils import escape


def camt053(entries: list[dict], *, iban: str = "FR7630004008230001073910114", opening: Decimal = Decimal("1000.00"),
            day: dt.date = dt.date(2026, 11, 20), stmt_id: str = "STMT-2026-11-20", seq: int = 320) -> bytes:
    """``entries``: dicts with amount (signed Decimal), ref, name, iban, text (list of lines), e2e;
    or ref and ``txs``, a list of such dicts without ref: one batch-booked ``Ntry`` (one
    AcctSvcrRef) of the same sign whose ``TxDtls`` carry their own amounts."""
    closing = opening + sum((_entry_amount(e) for e in entries), Decimal(0))
    ntry = []
    for e in entries:
        amount = _entry_amount(e)
        cd = "CRDT" if amount > 0 else "DBIT"
        party = "Dbtr" if cd == "CRDT" else "Cdtr"
        acct = f"{party}Acct"
        txs = e.get("txs") or [e]
        btch = f"<Btch><NbOfTxs>{len(txs)}</NbOfTxs></Btch>" if "txs" in e else ""
        details = []
        for t in txs:
            ustrd = "".join(f"<Ustrd>{escape(line)}</Ustrd>" for line in t.get("text", []))
            tx_amt = f'<Amt Ccy="EUR">{abs(t["amount"])}</Amt><CdtDbtInd>{cd}</CdtDbtInd>' if "txs" in e else ""
            details.append(f"""<TxDtls>
          <Refs><EndToEndId>{escape(t.get('e2e', 'NOTPROVIDED'))}</EndToEndId></Refs>{tx_amt}
          <RltdPties><{party}><Nm>{escape(t.get('name', ''))}</Nm></{party}>{f'<{acct}><Id><IBAN>{t["iban"]}</IBAN></Id></{acct}>' if t.get('iban') else ''}</RltdPties>
          <RmtInf>{ustrd}</RmtInf>
        </TxDtls>""")
        ntry.append(f"""
      <Ntry>
        <Amt Ccy="EUR">{abs(amount)}</Amt><CdtDbtInd>{cd}</CdtDbtInd><Sts>BOOK</Sts>
        <BookgDt><Dt>{day.isoformat()}</Dt></BookgDt><ValDt><Dt>{day.isoformat()}</Dt></ValDt>
        <AcctSvcrRef>{e['ref']}</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{'RCDT' if cd == 'CRDT' else 'ICDT'}</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls>{btch}{''.join(details)}</NtryDtls>
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


def _entry_amount(e: dict) -> Decimal:
    """A plain entry's amount, or the sum of a batch's transactions."""
    return sum((t["amount"] for t in e["txs"]), Decimal(0)) if "txs" in e else e["amount"]


def demo_payments(invoices: list, *, day: dt.date) -> list[dict]:
    """Customer payments as they reach a bank: invoice numbers written loosely, two invoices paid
    together, a partial payment, a refund that is nobody's receivable, a debit."""
    sales = [r for r in invoices if r.type_code == "380"]
    if len(sales) < 6:
        return []
    a, b, c, d, e = sales[0], sales[1], sales[2], sales[3], sales[4]
    pays = [
        {"amount": a.payable, "ref": f"DEMO{day:%Y%m%d}01", "name": a.buyer_name.upper(), "text": [f"FACT {a.number.replace('-', ' ')}"]},
        {"amount": b.payable, "ref": f"DEMO{day:%Y%m%d}02", "name": b.buyer_name, "text": [f"Reglement facture {b.number}"]},
        {"amount": (d.payable / 2).quantize(Decimal("0.01")), "ref": f"DEMO{day:%Y%m%d}03", "name": d.buyer_name,
         "text": [f"ACOMPTE 50% {d.number}"]},
        {"amount": Decimal("17.45"), "ref": f"DEMO{day:%Y%m%d}04", "name": "FOURNISSEUR XYZ", "text": ["REMBOURSEMENT TROP PERCU"]},
        {"amount": Decimal("-250.00"), "ref": f"DEMO{day:%Y%m%d}05", "name": "URSSAF", "text": ["COTISATIONS"]},
    ]
    same = [x for x in (c, e) if x.buyer_name == c.buyer_name]
    if len(same) == 2:
        pays.append({"amount": c.payable + e.payable, "ref": f"DEMO{day:%Y%m%d}06", "name": c.buyer_name,
                     "text": [f"PAIEMENT {c.number} ET {e.number}"]})
    else:
        pays.append({"amount": c.payable, "ref": f"DEMO{day:%Y%m%d}06", "name": c.buyer_name, "text": [c.number]})
    return pays
