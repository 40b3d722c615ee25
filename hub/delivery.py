"""Delivery runtime: one worker per destination, retries, parking, idempotency.

A delivery job is one message for one destination, keyed ``<message id>:<destination>``
(ARCHITECTURE rule 4). The worker:

- skips a job already recorded as delivered when the broker hands it again
  (redelivery after a crash, a duplicate publish after a pipeline restart);
- runs jobs of one patient in order on one lane; a transient failure of an
  ordered destination is retried in place, holding the lane, with exponential
  backoff and jitter; an unordered destination gives the job back to the
  broker with a delay instead;
- parks the job with the reason after the last attempt, on a permanent
  failure, or on any other exception the destination raises (a fault that
  a retry of the same job cannot mend: it must not leave the job unsettled,
  pending for ever), records every attempt in the journal, and settles the message
  status once all its deliveries are done.

A success is committed (with the broker ack, after it or in its transaction)
while the lane goes on to the next job: the lane waits for the destination,
not for the journal, so a lane's successes commit together in the group
committer's next batch. The job stays unsettled in the broker until its
outcome is committed; a crash in between redelivers it, flagged, and the
journal (not yet saying delivered) lets it through again: at least once, as
before, never lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from hub.broker.base import Broker, Consumer, Envelope, OutboundMessage, transactional
from hub.broker.settle import commit_and_ack
from hub.config import RetrySettings
from hub.db.engine import Database
from hub.errors import PermanentDeliveryError, TransientDeliveryError
from hub.journal import Journal, delivery_key
from hub.lanes import Lanes
from hub.metrics import Metrics
from hub.retry import backoff_s, should_park

log = logging.getLogger(__name__)


def delivery_queue(destination: str) -> str:
    """The broker queue of a destination."""
    return f"deliver.{destination}"


def delivery_job(
    payload: bytes,
    message_id: str,
    destination: str,
    *,
    patient_key: str | None,
    source: str,
    control_id: str,
    recovered: bool = False,
    force: bool = False,
) -> OutboundMessage:
    """The broker message of one delivery (keyed ``<message id>:<destination>``).

    ``recovered``: the job may be a second copy (checked against the journal);
    ``force``: deliver even if the journal says delivered (operator resend).
    """
    headers = {
        "message_id": message_id, "destination": destination,
        "patient_key": patient_key or "", "source": source, "control_id": control_id,
        "recovered": "1" if recovered else "0", "force": "1" if force else "0",
    }
    return OutboundMessage(payload, delivery_key(message_id, destination), headers)


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    """What a destination receives."""

    key: str
    message_id: str
    destination: str
    payload: bytes
    headers: Mapping[str, str]
    lane: int


class Destination(Protocol):
    """A delivery target. Raises Transient/PermanentDeliveryError on failure."""

    name: str
    lanes: int
    ordered: bool
    retry: RetrySettings

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def deliver(self, job: DeliveryJob) -> str:
        """Deliver and return a short outcome (e.g. the downstream ACK code)."""
        ...


def unexpected_reason(exc: Exception) -> str:
    """The parking reason of an exception a destination should not have raised.

    Neither transient nor permanent by type, it is a fault of the destination
    code or of the input it read: retrying the same job cannot help, so it
    is parked at once, with the kind of fault, for an operator to replay
    once fixed.
    """
    detail = str(exc)
    return f"unexpected {type(exc).__name__} in the destination" + (f": {detail}" if detail else "")


class DeliveryWorker:
    """Consumes ``deliver.<name>`` and drives one destination."""

    def __init__(
        self,
        destination: Destination,
        broker: Broker,
        db: Database,
        journal: Journal,
        metrics: Metrics,
        *,
        prefetch: int = 256,
    ) -> None:
        self.destination = destination
        self._broker = broker
        self._db = db
        self._journal = journal
        self._metrics = metrics
        self._prefetch = prefetch
        self._lanes: Lanes | None = None
        self._consumer: Consumer | None = None

    @property
    def queue(self) -> str:
        """The queue this worker consumes."""
        return delivery_queue(self.destination.name)

    async def start(self) -> None:
        """Start the destination, its lanes and the consumer."""
        await self._broker.declare(self.queue)
        await self.destination.start()
        self._lanes = Lanes(self.destination.lanes, f"deliver-{self.destination.name}")
        self._consumer = await self._broker.consume(
            self.queue, self._on_envelope, prefetch=self._prefetch
        )

    async def close(self) -> None:
        """Stop consuming; unsettled jobs come back after a restart."""
        if self._lanes is not None:
            await self._lanes.close()
        if self._consumer is not None:
            await self._consumer.cancel()
        await self.destination.close()

    async def _on_envelope(self, env: Envelope) -> None:
        assert self._lanes is not None
        key = env.headers.get("patient_key") or env.message_id
        lanes = self._lanes
        settling = await lanes.run(key, lambda: self._process(env, lanes.lane_of(key)))
        if settling is not None:
            await settling  # the lane has moved on; the broker message settles here

    async def _process(self, env: Envelope, lane: int) -> asyncio.Task[None] | None:
        """Deliver on the lane; a success's commit and ack, still running, is returned."""
        job = DeliveryJob(
            key=env.message_id,
            message_id=env.headers.get("message_id", env.message_id.rsplit(":", 1)[0]),
            destination=self.destination.name,
            payload=env.body,
            headers=env.headers,
            lane=lane,
        )
        if await self._already_delivered(env, job):
            await commit_and_ack(self._db.committer, env, [
                self._journal.event(job.message_id, "duplicate-skipped",
                                    destination=job.destination,
                                    detail="already delivered; redelivery ignored"),
            ])
            return None
        attempt = env.attempts
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                outcome = await self.destination.deliver(job)
            except PermanentDeliveryError as exc:
                await self._park(env, job, attempt, str(exc))
                return None
            except (TimeoutError, TransientDeliveryError, OSError) as exc:
                reason = str(exc) or type(exc).__name__
                if should_park(attempt, self.destination.retry):
                    await self._park(env, job, attempt, f"gave up after {attempt} attempts: "
                                     f"{reason}")
                    return None
                delay = backoff_s(attempt, self.destination.retry)
                await self._record_failure(job, attempt, reason, delay)
                if not self.destination.ordered:
                    await env.retry(delay)
                    return None
                await asyncio.sleep(delay)
                continue
            except Exception as exc:  # a destination fault must not leave the job hanging
                await self._park(env, job, attempt, unexpected_reason(exc))
                return None
            return asyncio.create_task(self._record_success(env, job, attempt, outcome, started))

    async def _already_delivered(self, env: Envelope, job: DeliveryJob) -> bool:
        if job.headers.get("force") == "1":
            return False
        maybe_copy = env.redelivered or job.headers.get("recovered") == "1"
        if transactional(self._broker) is not None and not maybe_copy:
            # Embedded: a job exists once unless redelivered. An external broker can
            # hold a second copy (start-up recovery), so it is always checked.
            return False
        return await self._journal.delivery_status(job.key) == "delivered"

    async def _record_success(
        self, env: Envelope, job: DeliveryJob, attempt: int, outcome: str, started: float
    ) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        j = self._journal
        await commit_and_ack(self._db.committer, env, [
            j.delivery_outcome(job.key, "delivered", attempt, error=None, response=outcome),
            j.event(job.message_id, "delivered", destination=job.destination,
                    detail=outcome, duration_ms=elapsed_ms),
            j.settle_message(job.message_id),
        ])
        self._metrics.deliveries.labels(job.destination, "delivered").inc()

    async def _record_failure(self, job: DeliveryJob, attempt: int, reason: str,
                              delay: float) -> None:
        j = self._journal
        await self._db.committer.run(
            j.delivery_outcome(job.key, "pending", attempt, error=reason, response=None),
            j.event(job.message_id, "failed", destination=job.destination,
                    detail=f"attempt {attempt}: {reason}; next in {delay:.1f}s"),
        )
        self._metrics.deliveries.labels(job.destination, "failed").inc()

    async def _park(self, env: Envelope, job: DeliveryJob, attempt: int, reason: str) -> None:
        j = self._journal
        await self._db.committer.run(
            j.delivery_outcome(job.key, "parked", attempt, error=reason, response=None),
            j.event(job.message_id, "parked", destination=job.destination, detail=reason),
            j.settle_message(job.message_id),
        )
        self._metrics.deliveries.labels(job.destination, "parked").inc()
        log.warning("delivery %s parked: %s", job.key, reason)
        await env.park(reason)
