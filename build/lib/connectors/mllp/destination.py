"""The ``mllp`` destination: forward a message downstream and read its ACK.

One connection per lane, reused. AA/CA is success; AE/CE and AR/CR follow the
destination's ``on_ae`` / ``on_ar`` settings (retry or park); a timeout, a
refused or reset connection is transient. A reply that is not an ACK is
transient too (the downstream may be restarting), and the connection is
dropped so that the next attempt starts clean.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from connectors.mllp.client import MLLPClient, MLLPError
from connectors.mllp.tls import client_context
from hub.config import MllpDestination as MllpSettings
from hub.delivery import DeliveryJob
from hub.errors import ParseError, PermanentDeliveryError, TransientDeliveryError
from hub.hl7.ack import parse_ack


class MllpDestination:
    """Delivers over MLLP to ``host:port``."""

    def __init__(self, name: str, settings: MllpSettings, data_dir: Path) -> None:
        self.name = name
        self.settings = settings
        self.lanes = settings.connections
        self.ordered = settings.ordered
        self.retry = settings.retry
        self._clients: list[MLLPClient] = []

    async def start(self) -> None:
        """Prepare one client per lane (connections open lazily)."""
        s = self.settings
        ssl = None
        if s.tls is not None:
            ssl = client_context(
                cafile=str(s.tls.cafile) if s.tls.cafile else None,
                certfile=str(s.tls.certfile) if s.tls.certfile else None,
                keyfile=str(s.tls.keyfile) if s.tls.keyfile else None,
                verify=s.tls.verify,
            )
        self._clients = [
            MLLPClient(s.host, s.port, ssl=ssl, response_timeout_s=s.timeout_s)
            for _ in range(self.lanes)
        ]

    async def close(self) -> None:
        """Close every connection."""
        await asyncio.gather(*(c.close() for c in self._clients), return_exceptions=True)

    async def deliver(self, job: DeliveryJob) -> str:
        """Send the message on the job's lane; return the ACK code."""
        client = self._clients[job.lane % len(self._clients)]
        try:
            reply_bytes = await client.send(job.payload)
        except (TimeoutError, MLLPError, OSError) as exc:
            await client.close()
            raise TransientDeliveryError(
                f"{self.settings.host}:{self.settings.port}: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            reply = parse_ack(reply_bytes)
        except ParseError as exc:
            await client.close()
            raise TransientDeliveryError(f"downstream answered something that is not an ACK: "
                                         f"{exc}") from exc
        return self._judge(reply.code, reply.text, reply.error_code)

    def _judge(self, code: str, text: str, error_code: str) -> str:
        if code in ("AA", "CA"):
            return code
        policy = self.settings.on_ar if code in ("AR", "CR") else self.settings.on_ae
        detail = f"downstream answered {code}" + (f" ({error_code})" if error_code else "")
        detail += f": {text}" if text else ""
        if policy == "park":
            raise PermanentDeliveryError(detail)
        raise TransientDeliveryError(detail)
