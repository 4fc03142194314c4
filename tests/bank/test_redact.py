"""redact(): account numbers masked in logs and messages, format names left readable."""

from __future__ import annotations

import pytest

from transport.redact import redact


@pytest.mark.parametrize("text", [
    "camt.052/053/054",
    "bank files (camt.052/053/054, MT940, CFONB 120, BAI2)",
    "CAMT.052/053/054 statements",
    "pain.001/002 and pacs.008/002",
    "camt.053.001.08",
])
def test_iso20022_message_lists_are_kept(text):
    assert redact(text) == text


@pytest.mark.parametrize(("text", "masked"), [
    ("FR7630006000011234567890189", "FR76…0189"),
    ("account FR76 3000 6000 0112 3456 7890 189 closed", "account FR76…0189 closed"),
    ("DE89370400440532013000", "DE89…3000"),
    ("10020030/1234567", "1002…4567"),
    ("ref 052/053/054", "ref 052/…/054"),  # no message area before it: could be an account, masked
    ("xcamt.052/053/054", "xcamt.052/…/054"),  # not a business area of its own
    ("camt.052/053/054/12345678", "camt.052/…5678"),  # an account number glued to a message list
    ("camt.052/053/0541234567890", "camt.052/…7890"),
    ("camt.053 for 1234567890123", "camt.053 for 1234…0123"),
    ("camt.052/053/054 for FR7630006000011234567890189", "camt.052/053/054 for FR76…0189"),
])
def test_account_numbers_are_still_masked(text, masked):
    assert redact(text) == masked
