"""Junk, truncated and hostile input: every bank parser raises a RejectedDocument, never anything else."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from edi import bai2, bank, camt, cfonb120, mt940
from schemas.errors import InvalidFormat, RejectedDocument

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "bank"
SAMPLES = sorted(p for p in ROOT.rglob("*") if p.is_file() and p.suffix in (".xml", ".sta", ".txt", ".bai2"))
VALIDATORS = {
    "camt": camt.validate,
    "mt940": mt940.validate,
    "cfonb120": cfonb120.validate,
    "bai2": bai2.validate,
    "bank": lambda data: bank.parse(data),
}


def _survives(validate, data: bytes) -> None:
    try:
        validate(data)
    except RejectedDocument as exc:
        assert str(exc)  # a reason is given
    # anything else propagates and fails the test


@pytest.mark.parametrize("name", VALIDATORS)
def test_random_bytes(name: str) -> None:
    rnd = random.Random(20261123)
    validate = VALIDATORS[name]
    for _ in range(300):
        size = rnd.choice((0, 1, 2, 5, 60, 120, 121, 500, 3000))
        _survives(validate, bytes(rnd.getrandbits(8) for _ in range(size)))


@pytest.mark.parametrize("name", VALIDATORS)
def test_random_text_in_each_format_alphabet(name: str) -> None:
    """Junk that looks like the format (record codes, tags, XML) goes deeper into the parsers."""
    rnd = random.Random(7)
    validate = VALIDATORS[name]
    pieces = [b"01,", b"02,", b"03,", b"16,", b"49,", b"88,", b"98,", b"99,", b"/", b",", b"\n", b"0", b"9",
              b":20:", b":25:", b":28C:", b":60F:C", b":61:", b":86:", b"?20", b"/NAME/", b":62F:D", b"EUR",
              b"260105", b"12,34", b"{", b"}", b"J", b"<Ntry>", b"</Ntry>", b"<Amt Ccy='EUR'>", b"CRDT", b"-"]
    heads = [b"", b"01,", b":20:X\n", b"01" + b"1" * 118, b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">']
    for _ in range(400):
        body = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 80)))
        _survives(validate, rnd.choice(heads) + body)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_truncated_and_mangled_samples(path: Path) -> None:
    data = path.read_bytes()
    rnd = random.Random(len(data))
    for validate in (VALIDATORS["bank"], VALIDATORS[_family(path)]):
        for cut in sorted({len(data) * k // 9 for k in range(9)} | {1, len(data) - 1}):
            _survives(validate, data[:cut])
        for _ in range(15):
            mangled = bytearray(data)
            for _ in range(rnd.randint(1, 4)):
                mangled[rnd.randrange(len(mangled))] = rnd.getrandbits(8)
            _survives(validate, bytes(mangled))


def _family(path: Path) -> str:
    top = path.relative_to(ROOT).parts[0]
    return "camt" if top.startswith("camt") else top


# --- XML attacks -------------------------------------------------------------------------------
CAMT = (ROOT / "camt053" / "genkgo" / "camt053.v2.multi.statement.xml").read_bytes()


def _with_doctype(doctype: bytes, padding: int = 0) -> bytes:
    decl, _, rest = CAMT.partition(b"?>")
    comment = b"<!--" + b"x" * padding + b"-->" if padding else b""
    return decl + b"?>\n" + comment + doctype + rest


@pytest.mark.parametrize("padding", [0, 10_000])
def test_xxe_external_entity_is_refused(tmp_path: Path, padding: int) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    doctype = f'<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode()
    data = _with_doctype(doctype, padding).replace(b"<MsgId>", b"<MsgId>&xxe;", 1)
    for call in (lambda: camt.parse(data), lambda: bank.parse(data), lambda: list(camt.iter_entries(io.BytesIO(data)))):
        with pytest.raises(InvalidFormat, match="DOCTYPE") as info:
            call()
        assert "TOP-SECRET" not in str(info.value)
    path = tmp_path / "evil.xml"
    path.write_bytes(data)
    with pytest.raises(InvalidFormat, match="DOCTYPE"):
        bank.parse_file(path)


def test_billion_laughs_is_refused() -> None:
    lol = b'<!DOCTYPE Document [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">' \
          b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    data = _with_doctype(lol).replace(b"<MsgId>", b"<MsgId>&d;", 1)
    with pytest.raises(InvalidFormat, match="DOCTYPE"):
        camt.parse(data)


def test_not_a_camt_namespace() -> None:
    data = CAMT.replace(b"camt.053.001.02", b"pain.001.001.03")
    with pytest.raises(InvalidFormat):
        bank.parse(data)
    with pytest.raises(InvalidFormat, match="not camt"):
        camt.parse(data)
