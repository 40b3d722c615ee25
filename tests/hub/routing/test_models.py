"""Route models: what a route file may contain, checked one route at a time."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hub.routing.models import OPERATORS, Condition, Route, RouteFile, When


def _route(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "adt-feed",
        "when": {"message_type": "ADT"},
        "action": "deliver",
        "to": ["adt-archive"],
    }
    data.update(overrides)
    return data


def _errors(model: type[Route | Condition | When | RouteFile], data: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return str(caught.value)


def test_a_full_route_validates() -> None:
    route = Route.model_validate(
        _route(
            description="PAM identity feed",
            when={
                "source": ["chu-x-gam"],
                "protocol": "hl7v2",
                "message_type": ["ADT"],
                "trigger": ["A01", "A08"],
                "fields": {"PID-3[*].5": {"equals": "INS"}, "PV1-2": {"in": ["I", "E"]}},
                "any": [{"PID-32": {"equals": "VALI"}}, {"PID-32": {"equals": "QUAL"}}],
            },
            final=True,
        )
    )
    assert route.when.trigger == ("A01", "A08")
    assert list(route.when.fields) == ["PID-3[*].5", "PV1-2"]
    assert route.when.fields["PV1-2"].in_ == ("I", "E")
    assert len(route.when.any_of) == 2
    assert route.final is True


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("source", "chu-x-gam", ("chu-x-gam",)),
        ("protocol", "hl7v2", ("hl7v2",)),
        ("message_type", "ORU", ("ORU",)),
        ("trigger", "R01", ("R01",)),
    ],
    ids=["source", "protocol", "message_type", "trigger"],
)
def test_a_single_string_stands_for_a_list(key: str, value: str, expected: tuple[str]) -> None:
    assert getattr(When.model_validate({key: value}), key) == expected


def test_to_accepts_a_single_string() -> None:
    assert Route.model_validate(_route(to="adt-archive")).to == ("adt-archive",)


def test_defaults_accept_everything() -> None:
    when = When.model_validate({})
    assert when.any_source
    assert (when.protocol, when.message_type, when.trigger) == (None, None, None)
    assert when.fields == {}
    assert when.any_of == ()


@pytest.mark.parametrize(
    ("data", "operator", "operand"),
    [
        ({"equals": "INS"}, "equals", "INS"),
        ({"not_equals": "T"}, "not_equals", "T"),
        ({"in": ["I", "E"]}, "in", ("I", "E")),
        ({"not_in": ["R"]}, "not_in", ("R",)),
        ({"contains": "INS"}, "contains", "INS"),
        ({"matches": "^VALI$"}, "matches", "^VALI$"),
        ({"exists": True}, "exists", True),
        ({"exists": False}, "exists", False),
    ],
    ids=lambda value: None if isinstance(value, dict) else str(value),
)
def test_condition_operator(data: dict[str, Any], operator: str, operand: object) -> None:
    condition = Condition.model_validate(data)
    assert condition.operator == operator
    assert condition.operand(operator) == operand
    assert operator in OPERATORS


@pytest.mark.parametrize(
    ("model", "data", "expected"),
    [
        (Condition, {}, "exactly one of equals, not_equals"),
        (Condition, {"equals": "I", "in": ["I"]}, "found equals, in"),
        (Condition, {"matches": "("}, "invalid regular expression '('"),
        (Condition, {"equals": 1}, "valid string"),
        (Condition, {"equals": False}, "valid string"),
        (Condition, {"in": []}, "must not be empty"),
        (Condition, {"in": "I"}, "valid tuple"),
        (Condition, {"exists": "yes"}, "valid boolean"),
        (Condition, {"equal": "I"}, "Extra inputs are not permitted"),
        (When, {"source": ["*", "chu-x-gam"]}, "'*' already means every source"),
        (When, {"message_type": []}, "must not be empty"),
        (When, {"trigger": " A01"}, "not a usable name"),
        (When, {"trigger": "*"}, "'*' is only for source"),
        (When, {"any": [{}]}, "at least one field condition"),
        (When, {"trigers": ["A01"]}, "trigers"),
        (Route, _route(name="ADT feed"), "should match pattern"),
        (Route, _route(action="forward"), "'deliver' or 'filter'"),
        (Route, _route(to=[]), "non-empty 'to'"),
        (Route, _route(reason="x"), "'reason' is for filter routes"),
        (Route, _route(action="filter", to=[]), "needs a 'reason'"),
        (Route, _route(action="filter", to=[], reason="  "), "needs a 'reason'"),
        (Route, _route(action="filter", reason="x"), "delivers nowhere"),
        (Route, _route(action="filter", to=[], reason="x", final=True), "'final' has no effect"),
        (Route, {"name": "x", "action": "deliver", "to": ["a"]}, "when\n  Field required"),
        (RouteFile, {}, "routes\n  Field required"),
        (RouteFile, {"routes": [], "version": 2}, "version"),
    ],
    ids=[
        "no-operator",
        "two-operators",
        "bad-regex",
        "number-value",
        "boolean-value",
        "empty-in",
        "in-not-a-list",
        "exists-not-boolean",
        "unknown-operator",
        "wildcard-with-names",
        "empty-message-type",
        "padded-trigger",
        "wildcard-trigger",
        "empty-any-alternative",
        "unknown-when-key",
        "bad-name",
        "bad-action",
        "deliver-empty-to",
        "deliver-with-reason",
        "filter-without-reason",
        "filter-blank-reason",
        "filter-with-to",
        "filter-final",
        "missing-when",
        "missing-routes",
        "unknown-top-key",
    ],
)
def test_invalid_definitions(model: type[Route], data: Any, expected: str) -> None:
    assert expected in _errors(model, data)


def test_models_are_immutable() -> None:
    route = Route.model_validate(_route())
    with pytest.raises(ValidationError):
        route.name = "other"  # type: ignore[misc]


def test_an_empty_route_list_is_valid() -> None:
    assert RouteFile.model_validate({"routes": []}).routes == ()
