"""The routing engine: route files (``routes/*.yaml``) to delivery decisions.

- :mod:`hub.routing.models`: what a route file may contain (pydantic models);
- :mod:`hub.routing.loader`: :func:`load_routes` reads and validates a
  directory of route files, reporting every problem at once;
- :mod:`hub.routing.engine`: :class:`RoutingEngine` evaluates the routes
  against one message and returns a :class:`Decision`.

Typical use, once at start and then per message::

    engine = RoutingEngine(load_routes(Path("routes"), known_destinations=names))
    decision = engine.decide("chu-x-gam", "hl7v2", message)

The evaluation rules are in :mod:`hub.routing.engine` and ``routes/README.md``.
"""

from hub.routing.engine import Decision, Outcome, Routable, RoutingEngine
from hub.routing.loader import RouteFileError, load_routes
from hub.routing.models import Condition, Route, RouteFile, When

__all__ = [
    "Condition",
    "Decision",
    "Outcome",
    "Routable",
    "Route",
    "RouteFile",
    "RouteFileError",
    "RoutingEngine",
    "When",
    "load_routes",
]
