"""The rules that decide a message's source from its connection's client certificate.

Table-driven over :class:`hub.intake.SourceResolver` (which the intake calls
for every network arrival) with real parsed messages; plus the settings
checks that keep bindings unambiguous.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hub.auth.model import PeerCertificate
from hub.config import Settings, SourceSettings
from hub.hl7.er7 import parse
from hub.intake import SourceResolver
from hub.preflight import binding_problems

X = PeerCertificate("aa" * 32, "CN=gam.chu-x,O=CHU X")
Y = PeerCertificate("bb" * 32, "CN=gam.chu-y,O=CHU Y")
LAB = PeerCertificate("cc" * 32, "CN=sil.lab,O=Lab")
OTHER = PeerCertificate("dd" * 32, "CN=someone,O=Elsewhere")

SOURCES = [
    SourceSettings(name="chu-x-gam", sending_application="GAM", sending_facility="CHU-X",
                   certificate={"sha256": ":".join(["AA"] * 32)}, require_certificate=True),
    SourceSettings(name="chu-y-gam", sending_application="GAM", sending_facility="CHU-Y",
                   certificate={"subject": "cn = GAM.chu-y, o=CHU Y"}),
    SourceSettings(name="lab", certificate={"sha256": "cc" * 32}),  # known by certificate only
    SourceSettings(name="pacs-ris", sending_application="RIS"),
    SourceSettings(name="chu-z", sending_facility="CHU-Z"),
]


def message(app: str, facility: str) -> Any:
    return parse(f"MSH|^~\\&|{app}|{facility}|HUB|HUB|20250101||ADT^A01|1|P|2.5\r".encode())


CASES = [
    # (certificate, MSH-3, MSH-4, source, refused field or None)
    (X, "GAM", "CHU-X", "chu-x-gam", None),
    (X, "GAM", "CHU-Y", "chu-x-gam", 4),           # another source's facility
    (X, "GAM", "CHU-W", "chu-x-gam", 4),           # a facility nobody has
    (X, "PAS", "CHU-X", "chu-x-gam", 3),           # not its application
    (Y, "GAM", "CHU-Y", "chu-y-gam", None),        # bound by subject, compared loosely
    (Y, "GAM", "CHU-X", "chu-y-gam", 4),
    (None, "GAM", "CHU-X", None, 4),               # requires its certificate
    (None, "GAM", "CHU-Y", "chu-y-gam", None),     # bound, not required: header still works
    (OTHER, "GAM", "CHU-Y", None, 4),              # another certificate claiming a bound source
    (OTHER, "ADM", "CHU-Z", "chu-z", None),        # unbound sources keep their header
    (LAB, "SIL", "LAB", "lab", None),              # bound without MSH-3/MSH-4: any header...
    (LAB, "SIL", "CHU-Z", "lab", 4),               # ...but not another source's facility
    (LAB, "RIS", "LAB", "lab", 3),                 # ...nor another source's application
    (None, "SIL", "LAB", None, None),              # a header never names 'lab'
]


@pytest.mark.parametrize(("certificate", "app", "facility", "source", "field"), CASES,
                         ids=[f"{c.subject if c else 'none'}-{a}-{f}" for c, a, f, *_ in CASES])
def test_resolution(certificate: PeerCertificate | None, app: str, facility: str,
                    source: str | None, field: int | None) -> None:
    found, refusal = SourceResolver(SOURCES).resolve_connection(message(app, facility),
                                                                 certificate)
    assert (found.name if found else None) == source
    if field is None:
        assert refusal is None
        return
    assert refusal is not None and refusal.reject
    assert (refusal.segment, refusal.field, refusal.code) == ("MSH", field, "103")
    assert (facility if field == 4 else app) in str(refusal)
    if certificate is not None:
        assert certificate.subject in str(refusal)


def test_without_bindings_the_header_alone_decides() -> None:
    plain = [SourceSettings(name="chu-z", sending_facility="CHU-Z")]
    found, refusal = SourceResolver(plain).resolve_connection(message("A", "CHU-Z"), OTHER)
    assert (found.name if found else None, refusal) == ("chu-z", None)


@pytest.mark.parametrize("bad", [
    {"name": "s", "require_certificate": True},
    {"name": "s", "certificate": {}},
    {"name": "s", "certificate": {"sha256": "abc"}},
], ids=["required-without-binding", "empty-binding", "short-fingerprint"])
def test_bad_bindings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SourceSettings.model_validate(bad)


def test_a_dicom_title_of_a_bound_source_is_its_own() -> None:
    with pytest.raises(ValidationError, match="'CT1' of 'ct'"):
        Settings.model_validate({"dicom": {"sources": [
            {"name": "ct", "ae_titles": ["CT1"], "certificate": {"sha256": "aa" * 32}},
            {"name": "other", "ae_titles": ["CT1", "CT2"]}]}})


def test_two_sources_bound_to_one_certificate_are_a_problem() -> None:
    settings = Settings.model_validate({"sources": [
        {"name": "a", "certificate": {"sha256": "aa" * 32}},
        {"name": "b", "certificate": {"sha256": ":".join(["AA"] * 32)}}]})
    assert binding_problems(settings) == [
        "sources[1].certificate: source 'b' is bound to the certificate of source 'a'"]
