"""Cash application runs and reviewer decisions against each other, on SQLite and PostgreSQL.

One invoice of 175.50 EUR; bank lines quoting its number. Real concurrent runs (threads, each with
its own store connection): the first is held between reading the open items and committing (a
wrapper around the real function it calls there waits for the test to release it), while a second
run or a decision goes ahead. Without a lock the second one applies cash from what it reads while
the first has not committed, and the invoice ends up paid twice (or the first run dies on the bank
entries the second one decided). With the cash lock the second one waits, then sees what the first
one stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

import matching.engine
from demo.bank import camt053
from o2c.jobs import cash as cash_application
from o2c.jobs.bank import ingest_file
from o2c.jobs.cash import run_cash_application
from o2c.jobs.cash_review import decide
from o2c.store import Store
from o2c.store.bank import BankEntryRow
from o2c.store.cash import APPLIED, CashAllocation, CashEntryDecision, CashReviewDecision, applied_amounts
from o2c.store.models import InvoiceRow, SyncRun
from schemas import SourceRef
from schemas.errors import ConfigError
from tests.schemas.test_validation import make_invoice
from transport.sftp import StagedFile

NUMBER = "FA2026-0001"
DUE = D("175.50")  # make_invoice's amount due
OVERPAID = D("210.60")  # quoting the invoice, 20 % too much: the engine only suggests it (excess unapplied)
WAIT = 120  # seconds to wait for a thread to reach a point before the test gives up (synchronisation only)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    st = Store(url)
    st.upgrade()
    if request.param == "postgres":  # the session database is shared: start from empty tables
        from o2c.store.models import Base

        with st.session() as s:
            for table in reversed(Base.metadata.sorted_tables):
                s.execute(table.delete())
    yield st
    st.engine.dispose()


@pytest.fixture()
def lock_waits() -> Iterator[threading.Event]:
    """Set when a run or a decision starts waiting for the cash lock (the store logs it)."""
    event = threading.Event()

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("waiting up to"):
                event.set()

    logger, handler = logging.getLogger("o2c.store.cash"), Seen()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield event
    logger.removeHandler(handler)
    logger.setLevel(level)


def _invoice(store: Store) -> InvoiceRow:
    inv = make_invoice(number=NUMBER)
    inv.source = SourceRef(system="erp1", id="11", updated_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    with store.session() as s:
        store.upsert_invoice(s, inv, run_id=None)
    return store.invoices("erp1")[0]


def _pay(store: Store, folder: Path, ref: str, amount: D, seq: int) -> None:
    """A statement with one credit quoting the invoice, ingested."""
    data = camt053([{"amount": amount, "ref": ref, "name": "CLIENT SARL", "text": [f"FACTURE {NUMBER}"]}],
                   stmt_id=f"S-{ref}", seq=seq)
    path = folder / f"{ref}.xml"
    path.write_bytes(data)
    staged = StagedFile(local_path=str(path), remote_path=f"/in/{ref}.xml", name=f"{ref}.xml", size=len(data), mtime=0,
                        sha256=hashlib.sha256(data).hexdigest())
    assert ingest_file(store, "bnp", staged, run_id=None).outcome == "ingested"


def _applied(store: Store, invoice_id: int) -> D:
    with store.session() as s:
        return applied_amounts(s, [invoice_id]).get(invoice_id, D(0))


def _statuses(store: Store, ref: str) -> list[str]:
    with store.session() as s:
        return list(s.scalars(select(CashAllocation.status).where(CashAllocation.bank_ref == ref).order_by(CashAllocation.id)))


class Worker(threading.Thread):
    """Runs ``fn`` in a thread of its own; keeps its result or the exception it raised."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.fn, self.result, self.error = fn, None, None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's assertions
            self.error = exc


class Hold:
    """Wraps a real function: its first call, once done, waits until the test releases it."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn, self.reached, self.release = fn, threading.Event(), threading.Event()
        self._first = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.fn(*args, **kwargs)
        if self._first.acquire(blocking=False):
            self.reached.set()
            if not self.release.wait(WAIT):
                raise RuntimeError("the test never released the held run")
        return out


def _race(monkeypatch: pytest.MonkeyPatch, lock_waits: threading.Event, first: Callable[[], Any], hold_at: tuple[Any, str],
          second: Callable[[], Any], meanwhile: Callable[[], None] | None = None) -> tuple[Worker, Worker]:
    """``first`` held at ``hold_at`` (module, function) while ``second`` runs in another thread.

    Once ``second`` has either finished (nothing stopped it) or started waiting for the cash lock,
    ``meanwhile`` runs (for instance a payment arriving), then ``first`` is released. With no
    lock, ``meanwhile`` is done before ``first`` resumes; with the lock, it runs in a thread of
    its own, since on SQLite a write waits for the lock holder's commit.
    """
    hold = Hold(getattr(*hold_at))
    monkeypatch.setattr(*hold_at, hold)
    one, two, extra = Worker(first), Worker(second), None
    one.start()
    try:
        assert hold.reached.wait(WAIT), f"the first run never reached {hold_at[1]}: {one.error!r}"
        two.start()
        deadline = time.monotonic() + WAIT
        while not lock_waits.is_set() and two.is_alive():
            assert time.monotonic() < deadline, "the second one neither finished nor waited for the cash lock"
            time.sleep(0.02)
        if meanwhile is not None:
            if lock_waits.is_set():
                extra = Worker(meanwhile)
                extra.start()
            else:
                meanwhile()
    finally:
        hold.release.set()
        for w in (one, two, extra):
            if w is not None and w.ident is not None:
                w.join(WAIT)
    assert not any(w is not None and w.is_alive() for w in (one, two, extra)), "a thread is still running"
    assert extra is None or extra.error is None, extra.error
    return one, two


def test_second_suggestion_on_a_paid_invoice_is_refused(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 3: suggestions do not reserve their invoice; accepting two of them must not pay it twice."""
    inv = _invoice(store)
    _pay(store, tmp_path, "P1", OVERPAID, 1)
    run_cash_application(store)
    _pay(store, tmp_path, "P2", OVERPAID, 2)
    run_cash_application(store)  # the invoice is still open: the second line gets the same suggestion
    assert _statuses(store, "P1") == _statuses(store, "P2") == ["suggested"]

    assert decide(store, "P1", "accept", reviewer="claire").allocations == [(NUMBER, DUE, "accepted")]
    with pytest.raises(ConfigError) as refused:
        decide(store, "P2", "accept", reviewer="claire")
    msg = str(refused.value)
    assert f"175.50 EUR on invoice {NUMBER}, which has 0.00 EUR open (175.50 EUR due, 175.50 EUR already applied)" in msg
    assert "Nothing was changed" in msg and "re-allocate" in msg
    assert _applied(store, inv.id) == DUE
    assert _statuses(store, "P2") == ["suggested"]  # nothing changed, nothing recorded
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(CashReviewDecision)) == 1

    # the command line says the same, without a traceback
    monkeypatch.setenv("O2C_DATABASE_URL", store.url)
    from o2c.cli import cli

    out = CliRunner().invoke(cli, ["cash-review", "P2", "--accept", "--reviewer", "claire"])
    assert out.exit_code == 1 and "cannot be accepted as suggested" in out.output and NUMBER in out.output, out.output
    assert "Traceback" not in out.output and isinstance(out.exception, SystemExit)
    assert _applied(store, inv.id) == DUE

    # the way out the message names: reject the line, its cash stays unapplied
    assert decide(store, "P2", "reject", reviewer="claire").unapplied == DUE
    assert _applied(store, inv.id) == DUE


def test_runs_held_between_read_and_commit_do_not_pay_twice(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            lock_waits: threading.Event) -> None:
    """Defect 9: the first run has read the invoice as open; meanwhile a second run pays it and a
    second payment arrives. The first run must not apply that payment from what it read before."""
    inv = _invoice(store)
    _pay(store, tmp_path, "P1", DUE, 1)

    first, second = _race(monkeypatch, lock_waits, lambda: run_cash_application(store),
                          (cash_application, "ledger_frames"), lambda: run_cash_application(store),
                          meanwhile=lambda: _pay(store, tmp_path, "P2", DUE, 2))
    assert first.error is None and second.error is None, (first.error, second.error)
    run_cash_application(store)  # whatever is left undecided
    assert _applied(store, inv.id) == DUE, "the invoice was paid twice"
    assert _statuses(store, "P1") == ["auto"]
    assert not set(_statuses(store, "P2")) & set(APPLIED)
    with store.session() as s:
        decided = s.scalars(select(CashEntryDecision.bank_entry_id)).all()
        assert sorted(decided) == sorted(s.scalars(select(BankEntryRow.id)).all())  # each line decided once
    assert lock_waits.is_set()  # the second run waited for the first


def test_runs_over_the_same_entries_do_not_collide(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   lock_waits: threading.Event) -> None:
    """Defect 9: both runs read the same undecided entry; the first one, held before storing its
    decisions, must not die on the second one's (a raw IntegrityError before)."""
    inv = _invoice(store)
    _pay(store, tmp_path, "P1", DUE, 1)

    first, second = _race(monkeypatch, lock_waits, lambda: run_cash_application(store),
                          (matching.engine, "apply_cash"), lambda: run_cash_application(store))
    assert first.error is None and second.error is None, (first.error, second.error)
    assert lock_waits.is_set()
    assert {first.result.entries, second.result.entries} == {0, 1}  # one run decided the line, the other found it decided
    assert _applied(store, inv.id) == DUE and _statuses(store, "P1") == ["auto"]
    with store.session() as s:
        runs = s.scalars(select(SyncRun.status).where(SyncRun.source == "cash_application")).all()
        assert runs == ["success", "success"]


def test_accept_waits_for_a_running_cash_run(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             lock_waits: threading.Event) -> None:
    """A reviewer accepts a suggestion on the invoice while a run, which read it as open, pays it:
    the decision waits for the run, then finds the invoice paid and refuses."""
    inv = _invoice(store)
    _pay(store, tmp_path, "P1", OVERPAID, 1)
    run_cash_application(store)
    assert _statuses(store, "P1") == ["suggested"]
    _pay(store, tmp_path, "P3", DUE, 2)  # the exact payment, quoting the invoice: the engine posts it

    run, review = _race(monkeypatch, lock_waits, lambda: run_cash_application(store), (cash_application, "ledger_frames"),
                        lambda: decide(store, "P1", "accept", reviewer="claire"))
    assert run.error is None, run.error
    assert _applied(store, inv.id) == DUE, "the invoice was paid twice"
    assert _statuses(store, "P3") == ["auto"] and _statuses(store, "P1") == ["suggested"]
    assert isinstance(review.error, ConfigError) and f"invoice {NUMBER}, which has 0.00 EUR open" in str(review.error)


def test_a_busy_cash_lock_gives_a_clear_message(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a run holds the cash lock, another run, a decision and the command line wait at most
    their timeout and say why, and change nothing."""
    from o2c.cli import cli
    from o2c.store.cash import CashLockBusy

    inv = _invoice(store)
    _pay(store, tmp_path, "P1", OVERPAID, 1)
    run_cash_application(store)
    _pay(store, tmp_path, "P3", DUE, 2)
    monkeypatch.setenv("O2C_DATABASE_URL", store.url)
    monkeypatch.setenv("O2C_CASH_LOCK_TIMEOUT", "0.5")
    hold = Hold(cash_application.ledger_frames)
    monkeypatch.setattr(cash_application, "ledger_frames", hold)
    held = Worker(lambda: run_cash_application(store))
    held.start()
    try:
        assert hold.reached.wait(WAIT), held.error
        with pytest.raises(CashLockBusy, match="another cash application run or review decision is in progress"):
            run_cash_application(store)
        with pytest.raises(CashLockBusy, match=r"O2C_CASH_LOCK_TIMEOUT\); nothing was changed"):
            decide(store, "P1", "accept", reviewer="claire", lock_timeout=0.2)
        out = CliRunner().invoke(cli, ["cash-review", "P1", "--accept", "--reviewer", "claire"])
        assert out.exit_code == 1 and "cash lock stayed taken for 0.5 s" in out.output, out.output
        assert "Traceback" not in out.output
    finally:
        hold.release.set()
        held.join(WAIT)
    assert not held.is_alive() and held.error is None, held.error
    assert _applied(store, inv.id) == DUE and _statuses(store, "P1") == ["suggested"]
    with store.session() as s:  # the runs that did not get the lock stored nothing
        assert s.scalars(select(SyncRun.status).where(SyncRun.source == "cash_application")).all() == ["success", "success"]
        assert s.scalar(select(func.count()).select_from(CashReviewDecision)) == 0


@pytest.mark.parametrize("raw", ["0", "-1", "nan", "soon", "1e9"])
def test_lock_timeout_setting_is_checked(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from o2c.store.cash import cash_lock_timeout

    monkeypatch.setenv("O2C_CASH_LOCK_TIMEOUT", raw)
    with pytest.raises(ConfigError, match="O2C_CASH_LOCK_TIMEOUT"):
        cash_lock_timeout()
    monkeypatch.setenv("O2C_CASH_LOCK_TIMEOUT", "12.5")
    assert cash_lock_timeout() == 12.5
