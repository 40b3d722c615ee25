"""MLLP transport (HL7 v2 Appendix C): framing, asyncio server and client, TLS contexts."""

from connectors.mllp.client import (
    MLLPClient,
    MLLPConnectError,
    MLLPConnectionClosed,
    MLLPError,
    MLLPTimeout,
)
from connectors.mllp.framing import (
    END,
    START,
    Frame,
    FrameDecoder,
    FrameEvent,
    Garbage,
    Oversize,
    Reject,
    Truncated,
    frame,
    read_frames,
)
from connectors.mllp.server import FrameHandler, MLLPServer, PeerInfo

__all__ = [
    "END",
    "START",
    "Frame",
    "FrameDecoder",
    "FrameEvent",
    "FrameHandler",
    "Garbage",
    "MLLPClient",
    "MLLPConnectError",
    "MLLPConnectionClosed",
    "MLLPError",
    "MLLPServer",
    "MLLPTimeout",
    "Oversize",
    "PeerInfo",
    "Reject",
    "Truncated",
    "frame",
    "read_frames",
]
