"""Golden files: every bank sample under tests/fixtures/bank/<format>/<origin>/ against <case>.expected.json.

The expectation holds what the format module parses (``statements``, before any check) and what
:func:`edi.bank.parse` decides (``rejected``: None, or the error class and message). Run with
``UPDATE_GOLDEN=1`` to rewrite the expectations, then review the diff: balances must reconcile
and values must match the source file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edi import bank
from schemas.errors import InvalidChecksum, RejectedDocument
from schemas.jsonio import to_json

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "bank"
SKIP = {"README.md", "LICENSE.txt"}
SAMPLES = sorted(
    p for p in ROOT.rglob("*") if p.is_file() and p.name not in SKIP and not p.name.endswith(".expected.json")
)

# Public test files whose figures do not add up, although they are not meant as negative tests:
# their authors edited amounts or balances by hand (anonymised or synthetic data). They parse; the
# balance / currency check rejects them, and the reason is pinned in their golden file.
KNOWN_UNRECONCILED = {
    "bai2/moj/citi_example.bai2",  # 010 = 015 = 100.00 with a 0.01 credit
    "camt053/genkgo/camt053.v2.all-balance-types.xml",
    "camt053/genkgo/camt053.v2.five.decimals.xml",
    "camt053/genkgo/camt053.v2.minimal.ultimate.xml",  # CLBD in SEK on a EUR account
    "camt053/genkgo/camt053.v2.minimal.xml",
    "camt053/genkgo/camt053.v2.with-account-name.xml",
    "camt053/genkgo/camt053.v2.with-party-ids.xml",
    "camt053/genkgo/camt053.v3.xml",
    "camt053/genkgo/camt053.v4.xml",
    "camt053/genkgo/camt053.v8.xml",
    "mt940/betterplace/sepa_snippet.sta",
    "mt940/jejik/abnamro.sta",
    "mt940/jejik/ing.sta",
    "mt940/jejik/knab.sta",
    "mt940/jejik/postfinance.sta",
    "mt940/jejik/rabobank.sta",
    "mt940/jejik/triodos.sta",
}
# Public test files that are not whole statements at all (fragments, corrupted on purpose).
KNOWN_MALFORMED = {
    "mt940/wolph-self-provided/gv_codes.sta": "statement without a closing balance",
    "mt940/wolph-self-provided/raphaelm.sta": "not a balance",
    "mt940/wolph-self-provided/sparkassen.sta": "not a bank statement file",
}
# The corpus' negative tests and the reason each must be rejected for.
INVALID_REASONS = {
    "camt053/invalid/camt053.v2.wrong.xml": "camt.053.001.02 document has no Stmt",
    "cfonb120/invalid/pennylane_end_of_statement_without_beginning.txt": "end of statement (07) without a beginning",
    "cfonb120/invalid/pennylane_invalid_date.txt": "not a date (DDMMYY): '  CART'",
    "cfonb120/invalid/pennylane_new_statement_without_previous_ended.txt": "new statement (01) before the previous one ended",
    "cfonb120/invalid/pennylane_operation_already_defined.txt": "operation already defined",
    "cfonb120/invalid/pennylane_operation_detail_without_operation.txt": "operation detail (05) without an operation (04)",
    "cfonb120/invalid/pennylane_operation_out_of_statement.txt": "operation (04) outside a statement",
    "cfonb120/invalid/pennylane_operation_unstarted.txt": "operation detail (05) without an operation (04)",
}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _outcome(path: Path) -> dict:
    data = path.read_bytes()
    name = _rel(path)
    try:
        fmt = bank.sniff(data[:4096])
    except RejectedDocument as exc:
        return {"format": None, "statements": None, "rejected": {"error": type(exc).__name__, "message": str(exc)}}
    module = bank.module_for(fmt)
    try:
        statements = [to_json(s) for s in module.parse(data, document_id=name)]
    except RejectedDocument:
        statements = None
    try:
        bank.parse(data, document_id=name)
        rejected = None
    except RejectedDocument as exc:
        rejected = {"error": type(exc).__name__, "message": str(exc)}
    return {"format": fmt, "statements": statements, "rejected": rejected}


@pytest.mark.parametrize("path", SAMPLES, ids=_rel)
def test_golden(path: Path) -> None:
    expected_file = path.with_name(path.name + ".expected.json")
    outcome = _outcome(path)
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(json.dumps(outcome, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    assert outcome == expected


@pytest.mark.parametrize("path", SAMPLES, ids=_rel)
def test_every_sample_is_accepted_or_rejected_for_a_known_reason(path: Path) -> None:
    name = _rel(path)
    outcome = _outcome(path)
    if name in INVALID_REASONS:
        assert outcome["rejected"] is not None, f"{name} must be rejected"
        assert INVALID_REASONS[name] in outcome["rejected"]["message"]
        assert outcome["rejected"]["message"].startswith(name)  # names the file
    elif name in KNOWN_MALFORMED:
        assert outcome["rejected"] is not None
        assert KNOWN_MALFORMED[name] in outcome["rejected"]["message"]
    elif name in KNOWN_UNRECONCILED:
        assert outcome["statements"], f"{name} must parse"
        assert outcome["rejected"] is not None
        assert outcome["rejected"]["error"] in ("InvalidChecksum", "InvalidFormat")
        assert "difference" in outcome["rejected"]["message"] or "currency" in outcome["rejected"]["message"]
    else:
        assert outcome["rejected"] is None, outcome["rejected"]
        assert outcome["statements"]


def test_accepted_samples_reconcile() -> None:
    """Every accepted statement with both balances adds up exactly; entries carry its currency."""
    accepted = 0
    for path in SAMPLES:
        name = _rel(path)
        if name in INVALID_REASONS or name in KNOWN_MALFORMED or name in KNOWN_UNRECONCILED:
            continue
        for st in bank.parse(path.read_bytes(), document_id=name):
            accepted += 1
            diff = st.balance_difference()
            assert diff in (None, 0), (name, diff)
            assert all(e.currency == st.currency for e in st.entries)
    assert accepted >= 60


def test_unreconciled_samples_fail_the_check_only() -> None:
    for name in sorted(KNOWN_UNRECONCILED):
        data = (ROOT / name).read_bytes()
        with pytest.raises((InvalidChecksum, RejectedDocument)) as info:
            bank.parse(data, document_id=name)
        assert info.value.document_id.startswith(name)


@pytest.mark.parametrize("path", SAMPLES, ids=_rel)
def test_streaming_gives_the_same_entries_and_verdict(path: Path) -> None:
    """edi.bank.iter_entries yields what parse_file returns, and fails where parse_file fails."""
    try:
        expected = [e for s in bank.parse_file(path) for e in s.entries]
        verdict = None
    except RejectedDocument as exc:
        expected, verdict = None, type(exc)
    if verdict is None:
        assert [e for _, e in bank.iter_entries(path)] == expected
    else:
        with pytest.raises(RejectedDocument):
            for _ in bank.iter_entries(path):
                pass
