"""MHD through the hub's HTTP server, with and without the SRRI: subjects, ``patient``,
sourceId and the "shareable nationally" mark.

A real hub on free ports: PAM ADT over MLLP feed the identity component,
documents come over HTTP (plain CDA upload, ITI-65) and over MLLP (CI-SIS
ORU^R01), and are read back with plain httpx, as a FHIR client would: PDQm
first, then ITI-67 with the Patient id PDQm answered.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.patient import Patient
from typer.testing import CliRunner

from hub.app import Hub
from hub.hl7.ack import parse_ack
from hub.repository.bench_data import nir
from hub.repository.resources import SHAREABLE_EXTENSION
from tests.hub.conftest import ADMIN_TOKEN, HubFactory, send_mllp, wait_for
from tests.hub.repository.documents import INS_TEST, IPP_AUTHORITY, cda, oru

ROUTES = """\
routes:
  - name: adt-to-srri
    when: {message_type: ADT}
    action: deliver
    to: [srri]
  - name: documents-to-repository
    when: {message_type: ORU}
    action: deliver
    to: [repository]
"""
REGIONAL_OID = "2.25.114077959961030865733295044946271075314"
IPP_SYSTEM = f"urn:oid:{IPP_AUTHORITY}"
_numbers = itertools.count(1)


def new_ins() -> str:
    """A test INS-NIR with its key, new at every call."""
    return nir(f"2840563{next(_numbers):06d}")


def new_uid() -> str:
    """A fresh document uniqueId."""
    return f"1.2.250.1.999.42.71.{next(_numbers)}"


def adt_a28(control_id: str, ipp: str, ins: str | None) -> bytes:
    """A PAM France ADT^A28 (HL7 v2.5) for MARTIN CLAIRE; qualified (VALI) with an INS."""
    pid3 = f"{ipp}^^^LABO&{IPP_AUTHORITY}&ISO^PI"
    if ins:
        pid3 += f"~{ins}^^^ASIP-SANTE-INS-NIR&{INS_TEST}&ISO^INS"
    fields = [""] * 33
    fields[1], fields[3], fields[5] = "1", pid3, "MARTIN^CLAIRE^CLAIRE^^^^L"
    fields[7], fields[8], fields[32] = "19840512", "F", "VALI" if ins else "PROV"
    return ("\r".join([
        f"MSH|^~\\&|GAM|LABO|HUB|GRADES|20250301101500||ADT^A28^ADT_A05|{control_id}|P|"
        "2.5^FRA^2.11|||||FRA|UNICODE UTF-8|FR||2.11^IHE_FRANCE-2.11-PAM",
        "EVN||20250301101500", "PID" + "|".join(fields), "PV1|1|N"]) + "\r").encode()


@pytest.fixture
async def srri_hub(start_hub: HubFactory) -> Hub:
    """A hub with the SRRI and the repository."""
    return await start_hub(routes=ROUTES, components=["identity", "repository"],
                           ins_test_mode=True, destinations={
                               "srri": {"type": "srri"}, "repository": {"type": "repository"}})


@pytest.fixture
async def plain_hub(start_hub: HubFactory) -> Hub:
    """A hub with the repository only (no identity service)."""
    return await start_hub(routes=ROUTES, components=["repository"], destinations={
        "srri": {"type": "file", "directory": "srri-out"},
        "repository": {"type": "repository"}})


def client(hub: Hub) -> httpx.AsyncClient:
    """An authenticated client of ``hub``'s FHIR base."""
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub.http_port}/fhir", timeout=10,
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


async def feed(hub: Hub, message: bytes) -> None:
    """One HL7 message over MLLP, acknowledged AA."""
    assert hub.mllp_port is not None
    (ack,) = await send_mllp(hub.mllp_port, message)
    assert parse_ack(ack).code in ("AA", "CA"), ack  # CA: enhanced mode (MSH-15 AL)


async def pdqm_id(fhir: httpx.AsyncClient, ipp: str) -> str:
    """The Patient id PDQm answers for an IPP, once the SRRI has applied its ADT."""
    async def probe() -> str | None:
        found = (await fhir.get("/Patient", params={"identifier": f"{IPP_SYSTEM}|{ipp}"})).json()
        entries = found.get("entry", [])
        return str(entries[0]["resource"]["id"]) if entries else None

    patient: str = await wait_for(probe, timeout_s=20)
    return patient


async def upload(fhir: httpx.AsyncClient, document: bytes) -> dict[str, Any]:
    """``POST /fhir/Binary`` with a CDA: the DocumentReference filed."""
    response = await fhir.post("/Binary", content=document,
                               headers={"Content-Type": "application/xml"})
    assert response.status_code == 201, response.text
    resource: dict[str, Any] = response.json()
    return resource


async def iti67(fhir: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    """ITI-67: the DocumentReferences found (each valid R4)."""
    response = await fhir.get("/DocumentReference", params=params)
    assert response.status_code == 200, response.text
    found = [e["resource"] for e in response.json().get("entry", [])]
    for resource in found:
        DocumentReference.model_validate(resource)
    return found


@pytest.mark.parametrize("qualified", [True, False], ids=["qualified-ins", "ipp-only"])
async def test_the_pdqm_patient_id_finds_the_documents_and_the_subject_answers(
        srri_hub: Hub, qualified: bool) -> None:
    ins, ipp = new_ins(), f"IPP-{next(_numbers)}"
    await feed(srri_hub, adt_a28(f"A28-{ipp}", ipp, ins if qualified else None))
    async with client(srri_hub) as fhir:
        patient = await pdqm_id(fhir, ipp)
        # The CDA carries the INS and the IPP: without a qualified INS in the SRRI the
        # subject is still found through the IPP the document was filed under.
        filed = await upload(fhir, cda(new_uid(), ins=ins, ipp=ipp))
        assert filed["subject"]["reference"] == f"Patient/{patient}"
        base = str(fhir.base_url).rstrip("/")
        for form in (patient, f"Patient/{patient}", f"{base}/Patient/{patient}"):
            found = await iti67(fhir, patient=form)
            assert [d["id"] for d in found] == [filed["id"]], form
            assert found[0]["subject"]["reference"] == f"Patient/{patient}"
        subject = await fhir.get(f"/{found[0]['subject']['reference']}")
        assert subject.status_code == 200, subject.text
        assert Patient.model_validate(subject.json()).id == patient
        read = (await fhir.get(f"/DocumentReference/{filed['id']}")).json()
        assert read["subject"]["reference"] == f"Patient/{patient}"
        if qualified:  # a SubmissionSet is indexed by its subject only (here the INS)
            lists = (await fhir.get("/List", params={"patient": patient})).json()
            assert lists["entry"][0]["resource"]["subject"]["reference"] == \
                f"Patient/{patient}"


async def test_without_the_srri_the_subject_is_a_logical_reference(plain_hub: Hub) -> None:
    ins = new_ins()
    async with client(plain_hub) as fhir:
        filed = await upload(fhir, cda(new_uid(), ins=ins))
        assert "reference" not in filed["subject"]
        assert filed["subject"]["identifier"] == {"system": f"urn:oid:{INS_TEST}", "value": ins}
        DocumentReference.model_validate(filed)
        found = await iti67(fhir, patient=f"Patient/{INS_TEST}-{ins}")
        assert [d["id"] for d in found] == [filed["id"]]
        refused = await fhir.get("/DocumentReference", params={"patient": "18f0a0b0c0d0e0f0a0b0"})
        assert refused.status_code == 400
        assert refused.json()["issue"][0]["expression"] == ["patient"]


def _source_ids(lists: dict[str, Any]) -> list[dict[str, Any]]:
    return [x["valueIdentifier"] for e in lists.get("entry", []) for x in
            e["resource"].get("extension", []) if x["url"].endswith("ihe-sourceId")]


def provide_bundle(document: bytes, source_id: str | None) -> dict[str, Any]:
    """An ITI-65 transaction of one document, its SubmissionSet naming ``source_id``."""
    submission: dict[str, Any] = {
        "resourceType": "List", "status": "current", "mode": "working",
        "code": {"coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/"
                             "MHDlistTypes", "code": "submissionset"}]},
        "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986",
                        "value": f"urn:oid:{new_uid()}"}]}
    if source_id is not None:
        submission["extension"] = [{
            "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId",
            "valueIdentifier": {"value": source_id}}]
    binary = "urn:uuid:00000000-0000-4000-8000-000000000001"
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000000", "resource": submission,
         "request": {"method": "POST", "url": "List"}},
        {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000002", "resource": {
            "resourceType": "DocumentReference", "status": "current",
            "content": [{"attachment": {"contentType": "text/xml", "url": binary}}]},
         "request": {"method": "POST", "url": "DocumentReference"}},
        {"fullUrl": binary, "resource": {"resourceType": "Binary", "contentType": "text/xml",
                                         "data": base64.b64encode(document).decode()},
         "request": {"method": "POST", "url": "Binary"}}]}


@pytest.mark.parametrize(("how", "expected"), [
    ("upload", REGIONAL_OID),
    ("iti65-with-source", "1.2.250.1.999.77.1"),
    ("iti65-without-source", REGIONAL_OID),
    ("oru-msh4-oid", "1.2.250.1.999.78.1"),
    ("oru-msh4-name", REGIONAL_OID),
])
async def test_the_submission_set_source_id_is_an_oid(plain_hub: Hub, how: str,
                                                      expected: str) -> None:
    ins = new_ins()
    async with client(plain_hub) as fhir:
        document = cda(new_uid(), ins=ins)
        if how == "upload":
            await upload(fhir, document)
        elif how.startswith("iti65"):
            source = "urn:oid:1.2.250.1.999.77.1" if how == "iti65-with-source" else None
            answer = await fhir.post("", json=provide_bundle(document, source))
            assert answer.status_code == 200, answer.text
        else:
            facility = "LABO^1.2.250.1.999.78.1^ISO" if how == "oru-msh4-oid" else "LABO"
            await feed(plain_hub, oru([document], control_id=f"ORU-{next(_numbers)}", ins=ins,
                                      sending=("SIL_TEST", facility)))
        params = {"patient.identifier": f"urn:oid:{INS_TEST}|{ins}"}

        async def listed() -> list[dict[str, Any]] | None:
            found = _source_ids((await fhir.get("/List", params=params)).json())
            return found or None

        assert await wait_for(listed, timeout_s=20) == [
            {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{expected}"}]


async def test_an_iti65_source_id_that_is_not_an_oid_is_refused(plain_hub: Hub) -> None:
    async with client(plain_hub) as fhir:
        answer = await fhir.post("", json=provide_bundle(cda(new_uid()), "127.0.0.1:4711"))
    assert answer.status_code == 400
    assert answer.json()["issue"][0]["expression"] == ["Bundle.entry[0].resource.extension"]


async def _cli(hub: Hub, *args: str) -> tuple[int, str]:
    """``hub ...`` through typer in a thread (the hub answers from this loop)."""
    from hub.cli import app

    argv = [*args, "--url", f"http://127.0.0.1:{hub.http_port}"]
    result = await asyncio.to_thread(CliRunner().invoke, app, argv, env={
        "HUB_ADMIN_TOKEN": ADMIN_TOKEN, "COLUMNS": "250", "PATH": os.environ.get("PATH", "")})
    return result.exit_code, result.output


async def test_the_shareable_mark_is_shown_in_the_api_and_the_cli(plain_hub: Hub) -> None:
    ins = new_ins()
    async with client(plain_hub) as fhir:
        shared = await upload(fhir, cda(new_uid(), ins=ins, ipp="IPP-SHARED"))
        local = await upload(fhir, cda(new_uid(), ins=None, ipp="IPP-LOCAL-ONLY"))
    marks = {d["id"]: [x["valueBoolean"] for x in d["extension"]
                       if x["url"] == SHAREABLE_EXTENSION] for d in (shared, local)}
    assert marks == {shared["id"]: [True], local["id"]: [False]}
    code, output = await _cli(plain_hub, "documents", "show", local["id"])
    assert code == 0, output
    assert "shareable nationally: no (no qualified INS)" in output
    code, output = await _cli(plain_hub, "documents", "list", "--patient",
                              f"{IPP_SYSTEM}|IPP-SHARED")
    assert code == 0, output
    header, row = [line for line in output.splitlines() if "national" in line or
                   shared["id"] in line][:2]
    assert "national" in header and row.rstrip(" │|").endswith("yes")
    code, output = await _cli(plain_hub, "documents", "list", "--json", "--patient",
                              f"{IPP_SYSTEM}|IPP-LOCAL-ONLY")
    assert {"url": SHAREABLE_EXTENSION, "valueBoolean": False} in json.loads(
        output.splitlines()[0])["extension"]
