"""edi.camt: versions, batches, remittance, balances, streaming."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from edi import bank, camt
from schemas.errors import InvalidChecksum, InvalidFormat

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "bank"


def doc(body: str, *, message: str = "053", version: str = "08", balances: bool = True,
        status: str = "<Sts><Cd>BOOK</Cd></Sts>") -> bytes:
    container, stmt = {"052": ("BkToCstmrAcctRpt", "Rpt"), "053": ("BkToCstmrStmt", "Stmt"),
                       "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn")}[message]
    bal = ""
    if balances:
        bal = ("<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy='EUR'>100.00</Amt>"
               "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-05</Dt></Dt></Bal>"
               "<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy='EUR'>{close}</Amt>"
               "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-05</Dt></Dt></Bal>")
    body = body.replace("{sts}", status)
    return (f"<?xml version='1.0' encoding='UTF-8'?>"
            f"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.{message}.001.{version}'><{container}>"
            f"<GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-01-05T20:30:00</CreDtTm></GrpHdr>"
            f"<{stmt}><Id>ST-1</Id><CreDtTm>2026-01-05T20:30:00</CreDtTm>"
            f"<Acct><Id><IBAN>FR7630004580174324836762859</IBAN></Id><Ccy>EUR</Ccy></Acct>{bal}{body}"
            f"</{stmt}></{container}></Document>").encode()


CREDIT = """<Ntry><NtryRef>N1</NtryRef><Amt Ccy='EUR'>30.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>{sts}
<BookgDt><DtTm>2026-01-05T10:00:00+01:00</DtTm></BookgDt><ValDt><Dt>2026-01-06</Dt></ValDt>
<AcctSvcrRef>B1</AcctSvcrRef>
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn>
<Prtry><Cd>166</Cd><Issr>DK</Issr></Prtry></BkTxCd>
<AmtDtls><InstdAmt><Amt Ccy='USD'>33.00</Amt></InstdAmt></AmtDtls>
<Chrgs><TtlChrgsAndTaxAmt Ccy='EUR'>1.50</TtlChrgsAndTaxAmt><Rcrd><Amt Ccy='EUR'>1.50</Amt></Rcrd></Chrgs>
<NtryDtls><TxDtls><Refs><InstrId>I1</InstrId><EndToEndId>E1</EndToEndId><TxId>T1</TxId><MndtId>M1</MndtId></Refs>
<Amt Ccy='EUR'>30.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<RltdPties><Dbtr><Pty><Nm>PAYER GMBH</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>
<UltmtDbtr><Pty><Nm>ULTIMATE AG</Nm></Pty></UltmtDbtr><Cdtr><Pty><Nm>US SAS</Nm></Pty></Cdtr></RltdPties>
<RltdAgts><DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt></RltdAgts>
<RmtInf><Ustrd>INV FA2026-</Ustrd><Ustrd>00042 THANKS</Ustrd>
<Strd><RfrdDocInf><Tp><CdOrPrtry><Cd>CINV</Cd></CdOrPrtry></Tp><Nb>FA2026-00042</Nb><RltdDt>2025-12-01</RltdDt></RfrdDocInf>
<RfrdDocAmt><RmtdAmt Ccy='EUR'>30.00</RmtdAmt></RfrdDocAmt></Strd>
<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>RF18539007547034</Ref></CdtrRefInf></Strd>
</RmtInf></TxDtls></NtryDtls><AddtlNtryInf>VIR RECU</AddtlNtryInf></Ntry>"""


def test_one_credit_entry_every_field() -> None:
    [st] = camt.parse(doc(CREDIT).replace(b"{close}", b"130.00"))
    assert (st.format, st.statement_id, st.message_id, st.currency) == ("camt.053.001.08", "ST-1", "MSG-1", "EUR")
    [e] = st.entries
    assert e.amount == Decimal("30.00") and e.currency == "EUR"
    assert e.booking_date == dt.date(2026, 1, 5) and e.value_date == dt.date(2026, 1, 6)
    assert (e.bank_ref, e.entry_ref, e.end_to_end_id, e.tx_id, e.instruction_id, e.mandate_id) == (
        "B1", "N1", "E1", "T1", "I1", "M1")
    assert (e.counterparty_name, e.counterparty_iban, e.counterparty_bic, e.ultimate_party_name) == (
        "PAYER GMBH", "DE89370400440532013000", "COBADEFFXXX", "ULTIMATE AG")
    assert e.remittance_lines == ["INV FA2026-", "00042 THANKS"]
    assert e.creditor_references == ["RF18539007547034"]
    [d] = e.referred_documents
    assert (d.number, d.type_code, d.date, d.amount) == ("FA2026-00042", "CINV", dt.date(2025, 12, 1), Decimal("30.00"))
    assert (e.bank_tx_code, e.proprietary_code, e.additional_info) == ("PMNT/RCDT/ESCT", "166", "VIR RECU")
    assert (e.instructed_amount, e.instructed_currency, e.charges) == (Decimal("33.00"), "USD", Decimal("1.50"))
    assert e.status == "BOOK" and not e.reversal and e.entry_amount is None
    bank.check_statement(st)


def test_debit_takes_the_creditor_as_counterparty() -> None:
    debit = CREDIT.replace("<CdtDbtInd>CRDT</CdtDbtInd>", "<CdtDbtInd>DBIT</CdtDbtInd>")
    [st] = camt.parse(doc(debit).replace(b"{close}", b"70.00"))
    [e] = st.entries
    assert e.amount == Decimal("-30.00")
    assert e.counterparty_name == "US SAS" and e.counterparty_iban is None and e.ultimate_party_name is None
    assert st.balance_difference() == 0


@pytest.mark.parametrize("version", [f"{n:02d}" for n in range(2, 14)])
@pytest.mark.parametrize("status", ["<Sts>BOOK</Sts>", "<Sts><Cd>BOOK</Cd></Sts>"])
def test_every_version_and_both_status_shapes(version: str, status: str) -> None:
    [st] = bank.parse(doc(CREDIT, version=version, status=status).replace(b"{close}", b"130.00"))
    assert st.format == f"camt.053.001.{version}"
    assert st.entries[0].status == "BOOK"


@pytest.mark.parametrize("version", ["01", "14"])
def test_unsupported_versions(version: str) -> None:
    with pytest.raises(InvalidFormat, match="not supported"):
        camt.parse(doc(CREDIT, version=version))


def test_camt052_and_camt054() -> None:
    [rpt] = camt.parse(doc(CREDIT, message="052").replace(b"{close}", b"130.00"))
    assert rpt.format == "camt.052.001.08" and rpt.closing_balance.amount == Decimal("130.00")
    [ntf] = bank.parse(doc(CREDIT, message="054", balances=False))
    assert ntf.format == "camt.054.001.08"
    assert ntf.opening_balance is None and ntf.closing_balance is None and ntf.other_balances == []
    assert ntf.balance_difference() is None and len(ntf.entries) == 1


def test_pending_entries_do_not_count_in_the_balance() -> None:
    pending = CREDIT.replace("{sts}", "<Sts><Cd>PDNG</Cd></Sts>")
    [st] = bank.parse(doc(CREDIT + pending).replace(b"{close}", b"130.00"))
    assert [e.status for e in st.entries] == ["BOOK", "PDNG"]


BATCH = """<Ntry><Amt Ccy='EUR'>100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2026-01-05</Dt></BookgDt><AcctSvcrRef>BATCH-1</AcctSvcrRef><NtryDtls>
<Btch><NbOfTxs>2</NbOfTxs></Btch>
<TxDtls><Refs><EndToEndId>A</EndToEndId></Refs><Amt Ccy='EUR'>{a}</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<RmtInf><Ustrd>INV 1</Ustrd></RmtInf></TxDtls>
<TxDtls><Refs><EndToEndId>B</EndToEndId></Refs>{b}<CdtDbtInd>CRDT</CdtDbtInd>
<RmtInf><Ustrd>INV 2</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"""


def test_batch_becomes_one_entry_per_transaction() -> None:
    body = BATCH.replace("{a}", "60.00").replace("{b}", "<Amt Ccy='EUR'>40.00</Amt>")
    [st] = bank.parse(doc(body).replace(b"{close}", b"200.00"))
    a, b = st.entries
    assert (a.amount, b.amount) == (Decimal("60.00"), Decimal("40.00"))
    assert (a.tx_index, b.tx_index) == (0, 1)
    assert a.bank_ref == b.bank_ref == "BATCH-1"
    assert a.entry_amount == b.entry_amount == Decimal("100.00")
    assert (a.end_to_end_id, b.remittance_lines) == ("A", ["INV 2"])


def test_batch_missing_one_amount_gets_the_remainder() -> None:
    body = BATCH.replace("{a}", "60.00").replace("{b}", "")
    [st] = bank.parse(doc(body).replace(b"{close}", b"200.00"))
    assert [e.amount for e in st.entries] == [Decimal("60.00"), Decimal("40.00")]


def test_batch_whose_amounts_do_not_add_up_is_rejected() -> None:
    body = BATCH.replace("{a}", "60.00").replace("{b}", "<Amt Ccy='EUR'>41.00</Amt>")
    with pytest.raises(InvalidChecksum, match="TxDtls amounts add up to 101.00, the entry books 100.00"):
        camt.parse(doc(body).replace(b"{close}", b"200.00"))


def test_reversal_keeps_the_booked_direction() -> None:
    rev = CREDIT.replace("<CdtDbtInd>CRDT</CdtDbtInd>{sts}", "<CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd>{sts}")
    [st] = camt.parse(doc(rev).replace(b"{close}", b"70.00"))
    assert st.entries[0].amount == Decimal("-30.00") and st.entries[0].reversal


def test_paged_statement_uses_interim_balances() -> None:
    body = doc(CREDIT).replace(b"{close}", b"130.00").replace(b"<Cd>OPBD</Cd>", b"<Cd>ITBD</Cd>")
    body = body.replace(b"<Cd>CLBD</Cd>", b"<Cd>ITBD</Cd>")
    [st] = bank.parse(body)
    assert (st.opening_balance.amount, st.closing_balance.amount) == (Decimal("100.00"), Decimal("130.00"))


def test_unbalanced_statement_is_rejected_with_the_difference() -> None:
    with pytest.raises(Exception, match=r"statement ST-1 of account FR7630004580174324836762859: .*difference 0.01"):
        bank.parse(doc(CREDIT).replace(b"{close}", b"129.99"), document_id="s.xml")


@pytest.mark.parametrize("old, new, reason", [
    (b"<CdtDbtInd>CRDT</CdtDbtInd><Sts>", b"<CdtDbtInd>XXXX</CdtDbtInd><Sts>", "Ntry/CdtDbtInd: CdtDbtInd must be CRDT or DBIT"),
    (b"<Amt Ccy='EUR'>30.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>", b"<CdtDbtInd>CRDT</CdtDbtInd><Sts>", "Ntry/Amt: entry without an amount"),
    (b"<ValDt><Dt>2026-01-06</Dt>", b"<ValDt><Dt>2026-13-06</Dt>", "Ntry/ValDt: not a date"),
])
def test_bad_entry_fields_name_file_line_and_field(old: bytes, new: bytes, reason: str) -> None:
    data = doc(CREDIT).replace(b"{close}", b"130.00").replace(old, new, 1)
    with pytest.raises(InvalidFormat) as info:
        camt.parse(data, document_id="f.xml")
    assert str(info.value).startswith("f.xml, line ") and reason in str(info.value)


def test_iter_entries_streams_the_same_entries_as_parse(tmp_path: Path) -> None:
    data = doc(CREDIT * 50).replace(b"{close}", b"1600.00")
    data = data.replace(b"</Stmt>", b"</Stmt>" + data[data.index(b"<Stmt>"): data.index(b"</Stmt>") + 7], 1)
    path = tmp_path / "s.xml"
    path.write_bytes(data)
    statements = camt.parse(path)
    pairs = list(camt.iter_entries(path))
    assert len(statements) == 2 and len(pairs) == 100
    assert [e for _, e in pairs] == [e for s in statements for e in s.entries]
    headers = [h for h, _ in pairs]
    assert headers[0] is headers[49] and headers[49] is not headers[50]
    assert headers[0].entries == [] and headers[0].closing_balance.amount == Decimal("1600.00")
    assert [e for _, e in camt.iter_entries(io.BytesIO(data))] == [e for _, e in pairs]


def test_corpus_v8_sample_details() -> None:
    [st] = camt.parse((ROOT / "camt053" / "genkgo" / "camt053.v8.xml").read_bytes())
    [e] = st.entries
    assert e.booking_date == dt.date(2014, 12, 31)  # BookgDt/DtTm keeps the bank's local date
    assert e.creditor_references == ["4654654654654654"]
    assert e.counterparty_name == "NAME NAME" and e.counterparty_iban == "NL56AGDH9619008421"
    assert st.account_number == "NL26VAYB8060476890" and st.page == 2 and st.last_page is True


def test_xml_text_is_accepted_as_well_as_bytes_and_paths() -> None:
    data = doc(CREDIT).replace(b"{close}", b"130.00")
    assert camt.parse(data.decode()) == camt.parse(data)


def test_detect() -> None:
    assert camt.detect("urn:iso:std:iso:20022:tech:xsd:camt.053.001.13") == ("camt.053", "001.13")


def test_prefixed_namespace_and_comments() -> None:
    data = doc(CREDIT).replace(b"{close}", b"130.00").decode()
    data = data.replace("<Document xmlns='", "<c:Document xmlns:c='").replace("</Document>", "</c:Document>")
    data = data.replace("<BkToCstmrStmt>", "<!-- bank note --><c:BkToCstmrStmt>").replace("</BkToCstmrStmt>", "</c:BkToCstmrStmt>")
    # every element under the prefix: rewrite the remaining tags
    data = re.sub(r"<(/?)(?!c:|!|\?)([A-Za-z]+)", r"<\1c:\2", data)
    [st] = bank.parse(data.encode())
    assert st.format == "camt.053.001.08" and st.entries[0].counterparty_name == "PAYER GMBH"


# --- fast paths (2026-11): they must give exactly what the general code gives ------------------
def _prefixed(data: bytes) -> bytes:
    """The same document with every element under a ``c:`` prefix (the namespace is kept as is)."""
    text = data.decode().replace("<Document xmlns='", "<Document xmlns:c='")
    return re.sub(r"<(/?)(?!!|\?)([A-Za-z]+)", r"<\1c:\2", text).encode()


def test_default_namespace_fast_path_matches_prefixed_and_stream_reading(tmp_path: Path) -> None:
    # bytes and paths get the default namespace made inert; prefixed documents and the caller's
    # own file objects are read as written: all must agree, entry for entry and header for header.
    data = doc(CREDIT * 3).replace(b"{close}", b"190.00")
    path = tmp_path / "s.xml"
    path.write_bytes(data)
    reference = camt.parse(data)
    assert camt.parse(path) == reference
    assert camt.parse(io.BytesIO(data)) == reference
    assert camt.parse(_prefixed(data)) == reference
    assert reference[0].format == "camt.053.001.08" and len(reference[0].entries) == 3


def test_inert_namespace_keeps_error_lines_and_messages() -> None:
    data = doc(CREDIT).replace(b"{close}", b"130.00").replace(b"<Amt Ccy='EUR'>30.00</Amt><CdtDbtInd>CRDT",
                                                              b"<Amt Ccy='EUR'>3O.00</Amt><CdtDbtInd>CRDT", 1)
    broken = data.replace(b"</AcctSvcrRef>", b"</AcctSvcRef>", 1)
    for bad in (data, broken, data.replace(b"camt.053.001.08", b"camt.053.001.01")):
        with pytest.raises(InvalidFormat) as fast:
            camt.parse(bad, document_id="f.xml")
        with pytest.raises(InvalidFormat) as plain:  # a caller's stream is never rewritten
            camt.parse(io.BytesIO(bad), document_id="f.xml")
        assert str(fast.value) == str(plain.value)


NS054 = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.04"
NS052 = "urn:iso:std:iso:20022:tech:xsd:camt.052.001.02"


@pytest.mark.parametrize("head, expected", [
    (f"<Document xmlns='{NS054}'>".encode(), NS054),
    (f"\ufeff<?xml version='1.0'?>\n<!-- x > y -->\n<Document\n  xmlns=\"{NS052}\">".encode(), NS052),
    (b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:pain.001.001.03'>", None),  # not camt: left alone
    (b"<Document xmlns='urn:camt.053.001.08'>", None),  # not the published form: left to the parser
    (b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08 '>", None),
    (b"<Document xmlns='urn\"iso:std:iso:20022:tech:xsd:camt.053.001.08'>", None),  # invalid URI: the parser says so
    (b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08' xmlnz='x'>", None),
    (b"<c:Document xmlns:c='urn:x' xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08'>", None),  # prefixed root
    (b"<Docume:t xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08'>", None),  # undeclared prefix
    (b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08' xmlns='urn:x'>", None),  # the parser reports it
    (b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt&#46;053.001.08'>", None),
    (b"<!DOCTYPE Document><Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08'>", None),
    (b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08'", None),  # start tag cut by the head
])
def test_without_default_namespace(head: bytes, expected: str | None) -> None:
    out = camt._without_default_namespace(head)
    if expected is None:
        assert out is None
    else:
        assert out is not None and out[1] == expected
        assert len(out[0]) == len(head) and out[0].replace(b"xmlnz", b"xmlns") == head


@pytest.mark.parametrize("domn", [
    "<Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn>",
    "<Domn>\n <Cd> PMNT </Cd>\n <Fmly>\n  <Cd>RCDT</Cd>\n  <SubFmlyCd>ESCT</SubFmlyCd>\n </Fmly>\n</Domn>",
    "<Domn><Cd>PMNT</Cd><!-- note --><Fmly><Cd>RCDT</Cd>tail<SubFmlyCd>ESCT</SubFmlyCd></Fmly>after</Domn>",
    "<Domn>lead<Cd>PMNT</Cd><?pi x?>pi-tail<Fmly/></Domn>",
    "<Domn><Cd/><Fmly>  </Fmly></Domn>",
])
def test_domain_reads_like_itertext(domn: str) -> None:
    from lxml import etree

    el = etree.fromstring(domn)
    assert camt._domain(el) == camt._domain_itertext(el)


@pytest.mark.parametrize("acct, expected", [
    ("<DbtrAcct><Id><IBAN> DE89370400440532013000 </IBAN></Id></DbtrAcct>", ("DE89370400440532013000", None)),
    ("<DbtrAcct><Id><Othr><Id>123</Id></Othr></Id></DbtrAcct>", (None, "123")),
    ("<DbtrAcct><!-- c --><Id><IBAN>X1</IBAN></Id></DbtrAcct>", ("X1", None)),
    ("<DbtrAcct><Tp><Cd>CACC</Cd></Tp><Id><IBAN>X2</IBAN></Id></DbtrAcct>", ("X2", None)),
    ("<DbtrAcct><Id><Othr><Id>9</Id></Othr><IBAN>X3</IBAN></Id></DbtrAcct>", (None, "9")),
])
def test_account_fast_path(acct: str, expected: tuple[str | None, str | None]) -> None:
    from lxml import etree

    assert camt._account(etree.fromstring(acct)) == expected


@pytest.mark.parametrize("party, expected", [
    ("<Dbtr><Nm> A </Nm></Dbtr>", "A"),
    ("<Dbtr><Pty><Nm>B</Nm></Pty></Dbtr>", "B"),
    ("<Dbtr><Agt><FinInstnId><Nm>C</Nm></FinInstnId></Agt></Dbtr>", "C"),
    ("<Dbtr><PstlAdr/><Pty><Nm>D</Nm></Pty></Dbtr>", "D"),
    ("<Dbtr><Pty><PstlAdr/></Pty><Nm>E</Nm></Dbtr>", None),  # the first decisive child wins
    ("<Dbtr><!-- c --><Nm>F</Nm></Dbtr>", "F"),
    ("<Dbtr/>", None),
])
def test_party_name(party: str, expected: str | None) -> None:
    from lxml import etree

    assert camt._party(etree.fromstring(party)) == expected


def test_repeated_amounts_and_codes_share_nothing_mutable() -> None:
    # Decimals and dates come from caches: equal, immutable; the lists stay one per entry.
    [st] = camt.parse(doc(CREDIT * 2).replace(b"{close}", b"160.00"))
    a, b = st.entries
    assert a.amount == b.amount == Decimal("30.00") and a.booking_date == b.booking_date
    assert a.remittance_lines == b.remittance_lines and a.remittance_lines is not b.remittance_lines
    assert a.referred_documents is not b.referred_documents and a.creditor_references is not b.creditor_references
