"""The SRRI through a running hub: identity safety of validated identities and the
PDQm (ITI-78) search rules of FHIR R4, fed by PAM France ADT over MLLP."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from hub.app import Hub
from tests.identity.conftest import Fhir
from tests.identity.test_srri_hub import CHU_A, CHU_B, delivered, pam, pix_targets, send


async def test_validated_identities_with_two_other_strict_traits_go_to_review(
    srri_hub: Hub, fhir: Fhir,
) -> None:
    # Both VALI without INS: other first given name (one letter) and day/month swapped.
    await send(srri_hub,
               pam("A28", "A-70", CHU_A, "111", given="MATHILDE", ins=None),
               pam("A28", "B-70", CHU_B, "222", given="MATHILDA", birth_date="19841205",
                   ins=None))
    await delivered(srri_hub, 2)
    answer = await fhir("GET", "/fhir/Patient/$ihe-pix",
                        params={"sourceIdentifier": f"urn:oid:{CHU_A}|111"})
    assert (f"urn:oid:{CHU_B}", "222") not in pix_targets(answer.json())
    reviews = (await fhir("GET", "/api/identity/reviews")).json()
    assert len(reviews) == 1, reviews
    explanation = reviews[0]["explanation"]
    assert explanation["score"] == pytest.approx(26.6, abs=0.05)
    assert "validated-traits-differ" in explanation["vetoes"]


async def test_a_validated_and_a_provisional_record_keep_the_probabilistic_link(
    srri_hub: Hub, fhir: Fhir,
) -> None:
    await send(srri_hub,
               pam("A28", "A-71", CHU_A, "111", given="MATHILDE", ins=None),
               pam("A28", "B-71", CHU_B, "222", given="MATHILDA", birth_date="19841205",
                   ins=None, pid32="PROV"))
    await delivered(srri_hub, 2)
    answer = await fhir("GET", "/fhir/Patient/$ihe-pix",
                        params={"sourceIdentifier": f"urn:oid:{CHU_A}|111"})
    assert (f"urn:oid:{CHU_B}", "222") in pix_targets(answer.json())


@pytest.fixture
async def three(srri_hub: Hub) -> Hub:
    """MARTIN Claire (qualified), MARTINEZ Élodie and DURAND Paul, three identities."""
    await send(srri_hub,
               pam("A28", "A-80", CHU_A, "111"),
               pam("A28", "A-81", CHU_A, "112", birth_name="MARTINEZ", given="Élodie",
                   birth_date="19900704", birthplace="13055", ins=None, pid32="PROV"),
               pam("A28", "A-82", CHU_A, "113", birth_name="DURAND", given="PAUL",
                   birth_date="19700101", sex="M", ins=None, pid32="PROV"))
    await delivered(srri_hub, 3)
    return srri_hub


def _families(body: dict[str, Any]) -> list[str]:
    return sorted(e["resource"]["name"][0]["family"] for e in body.get("entry", []))


def _link(body: dict[str, Any], relation: str) -> str | None:
    return next((x["url"] for x in body.get("link", []) if x["relation"] == relation), None)


async def test_string_search_is_starts_with_case_and_accent_insensitive(
    three: Hub, fhir: Fhir,
) -> None:
    starts = (await fhir("GET", "/fhir/Patient", params={"family": "mart"})).json()
    assert _families(starts) == ["MARTIN", "MARTINEZ"]
    accent = (await fhir("GET", "/fhir/Patient", params={"given": "ELO"})).json()
    assert _families(accent) == ["MARTINEZ"]
    unaccented = (await fhir("GET", "/fhir/Patient", params={"given": "élodie"})).json()
    assert _families(unaccented) == ["MARTINEZ"]
    either = (await fhir("GET", "/fhir/Patient", params={"family": "dur,martine"})).json()
    assert _families(either) == ["DURAND", "MARTINEZ"]


async def test_family_alone_is_paged_with_next_links(three: Hub, fhir: Fhir) -> None:
    first = (await fhir("GET", "/fhir/Patient", params={"family": "MAR", "_count": "1"})).json()
    assert first["total"] == 2 and len(first["entry"]) == 1
    following = _link(first, "next")
    assert following is not None
    second = (await fhir("GET", "/fhir/Patient", params=parse_qsl(urlsplit(following).query))
              ).json()
    assert len(second["entry"]) == 1 and _link(second, "next") is None
    assert {first["entry"][0]["resource"]["id"], second["entry"][0]["resource"]["id"]} == \
        {e["resource"]["id"] for e in (await fhir("GET", "/fhir/Patient",
                                                   params={"family": "MAR"})).json()["entry"]}


async def test_count_zero_gives_the_total_only(three: Hub, fhir: Fhir) -> None:
    body = (await fhir("GET", "/fhir/Patient", params={"family": "MAR", "_count": "0"})).json()
    assert body["total"] == 2
    assert body["entry"] == []


@pytest.mark.parametrize(("value", "expected"), [
    ("ge1980-01-01", ["MARTIN", "MARTINEZ"]), ("lt1985", ["DURAND", "MARTIN"]),
    ("1984-05", ["MARTIN"]), ("ne1984-05-12", ["DURAND", "MARTINEZ"]),
    ("sa1984-12-31", ["MARTINEZ"]), ("eb1970-01-02", ["DURAND"]),
    ("le1970-01-01", ["DURAND"]),
])
async def test_birthdate_prefixes(three: Hub, fhir: Fhir, value: str,
                                  expected: list[str]) -> None:
    body = (await fhir("GET", "/fhir/Patient", params={"family": "mar,dur",
                                                       "birthdate": value})).json()
    assert _families(body) == expected, value


@pytest.mark.parametrize("value", ["xx1984-05-12", "1984-13-01", "12/05/1984"])
async def test_a_bad_birthdate_is_a_400(three: Hub, fhir: Fhir, value: str) -> None:
    answer = await fhir("GET", "/fhir/Patient", params={"family": "MAR", "birthdate": value})
    assert answer.status_code == 400, answer.text
    assert answer.json()["issue"][0]["expression"] == ["birthdate"]


async def test_a_date_range_alone_is_refused_as_too_costly(three: Hub, fhir: Fhir) -> None:
    answer = await fhir("GET", "/fhir/Patient", params={"birthdate": "ge1900"})
    assert answer.status_code == 400
    assert answer.json()["issue"][0]["code"] == "too-costly"


async def test_unknown_parameters_are_ignored_or_refused_when_strict(
    three: Hub, fhir: Fhir,
) -> None:
    lenient = await fhir("GET", "/fhir/Patient", params={"family": "DUR", "telecom": "x"})
    assert lenient.status_code == 200
    body = lenient.json()
    assert _families(body) == ["DURAND"]
    self_link = _link(body, "self")
    assert self_link is not None
    assert dict(parse_qsl(urlsplit(self_link).query)) == {"family": "DUR", "_count": "50"}
    strict = await fhir("GET", "/fhir/Patient", params={"family": "DUR", "telecom": "x"},
                        headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert strict.json()["issue"][0]["expression"] == ["telecom"]


async def test_id_search_and_read_give_the_same_patient(three: Hub, fhir: Fhir) -> None:
    found = (await fhir("GET", "/fhir/Patient", params={"family": "DURAND"})).json()
    patient_id = found["entry"][0]["resource"]["id"]
    by_id = (await fhir("GET", "/fhir/Patient", params={"_id": patient_id})).json()
    assert [e["resource"]["id"] for e in by_id["entry"]] == [patient_id]
    read = await fhir("GET", f"/fhir/Patient/{patient_id}")
    assert read.status_code == 200 and read.json()["id"] == patient_id
    unknown = (await fhir("GET", "/fhir/Patient", params={"_id": "R-none"})).json()
    assert unknown["total"] == 0
