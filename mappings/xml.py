"""The project's one XML parser, hardened against hostile input.

Every XML document the hub reads (CDA R2, XDM metadata, anything else) goes
through :func:`parse_xml`. The rules:

* a size limit checked on the raw bytes before any parsing (default 20 MiB);
* lxml with ``resolve_entities=False``, ``no_network=True``,
  ``load_dtd=False``, ``dtd_validation=False``, ``huge_tree=False``: no
  entity is ever expanded, nothing is fetched, libxml2 keeps its limits on
  depth and text-node size;
* any document type declaration is refused, whether it declares entities
  or not: a CDA document never needs one, and refusing it rules out
  entity-expansion bombs ("billion laughs") and external entities (XXE)
  whatever the parser's defaults become.

Every refusal is a :class:`hub.errors.MappingError` whose location names the
line (``line 3``).
"""

from __future__ import annotations

import re
import threading

from lxml import etree

from hub.errors import MappingError

__all__ = ["DEFAULT_MAX_BYTES", "parse_xml"]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
"""Largest document :func:`parse_xml` accepts unless told otherwise (20 MiB)."""

# A DOCTYPE can only come before the root element; looking for it in the
# prolog of an ASCII-compatible document refuses it before libxml2 reads it.
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ROOT_START = re.compile(rb"<[A-Za-z_]")
_PROLOG_SCAN = 4096

_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers keep state between documents and are not thread-safe:
    # one per thread, built once.
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        _local.parser = parser
    return parser


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _refuse_doctype_in_prolog(data: bytes, what: str) -> None:
    root = _ROOT_START.search(data, 0, _PROLOG_SCAN)
    found = _DOCTYPE.search(data, 0, root.start() if root else _PROLOG_SCAN)
    if found is not None:
        line = _line_of(data, found.start())
        raise MappingError(
            f"{what} has a document type declaration (<!DOCTYPE ...>); "
            "DTDs and entities are refused",
            location=f"line {line}",
        )


def _syntax_error(error: etree.XMLSyntaxError, what: str) -> MappingError:
    line = error.lineno or 1
    message = error.msg or str(error)
    return MappingError(f"{what} is not well-formed XML: {message}", location=f"line {line}")


def parse_xml(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, what: str = "document"
) -> etree._Element:
    """Parse ``data`` safely and return the root element.

    ``what`` names the input in error messages ("CDA document"). Raises
    :class:`hub.errors.MappingError` when the input is larger than
    ``max_bytes``, not well-formed, or carries a document type declaration.
    """
    if len(data) > max_bytes:
        raise MappingError(
            f"{what} is {len(data)} bytes, larger than the {max_bytes}-byte limit",
            location="line 1",
        )
    _refuse_doctype_in_prolog(data, what)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        raise _syntax_error(error, what) from None
    except (etree.LxmlError, ValueError) as error:
        raise MappingError(f"{what} cannot be parsed as XML: {error}", location="line 1") from None
    if root is None:
        raise MappingError(f"{what} is empty", location="line 1")
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.doctype:
        raise MappingError(
            f"{what} has a document type declaration; DTDs and entities are refused",
            location="line 1",
        )
    return root
