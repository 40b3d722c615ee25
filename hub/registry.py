"""Names in the configuration that resolve to code.

Connectors are imported by name here, at run time, so that ``hub`` has no
static dependency on ``connectors`` (dependencies point inward). A test checks
that every registered factory imports and has the expected signature.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hub.broker.base import Broker
from hub.components import Component, DestinationFactory
from hub.config import MllpSettings
from hub.db.engine import Database
from hub.delivery import Destination
from hub.errors import ConfigError

DESTINATION_TYPES: dict[str, str] = {
    "file": "connectors.file:FileDestination",
    "mllp": "connectors.mllp.destination:MllpDestination",
}


COMPONENTS: dict[str, str] = {
    "identity": "identity.component:create_component",
    "repository": "hub.repository:create",
    "mssante": "connectors.mssante.component:create",
    "imaging": "hub.imaging.component:create",
}
"""Component name -> ``module:factory``; the factory takes the running hub."""


COMPONENT_DESTINATION_TYPES: dict[str, tuple[str, ...]] = {
    "identity": ("srri",),
    "repository": ("repository",),
    "mssante": ("mssante",),
    "imaging": ("dicom",),
}
"""Component name -> the destination types it serves, known without building it
(``hub config check``); the hub checks at start that each built component agrees."""


CLI_COMMANDS: dict[str, str] = {
    "identity": "identity.cli:app",
    "mssante": "connectors.mssante.cli:app",
    "studies": "hub.imaging.cli:studies_app",  # also adds `hub send dicom`
    "audit": "hub.audit.cli:app",
}
"""``hub <name> ...`` command groups of components: name -> ``module:typer app``."""


def create_components(hub: Any, names: Sequence[str]) -> list[Component]:
    """Build the components ``names`` for ``hub``, in order."""
    built: list[Component] = []
    for name in names:
        ref = COMPONENTS.get(name)
        if ref is None:
            raise ConfigError(f"unknown component '{name}'; known: {', '.join(COMPONENTS)}",
                              key="components")
        built.append(resolve(ref)(hub))
    return built


def resolve(ref: str) -> Any:
    """Import ``module:attribute``."""
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


def create_destination(
    name: str, settings: Any, data_dir: Path,
    extra_types: Mapping[str, DestinationFactory] | None = None,
) -> Destination:
    """Build the destination ``name`` from its settings.

    ``extra_types`` are the destination types that components serve.
    """
    factory: DestinationFactory | None = (extra_types or {}).get(settings.type)
    if factory is None:
        ref = DESTINATION_TYPES.get(settings.type)
        if ref is None:
            raise ConfigError(f"no component serves destination type '{settings.type}'",
                              key=f"destinations.{name}.type")
        factory = resolve(ref)
    destination: Destination = factory(name, settings, data_dir)
    return destination


def create_broker(url: str, db: Database, *, prefix: str = "hub") -> Broker:
    """The embedded broker (``embedded``) or RabbitMQ (``amqp://``, ``amqps://``)."""
    if url == "embedded":
        from hub.broker.embedded import EmbeddedBroker

        return EmbeddedBroker(db)
    if url.startswith(("amqp://", "amqps://")):
        from hub.broker.rabbitmq import RabbitMQBroker

        return RabbitMQBroker(url, prefix=prefix)
    # The scheme only: the rest of a URL may hold a password.
    raise ConfigError(f"'{url.split(':', 1)[0]}' is neither 'embedded' nor an amqp:// URL",
                      key="broker_url")


def create_mllp_listener(settings: MllpSettings, intake: Any, metrics: Any) -> Any:
    """The MLLP server wired to the intake."""
    server_mod = importlib.import_module("connectors.mllp.server")
    source_mod = importlib.import_module("connectors.mllp.source")
    ssl = None
    if settings.tls is not None:
        tls = importlib.import_module("connectors.mllp.tls")
        t = settings.tls
        ssl = tls.server_context(str(t.certfile), str(t.keyfile),
                                 str(t.cafile) if t.cafile else None, t.require_client_cert)
    return server_mod.MLLPServer(
        source_mod.MllpSource(intake),
        host=settings.host,
        port=settings.port,
        name="mllp",
        max_message_bytes=settings.max_message_bytes,
        idle_timeout_s=settings.idle_timeout_s,
        ssl=ssl,
        max_connections=settings.max_connections,
    )
