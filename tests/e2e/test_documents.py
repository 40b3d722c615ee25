"""Documents end to end: CI-SIS ORU over MLLP and MHD over HTTP, on a ``hub run`` subprocess.

One hub serves the module with the ``repository`` component, a
``repository`` destination fed by the document routes, and a route sending
the ZAM^Z01 business acknowledgements (internal source ``repository``) to an
MLLP test listener standing for the sender's return endpoint. Documents go
in over MLLP (python-hl7's client) and over HTTP; they are read back through
MHD with plain httpx, every FHIR answer checked by ``fhir.resources``.
Each test uses its own patient (INS) so that searches do not see the
documents of other tests.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.operationoutcome import OperationOutcome

from hub.hl7.er7 import parse
from hub.repository.bench_data import nir
from tests.e2e.api import HubApi
from tests.e2e.clients import send
from tests.hub.repository.documents import INS_TEST, IPP, IPP_AUTHORITY, cda, oru
from tests.mappings.cda.models import auto_presentable, model_document
from tests.support.hubproc import (
    REPO_ROOT,
    HubProcess,
    await_until,
    mllp_destination,
    write_config,
)
from tests.support.sink import SinkThread

pytestmark = pytest.mark.timeout(180)

INS_SYSTEM = f"urn:oid:{INS_TEST}"
ROUTES = """\
routes:
  - name: documents-oru-repository
    when:
      message_type: ORU
      trigger: R01
      fields:
        "OBX[*]-3.1": {equals: DESTDMP}
    action: deliver
    to: [repository]
  - name: zam-to-sil
    when:
      source: repository
      message_type: ZAM
      fields:
        "MSH-5.1": {equals: SIL_TEST}
    action: deliver
    to: [sil-return]
"""
_numbers = itertools.count(1)


def new_ins() -> str:
    """A 15-character INS-NIR of test, with a valid key, different for every call."""
    return nir(f"2850663{next(_numbers):06d}")


def new_uid() -> str:
    """A fresh document uniqueId."""
    return f"1.2.250.1.999.42.70.{next(_numbers)}"


@dataclass(frozen=True)
class Docs:
    """The module's hub, its return-endpoint sink and an MHD client."""

    hub: HubProcess
    sil: SinkThread
    config: Path


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Docs]:
    """A hub with the repository; every process and thread stopped afterwards."""
    directory = tmp_path_factory.mktemp("documents")
    with SinkThread() as sil:
        config = write_config(directory, routes=ROUTES, components=["repository"], destinations={
            "repository": {"type": "repository",
                           "retry": {"max_attempts": 2, "initial_s": 0.1, "max_s": 0.2}},
            "sil-return": mllp_destination(sil.port, max_attempts=3, initial_s=0.1, max_s=0.3),
        })
        with HubProcess(config) as hub:
            yield Docs(hub, sil, config)


@pytest.fixture(scope="module")
def hub(docs: Docs) -> HubProcess:
    """The hub under test (for the ``api`` fixture)."""
    return docs.hub


@pytest.fixture
async def mhd(docs: Docs) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated FHIR client of the hub (plain httpx, not the hub's code)."""
    async with httpx.AsyncClient(base_url=docs.hub.base_url + "/fhir",
                                 headers=docs.hub.headers, timeout=20) as client:
        yield client


async def find(mhd: httpx.AsyncClient, ins: str, **params: str) -> list[dict[str, Any]]:
    """ITI-67 by INS; the DocumentReferences (the Bundle is validated)."""
    query = {k: v for k, v in params.items() if not k.startswith("X-")}
    response = await mhd.get("/DocumentReference", params={
        "patient.identifier": f"{INS_SYSTEM}|{ins}", **query},
        headers={k: v for k, v in params.items() if k.startswith("X-")})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    Bundle.model_validate(response.json())
    return [e["resource"] for e in response.json().get("entry", [])]


async def wait_found(mhd: httpx.AsyncClient, ins: str, count: int,
                     **params: str) -> list[dict[str, Any]]:
    """ITI-67 until ``count`` documents are found (the delivery is asynchronous)."""
    async def probe() -> tuple[list[dict[str, Any]]] | None:
        found = await find(mhd, ins, **params)
        return (found,) if len(found) == count else None
    (result,) = await await_until(probe, 20, f"{count} document(s) of {ins}")
    return result


def zams(sil: SinkThread, control_id: str) -> list[Any]:
    """ZAM^Z01 messages the return endpoint got about ``control_id`` (OBX-4)."""
    found = []
    for item in sil.sink.received:
        message = parse(item.payload)
        if message.message_type == "ZAM" and message.first("OBX-4") == control_id:
            found.append(message)
    return found


# -- CI-SIS ORU over MLLP --------------------------------------------------------


async def test_oru_over_mllp_is_found_by_ins_retrieved_exactly_and_acknowledged(
        docs: Docs, mhd: httpx.AsyncClient) -> None:
    ins, uid = new_ins(), new_uid()
    document = cda(uid, ins=ins)
    reply = await send(docs.hub.mllp_port, oru([document], control_id="DOC-1", ins=ins,
                                               flags={"ACK_RECEPTION": True}))
    assert reply.code == "CA"
    (found,) = await wait_found(mhd, ins, 1)
    DocumentReference.model_validate(found)
    assert found["status"] == "current"
    assert found["masterIdentifier"]["value"] == f"urn:oid:{uid}"
    assert found["type"]["coding"][0]["code"] == "11502-2"
    assert found["subject"]["identifier"] == {"system": INS_SYSTEM, "value": ins}
    attachment = found["content"][0]["attachment"]
    retrieved = await mhd.get(attachment["url"])
    assert retrieved.status_code == 200
    assert retrieved.content == document
    assert retrieved.headers["content-type"].startswith("text/xml")
    sha1 = base64.b64encode(hashlib.sha1(retrieved.content).digest()).decode()
    assert attachment["hash"] == sha1 and attachment["size"] == len(document)
    zam = await await_until(lambda: zams(docs.sil, "DOC-1"), 20, "ZAM^Z01 of DOC-1")
    assert [m.first("MSH-9") for m in zam] == ["ZAM^Z01^ZAM_Z01"]
    assert zam[0].first("OBX-3.1") == "ACK_RECEPTION_DMP"
    assert zam[0].first("OBX-5.1") == "Y"


async def test_replacement_then_deletion_over_mllp(docs: Docs, mhd: httpx.AsyncClient) -> None:
    ins, v1, v2 = new_ins(), new_uid(), new_uid()
    port = docs.hub.mllp_port
    assert (await send(port, oru([cda(v1, ins=ins)], control_id="RPL-1", ins=ins))).code == "CA"
    await wait_found(mhd, ins, 1)
    replacement = cda(v2, ins=ins, version=2, replaces=v1)
    assert (await send(port, oru([replacement], control_id="RPL-2", ins=ins,
                                 status="C"))).code == "CA"
    both = await wait_found(mhd, ins, 2)
    by_uid = {d["masterIdentifier"]["value"]: d for d in both}
    old, new = by_uid[f"urn:oid:{v1}"], by_uid[f"urn:oid:{v2}"]
    assert (old["status"], new["status"]) == ("superseded", "current")
    assert new["relatesTo"] == [{"code": "replaces",
                                 "target": {"reference": f"DocumentReference/{old['id']}"}}]
    assert (await mhd.get(old["content"][0]["attachment"]["url"])).content == cda(v1, ins=ins)
    related = await find(mhd, ins, related=f"DocumentReference/{old['id']}")
    assert [d["id"] for d in related] == [new["id"]]
    assert (await send(port, oru([replacement], control_id="RPL-3", ins=ins,
                                 status="D"))).code == "CA"
    await wait_found(mhd, ins, 0, status="current")
    deleted = await find(mhd, ins, status="entered-in-error")
    assert [d["id"] for d in deleted] == [new["id"]]


async def test_a_masked_document_is_hidden_from_professionals(
        docs: Docs, mhd: httpx.AsyncClient) -> None:
    ins = new_ins()
    await send(docs.hub.mllp_port, oru([cda(new_uid(), ins=ins)], control_id="MASK-1",
                                       ins=ins, flags={"MASQUE_PS": True}))
    (found,) = await wait_found(mhd, ins, 1, **{"X-Hub-Reader": "admin"})
    labels = [c["code"] for label in found["securityLabel"] for c in label["coding"]]
    assert "MASQUE_PS" in labels
    assert await find(mhd, ins) == []
    assert (await mhd.get(f"/Binary/{found['id']}")).status_code == 404
    glass = await find(mhd, ins, **{"X-Hub-Break-Glass": "emergency"})
    assert [d["id"] for d in glass] == [found["id"]]
    assert len(await find(mhd, ins, **{"X-Hub-Reader": "patient"})) == 1


async def test_a_conflicting_document_is_parked_and_answered_zam_n(
        docs: Docs, mhd: httpx.AsyncClient, api: HubApi) -> None:
    ins, uid = new_ins(), new_uid()
    port = docs.hub.mllp_port
    await send(port, oru([cda(uid, ins=ins, text="first")], control_id="CONF-1", ins=ins))
    await wait_found(mhd, ins, 1)
    reply = await send(port, oru([cda(uid, ins=ins, text="second")], control_id="CONF-2",
                                 ins=ins, flags={"ACK_RECEPTION": True}))
    assert reply.code == "CA"
    record = await api.wait_status("CONF-2", "parked")
    parked = [d for d in record["deliveries"] if d["destination"] == "repository"]
    assert "already filed" in parked[0]["last_error"]
    (zam,) = await await_until(lambda: zams(docs.sil, "CONF-2"), 20, "ZAM N of CONF-2")
    assert zam.first("OBX-5.1") == "N"
    assert zam.first("ERR-5.1") == "NON_IDENTICAL_HASH"
    (kept,) = await find(mhd, ins)
    assert (await mhd.get(kept["content"][0]["attachment"]["url"])).content == cda(
        uid, ins=ins, text="first")


async def test_destdmp_n_is_delivered_without_filing(docs: Docs, mhd: httpx.AsyncClient,
                                                     api: HubApi) -> None:
    ins = new_ins()
    await send(docs.hub.mllp_port, oru([cda(new_uid(), ins=ins)], control_id="NODMP-1",
                                       ins=ins, flags={"DESTDMP": False}))
    record = await api.wait_status("NODMP-1", "delivered")
    assert record["deliveries"][0]["response"] == "not filed: DESTDMP is not Y"
    assert await find(mhd, ins, **{"X-Hub-Reader": "admin"}) == []


# -- ITI-65 -------------------------------------------------------------------------


def provide_bundle(documents: list[bytes], *, relates: list[dict[str, Any] | None] | None = None,
                   labels: list[str] | None = None) -> dict[str, Any]:
    """An ITI-65 transaction: a SubmissionSet List, one DocumentReference + Binary each."""
    entries: list[dict[str, Any]] = [{
        "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000000",
        "resource": {"resourceType": "List", "status": "current", "mode": "working",
                     "code": {"coding": [{"system": "https://profiles.ihe.net/ITI/MHD/"
                                          "CodeSystem/MHDlistTypes", "code": "submissionset"}]},
                     "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986",
                                     "value": f"urn:oid:{new_uid()}"}]},
        "request": {"method": "POST", "url": "List"}}]
    for n, document in enumerate(documents, 1):
        binary_url = f"urn:uuid:00000000-0000-4000-8000-{n:012d}"
        reference: dict[str, Any] = {
            "resourceType": "DocumentReference", "status": "current",
            "content": [{"attachment": {"contentType": "text/xml", "url": binary_url}}]}
        if relates and relates[n - 1]:
            reference["relatesTo"] = [{"code": "replaces", "target": relates[n - 1]}]
        if labels:
            reference["securityLabel"] = [{"coding": [{"code": c}]} for c in labels]
        entries.append({"fullUrl": f"urn:uuid:10000000-0000-4000-8000-{n:012d}",
                        "resource": reference,
                        "request": {"method": "POST", "url": "DocumentReference"}})
        entries.append({"fullUrl": binary_url,
                        "resource": {"resourceType": "Binary", "contentType": "text/xml",
                                     "data": base64.b64encode(document).decode()},
                        "request": {"method": "POST", "url": "Binary"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


async def test_iti65_files_a_bundle_and_replaces_through_relates_to(
        mhd: httpx.AsyncClient) -> None:
    ins, a, b, c = new_ins(), new_uid(), new_uid(), new_uid()
    response = await mhd.post("/", json=provide_bundle([cda(a, ins=ins), cda(b, ins=ins)]))
    assert response.status_code == 200, response.text
    answer = Bundle.model_validate(response.json())
    assert answer.type == "transaction-response"
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses == ["201 Created"] * 5
    first_id = response.json()["entry"][1]["response"]["location"].split("/")[1]
    again = await mhd.post("/", json=provide_bundle([cda(a, ins=ins)]))
    assert [e["response"]["status"] for e in again.json()["entry"]] == ["200 OK"] * 3
    replacing = provide_bundle([cda(c, ins=ins)],
                               relates=[{"reference": f"DocumentReference/{first_id}"}])
    assert (await mhd.post("/", json=replacing)).status_code == 200
    found = {d["masterIdentifier"]["value"]: d["status"] for d in await find(mhd, ins)}
    assert found == {f"urn:oid:{a}": "superseded", f"urn:oid:{b}": "current",
                     f"urn:oid:{c}": "current"}
    lists = (await mhd.get("/List", params={"patient.identifier": f"{INS_SYSTEM}|{ins}"})).json()
    Bundle.model_validate(lists)
    assert sorted(len(e["resource"]["entry"]) for e in lists["entry"]) == [1, 2]


def _break_binary(bundle: dict[str, Any]) -> None:
    bundle["entry"][4]["resource"]["data"] = "not base64!"


def _unknown_binary(bundle: dict[str, Any]) -> None:
    bundle["entry"][3]["resource"]["content"][0]["attachment"]["url"] = "urn:uuid:missing"


def _not_cda(bundle: dict[str, Any]) -> None:
    bundle["entry"][4]["resource"]["data"] = base64.b64encode(b"<html/>").decode()


def _wrong_hash(bundle: dict[str, Any]) -> None:
    bundle["entry"][3]["resource"]["content"][0]["attachment"]["hash"] = \
        base64.b64encode(b"x" * 20).decode()


def _bad_status(bundle: dict[str, Any]) -> None:
    bundle["entry"][3]["resource"]["status"] = 42


def _no_list(bundle: dict[str, Any]) -> None:
    del bundle["entry"][0]


@pytest.mark.parametrize(("spoil", "status", "expression"), [
    (_break_binary, 400, "Bundle.entry[4].resource.data"),
    (_unknown_binary, 400, "Bundle.entry[3].resource.content[0].attachment.url"),
    (_not_cda, 422, "Bundle.entry[4].resource.data"),
    (_wrong_hash, 422, "Bundle.entry[3].resource.content[0].attachment.hash"),
    (_bad_status, 400, "Bundle.entry[3].resource.status"),
    (_no_list, 400, "Bundle.entry"),
], ids=["bad-base64", "unknown-binary", "not-cda", "wrong-hash", "bad-status", "no-list"])
async def test_iti65_refuses_an_invalid_bundle_and_stores_nothing(
        mhd: httpx.AsyncClient, api: HubApi, spoil: Any, status: int, expression: str) -> None:
    ins = new_ins()
    bundle = provide_bundle([cda(new_uid(), ins=ins), cda(new_uid(), ins=ins)])
    spoil(bundle)
    response = await mhd.post("/", json=bundle)
    assert response.status_code == status, response.text
    outcome = OperationOutcome.model_validate(response.json())
    assert outcome.issue[0].expression == [expression]
    assert await find(mhd, ins, **{"X-Hub-Reader": "admin"}) == []
    rejected = (await api.client.get("/api/messages", params={"status": "rejected",
                                                              "limit": 5})).json()["items"]
    assert any(r["protocol"] == "fhir" for r in rejected)


async def test_iti65_conflict_names_the_entry(mhd: httpx.AsyncClient) -> None:
    ins, uid = new_ins(), new_uid()
    assert (await mhd.post("/", json=provide_bundle([cda(uid, ins=ins)]))).status_code == 200
    response = await mhd.post("/", json=provide_bundle([cda(new_uid(), ins=ins),
                                                        cda(uid, ins=ins, text="x")]))
    assert response.status_code == 409
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[3]"]
    assert len(await find(mhd, ins)) == 1


# -- ITI-67 -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def searchable(docs: Docs) -> tuple[str, dict[str, str]]:
    """One patient with three documents that differ in every searched attribute."""
    ins = new_ins()
    uids = {"lab": new_uid(), "imaging": new_uid(), "letter": new_uid()}
    bundle = provide_bundle([
        cda(uids["lab"], ins=ins, effective="20240110100000+0000",
            service=("20240110080000+0000", "20240110090000+0000")),
        cda(uids["imaging"], ins=ins, type_code="18748-4", author_family="DUPONT",
            facility="SA07", setting="AMBULATOIRE", confidentiality="R",
            effective="20240601100000+0000",
            service=("20240601080000+0000", "20240602090000+0000")),
        cda(uids["letter"], ins=ins, type_code="11490-0", effective="20241201100000+0000",
            service=None),
    ])
    response = httpx.post(docs.hub.base_url + "/fhir", json=bundle, headers=docs.hub.headers,
                          timeout=20)
    assert response.status_code == 200, response.text
    return ins, uids


@pytest.mark.parametrize(("params", "expected"), [
    ({"type": "http://loinc.org|18748-4"}, ["imaging"]),
    ({"type": "11502-2,11490-0"}, ["lab", "letter"]),
    ({"category": "10"}, ["lab", "letter"]),
    ({"category": "31"}, ["imaging"]),  # ASS_X04: 18748-4 is of class 31, Imagerie médicale
    ({"category": "99"}, []),
    ({"format": "urn:ihe:iti:xds-sd:text:2008"}, ["lab", "imaging", "letter"]),
    ({"facility": "SA07"}, ["imaging"]),
    ({"setting": "AMBULATOIRE"}, ["imaging"]),
    ({"security-label": "R"}, ["imaging"]),
    ({"author.family": "dup"}, ["imaging"]),
    ({"creation": "2024-06"}, ["imaging"]),
    ({"creation": "ge2024-06-01"}, ["imaging", "letter"]),
    ({"period": "2024-06-02"}, ["imaging"]),
    ({"period": "lt2024-05-01"}, ["lab"]),
    ({"date": "ge2000-01-01"}, ["lab", "imaging", "letter"]),
    ({"date": "lt2000-01-01"}, []),
    ({"status": "current"}, ["lab", "imaging", "letter"]),
    ({"status": "superseded"}, []),
], ids=lambda v: json.dumps(v) if isinstance(v, dict) else None)
async def test_iti67_search_parameters(searchable: tuple[str, dict[str, str]],
                                       mhd: httpx.AsyncClient, params: dict[str, str],
                                       expected: list[str]) -> None:
    ins, uids = searchable
    found = {d["masterIdentifier"]["value"] for d in await find(mhd, ins, **params)}
    assert found == {f"urn:oid:{uids[name]}" for name in expected}


async def test_iti67_by_patient_reference_and_paging(
        searchable: tuple[str, dict[str, str]], mhd: httpx.AsyncClient) -> None:
    ins, _ = searchable
    seen: list[str] = []
    url: str | None = "/DocumentReference"
    params: dict[str, str] | None = {"patient": f"Patient/{INS_TEST}-{ins}", "_count": "2"}
    while url:
        page = (await mhd.get(url, params=params)).json()
        assert page["total"] == 3
        seen += [e["resource"]["id"] for e in page["entry"]]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        params = None
    assert len(seen) == 3 == len(set(seen))


@pytest.mark.parametrize(("params", "expression"), [
    ({}, "patient"),
    ({"patient.identifier": "no-bar"}, "patient.identifier"),
    ({"patient.identifier": f"{INS_SYSTEM}|1", "date": "yesterday"}, "date"),
    ({"patient.identifier": f"{INS_SYSTEM}|1", "status": "gone"}, "status"),
    ({"patient.identifier": f"{INS_SYSTEM}|1", "colour": "red"}, "colour"),
])
async def test_iti67_bad_parameters_are_named(mhd: httpx.AsyncClient, params: dict[str, str],
                                              expression: str) -> None:
    response = await mhd.get("/DocumentReference", params=params)
    assert response.status_code == 400
    assert OperationOutcome.model_validate(response.json()).issue[0].expression == [expression]


async def test_search_by_local_identifier_finds_the_same_documents(
        searchable: tuple[str, dict[str, str]], mhd: httpx.AsyncClient) -> None:
    response = await mhd.get("/DocumentReference", params={
        "patient.identifier": f"{IPP_AUTHORITY}|{IPP}", "_count": "500"})
    ids = {e["resource"]["masterIdentifier"]["value"] for e in response.json()["entry"]}
    assert {f"urn:oid:{u}" for u in searchable[1].values()} <= ids


# -- plain uploads and the CLI -------------------------------------------------------


async def test_plain_uploads_answer_with_what_was_filed(mhd: httpx.AsyncClient,
                                                        docs: Docs) -> None:
    ins = new_ins()
    created = await mhd.post("/Binary", content=cda(new_uid(), ins=ins),
                             headers={"Content-Type": "application/xml"})
    assert created.status_code == 201, created.text
    DocumentReference.model_validate(created.json())
    async with httpx.AsyncClient(base_url=docs.hub.base_url, headers=docs.hub.headers) as http:
        plain = await http.post("/documents", content=cda(new_uid(), ins=ins))
        refused = await http.post("/documents", content=b"<not-a-cda/>")
    assert plain.status_code == 201 and plain.json()["outcome"] == "created"
    assert refused.status_code == 422 and "ClinicalDocument" in refused.json()["error"]
    assert len(await find(mhd, ins)) == 2


def hub_cli(docs: Docs, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``hub --config ... ARGS`` in a subprocess."""
    return subprocess.run([sys.executable, "-m", "hub.cli", "--config", str(docs.config), *args],
                          cwd=REPO_ROOT, capture_output=True, timeout=60, check=False)


def test_cli_sends_lists_shows_and_gets_documents(docs: Docs, tmp_path: Path) -> None:
    ins = new_ins()
    files = []
    for n in range(3):
        path = tmp_path / f"doc{n}.xml"
        path.write_bytes(cda(new_uid(), ins=ins, text=f"document {n}"))
        files.append(path)
    (tmp_path / "bad.xml").write_bytes(b"<nope/>")
    sent = hub_cli(docs, "send", "cda", "--json", *map(str, files), str(tmp_path / "bad.xml"))
    assert sent.returncode == 1, sent.stderr
    lines = [json.loads(line) for line in sent.stdout.splitlines()]
    assert [line.get("outcome") for line in lines] == ["created"] * 3 + [None]
    assert "error" in lines[3]
    listed = hub_cli(docs, "documents", "list", "--patient", f"{INS_SYSTEM}|{ins}", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 3
    doc_id = lines[0]["id"]
    shown = hub_cli(docs, "documents", "show", doc_id)
    assert json.loads(shown.stdout)["id"] == doc_id
    got = hub_cli(docs, "documents", "get", doc_id)
    assert got.returncode == 0 and got.stdout == files[0].read_bytes()


# -- mapping failures and the CI-SIS catalogue ----------------------------------------

ODD_DATE = "00010101000000"


async def test_an_odd_cda_date_over_http_is_a_422_and_the_connection_stays_usable(
        docs: Docs, mhd: httpx.AsyncClient) -> None:
    ins = new_ins()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=docs.hub.base_url, headers=docs.hub.headers,
                                 limits=limits, timeout=20) as http:
        refused = await http.post("/documents", content=cda(new_uid(), ins=ins,
                                                            effective=ODD_DATE))
        filed = await http.post("/documents", content=cda(new_uid(), ins=ins))
        outcome = await http.post("/fhir/Binary", content=cda(new_uid(), ins=ins,
                                                              effective=ODD_DATE),
                                  headers={"Content-Type": "application/xml"})
        again = await http.post("/documents", content=cda(new_uid(), ins=ins))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert f"@value '{ODD_DATE}' is not a valid timestamp" in error
    assert "/ClinicalDocument/effectiveTime" in error
    assert filed.status_code == 201 and again.status_code == 201
    assert outcome.status_code == 422
    issue = OperationOutcome.model_validate(outcome.json()).issue[0]
    assert issue.expression == ["/ClinicalDocument/effectiveTime"]
    assert len(await find(mhd, ins)) == 2


async def test_an_odd_cda_date_in_iti65_is_refused_naming_the_entry(
        mhd: httpx.AsyncClient) -> None:
    bundle = provide_bundle([cda(new_uid(), ins=new_ins(), effective=ODD_DATE)])
    response = await mhd.post("/", json=bundle)
    assert response.status_code in (400, 422), response.text
    diagnostics = OperationOutcome.model_validate(response.json()).issue[0].diagnostics or ""
    assert ODD_DATE in diagnostics and "effectiveTime" in diagnostics


async def test_an_odd_cda_date_over_mllp_parks_the_repository_delivery_with_the_reason(
        docs: Docs, api: HubApi) -> None:
    ins = new_ins()
    document = cda(new_uid(), ins=ins, effective=ODD_DATE)
    reply = await send(docs.hub.mllp_port, oru([document], control_id="ODD-1", ins=ins))
    assert reply.code == "CA"
    record = await api.wait_status("ODD-1", "parked")
    (parked,) = [d for d in record["deliveries"] if d["destination"] == "repository"]
    assert parked["status"] == "parked"
    assert f"@value '{ODD_DATE}' is not a valid timestamp" in parked["last_error"]


CATALOGUE = [  # a handful of ASS_A11 models, each with the typeCode of its volet
    ("1.2.250.1.213.1.1.1.36", "34133-9", "urn:asip:ci-sis:hr:2019", "11"),  # CNAM-HR
    ("1.2.250.1.213.1.1.1.40", "77436-4", "urn:asip:ci-sis:cr-anest:2020", "10"),  # ANEST
    ("1.2.250.1.213.1.1.1.15", "11490-0", "urn:asip:ci-sis:aunv:2013", "10"),  # AVC-AUNV
    ("1.2.250.1.213.1.1.1.37", "87273-9", "urn:asip:ci-sis:vac:2019", "52"),  # VAC
    ("1.2.250.1.213.1.1.1.59", "96173-0", "urn:ans:ci-sis:trod:2024", "52"),  # BIO-TROD
    ("1.2.250.1.213.1.1.1.45", "18748-4",
     "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013", "31"),  # IMG-CR-IMG
]


async def test_documents_of_catalogue_models_are_filed_and_found_by_iti67(
        docs: Docs, mhd: httpx.AsyncClient) -> None:
    ins = new_ins()
    uploads = [(model_document(t, unique_id=new_uid(), type_code=type_code, ins=ins),
                fmt, cls) for t, type_code, fmt, cls in CATALOGUE]
    uploads.append((auto_presentable(model_document(
        "1.2.250.1.213.1.1.1.55", unique_id=new_uid(), type_code="11502-2", ins=ins)),
        "urn:ihe:lab:xd-lab:2008", "10"))
    async with httpx.AsyncClient(base_url=docs.hub.base_url, headers=docs.hub.headers) as http:
        for content, _, _ in uploads:
            answer = await http.post("/documents", content=content)
            assert answer.status_code == 201, answer.text
    found = await wait_found(mhd, ins, len(uploads), _count="50")
    filed = {(d["content"][0]["format"]["code"], d["category"][0]["coding"][0]["code"])
             for d in found}
    assert filed == {(fmt, cls) for _, fmt, cls in uploads}


async def test_a_model_no_table_knows_is_refused_naming_its_template_ids(
        docs: Docs) -> None:
    unknown = "1.2.250.1.213.1.1.1.999"
    content = model_document(unknown, unique_id=new_uid(), type_code="11502-2", ins=new_ins())
    async with httpx.AsyncClient(base_url=docs.hub.base_url, headers=docs.hub.headers) as http:
        plain = await http.post("/documents", content=content)
        binary = await http.post("/fhir/Binary", content=content,
                                 headers={"Content-Type": "application/xml"})
    assert plain.status_code == 422, plain.text
    assert unknown in plain.json()["error"] and "ASS_A11" in plain.json()["error"]
    assert binary.status_code == 422, binary.text
    diagnostics = OperationOutcome.model_validate(binary.json()).issue[0].diagnostics or ""
    assert unknown in diagnostics and "CI-SIS catalogue" in diagnostics
    assert "usable" not in diagnostics
