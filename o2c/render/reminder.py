"""A reminder (relance) as people receive it: a PDF letter and an e-mail (text + HTML, the PDF and
the invoices attached), in the customer's language. Pure: no store, no network.

The job (:mod:`o2c.jobs.reminders`) builds a :class:`ReminderDoc` from a stored reminder, the
seller and buyer of its invoices and the policy, then calls :func:`render_pdf` and
:func:`render_email`. The words are data (:mod:`o2c.render.texts`: French, English, German); a
customer language the hub has no text in falls back to the configured default, and
:func:`pick_language` says so.

The PDF follows the invoices' layout (:mod:`edi.facturx`: A4, DejaVu Sans embedded, the same
grey headings and table heads): the seller and the customer, the level, a table of the invoices
(due date, days late, open amount, interest, indemnity), the open credit notes, the totals, the
bank details and the legal sentence on late-payment penalties when the policy configures them.

>>> doc = ReminderDoc(reference="R1", as_of=dt.date(2026, 12, 7), level=2, tone="firm", language="de",
...                   currency="EUR", seller=PartyView(name="Acme SAS"), customer=PartyView(name="Müller GmbH"),
...                   lines=[ReminderLineView("FA-1", dt.date(2026, 10, 1), 67, Decimal("1234.50"))])
>>> pick_language("de-AT", "fr")
('de', None)
>>> pick_language("it", "fr")
('fr', "no reminder text in 'it': written in 'fr', the configured default")
>>> money(Decimal("1234.5"), "EUR", "de")
'1.234,50 EUR'
>>> render_email(doc, sender=("Acme", "ar@acme.example"), to=[("Buchhaltung", "bh@mueller.example")])["Subject"]
'Mahnung: unbezahlte Rechnungen — Acme SAS'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import lru_cache

from o2c.render.texts import LOCALES, TEXTS, TONES

ZERO = Decimal(0)


@dataclass(frozen=True)
class PartyView:
    """What a reminder shows of a party (from the invoices' seller and buyer)."""

    name: str
    address: tuple[str, ...] = ()
    siren: str | None = None
    vat_id: str | None = None
    email: str | None = None
    iban: str | None = None
    bic: str | None = None


@dataclass(frozen=True)
class ReminderLineView:
    number: str
    due_date: dt.date
    days_late: int
    open_amount: Decimal
    interest: Decimal = ZERO
    indemnity: Decimal = ZERO


@dataclass
class ReminderDoc:
    """Everything the PDF and the e-mail show."""

    reference: str  # the hub's reminder id, printed and in the file names
    as_of: dt.date
    level: int
    tone: str  # friendly, firm, final
    language: str  # fr, en, de (after the fallback)
    currency: str
    seller: PartyView
    customer: PartyView
    lines: list[ReminderLineView] = field(default_factory=list)
    credit_notes: list[tuple[str, Decimal]] = field(default_factory=list)  # (number, open amount, negative)
    annual_rate: Decimal = ZERO  # shown in the legal sentence when configured
    indemnity_per_invoice: Decimal = ZERO
    indemnity_currency: str = "EUR"

    @property
    def due(self) -> Decimal:
        return sum((ln.open_amount for ln in self.lines), ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((amount for _, amount in self.credit_notes), ZERO)

    @property
    def interest(self) -> Decimal:
        return sum((ln.interest for ln in self.lines), ZERO)

    @property
    def indemnity(self) -> Decimal:
        return sum((ln.indemnity for ln in self.lines), ZERO)

    @property
    def total(self) -> Decimal:
        return self.due + self.credits + self.interest + self.indemnity


def tone_for(level: int, levels: list[int] | tuple[int, ...]) -> str:
    """``friendly`` at the first configured level, ``final`` at the last, ``firm`` between.

    >>> [tone_for(n, (1, 2, 3)) for n in (1, 2, 3)], tone_for(1, (1,))
    (['friendly', 'firm', 'final'], 'friendly')
    """
    ordered = sorted(levels)
    if not ordered or level <= ordered[0]:
        return TONES[0]
    if level >= ordered[-1]:
        return TONES[2]
    return TONES[1]


def pick_language(tag: str | None, default: str) -> tuple[str, str | None]:
    """The language a reminder is written in for the customer's BCP 47 ``tag`` (``de``, ``fr-FR``),
    and why it is not the customer's own when it falls back to ``default``."""
    primary = (tag or "").replace("_", "-").split("-")[0].strip().lower()
    if primary in TEXTS:
        return primary, None
    if not primary:
        return default, f"no language in the customer master: written in {default!r}, the configured default"
    return default, f"no reminder text in {primary!r}: written in {default!r}, the configured default"


def _t(doc: ReminderDoc, key: str, **values: str) -> str:
    return TEXTS[doc.language][key].format(**values)


def money(value: Decimal, currency: str, language: str) -> str:
    """``value`` with 2 decimals in the language's number format, then the currency code."""
    from babel.numbers import format_decimal

    text = format_decimal(value, format="#,##0.00", locale=LOCALES[language])
    return f"{text} {currency}".replace("\u202f", " ").replace("\xa0", " ")


def day(value: dt.date, language: str) -> str:
    from babel.dates import format_date

    return format_date(value, format="medium", locale=LOCALES[language]).replace("\u202f", " ").replace("\xa0", " ")


def percent(rate: Decimal, language: str) -> str:
    from babel.numbers import format_decimal

    return format_decimal(rate * 100, format="#,##0.##", locale=LOCALES[language]) + " %"


def legal_sentence(doc: ReminderDoc) -> str | None:
    """The sentence on late-payment penalties and the fixed indemnity, when configured."""
    rate = percent(doc.annual_rate, doc.language) if doc.annual_rate > 0 else None
    indemnity = (money(doc.indemnity_per_invoice, doc.indemnity_currency, doc.language)
                 if doc.indemnity_per_invoice > 0 else None)
    if rate and indemnity:
        return _t(doc, "legal", rate=rate, indemnity=indemnity)
    if rate:
        return _t(doc, "legal.interest", rate=rate)
    if indemnity:
        return _t(doc, "legal.indemnity", indemnity=indemnity)
    return None


def _paragraphs(doc: ReminderDoc) -> list[str]:
    total = money(doc.total, doc.currency, doc.language)
    return [_t(doc, "greeting"), _t(doc, f"body.{doc.tone}", total=total), _t(doc, "paid_meanwhile")]


def _payment(doc: ReminderDoc) -> str | None:
    if not doc.seller.iban:
        return None
    return _t(doc, "pay", iban=doc.seller.iban, bic=f" — BIC {doc.seller.bic}" if doc.seller.bic else "")


def _totals(doc: ReminderDoc) -> list[tuple[str, Decimal]]:
    rows = [(_t(doc, "total.due"), doc.due)]
    if doc.credit_notes:
        rows.append((_t(doc, "total.credits"), doc.credits))
    if doc.interest:
        rows.append((_t(doc, "total.interest"), doc.interest))
    if doc.indemnity:
        rows.append((_t(doc, "total.indemnity"), doc.indemnity))
    rows.append((_t(doc, "total"), doc.total))
    return rows


def filename(doc: ReminderDoc) -> str:
    return f"{_t(doc, 'filename')}-{doc.as_of.isoformat()}-{doc.reference}.pdf"


# -- PDF ---------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _fonts() -> tuple[str, str]:
    from edi.facturx import FONT_BOLD, FONT_REGULAR

    return str(FONT_REGULAR), str(FONT_BOLD)


def render_pdf(doc: ReminderDoc) -> bytes:
    """The reminder letter as a PDF (A4, DejaVu Sans embedded: every Latin character prints)."""
    from fpdf import FPDF

    lang = doc.language
    title = _t(doc, f"title.{doc.tone}")
    cur = doc.currency
    pdf = FPDF(format="A4", unit="mm")
    regular, bold = _fonts()
    pdf.add_font("DejaVu", "", regular)
    pdf.add_font("DejaVu", "B", bold)
    pdf.set_title(f"{title} {doc.reference}")
    pdf.set_author(doc.seller.name)
    pdf.set_creator("o2c-hub")
    pdf.set_lang({"fr": "fr-FR", "en": "en-GB", "de": "de-DE"}[lang])
    pdf.set_creation_date(dt.datetime.combine(doc.as_of, dt.time(0, 0), tzinfo=dt.UTC))
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=18)
    pdf.alias_nb_pages()

    def footer() -> None:
        pdf.set_y(-13)
        pdf.set_font("DejaVu", "", 7)
        pdf.set_text_color(90, 90, 90)
        pdf.cell(0, 4, f"{title} {doc.reference} — " + _t(doc, "page", page=str(pdf.page_no()), pages="{nb}"), align="C")
        pdf.set_text_color(0, 0, 0)

    pdf.footer = footer  # type: ignore[method-assign]
    pdf.add_page()

    pdf.set_font("DejaVu", "B", 16)
    pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8.5)
    pdf.multi_cell(0, 4, "   ·   ".join([_t(doc, "date", date=day(doc.as_of, lang)), _t(doc, "level", level=str(doc.level)),
                                         f"Ref. {doc.reference}"]), new_x="LMARGIN", new_y="NEXT")

    def party_block(x: float, y: float, heading: str, p: PartyView) -> float:
        pdf.set_xy(x, y)
        pdf.set_font("DejaVu", "B", 8)
        pdf.set_text_color(90, 90, 90)
        pdf.cell(85, 4, heading, new_x="LEFT", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("DejaVu", "B", 10)
        pdf.multi_cell(85, 5, p.name, new_x="LEFT", new_y="NEXT")
        pdf.set_font("DejaVu", "", 8.5)
        lines = list(p.address)
        if p.siren:
            lines.append(_t(doc, "siren", siren=p.siren))
        if p.vat_id:
            lines.append(_t(doc, "vat", vat=p.vat_id))
        if p.email:
            lines.append(p.email)
        for text in lines:
            pdf.multi_cell(85, 4, text, new_x="LEFT", new_y="NEXT")
        return pdf.get_y()

    y = pdf.get_y() + 4
    y = max(party_block(15, y, _t(doc, "seller"), doc.seller), party_block(110, y, _t(doc, "customer"), doc.customer)) + 6
    pdf.set_xy(15, y)
    pdf.set_font("DejaVu", "", 9)
    for text in _paragraphs(doc):
        pdf.multi_cell(0, 4.6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)
    pdf.ln(2)

    widths = (40, 26, 26, 32, 26, 30)
    heads = [_t(doc, k) for k in ("col.invoice", "col.due", "col.days", "col.open", "col.interest", "col.indemnity")]

    def table_head() -> None:
        pdf.set_font("DejaVu", "B", 8)
        pdf.set_fill_color(230, 234, 240)
        for i, (w, h) in enumerate(zip(widths, heads, strict=True)):
            pdf.cell(w, 6, h, fill=True, align="L" if i == 0 else "R")
        pdf.ln(6)
        pdf.set_font("DejaVu", "", 8.5)

    table_head()
    for ln in doc.lines:
        if pdf.get_y() + 6 > pdf.h - 20:
            pdf.add_page()
            table_head()
        values = (ln.number, day(ln.due_date, lang), str(ln.days_late), money(ln.open_amount, cur, lang),
                  money(ln.interest, cur, lang), money(ln.indemnity, cur, lang))
        for i, (w, v) in enumerate(zip(widths, values, strict=True)):
            pdf.cell(w, 5.5, v, align="L" if i == 0 else "R")
        pdf.ln(5.5)
        pdf.set_draw_color(220, 220, 220)
        pdf.line(15, pdf.get_y() - 0.3, 195, pdf.get_y() - 0.3)
    if doc.credit_notes:
        pdf.ln(2)
        pdf.set_font("DejaVu", "B", 8)
        pdf.cell(0, 5, _t(doc, "credit_notes"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 8.5)
        for number, amount in doc.credit_notes:
            pdf.cell(146, 5, _t(doc, "credit_note", number=number))
            pdf.cell(34, 5, money(amount, cur, lang), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    rows = _totals(doc)
    if pdf.get_y() + 5 * len(rows) > pdf.h - 30:
        pdf.add_page()
    for i, (caption, value) in enumerate(rows):
        last = i == len(rows) - 1
        pdf.set_font("DejaVu", "B" if last else "", 9.5 if last else 8.5)
        pdf.cell(146, 5.5, caption, align="R")
        pdf.cell(34, 5.5, money(value, cur, lang), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("DejaVu", "", 8.5)
    for text in (_payment(doc), legal_sentence(doc)):
        if text:
            pdf.multi_cell(0, 4.2, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
    pdf.ln(3)
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(0, 4.6, _t(doc, "closing"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", "B", 9)
    pdf.multi_cell(0, 4.6, doc.seller.name, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# -- e-mail ------------------------------------------------------------------------------------
def _text_body(doc: ReminderDoc, attached_invoices: bool) -> str:
    lang, cur = doc.language, doc.currency
    out = ["\n\n".join(_paragraphs(doc)), ""]
    for ln in doc.lines:
        out.append(f"  {ln.number}  {_t(doc, 'col.due')} {day(ln.due_date, lang)}  {ln.days_late} {_t(doc, 'col.days').lower()}"
                   f"  {money(ln.open_amount, cur, lang)}")
    for number, amount in doc.credit_notes:
        out.append(f"  {_t(doc, 'credit_note', number=number)}  {money(amount, cur, lang)}")
    out.append("")
    out += [f"{caption}: {money(value, cur, lang)}" for caption, value in _totals(doc)]
    out.append("")
    out += [text for text in (_payment(doc), legal_sentence(doc)) if text]
    out += [_t(doc, "attached", invoices=_t(doc, "attached.invoices") if attached_invoices else ""), "",
            _t(doc, "closing"), doc.seller.name]
    return "\n".join(out) + "\n"


def _html_body(doc: ReminderDoc, attached_invoices: bool) -> str:
    e = html.escape
    lang, cur = doc.language, doc.currency
    cell = 'style="padding:4px 8px;border-bottom:1px solid #ddd;text-align:right"'
    left = 'style="padding:4px 8px;border-bottom:1px solid #ddd;text-align:left"'
    heads = [_t(doc, k) for k in ("col.invoice", "col.due", "col.days", "col.open", "col.interest", "col.indemnity")]
    rows = []
    for ln in doc.lines:
        values = (day(ln.due_date, lang), str(ln.days_late), money(ln.open_amount, cur, lang), money(ln.interest, cur, lang),
                  money(ln.indemnity, cur, lang))
        rows.append(f"<tr><td {left}>{e(ln.number)}</td>" + "".join(f"<td {cell}>{e(v)}</td>" for v in values) + "</tr>")
    for number, amount in doc.credit_notes:
        rows.append(f'<tr><td {left} colspan="3">{e(_t(doc, "credit_note", number=number))}</td>'
                    f'<td {cell}>{e(money(amount, cur, lang))}</td><td {cell}></td><td {cell}></td></tr>')
    totals = "".join(f'<tr><td colspan="5" {cell}>{e(c)}</td><td {cell}>{e(money(v, cur, lang))}</td></tr>'
                     for c, v in _totals(doc)[:-1])
    caption, value = _totals(doc)[-1]
    totals += f'<tr><th colspan="5" {cell}>{e(caption)}</th><th {cell}>{e(money(value, cur, lang))}</th></tr>'
    head = "".join(f'<th style="padding:4px 8px;background:#e6eaf0;text-align:{"left" if i == 0 else "right"}">{e(h)}</th>'
                   for i, h in enumerate(heads))
    paras = "".join(f"<p>{e(p)}</p>" for p in _paragraphs(doc))
    notes = "".join(f'<p style="font-size:90%">{e(t)}</p>' for t in (_payment(doc), legal_sentence(doc)) if t)
    attached = e(_t(doc, "attached", invoices=_t(doc, "attached.invoices") if attached_invoices else ""))
    return (f'<!DOCTYPE html>\n<html lang="{e(lang)}"><head><meta charset="utf-8"><title>{e(_t(doc, f"title.{doc.tone}"))}'
            f'</title></head><body style="font-family:DejaVu Sans,Arial,sans-serif;font-size:14px">'
            f'<h2 style="margin:0 0 8px">{e(_t(doc, f"title.{doc.tone}"))}</h2>'
            f'<p style="color:#555">{e(doc.customer.name)} · {e(_t(doc, "level", level=str(doc.level)))} · '
            f'{e(doc.seller.name)} · Ref. {e(doc.reference)}</p>'
            f'{paras}<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            f'<tfoot>{totals}</tfoot></table>{notes}<p>{attached}</p><p>{e(_t(doc, "closing"))}<br>{e(doc.seller.name)}</p>'
            "</body></html>\n")


def message_id(reference: str, domain: str) -> str:
    """The same Message-ID every time a reminder is (re)sent: a receiving server or a person can
    tell a retry from a new reminder."""
    digest = hashlib.sha256(reference.encode()).hexdigest()[:24]
    return f"<reminder.{digest}@{domain}>"


def render_email(doc: ReminderDoc, *, sender: tuple[str, str], to: list[tuple[str | None, str]],
                 reply_to: str | None = None, pdf: bytes | None = None,
                 invoices: list[tuple[str, bytes]] | None = None, now: dt.datetime | None = None) -> EmailMessage:
    """The e-mail of ``doc``: text and HTML alternatives, the reminder PDF and the invoices'
    PDFs (file name, bytes) attached."""
    invoices = invoices or []
    msg = EmailMessage()
    msg["Subject"] = _t(doc, f"subject.{doc.tone}", seller=doc.seller.name)
    msg["From"] = formataddr(sender)
    msg["To"] = ", ".join(formataddr((name or "", addr)) for name, addr in to)
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Date"] = format_datetime(now or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = message_id(f"{doc.reference}|{doc.as_of.isoformat()}", sender[1].rpartition("@")[2] or "o2c-hub")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(_text_body(doc, bool(invoices)))
    msg.add_alternative(_html_body(doc, bool(invoices)), subtype="html")
    if pdf is not None:
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename(doc))
    for name, content in invoices:
        msg.add_attachment(content, maintype="application", subtype="pdf", filename=name)
    msg["Content-Language"] = doc.language  # after the parts: building them moves Content-* headers down
    return msg
