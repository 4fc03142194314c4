"""The French mentions of invoices pulled from the live Tryton: delivery (BG-13) from the sale's
shipment, buyer SIREN and its 0225 address, operation category, credited invoices; rendered as
EXTENDED-CTC-FR and checked with the official French rules; intra-community supplies leave."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from edi import ctcfr, einvoice
from o2c.config import EInvoicingConfig, SourceConfig
from o2c.jobs.einvoice import outbound
from o2c.jobs.sync import sync_source
from o2c.store import Store
from schemas.invoice import Invoice, Note
from schemas.jsonio import from_json
from tests.connectors.test_tryton_live import FAR_FUTURE, conn_info
from tests.connectors.tryton_truth import tryton_session

pytestmark = [pytest.mark.tryton, pytest.mark.slow]

# Tryton has no field for the legal payment mentions BR-FR-05 asks for (recovery fee, late
# penalties, early-payment discount): a seller's general terms, not in the ERP's invoice
LEGAL_NOTES = [
    Note(text="Indemnité forfaitaire pour frais de recouvrement : 40 €.", subject_code="PMT"),
    Note(text="Pénalités de retard : trois fois le taux d'intérêt légal.", subject_code="PMD"),
    Note(text="Pas d'escompte pour paiement anticipé.", subject_code="AAB"),
]
BR_FR_05 = {"BR-FR-05_BT-22_PMT", "BR-FR-05_BT-22_PMD", "BR-FR-05_BT-22_AAB"}


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


@pytest.fixture(scope="module")
def synced(tryton_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("mentions")
    store = Store(f"sqlite:///{path / 'hub.sqlite'}")
    store.upgrade()
    sync_source(store, SourceConfig(name="tryton_demo", kind="tryton", connection="x"), conn_info(tryton_server),
                until=FAR_FUTURE)
    return store, path


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
    # the demo does not activate account_tax_cash: Tryton does not say, no debits mention
    assert not any(i.vat_on_debits for i in invs.values())


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
              next(i for i in invs.values() if i.operation_category == "services" and not i.is_credit_note),
              next(i for i in invs.values() if i.buyer.address.country == "DE" and not i.is_credit_note
                   and any(v.category == "K" for v in i.vat_breakdown)),
              next(i for i in invs.values() if i.is_credit_note)]
    for inv in picked:
        result = einvoice.validate(ctcfr.render(inv), document_id=inv.number)
        # everything the French rules ask is there, but the seller's legal payment notes
        assert {f.rule for f in result.errors} == BR_FR_05, (inv.number, result.report())
        inv.notes = [*inv.notes, *LEGAL_NOTES]
        xml = einvoice.render(inv, "facturx-extended-ctc-fr")  # validated: raises on any error
        back = ctcfr.parse(xml)
        assert back.delivery == inv.delivery and back.buyer.siren == inv.buyer.siren
        assert back.operation_category == inv.operation_category


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
