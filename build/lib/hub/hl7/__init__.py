"""HL7 v2 toolkit for the hot path: ER7 parsing, field paths, ACKs; strict checks on demand.

``hub.hl7.strict`` imports hl7apy and is therefore not re-exported here.
"""

from hub.hl7.ack import ACK_CODES, HL7_TABLE_0357, AckReply, build_ack, parse_ack
from hub.hl7.er7 import Encoding, Message, Segment, detect_charset, parse
from hub.hl7.paths import Path, compile_path

__all__ = [
    "ACK_CODES",
    "HL7_TABLE_0357",
    "AckReply",
    "Encoding",
    "Message",
    "Path",
    "Segment",
    "build_ack",
    "compile_path",
    "detect_charset",
    "parse",
    "parse_ack",
]
