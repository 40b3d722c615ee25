"""What ``hub run`` refuses, found before anything starts.

``hub run`` and ``hub config check`` call the same :func:`check_settings`,
so a configuration the check calls OK is one the hub starts with. Every
problem is collected in one pass: an unknown component, a destination type
that neither the hub nor an enabled component serves, and every route file
problem (syntax, unknown destinations and sources).
"""

from __future__ import annotations

from hub.config import Settings
from hub.errors import ConfigError
from hub.intake import INTERNAL_SOURCES
from hub.registry import COMPONENT_DESTINATION_TYPES, COMPONENTS, DESTINATION_TYPES
from hub.routing.engine import RoutingEngine
from hub.routing.loader import RouteFileError, load_routes


class SettingsProblems(ConfigError):
    """The settings and route files hold one or more problems; ``problems`` lists them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        heading = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        super().__init__(f"{heading} in the configuration:\n  - " + "\n  - ".join(problems))


def load_engine(settings: Settings) -> RoutingEngine:
    """Load and validate the route files against the configured destinations and sources."""
    routes = load_routes(
        settings.routes_dir,
        known_destinations=set(settings.destinations),
        known_sources={s.name for s in settings.sources} | {s.name for s in settings.dicom.sources}
        | {"default", *INTERNAL_SOURCES},
    )
    return RoutingEngine(routes)


def component_problems(settings: Settings) -> list[str]:
    """Component names that no component answers to."""
    return [f"components: unknown component '{name}'; known: {', '.join(COMPONENTS)}"
            for name in settings.components if name not in COMPONENTS]


def destination_type_problems(settings: Settings) -> list[str]:
    """Destinations whose ``type`` neither the hub nor an enabled component serves."""
    served = {kind: "" for kind in DESTINATION_TYPES}
    for name, kinds in COMPONENT_DESTINATION_TYPES.items():
        for kind in kinds:
            served.setdefault(kind, name)
    problems = []
    for name, destination in settings.destinations.items():
        kind = destination.type
        component = served.get(kind)
        if component is None:
            problems.append(f"destinations.{name}.type: unknown destination type '{kind}'; "
                            f"known: {', '.join(sorted(served))}")
        elif component and component not in settings.components:
            problems.append(f"destinations.{name}.type: type '{kind}' is served by the "
                            f"component '{component}', which is not in components")
    return problems


def check_settings(settings: Settings) -> tuple[RoutingEngine | None, list[str]]:
    """The routing engine (None when the routes do not load) and every problem found."""
    problems = component_problems(settings) + destination_type_problems(settings)
    try:
        engine: RoutingEngine | None = load_engine(settings)
    except RouteFileError as exc:
        engine = None
        problems += exc.problems
    except ConfigError as exc:
        engine = None
        problems.append(str(exc))
    return engine, problems


def checked_engine(settings: Settings) -> RoutingEngine:
    """The routing engine of valid settings; :class:`SettingsProblems` lists every problem."""
    engine, problems = check_settings(settings)
    if problems or engine is None:
        raise SettingsProblems(problems)
    return engine
