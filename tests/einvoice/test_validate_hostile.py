"""``o2c einvoice validate`` on hostile documents: what Saxon cannot evaluate and what the hub's
reader refuses are findings, exit 1, never a traceback; ``validate`` and ``parse`` agree. Saxon is
slow: a handful of validate calls only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from edi import cii, samples, ubl
from o2c.commands.einvoice import einvoice

INV = samples.sample_invoice(1)
CII = cii.render(INV, "en16931")
UBL = ubl.render(INV)


def _set(xml: bytes, element: bytes, value: str) -> bytes:
    new, count = re.subn(rb"(<%s(?:\s[^>]*)?>)[^<]*<" % element, lambda m: m.group(1) + value.encode() + b"<", xml, count=1)
    assert count == 1, element
    return new


def _duplicate(xml: bytes, pattern: bytes) -> bytes:
    new, count = re.subn(pattern, rb"\1\1", xml, count=1, flags=re.S)
    assert count == 1
    return new


# Saxon raises a dynamic error on these (XSLT cannot cast "27.0-", a singleton is given twice)
SAXON_STOPPERS = {
    "cii-amount-27.0-": (_set(CII, b"ram:DuePayableAmount", "27.0-"), "BT-115"),
    "cii-bt2-twice": (_duplicate(CII, rb"(<ram:IssueDateTime>.*?</ram:IssueDateTime>)"), None),
    "ubl-bt2-twice": (_duplicate(UBL, rb"(<cbc:IssueDate>[^<]*</cbc:IssueDate>)"), None),
}


@pytest.mark.parametrize("name", SAXON_STOPPERS)
def test_validate_reports_a_stopped_schematron_as_a_finding(tmp_path: Path, name: str) -> None:
    data, term = SAXON_STOPPERS[name]
    path = tmp_path / f"{name}.xml"
    path.write_bytes(data)
    result = CliRunner().invoke(einvoice, ["validate", str(path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "INVALID" in result.output and "Traceback" not in result.output
    assert "[SCHEMATRON-STOPPED] fatal at /: the schematron could not evaluate the document" in result.output
    assert "[XSD] fatal" in result.output  # the schema names the culprit too
    if term:
        assert f"[O2C-PARSE] fatal at {term}: the hub's reader refuses the document" in result.output


def test_validate_and_parse_agree_on_30_february(tmp_path: Path) -> None:
    path = tmp_path / "feb30.xml"
    path.write_bytes(re.sub(rb'(<ram:IssueDateTime>\s*<udt:DateTimeString format="102">)\d+', rb"\g<1>20260230", CII, count=1))
    validated = CliRunner().invoke(einvoice, ["validate", str(path)])
    assert validated.exit_code == 1 and "INVALID" in validated.output, validated.output
    assert "[O2C-PARSE] fatal at BT-2: the hub's reader refuses the document: not a date: '20260230'" in validated.output
    parsed = CliRunner().invoke(einvoice, ["parse", str(path)])
    assert parsed.exit_code == 1 and "feb30.xml, BT-2: not a date: '20260230'" in parsed.output
