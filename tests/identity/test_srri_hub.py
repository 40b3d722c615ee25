"""The SRRI inside a running hub: PAM France ADT over MLLP in, PIXm / PDQm / review out.

Real sockets on 127.0.0.1 (the hub's MLLP listener and HTTP server on free
ports), the identity component configured as in the shipped ``hub.yaml``:
routes send ADT to the ``srri`` destination, and the SRRI's ADT^A31
announcements to a file drop.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from hub.app import Hub
from hub.hl7.ack import parse_ack
from hub.hl7.er7 import parse
from hub.journal import SearchFilter
from identity.ins import NIA_OID, ins_key
from tests.hub.conftest import ADMIN_TOKEN, send_mllp, wait_for
from tests.identity.conftest import Fhir

CHU_A = "1.2.250.1.71.4.2.2.101"
CHU_B = "1.2.250.1.71.4.2.2.202"
TEST_INS_OID = "1.2.250.1.213.1.4.10"


def nir(body13: str) -> str:
    """A NIR with its correct key."""
    return f"{body13}{ins_key(body13):02d}"


CLAIRE_INS = nir("2840563113045")


def pam(trigger: str, control_id: str, authority: str, ipp: str, *,
        birth_name: str = "MARTIN", given: str = "CLAIRE", birth_date: str = "19840512",
        sex: str = "F", birthplace: str = "63113", ins: str | None = CLAIRE_INS,
        pid32: str = "VALI", mrg: str | None = None,
        second: tuple[str, str] | None = None, ins_oid: str = TEST_INS_OID) -> bytes:
    """A PAM France 2.11 ADT (HL7 v2.5) written for these tests."""
    structure = {"A40": "ADT_A39", "A28": "ADT_A05", "A31": "ADT_A05", "A47": "ADT_A30",
                 "A24": "ADT_A24", "A37": "ADT_A37"}.get(trigger, "ADT_A01")
    ids = f"{ipp}^^^CHU&{authority}&ISO^PI"
    if ins:
        ids += f"~{ins}^^^ASIP-SANTE-INS&{ins_oid}&ISO^INS"
    segments = [
        f"MSH|^~\\&|GAM|CHU|HUB|GRADES|20250301101500||ADT^{trigger}^{structure}|{control_id}|P|"
        "2.5^FRA^2.11|||||FRA|UNICODE UTF-8|FR||2.11^IHE_FRANCE-2.11-PAM",
        "EVN||20250301101500",
        f"PID|1||{ids}||{birth_name}^{given}^{given}^^^^L||{birth_date}|{sex}|||"
        f"^^^^^^BDL^^{birthplace}" + "|" * 21 + pid32,
    ]
    if mrg:
        segments.append(f"MRG|{mrg}^^^CHU&{authority}&ISO^PI")
    else:
        segments.append("PV1|1|N")
    if second:
        segments.append(f"PID|2||{second[1]}^^^CHU&{second[0]}&ISO^PI||{birth_name}^{given}"
                        f"^^^^^L||{birth_date}|{sex}")
    return ("\r".join(segments) + "\r").encode("utf-8")


async def send(hub: Hub, *messages: bytes) -> None:
    assert hub.mllp_port is not None
    for ack in await send_mllp(hub.mllp_port, *messages):
        assert parse_ack(ack).code == "AA", ack


async def delivered(hub: Hub, count: int) -> None:
    """Wait until ``count`` ADT were applied by the srri destination."""
    assert hub.journal is not None
    journal = hub.journal

    async def done() -> bool:
        rows = await journal.search(SearchFilter(limit=1000))
        applied = [r for r in rows if r["source"] != "srri" and r["status"] == "delivered"]
        return len(applied) >= count

    await wait_for(done, timeout_s=20)


def pix_targets(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["valueIdentifier"]["system"], p["valueIdentifier"]["value"])
            for p in body.get("parameter", []) if p["name"] == "targetIdentifier"}


async def test_two_establishments_same_qualified_patient_are_cross_referenced(
    srri_hub: Hub, fhir: Fhir, tmp_path: Path,
) -> None:
    await send(srri_hub, pam("A28", "A-1", CHU_A, "111"), pam("A28", "B-1", CHU_B, "222"))
    await delivered(srri_hub, 2)

    answer = await fhir("GET", "/fhir/Patient/$ihe-pix",
                        params={"sourceIdentifier": f"urn:oid:{CHU_A}|111"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+json")
    targets = pix_targets(answer.json())
    assert (f"urn:oid:{CHU_B}", "222") in targets
    assert (f"urn:oid:{TEST_INS_OID}", CLAIRE_INS) in targets

    only_b = await fhir("GET", "/fhir/Patient/$ihe-pix", params={
        "sourceIdentifier": f"urn:oid:{TEST_INS_OID}|{CLAIRE_INS}",
        "targetSystem": f"urn:oid:{CHU_B}"})
    assert pix_targets(only_b.json()) == {(f"urn:oid:{CHU_B}", "222")}

    # Every change of the regional identity was announced as an ADT^A31 (PIX update style).
    updates = tmp_path / "updates"
    files = await wait_for(lambda: _files(updates), timeout_s=10)
    last = parse(sorted(files)[-1].read_bytes())
    assert last.message_type == "ADT" and last.trigger_event == "A31"
    pid3 = last.get("PID-3[*].1")
    assert "111" in pid3 and "222" in pid3 and CLAIRE_INS in pid3


async def _files(directory: Path) -> list[Path]:
    await asyncio.sleep(0)
    return list(directory.glob("*")) if directory.exists() else []


async def test_unknown_source_identifier_is_404_with_an_operation_outcome(
    srri_hub: Hub, fhir: Fhir,
) -> None:
    await send(srri_hub, pam("A28", "A-2", CHU_A, "111"))
    await delivered(srri_hub, 1)
    answer = await fhir("GET", "/fhir/Patient/$ihe-pix",
                        params={"sourceIdentifier": f"urn:oid:{CHU_A}|nobody"})
    assert answer.status_code == 404
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "not-found"
    bad = await fhir("GET", "/fhir/Patient/$ihe-pix", params={"sourceIdentifier": "no-bar"})
    assert bad.status_code == 400
    assert bad.json()["issue"][0]["expression"] == ["sourceIdentifier"]


async def test_pixm_unknown_domains_are_400_and_403(srri_hub: Hub, fhir: Fhir) -> None:
    # IHE ITI-83 3.83.4.2.3: source domain not recognised 400, target domain 403.
    await send(srri_hub, pam("A28", "A-3", CHU_A, "111"))
    await delivered(srri_hub, 1)
    source = await fhir("GET", "/fhir/Patient/$ihe-pix",
                        params={"sourceIdentifier": "urn:oid:1.2.250.1.999.404|111"})
    assert source.status_code == 400, source.text
    assert source.json()["issue"][0]["code"] == "code-invalid"
    target = await fhir("GET", "/fhir/Patient/$ihe-pix", params={
        "sourceIdentifier": f"urn:oid:{CHU_A}|111", "targetSystem": "urn:oid:1.2.250.1.999.403"})
    assert target.status_code == 403, target.text
    assert target.json()["issue"][0]["expression"] == ["targetSystem"]
    known = await fhir("GET", "/fhir/Patient/$ihe-pix", params={
        "sourceIdentifier": f"urn:oid:{CHU_A}|111", "targetSystem": f"urn:oid:{TEST_INS_OID}"})
    assert pix_targets(known.json()) == {(f"urn:oid:{TEST_INS_OID}", CLAIRE_INS)}


async def test_fhir_needs_the_bearer_token(srri_hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{srri_hub.http_port}") as c:
        answer = await c.get("/fhir/Patient", params={"birthdate": "1984-05-12"})
    assert answer.status_code == 401
    assert answer.json()["resourceType"] == "OperationOutcome"


async def test_a40_merge_repoints_the_absorbed_ipp(srri_hub: Hub, fhir: Fhir) -> None:
    # Two IPPs at CHU A for one person, the second without INS and with a typo:
    # both exist, then the GAM merges 112 into 111.
    await send(srri_hub, pam("A28", "A-10", CHU_A, "111"),
               pam("A28", "A-11", CHU_A, "112", birth_name="MARTYN", ins=None, pid32="PROV"))
    await delivered(srri_hub, 2)
    await send(srri_hub, pam("A40", "A-12", CHU_A, "111", mrg="112"))
    await delivered(srri_hub, 3)

    survivor = await fhir("GET", "/fhir/Patient/$ihe-pix",
                          params={"sourceIdentifier": f"urn:oid:{CHU_A}|111"})
    absorbed = await fhir("GET", "/fhir/Patient/$ihe-pix",
                          params={"sourceIdentifier": f"urn:oid:{CHU_A}|112"})
    assert absorbed.status_code == 200, absorbed.text
    survivor_id = _target_id(survivor.json())
    assert survivor_id == _target_id(absorbed.json()), "the merged IPP finds the survivor"
    assert (f"urn:oid:{CHU_A}", "112") not in pix_targets(survivor.json()), \
        "a merged-away IPP is no longer a current identifier"


def _target_id(body: dict[str, Any]) -> str:
    refs = [p["valueReference"]["reference"] for p in body["parameter"]
            if p["name"] == "targetId"]
    assert len(refs) == 1, body
    return str(refs[0]).rsplit("/", 1)[1]


async def test_same_ins_with_other_strict_traits_is_a_collision_for_review(
    srri_hub: Hub, fhir: Fhir,
) -> None:
    await send(srri_hub, pam("A28", "A-20", CHU_A, "111"),
               pam("A28", "B-20", CHU_B, "999", birth_date="19850512", given="SOPHIE"))
    await delivered(srri_hub, 2)

    a = await fhir("GET", "/fhir/Patient/$ihe-pix",
                   params={"sourceIdentifier": f"urn:oid:{CHU_A}|111"})
    assert (f"urn:oid:{CHU_B}", "999") not in pix_targets(a.json()), "a collision is never linked"

    reviews = (await fhir("GET", "/api/identity/reviews")).json()
    collisions = [r for r in reviews if r["kind"] == "collision"]
    assert len(collisions) == 1, reviews
    review = collisions[0]
    assert {review["incoming"]["ipp"], review["stored"]["ipp"]} == {"111", "999"}
    assert {f["field"] for f in review["explanation"]["fields"]} >= {"birth_name", "birth_date"}

    listed = await cli(srri_hub, "identity", "review", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [review["id"]]
    shown = await cli(srri_hub, "identity", "review", "show", review["id"])
    assert "birth_date" in shown.stdout and "111" in shown.stdout, shown.output
    decided = await cli(srri_hub, "identity", "review", "decide", review["id"], "--apart",
                        "--by", "idv-team", "--reason", "INS typed on the wrong patient")
    assert decided.exit_code == 0, decided.output
    again = await fhir("POST", f"/api/identity/reviews/{review['id']}/decision",
                       json={"decision": "link", "by": "x", "reason": "y"})
    assert again.status_code == 409
    assert (await fhir("GET", "/api/identity/reviews")).json() == []


async def cli(hub: Hub, *args: str) -> Result:
    """``hub ...`` through typer, in a thread: the hub answers from this event loop."""
    from hub.cli import app

    argv = [*args, "--url", f"http://127.0.0.1:{hub.http_port}"]
    return await asyncio.to_thread(CliRunner().invoke, app, argv,
                                   env={"HUB_ADMIN_TOKEN": ADMIN_TOKEN})


async def test_pdqm_search_and_match(srri_hub: Hub, fhir: Fhir) -> None:
    await send(srri_hub, pam("A28", "A-30", CHU_A, "111"),
               pam("A28", "A-31", CHU_A, "333", birth_name="DURAND", given="PAUL",
                   birth_date="19700101", sex="M", ins=None, pid32="PROV"))
    await delivered(srri_hub, 2)

    found = await fhir("GET", "/fhir/Patient", params={"family": "Martin", "given": "Claire"})
    assert found.status_code == 200, found.text
    bundle = found.json()
    assert bundle["resourceType"] == "Bundle" and bundle["total"] == 1
    patient = bundle["entry"][0]["resource"]
    assert patient["birthDate"] == "1984-05-12"
    assert {"system": f"urn:oid:{CHU_A}", "value": "111"}.items() <= \
        next(i for i in patient["identifier"] if i["value"] == "111").items()

    by_date = await fhir("GET", "/fhir/Patient", params={"birthdate": "1970-01-01",
                                                         "gender": "male"})
    assert [e["resource"]["name"][0]["family"] for e in by_date.json()["entry"]] == ["DURAND"]
    family_only = await fhir("GET", "/fhir/Patient", params={"family": "MARTIN"})
    assert family_only.status_code == 200, family_only.text
    assert family_only.json()["total"] == 1

    match = await fhir("POST", "/fhir/Patient/$match", json={
        "resourceType": "Parameters", "parameter": [{"name": "resource", "resource": {
            "resourceType": "Patient", "name": [{"use": "official", "family": "MARTIN",
                                                 "given": ["CLAIRE"]}],
            "birthDate": "1984-05-12", "gender": "female"}}]})
    assert match.status_code == 200, match.text
    entries = match.json()["entry"]
    assert entries[0]["resource"]["birthDate"] == "1984-05-12"
    grade = entries[0]["search"]["extension"][0]["valueCode"]
    assert grade in ("certain", "probable")


async def test_a47_moves_the_link_to_the_new_ipp(srri_hub: Hub, fhir: Fhir) -> None:
    await send(srri_hub, pam("A28", "A-40", CHU_A, "111"), pam("A28", "B-40", CHU_B, "222"))
    await delivered(srri_hub, 2)
    await send(srri_hub, pam("A47", "A-41", CHU_A, "119", mrg="111"))
    await delivered(srri_hub, 3)
    renamed = await fhir("GET", "/fhir/Patient/$ihe-pix",
                         params={"sourceIdentifier": f"urn:oid:{CHU_A}|119"})
    assert renamed.status_code == 200, renamed.text
    targets = pix_targets(renamed.json())
    assert (f"urn:oid:{CHU_B}", "222") in targets, "the new IPP keeps the old one's link"
    assert (f"urn:oid:{CHU_A}", "111") not in targets, "the old IPP is no longer current"


async def test_a24_links_and_a37_unlinks_as_the_source_says(srri_hub: Hub, fhir: Fhir) -> None:
    # Same name, other birth date and no INS at CHU B: not linked by the matcher.
    await send(srri_hub, pam("A28", "A-50", CHU_A, "111"),
               pam("A28", "B-50", CHU_B, "444", birth_date="19840215", ins=None, pid32="PROV"))
    await delivered(srri_hub, 2)

    async def targets() -> set[tuple[str, str]]:
        answer = await fhir("GET", "/fhir/Patient/$ihe-pix",
                            params={"sourceIdentifier": f"urn:oid:{CHU_A}|111"})
        return pix_targets(answer.json())

    assert (f"urn:oid:{CHU_B}", "444") not in await targets()
    await send(srri_hub, pam("A24", "A-51", CHU_A, "111", second=(CHU_B, "444")))
    await delivered(srri_hub, 3)
    assert (f"urn:oid:{CHU_B}", "444") in await targets()
    await send(srri_hub, pam("A37", "A-52", CHU_A, "111", second=(CHU_B, "444")))
    await delivered(srri_hub, 4)
    assert (f"urn:oid:{CHU_B}", "444") not in await targets()
    # An update of CHU B's record later must not bring it back automatically.
    await send(srri_hub, pam("A31", "B-53", CHU_B, "444", birth_date="19840512", ins=None,
                             pid32="PROV"))
    await delivered(srri_hub, 5)
    assert (f"urn:oid:{CHU_B}", "444") not in await targets()


async def test_nia_replaced_by_the_nir_keeps_the_identity(srri_hub: Hub, fhir: Fhir) -> None:
    nia = nir("2840563113099")
    await send(srri_hub, pam("A28", "A-60", CHU_A, "111", ins=nia, ins_oid=NIA_OID),
               pam("A28", "B-60", CHU_B, "222", ins=nia, ins_oid=NIA_OID))
    await delivered(srri_hub, 2)
    # CHU A learns the NIR (A47: PID-3 holds the new INS, MRG-1 the old one, same IPP).
    await send(srri_hub, pam("A47", "A-61", CHU_A, "111", ins=CLAIRE_INS, mrg="111"))
    await delivered(srri_hub, 3)
    answer = await fhir("GET", "/fhir/Patient/$ihe-pix",
                        params={"sourceIdentifier": f"urn:oid:{CHU_A}|111"})
    assert (f"urn:oid:{CHU_B}", "222") in pix_targets(answer.json())
