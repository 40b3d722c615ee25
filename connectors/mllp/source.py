"""The MLLP inbound connector: frames in, intake, ACK out.

This is the one place where MLLP-level problems become HL7 answers: a frame
over the size limit is journaled as rejected and answered AR (ERR-3 207 with
the size); bytes outside a frame are counted and ignored, as MLLP release 2
says; a connection that ends inside a frame is closed without an answer.
"""

from __future__ import annotations

import logging
from typing import Protocol

from connectors.mllp.framing import Garbage, Oversize, Truncated
from connectors.mllp.server import PeerInfo
from hub.auth.model import PeerCertificate

log = logging.getLogger(__name__)


class Hl7Intake(Protocol):
    """What the source needs from the hub's intake."""

    async def receive_hl7(
        self, payload: bytes, peer: str, listener: str = ..., *,
        certificate: PeerCertificate | None = ...,
    ) -> bytes | None:
        """Store the message; return the ACK. ``certificate``: the connection's verified
        client certificate, which decides the source when one is bound to it."""
        ...

    async def reject_frame(self, prefix: bytes, size: int, peer: str, reason: str) -> bytes:
        """Journal a refused frame; return its AR."""
        ...


class MllpSource:
    """The :class:`~connectors.mllp.server.FrameHandler` of the hub's MLLP listener."""

    def __init__(self, intake: Hl7Intake) -> None:
        self._intake = intake
        self.garbage_bytes = 0
        self.truncated_frames = 0

    async def on_frame(self, payload: bytes, peer: PeerInfo) -> bytes | None:
        """Hand a complete frame, with the connection's client certificate, to the intake."""
        where = f"{peer.host}:{peer.port}"
        return await self._intake.receive_hl7(payload, where, peer.listener,
                                              certificate=peer.certificate)

    async def on_reject(
        self, event: Oversize | Truncated | Garbage, peer: PeerInfo
    ) -> bytes | None:
        """Answer what the framing layer refused."""
        where = f"{peer.host}:{peer.port}"
        if isinstance(event, Oversize):
            reason = str(event.to_error())
            log.warning("connection %d from %s: %s", peer.connection_id, peer.host, reason)
            return await self._intake.reject_frame(event.prefix, event.size, where, reason)
        if isinstance(event, Garbage):
            self.garbage_bytes += event.size
            log.info("connection %d: %d bytes outside a frame ignored", peer.connection_id,
                     event.size)
            return None
        self.truncated_frames += 1
        reason = f"connection closed inside a frame after {event.size} bytes; nothing was answered"
        log.info("connection %d: %s", peer.connection_id, reason)
        await self._intake.reject_frame(event.prefix, event.size, where, reason)
        return None
