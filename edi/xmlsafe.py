"""XML parsing that never reaches the network and never expands entities.

Every XML format module of the hub parses through here. A document with a DOCTYPE is refused
outright (none of the standards we read uses one; XXE and entity-expansion attacks need one),
entities are not resolved, DTDs are not loaded, and no URL is ever fetched.

>>> parse_bytes(b"<a><b>1</b></a>", "t.xml").findtext("b")
'1'
>>> parse_bytes(b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "evil.xml")
Traceback (most recent call last):
...
schemas.errors.InvalidFormat: evil.xml: XML with a DOCTYPE is refused (entity expansion / XXE risk)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any

from lxml import etree

from schemas.errors import InvalidFormat

_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def make_parser(**options: Any) -> etree.XMLParser:
    """An lxml parser with network, DTD loading and entity resolution off."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=options.pop("remove_blank_text", False),
        **options,
    )


def check_no_doctype(head: bytes, document_id: str) -> None:
    if _DOCTYPE.search(head):
        raise InvalidFormat("XML with a DOCTYPE is refused (entity expansion / XXE risk)", document_id=document_id)


def parse_bytes(data: bytes, document_id: str) -> etree._Element:
    """Parse a whole document; raise :class:`InvalidFormat` naming ``document_id`` on any error."""
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidFormat(f"expected bytes, got {type(data).__name__}", document_id=document_id)
    check_no_doctype(bytes(data[:4096]), document_id)
    if _DOCTYPE.search(data):
        check_no_doctype(bytes(data), document_id)
    try:
        return etree.fromstring(bytes(data), parser=make_parser())
    except etree.XMLSyntaxError as exc:
        line = getattr(exc, "lineno", None)
        raise InvalidFormat(f"malformed XML: {exc.msg}", document_id=document_id, line=line) from exc


def iterparse(source: str | IO[bytes], document_id: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
    """:func:`lxml.etree.iterparse` with the same protections, for streaming large files.

    The caller must ``clear()`` elements it is done with to keep memory constant.
    """
    if isinstance(source, str):
        with open(source, "rb") as fh:
            check_no_doctype(fh.read(4096), document_id)
    else:
        pos = source.tell()
        check_no_doctype(source.read(4096), document_id)
        source.seek(pos)
    try:
        yield from etree.iterparse(
            source, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, **kwargs
        )
    except etree.XMLSyntaxError as exc:
        raise InvalidFormat(f"malformed XML: {exc.msg}", document_id=document_id, line=getattr(exc, "lineno", None)) from exc


def localname(tag: str) -> str:
    """``{ns}Name`` -> ``Name``."""
    return tag.rpartition("}")[2]
