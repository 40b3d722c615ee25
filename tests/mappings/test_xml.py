"""The hardened XML parser: hostile and broken input gives a MappingError naming the line."""

from __future__ import annotations

import pytest

from hub.errors import MappingError
from mappings.xml import parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<r>&secret;</r>
"""

# The DOCTYPE hides past the prolog scan, behind a long comment: the
# post-parse check must still refuse it.
LATE_DOCTYPE = (b"<?xml version='1.0'?>\n<!--" + b"x" * 5000 + b"-->\n"
                b"<!DOCTYPE r [<!ENTITY e 'boom'>]>\n<r>&e;</r>")


def test_well_formed_document_parses() -> None:
    root = parse_xml(b"<?xml version='1.0' encoding='UTF-8'?><a xmlns='urn:x'><b>t</b></a>")
    assert root.tag == "{urn:x}a"
    assert root[0].text == "t"


@pytest.mark.parametrize(
    ("data", "expected", "location"),
    [
        pytest.param(BILLION_LAUGHS, "document type declaration", "line 2", id="billion-laughs"),
        pytest.param(XXE, "document type declaration", "line 2", id="xxe-file"),
        pytest.param(LATE_DOCTYPE, "document type declaration", "line 1", id="doctype-after-scan"),
        pytest.param(b"", "is not well-formed XML", "line 1", id="empty"),
        pytest.param(b"MSH|^~\\&|not xml", "is not well-formed XML", "line 1", id="not-xml"),
        pytest.param(b"<a>\n<b>\n</a>", "is not well-formed XML", "line 3", id="mismatched-tag"),
        pytest.param(b"<a>&undeclared;</a>", "is not well-formed XML", "line 1",
                     id="undeclared-entity"),
    ],
)
def test_hostile_or_broken_input_is_refused(data: bytes, expected: str, location: str) -> None:
    with pytest.raises(MappingError) as caught:
        parse_xml(data)
    assert expected in str(caught.value)
    assert caught.value.location == location


def test_xxe_content_never_appears() -> None:
    with pytest.raises(MappingError) as caught:
        parse_xml(XXE)
    assert "root:" not in str(caught.value)


def test_size_limit_is_checked_before_parsing() -> None:
    data = b"<a>" + b"x" * 2000 + b"</a>"
    with pytest.raises(MappingError, match=r"2007 bytes, larger than the 1000-byte limit"):
        parse_xml(data, max_bytes=1000)
    assert parse_xml(data, max_bytes=len(data)).tag == "a"


def test_default_limit_is_twenty_mebibytes() -> None:
    oversize = b"<a>" + b" " * (20 * 1024 * 1024) + b"</a>"
    with pytest.raises(MappingError, match="larger than the 20971520-byte limit"):
        parse_xml(oversize)


def test_error_names_what_was_parsed() -> None:
    with pytest.raises(MappingError, match=r"^line 1: CDA document is not well-formed XML"):
        parse_xml(b"<", what="CDA document")


def test_doctype_text_inside_the_document_is_only_text() -> None:
    root = parse_xml(b"<a><![CDATA[<!DOCTYPE x [<!ENTITY e 'v'>]>]]></a>")
    assert root.text == "<!DOCTYPE x [<!ENTITY e 'v'>]>"
