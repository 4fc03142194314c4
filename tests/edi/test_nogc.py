"""The collector pause around the bank parsers: same result, collector state restored."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from edi import bai2, cfonb120, mt940
from edi.nogc import paused_gc
from schemas.errors import RejectedDocument

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "bank"


def _one(name: str) -> bytes:
    return (FIX / name).read_bytes()


@pytest.mark.parametrize(("module", "pattern"), [
    (bai2, "bai2/moj/citi_example.bai2"), (mt940, "mt940/betterplace/sepa_mt9401.sta"),
    (cfonb120, "cfonb120/silarhi/complex-test.txt"),
])
def test_parse_restores_an_enabled_collector_and_matches_the_unpaused_reader(module, pattern) -> None:
    data = _one(pattern)
    assert gc.isenabled()
    got = module.parse(data)
    assert gc.isenabled()
    # the undecorated reader gives the same statements
    assert got == list(module._statements(data, "<bytes>"))
    assert sum(len(s.entries) for s in got) > 0


def test_a_collector_disabled_by_the_caller_stays_disabled() -> None:
    gc.disable()
    try:
        bai2.parse(_one("bai2/moj/citi_example.bai2"))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_is_back_after_a_rejected_file() -> None:
    with pytest.raises(RejectedDocument):
        bai2.parse(b"01,BANK,CUST,260101,0000,1,,,2/\n02,CUST,BANK,1,260101,,USD,2/\n")
    assert gc.isenabled()


def test_paused_inside() -> None:
    seen = []
    paused_gc(lambda: seen.append(gc.isenabled()))()
    assert seen == [False] and gc.isenabled()
