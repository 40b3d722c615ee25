"""Components: the services that plug into the spine (identity, repository, imaging).

A component is built from the running hub (its database, journal, intake,
settings), may add destination types (the SRRI consumes ADT as the ``srri``
destination), HTTP routes (its FHIR interactions, its admin API) and
background work. The hub finds components by name through
:data:`hub.registry.COMPONENTS`, so it never imports them statically
(dependencies point inward: a component imports ``hub``, not the reverse).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from hub.delivery import Destination

DestinationFactory = Callable[[str, Any, Path], Destination]
"""``(name, settings, data_dir) -> Destination``, as the registry calls it."""


class Component(Protocol):
    """What the hub asks of a component."""

    name: str

    def destination_types(self) -> Mapping[str, DestinationFactory]:
        """Destination types this component serves (``type`` in ``destinations``)."""
        ...

    def routers(self) -> Sequence[Any]:
        """FastAPI routers to mount on the hub's HTTP server."""
        ...

    async def start(self) -> None:
        """Open what the component needs (tables are migrated by the hub)."""
        ...

    async def close(self) -> None:
        """Release it."""
        ...
