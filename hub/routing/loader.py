"""Loading and validating a directory of route files.

:func:`load_routes` reads every ``*.yaml`` / ``*.yml`` file of a directory in
name order (so ``00-filters.yaml`` comes first), validates each into
:class:`~hub.routing.models.RouteFile`, then checks what needs the whole set:
route names unique across files, field paths valid for
``hub.hl7.paths.compile_path`` (DICOM keywords, :mod:`hub.imaging.paths`, in
routes restricted to ``protocol: dicom``), destinations and sources known to the
configuration (when the caller says which ones are). Every problem of every
file is collected and reported at once in a :class:`RouteFileError`, each
named by its place, ``routes/adt.yaml: routes[2].when.fields['PID-3[*].5']``,
with the YAML line where it helps.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from hub.errors import ConfigError
from hub.routing.models import WILDCARD, Route, RouteFile

__all__ = ["ROUTE_FILE_SUFFIXES", "RouteFileError", "load_routes"]

ROUTE_FILE_SUFFIXES = (".yaml", ".yml")

Loc = tuple[int | str, ...]


class RouteFileError(ConfigError):
    """One or more route files are invalid; ``problems`` lists every one.

    Each problem reads ``<dir>/<file>: <place>: <what is wrong>``; ``key`` is
    the place of the first one.
    """

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = [f"{key}: {message}" for key, message in problems]
        count = len(self.problems)
        heading = "1 problem" if count == 1 else f"{count} problems"
        super().__init__(f"{heading} in route files:\n  - " + "\n  - ".join(self.problems))
        self.key = problems[0][0] if problems else None


@dataclass
class _Problems:
    """Problems found so far, as (key, message) pairs."""

    found: list[tuple[str, str]] = field(default_factory=list)

    def add(self, key: str, message: str) -> None:
        self.found.append((key, message))


@dataclass(frozen=True)
class _Located:
    """A validated route, where it was defined, and its file's YAML nodes (for lines)."""

    route: Route
    label: str
    index: int
    root: yaml.Node | None = field(default=None, compare=False, repr=False)

    def report(self, problems: _Problems, place: Loc, message: str) -> None:
        """Add a problem found at ``place`` inside this route (``("to", 0)``)."""
        full: Loc = ("routes", self.index, *place)
        problems.add(f"{self.label}: {_where(full)}", _at_line(message, self.root, full))


def load_routes(
    directory: Path,
    *,
    known_destinations: Collection[str] | None = None,
    known_sources: Collection[str] | None = None,
) -> list[Route]:
    """Load every route file of ``directory``, in evaluation order.

    ``known_destinations`` and ``known_sources``, when given, are the names
    configured in the hub; a route naming anything else is a problem.
    Raises :class:`RouteFileError` listing every problem found.
    """
    problems = _Problems()
    located: list[_Located] = []
    for path in _route_files(directory, problems):
        label = f"{directory.name}/{path.name}"
        located.extend(_load_file(path, label, problems))
    _check_unique_names(located, problems)
    _check_paths(located, problems)
    if known_destinations is not None:
        _check_destinations(located, known_destinations, problems)
    if known_sources is not None:
        _check_sources(located, known_sources, problems)
    if problems.found:
        raise RouteFileError(problems.found)
    return [item.route for item in located]


def _route_files(directory: Path, problems: _Problems) -> list[Path]:
    """The route files of ``directory`` sorted by name; hidden files are skipped."""
    if not directory.is_dir():
        problems.add(str(directory), f"route directory {directory.resolve()} not found; "
                     "set routes_dir (hub.yaml) or HUB_ROUTES_DIR to the directory of your "
                     "route files, or write the shipped ones there with `hub init DIR`")
        return []
    files = sorted(
        (
            path
            for path in directory.iterdir()
            if path.suffix in ROUTE_FILE_SUFFIXES
            and not path.name.startswith(".")
            and path.is_file()
        ),
        key=lambda path: path.name,
    )
    if not files:
        problems.add(directory.name, "no route files (*.yaml, *.yml) in the directory")
    return files


def _load_file(path: Path, label: str, problems: _Problems) -> list[_Located]:
    """Parse and validate one file; its problems are added to ``problems``."""
    try:
        text = path.read_text(encoding="utf-8")
        node, data = _parse_yaml(text)
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(label, f"cannot read the file: {exc}")
        return []
    except yaml.YAMLError as exc:
        problems.add(label, _yaml_problem(exc))
        return []
    if not isinstance(data, dict):
        got = "the file is empty" if data is None else f"got {type(data).__name__}"
        problems.add(label, f"expected a mapping with a 'routes' list at the top; {got}")
        return []
    try:
        parsed = RouteFile.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            place, message = _describe(error)
            key = f"{label}: {_where(place)}" if place else label
            problems.add(key, _at_line(message, node, tuple(error["loc"])))
        return []
    return [_Located(route, label, index, node) for index, route in enumerate(parsed.routes)]


# YAML


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that rejects duplicate mapping keys.

    PyYAML keeps the last of two equal keys silently; in a route file that
    would drop a field condition without a word.
    """


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    lines: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = lines.setdefault(key, key_node.start_mark.line + 1)
        except TypeError:
            continue
        if first != key_node.start_mark.line + 1:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {first})", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _parse_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the data of one YAML document."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()
    return node, data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error as one line, with the line and column it points at."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        where = f"YAML syntax error at line {mark.line + 1}, column {mark.column + 1}"
        context = ""
        if exc.context and exc.context_mark is not None:
            context = f" ({exc.context} started at line {exc.context_mark.line + 1})"
        return f"{where}: {exc.problem}{context}"
    return f"YAML syntax error: {exc}"


def _node_at(node: yaml.Node | None, place: Loc) -> yaml.Node | None:
    """The deepest node of the tree along ``place``."""
    for part in place:
        child = _child(node, part)
        if child is None:
            break
        node = child
    return node


def _child(node: yaml.Node | None, part: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        return node.value[part] if part < len(node.value) else None
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == part:
                return value_node  # type: ignore[no-any-return]
    return None


def _at_line(message: str, root: yaml.Node | None, place: Loc) -> str:
    node = _node_at(root, place)
    if node is None:
        return message
    return f"{message} (line {node.start_mark.line + 1})"


# Places and pydantic errors


def _where(place: Loc) -> str:
    """``('routes', 2, 'when', 'fields', 'PV1')`` -> ``routes[2].when.fields['PV1']``.

    The models tell model keys (``.when``) from mapping keys (``['PV1']``).
    """
    text = ""
    current: Any = RouteFile
    for part in place:
        current = _unwrap(current)
        if part == "[key]":
            text += " (the key itself)"
        elif isinstance(part, int) and typing.get_origin(current) is not dict:
            text += f"[{part}]"
        elif typing.get_origin(current) is dict:
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else str(part)
        current = _step(current, part)
    return text


def _describe(error: ErrorDetails) -> tuple[Loc, str]:
    """The place and a plain sentence for one pydantic error."""
    place: Loc = tuple(error["loc"])
    kind = error["type"]
    given = error.get("input")
    if kind == "extra_forbidden":
        return place[:-1], _unknown_key(place)
    if kind == "missing":
        return place[:-1], f"missing required key {place[-1]!r}"
    if kind == "value_error":
        return place, error["msg"].removeprefix("Value error, ")
    if kind == "string_type":
        return place, f"expected a string, got {given!r}; quote it in YAML ({_why_quote(given)})"
    if kind in ("tuple_type", "list_type"):
        return place, f"expected a list, got {given!r}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return place, f"expected a mapping, got {given!r}"
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        return place, f"{given!r} does not match {pattern}"
    return place, f"{error['msg']}, got {given!r}"


def _why_quote(value: object) -> str:
    if isinstance(value, bool):
        return "yes/no/on/off/true/false are booleans"
    if isinstance(value, int | float):
        return "numbers lose leading zeros and trailing digits"
    return "only quoted or plain text is a string"


def _unknown_key(place: Loc) -> str:
    """'unknown key' with the keys allowed there and a likely intended one."""
    name = str(place[-1])
    allowed = _allowed_keys(place[:-1])
    if not allowed:
        return f"unknown key {name!r}"
    message = f"unknown key {name!r}; allowed: {', '.join(allowed)}"
    close = difflib.get_close_matches(name, allowed, n=1)
    return f"{message} (did you mean {close[0]!r}?)" if close else message


def _allowed_keys(place: Loc) -> list[str]:
    """The keys of the model found at ``place`` in a route file, as spelt in YAML."""
    current: Any = RouteFile
    for part in place:
        current = _step(current, part)
    model = _unwrap(current)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [info.alias or name for name, info in model.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation


def _step(annotation: Any, part: int | str) -> Any:
    """The annotation one level down ``part`` (field, list index or mapping key)."""
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if (info.alias or name) == part:
                return info.annotation
        return None
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        return typing.get_args(annotation)[0]
    if origin is dict:
        return typing.get_args(annotation)[1]
    return None


# Checks across routes and files


def _check_unique_names(located: Iterable[_Located], problems: _Problems) -> None:
    first: dict[str, _Located] = {}
    for item in located:
        earlier = first.setdefault(item.route.name, item)
        if earlier is not item:
            item.report(
                problems,
                ("name",),
                f"duplicate route name {item.route.name!r}: already defined in "
                f"{earlier.label} routes[{earlier.index}]",
            )


def _field_paths(route: Route) -> Iterator[tuple[str, Loc]]:
    """Every field path of a route with its place (``when.fields['PV1-2']``)."""
    for path in route.when.fields:
        yield path, ("when", "fields", path)
    for number, alternative in enumerate(route.when.any_of):
        for path in alternative:
            yield path, ("when", "any", number, path)


def _check_paths(located: Iterable[_Located], problems: _Problems) -> None:
    """HL7 field paths, or DICOM keywords for routes restricted to ``protocol: dicom``."""
    from hub.hl7.paths import compile_path
    from hub.imaging.paths import check_dicom_path

    for item in located:
        check = check_dicom_path if item.route.when.protocol == ("dicom",) else compile_path
        for path, place in _field_paths(item.route):
            try:
                check(path)
            except ValueError as exc:
                item.report(problems, place, f"bad field path {path!r}: {exc}")


def _check_destinations(
    located: Iterable[_Located], known: Collection[str], problems: _Problems
) -> None:
    for item in located:
        if not item.route.enabled:
            continue
        for number, name in enumerate(item.route.to):
            if name not in known:
                message = _unknown_name("destination", name, known)
                item.report(problems, ("to", number), message)


def _check_sources(
    located: Iterable[_Located], known: Collection[str], problems: _Problems
) -> None:
    for item in located:
        for number, name in enumerate(item.route.when.source):
            if name != WILDCARD and name not in known:
                message = _unknown_name("source", name, known)
                item.report(problems, ("when", "source", number), message)


def _unknown_name(kind: str, name: str, known: Collection[str]) -> str:
    listed = ", ".join(sorted(known)) or "none configured"
    message = f"unknown {kind} {name!r}; configured: {listed}"
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"{message} (did you mean {close[0]!r}?)" if close else message
