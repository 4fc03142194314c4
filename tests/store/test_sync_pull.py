"""The invoice sync's fast paths against the live Tryton demo: a record pulled again unchanged is not
mapped again (raw hash kept beside the row, invalidated by a change of the mapping file), a batch is
written in multi-row statements with the same outcomes as before, and the pull runs one batch ahead
in a thread without changing what is stored or when the watermark moves."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import mappings.mapper as mapper
from connectors.base import Batch
from connectors.tryton import TrytonConnector
from o2c.config import SourceConfig
from o2c.jobs.sync import sync_stream
from o2c.store import Store
from o2c.store.models import InvoiceRow, InvoiceVersion
from tests.connectors.test_tryton_live import FAR_FUTURE, conn_info

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # the whole window again, whatever the watermark
SOURCE = SourceConfig(name="tryton_demo", kind="tryton", connection="x")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    st = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    st.upgrade()
    return st


@pytest.fixture(scope="module")
def pulled(tryton_server: Any) -> tuple[Any, list[Batch]]:
    """The demo's invoices as the connector pulls them, in batches of 10 (the stream's spec too)."""
    connector = TrytonConnector(conn_info(tryton_server), batch_size=10)
    try:
        return connector.spec("invoices"), list(connector.pull("invoices", None, FAR_FUTURE))
    finally:
        connector.close()


class Replay:
    """A connector serving recorded batches; ``pull_ahead`` as asked; counts what it handed out."""

    def __init__(self, spec: Any, batches: list[Batch], *, pull_ahead: bool = False, fail_after: int | None = None) -> None:
        self._spec, self.batches, self.pull_ahead, self.fail_after = spec, batches, pull_ahead, fail_after
        self.fetched = 0
        self.closed = False
        self.threads: set[str] = set()

    def spec(self, stream: str) -> Any:
        return self._spec

    def pull(self, stream: str, since: Any, until: Any) -> Any:
        try:
            for batch in self.batches:
                if self.fail_after is not None and self.fetched >= self.fail_after:
                    raise RuntimeError("the source went away")
                self.threads.add(threading.current_thread().name)
                self.fetched += 1
                yield batch
        finally:
            self.closed = True


@pytest.fixture
def count_mapped(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the records the sync maps (Mapping.apply calls)."""
    seen: list[str] = []
    apply = mapper.Mapping.apply

    def counting(self: Any, record: dict[str, Any], source: str) -> Any:
        seen.append(str(record.get("id")))
        return apply(self, record, source)

    monkeypatch.setattr(mapper.Mapping, "apply", counting)
    return seen


def _rows(store: Store) -> list[tuple[Any, ...]]:
    with store.session() as s:
        return [tuple(r) for r in s.execute(select(InvoiceRow.source_id, InvoiceRow.version, InvoiceRow.content_hash,
                                                   InvoiceRow.raw_hash).order_by(InvoiceRow.id))]


def _versions(store: Store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(InvoiceVersion))


def test_an_unchanged_record_is_not_mapped_again(tryton_server, store, count_mapped):
    first = sync_stream(store, SOURCE, TrytonConnector(conn_info(tryton_server)), "invoices", until=FAR_FUTURE)
    assert first.inserted == first.read > 40 and len(count_mapped) == first.read
    rows = _rows(store)
    assert all(raw for *_, raw in rows) and len({raw for *_, raw in rows}) == len(rows)
    count_mapped.clear()
    again = sync_stream(store, SOURCE, TrytonConnector(conn_info(tryton_server)), "invoices", since=EPOCH, until=FAR_FUTURE)
    assert (again.read, again.unchanged, again.inserted, again.updated) == (first.read, first.read, 0, 0)
    assert count_mapped == []  # none mapped, validated or hashed again
    assert _rows(store) == rows and _versions(store) == first.read


def test_a_changed_mapping_file_maps_every_record_again(tryton_server, store, count_mapped, tmp_path, monkeypatch):
    first = sync_stream(store, SOURCE, TrytonConnector(conn_info(tryton_server)), "invoices", until=FAR_FUTURE)
    before = _rows(store)
    edited = tmp_path / "tryton" / "invoice.yaml"
    edited.parent.mkdir()
    shutil.copyfile(mapper.mapping_path("tryton", "invoice"), edited)
    edited.write_text(edited.read_text() + "# edited: the same terms\n")
    monkeypatch.setattr(mapper, "mapping_path", lambda kind, document: tmp_path / kind / f"{document}.yaml")
    count_mapped.clear()
    again = sync_stream(store, SOURCE, TrytonConnector(conn_info(tryton_server)), "invoices", since=EPOCH, until=FAR_FUTURE)
    assert len(count_mapped) == first.read and again.unchanged == first.read  # mapped again, same canonical records
    after = _rows(store)
    assert [r[:3] for r in after] == [r[:3] for r in before]  # versions and content untouched
    assert all(a[3] != b[3] for a, b in zip(after, before, strict=True))  # the raw hashes follow the mapping
    count_mapped.clear()
    sync_stream(store, SOURCE, TrytonConnector(conn_info(tryton_server)), "invoices", since=EPOCH, until=FAR_FUTURE)
    assert count_mapped == []


def test_only_the_changed_record_is_mapped_and_versioned(pulled, store, count_mapped):
    spec, batches = pulled
    sync_stream(store, SOURCE, Replay(spec, batches), "invoices", until=FAR_FUTURE)
    changed = list(batches)
    changed[1] = Batch(records=[{**batches[1].records[0], "reference": "PO-CHANGED"}, *batches[1].records[1:]],
                       watermark=batches[1].watermark, cursor=batches[1].cursor)
    count_mapped.clear()
    summary = sync_stream(store, SOURCE, Replay(spec, changed), "invoices", since=EPOCH, until=FAR_FUTURE)
    rid = str(batches[1].records[0]["id"])
    assert count_mapped == [rid]
    assert (summary.updated, summary.unchanged) == (1, summary.read - 1)
    with store.session() as s:
        row = s.scalar(select(InvoiceRow).where(InvoiceRow.source_id == rid))
        assert row.version == 2 and row.document["buyer_reference"] == "PO-CHANGED"


def test_the_same_record_twice_in_a_batch_keeps_the_last(pulled, store, count_mapped):
    """[changed A, A as stored] in one batch: A is versioned twice and ends as stored (the copy that
    matches the stored raw hash is not skipped once an earlier copy of the batch was mapped)."""
    spec, batches = pulled
    sync_stream(store, SOURCE, Replay(spec, batches), "invoices", until=FAR_FUTURE)
    original = batches[0].records[0]
    twice = [Batch(records=[{**original, "reference": "PO-CHANGED"}, original], watermark=batches[0].watermark)]
    summary = sync_stream(store, SOURCE, Replay(spec, twice), "invoices", since=EPOCH, until=FAR_FUTURE)
    assert (summary.updated, summary.unchanged) == (2, 0)
    with store.session() as s:
        row = s.scalar(select(InvoiceRow).where(InvoiceRow.source_id == str(original["id"])))
        assert row.version == 3 and row.document.get("buyer_reference") == original.get("reference")
        versions = s.scalars(select(InvoiceVersion.version).where(InvoiceVersion.invoice_id == row.id)
                             .order_by(InvoiceVersion.version)).all()
    assert versions == [1, 2, 3]


def test_a_new_record_twice_in_one_batch_is_inserted_then_versioned(pulled, store):
    spec, batches = pulled
    original = batches[0].records[0]
    twice = [Batch(records=[original, {**original, "reference": "PO-CHANGED"}, original], watermark=batches[0].watermark)]
    summary = sync_stream(store, SOURCE, Replay(spec, twice), "invoices", until=FAR_FUTURE)
    assert (summary.inserted, summary.updated, summary.unchanged) == (1, 2, 0)
    rows = _rows(store)
    assert len(rows) == 1 and rows[0][1] == 3 and _versions(store) == 3


def test_pulled_ahead_the_store_is_the_same_and_the_next_batch_is_fetched_meanwhile(pulled, store, tmp_path, monkeypatch):
    spec, batches = pulled
    assert len(batches) >= 4
    plain_store = Store(f"sqlite:///{tmp_path / 'plain.sqlite'}")
    plain_store.upgrade()
    plain = sync_stream(plain_store, SOURCE, Replay(spec, batches), "invoices", until=FAR_FUTURE)

    ahead = Replay(spec, batches, pull_ahead=True)
    seen: list[tuple[int, int]] = []  # (batch being stored, batches fetched by then)
    upsert = store.upsert_invoices

    def watching(s: Any, invoices: list[Any], **kw: Any) -> Any:
        k = len(seen) + 1
        deadline = time.monotonic() + 10
        while ahead.fetched < min(k + 1, len(batches)) and time.monotonic() < deadline:
            time.sleep(0.01)  # the next batch is being fetched while this one is stored
        time.sleep(0.05)
        seen.append((k, ahead.fetched))
        return upsert(s, invoices, **kw)

    monkeypatch.setattr(store, "upsert_invoices", watching)
    summary = sync_stream(store, SOURCE, ahead, "invoices", until=FAR_FUTURE)
    assert seen == [(k, min(k + 1, len(batches))) for k in range(1, len(batches) + 1)]  # one ahead, never more
    assert ahead.threads == {"o2c-pull-ahead"} and ahead.closed
    assert not [t for t in threading.enumerate() if t.name == "o2c-pull-ahead"]
    assert (summary.read, summary.inserted) == (plain.read, plain.inserted)
    assert [r[:3] for r in _rows(store)] == [r[:3] for r in _rows(plain_store)]
    assert store.get_watermark("tryton_demo", "invoices").value == plain_store.get_watermark("tryton_demo", "invoices").value


def test_pulled_ahead_an_error_of_the_source_fails_the_run_after_the_stored_batches(pulled, store):
    spec, batches = pulled
    failing = Replay(spec, batches, pull_ahead=True, fail_after=2)
    with pytest.raises(RuntimeError, match="the source went away"):
        sync_stream(store, SOURCE, failing, "invoices", until=FAR_FUTURE)
    assert len(_rows(store)) == len(batches[0].records) + len(batches[1].records)
    assert store.get_watermark("tryton_demo", "invoices").value == batches[1].watermark
    assert store.runs("tryton_demo")[0].status == "failed"
    assert not [t for t in threading.enumerate() if t.name == "o2c-pull-ahead"]


def test_pulled_ahead_an_error_while_storing_stops_the_pull(pulled, store, monkeypatch):
    spec, batches = pulled
    ahead = Replay(spec, batches, pull_ahead=True)
    upsert = store.upsert_invoices
    calls = []

    def failing(s: Any, invoices: list[Any], **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return upsert(s, invoices, **kw)

    monkeypatch.setattr(store, "upsert_invoices", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        sync_stream(store, SOURCE, ahead, "invoices", until=FAR_FUTURE)
    assert ahead.closed and ahead.fetched <= 3 < len(batches) + 1
    assert not [t for t in threading.enumerate() if t.name == "o2c-pull-ahead"]
    assert len(_rows(store)) == len(batches[0].records)  # the failed batch rolled back
    assert store.get_watermark("tryton_demo", "invoices").value == batches[0].watermark
