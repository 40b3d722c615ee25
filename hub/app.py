"""The running hub: builds every part from the settings, starts and stops them.

This is the composition root. Connectors are found through
:mod:`hub.registry` by name, so ``hub`` never imports a connector statically.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from typing import Any

from hub.audit.store import AuditTrail
from hub.blobs import BlobStore
from hub.broker.base import Broker, ParkedMessage, transactional
from hub.components import Component
from hub.config import Settings
from hub.db.engine import Database
from hub.delivery import DeliveryWorker, delivery_job, delivery_queue
from hub.errors import ConfigError, HubError
from hub.intake import INGRESS, Intake, SourceResolver, ingress_message
from hub.journal import Journal
from hub.metrics import Metrics
from hub.patients import PatientDirectory, SelfOnlyDirectory
from hub.pipeline import Pipeline
from hub.registry import (
    COMPONENT_DESTINATION_TYPES,
    create_broker,
    create_components,
    create_destination,
    create_mllp_listener,
)

__all__ = ["Hub", "load_engine", "resolve_admin_token"]
from hub.preflight import checked_engine, load_engine
from hub.routing.engine import RoutingEngine

log = logging.getLogger(__name__)


def resolve_admin_token(settings: Settings) -> str:
    """The configured token, or one generated once and kept in ``<data_dir>/admin.token``."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir / "admin.token"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    log.warning("no admin token configured: generated one in %s", path.name)
    return token


def _check_served_types(components: list[Component]) -> None:
    """Each built component serves the destination types the registry says it does."""
    for component in components:
        listed = set(COMPONENT_DESTINATION_TYPES.get(component.name, ()))
        if set(component.destination_types()) != listed:
            raise HubError(f"component {component.name!r} serves destination types "
                           f"{sorted(component.destination_types())}, the registry lists "
                           f"{sorted(listed)} (hub.registry.COMPONENT_DESTINATION_TYPES)")


class Hub:
    """Every part of one hub process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.admin_token = resolve_admin_token(settings)
        self.started_at = time.time()
        self.db: Database | None = None
        self.broker: Broker | None = None
        self.journal: Journal | None = None
        self.blobs: BlobStore | None = None
        self.audit: AuditTrail | None = None
        self.intake: Intake | None = None
        self.pipeline: Pipeline | None = None
        self.workers: dict[str, DeliveryWorker] = {}
        self.components: list[Component] = []
        # Replaced by the identity component when it is configured.
        self.patients: PatientDirectory = SelfOnlyDirectory()
        self.mllp: Any = None
        self.http: Any = None
        self.router: RoutingEngine | None = None  # the loaded routes, for components
        self.ready = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- life cycle ---------------------------------------------------------

    async def start(self) -> None:
        """Open storage, migrate, start the workers, then the listeners."""
        s = self.settings
        engine = self.router = checked_engine(s)
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = await Database.open(s.effective_database_url)
        await self.db.upgrade()
        self.blobs = BlobStore(self.db, s.data_dir / "blobs")
        self.audit = AuditTrail(self.db)
        self.journal = Journal(self.db)
        self.broker = create_broker(s.broker_url, self.db, prefix=s.broker_prefix)
        await self.broker.declare(INGRESS)
        for name in s.destinations:
            await self.broker.declare(delivery_queue(name))
        await self.broker.start()
        await self._recover_unpublished()
        self.intake = Intake(self.db, self.blobs, self.journal, self.broker,
                             SourceResolver(s.sources), self.metrics,
                             single_writer=self.db.dialect == "sqlite",
                             router=engine if s.pipeline.route_at_intake else None)
        await self.intake.load_known_keys()
        self.intake.start()
        self.components = create_components(self, s.components)
        _check_served_types(self.components)
        for component in self.components:
            await component.start()
        await self._start_workers(engine)
        await self._start_listeners()
        self._tasks.append(asyncio.create_task(self._refresh_gauges(), name="gauges"))
        self._tasks.append(asyncio.create_task(self.db.run_checkpoints(), name="checkpoints"))
        self.ready = True
        log.info("hub started: mllp %s, http %s", self.mllp_port, self.http_port)

    async def _recover_unpublished(self) -> None:
        """Publish again what the journal holds as received (external broker only).

        A crash between the intake's commit and the broker's confirm leaves a
        stored, possibly acknowledged message that no queue holds; its sender's
        resend is answered from the journal. Republishing every ``received``
        message at start closes that gap; the pipeline skips a second copy.
        """
        assert self.broker and self.journal and self.blobs
        if transactional(self.broker) is not None:
            return
        after, total = "", 0
        while rows := await self.journal.waiting_for_pipeline(after):
            batch = [
                ingress_message(await self.blobs.get(r.sha256), r.id, source=r.source,
                                protocol=r.protocol, patient_key=r.patient_key, recovered=True)
                for r in rows
            ]
            await self.broker.publish(INGRESS, batch)
            after, total = rows[-1].id, total + len(rows)
        if total:
            log.warning("republished %d stored messages that were waiting for the pipeline",
                        total)
        await self._recover_pending_deliveries()

    async def _recover_pending_deliveries(self) -> None:
        """Publish again the jobs of deliveries still pending (external broker only)."""
        assert self.broker and self.journal and self.blobs
        after, total = "", 0
        while rows := await self.journal.pending_deliveries(after):
            for r in rows:
                if r.destination not in self.settings.destinations:
                    continue
                job = delivery_job(await self.blobs.get(r.sha256), r.message_id, r.destination,
                                   patient_key=r.patient_key, source=r.source,
                                   control_id=r.control_id, recovered=True)
                await self.broker.publish(delivery_queue(r.destination), [job])
            after, total = rows[-1].key, total + len(rows)
        if total:
            log.warning("republished %d pending deliveries", total)

    async def _start_workers(self, engine: RoutingEngine) -> None:
        assert self.broker and self.db and self.journal
        s = self.settings
        extra = {kind: factory for c in self.components
                 for kind, factory in c.destination_types().items()}
        for name, dest_settings in s.destinations.items():
            destination = create_destination(name, dest_settings, s.data_dir, extra)
            worker = DeliveryWorker(destination, self.broker, self.db, self.journal, self.metrics)
            await worker.start()
            self.workers[name] = worker
        self.pipeline = Pipeline(self.broker, self.db, self.journal, engine, self.metrics,
                                 prefetch=s.pipeline.prefetch, lanes=s.pipeline.lanes)
        await self.pipeline.start()

    async def _start_listeners(self) -> None:
        assert self.intake
        s = self.settings
        if s.mllp.enabled:
            self.mllp = create_mllp_listener(s.mllp, self.intake, self.metrics)
            try:
                await self.mllp.start()
            except OSError as exc:
                self.mllp = None
                raise ConfigError(f"cannot listen on {s.mllp.host}:{s.mllp.port}: "
                                  f"{exc.strerror or exc}", key="mllp.port") from exc
        if s.http.enabled:
            from hub.api.server import HttpServer

            self.http = HttpServer(self, s.http.host, s.http.port)
            await self.http.start()

    async def stop(self) -> None:
        """Stop listeners first, then workers, then storage."""
        self.ready = False
        for task in self._tasks:
            task.cancel()
        if self.mllp is not None:
            await self.mllp.close()
        if self.http is not None:
            await self.http.close()
        if self.pipeline is not None:
            await self.pipeline.close()
        for worker in self.workers.values():
            await worker.close()
        for component in reversed(self.components):
            await component.close()
        if self.intake is not None:
            await self.intake.close()
        if self.broker is not None:
            await self.broker.close()
        if self.db is not None:
            await self.db.close()

    async def serve_forever(self) -> None:
        """Start and run until cancelled (SIGINT/SIGTERM); a failed start stops what started."""
        try:
            await self.start()
            await asyncio.Event().wait()
        finally:
            await self.stop()

    @property
    def mllp_port(self) -> int | None:
        """The bound MLLP port."""
        return self.mllp.port if self.mllp is not None else None

    @property
    def http_port(self) -> int | None:
        """The bound HTTP port."""
        return self.http.port if self.http is not None else None

    async def _refresh_gauges(self) -> None:
        while True:
            await self.refresh_queue_gauges()
            await asyncio.sleep(5)

    async def refresh_queue_gauges(self) -> list[dict[str, Any]]:
        """Read queue depths into the gauges; return them."""
        assert self.broker
        out = []
        for queue in [INGRESS, *(delivery_queue(n) for n in self.workers)]:
            try:
                st = await self.broker.stats(queue)
            except HubError as exc:
                log.warning("cannot read stats of %s: %s", queue, exc)
                continue
            self.metrics.queue_depth.labels(queue).set(st.ready)
            self.metrics.queue_parked.labels(queue).set(st.parked)
            self.metrics.queue_oldest.labels(queue).set(st.oldest_age_s)
            out.append({"queue": queue, "ready": st.ready, "parked": st.parked,
                        "oldest_age_s": round(st.oldest_age_s, 3)})
        if self.mllp is not None:
            self.metrics.connections.set(self.mllp.active_connections)
        return out

    # -- operations (API and CLI) --------------------------------------------

    async def replay(self, message_id: str) -> str:
        """Run a stored message through the pipeline again as a new message; return its id."""
        assert self.journal and self.blobs and self.intake
        record = await self.journal.get(message_id)
        if record is None:
            raise KeyError(message_id)
        payload = await self.blobs.get(record["sha256"])
        return await self.intake.replay(payload, of=message_id)

    async def resend(self, message_id: str, destination: str) -> None:
        """Deliver one message to one destination again, even if it was delivered."""
        assert self.journal and self.blobs and self.broker
        if destination not in self.workers:
            raise ConfigError(f"unknown destination '{destination}'", key="destination")
        record = await self.journal.get(message_id)
        if record is None:
            raise KeyError(message_id)
        payload = await self.blobs.get(record["sha256"])
        job = delivery_job(payload, message_id, destination, patient_key=record["patient_key"],
                           source=record["source"], control_id=record["control_id"], force=True)
        assert self.db
        await self.db.committer.run(
            *self.journal.deliveries_planned(message_id, [destination]),
            self.journal.event(message_id, "resent", destination=destination),
        )
        await self.broker.publish(delivery_queue(destination), [job])

    async def parked(self, destination: str | None = None,
                     limit: int = 100) -> list[ParkedMessage]:
        """Parked deliveries of one destination or all."""
        assert self.broker
        names = [destination] if destination else list(self.workers)
        out: list[ParkedMessage] = []
        for name in names:
            out.extend(await self.broker.parked(delivery_queue(name), limit))
        return out[:limit]

    async def redrive(self, destination: str | None = None,
                      keys: list[str] | None = None) -> tuple[int, set[str]]:
        """Put parked deliveries back in their queue: how many, and the keys found parked."""
        assert self.broker and self.db and self.journal
        total, found = 0, set[str]()
        for name in [destination] if destination else list(self.workers):
            parked = await self.broker.parked(delivery_queue(name), 100_000)
            chosen = [p for p in parked if keys is None or p.message_id in keys]
            if not chosen:
                continue
            found.update(p.message_id for p in chosen)
            await self.db.committer.run(*[
                self.journal.event(p.headers.get("message_id", p.message_id), "redriven",
                                   destination=name, detail=p.reason)
                for p in chosen
            ])
            total += await self.broker.redrive(delivery_queue(name),
                                               [p.message_id for p in chosen])
        return total, found

