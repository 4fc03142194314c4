"""One customer, many sources: canonical parties linked to each source's customer record.

The same company arriving from two ERPs and a CRM becomes one :class:`Party`, found by the
strongest shared identifier: SIREN (also read from a French VAT id, whose last nine digits are
the SIREN), then VAT id, then IBAN. Each source record keeps its own values; fields on which the
linked records disagree are reported as :class:`PartyConflict` rows, never silently overwritten.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from o2c.store.models import Base, CustomerRow, UTCDateTime

# identifier kinds, strongest first
KEY_STRENGTH = ("siren", "vat_id", "iban")
# fields compared across the records linked to one party
COMPARED_FIELDS = ("name", "address.country", "address.postcode", "address.city", "credit_limit", "currency", "payment_terms")


class Party(Base):
    __tablename__ = "party"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(250))
    siren: Mapped[str | None] = mapped_column(String(9), index=True)
    vat_id: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PartyLink(Base):
    """A source's customer record belongs to a party, found by ``matched_by``."""

    __tablename__ = "party_link"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("party.id", ondelete="CASCADE"), index=True)
    matched_by: Mapped[str] = mapped_column(String(20))  # siren, vat_id, iban, new
    matched_value: Mapped[str | None] = mapped_column(String(50))
    linked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class CustomerIdentifier(Base):
    """Index of every identifier of every source customer record (for matching)."""

    __tablename__ = "customer_identifier"
    __table_args__ = (
        UniqueConstraint("customer_id", "kind", "value", name="uq_customer_identifier"),
        Index("ix_customer_identifier_lookup", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(50))


class PartyConflict(Base):
    """Linked records disagree on a field: the values per source, until they agree again."""

    __tablename__ = "party_conflict"
    __table_args__ = (UniqueConstraint("party_id", "field", name="uq_party_conflict"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("party.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(50))
    values: Mapped[dict[str, Any]] = mapped_column(JSON)  # "source:source_id" -> value
    first_detected: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_detected: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def identifiers_of(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, value) identifiers of a canonical customer document, normalised.

    >>> identifiers_of({"vat_id": "FR 44 732829320", "ibans": ["fr76 3000 6000 0112 3456 7890 189"]})
    [('siren', '732829320'), ('vat_id', 'FR44732829320'), ('iban', 'FR7630006000011234567890189')]
    """
    out: list[tuple[str, str]] = []
    vat = "".join((doc.get("vat_id") or "").split()).upper() or None
    siren = (doc.get("siren") or "").replace(" ", "") or None
    if siren is None and doc.get("siret"):
        siren = str(doc["siret"]).replace(" ", "")[:9]
    if siren is None and vat and vat.startswith("FR") and len(vat) == 13 and vat[4:].isdigit():
        siren = vat[4:]
    if siren:
        out.append(("siren", siren))
    if vat:
        out.append(("vat_id", vat))
    for iban in doc.get("ibans") or []:
        compact = "".join(str(iban).split()).upper()
        if compact:
            out.append(("iban", compact))
    return out


def _get(doc: dict[str, Any], path: str) -> Any:
    cur: Any = doc
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def _normalised(field: str, value: Any) -> Any:
    if isinstance(value, str):
        v = " ".join(value.split())
        return v.casefold() if field == "name" else v.upper() if field.startswith("address") else v
    return value


def consolidate(s: Session, customer: CustomerRow) -> Party:
    """Link ``customer`` (a stored source record) to its party, creating one when none matches,
    and refresh the conflicts of that party."""
    now = _now()
    idents = identifiers_of(customer.document)
    s.query(CustomerIdentifier).filter(CustomerIdentifier.customer_id == customer.id).delete()
    for kind, value in idents:
        s.add(CustomerIdentifier(customer_id=customer.id, kind=kind, value=value))
    s.flush()

    link = s.get(PartyLink, customer.id)
    party: Party | None = s.get(Party, link.party_id) if link else None
    if party is None:
        matched_by, matched_value = "new", None
        for kind in KEY_STRENGTH:
            values = [v for k, v in idents if k == kind]
            if not values:
                continue
            hit = s.execute(
                select(PartyLink.party_id, CustomerIdentifier.value)
                .join(CustomerIdentifier, CustomerIdentifier.customer_id == PartyLink.customer_id)
                .where(CustomerIdentifier.kind == kind, CustomerIdentifier.value.in_(values),
                       CustomerIdentifier.customer_id != customer.id)
                .order_by(PartyLink.party_id)
            ).first()
            if hit:
                party = s.get(Party, hit[0])
                matched_by, matched_value = kind, hit[1]
                break
        if party is None:
            ids = dict(idents)
            party = Party(name=customer.name, siren=ids.get("siren"), vat_id=ids.get("vat_id"), country=customer.country,
                          created_at=now, updated_at=now)
            s.add(party)
            s.flush()
        s.add(PartyLink(customer_id=customer.id, party_id=party.id, matched_by=matched_by, matched_value=matched_value, linked_at=now))
        s.flush()
    _refresh_conflicts(s, party, now)
    return party


def _refresh_conflicts(s: Session, party: Party, now: dt.datetime) -> None:
    members = s.scalars(
        select(CustomerRow).join(PartyLink, PartyLink.customer_id == CustomerRow.id).where(PartyLink.party_id == party.id)
    ).all()
    party.updated_at = now
    for field in COMPARED_FIELDS:
        values = {f"{m.source}:{m.source_id}": _get(m.document, field) for m in members}
        present = {k: v for k, v in values.items() if v not in (None, "")}
        distinct = {_normalised(field, v) for v in present.values()}
        row = s.scalar(select(PartyConflict).where(PartyConflict.party_id == party.id, PartyConflict.field == field))
        if len(distinct) > 1:
            if row is None:
                s.add(PartyConflict(party_id=party.id, field=field, values=present, first_detected=now, last_detected=now))
            else:
                row.values, row.last_detected, row.resolved_at = present, now, None
        elif row is not None and row.resolved_at is None:
            row.resolved_at = now


def party_view(s: Session, party_id: int) -> dict[str, Any]:
    """A party with its linked source records and open conflicts (for the CLI and review pages)."""
    party = s.get(Party, party_id)
    if party is None:
        raise KeyError(party_id)
    links = s.execute(
        select(PartyLink, CustomerRow).join(CustomerRow, CustomerRow.id == PartyLink.customer_id).where(PartyLink.party_id == party_id)
    ).all()
    conflicts = s.scalars(select(PartyConflict).where(PartyConflict.party_id == party_id, PartyConflict.resolved_at.is_(None))).all()
    return {
        "id": party.id, "name": party.name, "siren": party.siren, "vat_id": party.vat_id,
        "sources": [{"source": c.source, "source_id": c.source_id, "name": c.name, "matched_by": link.matched_by} for link, c in links],
        "conflicts": [{"field": c.field, "values": c.values} for c in conflicts],
    }
