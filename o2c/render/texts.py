"""The words of a reminder, per language and tone: data, not code.

Each language has the same keys. ``{placeholders}`` are filled by :mod:`o2c.render.reminder` with
plain text (in the HTML part every filled text is escaped after it is filled). The tone follows the
level: the first level is ``friendly``, the last ``final``, any level between ``firm``.

The legal sentence (France, B2B: Code de commerce L441-10 and D441-5) is printed when the policy
configures late-payment interest or the fixed recovery indemnity.
"""

from __future__ import annotations

TONES = ("friendly", "firm", "final")

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "title.friendly": "RAPPEL DE PAIEMENT",
        "title.firm": "RELANCE",
        "title.final": "DERNIÈRE RELANCE AVANT RECOUVREMENT",
        "subject.friendly": "Rappel : factures échues — {seller}",
        "subject.firm": "Relance : factures impayées — {seller}",
        "subject.final": "Dernière relance avant recouvrement — {seller}",
        "greeting": "Madame, Monsieur,",
        "body.friendly": "Sauf erreur de notre part, les factures ci-dessous restent impayées à ce jour. Il s'agit "
                         "sans doute d'un oubli : nous vous remercions de bien vouloir procéder à leur règlement.",
        "body.firm": "Malgré notre précédent rappel, les factures ci-dessous restent impayées. Nous vous demandons "
                     "de régler la somme de {total} sous huit jours.",
        "body.final": "Malgré nos relances, les factures ci-dessous restent impayées. Sans règlement de {total} "
                      "sous huit jours, nous transmettrons le dossier au recouvrement, sans autre avis.",
        "paid_meanwhile": "Si vous avez réglé ces factures entre-temps, nous vous prions de ne pas tenir compte de "
                          "ce courrier. Pour toute question ou contestation, répondez simplement à ce message.",
        "closing": "Veuillez agréer, Madame, Monsieur, nos salutations distinguées.",
        "level": "Niveau de relance {level}",
        "date": "Date : {date}",
        "seller": "ÉMETTEUR",
        "customer": "CLIENT",
        "col.invoice": "Facture",
        "col.due": "Échéance",
        "col.days": "Jours de retard",
        "col.open": "Reste dû",
        "col.interest": "Intérêts",
        "col.indemnity": "Indemnité",
        "credit_notes": "Avoirs non imputés",
        "credit_note": "Avoir {number}",
        "total.due": "Total des factures",
        "total.credits": "Avoirs",
        "total.interest": "Intérêts de retard",
        "total.indemnity": "Indemnités forfaitaires",
        "total": "Total à régler",
        "pay": "Règlement par virement : IBAN {iban}{bic}, en rappelant les numéros de facture.",
        "legal": "Tout retard de paiement entraîne de plein droit des pénalités de retard au taux annuel de {rate} "
                 "et une indemnité forfaitaire pour frais de recouvrement de {indemnity} par facture (articles "
                 "L441-10 et D441-5 du Code de commerce).",
        "legal.interest": "Tout retard de paiement entraîne de plein droit des pénalités de retard au taux annuel "
                          "de {rate} (article L441-10 du Code de commerce).",
        "legal.indemnity": "Tout retard de paiement entraîne une indemnité forfaitaire pour frais de recouvrement "
                           "de {indemnity} par facture (articles L441-10 et D441-5 du Code de commerce).",
        "attached": "Ce courrier est joint au format PDF{invoices}.",
        "attached.invoices": ", avec les factures concernées",
        "page": "page {page}/{pages}",
        "filename": "relance",
        "siren": "SIREN {siren}",
        "vat": "TVA {vat}",
    },
    "en": {
        "title.friendly": "PAYMENT REMINDER",
        "title.firm": "SECOND REMINDER",
        "title.final": "FINAL NOTICE",
        "subject.friendly": "Reminder: overdue invoices — {seller}",
        "subject.firm": "Second reminder: unpaid invoices — {seller}",
        "subject.final": "Final notice before collection — {seller}",
        "greeting": "Dear Sir or Madam,",
        "body.friendly": "According to our records, the invoices below are still unpaid. This is probably an "
                         "oversight: please arrange for their payment.",
        "body.firm": "Despite our previous reminder, the invoices below are still unpaid. Please pay {total} "
                     "within eight days.",
        "body.final": "Despite our reminders, the invoices below are still unpaid. Unless {total} is paid within "
                      "eight days, we will hand the matter over for collection without further notice.",
        "paid_meanwhile": "If you have paid these invoices in the meantime, please disregard this letter. For any "
                          "question or dispute, simply reply to this message.",
        "closing": "Yours faithfully,",
        "level": "Reminder level {level}",
        "date": "Date: {date}",
        "seller": "FROM",
        "customer": "CUSTOMER",
        "col.invoice": "Invoice",
        "col.due": "Due date",
        "col.days": "Days late",
        "col.open": "Amount due",
        "col.interest": "Interest",
        "col.indemnity": "Indemnity",
        "credit_notes": "Open credit notes",
        "credit_note": "Credit note {number}",
        "total.due": "Invoices",
        "total.credits": "Credit notes",
        "total.interest": "Late-payment interest",
        "total.indemnity": "Fixed recovery indemnities",
        "total": "Total to pay",
        "pay": "Payment by bank transfer: IBAN {iban}{bic}, quoting the invoice numbers.",
        "legal": "Late payment automatically incurs interest at the yearly rate of {rate} and a fixed recovery "
                 "indemnity of {indemnity} per invoice (French Commercial Code, articles L441-10 and D441-5).",
        "legal.interest": "Late payment automatically incurs interest at the yearly rate of {rate} (French "
                          "Commercial Code, article L441-10).",
        "legal.indemnity": "Late payment incurs a fixed recovery indemnity of {indemnity} per invoice (French "
                           "Commercial Code, articles L441-10 and D441-5).",
        "attached": "This letter is attached as a PDF{invoices}.",
        "attached.invoices": ", with the invoices concerned",
        "page": "page {page}/{pages}",
        "filename": "reminder",
        "siren": "SIREN {siren}",
        "vat": "VAT {vat}",
    },
    "de": {
        "title.friendly": "ZAHLUNGSERINNERUNG",
        "title.firm": "MAHNUNG",
        "title.final": "LETZTE MAHNUNG",
        "subject.friendly": "Zahlungserinnerung: fällige Rechnungen — {seller}",
        "subject.firm": "Mahnung: unbezahlte Rechnungen — {seller}",
        "subject.final": "Letzte Mahnung vor Übergabe an das Inkasso — {seller}",
        "greeting": "Sehr geehrte Damen und Herren,",
        "body.friendly": "nach unseren Unterlagen sind die folgenden Rechnungen noch offen. Sicher handelt es sich "
                         "um ein Versehen: wir bitten Sie, sie zu begleichen.",
        "body.firm": "trotz unserer Zahlungserinnerung sind die folgenden Rechnungen noch offen. Bitte überweisen "
                     "Sie {total} innerhalb von acht Tagen.",
        "body.final": "trotz unserer Mahnungen sind die folgenden Rechnungen noch offen. Geht {total} nicht "
                      "innerhalb von acht Tagen ein, übergeben wir die Forderung ohne weitere Ankündigung an das "
                      "Inkasso.",
        "paid_meanwhile": "Sollten Sie die Rechnungen inzwischen bezahlt haben, betrachten Sie dieses Schreiben "
                          "bitte als gegenstandslos. Bei Fragen oder Einwänden antworten Sie einfach auf diese "
                          "Nachricht.",
        "closing": "Mit freundlichen Grüßen",
        "level": "Mahnstufe {level}",
        "date": "Datum: {date}",
        "seller": "ABSENDER",
        "customer": "KUNDE",
        "col.invoice": "Rechnung",
        "col.due": "Fällig am",
        "col.days": "Tage Verzug",
        "col.open": "Offen",
        "col.interest": "Zinsen",
        "col.indemnity": "Pauschale",
        "credit_notes": "Offene Gutschriften",
        "credit_note": "Gutschrift {number}",
        "total.due": "Rechnungen",
        "total.credits": "Gutschriften",
        "total.interest": "Verzugszinsen",
        "total.indemnity": "Beitreibungspauschalen",
        "total": "Zu zahlen",
        "pay": "Zahlung per Überweisung: IBAN {iban}{bic}, unter Angabe der Rechnungsnummern.",
        "legal": "Bei Zahlungsverzug fallen von Rechts wegen Verzugszinsen zum Jahreszins von {rate} und eine "
                 "Beitreibungspauschale von {indemnity} je Rechnung an (französisches Handelsgesetzbuch, Artikel "
                 "L441-10 und D441-5).",
        "legal.interest": "Bei Zahlungsverzug fallen von Rechts wegen Verzugszinsen zum Jahreszins von {rate} an "
                          "(französisches Handelsgesetzbuch, Artikel L441-10).",
        "legal.indemnity": "Bei Zahlungsverzug fällt eine Beitreibungspauschale von {indemnity} je Rechnung an "
                           "(französisches Handelsgesetzbuch, Artikel L441-10 und D441-5).",
        "attached": "Dieses Schreiben liegt als PDF bei{invoices}.",
        "attached.invoices": ", zusammen mit den betroffenen Rechnungen",
        "page": "Seite {page}/{pages}",
        "filename": "mahnung",
        "siren": "SIREN {siren}",
        "vat": "USt-IdNr. {vat}",
    },
}

#: the Babel locale of each language (number and date formats)
LOCALES = {"fr": "fr_FR", "en": "en_GB", "de": "de_DE"}
