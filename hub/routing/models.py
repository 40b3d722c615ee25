"""Route definitions as pydantic models: what a route file may contain.

A route file is a mapping with one key, ``routes``, holding a list of
:class:`Route`. Every model forbids unknown keys, so a misspelt key is an
error that names it instead of a condition silently ignored. The models check
everything that can be checked inside one route (one operator per condition,
regular expressions compile, ``to``/``reason`` agree with ``action``); what
needs the whole set or the rest of the hub (unique names across files, field
path syntax, known destinations and sources) is checked by
:mod:`hub.routing.loader`.

Values compared with message fields must be YAML strings: ``yes``, ``no``,
``on``, ``off``, numbers and dates are not, and quoting them is the fix
(``{equals: "2.5"}``), because silently turning ``no`` into ``"False"`` or
``010`` into ``"8"`` would make a condition never hold.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
    model_validator,
)

__all__ = ["OPERATORS", "WILDCARD", "Action", "Condition", "Route", "RouteFile", "When"]

WILDCARD = "*"
"""In ``when.source``: any inbound source."""

OPERATORS: tuple[str, ...] = (
    "equals",
    "not_equals",
    "in",
    "not_in",
    "contains",
    "matches",
    "exists",
)
"""The condition operators, as spelt in route files."""

ROUTE_NAME_PATTERN = r"^[a-z0-9-]+$"

Action = Literal["deliver", "filter"]


def _as_list(value: Any) -> Any:
    """Accept a single string where a list of strings is expected."""
    return [value] if isinstance(value, str) else value


def _no_blank(values: tuple[str, ...]) -> tuple[str, ...]:
    """Reject empty and whitespace-padded names: they can never match."""
    for value in values:
        if not value or value != value.strip():
            raise ValueError(f"{value!r} is not a usable name (empty or padded with spaces)")
    return values


def _non_empty(values: tuple[str, ...]) -> tuple[str, ...]:
    """Reject an empty list: a condition on nothing is a mistake, not a wildcard."""
    if not values:
        raise ValueError("must not be empty (omit the key to accept any value)")
    return values


Names = Annotated[
    tuple[StrictStr, ...],
    BeforeValidator(_as_list),
    AfterValidator(_no_blank),
    AfterValidator(_non_empty),
]
"""One string or a non-empty list of strings."""

Values = Annotated[tuple[StrictStr, ...], AfterValidator(_non_empty)]
"""A non-empty list of strings compared with field values."""


class _Strict(BaseModel):
    """Base of the route models: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """One test on the values a field path selects; exactly one operator is set.

    The path selects a list of values (every repetition or occurrence the path
    asks for, empty values left out). ``equals``, ``in``, ``contains`` and
    ``matches`` hold when *any* value satisfies them; ``not_equals`` and
    ``not_in`` hold when *no* value is excluded (so they hold when the field is
    absent); ``exists`` tests whether any value is selected at all.
    """

    equals: StrictStr | None = None
    not_equals: StrictStr | None = None
    in_: Values | None = Field(default=None, alias="in")
    not_in: Values | None = None
    contains: StrictStr | None = None
    matches: StrictStr | None = None
    exists: StrictBool | None = None

    @field_validator("matches")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _exactly_one_operator(self) -> Condition:
        given = [name for name in OPERATORS if self.operand(name) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(
                f"a condition needs exactly one of {', '.join(OPERATORS)}; found {found}"
            )
        return self

    def operand(self, operator: str) -> str | tuple[str, ...] | bool | None:
        """The value given for ``operator`` (spelt as in route files), or None."""
        value: str | tuple[str, ...] | bool | None = getattr(
            self, "in_" if operator == "in" else operator
        )
        return value

    @property
    def operator(self) -> str:
        """The one operator this condition uses, spelt as in route files."""
        return next(name for name in OPERATORS if self.operand(name) is not None)


FieldConditions = dict[StrictStr, Condition]
"""Field path -> condition; all must hold."""


class When(_Strict):
    """Which messages a route applies to; every given part must hold (AND).

    ``source``, ``protocol``, ``message_type`` and ``trigger`` accept one
    string or a list (any listed value matches); an omitted key accepts
    anything. ``fields`` must all hold; of ``any``, at least one mapping must
    hold entirely.
    """

    source: Names = (WILDCARD,)
    protocol: Names | None = None
    message_type: Names | None = None
    trigger: Names | None = None
    fields: FieldConditions = Field(default_factory=dict)
    any_of: tuple[FieldConditions, ...] = Field(default=(), alias="any")

    @field_validator("source")
    @classmethod
    def _wildcard_alone(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if WILDCARD in value and len(value) > 1:
            raise ValueError(f"'{WILDCARD}' already means every source: list names or '*' alone")
        return value

    @field_validator("protocol", "message_type", "trigger")
    @classmethod
    def _no_wildcard(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and WILDCARD in value:
            raise ValueError(f"'{WILDCARD}' is only for source: omit the key to accept any value")
        return value

    @field_validator("any_of")
    @classmethod
    def _alternatives_not_empty(
        cls, value: tuple[FieldConditions, ...]
    ) -> tuple[FieldConditions, ...]:
        if any(not alternative for alternative in value):
            raise ValueError("an 'any' alternative must hold at least one field condition")
        return value

    @property
    def any_source(self) -> bool:
        """True when the route accepts messages from every source."""
        return self.source == (WILDCARD,)


class Route(_Strict):
    """One route: a name, the messages it applies to and what to do with them."""

    name: Annotated[StrictStr, Field(pattern=ROUTE_NAME_PATTERN)]
    description: StrictStr = ""
    when: When
    action: Action
    to: Annotated[tuple[StrictStr, ...], BeforeValidator(_as_list), AfterValidator(_no_blank)] = ()
    reason: StrictStr | None = None
    final: StrictBool = False
    # A disabled route is validated but never evaluated, and its destinations need
    # not exist: the shipped routes of an optional service (MSSanté) come disabled.
    enabled: StrictBool = True

    @model_validator(mode="after")
    def _action_consistent(self) -> Route:
        if self.action == "deliver":
            _check_deliver(self)
        else:
            _check_filter(self)
        return self


def _check_deliver(route: Route) -> None:
    """A deliver route names where to, and has no filter reason."""
    if not route.to:
        raise ValueError("a deliver route needs a non-empty 'to' (destination names)")
    if route.reason is not None:
        raise ValueError("'reason' is for filter routes; use 'description' on a deliver route")


def _check_filter(route: Route) -> None:
    """A filter route says why it drops messages and delivers nowhere."""
    if route.reason is None or not route.reason.strip():
        raise ValueError("a filter route needs a 'reason' saying why messages are dropped")
    if route.to:
        raise ValueError("a filter route delivers nowhere: remove 'to'")
    if route.final:
        raise ValueError("'final' has no effect on a filter route (a filter always stops)")


class RouteFile(_Strict):
    """The content of one route file: ``routes:`` followed by a list of routes."""

    routes: tuple[Route, ...]
