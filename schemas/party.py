"""Canonical customer: one legal entity the company sells to, seen from any source.

Identifiers are compacted on the way in and checked by :func:`schemas.validation.validate_customer`
(SIREN / SIRET with python-stdnum, VAT ids with ``stdnum.eu.vat``, IBANs with schwifty).

The collections part of the master (what dunning and credit control need), as each source gives
it; docs/customer-master.md says which source field feeds which and what a source does not have:

- ``credit_limit``: in the company currency of the source (Tryton ``credit_limit_amount``, Odoo
  ``credit_limit``), or the CRM's custom field;
- ``payment_terms``: the term's name or code as the source shows it; ``payment_days`` the number
  of days after the invoice date when the source's term is a plain "net N days" (None for end of
  month terms, instalments, or a source that gives a code only);
- ``dunning_contacts``: the people or mailboxes reminders go to (Tryton's contact mechanisms for
  the ``invoice`` usage, Odoo's child contacts of type ``invoice``...);
- ``dunning_language``: the language reminders are written in, a BCP 47 tag (``fr``, ``de``,
  ``pt-BR``), from the source's language code (Tryton ``fr``, Odoo ``fr_FR``, SAP ``FR``);
- ``blocked`` / ``on_hold``: None when the source says nothing, else whether it is; ``blocked``
  means no new business at all (a deactivated party, SAP's central posting block), ``on_hold``
  that some of it is stopped (an SAP order, delivery or billing block, an Odoo "blocking
  message", a Tryton party category configured as a hold). The reason says which and why, in
  the source's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from schemas.invoice import Address, Contact, SourceRef


@dataclass(slots=True, kw_only=True)
class Customer:
    name: str
    source: SourceRef | None = None
    code: str | None = None  # the customer number in the source system
    siren: str | None = None
    siret: str | None = None
    vat_id: str | None = None
    gln: str | None = None
    address: Address | None = None
    contact: Contact | None = None
    ibans: list[str] = field(default_factory=list)
    currency: str | None = None
    credit_limit: Decimal | None = None
    payment_terms: str | None = None  # the term's name or code in the source
    payment_days: int | None = None  # net days after the invoice date, when the term is that simple
    account_owner: str | None = None
    segment: str | None = None
    dunning_contacts: list[Contact] = field(default_factory=list)
    dunning_language: str | None = None  # BCP 47 language tag (ISO 639-1 language, optional region)
    blocked: bool | None = None  # None: the source does not say
    blocked_reason: str | None = None
    on_hold: bool | None = None
    on_hold_reason: str | None = None
    aliases: list[str] = field(default_factory=list)

    @property
    def record_id(self) -> str:
        if self.source is not None:
            return f"{self.source.system}:{self.source.id} ({self.name})"
        return self.code or self.name


_LANGUAGE = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z]{4}))?(?:[-_]([A-Za-z]{2}|[0-9]{3}))?(?:@([A-Za-z]+))?$")
_SCRIPTS = {"latin": "Latn", "cyrillic": "Cyrl"}  # glibc modifiers some ERPs use (Odoo's sr@latin)


def language_tag(code: object) -> str | None:
    """A source's language code as a BCP 47 tag: ISO 639 language in lower case, optional ISO 15924
    script and ISO 3166 region (or UN M.49 area); None for an empty code. A code that is not a
    language babel knows comes back unchanged, for :func:`schemas.validation.customer_issues` to
    name.

    >>> [language_tag(c) for c in ("fr", "fr_FR", "FR", "pt-br", "sr@latin", "es_419", "", None)]
    ['fr', 'fr-FR', 'fr', 'pt-BR', 'sr-Latn', 'es-419', None, None]
    >>> language_tag("klingon")
    'klingon'
    """
    if code is None:
        return None
    text = str(code).strip()
    if not text:
        return None
    m = _LANGUAGE.match(text)
    if not m:
        return text
    lang, script, region, modifier = m.groups()
    script = script or _SCRIPTS.get((modifier or "").lower())
    parts = [lang.lower()] + ([script.title()] if script else []) + ([region.upper()] if region else [])
    from babel import Locale, UnknownLocaleError

    try:
        Locale.parse(lang.lower())
    except (UnknownLocaleError, ValueError):
        return text
    return "-".join(parts)


def is_language_tag(tag: str) -> bool:
    """True for what :func:`language_tag` gives for a known language."""
    return language_tag(tag) == tag and bool(_LANGUAGE.match(tag)) and "_" not in tag
