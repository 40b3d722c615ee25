"""IHE XDM packages: build, read back, and refuse what is malformed or hostile."""

from __future__ import annotations

import io
import zipfile

import pytest

from hub.errors import MappingError
from mappings.cda import map_cda
from mappings.xdm import (
    DE_TYPE,
    DE_UNIQUE_ID,
    METADATA,
    NS,
    XdmDocument,
    XdmSubmission,
    build_xdm,
    read_xdm,
)
from mappings.xml import parse_xml
from tests.hub.repository.documents import INS, cda

SUBMISSION = XdmSubmission("1.2.250.1.999.9.1", "1.2.250.1.999.9", "20250301101500",
                           f"{INS}^^^&1.2.250.1.213.1.4.10&ISO^NH",
                           ("|^^Internet^dr.petit@test.mssante.fr",))


def package(*uids: str) -> tuple[bytes, list[bytes]]:
    documents = [cda(uid) for uid in uids]
    built = build_xdm([XdmDocument(d, map_cda(d).entry, f"https://hub.test/{n}")
                       for n, d in enumerate(documents)], SUBMISSION)
    return built, documents


def rezip(data: bytes, change: dict[str, bytes | None],
          extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            replaced = change.get(item.filename, source.read(item))
            if replaced is not None:
                target.writestr(item.filename, replaced)
        for name, content in (extra or {}).items():
            target.writestr(name, content)
    return out.getvalue()


def test_layout_and_metadata() -> None:
    data, documents = package("1.2.250.1.999.70.1", "1.2.250.1.999.70.2")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["README.TXT", "INDEX.HTM", METADATA,
                                      "IHE_XDM/SUBSET01/DOC0001.XML",
                                      "IHE_XDM/SUBSET01/DOC0002.XML"]
        root = parse_xml(archive.read(METADATA))
    extrinsics = root.findall("rim:RegistryObjectList/rim:ExtrinsicObject", NS)
    assert len(extrinsics) == 2
    ids = [e.find(f"rim:ExternalIdentifier[@identificationScheme='{DE_UNIQUE_ID}']", NS)
           for e in extrinsics]
    assert [i.get("value") for i in ids if i is not None] == ["1.2.250.1.999.70.1",
                                                              "1.2.250.1.999.70.2"]
    types = [e.find(f"rim:Classification[@classificationScheme='{DE_TYPE}']", NS)
             for e in extrinsics]
    assert [t.get("nodeRepresentation") for t in types if t is not None] == ["11502-2"] * 2
    assert len(root.findall("rim:RegistryObjectList/rim:Association", NS)) == 2
    assert build_xdm([XdmDocument(documents[0], map_cda(documents[0]).entry)], SUBMISSION) == \
        build_xdm([XdmDocument(documents[0], map_cda(documents[0]).entry)], SUBMISSION)


def test_read_back_matches_the_documents() -> None:
    data, documents = package("1.2.250.1.999.70.3")
    read = read_xdm(data)
    entry = map_cda(documents[0]).entry
    assert (read.submission_unique_id, read.source_id, read.patient_id) == (
        SUBMISSION.unique_id, SUBMISSION.source_id, SUBMISSION.patient_id)
    assert read.intended_recipients == SUBMISSION.intended_recipients
    doc = read.documents[0]
    assert (doc.content, doc.hash, doc.size, doc.unique_id) == (
        documents[0], entry.hash, entry.size, entry.unique_id)
    assert (doc.type_code, doc.class_code, doc.format_code) == (
        entry.type_code, entry.class_code, entry.format_code)
    assert (doc.patient_id, doc.creation_time, doc.title) == (
        entry.patient_id, entry.creation_time, entry.title)


def _tampered_doc(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        original = archive.read("IHE_XDM/SUBSET01/DOC0001.XML")
    return rezip(data, {"IHE_XDM/SUBSET01/DOC0001.XML": original.replace(b"MARTIN", b"DURANT")})


def _longer_doc(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        original = archive.read("IHE_XDM/SUBSET01/DOC0001.XML")
        metadata = archive.read(METADATA)
    longer = original + b"\n"
    import hashlib
    digest = hashlib.sha1(original).hexdigest().encode()
    return rezip(data, {"IHE_XDM/SUBSET01/DOC0001.XML": longer,
                        METADATA: metadata.replace(digest, hashlib.sha1(longer).hexdigest()
                                                   .encode())})


@pytest.mark.parametrize(("make", "expected"), [
    (lambda d: b"not a zip", "not a ZIP archive"),
    (lambda d: rezip(d, {METADATA: None}), "METADATA.XML is missing"),
    (lambda d: rezip(d, {"README.TXT": None}), "README.TXT is missing"),
    (lambda d: rezip(d, {"IHE_XDM/SUBSET01/DOC0001.XML": None}), "names no file"),
    (_tampered_doc, "does not match the file's SHA-1"),
    (_longer_doc, "size"),
    (lambda d: rezip(d, {}, {"../evil.txt": b"x"}), "leaves the archive"),
    (lambda d: rezip(d, {}, {"/etc/passwd": b"x"}), "leaves the archive"),
    (lambda d: rezip(d, {METADATA: b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>'}),
     "document type declaration"),
    (lambda d: rezip(d, {METADATA: b"<lcm:SubmitObjectsRequest"}), "not well-formed"),
    (lambda d: rezip(d, {METADATA: b"<other/>"}), "SubmitObjectsRequest"),
], ids=["not-zip", "no-metadata", "no-readme", "missing-document", "bad-hash", "bad-size",
        "path-traversal", "absolute-path", "doctype", "broken-xml", "wrong-root"])
def test_malformed_packages_are_refused(make: object, expected: str) -> None:
    data, _ = package("1.2.250.1.999.70.4")
    with pytest.raises(MappingError, match=expected):
        read_xdm(make(data))  # type: ignore[operator]


def test_an_empty_package_cannot_be_built() -> None:
    with pytest.raises(MappingError, match="at least one document"):
        build_xdm([], SUBMISSION)
