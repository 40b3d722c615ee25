"""The routing engine: decides where one message goes.

Routes are evaluated in order (files sorted by name, routes in file order).
For each route, every part of ``when`` must hold: the inbound source, the
protocol, the message type and trigger event, every ``fields`` condition and,
if ``any`` is given, at least one of its alternatives.

- a matching ``filter`` route stops evaluation: the message is filtered with
  the route's reason and delivered nowhere, even if earlier routes matched;
- a matching ``deliver`` route adds its destinations (deduplicated, in the
  order first seen) and evaluation goes on, unless the route is ``final``;
- when no route matches, the decision is ``unrouted``.

The engine is a decider (one per pipeline, its failure is the message's
failure) and does no I/O. Everything is compiled once, in the constructor:
conditions become closures, and routes are pre-indexed by
``(message type, trigger)`` so that :meth:`RoutingEngine.decide` only looks
at the routes that can apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from hub.errors import ConfigError
from hub.routing.models import Condition, Route, When

__all__ = ["Decision", "Outcome", "Routable", "RoutingEngine"]

Outcome = Literal["deliver", "filter", "unrouted"]

UNROUTED_REASON = "no route matched"

DECISION_CACHE_SIZE = 4096
"""Distinct sets of matched routes whose decision is kept, built once each."""


class Routable(Protocol):
    """What the engine needs from a message (``hub.hl7.er7.Message`` has it)."""

    @property
    def message_type(self) -> str:
        """MSH-9.1, e.g. ``ADT``."""
        ...

    @property
    def trigger_event(self) -> str:
        """MSH-9.2, e.g. ``A01``."""
        ...

    def get(self, path: str) -> list[str]:
        """Every non-empty value the field path selects (``PID-3[*].5``)."""
        ...


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one message.

    ``destinations`` is empty unless the outcome is ``deliver``. ``matched``
    names every route that matched, in evaluation order (for a filter, the
    filter route is last). ``reason`` is the filter's reason, or
    ``"no route matched"``, or empty for a delivery.
    """

    outcome: Outcome
    destinations: tuple[str, ...]
    matched: tuple[str, ...]
    reason: str


def decision_detail(decision: Decision) -> str:
    """One line for the journal: the routes that matched and where they send, or why not."""
    if decision.outcome == "deliver":
        return f"{', '.join(decision.matched)} -> {', '.join(decision.destinations)}"
    if decision.outcome == "filter":
        return decision.reason
    return "no route matched"


Predicate = Callable[[list[str]], bool]
"""A compiled condition: does it hold on the values a path selects?"""

Explainer = Callable[[str, list[str]], str]
"""Says why a condition does not hold: (path, values) -> sentence."""


def _shown(values: list[str]) -> str:
    """Values as quoted in explanations."""
    return repr(values) if values else "no value"


def _compile_condition(condition: Condition) -> tuple[Predicate, Explainer]:
    """Turn one condition into a fast test and an explanation of its failure."""
    operator = condition.operator
    operand = condition.operand(operator)
    if operator == "matches":
        assert isinstance(operand, str)
        return _compile_matches(re.compile(operand))
    if operator == "exists":
        assert isinstance(operand, bool)
        return _compile_exists(operand)
    if isinstance(operand, str):
        return _STRING_OPERATORS[operator](operand)
    assert isinstance(operand, tuple)
    return _SET_OPERATORS[operator](frozenset(operand), list(operand))


def _compile_equals(expected: str) -> tuple[Predicate, Explainer]:
    def test(values: list[str]) -> bool:
        return expected in values

    def why(path: str, values: list[str]) -> str:
        return f"{path} has {_shown(values)}, none equal {expected!r}"

    return test, why


def _compile_not_equals(excluded: str) -> tuple[Predicate, Explainer]:
    def test(values: list[str]) -> bool:
        return excluded not in values

    def why(path: str, values: list[str]) -> str:
        return f"{path} has {_shown(values)}, one equals {excluded!r}"

    return test, why


def _compile_contains(part: str) -> tuple[Predicate, Explainer]:
    def test(values: list[str]) -> bool:
        return any(part in value for value in values)

    def why(path: str, values: list[str]) -> str:
        return f"{path} has {_shown(values)}, none contains {part!r}"

    return test, why


def _compile_in(allowed: frozenset[str], listed: list[str]) -> tuple[Predicate, Explainer]:
    def test(values: list[str]) -> bool:
        return not allowed.isdisjoint(values)

    def why(path: str, values: list[str]) -> str:
        return f"{path} has {_shown(values)}, none in {listed!r}"

    return test, why


def _compile_not_in(excluded: frozenset[str], listed: list[str]) -> tuple[Predicate, Explainer]:
    def test(values: list[str]) -> bool:
        return excluded.isdisjoint(values)

    def why(path: str, values: list[str]) -> str:
        found = next(value for value in values if value in excluded)
        return f"{path} has {_shown(values)}, {found!r} is in {listed!r}"

    return test, why


def _compile_matches(pattern: re.Pattern[str]) -> tuple[Predicate, Explainer]:
    fullmatch = pattern.fullmatch

    def test(values: list[str]) -> bool:
        return any(fullmatch(value) is not None for value in values)

    def why(path: str, values: list[str]) -> str:
        return f"{path} has {_shown(values)}, none matches {pattern.pattern!r}"

    return test, why


def _compile_exists(wanted: bool) -> tuple[Predicate, Explainer]:
    def test(values: list[str]) -> bool:
        return bool(values) is wanted

    def why(path: str, values: list[str]) -> str:
        if wanted:
            return f"{path} has no value, expected one"
        return f"{path} has {_shown(values)}, expected no value"

    return test, why


_STRING_OPERATORS: dict[str, Callable[[str], tuple[Predicate, Explainer]]] = {
    "equals": _compile_equals,
    "not_equals": _compile_not_equals,
    "contains": _compile_contains,
}
_SET_OPERATORS: dict[str, Callable[[frozenset[str], list[str]], tuple[Predicate, Explainer]]] = {
    "in": _compile_in,
    "not_in": _compile_not_in,
}


@dataclass(frozen=True, slots=True)
class _Check:
    """One compiled field condition."""

    path: str
    test: Predicate
    why: Explainer


Reader = Callable[[str], list[str]]
"""``message.get``: the values a path selects."""

Cache = dict[str, list[str]]
"""Values already read during one decision, by path."""


def _compile_checks(fields: dict[str, Condition]) -> tuple[_Check, ...]:
    """Compile a ``fields`` mapping, keeping the file's order."""
    return tuple(_Check(path, *_compile_condition(cond)) for path, cond in fields.items())


def _read(path: str, get: Reader, cache: Cache) -> list[str]:
    """The values of ``path``, read from the message at most once per decision."""
    values = cache.get(path)
    if values is None:
        values = cache[path] = get(path)
    return values


def _all_hold(checks: tuple[_Check, ...], get: Reader, cache: Cache) -> bool:
    # Hot path: an explicit loop with the cache read inlined is faster than
    # all() over a generator calling _read.
    for check in checks:
        values = cache.get(check.path)
        if values is None:
            values = cache[check.path] = get(check.path)
        if not check.test(values):
            return False
    return True


def _first_failure(checks: tuple[_Check, ...], get: Reader, cache: Cache) -> str | None:
    for check in checks:
        selected = _read(check.path, get, cache)
        if not check.test(selected):
            return check.why(check.path, selected)
    return None


def _frozen(names: tuple[str, ...] | None) -> frozenset[str] | None:
    return None if names is None else frozenset(names)


class _CompiledRoute:
    """A route ready for evaluation: sets for the envelope, closures for fields."""

    __slots__ = (
        "action",
        "any_of",
        "checks",
        "final",
        "message_types",
        "name",
        "protocols",
        "reason",
        "route",
        "sources",
        "stops",
        "to",
        "triggers",
    )

    def __init__(self, route: Route) -> None:
        when: When = route.when
        self.route = route
        self.name = route.name
        self.action = route.action
        self.to = route.to
        self.reason = route.reason or ""
        self.final = route.final
        self.stops = route.final or route.action == "filter"
        self.sources = None if when.any_source else frozenset(when.source)
        self.protocols = _frozen(when.protocol)
        self.message_types = _frozen(when.message_type)
        self.triggers = _frozen(when.trigger)
        self.checks = _compile_checks(when.fields)
        self.any_of = tuple(_compile_checks(alternative) for alternative in when.any_of)

    def applies(self, source: str, protocol: str, get: Reader, cache: Cache) -> bool:
        """Whether the route matches; message type and trigger are checked by the index."""
        if self.sources is not None and source not in self.sources:
            return False
        if self.protocols is not None and protocol not in self.protocols:
            return False
        if self.checks and not _all_hold(self.checks, get, cache):
            return False
        if not self.any_of:
            return True
        return any(_all_hold(alternative, get, cache) for alternative in self.any_of)

    def failure(self, source: str, protocol: str, message: Routable, cache: Cache) -> str | None:
        """Why the route does not match (the first failing part), or None if it does."""
        envelope = self._envelope_failure(source, protocol, message)
        if envelope is not None:
            return envelope
        failed = _first_failure(self.checks, message.get, cache)
        if failed is not None or not self.any_of:
            return failed
        reasons = [_first_failure(alt, message.get, cache) for alt in self.any_of]
        if any(reason is None for reason in reasons):
            return None
        return "no 'any' alternative holds: " + "; ".join(str(reason) for reason in reasons)

    def _envelope_failure(self, source: str, protocol: str, message: Routable) -> str | None:
        tested = (
            ("source", source, self.sources),
            ("protocol", protocol, self.protocols),
            ("message type", message.message_type, self.message_types),
            ("trigger", message.trigger_event, self.triggers),
        )
        for label, actual, accepted in tested:
            if accepted is not None and actual not in accepted:
                return f"{label} {actual!r} not in {sorted(accepted)!r}"
        return None


_ANY = ""
"""Index key for a message type or trigger that no route names."""


def _build_index(
    routes: tuple[_CompiledRoute, ...],
) -> tuple[frozenset[str], frozenset[str], dict[tuple[str, str], tuple[_CompiledRoute, ...]]]:
    """Pre-select, for every (message type, trigger) the routes name, the routes that apply.

    A type or trigger that no route names is looked up as ``_ANY``, which
    selects only the routes that accept any type (or trigger). The table has
    (types + 1) x (triggers + 1) entries, each in evaluation order.
    """
    types = frozenset(t for r in routes if r.message_types for t in r.message_types)
    triggers = frozenset(t for r in routes if r.triggers for t in r.triggers)
    index: dict[tuple[str, str], tuple[_CompiledRoute, ...]] = {}
    for message_type in (*types, _ANY):
        for trigger in (*triggers, _ANY):
            index[message_type, trigger] = tuple(
                r
                for r in routes
                if _accepts(r.message_types, message_type) and _accepts(r.triggers, trigger)
            )
    return types, triggers, index


def _accepts(accepted: frozenset[str] | None, key: str) -> bool:
    return accepted is None or key in accepted


def _check_unique(routes: Iterable[Route]) -> None:
    seen: set[str] = set()
    for route in routes:
        if route.name in seen:
            raise ConfigError(f"duplicate route name {route.name!r}", key=route.name)
        seen.add(route.name)


def _decision(matched: tuple[_CompiledRoute, ...]) -> Decision:
    """The decision for the routes that matched, in order (a filter can only be last)."""
    if not matched:
        return Decision("unrouted", (), (), UNROUTED_REASON)
    names = tuple(route.name for route in matched)
    if matched[-1].action == "filter":
        return Decision("filter", (), names, matched[-1].reason)
    destinations = dict.fromkeys(name for route in matched for name in route.to)
    return Decision("deliver", tuple(destinations), names, "")


class RoutingEngine:
    """Evaluates an ordered set of routes against messages.

    Build it once from :func:`hub.routing.loader.load_routes` and share it:
    it holds no per-message state, only a bounded cache of decisions keyed by
    the routes that matched (a decision depends on nothing else).
    """

    def __init__(self, routes: Sequence[Route]) -> None:
        """Compile ``routes`` (in evaluation order); duplicate names are a ConfigError."""
        _check_unique(routes)
        self._routes = tuple(routes)
        self._compiled = tuple(_CompiledRoute(route) for route in routes if route.enabled)
        self._types, self._triggers, self._index = _build_index(self._compiled)
        self._decisions: dict[tuple[_CompiledRoute, ...], Decision] = {}

    @property
    def routes(self) -> tuple[Route, ...]:
        """The routes, in evaluation order, disabled ones included."""
        return self._routes

    @property
    def disabled(self) -> tuple[Route, ...]:
        """The routes with ``enabled: false``: loaded and checked, never evaluated."""
        return tuple(route for route in self._routes if not route.enabled)

    def _candidates(self, message: Routable) -> tuple[_CompiledRoute, ...]:
        message_type = message.message_type
        trigger = message.trigger_event
        key = (
            message_type if message_type in self._types else _ANY,
            trigger if trigger in self._triggers else _ANY,
        )
        return self._index[key]

    def decide(self, source: str, protocol: str, message: Routable) -> Decision:
        """Route one message received from inbound ``source`` over ``protocol``."""
        get = message.get
        cache: Cache = {}
        matched: list[_CompiledRoute] = []
        for route in self._candidates(message):
            if route.applies(source, protocol, get, cache):
                matched.append(route)
                if route.stops:
                    break
        return self._decision_for(tuple(matched))

    def _decision_for(self, matched: tuple[_CompiledRoute, ...]) -> Decision:
        """Decisions depend only on which routes matched: build each one once."""
        decision = self._decisions.get(matched)
        if decision is None:
            decision = _decision(matched)
            if len(self._decisions) < DECISION_CACHE_SIZE:
                self._decisions[matched] = decision
        return decision

    def explain(self, source: str, protocol: str, message: Routable) -> list[tuple[str, bool, str]]:
        """For every route, in order: (name, matched?, why not).

        ``why not`` names the first failing condition, for instance
        ``"PID-3[*].5 has ['PI'], none equal 'INS'"``. A route whose
        conditions hold but which comes after a filter or a final route is
        reported as not matched, with the route that stopped evaluation. The
        routes reported as matched are exactly :meth:`decide`'s ``matched``.
        """
        cache: Cache = {}
        report: list[tuple[str, bool, str]] = []
        stopped_by = ""
        compiled = {route.name: route for route in self._compiled}
        for declared in self._routes:
            route = compiled.get(declared.name)
            if route is None:
                report.append((declared.name, False, "disabled (enabled: false)"))
                continue
            failure = route.failure(source, protocol, message, cache)
            if failure is not None:
                report.append((route.name, False, failure))
            elif stopped_by:
                report.append((route.name, False, f"conditions hold but {stopped_by}"))
            else:
                report.append((route.name, True, ""))
                if route.action == "filter" or route.final:
                    kind = "filter" if route.action == "filter" else "final"
                    stopped_by = f"{kind} route {route.name!r} stopped evaluation"
        return report
