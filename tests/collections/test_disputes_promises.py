"""Disputes and promises to pay, from the command line to the store, the audit trail and the risk flags."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from click.testing import CliRunner

from o2c.cli import cli
from o2c.jobs.cash import run_cash_application
from o2c.jobs.risk import run_risk_scoring
from o2c.store.audit import trail, verify
from o2c.store.cash import RiskFlagRow
from o2c.store.collections import check_promises, disputes, promises
from tests.test_cli_jobs import _fill, _home


def _o2c(*args: str, code: int = 0) -> str:
    out = CliRunner().invoke(cli, list(args))
    assert out.exit_code == code, out.output
    return out.output


def _flags(store, day):
    from sqlalchemy import select

    with store.session() as s:
        return {(f.kind, f.severity) for f in s.scalars(select(RiskFlagRow).where(RiskFlagRow.as_of == day))}


def test_a_dispute_is_opened_once_resolved_and_audited(tmp_path, monkeypatch):
    store = _fill(_home(tmp_path, "d", monkeypatch))
    assert "dispute 1 on erp1:FA-2: quality, open, 50.00 EUR in dispute" in _o2c(
        "dispute", "open", "FA-2", "--reason", "quality", "--by", "claire", "--amount", "50.00", "--comment", "scratched")
    # the same invoice again: the open dispute, the comment added (one dispute per invoice at a time)
    assert "dispute 1 on erp1:FA-2" in _o2c("dispute", "open", "erp1:FA-2", "--reason", "quality", "--by", "marc",
                                            "--comment", "photos received")
    [d] = disputes(store)
    assert (d.adjustment_code, d.status, [c["text"] for c in d.comments]) == ("9", "open", ["scratched", "photos received"])
    # what a person gets for a mistake: one line, exit status 2, nothing stored
    assert "unknown dispute reason 'colour'" in _o2c("dispute", "open", "FA-1", "--reason", "colour", "--by", "c", code=2)
    assert "is more than invoice FA-1's total" in _o2c("dispute", "open", "FA-1", "--reason", "price", "--by", "c",
                                                       "--amount", "99999", code=2)
    assert "no invoice 'FA-9'" in _o2c("dispute", "open", "FA-9", "--reason", "price", "--by", "c", code=2)
    assert len(disputes(store)) == 1
    assert "resolved, rejected" in _o2c("dispute", "resolve", "1", "--outcome", "rejected", "--by", "claire")
    assert "already resolved" in _o2c("dispute", "resolve", "1", "--outcome", "paid", "--by", "claire", code=2)
    assert disputes(store) == [] and "no dispute" in _o2c("dispute", "list")
    actions = [e.action for e in trail(store, "invoice:erp1:12")]
    assert actions == ["dispute.opened", "dispute.resolved"] and verify(store).ok


def test_an_old_dispute_raises_the_risk_flag(tmp_path, monkeypatch):
    store = _fill(_home(tmp_path, "age", monkeypatch))
    day = dt.date(2026, 11, 30)
    _o2c("dispute", "open", "FA-2", "--reason", "delivery", "--by", "claire")
    with store.session() as s:  # opened long ago
        from o2c.store.collections import DisputeRow

        s.get(DisputeRow, 1).opened_on = day - dt.timedelta(days=75)
    run_risk_scoring(store, day)
    assert ("dispute_ageing", "high") in _flags(store, day) or ("dispute_ageing", "medium") in _flags(store, day)


def test_promises_are_kept_by_applied_cash_or_broken_after_the_date(tmp_path, monkeypatch):
    store = _fill(_home(tmp_path, "p", monkeypatch))
    _o2c("promise", "add", "FA-1", "--amount", "175.50", "--due", "2026-11-20", "--by", "marc", "--on", "2026-11-01")
    _o2c("promise", "add", "FA-2", "--amount", "100.00", "--due", "2026-11-20", "--by", "marc", "--on", "2026-11-01")
    assert "before the day the promise is taken" in _o2c("promise", "add", "FA-2", "--amount", "1", "--due", "2020-01-01",
                                                         "--by", "marc", code=2)
    run_cash_application(store)  # the bank statement of _fill pays FA-1 (175.50) on its booking date
    res = check_promises(store, dt.date(2026, 11, 22), grace_days=3)
    assert (res.kept, res.broken, res.open) == (1, 0, 1)
    res = check_promises(store, dt.date(2026, 11, 24), grace_days=3)
    assert (res.kept, res.broken, res.open) == (0, 1, 0)
    kept, broken = promises(store, status="kept"), promises(store, status="broken")
    assert [p.paid_amount for p in kept] == [Decimal("175.50")] and [p.paid_amount for p in broken] == [Decimal(0)]
    day = dt.date(2026, 11, 30)
    run_risk_scoring(store, day)
    assert ("promise_broken", "high") in _flags(store, day)
    assert [e.action for e in trail(store, "customer:")] == ["promise.taken", "promise.taken", "promise.kept", "promise.broken"]


def test_a_dispute_asks_its_erp_for_a_dunning_block_and_a_note(tmp_path, monkeypatch):
    """Opened: a dunning block and a note are queued for the invoice's ERP; the same disputes queue
    nothing twice; resolved: the block lifted and a note of the outcome."""
    from o2c.config import SourceConfig
    from o2c.jobs.writeback import enqueue_all, outbox

    store = _fill(_home(tmp_path, "wb", monkeypatch))
    erp = SourceConfig(name="erp1", kind="tryton", connection="x")
    _o2c("dispute", "open", "FA-2", "--reason", "price", "--by", "claire", "--comment", "unit price 10 % too high")
    assert enqueue_all(store, sources=[erp])["dispute"] == 2
    assert enqueue_all(store, sources=[erp])["dispute"] == 0
    _o2c("dispute", "resolve", "1", "--outcome", "credit_note", "--by", "claire")
    assert enqueue_all(store, sources=[erp])["dispute"] == 2
    rows = [(r.kind, r.target_id, r.payload.get("blocked"), r.payload.get("for")) for r in outbox(store, "erp1")]
    assert rows == [("dunning_block", "12", True, "D1:open"), ("note", "12", None, "D1:open"),
                    ("dunning_block", "12", False, "D1:resolved"), ("note", "12", None, "D1:resolved")]
    assert "unit price 10 % too high" in outbox(store, "erp1")[1].payload["message"]
