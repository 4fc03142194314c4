"""SAP IDoc INVOIC02 XML files picked up from a drop folder (edi/idoc_invoic02.py + connectors/filedrop.py)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest

from connectors.base import ConnectionInfo
from connectors.filedrop import FileDropConnector
from edi import idoc_invoic02
from mappings.mapper import load_mapping, mapping_path
from schemas.errors import ConfigError, InvalidFormat
from schemas.validation import invoice_issues

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sap_s4" / "idoc" / "INVOIC02_90000001.xml"
T0 = dt.datetime(2026, 1, 31, 18, 0, tzinfo=dt.UTC)
UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
OPTIONS = {"files": {"invoices": "INVOIC02_*.xml"}, "parser": "idoc_invoic02"}


def test_parse_reads_every_idoc_of_the_file():
    docs = idoc_invoic02.parse(SAMPLE.read_bytes(), SAMPLE.name)
    assert [d["number"] for d in docs] == ["90000001", "90000003"]
    inv = docs[0]
    assert (inv["docnum"], inv["type"], inv["date"], inv["payment_days"]) == ("481516", "INVO", dt.date(2026, 1, 9), "30")
    assert inv["parties"]["seller"]["name1"] == "Acme Industrie SAS" and inv["parties"]["bill_to"]["partn"] == "1000100"
    assert inv["lines"][1] == {"position": "000020", "quantity": "1000.000", "unit": "PCE", "price": "35.00", "price_unit": "100",
                               "net_amount": "350.00", "material": "TG12", "text": "Vis inox", "tax_code": "A1",
                               "tax_rate": "20.000", "tax_amount": "70.00"}
    assert inv["taxes"] == [{"tax_code": "A1", "rate": "20.000", "base": "2850.00", "amount": "570.00"}]
    assert inv["created"] == dt.datetime(2026, 1, 10, 9, 15, tzinfo=dt.UTC)


@pytest.mark.parametrize("data, message", [
    (b"<INVOIC02/>", "no IDOC element"),
    (b"<INVOIC02><IDOC><E1EDK01/></IDOC></INVOIC02>", "without EDI_DC40"),
    (b"<INVOIC02><IDOC", "malformed XML"),
    (b'<!DOCTYPE x [<!ENTITY a "b">]><INVOIC02/>', "DOCTYPE is refused"),
])
def test_bad_files_are_invalid_format(data, message):
    with pytest.raises(InvalidFormat, match=message):
        idoc_invoic02.parse(data, "bad.xml")


def test_idoc_drop_maps_to_valid_invoices(tmp_path):
    target = tmp_path / SAMPLE.name
    shutil.copyfile(SAMPLE, target)
    os.utime(target, (T0.timestamp(), T0.timestamp()))
    c = FileDropConnector(ConnectionInfo(host="local", extra={"path": str(tmp_path)}), **OPTIONS)
    [batch] = list(c.pull("invoices", None, UNTIL))
    assert batch.watermark == T0 and [r["id"] for r in batch.records] == ["90000001", "90000003"]
    mapping = load_mapping(mapping_path("sap_idoc", "invoice"))
    invoice, credit = (mapping.apply(r, "s4_idoc") for r in batch.records)
    for inv in (invoice, credit):
        assert [i for i in invoice_issues(inv) if i.severity == "error"] == []
    assert (invoice.type_code, invoice.totals.payable, invoice.due_date) == ("380", D("3420.00"), dt.date(2026, 2, 8))
    assert invoice.seller.siren == "732829320" and invoice.buyer.siren == "552081317"
    assert invoice.lines[1].net_price == D("0.35") and invoice.lines[1].unit_code == "H87" and invoice.lines[0].unit_code == "HUR"
    assert credit.type_code == "381" and credit.totals.payable == D("120.00") and credit.lines[0].unit_code == "C62"


def test_broken_idoc_file_is_quarantined_by_the_sync(tmp_path):
    from o2c.config import SourceConfig
    from o2c.jobs.sync import sync_stream
    from o2c.store import Store

    (tmp_path / "INVOIC02_broken.xml").write_bytes(b"<INVOIC02><IDOC BEGIN='1'><EDI_DC40/></IDOC></INVOIC02>")
    shutil.copyfile(SAMPLE, tmp_path / SAMPLE.name)
    for p in tmp_path.iterdir():
        os.utime(p, (T0.timestamp(), T0.timestamp()))
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    source = SourceConfig(name="s4_idoc", kind="filedrop", connection="x", streams=("invoices",), mapping="sap_idoc", options=OPTIONS)
    c = FileDropConnector(ConnectionInfo(host="local", extra={"path": str(tmp_path)}), **OPTIONS)
    summary = sync_stream(store, source, c, "invoices", until=UNTIL)
    assert (summary.read, summary.inserted, summary.rejected) == (3, 2, 1)
    [q] = store.quarantined("s4_idoc")
    assert "E1EDK01" in q.reason and q.field == "_error"


def test_unknown_parser_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown parser"):
        FileDropConnector(ConnectionInfo(host="local", extra={"path": str(tmp_path)}), parser="edifact")
