"""Invalid and hostile CDA documents: a MappingError naming the element and the value."""

from __future__ import annotations

import re

import pytest

from hub.errors import MappingError
from mappings.cda import map_cda

V3_DOC = b'<ClinicalDocument xmlns="urn:hl7-org:v3">'


def _edit(document: bytes, old: bytes, new: bytes) -> bytes:
    assert old in document, old
    return document.replace(old, new, 1)


def _drop(document: bytes, start: bytes, end: bytes) -> bytes:
    first = document.index(start)
    last = document.index(end, first) + len(end)
    return document[:first] + document[last:]


def test_billion_laughs_cda_is_refused(crbio_bytes: bytes) -> None:
    hostile = _edit(crbio_bytes, b"<ClinicalDocument",
                    b'<!DOCTYPE ClinicalDocument [<!ENTITY a "aaaa">'
                    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;">]>\n<ClinicalDocument')
    hostile = _edit(hostile, b"<title>Bilan", b"<title>&b;Bilan")
    with pytest.raises(MappingError, match="document type declaration") as caught:
        map_cda(hostile)
    assert caught.value.location == "line 3"


def test_external_entity_cda_is_refused(crbio_bytes: bytes) -> None:
    hostile = _edit(crbio_bytes, b"<ClinicalDocument",
                    b'<!DOCTYPE x [<!ENTITY s SYSTEM "file:///etc/passwd">]>\n<ClinicalDocument')
    hostile = _edit(hostile, b"<title>Bilan", b"<title>&s;Bilan")
    with pytest.raises(MappingError, match="DTDs and entities are refused"):
        map_cda(hostile)


def test_oversize_cda_is_refused_before_parsing(crbio_bytes: bytes) -> None:
    with pytest.raises(MappingError, match="larger than the 4096-byte limit"):
        map_cda(crbio_bytes, max_bytes=4096)


def test_not_xml() -> None:
    with pytest.raises(MappingError, match=r"^line 1: CDA document is not well-formed XML"):
        map_cda(b"%PDF-1.4 this is a PDF, not a CDA document")


def test_not_a_clinical_document() -> None:
    with pytest.raises(MappingError) as caught:
        map_cda(b'<Bundle xmlns="http://hl7.org/fhir"><type value="document"/></Bundle>')
    assert caught.value.location == "/Bundle"
    assert "root element is 'Bundle' in 'http://hl7.org/fhir'" in str(caught.value)


def test_clinical_document_without_namespace() -> None:
    with pytest.raises(MappingError, match="'ClinicalDocument' in 'no namespace'"):
        map_cda(b"<ClinicalDocument/>")


CASES = [
    pytest.param(lambda d: _drop(d, b'<id root="1.2.250.1.999.42.7', b"/>"),
                 "/ClinicalDocument/id", "the document has no uniqueId", id="missing-id"),
    pytest.param(lambda d: _edit(d, b'<id root="1.2.250.1.999.42.7.20250114.1"/>',
                                 b'<id nullFlavor="NI"/>'),
                 "/ClinicalDocument/id", "id has no @root", id="id-null-flavor"),
    pytest.param(lambda d: _drop(d, b"<recordTarget>", b"</recordTarget>"),
                 "/ClinicalDocument/recordTarget/patientRole", "no patient",
                 id="missing-record-target"),
    pytest.param(lambda d: re.sub(rb'<id root="1\.2\.250\.1\.(213\.1\.4\.10|999\.42\.1)"'
                                  rb' extension="[^"]+"/>', b"", d),
                 "/ClinicalDocument/recordTarget/patientRole/id",
                 "patient cannot be identified", id="patient-without-id"),
    pytest.param(lambda d: _drop(d, b'<code code="11502-2"', b"/>"),
                 "/ClinicalDocument/code", "no typeCode", id="missing-type-code"),
    pytest.param(lambda d: _edit(d, b'<effectiveTime value="20250114113000+0100"/>', b""),
                 "/ClinicalDocument/effectiveTime", "no creationTime",
                 id="missing-effective-time"),
    pytest.param(lambda d: _edit(d, b"20250114113000+0100", b"2025-01-14T11:30"),
                 "/ClinicalDocument/effectiveTime", "'2025-01-14T11:30' is not a valid",
                 id="iso-timestamp"),
    pytest.param(lambda d: _edit(d, b"20250114113000+0100", b"20251314113000+0100"),
                 "/ClinicalDocument/effectiveTime", "month must be in 1..12",
                 id="month-13"),
    pytest.param(lambda d: _edit(d, b'<versionNumber value="1"/>',
                                 b'<versionNumber value="one"/>'),
                 "/ClinicalDocument/versionNumber", "'one' is not a version number",
                 id="bad-version"),
    pytest.param(lambda d: _edit(d, b'<templateId root="1.2.250.1.213.1.1.1.55"/>', b"")
                 .replace(b'<templateId root="1.3.6.1.4.1.19376.1.3.3"/>', b""),
                 "/ClinicalDocument/templateId", "no templateId", id="unknown-model"),
    pytest.param(lambda d: _edit(d, b'value="6.40"', b'value="6,40"'),
                 "/ClinicalDocument/component/structuredBody/component/section/entry/act/"
                 "entryRelationship[2]/observation/value", "'6,40' is not a decimal number",
                 id="decimal-comma"),
    pytest.param(lambda d: _edit(d, b'<code code="2951-2"', b'<code nullFlavor="UNK"'),
                 "/ClinicalDocument/component/structuredBody/component/section/entry/act/"
                 "entryRelationship[3]/organizer/component[1]/observation/code",
                 "result observation has no code", id="result-without-code"),
    pytest.param(lambda d: _drop(d, b'<relatedDocument', b'</relatedDocument>')
                 if b"<relatedDocument" in d else _edit(
                     d, b"<component>\n    <structuredBody>",
                     b'<relatedDocument typeCode="RPLC"><parentDocument/></relatedDocument>'
                     b"<component>\n    <structuredBody>"),
                 "/ClinicalDocument/relatedDocument/parentDocument/id",
                 "relatedDocument has no parentDocument/id", id="rplc-without-id"),
    pytest.param(lambda d: _drop(d, b"<component>\n    <structuredBody>",
                                 b"</structuredBody>\n  </component>"),
                 "/ClinicalDocument/component", "neither structuredBody nor nonXMLBody",
                 id="no-body"),
]


@pytest.mark.parametrize(("mutate", "location", "message"), CASES)
def test_invalid_document_names_the_element(
    crbio_bytes: bytes, mutate: object, location: str, message: str
) -> None:
    document = mutate(crbio_bytes)  # type: ignore[operator]
    with pytest.raises(MappingError) as caught:
        map_cda(document)
    assert caught.value.location == location, str(caught.value)
    assert message in str(caught.value)
    assert re.search(r"\(line \d+\)", str(caught.value))


def _level1(body: bytes) -> bytes:
    return (b'<?xml version="1.0"?>' + V3_DOC +
            b'<templateId root="1.3.6.1.4.1.19376.1.2.20"/><id root="1.2.3.4"/>'
            b'<code code="11502-2" codeSystem="2.16.840.1.113883.6.1"/>'
            b'<effectiveTime value="20250101120000+0100"/>'
            b'<recordTarget><patientRole><id root="1.2.3.5" extension="P1"/></patientRole>'
            b"</recordTarget><component><nonXMLBody>" + body +
            b"</nonXMLBody></component></ClinicalDocument>")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b'<text mediaType="application/pdf" representation="B64">@@@@</text>',
                     "declared B64 but is not valid Base64", id="bad-base64"),
        pytest.param(b'<text mediaType="application/pdf" representation="B64">'
                     b"aGVsbG8gd29ybGQ=</text>", "does not start with %PDF-", id="not-a-pdf"),
        pytest.param(b'<text mediaType="video/mp4" representation="B64">AAAA</text>',
                     "'video/mp4' has no XDS formatCode", id="unknown-media-type"),
    ],
)
def test_invalid_level1_body(body: bytes, message: str) -> None:
    with pytest.raises(MappingError) as caught:
        map_cda(_level1(body))
    assert caught.value.location == "/ClinicalDocument/component/nonXMLBody/text"
    assert message in str(caught.value)


def test_level1_plain_text_defaults_to_text_plain() -> None:
    mapping = map_cda(_level1(b"<text>compte rendu en texte</text>"))
    assert mapping.entry.format_code.code == "urn:ihe:iti:xds-sd:text:2008"
    assert mapping.entry.patient_id is None
    assert mapping.report is None
