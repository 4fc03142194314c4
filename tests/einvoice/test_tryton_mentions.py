"""The French mentions of invoices pulled from the live Tryton: delivery (BG-13) from the sale's
shipment, buyer SIREN and its 0225 address, operation category, credited invoices, VAT on debits
from the tax lines Tryton books on cash basis (account_tax_cash); rendered as EXTENDED-CTC-FR with
the seller's legal payment notes from the e-invoicing settings and checked with the official
French rules; intra-community supplies leave."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from demo.cli import DEMO_PAYMENT_NOTES, write_einvoicing
from edi import ctcfr, einvoice
from o2c.config import EInvoicingConfig, SourceConfig, load_einvoicing
from o2c.jobs.einvoice import outbound
from o2c.jobs.sync import sync_source
from o2c.store import Store
from o2c.store.einvoice import EInvoiceDocument
from o2c.store.models import Quarantine
from schemas.invoice import Invoice
from schemas.jsonio import from_json
from tests.connectors.test_tryton_live import FAR_FUTURE, conn_info
from tests.connectors.tryton_truth import tryton_session

pytestmark = [pytest.mark.tryton, pytest.mark.slow]

# Tryton has no field for the legal payment mentions BR-FR-05 asks for (recovery fee, late
# penalties, early-payment discount): a seller's general terms, not in the ERP's invoice; they
# come from the e-invoicing settings (payment_notes)
BR_FR_05 = {"BR-FR-05_BT-22_PMT", "BR-FR-05_BT-22_PMD", "BR-FR-05_BT-22_AAB"}
SELLER = "843129453"
# the demo company reported its VAT on services on cash basis until June, opted for debits from July
DEBITS_FROM = dt.date(2026, 7, 1)


def _call(server: Any, http: Any, ctx: dict[str, Any], model: str, method: str, *args: Any) -> Any:
    body = http.post(server.rpc_url, json={"id": 1, "method": f"model.{model}.{method}", "params": [*args, ctx]},
                     timeout=60).json()
    assert "error" not in body, body
    return body["result"]


def tryton_deliveries(server: Any) -> dict[str, dict[str, Any]]:
    """Tryton's own answer, read with plain JSON-RPC (not the connector): per invoice number with
    shipped lines, its done customer shipments' latest date and that shipment's delivery address."""
    http, ctx = tryton_session(server)
    lines = _call(server, http, ctx, "account.invoice.line", "search_read",
                  [["invoice.type", "=", "out"], ["invoice.state", "in", ["posted", "paid"]], ["stock_moves", "!=", None]],
                  0, None, None, ["invoice.number", "stock_moves"])
    moves = {m["id"]: m for m in _call(server, http, ctx, "stock.move", "read",
                                       sorted({m for ln in lines for m in ln["stock_moves"]}), ["shipment", "state"])}
    ship_ids = sorted({int(m["shipment"].split(",")[1]) for m in moves.values()
                       if m["state"] == "done" and (m["shipment"] or "").startswith("stock.shipment.out,")})
    ships = {s["id"]: s for s in _call(server, http, ctx, "stock.shipment.out", "read", ship_ids,
                                       ["effective_date", "delivery_address.city", "delivery_address.postal_code",
                                        "delivery_address.country.code"])}
    out: dict[str, dict[str, Any]] = {}
    for ln in lines:
        number = ln["invoice."]["number"]
        for m in ln["stock_moves"]:
            ship = ships.get(int((moves[m]["shipment"] or "x,0").split(",")[1]))
            if ship is None:
                continue
            e = ship["effective_date"]
            date = dt.date(e["year"], e["month"], e["day"])
            addr = ship["delivery_address."]
            if number not in out or (date, ship["id"]) > out[number]["key"]:
                out[number] = {"key": (date, ship["id"]), "date": date, "city": addr["city"],
                               "postcode": addr["postal_code"], "country": addr["country."]["code"]}
    return out


def tryton_cash_basis(server: Any) -> dict[str, bool]:
    """Tryton's own answer, read with plain JSON-RPC: per posted customer invoice number, whether
    some tax line of its move is on cash basis (account_tax_cash)."""
    http, ctx = tryton_session(server)
    invs = _call(server, http, ctx, "account.invoice", "search_read",
                 [["type", "=", "out"], ["state", "in", ["posted", "paid"]]], 0, None, None, ["number", "move"])
    cash = _call(server, http, ctx, "account.tax.line", "search_read", [["on_cash_basis", "=", True]],
                 0, None, None, ["move_line.move"])
    cash_moves = {t["move_line."]["move"] for t in cash}
    return {i["number"]: i["move"] in cash_moves for i in invs}


def _synced_store(server: Any, path: Any) -> Store:
    store = Store(f"sqlite:///{path / 'hub.sqlite'}")
    store.upgrade()
    sync_source(store, SourceConfig(name="tryton_demo", kind="tryton", connection="x"), conn_info(server),
                until=FAR_FUTURE)
    return store


@pytest.fixture(scope="module")
def synced(tryton_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("mentions")
    return _synced_store(tryton_server, path), path


def invoices(store: Store) -> dict[str, Invoice]:
    return {r.number: from_json(Invoice, r.document) for r in store.invoices()}


def test_delivery_siren_and_category_come_from_the_sale_and_its_shipment(tryton_server, synced):
    store, _ = synced
    invs = invoices(store)
    truth = tryton_deliveries(tryton_server)
    assert len(truth) >= 20  # the seed sells goods through sales and ships them
    for number, inv in invs.items():
        if inv.is_credit_note:
            continue
        t = truth.get(number)
        if t is None:  # services only: nothing shipped, no delivery invented
            assert inv.delivery is None and inv.operation_category == "services", number
            continue
        d = inv.delivery
        assert d is not None and d.address is not None, number
        assert (d.date, d.address.city, d.address.postcode, d.address.country) == (
            t["date"], t["city"], t["postcode"], t["country"]), number
        assert d.date <= inv.issue_date
        assert inv.operation_category in ("goods", "both"), number
    # a customer delivered at its warehouse, not at its invoice address
    lesquin = [i for i in invs.values() if i.delivery and i.delivery.address and i.delivery.address.city == "Lesquin"]
    assert lesquin and all(i.buyer.address.city == "Lille" for i in lesquin)
    assert {i.delivery.party_name for i in lesquin} == {"Lefèvre - Entrepôt de Lesquin"}
    # French buyers: SIREN (BT-47) and the directory address 0225 starting with it (BT-49)
    french = [i for i in invs.values() if i.buyer.address.country == "FR"]
    assert french and all(i.buyer.siren and i.buyer.electronic_address.scheme == "0225"
                          and i.buyer.electronic_address.value == i.buyer.siren for i in french)
    assert all(i.seller.electronic_address.value == i.seller.siren == "843129453" for i in invs.values())
    assert {i.operation_category for i in invs.values()} == {"goods", "services", "both"}


def test_vat_on_debits_follows_the_tax_lines_tryton_books_on_cash_basis(tryton_server, synced):
    """account_tax_cash: VAT on services is on receipts (cash basis) in the periods that list the
    services tax group (January to June in the demo), on debits after. An invoice selling services
    with no tax line on cash basis states the option for debits; goods never do."""
    store, _ = synced
    invs = invoices(store)
    cash = tryton_cash_basis(tryton_server)
    assert set(cash) == set(invs)
    with_services = {n for n, i in invs.items() if i.operation_category in ("services", "both")}
    goods_only = set(invs) - with_services
    assert goods_only and not any(cash[n] for n in goods_only)  # VAT on goods: never on cash basis
    assert not any(invs[n].vat_on_debits for n in goods_only)
    for n in with_services:
        inv = invs[n]
        assert cash[n] == (inv.issue_date < DEBITS_FROM), (n, inv.issue_date)  # the periods' setting
        assert inv.vat_on_debits is (not cash[n]), n
    on_receipts = [n for n in with_services if cash[n]]
    on_debits = [n for n in with_services if not cash[n]]
    assert len(on_receipts) >= 3 and len(on_debits) >= 3, (on_receipts, on_debits)
    assert {invs[n].operation_category for n in on_debits} == {"services", "both"}


def test_credit_notes_name_the_credited_invoice_and_its_delivery(synced):
    store, _ = synced
    invs = invoices(store)
    notes = [i for i in invs.values() if i.is_credit_note]
    assert len(notes) == 4
    for note in notes:
        (ref,) = note.preceding_invoices
        original = invs[ref.number]
        assert ref.issue_date == original.issue_date
        if note.delivery is not None:  # a shipped line credited: its delivery is the original's
            assert note.delivery.date is not None and original.delivery is not None
    assert any(n.delivery is not None for n in notes)


def test_live_invoices_pass_the_french_rules_as_extended_ctc_fr(synced):
    store, _ = synced
    invs = invoices(store)
    picked = [next(i for i in invs.values() if i.delivery and i.buyer.address.country == "FR" and not i.is_credit_note),
              next(i for i in invs.values() if i.operation_category == "services" and not i.is_credit_note
                   and not i.vat_on_debits),
              next(i for i in invs.values() if i.operation_category == "services" and not i.is_credit_note
                   and i.vat_on_debits),
              next(i for i in invs.values() if i.buyer.address.country == "DE" and not i.is_credit_note
                   and any(v.category == "K" for v in i.vat_breakdown)),
              next(i for i in invs.values() if i.is_credit_note)]
    for inv in picked:
        result = einvoice.validate(ctcfr.render(inv), document_id=inv.number)
        # from Tryton alone, everything the French rules ask is there but the seller's payment notes
        assert {f.rule for f in result.errors} == BR_FR_05, (inv.number, result.report())


def test_outbound_adds_the_payment_notes_and_every_live_invoice_passes_the_french_rules(tryton_server, tmp_path):
    """EXTENDED-CTC-FR for every Tryton invoice: without the setting each is held back with a reason
    naming it; with it, the next run renders them again, all pass every French rule and leave."""
    store = _synced_store(tryton_server, tmp_path)
    total = len(store.invoices())
    channel = {"kind": "folder", "path": str(tmp_path / "platform")}
    bare = EInvoicingConfig(default_format="facturx-extended-ctc-fr", channel=channel)
    first = outbound(store, bare)
    assert (first.rejected, first.delivered) == (total, 0)
    assert all(r["reason"].startswith("The seller's legal payment notes are missing (BR-FR-05: recovery_fee (PMT), "
                                      "late_penalties (PMD), early_payment_discount (AAB))") and
               f"payment_notes: [{{seller_siren: '{SELLER}'" in r["reason"] for r in first.rejects), first.rejects[0]
    with store.session() as s:
        docs = s.scalars(select(EInvoiceDocument)).all()
        assert {d.status for d in docs} == {"rejected"}
        assert all({e["rule"] for e in d.report["errors"]} == BR_FR_05 for d in docs)  # nothing else fails
        assert all("payment_notes" in q.reason for q in s.scalars(select(Quarantine)).all())
    assert outbound(store, bare).already_done == total  # the same settings: the rejection stands

    configured = EInvoicingConfig(default_format="facturx-extended-ctc-fr", channel=channel,
                                  payment_notes=[{"seller_siren": SELLER, **DEMO_PAYMENT_NOTES}])
    second = outbound(store, configured)
    assert (second.rendered, second.delivered, second.rejected, second.rejects) == (total, total, 0, [])
    files = sorted((tmp_path / "platform").iterdir())
    assert len(files) == total
    invs = invoices(store)
    for f in files:
        xml = f.read_bytes()
        result = einvoice.validate(xml, document_id=f.name)  # read back from disk: the official rules
        assert result.valid, (f.name, result.report())
        back = ctcfr.parse(xml)
        notes = {n.subject_code: n.text for n in back.notes}
        assert {code: notes.get(code) for code in ("PMT", "PMD", "AAB")} == {
            "PMT": DEMO_PAYMENT_NOTES["recovery_fee"], "PMD": DEMO_PAYMENT_NOTES["late_penalties"],
            "AAB": DEMO_PAYMENT_NOTES["early_payment_discount"]}
        inv = invs[back.number]
        assert (back.delivery, back.buyer.siren, back.operation_category, back.vat_on_debits) == (
            inv.delivery, inv.buyer.siren, inv.operation_category, inv.vat_on_debits)
    assert any(invs[ctcfr.parse(f.read_bytes()).number].vat_on_debits for f in files)
    assert store.quarantined("tryton_demo") == []  # the rejections were settled by the setting
    third = outbound(store, configured)
    assert (third.rendered, third.delivered, third.already_done) == (0, 0, total)


def test_the_demo_settings_send_extended_ctc_fr_that_passes(tryton_server, tmp_path):
    """`make demo`'s e-invoicing file: one customer in EXTENDED-CTC-FR, the company's payment notes;
    every document leaves, the French ones pass every French rule."""
    store = _synced_store(tryton_server, tmp_path)
    cfg = load_einvoicing(write_einvoicing(tmp_path / "home"), home=tmp_path / "home")
    summary = outbound(store, cfg)
    assert (summary.rejected, summary.rejects, summary.delivered) == (0, [], len(store.invoices()))
    with store.session() as s:
        french = s.scalars(select(EInvoiceDocument).where(EInvoiceDocument.format == "facturx-extended-ctc-fr")).all()
    assert len(french) >= 3
    for doc in french:
        assert einvoice.validate(doc.content, document_id=doc.filename).valid
        assert {n.subject_code for n in ctcfr.parse(doc.content).notes} >= {"PMT", "PMD", "AAB"}


def test_intra_community_supplies_are_no_longer_held_back(synced):
    """Goods sold to a German customer (VAT K) need a delivery date and country (BR-IC-11/12):
    they now come from the shipment, so the outbound job delivers them."""
    store, path = synced
    invs = invoices(store)
    intra = {n for n, i in invs.items() if any(v.category == "K" for v in i.vat_breakdown)}
    assert len(intra) >= 3
    assert all(invs[n].delivery.date and invs[n].delivery.address.country == "DE" for n in intra)
    cfg = EInvoicingConfig(default_format="facturx-en16931", channel={"kind": "folder", "path": str(path / "platform")})
    summary = outbound(store, cfg)
    assert summary.rejects == [] and summary.delivered == len(invs)
    delivered = {p.name.split("_v")[0] for p in (path / "platform").iterdir()}
    assert intra <= delivered
