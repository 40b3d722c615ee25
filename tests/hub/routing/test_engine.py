"""The routing engine on a stand-in message: conditions, evaluation order, explanations."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from hub.errors import ConfigError
from hub.routing import Decision, Route, RoutingEngine


@dataclass
class FakeMessage:
    """A Routable with fixed values per path; counts the reads."""

    message_type: str = "ADT"
    trigger_event: str = "A01"
    values: dict[str, list[str]] = field(default_factory=dict)
    reads: Counter[str] = field(default_factory=Counter)

    def get(self, path: str) -> list[str]:
        self.reads[path] += 1
        return list(self.values.get(path, []))


class PlainMessage:
    """A Routable as cheap as can be, so that the benchmark measures the engine."""

    message_type = "ADT"
    trigger_event = "A01"

    def get(self, path: str) -> list[str]:
        return ["P"]


def route(name: str, action: str = "deliver", **parts: Any) -> Route:
    """A route from YAML-shaped keyword arguments; deliver routes go to ``name`` by default."""
    data: dict[str, Any] = {"name": name, "action": action, "when": parts.pop("when", {})}
    if action == "deliver":
        data["to"] = parts.pop("to", [f"{name}-dest"])
    else:
        data["reason"] = parts.pop("reason", f"{name} drops it")
    data.update(parts)
    return Route.model_validate(data)


def field_route(path: str, condition: dict[str, Any]) -> Route:
    return route("r", when={"fields": {path: condition}})


def decide(routes: list[Route], message: FakeMessage, source: str = "gam") -> Decision:
    return RoutingEngine(routes).decide(source, "hl7v2", message)


# Conditions


CONDITION_CASES = [
    ("equals-hit", {"equals": "INS"}, ["PI", "INS"], True),
    ("equals-miss", {"equals": "INS"}, ["PI"], False),
    ("equals-absent", {"equals": "INS"}, [], False),
    ("equals-is-exact", {"equals": "INS"}, ["ins", "INS-C"], False),
    ("not-equals-hit", {"not_equals": "T"}, ["P"], True),
    ("not-equals-miss", {"not_equals": "T"}, ["P", "T"], False),
    ("not-equals-absent", {"not_equals": "T"}, [], True),
    ("in-hit", {"in": ["I", "E"]}, ["E"], True),
    ("in-miss", {"in": ["I", "E"]}, ["O"], False),
    ("in-absent", {"in": ["I", "E"]}, [], False),
    ("not-in-hit", {"not_in": ["R", "B"]}, ["I"], True),
    ("not-in-miss", {"not_in": ["R", "B"]}, ["I", "B"], False),
    ("not-in-absent", {"not_in": ["R", "B"]}, [], True),
    ("contains-hit", {"contains": "SANTE-INS"}, ["ASIP-SANTE-INS-NIR"], True),
    ("contains-miss", {"contains": "INS"}, ["CHU-X"], False),
    ("contains-absent", {"contains": "INS"}, [], False),
    ("matches-hit", {"matches": "VALI|QUAL"}, ["PROV", "QUAL"], True),
    ("matches-is-full", {"matches": "VALI"}, ["VALIDE"], False),
    ("matches-absent", {"matches": ".*"}, [], False),
    ("exists-true-hit", {"exists": True}, ["x"], True),
    ("exists-true-miss", {"exists": True}, [], False),
    ("exists-false-hit", {"exists": False}, [], True),
    ("exists-false-miss", {"exists": False}, ["x"], False),
]


@pytest.mark.parametrize(
    ("condition", "values", "holds"),
    [case[1:] for case in CONDITION_CASES],
    ids=[case[0] for case in CONDITION_CASES],
)
def test_condition(condition: dict[str, Any], values: list[str], holds: bool) -> None:
    message = FakeMessage(values={"PID-3[*].5": values})
    decision = decide([field_route("PID-3[*].5", condition)], message)
    assert decision.outcome == ("deliver" if holds else "unrouted")


@pytest.mark.parametrize(
    ("when", "source", "message", "holds"),
    [
        ({"source": "gam"}, "gam", FakeMessage(), True),
        ({"source": ["sil", "gam"]}, "gam", FakeMessage(), True),
        ({"source": "sil"}, "gam", FakeMessage(), False),
        ({"source": "*"}, "anything", FakeMessage(), True),
        ({"protocol": "hl7v2"}, "gam", FakeMessage(), True),
        ({"protocol": ["fhir", "dicom"]}, "gam", FakeMessage(), False),
        ({"message_type": ["ORU", "ADT"]}, "gam", FakeMessage(), True),
        ({"message_type": "ORU"}, "gam", FakeMessage(), False),
        ({"trigger": ["A04", "A01"]}, "gam", FakeMessage(), True),
        ({"trigger": "A08"}, "gam", FakeMessage(), False),
        ({"message_type": "ADT", "trigger": "A01"}, "gam", FakeMessage("ADT", "A08"), False),
        ({}, "gam", FakeMessage("", ""), True),
    ],
    ids=[
        "source-one",
        "source-list",
        "source-other",
        "source-wildcard",
        "protocol-hit",
        "protocol-miss",
        "type-hit",
        "type-miss",
        "trigger-hit",
        "trigger-miss",
        "type-and-trigger",
        "empty-when",
    ],
)
def test_envelope(when: dict[str, Any], source: str, message: FakeMessage, holds: bool) -> None:
    decision = decide([route("r", when=when)], message, source=source)
    assert decision.outcome == ("deliver" if holds else "unrouted")


VISIT = {"PV1-2": ["I"], "PID-32": ["VALI"], "PID-3[*].5": ["PI", "INS"]}


@pytest.mark.parametrize(
    ("when", "holds"),
    [
        ({"fields": {"PV1-2": {"equals": "I"}, "PID-32": {"equals": "VALI"}}}, True),
        ({"fields": {"PV1-2": {"equals": "I"}, "PID-32": {"equals": "PROV"}}}, False),
        ({"any": [{"PV1-2": {"equals": "E"}}, {"PV1-2": {"equals": "I"}}]}, True),
        ({"any": [{"PV1-2": {"equals": "E"}}, {"PV1-2": {"equals": "O"}}]}, False),
        (
            {
                "any": [
                    {"PV1-2": {"equals": "I"}, "PID-32": {"equals": "PROV"}},
                    {"PID-3[*].5": {"equals": "INS"}, "PID-32": {"equals": "VALI"}},
                ]
            },
            True,
        ),
        (
            {
                "fields": {"PID-32": {"equals": "PROV"}},
                "any": [{"PV1-2": {"equals": "I"}}],
            },
            False,
        ),
        (
            {
                "fields": {"PID-32": {"equals": "VALI"}},
                "any": [{"PV1-2": {"equals": "E"}}],
            },
            False,
        ),
    ],
    ids=[
        "all-hold",
        "one-of-all-fails",
        "any-second-holds",
        "any-none-holds",
        "any-alternative-is-an-and",
        "fields-fail-any-holds",
        "fields-hold-any-fails",
    ],
)
def test_fields_and_any(when: dict[str, Any], holds: bool) -> None:
    decision = decide([route("r", when=when)], FakeMessage(values=VISIT))
    assert decision.outcome == ("deliver" if holds else "unrouted")


# Evaluation order


def test_filter_stops_and_discards_earlier_destinations() -> None:
    routes = [
        route("archive", to=["a"]),
        route("drop-training", "filter", reason="training"),
        route("later", to=["b"]),
    ]
    decision = decide(routes, FakeMessage())
    assert decision == Decision("filter", (), ("archive", "drop-training"), "training")


def test_a_filter_that_does_not_match_lets_routes_run() -> None:
    routes = [
        route("drop-training", "filter", when={"fields": {"MSH-11.1": {"equals": "T"}}}),
        route("archive", to=["a"]),
    ]
    message = FakeMessage(values={"MSH-11.1": ["D"]})
    assert decide(routes, message) == Decision("deliver", ("a",), ("archive",), "")


def test_final_stops_evaluation() -> None:
    routes = [
        route("first", to=["a"]),
        route("stop", to=["b"], final=True),
        route("after", to=["c"]),
        route("never-filter", "filter"),
    ]
    decision = decide(routes, FakeMessage())
    assert decision == Decision("deliver", ("a", "b"), ("first", "stop"), "")


def test_a_final_route_that_does_not_match_does_not_stop() -> None:
    routes = [
        route("stop", to=["a"], final=True, when={"message_type": "ORU"}),
        route("after", to=["b"]),
    ]
    assert decide(routes, FakeMessage()).destinations == ("b",)


def test_destinations_accumulate_deduplicated_in_first_seen_order() -> None:
    routes = [
        route("one", to=["b", "a"]),
        route("other-type", to=["x"], when={"message_type": "ORU"}),
        route("two", to=["c", "a", "b"]),
        route("three", to=["d", "c"]),
    ]
    decision = decide(routes, FakeMessage())
    assert decision.destinations == ("b", "a", "c", "d")
    assert decision.matched == ("one", "two", "three")


def test_no_match_is_unrouted() -> None:
    routes = [route("oru", when={"message_type": "ORU"})]
    assert decide(routes, FakeMessage()) == Decision("unrouted", (), (), "no route matched")


def test_no_routes_at_all_is_unrouted() -> None:
    assert decide([], FakeMessage()).outcome == "unrouted"


def test_each_path_is_read_once_per_decision() -> None:
    routes = [
        route("a", when={"fields": {"PV1-2": {"equals": "I"}}}),
        route("b", when={"fields": {"PV1-2": {"not_equals": "E"}}}),
        route("c", when={"any": [{"PV1-2": {"equals": "X"}}, {"PV1-2": {"exists": True}}]}),
    ]
    message = FakeMessage(values={"PV1-2": ["I"]})
    assert decide(routes, message).matched == ("a", "b", "c")
    assert message.reads == Counter({"PV1-2": 1})


def test_duplicate_route_names_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="duplicate route name 'a'"):
        RoutingEngine([route("a"), route("a")])


def test_routes_are_kept_in_order() -> None:
    routes = [route("b"), route("a")]
    assert [r.name for r in RoutingEngine(routes).routes] == ["b", "a"]


# The (message type, trigger) index must never change a decision.


def _naive(routes: list[Route], message: FakeMessage) -> tuple[str, ...]:
    """Route names whose type and trigger accept the message, without the index."""
    return tuple(
        r.name
        for r in routes
        if (r.when.message_type is None or message.message_type in r.when.message_type)
        and (r.when.trigger is None or message.trigger_event in r.when.trigger)
    )


INDEXED_ROUTES = [
    route("any"),
    route("adt", when={"message_type": "ADT"}),
    route("adt-a01", when={"message_type": "ADT", "trigger": ["A01", "A04"]}),
    route("a08-any-type", when={"trigger": "A08"}),
    route("results", when={"message_type": ["ORU", "MDM"], "trigger": ["R01", "T02"]}),
    route("other-any", to=["z"]),
]


@pytest.mark.parametrize(
    ("message_type", "trigger"),
    list(
        itertools.product(
            ["ADT", "ORU", "MDM", "SIU", ""], ["A01", "A04", "A08", "R01", "T02", "Z99", ""]
        )
    ),
)
def test_index_selects_exactly_the_applicable_routes(message_type: str, trigger: str) -> None:
    message = FakeMessage(message_type, trigger)
    decision = RoutingEngine(INDEXED_ROUTES).decide("gam", "hl7v2", message)
    assert decision.matched == _naive(INDEXED_ROUTES, message)


# Explanations


EXPLAIN_CASES = [
    ("equals", {"equals": "INS"}, ["PI"], "PID-3[*].5 has ['PI'], none equal 'INS'"),
    ("equals-absent", {"equals": "INS"}, [], "PID-3[*].5 has no value, none equal 'INS'"),
    ("not-equals", {"not_equals": "PI"}, ["PI"], "PID-3[*].5 has ['PI'], one equals 'PI'"),
    ("in", {"in": ["INS", "NH"]}, ["PI"], "PID-3[*].5 has ['PI'], none in ['INS', 'NH']"),
    (
        "not-in",
        {"not_in": ["PI", "NH"]},
        ["INS", "PI"],
        "PID-3[*].5 has ['INS', 'PI'], 'PI' is in ['PI', 'NH']",
    ),
    ("contains", {"contains": "INS"}, ["PI"], "PID-3[*].5 has ['PI'], none contains 'INS'"),
    ("matches", {"matches": "IN.?"}, ["PI"], "PID-3[*].5 has ['PI'], none matches 'IN.?'"),
    ("exists-true", {"exists": True}, [], "PID-3[*].5 has no value, expected one"),
    ("exists-false", {"exists": False}, ["PI"], "PID-3[*].5 has ['PI'], expected no value"),
]


@pytest.mark.parametrize(
    ("condition", "values", "why"),
    [case[1:] for case in EXPLAIN_CASES],
    ids=[case[0] for case in EXPLAIN_CASES],
)
def test_explain_names_the_failing_condition(
    condition: dict[str, Any], values: list[str], why: str
) -> None:
    engine = RoutingEngine([field_route("PID-3[*].5", condition)])
    message = FakeMessage(values={"PID-3[*].5": values})
    assert engine.explain("gam", "hl7v2", message) == [("r", False, why)]


@pytest.mark.parametrize(
    ("when", "why"),
    [
        ({"source": ["sil"]}, "source 'gam' not in ['sil']"),
        ({"protocol": "fhir"}, "protocol 'hl7v2' not in ['fhir']"),
        ({"message_type": ["ORU", "MDM"]}, "message type 'ADT' not in ['MDM', 'ORU']"),
        ({"trigger": "A08"}, "trigger 'A01' not in ['A08']"),
        (
            {"fields": {"PV1-2": {"equals": "I"}, "PID-32": {"equals": "PROV"}}},
            "PID-32 has ['VALI'], none equal 'PROV'",
        ),
        (
            {"any": [{"PV1-2": {"equals": "E"}}, {"PV1-2": {"equals": "O"}}]},
            "no 'any' alternative holds: PV1-2 has ['I'], none equal 'E'; "
            "PV1-2 has ['I'], none equal 'O'",
        ),
    ],
    ids=["source", "protocol", "message-type", "trigger", "first-failing-field", "any"],
)
def test_explain_envelope_and_groups(when: dict[str, Any], why: str) -> None:
    engine = RoutingEngine([route("r", when=when)])
    assert engine.explain("gam", "hl7v2", FakeMessage(values=VISIT)) == [("r", False, why)]


def test_explain_reports_routes_after_a_stop() -> None:
    routes = [
        route("archive"),
        route("stop", final=True),
        route("after"),
        route("after-but-wrong-type", when={"message_type": "ORU"}),
    ]
    report = RoutingEngine(routes).explain("gam", "hl7v2", FakeMessage())
    assert report == [
        ("archive", True, ""),
        ("stop", True, ""),
        ("after", False, "conditions hold but final route 'stop' stopped evaluation"),
        ("after-but-wrong-type", False, "message type 'ADT' not in ['ORU']"),
    ]


def test_explain_after_a_filter() -> None:
    routes = [route("drop", "filter"), route("after")]
    report = RoutingEngine(routes).explain("gam", "hl7v2", FakeMessage())
    assert report[1] == (
        "after",
        False,
        "conditions hold but filter route 'drop' stopped evaluation",
    )


@pytest.mark.parametrize(
    "message",
    [
        FakeMessage("ADT", "A01", VISIT),
        FakeMessage("ADT", "A08", {"PV1-2": ["E"]}),
        FakeMessage("ORU", "R01", {"MSH-11.1": ["T"]}),
        FakeMessage("MDM", "T02"),
        FakeMessage("SIU", "S12", VISIT),
    ],
    ids=["adt-a01", "adt-a08", "oru-training", "mdm", "unknown-type"],
)
def test_explain_agrees_with_decide(message: FakeMessage) -> None:
    routes = [
        route("a01-inpatient", when={"trigger": "A01", "fields": {"PV1-2": {"equals": "I"}}}),
        route("drop-training", "filter", when={"fields": {"MSH-11.1": {"equals": "T"}}}),
        route("adt", when={"message_type": "ADT"}, final=True),
        route("results", when={"message_type": ["ORU", "MDM"]}),
        route("everything"),
    ]
    engine = RoutingEngine(routes)
    matched = tuple(name for name, ok, _ in engine.explain("gam", "hl7v2", message) if ok)
    assert matched == engine.decide("gam", "hl7v2", message).matched


# Cost


def test_decide_cost(capsys: pytest.CaptureFixture[str]) -> None:
    """Not a pass/fail test: prints what one decision costs on a small route set."""
    routes = [
        route("drop-training", "filter", when={"fields": {"MSH-11.1": {"equals": "T"}}}),
        route("adt", when={"message_type": "ADT", "trigger": ["A01", "A04", "A08"]}),
        route("oru", when={"message_type": "ORU", "trigger": "R01"}),
        route("mdm", when={"message_type": "MDM", "trigger": ["T02", "T04", "T10"]}),
    ]
    engine = RoutingEngine(routes)
    message = PlainMessage()
    rounds = 20_000
    started = time.perf_counter()
    for _ in range(rounds):
        engine.decide("gam", "hl7v2", message)
    cost = (time.perf_counter() - started) / rounds * 1e6
    with capsys.disabled():
        print(f"\n[routing] decide() on a stand-in message: {cost:.2f} µs/message")
    assert engine.decide("gam", "hl7v2", message).matched == ("adt",)
