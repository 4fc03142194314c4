"""Hostile Factur-X PDFs: small files that decompress to gigabytes, too many attachments, broken
XMP. Each is refused with a typed rejection, and peak memory stays small (measured in a child
process: ``VmHWM`` of /proc/self/status, the resident-set high-water mark of that process alone)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zlib
from collections.abc import Iterable
from pathlib import Path

import pytest

from edi import cii, einvoice, facturx, limits, samples
from schemas.errors import InvalidFormat, TooLarge

ROOT = Path(__file__).resolve().parents[2]
MiB = 2**20
# Peak RSS allowed to the child that reads a hostile PDF. Python + lxml + pypdf + the hub's
# modules take about 60-100 MB; before the fix these files took 0.6 to 2.4 GB.
PEAK_RSS_BOUND = 200 * MiB


def _deflate(chunks: Iterable[bytes]) -> bytes:
    """zlib-compress ``chunks`` without ever holding them whole (so the test itself stays small)."""
    comp = zlib.compressobj(9)
    out = [comp.compress(chunk) for chunk in chunks]
    out.append(comp.flush())
    return b"".join(out)


def _zeros(size: int) -> Iterable[bytes]:
    block = b"\0" * MiB
    for _ in range(size // MiB):
        yield block


def _pdf_with_files(files: list[tuple[str, bytes]]) -> bytes:
    """A one-page PDF embedding ``files`` ((name, deflated content), in this order, names may
    repeat) in its /EmbeddedFiles name tree, written by hand so every byte is under control."""
    objects: list[bytes] = [b"", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]
    names = []
    for name, deflated in files:
        stream_no = len(objects) + 1
        objects.append(b"<< /Type /EmbeddedFile /Subtype /text#2Fxml /Filter /FlateDecode /Length %d >>\nstream\n" % len(deflated)
                       + deflated + b"\nendstream")
        spec_no = len(objects) + 1
        literal = name.encode("latin-1")
        objects.append(b"<< /Type /Filespec /F (%s) /UF (%s) /EF << /F %d 0 R /UF %d 0 R >> >>" % (literal, literal, stream_no, stream_no))
        names.append(b"(%s) %d 0 R" % (literal, spec_no))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [" + b" ".join(names) + b"] >> >> >>"
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


_CHILD = """
import json, sys
from edi import einvoice
from schemas.errors import RejectedDocument
data = open(sys.argv[1], "rb").read()
try:
    inv = einvoice.parse(data, document_id="hostile.pdf")
    outcome = {"parsed": inv.number}
except RejectedDocument as exc:
    outcome = {"rejected": type(exc).__name__, "message": str(exc)}
status = open("/proc/self/status").read()
outcome["peak_rss"] = int(status.split("VmHWM:")[1].split()[0]) * 1024
print(json.dumps(outcome))
"""


def _parse_in_child(tmp_path: Path, pdf: bytes) -> dict:
    """``einvoice.parse`` of ``pdf`` in a fresh interpreter: its outcome and its peak RSS."""
    path = tmp_path / "hostile.pdf"
    path.write_bytes(pdf)
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, timeout=600,
                          cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_unused_and_duplicated_attachments_are_never_decompressed(tmp_path: Path) -> None:
    """The invoice XML first, then 4 more copies of it and 4 other files of 70 MB each (zeros,
    ~70 KB compressed): only the first copy of factur-x.xml is read."""
    inv = samples.sample_invoice(2)
    bomb = _deflate(_zeros(70 * MiB))
    files = [("factur-x.xml", _deflate([cii.render(inv, "en16931")]))]
    files += [("factur-x.xml", bomb)] * 4 + [(f"annex-{i}.bin", bomb) for i in range(4)]
    pdf = _pdf_with_files(files)
    assert len(pdf) < 2 * MiB
    outcome = _parse_in_child(tmp_path, pdf)
    assert outcome["peak_rss"] < PEAK_RSS_BOUND, f"peak RSS {outcome['peak_rss'] // MiB} MiB"
    assert outcome.get("parsed") == inv.number, outcome
    # in this process too: the first copy of the one file asked for; any file asked for is capped
    assert facturx.attachments(pdf) == {"factur-x.xml": cii.render(inv, "en16931")}
    with pytest.raises(TooLarge, match="annex-0.bin"):
        facturx.attachments(pdf, ("annex-0.bin",))


def test_embedded_xml_bomb_is_refused_while_decompressing(tmp_path: Path) -> None:
    """70 MiB of CII XML (under pypdf's own 75 MB limit) compressed into a small PDF: refused at the
    5 MiB attachment limit, while decompressing."""
    head = (b'<?xml version="1.0" encoding="UTF-8"?>\n<rsm:CrossIndustryInvoice '
            b'xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" '
            b'xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100">')
    note = b"<ram:IncludedNote><ram:Content>x</ram:Content></ram:IncludedNote>" * (MiB // 64)
    body = [head] + [note] * 70 + [b"</rsm:CrossIndustryInvoice>"]
    pdf = _pdf_with_files([("factur-x.xml", _deflate(body))])
    assert len(pdf) < MiB
    outcome = _parse_in_child(tmp_path, pdf)
    assert outcome["peak_rss"] < PEAK_RSS_BOUND, f"peak RSS {outcome['peak_rss'] // MiB} MiB"
    assert outcome.get("rejected") == "TooLarge", outcome
    assert "O2C_MAX_EINVOICE_ATTACHMENT_BYTES" in outcome["message"] and "5242880" in outcome["message"]


def test_attachment_limit_is_the_configured_one(monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = facturx.render_pdf(samples.sample_invoice(1))
    xml = facturx.extract_xml(pdf)[1]
    monkeypatch.setenv(limits.env_name("einvoice_attachment"), str(len(xml)))
    assert facturx.extract_xml(pdf)[1] == xml  # exactly at the limit: accepted
    monkeypatch.setenv(limits.env_name("einvoice_attachment"), str(len(xml) - 1))
    for read in (einvoice.parse, facturx.extract_xml, einvoice.validate):
        with pytest.raises(TooLarge, match="factur-x.xml"):
            read(pdf, document_id="FA-1.pdf")


def test_too_many_attachments_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    xml = cii.render(samples.sample_invoice(1), "en16931")
    bound = limits.max_bytes("einvoice_attachment_count")
    assert bound == 32
    at_bound = _pdf_with_files([("factur-x.xml", _deflate([xml]))] + [(f"a{i}.txt", _deflate([b"x"])) for i in range(bound - 1)])
    assert einvoice.parse(at_bound).number == samples.sample_invoice(1).number
    over = _pdf_with_files([("factur-x.xml", _deflate([xml]))] + [(f"a{i}.txt", _deflate([b"x"])) for i in range(bound)])
    with pytest.raises(TooLarge, match="more than 32 embedded files.*O2C_MAX_EINVOICE_ATTACHMENT_COUNT"):
        einvoice.parse(over, document_id="many.pdf")
    monkeypatch.setenv("O2C_MAX_EINVOICE_ATTACHMENT_COUNT", "40")
    assert einvoice.parse(over).number == samples.sample_invoice(1).number


def test_einvoice_input_size_is_capped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every reader of e-invoice bytes refuses a file over ``einvoice`` (here set to 4 KB)."""
    from click.testing import CliRunner

    from edi import ubl
    from o2c.commands.einvoice import einvoice as einvoice_cli

    inv = samples.sample_invoice(1)
    documents = {"cii": cii.render(inv, "en16931"), "ubl": ubl.render(inv), "pdf": facturx.render_pdf(inv)}
    assert all(len(doc) > 4096 for doc in documents.values())
    monkeypatch.setenv("O2C_MAX_EINVOICE_BYTES", "4096")
    readers = [(cii.parse, "cii"), (ubl.parse, "ubl"), (einvoice.parse, "cii"), (einvoice.parse, "pdf"),
               (einvoice.detect, "cii"), (einvoice.detect, "pdf"), (facturx.extract_xml, "pdf"), (facturx.pdf_metadata, "pdf"),
               (einvoice.validate, "cii"), (einvoice.validate, "pdf")]
    for read, kind in readers:
        with pytest.raises(TooLarge, match="over the 4096-byte limit for einvoice files"):
            read(documents[kind], document_id="big")
    for kind, data in documents.items():
        path = tmp_path / f"big.{kind}"
        path.write_bytes(data)
        for command in ("parse", "validate"):
            result = CliRunner().invoke(einvoice_cli, [command, str(path)])
            assert result.exit_code == 1 and "over the 4096-byte limit" in result.output, result.output
            assert "Traceback" not in result.output
    result = CliRunner().invoke(einvoice_cli, ["parse", "-"], input=documents["cii"])
    assert result.exit_code == 1 and "over the 4096-byte limit" in result.output


# --- broken XMP metadata (defect 7) -------------------------------------------------------


def _rewrite(pdf: bytes, change) -> bytes:  # noqa: ANN001
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _xmp_not_a_stream(pdf: bytes) -> bytes:
    from pypdf.generic import DictionaryObject, NameObject

    def change(writer) -> None:  # noqa: ANN001
        writer._root_object[NameObject("/Metadata")] = DictionaryObject({NameObject("/Type"): NameObject("/Metadata")})

    return _rewrite(pdf, change)


def _xmp_refers_to_itself(pdf: bytes) -> bytes:
    """/Metadata is object n, and object n is ``n 0 R``."""
    from pypdf.generic import NameObject, NullObject

    def change(writer) -> None:  # noqa: ANN001
        ref = writer._add_object(NullObject())
        writer._objects[ref.idnum - 1] = ref
        writer._root_object[NameObject("/Metadata")] = ref

    return _rewrite(pdf, change)


def _xmp_length_loops(pdf: bytes) -> bytes:
    """The XMP stream's /Length is a reference to the stream itself (same byte length, so the
    cross-reference offsets stay right)."""
    import re

    from pypdf import PdfReader

    number = PdfReader(io.BytesIO(pdf)).trailer["/Root"].raw_get("/Metadata").idnum
    m = re.search(rb"\n%d 0 obj\s*<<(.*?)>>\s*stream" % number, pdf, re.S)
    assert m is not None
    new = b"/Type /Metadata /Subtype /XML /Length %d 0 R" % number
    return pdf[:m.start(1)] + new.ljust(len(m.group(1))) + pdf[m.end(1):]


@pytest.mark.parametrize("breaker", [_xmp_not_a_stream, _xmp_refers_to_itself, _xmp_length_loops],
                         ids=["not-a-stream", "self-reference", "length-loop"])
def test_broken_xmp_is_invalid_format(breaker) -> None:  # noqa: ANN001
    inv = samples.sample_invoice(1)
    pdf = breaker(facturx.render_pdf(inv))
    assert einvoice.parse(pdf).number == inv.number  # the invoice itself is readable
    with pytest.raises(InvalidFormat, match="XMP"):
        facturx.pdf_metadata(pdf, document_id="broken.pdf")


def test_validate_reports_broken_xmp_as_a_finding(tmp_path: Path) -> None:
    """One validate call (Saxon is slow): an error finding, exit 1 in the CLI, no traceback."""
    from click.testing import CliRunner

    from o2c.commands.einvoice import einvoice as einvoice_cli

    path = tmp_path / "broken-xmp.pdf"
    path.write_bytes(_xmp_length_loops(facturx.render_pdf(samples.sample_invoice(1))))
    result = CliRunner().invoke(einvoice_cli, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert "INVALID" in result.output and "[FX-PDF-XMP] fatal at XMP: unreadable XMP metadata" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
