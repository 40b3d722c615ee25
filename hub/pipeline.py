"""The pipeline worker: ingress -> parse -> route -> one delivery job per destination.

For each ingress message it commits, in one transaction, the journal events
(parsed, routed/filtered/unrouted), the message status and one pending
delivery row per destination, publishes the delivery jobs (in the same
transaction with the embedded broker, confirmed afterwards with RabbitMQ), and
only then acks the ingress message. A crash in between redelivers the
ingress message; the jobs it republishes carry ``recovered=1`` so that the
delivery worker checks the journal before sending again.
"""

from __future__ import annotations

import logging
import time

from hub.broker.base import Broker, Consumer, Envelope, OutboundMessage, transactional
from hub.broker.settle import commit_and_ack
from hub.db.committer import Op
from hub.db.engine import Database
from hub.delivery import delivery_job, delivery_queue
from hub.errors import ParseError
from hub.hl7.er7 import Message, parse
from hub.intake import INGRESS
from hub.journal import Journal
from hub.lanes import Lanes
from hub.metrics import Metrics
from hub.routing.engine import Decision, RoutingEngine, decision_detail

log = logging.getLogger(__name__)


class Pipeline:
    """Consumes ``ingress``."""

    def __init__(
        self,
        broker: Broker,
        db: Database,
        journal: Journal,
        engine: RoutingEngine,
        metrics: Metrics,
        *,
        prefetch: int = 512,
        lanes: int = 32,
    ) -> None:
        self._broker = broker
        self._db = db
        self._journal = journal
        self._engine = engine
        self._metrics = metrics
        self._prefetch = prefetch
        self._lane_count = lanes
        self._lanes: Lanes | None = None
        self._consumer: Consumer | None = None

    async def start(self) -> None:
        """Start consuming ingress."""
        await self._broker.declare(INGRESS)
        self._lanes = Lanes(self._lane_count, "pipeline")
        self._consumer = await self._broker.consume(INGRESS, self._on_envelope,
                                                    prefetch=self._prefetch)

    async def close(self) -> None:
        """Stop consuming; unfinished messages are redelivered after a restart."""
        if self._lanes is not None:
            await self._lanes.close()
        if self._consumer is not None:
            await self._consumer.cancel()

    async def _on_envelope(self, env: Envelope) -> None:
        assert self._lanes is not None
        key = env.headers.get("patient_key") or env.message_id
        await self._lanes.run(key, lambda: self._process(env))

    async def _process(self, env: Envelope) -> None:
        message_id = env.headers.get("message_id", env.message_id)
        if await self._already_routed(message_id):
            await env.ack()
            return
        started = time.perf_counter()
        try:
            message = parse(env.body)
        except ParseError as exc:  # intake parsed it already: only a changed parser lands here
            await commit_and_ack(self._db.committer, env, [
                self._journal.status(message_id, "rejected"),
                self._journal.event(message_id, "rejected", detail=f"parse: {exc}"),
            ])
            return
        source = env.headers.get("source", "default")
        decision = self._engine.decide(source, env.headers.get("protocol", "hl7v2"), message)
        parse_ms = (time.perf_counter() - started) * 1000
        ops = self._journal_ops(message_id, decision, parse_ms)
        jobs = self._jobs(env, message, message_id, decision)
        await self._commit(env, ops, jobs)
        self._metrics.routed.labels(decision.outcome).inc()

    async def _already_routed(self, message_id: str) -> bool:
        """With an external broker the ingress copy may be a second one.

        The intake commits the journal row before RabbitMQ confirms the publish,
        and the start-up recovery republishes what the journal holds as
        ``received``: either copy may come second, so a message already past
        ``received`` is skipped. (With the embedded broker the journal row and
        the ingress message commit together: nothing to check.)
        """
        if transactional(self._broker) is not None:
            return False
        status = await self._journal.message_status(message_id)
        return status is not None and status != "received"

    def _journal_ops(self, message_id: str, decision: Decision, parse_ms: float) -> list[Op]:
        return [self._journal.event(message_id, "parsed", duration_ms=parse_ms),
                *self._journal.routing(message_id, decision.outcome, decision.destinations,
                                       decision_detail(decision))]

    @staticmethod
    def _jobs(env: Envelope, message: Message, message_id: str,
              decision: Decision) -> dict[str, OutboundMessage]:
        if decision.outcome != "deliver":
            return {}
        recovered = env.redelivered or env.headers.get("recovered") == "1"
        return {
            d: delivery_job(env.body, message_id, d,
                            patient_key=env.headers.get("patient_key"),
                            source=env.headers.get("source", ""),
                            control_id=message.control_id, recovered=recovered)
            for d in decision.destinations
        }

    async def _commit(self, env: Envelope, ops: list[Op],
                      jobs: dict[str, OutboundMessage]) -> None:
        """Journal, delivery jobs and the ingress ack: one transaction when embedded."""
        broker = transactional(self._broker)
        if broker is None:
            await self._db.committer.run(*ops)
            for destination, job in jobs.items():
                await self._broker.publish(delivery_queue(destination), [job])
            await env.ack()
            return
        finals = []
        for destination, job in jobs.items():
            publish_ops, done = broker.prepare(delivery_queue(destination), [job])
            ops.extend(publish_ops)
            finals.append(done)
        await commit_and_ack(self._db.committer, env, ops)
        for done in finals:
            done()
