"""The repository service: idempotence, conflicts, replacement chains, deletion, visibility.

Every test runs on SQLite and on PostgreSQL (see ``conftest.py``).
"""

from __future__ import annotations

import pytest

from hub.repository.model import (
    CURRENT,
    ENTERED_IN_ERROR,
    SUPERSEDED,
    Action,
    DocumentConflict,
    LifecycleError,
    UnknownDocument,
    Visibility,
)
from hub.repository.search import Access, Criteria, Reader, SubmissionCriteria
from hub.repository.store import Repository, dtm_epoch
from tests.hub.repository.conftest import (
    INS_SYSTEM,
    IPP_SYSTEM,
    SUBMISSION,
    LinkingDirectory,
    filing,
)
from tests.hub.repository.documents import INS, IPP, cda

ADMIN = Access(Reader.ADMIN)
BY_INS = Criteria((INS_SYSTEM, INS))


async def statuses(repository: Repository, access: Access = ADMIN,
                   criteria: Criteria = BY_INS) -> dict[str, str]:
    """uniqueId -> status of what a search returns."""
    rows, total = await repository.search(criteria, access)
    assert total == len(rows)
    return {r["unique_id"]: r["status"] for r in rows}


async def test_a_filed_document_is_found_and_its_bytes_come_back(repository: Repository) -> None:
    content = cda("1.2.250.1.999.42.7.1")
    list_id, filed = await repository.file([filing(content)], SUBMISSION)
    assert list_id is not None
    assert [(f.outcome, f.status) for f in filed] == [("created", CURRENT)]
    row = await repository.get(filed[0].id)
    assert row is not None
    assert await repository.content(row) == content
    assert row["shareable"] is True
    assert await statuses(repository) == {"1.2.250.1.999.42.7.1": CURRENT}
    by_ipp = Criteria((IPP_SYSTEM, IPP))
    assert await statuses(repository, criteria=by_ipp) == {"1.2.250.1.999.42.7.1": CURRENT}
    lists = await repository.submissions(SubmissionCriteria((INS_SYSTEM, INS)))
    assert [members for _, members in lists] == [[filed[0].id]]


async def test_the_same_document_twice_is_filed_once(repository: Repository) -> None:
    content = cda("1.2.250.1.999.42.7.2")
    _, first = await repository.file([filing(content)], SUBMISSION)
    list_id, again = await repository.file([filing(content)], SUBMISSION)
    assert list_id is None
    assert [(f.id, f.outcome) for f in again] == [(first[0].id, "unchanged")]
    _, total = await repository.search(BY_INS, ADMIN)
    assert total == 1


async def test_the_same_unique_id_with_other_bytes_is_refused(repository: Repository) -> None:
    await repository.file([filing(cda("1.2.250.1.999.42.7.3", text="first"))], SUBMISSION)
    with pytest.raises(DocumentConflict, match=r"1\.2\.250\.1\.999\.42\.7\.3 is already filed"):
        await repository.file([filing(cda("1.2.250.1.999.42.7.3", text="other"))], SUBMISSION)
    rows, _ = await repository.search(BY_INS, ADMIN)
    assert [await repository.content(r) for r in rows] == [
        cda("1.2.250.1.999.42.7.3", text="first")]


async def test_a_replacement_chain_keeps_every_version_linked(repository: Repository) -> None:
    v1, v2, v3 = "1.2.250.1.999.42.8.1", "1.2.250.1.999.42.8.2", "1.2.250.1.999.42.8.3"
    _, (one,) = await repository.file([filing(cda(v1, set_id="9.9.1"))], SUBMISSION)
    _, (two,) = await repository.file(
        [filing(cda(v2, set_id="9.9.1", version=2, replaces=v1), Action.REPLACEMENT)],
        SUBMISSION)
    # The third version says nothing but its setId: the current version of the set is replaced.
    _, (three,) = await repository.file(
        [filing(cda(v3, set_id="9.9.1", version=3), Action.REPLACEMENT)], SUBMISSION)
    assert (two.outcome, two.previous, three.previous) == ("replaced", one.id, two.id)
    assert await statuses(repository) == {v1: SUPERSEDED, v2: SUPERSEDED, v3: CURRENT}
    first = await repository.get(one.id)
    assert first is not None and first["replaced_by"] == two.id
    assert await repository.content(first) == cda(v1, set_id="9.9.1")
    current = await statuses(repository, criteria=Criteria((INS_SYSTEM, INS), status=(CURRENT,)))
    assert current == {v3: CURRENT}


async def test_a_superseded_version_cannot_be_replaced_again(repository: Repository) -> None:
    v1 = "1.2.250.1.999.42.9.1"
    await repository.file([filing(cda(v1))], SUBMISSION)
    await repository.file([filing(cda("1.2.250.1.999.42.9.2", replaces=v1))], SUBMISSION)
    with pytest.raises(LifecycleError, match="superseded"):
        await repository.file([filing(cda("1.2.250.1.999.42.9.3", replaces=v1))], SUBMISSION)


async def test_an_unknown_replaced_document_is_an_error_only_when_strict(
        repository: Repository) -> None:
    named = cda("1.2.250.1.999.42.10.2", replaces="1.2.250.1.999.42.10.1")
    with pytest.raises(UnknownDocument, match=r"10\.1 is not in the repository"):
        await repository.file([filing(named, Action.REPLACEMENT, strict=True)], SUBMISSION)
    _, (filed,) = await repository.file([filing(named, Action.REPLACEMENT)], SUBMISSION)
    assert filed.outcome == "created"
    assert filed.note is not None and "filed as a new document" in filed.note


async def test_deletion_marks_entered_in_error_and_hides_from_searches(
        repository: Repository) -> None:
    content = cda("1.2.250.1.999.42.11.1")
    _, (created,) = await repository.file([filing(content)], SUBMISSION)
    _, (deleted,) = await repository.file([filing(content, Action.DELETION)], SUBMISSION)
    assert (deleted.id, deleted.outcome, deleted.status) == (created.id, "deleted",
                                                              ENTERED_IN_ERROR)
    assert await statuses(repository) == {}
    asked = Criteria((INS_SYSTEM, INS), status=(ENTERED_IN_ERROR,))
    assert await statuses(repository, criteria=asked) == {"1.2.250.1.999.42.11.1":
                                                           ENTERED_IN_ERROR}
    _, (again,) = await repository.file([filing(content, Action.DELETION)], SUBMISSION)
    assert again.outcome == "unchanged"


async def test_deleting_an_unknown_document_is_refused(repository: Repository) -> None:
    with pytest.raises(UnknownDocument, match="to delete is not in the repository"):
        await repository.file([filing(cda("1.2.250.1.999.42.12.1"), Action.DELETION)],
                              SUBMISSION)


async def test_a_refused_submission_stores_nothing(repository: Repository) -> None:
    """Atomic: the second document's conflict keeps the first one out too."""
    await repository.file([filing(cda("1.2.250.1.999.42.13.1", text="a"))], SUBMISSION)
    batch = [filing(cda("1.2.250.1.999.42.13.2")), filing(cda("1.2.250.1.999.42.13.1",
                                                               text="b"))]
    with pytest.raises(DocumentConflict) as raised:
        await repository.file(batch, SUBMISSION)
    assert raised.value.index == 1
    assert set(await statuses(repository)) == {"1.2.250.1.999.42.13.1"}


@pytest.mark.parametrize(("flags", "confidentiality", "hidden_from"), [
    (Visibility(masque_ps=True), "N", {Reader.PROFESSIONAL}),
    (Visibility(), "V", {Reader.PROFESSIONAL}),
    (Visibility(invisible_patient=True), "N", {Reader.PATIENT}),
    (Visibility(invisible_rep_legaux=True), "N", {Reader.LEGAL_REPRESENTATIVE}),
    (Visibility(connexion_secrete=True), "N", {Reader.LEGAL_REPRESENTATIVE}),
    (Visibility(), "R", set()),
], ids=["masque-ps", "very-restricted", "invisible-patient", "invisible-rep-legaux",
        "connexion-secrete", "restricted"])
async def test_visibility_flags_hide_documents_from_readers(
        repository: Repository, flags: Visibility, confidentiality: str,
        hidden_from: set[Reader]) -> None:
    content = cda("1.2.250.1.999.42.14.1", confidentiality=confidentiality)
    _, (filed,) = await repository.file([filing(content, visibility=flags)], SUBMISSION)
    row = await repository.get(filed.id)
    assert row is not None
    for reader in Reader:
        found = await statuses(repository, Access(reader))
        visible = reader not in hidden_from
        assert bool(found) is visible, reader
        assert repository.may_see(row, Access(reader)) is visible, reader
    glass = Access(Reader.PROFESSIONAL, break_glass=True)
    assert await statuses(repository, glass) == {"1.2.250.1.999.42.14.1": CURRENT}


async def test_a_merge_in_the_directory_is_seen_without_reindexing(
        repository: Repository, directory: LinkingDirectory) -> None:
    other_ipp = ("urn:oid:1.2.250.1.999.77.1", "OTHER-1")
    await repository.file([filing(cda("1.2.250.1.999.42.15.1"))], SUBMISSION)
    by_other = Criteria(other_ipp)
    assert await statuses(repository, criteria=by_other) == {}
    directory.link(other_ipp, (IPP_SYSTEM, IPP))
    assert await statuses(repository, criteria=by_other) == {"1.2.250.1.999.42.15.1": CURRENT}


async def test_a_document_without_qualified_ins_is_not_shareable(
        repository: Repository) -> None:
    _, (filed,) = await repository.file(
        [filing(cda("1.2.250.1.999.42.16.1"), qualified=False)], SUBMISSION)
    _, (no_ins,) = await repository.file([filing(cda("1.2.250.1.999.42.16.2", ins=None))],
                                         SUBMISSION)
    for doc_id in (filed.id, no_ins.id):
        row = await repository.get(doc_id)
        assert row is not None and row["shareable"] is False
    row = await repository.get(no_ins.id)
    assert row is not None and (row["patient_system"], row["patient_value"]) == (IPP_SYSTEM, IPP)


def test_xds_times_become_epoch_seconds() -> None:
    assert dtm_epoch("20250301") == 1740787200.0
    assert dtm_epoch("20250301091500") == 1740787200.0 + 9 * 3600 + 15 * 60
    assert dtm_epoch(None) is None


def test_a_message_whose_patient_is_not_the_documents_is_refused() -> None:
    """PID-3 names one INS, the CDA's recordTarget another: never filed under either."""
    from hub.hl7.er7 import parse
    from hub.repository.destination import filing_of
    from hub.repository.model import PatientMismatch
    from mappings.hl7v2 import map_document_message
    from tests.hub.repository.documents import cda, oru

    other = "185066311304558"
    mapped = map_document_message(parse(oru([cda("1.2.250.1.999.7.1")], control_id="MIX-1",
                                            ins=other)))
    with pytest.raises(PatientMismatch, match="recordTarget INS"):
        filing_of(mapped.documents[0], mapped)
    same = map_document_message(parse(oru([cda("1.2.250.1.999.7.2")], control_id="MIX-2")))
    assert filing_of(same.documents[0], same).patient.ins is not None
