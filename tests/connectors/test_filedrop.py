"""File drops: CSV (Windows-1252, UTF-8 with/without BOM) and xlsx exports in a real folder."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest

from connectors.base import ConnectionInfo
from connectors.filedrop import FileDropConnector
from mappings.mapper import load_mapping, mapping_path
from schemas.errors import ConfigError, FatalError
from schemas.validation import invoice_issues

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "filedrop"
FR_HEADERS = {
    "N° facture": "invoice_number", "Type": "invoice_type", "Date facture": "invoice_date", "Échéance": "due_date",
    "Devise": "currency", "Conditions": "payment_terms", "Code client": "buyer_code", "Client": "buyer_name",
    "SIREN client": "buyer_siren", "TVA client": "buyer_vat", "Adresse client": "buyer_street", "CP client": "buyer_zip",
    "Ville client": "buyer_city", "Pays client": "buyer_country", "Société": "seller_name", "SIREN société": "seller_siren",
    "TVA société": "seller_vat", "Désignation": "line_label", "Référence article": "item_code", "Quantité": "quantity",
    "Unité": "unit", "Prix unitaire HT": "unit_price", "Montant HT ligne": "line_net", "Taux TVA": "vat_rate",
    "Total HT": "total_net", "Total TVA": "total_vat", "Total TTC": "total_gross",
}
OPTIONS = {"files": {"invoices": "*ac*", "customers": "customers*"}, "headers": FR_HEADERS, "group_by": "invoice_number"}
T0 = dt.datetime(2026, 1, 31, 18, 0, tzinfo=dt.UTC)
UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def drop(folder: Path, name: str, when: dt.datetime, as_name: str | None = None) -> Path:
    target = folder / (as_name or name)
    shutil.copyfile(FIXTURES / name, target)
    os.utime(target, (when.timestamp(), when.timestamp()))
    return target


def connector(folder: Path, **over) -> FileDropConnector:
    return FileDropConnector(ConnectionInfo(host="local", extra={"path": str(folder)}), **{**OPTIONS, **over})


def pull(c, stream="invoices", since=None, until=UNTIL):
    batches = list(c.pull(stream, since, until))
    return batches, [r for b in batches for r in b.records]


def test_windows_1252_french_export_grouped_by_invoice(tmp_path):
    drop(tmp_path, "factures_2026-01_cp1252.csv", T0)
    _, records = pull(connector(tmp_path))
    assert [r["id"] for r in records] == ["FA-1001", "FA-1002", "AV-0007"]
    fa = records[0]
    assert fa["buyer_name"] == "Société Générale de Bâtiment" and len(fa["lines"]) == 2
    assert fa["lines"][1]["line_label"] == "Vis inox Ø6" and fa["lines"][1]["quantity"] == "1 000"
    mapping = load_mapping(mapping_path("filedrop", "invoice"))
    invoices = [mapping.apply(r, "drop") for r in records]
    for inv in invoices:
        assert [i for i in invoice_issues(inv) if i.severity == "error"] == []
    assert invoices[0].totals.payable == D("3420.00") and invoices[0].lines[1].quantity == D("1000")
    assert invoices[0].issue_date == dt.date(2026, 1, 15) and invoices[0].lines[0].unit_code == "HUR"
    assert invoices[1].lines[0].vat_rate == D("5.5") and invoices[1].payment_terms == "45 jours fin de mois"
    assert invoices[2].type_code == "381" and invoices[2].totals.payable == D("120.00")
    assert invoices[0].source.updated_at == T0


def test_utf8_bom_comma_separated_anglo_numbers(tmp_path):
    drop(tmp_path, "invoices_2026-01_utf8bom.csv", T0)
    _, records = pull(connector(tmp_path, files={"invoices": "invoices*"}))
    inv = load_mapping(mapping_path("filedrop", "invoice")).apply(records[0], "drop")
    assert (inv.number, inv.buyer.name, inv.totals.payable) == ("INV-2001", "Müller GmbH", D("4400.00"))
    assert inv.lines[0].vat_category == "E" and not [i for i in invoice_issues(inv) if i.severity == "error"]


def test_forced_encoding_and_delimiter(tmp_path):
    drop(tmp_path, "factures_2026-01_cp1252.csv", T0)
    _, records = pull(connector(tmp_path, encoding="latin-1", delimiter=";"))
    assert records[0]["buyer_name"] == "Société Générale de Bâtiment"  # same letters in Latin-1
    with pytest.raises(ConfigError, match="unknown option"):
        connector(tmp_path, sepparator=";")


def test_excel_export(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Export du 31/01/2026"])  # a title line above the header
    ws.append(["invoice_number", "invoice_date", "seller_name", "seller_siren", "buyer_name", "line_label", "quantity",
               "unit_price", "line_net", "vat_rate", "total_net", "total_vat", "total_gross"])
    ws.append(["FX-1", dt.datetime(2026, 1, 30), "Acme Industrie SAS", 732829320, "Client SARL", "Audit", 1.5, 1250.1, 1875.15, 20, 1875.25, 375.05, 2250.30])
    ws.append(["FX-1", dt.datetime(2026, 1, 30), "Acme Industrie SAS", 732829320, "Client SARL", "Frais", 1, 0.1, 0.1, 20, 1875.25, 375.05, 2250.30])
    path = tmp_path / "factures_2026-01.xlsx"
    wb.save(path)
    os.utime(path, (T0.timestamp(), T0.timestamp()))
    _, records = pull(connector(tmp_path, skip_rows=1))
    rec = records[0]
    assert rec["lines"][0]["unit_price"] == D("1250.1") and rec["lines"][1]["line_net"] == D("0.1")
    assert rec["seller_siren"] == 732829320
    inv = load_mapping(mapping_path("filedrop", "invoice")).apply(rec, "drop")
    assert inv.totals.line_total == D("1875.25") and inv.issue_date == dt.date(2026, 1, 30)
    assert not [i for i in invoice_issues(inv) if i.severity == "error"]


def test_window_batches_and_watermarks_by_modification_time(tmp_path):
    early, mid, late = T0 - dt.timedelta(days=2), T0, T0 + dt.timedelta(days=40)
    drop(tmp_path, "factures_2026-01_cp1252.csv", early, "factures_a.csv")
    drop(tmp_path, "factures_2026-01_bad_rows.csv", mid, "factures_b.csv")
    drop(tmp_path, "invoices_2026-01_utf8bom.csv", mid, "factures_c.csv")  # same mtime: same batch
    drop(tmp_path, "factures_2026-01_cp1252.csv", late, "factures_d.csv")  # after the window end
    (tmp_path / "factures_e.csv.part").write_text("partial upload")
    (tmp_path / "~$factures_f.xlsx").write_text("excel lock file")
    c = connector(tmp_path)
    batches, _ = pull(c)
    assert [b.watermark for b in batches] == [early, mid]
    assert [r["_file"]["name"] for r in batches[1].records][0] == "factures_b.csv"
    assert {r["_file"]["name"] for r in batches[1].records} == {"factures_b.csv", "factures_c.csv"}
    batches, _ = pull(c, since=early)
    assert [b.watermark for b in batches] == [mid]
    assert list(c.pull("invoices", mid, UNTIL)) == []


def test_same_content_is_one_file(tmp_path):
    drop(tmp_path, "factures_2026-01_cp1252.csv", T0, "factures_x.csv")
    drop(tmp_path, "factures_2026-01_cp1252.csv", T0 + dt.timedelta(minutes=5), "factures_x_copie.csv")
    _, records = pull(connector(tmp_path))
    assert len(records) == 3 and {r["_file"]["name"] for r in records} == {"factures_x.csv"}
    assert records[0]["_file"]["sha256"] == __import__("hashlib").sha256((FIXTURES / "factures_2026-01_cp1252.csv").read_bytes()).hexdigest()


def test_rows_without_an_id_get_ids_from_the_content_hash(tmp_path):
    drop(tmp_path, "invoices_2026-01_utf8bom.csv", T0, "factures_1.csv")
    c = connector(tmp_path, group_by=None)
    _, first = pull(c)
    os.rename(tmp_path / "factures_1.csv", tmp_path / "factures_2.csv")
    _, again = pull(c)
    assert [r["id"] for r in first] == [r["id"] for r in again] and first[0]["id"].endswith("-2")


def test_customers(tmp_path):
    from schemas.validation import customer_issues

    drop(tmp_path, "customers_2026-01_utf8.csv", T0)
    _, records = pull(connector(tmp_path, group_by=None, id_column="code"), "customers")
    mapping = load_mapping(mapping_path("filedrop", "customer"))
    customers = [mapping.apply(r, "drop") for r in records]
    assert [c.source.id for c in customers] == ["C001", "C002", "C003"]
    assert customers[0].credit_limit == D("15000.00") and customers[1].credit_limit == D("2500.50")
    assert customers[0].payment_terms == "30 jours net" and customers[2].credit_limit is None
    assert all(not customer_issues(c) for c in customers)


def test_bad_rows_and_unreadable_files_are_quarantined_by_the_sync(tmp_path):
    from o2c.config import SourceConfig
    from o2c.jobs.sync import sync_stream
    from o2c.store import Store

    drop(tmp_path, "factures_2026-01_bad_rows.csv", T0)
    broken = tmp_path / "factures_broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 this is not a workbook")
    os.utime(broken, (T0.timestamp() + 60, T0.timestamp() + 60))
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    source = SourceConfig(name="drop_fr", kind="filedrop", connection="x", options=OPTIONS)
    c = connector(tmp_path)
    summary = sync_stream(store, source, c, "invoices", until=UNTIL)
    assert (summary.read, summary.inserted, summary.rejected) == (4, 1, 3)
    reasons = {q.source_id: (q.field, q.reason) for q in store.quarantined("drop_fr")}
    assert reasons["FA-1004"][0].startswith("BG-25/BT-131") and "1O,00" in reasons["FA-1004"][1]
    assert reasons["FA-1005"][0] == "_error" and "cells for 27 columns" in reasons["FA-1005"][1]
    assert "cannot read factures_broken.xlsx" in reasons[next(k for k in reasons if k.startswith("factures_broken"))][1]
    assert [i.number for i in store.invoices("drop_fr")] == ["FA-1003"]
    assert store.get_watermark("drop_fr", "invoices").value == T0 + dt.timedelta(seconds=60)
    # the same window again: nothing new is read (files older than the watermark)
    assert sync_stream(store, source, c, "invoices", until=UNTIL).read == 0
    # re-reading the whole folder changes nothing either: same ids, same content
    again = sync_stream(store, source, c, "invoices", until=UNTIL, since=T0 - dt.timedelta(days=1))
    assert (again.inserted, again.updated, again.unchanged, again.rejected) == (0, 0, 1, 3)


def test_missing_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        FileDropConnector(ConnectionInfo(host="local", schema="no/such/folder"))
    with pytest.raises(FatalError, match="host_key"):  # a remote host is SFTP: its key must be pinned
        FileDropConnector(ConnectionInfo(host="sftp.example", login="erp", schema="drops"))


def test_a_file_over_the_filedrop_limit_is_quarantined_unread(tmp_path, monkeypatch):
    drop(tmp_path, "factures_2026-01_cp1252.csv", T0)
    big = drop(tmp_path, "factures_2026-01_cp1252.csv", T0 + dt.timedelta(hours=1), as_name="factures_huge.csv")
    monkeypatch.setenv("O2C_MAX_FILEDROP_BYTES", str(big.stat().st_size))
    big.write_bytes(big.read_bytes() + b"\n")  # one byte over the limit, then back to its window
    os.utime(big, ((T0 + dt.timedelta(hours=1)).timestamp(),) * 2)
    monkeypatch.setattr(Path, "read_bytes", _refuse_reading(big, Path.read_bytes))
    _, records = pull(connector(tmp_path))
    errors = [r for r in records if r.get("_error")]
    assert len(errors) == 1 and errors[0]["_file"]["name"] == "factures_huge.csv"
    assert "over the" in errors[0]["_error"] and "O2C_MAX_FILEDROP_BYTES" in errors[0]["_error"]
    assert {r["id"] for r in records if not r.get("_error")} == {"FA-1001", "FA-1002", "AV-0007"}


def _refuse_reading(big: Path, original):
    def read_bytes(self: Path) -> bytes:
        assert self != big, "a file over the limit must not be read"
        return original(self)
    return read_bytes


SETTLEMENT_HEADERS = {**FR_HEADERS, "Montant TTC": "total_gross", "Reste dû": "open_amount", "Statut": "status",
                      "Date de règlement": "settled_on"}


def test_open_items_export_is_the_erps_settlement_state(tmp_path):
    """A French open-items export (UTF-8 with BOM, ';', CRLF): the hub stores its open amounts for
    the invoices it has from the invoice export; a cancelled invoice the hub never had is skipped,
    an unreadable amount quarantined; the next export of the same file changes nothing."""
    from o2c.config import SourceConfig
    from o2c.jobs.sync import sync_stream
    from o2c.store import Store
    from o2c.store.receivables import settlement_of

    drop(tmp_path, "factures_2026-01_cp1252.csv", T0)
    later = T0 + dt.timedelta(days=6)
    drop(tmp_path, "soldes_2026-02_utf8bom.csv", later)
    options = {**OPTIONS, "files": {"invoices": "factures_*", "settlements": "soldes_*"}, "headers": SETTLEMENT_HEADERS}
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    source = SourceConfig(name="drop_fr", kind="filedrop", connection="x", streams=["invoices", "settlements"], options=options)
    c = connector(tmp_path, **options)
    assert sync_stream(store, source, c, "invoices", until=UNTIL).inserted == 3
    summary = sync_stream(store, source, c, "settlements", until=UNTIL)
    assert (summary.read, summary.inserted, summary.rejected, summary.findings, summary.status) == (5, 3, 1, 0, "success")
    assert summary.rejects[0]["id"] == "FA-1042" and "31O,00" in summary.rejects[0]["reason"]
    with store.session() as s:
        got = {n: settlement_of(s, "drop_fr", n) for n in ("FA-1001", "FA-1002", "AV-0007", "FA-0999")}
    assert got["FA-0999"] is None  # cancelled, and never in the hub
    assert {n: (st.state, st.open_amount, st.currency, st.settled_on) for n, st in got.items() if st} == {
        "FA-1001": ("partial", D("1420.00"), "EUR", None),
        "FA-1002": ("paid", D("0.00"), "EUR", dt.date(2026, 2, 5)),
        "AV-0007": ("open", D("120.00"), "EUR", None)}
    assert store.get_watermark("drop_fr", "settlements").value == later
    again = sync_stream(store, source, c, "settlements", until=UNTIL, since=T0)
    assert (again.read, again.inserted, again.updated, again.unchanged) == (5, 0, 0, 3)
