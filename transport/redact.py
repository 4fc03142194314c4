"""Keep account numbers out of logs and summaries: show the first and last four characters.

>>> mask_account("FR7630006000011234567890189")
'FR76…0189'
>>> mask_account("10020030/1234567")
'1002…4567'
>>> mask_account("1234")
'…1234'
>>> redact("sftp_bnp: quarantined P_CH2909000000250094239_1110092691.xml (account FR76 3000 6000 0112 3456 7890 189)")
'sftp_bnp: quarantined P_CH29…4239_1110…2691.xml (account FR76…0189)'
>>> redact("camt.052/053/054 files; account 052/053/054")
'camt.052/053/054 files; account 052/…/054'
>>> redact("BT-2: not a date: '20260230'; booked 2026-01-15 on 12345678")
"BT-2: not a date: '20260230'; booked 2026-01-15 on …5678"
"""

from __future__ import annotations

import re

# an IBAN (compact or printed in groups of four), or any token holding eight digits or more
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_LONG_NUMBER = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9/\-]*\d[\d/\- ]{6,}\d[A-Za-z0-9/\-]*")
# ISO 20022 message numbers listed after their business area ("camt.052/053/054"): three-digit
# groups joined by "/" right after one of these prefixes are kept; anything else is masked as before
_MESSAGE_AREA = re.compile(r"(?i)(?<![A-Za-z0-9])(?:acmt|admi|auth|camt|head|pacs|pain|reda|remt|semt|sese|setr|tsmt)\.\Z")
_MESSAGE_LIST = re.compile(r"\d{3}(?:/\d{3})+")
# a calendar date (CCYYMMDD as EDI and e-invoices write it, or ISO 2026-01-15) is not an account:
# error messages must be able to say which date they refuse
_DATE = re.compile(r"(?:19|20)\d\d(-?)(?:0[1-9]|1[0-2])\1(?:0[1-9]|[12]\d|3[01])")


def mask_account(account: str | None) -> str:
    """``FR76…0189``: enough to tell accounts apart, not enough to use one."""
    if not account:
        return "?"
    compact = account.replace(" ", "")
    if len(compact) <= 8:
        return "…" + compact[-4:]
    return f"{compact[:4]}…{compact[-4:]}"


def _mask_long(m: re.Match[str]) -> str:
    token = m.group(0)
    if sum(c.isdigit() for c in token) < 8:
        return token
    if _MESSAGE_LIST.fullmatch(token) and _MESSAGE_AREA.search(m.string, 0, m.start()):
        return token  # "camt.052/053/054": ISO 20022 message numbers, not an account
    if _DATE.fullmatch(token.strip()):
        return token
    trail = " " if token.endswith(" ") else ""
    return mask_account(token.strip()) + trail


def redact(text: str) -> str:
    """``text`` with every IBAN-like or long account-like number masked."""
    text = _IBAN.sub(lambda m: mask_account(m.group(0)), text)
    return _LONG_NUMBER.sub(_mask_long, text)


# credentials in URLs (scheme://user:password@host) and key=value / "key": "value" secrets
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]*:)[^\s@/]+@")
_SECRET_VALUE = re.compile(
    r"(?i)\b((?:password|passwd|pwd|secret|token|api[_-]?key|client[_-]?secret|authorization)\b[\"']?\s*[:=]\s*[\"']?"
    r"(?:bearer\s+|basic\s+)?)[^\s\"',;&)}]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}")


def redact_secrets(text: str) -> str:
    """:func:`redact`, and passwords, tokens and keys masked: for messages and tracebacks shown to a user.

    >>> redact_secrets("cannot reach postgresql+psycopg://hub:s3cr3t@db:5432/o2c (account FR7630006000011234567890189)")
    'cannot reach postgresql+psycopg://hub:***@db:5432/o2c (account FR76…0189)'
    >>> redact_secrets("401 for url https://api.example/x?api_key=abcd1234&x=1, Authorization: Bearer eyJhbGciOi.xyz")
    '401 for url https://api.example/x?api_key=***&x=1, Authorization: Bearer ***'
    """
    text = _URL_PASSWORD.sub(r"\1***@", text)
    text = _SECRET_VALUE.sub(r"\1***", text)
    text = _BEARER.sub(r"\1 ***", text)
    return redact(text)
