"""The audit trail: hash-chained, appended with the change it records, verified entry by entry;
one edited, removed or re-ordered row in the database is named by ``o2c audit verify``."""

from __future__ import annotations

import threading
from decimal import Decimal

from click.testing import CliRunner
from sqlalchemy import delete, select, update

from o2c.cli import cli
from o2c.store import audit
from o2c.store.audit import GENESIS, AuditEntry, append, trail, verify
from tests.store.test_store import store  # noqa: F401 (fixture: SQLite and PostgreSQL)


def _fill(store, n=5):  # noqa: F811
    for i in range(1, n + 1):
        with store.session() as s:
            append(s, actor="claire" if i % 2 else "o2c:writeback", action="writeback.sent",
                   subject=f"invoice:erp1:{i}", details={"amount": Decimal("10.50") * i, "key": f"k{i}", "note": "é"})


def test_a_chain_verifies_and_links_each_entry(store):  # noqa: F811
    _fill(store)
    result = verify(store)
    assert result.ok and result.entries == 5
    with store.session() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert rows[0].prev_hash == GENESIS and all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    assert result.head == rows[-1].hash and rows[2].details == {"amount": "31.50", "key": "k3", "note": "é"}
    assert [e.seq for e in trail(store, "invoice:erp1:3")] == [3]


def test_an_edited_row_is_named(store, monkeypatch):  # noqa: F811
    _fill(store)
    with store.session() as s:  # someone changes the amount of entry 3 in the database
        s.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(details={"amount": "3.15", "key": "k3", "note": "é"}))
    result = verify(store)
    assert (result.ok, result.broken_seq) == (False, 3) and "does not match its hash" in result.reason
    monkeypatch.setenv("O2C_DATABASE_URL", store.url)
    out = CliRunner().invoke(cli, ["audit", "verify"])
    assert out.exit_code == 1 and "BROKEN at entry 3" in out.output, out.output


def test_a_removed_or_rehashed_row_is_named(store):  # noqa: F811
    _fill(store)
    with store.session() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    result = verify(store)
    assert (result.broken_seq, result.reason) == (2, "entry 2 is missing (the next one is 3)")
    # rewriting an entry with a fresh hash of its own still breaks the link of the next one
    with store.session() as s:
        s.execute(delete(AuditEntry))
    _fill(store)
    with store.session() as s:
        e = s.scalar(select(AuditEntry).where(AuditEntry.seq == 4))
        e.actor = "mallory"
        e.hash = audit.entry_hash(e.prev_hash, e.seq, e.at, e.actor, e.action, e.subject, audit.canonical(e.details))
    result = verify(store)
    assert result.broken_seq == 5 and "does not link" in result.reason


def test_appends_from_threads_make_one_chain(store):  # noqa: F811
    """Writers at once: the lock keeps the chain linear (no fork, no gap, no failed append)."""
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(8):
                with store.session() as s:
                    append(s, actor=f"w{n}", action="review.accept", subject=f"bank_entry:E{n}{i}", details={"i": i})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    result = verify(store)
    assert result.ok and result.entries == 32


def test_an_append_is_undone_with_its_transaction(store):  # noqa: F811
    """Entries are written in the transaction of the change they record: a change rolled back
    leaves no entry."""
    _fill(store, 2)
    try:
        with store.session() as s:
            append(s, actor="claire", action="review.accept", subject="bank_entry:E9")
            raise RuntimeError("the decision failed after the entry was added")
    except RuntimeError:
        pass
    assert verify(store).entries == 2 and not trail(store, "bank_entry:E9")
