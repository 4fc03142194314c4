"""French lifecycle statuses (CDV) as CDAR D22B messages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from edi import cdar, samples
from edi.xmlsafe import parse_bytes
from schemas.errors import RejectedDocument


def test_labels_and_mandatory_codes() -> None:
    assert cdar.STATUSES["200"] == "Déposée" and cdar.STATUSES["210"] == "Refusée"
    assert cdar.STATUSES["212"] == "Encaissée" and cdar.STATUSES["213"] == "Rejetée"
    assert cdar.MANDATORY == {"200", "210", "212", "213"}
    assert [cdar.STATUSES[str(c)] for c in range(200, 214)][1:4] == ["Émise par la plateforme", "Reçue par la plateforme",
                                                                      "Mise à disposition"]


def test_encaissee_from_payment_splits_per_vat_rate() -> None:
    inv = next(i for i in samples.sample_invoices(40) if len({v.rate for v in i.vat_breakdown}) > 1)
    paid = Decimal("100.00")
    status = cdar.encaissee(inv, paid, dt.date(2026, 10, 15))
    assert status.status_code == "212" and status.label == "Encaissée"
    assert status.amount == paid and len(status.amounts) == len({v.rate for v in inv.vat_breakdown})
    assert status.seller_siren == inv.seller.siren and status.status_date == dt.date(2026, 10, 15)
    back = cdar.parse(cdar.render(status))
    assert back == status


def test_message_structure() -> None:
    inv = samples.sample_invoice(1)
    xml = cdar.render(cdar.encaissee(inv, inv.totals.payable, dt.date(2026, 12, 1)))
    root = parse_bytes(xml, "cdar")
    ns = {"rsm": cdar.RSM, "ram": cdar.RAM}
    assert root.findtext("rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", namespaces=ns) \
        == cdar.GUIDELINE
    ref = root.find("rsm:AcknowledgementDocument/ram:ReferenceReferencedDocument", ns)
    assert ref.findtext("ram:IssuerAssignedID", namespaces=ns) == inv.number
    assert ref.findtext("ram:ProcessConditionCode", namespaces=ns) == "212"
    assert ref.find("ram:IssuerTradeParty/ram:GlobalID", ns).get("schemeID") == "0002"
    men = ref.findall("ram:SpecifiedDocumentStatus/ram:SpecifiedDocumentCharacteristic", ns)
    assert men and all(m.findtext("ram:TypeCode", namespaces=ns) == "MEN" for m in men)


@pytest.mark.parametrize("code", ["200", "205", "209", "211", "213", "501"])
def test_round_trip_other_statuses(code: str) -> None:
    status = cdar.LifecycleStatus(
        invoice_number="FA-2026-000001", invoice_issue_date=dt.date(2026, 9, 1), seller_siren="732829320",
        status_code=code, status_date=dt.datetime(2026, 9, 2, 10, 30, 0), issuer_id="0042", issuer_role="WK",
        issuer_scheme="0238", recipient_id="552081317", recipient_role="BY",
        reason_code="NON_CONFORME" if code in cdar.REASON_REQUIRED else None,
        reason="Facture non conforme" if code in cdar.REASON_REQUIRED else None)
    assert cdar.parse(cdar.render(status)) == status


def test_rules() -> None:
    base = dict(invoice_number="FA-1", invoice_issue_date=dt.date(2026, 9, 1), seller_siren="732829320",
                status_date=dt.date(2026, 9, 2), issuer_id="732829320")
    with pytest.raises(cdar.InvalidLifecycleStatus, match="needs a reason"):
        cdar.render(cdar.LifecycleStatus(status_code="210", **base))
    with pytest.raises(cdar.InvalidLifecycleStatus, match="amount collected"):
        cdar.render(cdar.LifecycleStatus(status_code="212", **base))
    with pytest.raises(cdar.InvalidLifecycleStatus, match="unknown lifecycle status"):
        cdar.render(cdar.LifecycleStatus(status_code="299", **base))
    with pytest.raises(cdar.InvalidLifecycleStatus):
        cdar.encaissee(samples.sample_invoice(1), Decimal("-5"), dt.date(2026, 9, 1))
    assert issubclass(cdar.InvalidLifecycleStatus, RejectedDocument)


def test_not_a_cdar() -> None:
    with pytest.raises(RejectedDocument, match="not a CDAR"):
        cdar.parse(b"<a/>")


def test_status_messages_over_the_lifecycle_limit_are_quarantined_unread(tmp_path, monkeypatch) -> None:
    from o2c.jobs.einvoice import ingest_statuses
    from o2c.store import Store
    from schemas.errors import TooLarge

    status = cdar.LifecycleStatus(invoice_number="FA-2026-000001", invoice_issue_date=dt.date(2026, 9, 1),
                                  seller_siren="732829320", status_code="200", status_date=dt.date(2026, 9, 2),
                                  issuer_id="0042", issuer_role="WK")
    good = cdar.render(status)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a_status.xml").write_bytes(good)
    (inbox / "b_huge.xml").write_bytes(good.replace(b"</rsm:", b"<!--" + b"x" * 4096 + b"--></rsm:", 1))
    monkeypatch.setenv("O2C_MAX_LIFECYCLE_BYTES", str(len(good) + 100))
    with pytest.raises(TooLarge, match="O2C_MAX_LIFECYCLE_BYTES"):
        cdar.parse((inbox / "b_huge.xml").read_bytes(), document_id="b_huge.xml")
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.upgrade()
    summary = ingest_statuses(store, inbox)
    assert (summary.read, summary.recorded, summary.rejected) == (2, 1, 1)
    [item] = store.quarantined("platform")
    assert item.source_id == "b_huge.xml" and "over the" in item.reason and "O2C_MAX_LIFECYCLE_BYTES" in item.reason
