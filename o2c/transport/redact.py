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
    trail = " " if token.endswith(" ") else ""
    return mask_account(token.strip()) + trail


def redact(text: str) -> str:
    """``text`` with every IBAN-like or long account-like number masked."""
    text = _IBAN.sub(lambda m: mask_account(m.group(0)), text)
    return _LONG_NUMBER.sub(_mask_long, text)
