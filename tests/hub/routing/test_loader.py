"""Loading route directories: valid sets, every kind of invalid file, the default routes.

The last part routes real HL7 v2 text, parsed by ``hub.hl7.er7``, through the
default route set of ``routes/``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from hub.config import load_settings
from hub.errors import ConfigError
from hub.hl7.er7 import Message, parse
from hub.routing import Decision, RouteFileError, RoutingEngine, load_routes

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_ROUTES = ROOT / "routes"
DATA = ROOT / "tests" / "data" / "routes"
INVALID = DATA / "invalid"

DEFAULT_DESTINATIONS = set(load_settings(ROOT / "hub.yaml", environ={}).destinations)
ADT_TO = ("srri", "adt-archive")
TEST_DESTINATIONS = {"adt-archive", "adt-copy", "documents-archive", "identity-archive"}
TEST_SOURCES = {"chu-x-gam", "labo-y-sil", "gam-recette"}


def _load_error(directory: Path, **kwargs: Any) -> RouteFileError:
    with pytest.raises(RouteFileError) as caught:
        load_routes(directory, **kwargs)
    return caught.value


# Valid sets


def test_default_routes_load_in_file_order() -> None:
    routes = load_routes(DEFAULT_ROUTES, known_destinations=DEFAULT_DESTINATIONS)
    assert [route.name for route in routes] == [
        "drop-training-messages",
        "identity-updates",
        "business-acknowledgements",
        "adt-archive",
        "documents-oru-repository",
        "documents-mdm-repository",
        "documents-oru-mssante",
        "documents-mdm-mssante",
        "documents-oru",
        "documents-mdm",
    ]


def test_valid_directory_loads_yaml_and_yml_and_skips_other_files() -> None:
    routes = load_routes(
        DATA / "valid", known_destinations=TEST_DESTINATIONS, known_sources=TEST_SOURCES
    )
    assert [route.name for route in routes] == [
        "drop-debug-from-recette",
        "qualified-identities",
        "adt-feed",
        "adt-feed-copy",
        "documents",
    ]


def test_yaml_merge_keys_are_supported() -> None:
    copy = load_routes(DATA / "valid")[3]
    assert copy.when.message_type == ("ADT",)
    assert copy.to == ("adt-archive", "adt-copy")


def test_destinations_and_sources_are_only_checked_when_given() -> None:
    assert load_routes(INVALID / "unknown-destination")[0].to == ("adt-archive", "adt-archiv")
    assert load_routes(INVALID / "unknown-source")[0].when.source[1] == "chu-z-gam"


# Invalid files: (case directory, load_routes keywords, key, text of the problem)

INVALID_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "unknown-key",
        {},
        "unknown-key/routes.yaml: routes[0].when",
        "unknown key 'trigers'; allowed: source, protocol, message_type, trigger, fields, any"
        " (did you mean 'trigger'?) (line 6)",
    ),
    (
        "unknown-operator",
        {},
        "unknown-operator/routes.yaml: routes[0].when.fields['PV1-2']",
        "unknown key 'equal'",
    ),
    (
        "bad-path",
        {},
        "bad-path/routes.yaml: routes[0].when.fields['PID-3[*.5']",
        "bad field path 'PID-3[*.5': field '3[*' is malformed",
    ),
    (
        "bad-path-in-any",
        {},
        "bad-path-in-any/routes.yaml: routes[0].when.any[1]['PV1']",
        "bad field path 'PV1': no '-' between segment and field",
    ),
    (
        "bad-regex",
        {},
        "bad-regex/routes.yaml: routes[0].when.fields['PID-32'].matches",
        "invalid regular expression '^(VALI|QUAL$': missing ), unterminated subpattern",
    ),
    (
        "two-operators",
        {},
        "two-operators/routes.yaml: routes[0].when.fields['PV1-2']",
        "needs exactly one of equals, not_equals, in, not_in, contains, matches, exists;"
        " found equals, in (line 6)",
    ),
    (
        "empty-to",
        {},
        "empty-to/routes.yaml: routes[0]",
        "a deliver route needs a non-empty 'to'",
    ),
    (
        "filter-without-reason",
        {},
        "filter-without-reason/routes.yaml: routes[0]",
        "a filter route needs a 'reason'",
    ),
    (
        "yaml-syntax",
        {},
        "yaml-syntax/routes.yaml",
        "YAML syntax error at line 7, column 11: expected ',' or ']', but got ':'"
        " (while parsing a flow sequence started at line 6)",
    ),
    (
        "duplicate-yaml-key",
        {},
        "duplicate-yaml-key/routes.yaml",
        "YAML syntax error at line 7, column 9: duplicate key 'PV1-2' (first at line 6)",
    ),
    (
        "duplicate-name",
        {},
        "duplicate-name/b.yaml: routes[0].name",
        "duplicate route name 'adt-feed': already defined in duplicate-name/a.yaml routes[0]",
    ),
    (
        "unquoted-value",
        {},
        "unquoted-value/routes.yaml: routes[0].when.fields['OBX[*]-5.1'].equals",
        "expected a string, got False; quote it in YAML",
    ),
    (
        "bad-name",
        {},
        "bad-name/routes.yaml: routes[0].name",
        "'ADT Feed' does not match ^[a-z0-9-]+$ (line 3)",
    ),
    (
        "bad-action",
        {},
        "bad-action/routes.yaml: routes[0].action",
        "Input should be 'deliver' or 'filter', got 'forward'",
    ),
    (
        "missing-when",
        {},
        "missing-when/routes.yaml: routes[0]",
        "missing required key 'when'",
    ),
    (
        "not-a-mapping",
        {},
        "not-a-mapping/routes.yaml",
        "expected a mapping with a 'routes' list at the top; got list",
    ),
    (
        "empty-file",
        {},
        "empty-file/routes.yaml",
        "the file is empty",
    ),
    (
        "unknown-destination",
        {"known_destinations": {"adt-archive", "documents-archive"}},
        "unknown-destination/routes.yaml: routes[0].to[1]",
        "unknown destination 'adt-archiv'; configured: adt-archive, documents-archive"
        " (did you mean 'adt-archive'?) (line 6)",
    ),
    (
        "unknown-source",
        {"known_sources": TEST_SOURCES},
        "unknown-source/routes.yaml: routes[0].when.source[1]",
        "unknown source 'chu-z-gam'",
    ),
]


@pytest.mark.parametrize(
    ("case", "kwargs", "key", "text"),
    INVALID_CASES,
    ids=[case[0] for case in INVALID_CASES],
)
def test_invalid_route_files(case: str, kwargs: dict[str, Any], key: str, text: str) -> None:
    error = _load_error(INVALID / case, **kwargs)
    assert error.key == key
    assert len(error.problems) == 1
    assert error.problems[0].startswith(f"{key}: ")
    assert text in error.problems[0]
    assert text in str(error)


def test_every_invalid_case_has_a_test() -> None:
    tested = {case[0] for case in INVALID_CASES} | {"many-problems"}
    assert {path.name for path in INVALID.iterdir()} == tested


def test_all_problems_are_reported_at_once() -> None:
    error = _load_error(INVALID / "many-problems")
    assert [problem.split(": ")[1] for problem in error.problems] == [
        "routes[0]",
        "routes[1].when.fields['PID-32'].matches",
        "routes[2]",
    ]
    assert "non-empty 'to'" in error.problems[0]
    assert "invalid regular expression '('" in error.problems[1]
    assert "unknown key 'finall'" in error.problems[2]
    assert str(error).startswith("3 problems in route files:\n  - many-problems/routes.yaml")


def test_problems_of_several_files_are_collected(tmp_path: Path) -> None:
    directory = tmp_path / "routes"
    directory.mkdir()
    for case in ("bad-regex", "empty-to", "yaml-syntax"):
        text = (INVALID / case / "routes.yaml").read_text(encoding="utf-8")
        (directory / f"{case}.yaml").write_text(text, encoding="utf-8")
    error = _load_error(directory)
    assert [problem.split(":")[0] for problem in error.problems] == [
        "routes/bad-regex.yaml",
        "routes/empty-to.yaml",
        "routes/yaml-syntax.yaml",
    ]


def test_route_file_error_is_a_config_error() -> None:
    error = _load_error(INVALID / "bad-regex")
    assert isinstance(error, ConfigError)
    assert str(ROOT) not in str(error)


def test_missing_directory(tmp_path: Path) -> None:
    error = _load_error(tmp_path / "nowhere")
    assert len(error.problems) == 1
    assert error.problems[0].startswith(
        f"{tmp_path / 'nowhere'}: route directory {(tmp_path / 'nowhere').resolve()} not found; ")
    assert "HUB_ROUTES_DIR" in error.problems[0] and "hub init DIR" in error.problems[0]


def test_directory_without_route_files(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("no routes here\n", encoding="utf-8")
    error = _load_error(tmp_path)
    assert "no route files (*.yaml, *.yml) in the directory" in error.problems[0]


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes("routes: []  # Hôpital\n".encode("latin-1"))
    error = _load_error(tmp_path)
    assert error.key == f"{tmp_path.name}/latin1.yaml"
    assert "cannot read the file" in error.problems[0]


def test_an_empty_route_list_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "none.yaml").write_text("routes: []\n", encoding="utf-8")
    assert load_routes(tmp_path) == []


# The default routes on real HL7 v2 text


def _er7(*segments: str) -> bytes:
    return "\r".join(segments).encode("utf-8") + b"\r"


def adt_a01(processing_id: str = "P", trigger: str = "A01", identifiers: str = "") -> Message:
    """An IHE PAM France 2.11 admission (shape of the ANS SGL/admission.er7 sample).

    PID-3 carries the local IPP (PI) and the INS (NIR, test OID .10); PID-32
    is VALI (qualified identity); PV1-2 I (inpatient); ZBE the movement.
    """
    pid3 = identifiers or (
        "000123^^^CHU-X&1.2.250.1.999.1.1&ISO^PI~"
        "279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS"
    )
    return parse(
        _er7(
            "MSH|^~\\&|GAM|CHU-X|HUB|GRADES|20250114093000||ADT^"
            f"{trigger}^ADT_A01|ADT0001|{processing_id}|2.5^FRA^2.11|||||FRA|UNICODE UTF-8|||"
            "2.11^IHE_FRANCE-2.11-PAM",
            "EVN||20250114093000||||20250114092500",
            f"PID|1||{pid3}||TESTPAT^DOMINIQUE^DOMINIQUE^^^^L||19790328|F|||"
            "28 Av de Breteuil^^PARIS^^75007^FRA^H|||||||||||||||||||||VALI",
            "PV1|1|I|CARDIO^101^1^CHU-X||||||||||||||||V0001^^^CHU-X&1.2.250.1.999.1.1&ISO^VN",
            "ZBE|MVT0001^CHU-X|20250114092500||INSERT|N",
        )
    )


def oru_r01(message_type: str = "ORU", trigger: str = "R01") -> Message:
    """A CI-SIS "transmission de documents CDA en HL7v2" lab report (ORU^R01 shape).

    OBX 1 carries the CDA (ED, Base64), the following OBX the DMP/MSSanté flags.
    """
    return parse(
        _er7(
            f"MSH|^~\\&|SIL-Y|LABO-Y|HUB|GRADES|20250114100000||{message_type}^{trigger}"
            "|ORU0001|P|2.5|||||FRA|UNICODE UTF-8|||2.1^CISIS_CDA_HL7_V2",
            "PID|||279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS||"
            "TESTPAT^DOMINIQUE^DOMINIQUE^^^^L||19790328|F",
            "PV1|1|O",
            "ORC|NW|98765^SIL-Y|1001^LABO-Y",
            "OBR|1|98765^SIL-Y|1001^LABO-Y|11502-2^CR d'examens biologiques^LN|||20250114080000",
            "OBX|1|ED|11502-2^CR d'examens biologiques^LN||^TEXT^XML^Base64^PENsaW5pY2FsRG9j"
            "dW1lbnQvPg==||||||F",
            "OBX|2|CE|DESTDMP^Destinataire DMP^MetaDMPMSS||Y^^expandedYes-NoIndicator||||||F",
            "OBX|3|CE|DESTMSSANTEPS^Destinataire PS^MetaDMPMSS||N^^expandedYes-NoIndicator||||||F",
        )
    )


@pytest.fixture(scope="module")
def default_engine() -> RoutingEngine:
    return RoutingEngine(load_routes(DEFAULT_ROUTES, known_destinations=DEFAULT_DESTINATIONS))


def test_fixture_messages_are_shaped_as_intended() -> None:
    adt = adt_a01()
    assert (adt.message_type, adt.trigger_event) == ("ADT", "A01")
    assert adt.get("PID-3[*].5") == ["PI", "INS"]
    assert adt.get("PID-32") == ["VALI"]
    assert adt.get("MSH-11.1") == ["P"]
    assert oru_r01().get("OBX[*]-3.1") == ["11502-2", "DESTDMP", "DESTMSSANTEPS"]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (adt_a01(), Decision("deliver", ADT_TO, ("adt-archive",), "")),
        (adt_a01(trigger="A40"), Decision("deliver", ADT_TO, ("adt-archive",), "")),
        (adt_a01("D"), Decision("deliver", ADT_TO, ("adt-archive",), "")),
        (
            oru_r01(),
            Decision("deliver", ("repository", "documents-archive"),
                     ("documents-oru-repository", "documents-oru"), ""),
        ),
        (
            oru_r01("MDM", "T02"),
            Decision("deliver", ("repository", "documents-archive"),
                     ("documents-mdm-repository", "documents-mdm"), ""),
        ),
        (
            oru_r01("MDM", "T10"),
            Decision("deliver", ("repository", "documents-archive"),
                     ("documents-mdm-repository", "documents-mdm"), ""),
        ),
        (
            oru_r01("MDM", "T04"),
            Decision("deliver", ("repository", "documents-archive"),
                     ("documents-mdm-repository", "documents-mdm"), ""),
        ),
        (adt_a01("T"), None),
        (adt_a01("T^T"), None),
        (adt_a01(trigger="A09"), Decision("unrouted", (), (), "no route matched")),
        (oru_r01("ORU", "T02"), Decision("unrouted", (), (), "no route matched")),
        (oru_r01("ACK", "R01"), Decision("unrouted", (), (), "no route matched")),
    ],
    ids=[
        "adt-a01",
        "adt-a40",
        "debug-is-kept",
        "oru-r01",
        "mdm-t02",
        "mdm-t10",
        "mdm-t04",
        "training-filtered",
        "training-with-mode-filtered",
        "adt-a09-unrouted",
        "oru-t02-unrouted",
        "ack-unrouted",
    ],
)
def test_default_routes_on_real_messages(
    default_engine: RoutingEngine, message: Message, expected: Decision | None
) -> None:
    decision = default_engine.decide("chu-x-gam", "hl7v2", message)
    if expected is None:
        assert decision.outcome == "filter"
        assert decision.matched == ("drop-training-messages",)
        assert "processing id T (training" in decision.reason
    else:
        assert decision == expected


def test_identity_updates_of_the_srri_do_not_feed_it_back(default_engine: RoutingEngine) -> None:
    decision = default_engine.decide("srri", "hl7v2", adt_a01(trigger="A31"))
    assert decision == Decision("deliver", ("identity-updates",), ("identity-updates",), "")


def test_business_acknowledgements_the_hub_generates_are_routed(
    default_engine: RoutingEngine,
) -> None:
    zam = parse(_er7("MSH|^~\\&|HUB|ARS|SIL|CHU-X|20250101120000||ZAM^Z01^ZAM_Z01|Z1|P|2.5",
                     "MSA|AA|DOC-1"))
    for source in ("repository", "mssante"):
        decision = default_engine.decide(source, "hl7v2", zam)
        assert decision.destinations == ("acknowledgements",), source
    assert default_engine.decide("chu-x-gam", "hl7v2", zam).outcome == "unrouted"


def test_the_mssante_routes_deliver_once_enabled(tmp_path: Path) -> None:
    for path in DEFAULT_ROUTES.iterdir():
        text = path.read_text(encoding="utf-8")
        (tmp_path / path.name).write_text(text.replace("enabled: false", "enabled: true"),
                                          encoding="utf-8")
    with pytest.raises(RouteFileError) as caught:
        load_routes(tmp_path, known_destinations=DEFAULT_DESTINATIONS)
    assert any("unknown destination 'mssante'" in p for p in caught.value.problems)
    engine = RoutingEngine(load_routes(tmp_path,
                                       known_destinations=DEFAULT_DESTINATIONS | {"mssante"}))
    decision = engine.decide("chu-x-gam", "hl7v2", oru_r01("MDM", "T02"))
    assert decision.destinations == ("repository", "mssante", "documents-archive")


def test_explain_on_a_real_message(default_engine: RoutingEngine) -> None:
    assert default_engine.explain("chu-x-gam", "hl7v2", oru_r01()) == [
        ("drop-training-messages", False, "MSH-11.1 has ['P'], none equal 'T'"),
        ("identity-updates", False, "source 'chu-x-gam' not in ['srri']"),
        ("business-acknowledgements", False, "source 'chu-x-gam' not in ['mssante', 'repository']"),
        ("adt-archive", False, "message type 'ORU' not in ['ADT']"),
        ("documents-oru-repository", True, ""),
        ("documents-mdm-repository", False, "message type 'ORU' not in ['MDM']"),
        ("documents-oru-mssante", False, "disabled (enabled: false)"),
        ("documents-mdm-mssante", False, "disabled (enabled: false)"),
        ("documents-oru", True, ""),
        ("documents-mdm", False, "message type 'ORU' not in ['MDM']"),
    ]


def test_every_condition_kind_on_a_real_message() -> None:
    engine = RoutingEngine(load_routes(DATA / "valid"))
    decision = engine.decide("chu-x-gam", "hl7v2", adt_a01())
    assert decision == Decision("deliver", ("identity-archive",), ("qualified-identities",), "")


def test_explain_names_the_real_values() -> None:
    engine = RoutingEngine(load_routes(DATA / "valid"))
    message = adt_a01(identifiers="000123^^^CHU-X&1.2.250.1.999.1.1&ISO^PI")
    report = dict((name, why) for name, _, why in engine.explain("chu-x-gam", "hl7v2", message))
    assert report["qualified-identities"] == "PID-3[*].5 has ['PI'], none contains 'INS'"
    assert report["drop-debug-from-recette"] == "source 'chu-x-gam' not in ['gam-recette']"
    decision = engine.decide("chu-x-gam", "hl7v2", message)
    assert decision.destinations == ("adt-archive", "adt-copy")


def test_decide_cost_on_real_messages(
    default_engine: RoutingEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a pass/fail test: prints a decision's cost with the real parser's field access."""
    rounds = 5_000
    costs = []
    for message in (adt_a01(), oru_r01()):
        started = time.perf_counter()
        for _ in range(rounds):
            default_engine.decide("chu-x-gam", "hl7v2", message)
        costs.append((time.perf_counter() - started) / rounds * 1e6)
    with capsys.disabled():
        print(
            f"\n[routing] decide() with the default routes on parsed messages: "
            f"ADT^A01 {costs[0]:.2f} µs, ORU^R01 {costs[1]:.2f} µs"
        )
    assert default_engine.decide("chu-x-gam", "hl7v2", adt_a01()).outcome == "deliver"
