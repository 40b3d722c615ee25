"""Senders and readers for the end-to-end tests.

- :class:`ThirdPartyClient`: python-hl7's blocking ``hl7.client.MLLPClient``, a
  client the hub did not write (use it from ``asyncio.to_thread``). Its
  ``send`` returns what one ``recv`` gave; :meth:`ThirdPartyClient.send`
  reads on until the end block so that a split ACK is not taken for a whole one.
- :class:`RawConnection`: a plain socket for hostile input (unframed bytes,
  truncated frames, huge frames).
- :func:`read_reply`: the fields of an acknowledgment the tests look at.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from types import TracebackType

import hl7
import hl7.client

from hub.hl7.er7 import parse

START, END = b"\x0b", b"\x1c\x0d"


def unframe(data: bytes) -> bytes:
    """The payload of one MLLP block (``0x0B`` payload ``0x1C 0x0D``)."""
    assert data.startswith(START) and data.endswith(END), f"not one MLLP block: {data[:80]!r}"
    return data[1:-2]


def _recv_block(sock: socket.socket, data: bytes = b"") -> bytes:
    """Read until ``data`` ends with the MLLP end block."""
    while not data.endswith(END):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before the end block (got {data[:80]!r})")
        data += chunk
    return data


class ThirdPartyClient:
    """python-hl7's MLLP client with a socket timeout; ``send`` returns the unframed reply."""

    def __init__(self, host: str, port: int, timeout_s: float = 15.0) -> None:
        self._client = hl7.client.MLLPClient(host, port)
        self._client.socket.settimeout(timeout_s)

    def send(self, payload: bytes) -> bytes:
        """Send one message (bytes, already encoded) and return the ACK payload."""
        first = self._client.send_message(payload)
        return unframe(_recv_block(self._client.socket, first))

    def close(self) -> None:
        """Close the connection."""
        self._client.close()

    def __enter__(self) -> ThirdPartyClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def send_once(port: int, payload: bytes, timeout_s: float = 15.0) -> bytes:
    """Open a python-hl7 connection, send one message, return the ACK, close."""
    with ThirdPartyClient("127.0.0.1", port, timeout_s) as client:
        return client.send(payload)


class RawConnection:
    """A plain TCP connection to the hub for input no well-behaved client would send."""

    def __init__(self, port: int, timeout_s: float = 15.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)

    def send_raw(self, data: bytes) -> None:
        """Write ``data`` as is."""
        self.sock.sendall(data)

    def exchange(self, payload: bytes) -> bytes:
        """Send one framed message and return the reply payload."""
        self.sock.sendall(START + payload + END)
        return self.read_reply()

    def read_reply(self) -> bytes:
        """The next reply frame's payload."""
        return unframe(_recv_block(self.sock))

    def closed_by_peer(self) -> bool:
        """True when the hub has closed its side (reads end of stream)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Reply:
    """The parts of an acknowledgment the tests check."""

    raw: bytes
    code: str
    acked_control_id: str
    control_id: str
    text: str
    err_segment: str
    err_field: str
    err_code: str


def read_reply(raw: bytes) -> Reply:
    """MSA-1, MSA-2, MSH-10, MSA-3, ERR-2.1 / ERR-2.3 and ERR-3.1 of an ACK."""
    message = parse(raw, check_header=False)
    return Reply(
        raw=raw,
        code=message.first("MSA-1"),
        acked_control_id=message.first("MSA-2"),
        control_id=message.first("MSH-10"),
        text=message.first("MSA-3") or message.first("ERR-8"),
        err_segment=message.first("ERR-2.1"),
        err_field=message.first("ERR-2.3"),
        err_code=message.first("ERR-3.1"),
    )


def msa_by_python_hl7(raw: bytes, charset: str = "utf-8") -> tuple[str, str]:
    """MSA-1 and MSA-2 as python-hl7 reads them (a second, independent reader)."""
    message = hl7.parse(raw.decode(charset))
    msa = message.segment("MSA")
    return str(msa(1)), str(msa(2))


async def send(port: int, payload: bytes, timeout_s: float = 15.0) -> Reply:
    """Send one message with python-hl7 (in a thread) and read its ACK."""
    return read_reply(await asyncio.to_thread(send_once, port, payload, timeout_s))
