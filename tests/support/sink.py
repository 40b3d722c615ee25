"""A downstream MLLP receiver for end-to-end tests: records, answers, deduplicates.

:class:`MllpSink` is what a regional service behind the hub looks like on the
wire: an MLLP listener (:class:`connectors.mllp.server.MLLPServer`) that
answers every message with a general acknowledgment whose MSA-2 is the
received MSH-10 (HL7 v2.5 2.9.2.2), built with :func:`hub.hl7.ack.build_ack`.

Receiver-side duplicate detection is the standard one (HL7 v2.5 2.10.1: the
sender, MSH-3 + MSH-4, and the message control id MSH-10): a message is
*accepted* the first time it is answered AA/CA; the same key received again is
a *resend*, counted and answered AA again. A message answered AE/AR was not
accepted, so receiving it again is not a resend.

Behaviour on demand:

- ``sink.script("MSG-1", "AE", "AA")``: answer MSG-1 AE the first time, then AA;
- ``sink.default_answer = "silent"``: answer nothing (the sender times out);
- ``await sink.stop()`` / ``await sink.start()``: go down, come back on the same port.

Run it in the test's event loop (``async with MllpSink() as sink``) or in a
thread with its own loop (:class:`SinkThread`), which is the shape to use
when the test itself blocks (sync fixtures shared by a module). Every reader
of the recorded state takes a lock, so a test thread may read while the
sink's loop writes.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from connectors.mllp.framing import END, START, Reject
from connectors.mllp.server import MLLPServer, PeerInfo
from hub.errors import ParseError
from hub.hl7.ack import build_ack
from hub.hl7.er7 import Message, parse

ANSWERS = frozenset({"AA", "AE", "AR", "silent"})
"""What a sink can be told to answer (the enhanced-mode C* code is chosen by MSH-15)."""

_ENHANCED = {"AA": "CA", "AE": "CE", "AR": "CR"}
_RECEIVING = ("SINK", "E2E")

Key = tuple[str, str]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Received:
    """One frame as the sink got it and what it answered (``None``: nothing)."""

    payload: bytes
    key: Key | None
    answer: str | None
    resend: bool
    at: float
    peer: str


def message_key(message: Message) -> Key:
    """The duplicate-detection key: ``MSH-3|MSH-4`` and MSH-10."""
    return f"{message.sending_application}|{message.sending_facility}", message.control_id


def _timestamp() -> str:
    return time.strftime("%Y%m%d%H%M%S")


class MllpSink:
    """An MLLP listener that records every message and answers as told."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        record_file: Path | None = None,
        max_message_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.host = host
        self._port = port
        self.record_file = record_file
        self.max_message_bytes = max_message_bytes
        self.default_answer = "AA"
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[str]] = {}
        self._received: list[Received] = []
        self._accepted: dict[Key, bytes] = {}
        self._resends = 0
        self._conflicts = 0
        self._ids = itertools.count(1)
        self._server: MLLPServer | None = None

    # -- life cycle -----------------------------------------------------------

    async def start(self) -> None:
        """Listen (again) on the port of the previous start, or ``port``."""
        if self._server is not None:
            return
        server = MLLPServer(self, host=self.host, port=self._port, name="sink",
                            max_message_bytes=self.max_message_bytes)
        await server.start()
        self._port = server.port
        self._server = server

    async def stop(self) -> None:
        """Stop listening and drop every connection (the recorded state is kept)."""
        server, self._server = self._server, None
        if server is not None:
            await server.close(grace_s=1.0)

    async def __aenter__(self) -> MllpSink:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The listening port (kept across stop/start)."""
        if not self._port:
            raise RuntimeError("the sink was never started")
        return self._port

    @property
    def running(self) -> bool:
        """True while listening."""
        return self._server is not None

    # -- what to answer ---------------------------------------------------------

    def script(self, control_id: str, *answers: str) -> None:
        """Answer the next receptions of ``control_id`` with ``answers``, in turn."""
        unknown = set(answers) - ANSWERS
        if unknown:
            raise ValueError(f"unknown answers {sorted(unknown)}, expected {sorted(ANSWERS)}")
        with self._lock:
            self._scripts.setdefault(control_id, deque()).extend(answers)

    def _next_answer(self, control_id: str) -> str:
        queue = self._scripts.get(control_id)
        if queue:
            return queue.popleft()
        return self.default_answer

    # -- recorded state (thread-safe snapshots) -------------------------------------

    @property
    def received(self) -> list[Received]:
        """Every frame received, in arrival order."""
        with self._lock:
            return list(self._received)

    @property
    def accepted(self) -> dict[Key, bytes]:
        """Distinct messages answered AA/CA, in order of first acceptance."""
        with self._lock:
            return dict(self._accepted)

    @property
    def accepted_count(self) -> int:
        """How many distinct messages were accepted."""
        with self._lock:
            return len(self._accepted)

    @property
    def resends(self) -> int:
        """Receptions of a message already accepted (answered AA again)."""
        with self._lock:
            return self._resends

    @property
    def conflicts(self) -> int:
        """Receptions of an accepted key with different bytes (a forwarder bug)."""
        with self._lock:
            return self._conflicts

    def accepted_payload(self, control_id: str) -> bytes | None:
        """The accepted bytes of ``control_id`` (any sender), or None."""
        with self._lock:
            for (_, cid), payload in self._accepted.items():
                if cid == control_id:
                    return payload
        return None

    def received_count(self, control_id: str) -> int:
        """How many times a frame with MSH-10 ``control_id`` arrived."""
        with self._lock:
            return sum(1 for r in self._received if r.key is not None and r.key[1] == control_id)

    # -- FrameHandler -------------------------------------------------------------

    async def on_frame(self, payload: bytes, peer: PeerInfo) -> bytes | None:
        """Record the frame, detect duplicates, answer as scripted."""
        try:
            message = parse(payload)
        except ParseError as exc:
            self._record(Received(payload, None, "AR", False, time.time(), peer.host))
            return build_ack(None, "AR", control_id=self._control_id(), timestamp=_timestamp(),
                             error=exc, receiving=_RECEIVING, raw_fallback=payload)
        key = message_key(message)
        with self._lock:
            previous = self._accepted.get(key)
            answer = "AA" if previous is not None else self._next_answer(key[1])
            resend = previous is not None
            if resend:
                self._resends += 1
                if previous != payload:
                    self._conflicts += 1
            elif answer == "AA":
                self._accepted[key] = payload
            self._append(Received(payload, key, None if answer == "silent" else answer,
                                  resend, time.time(), peer.host))
        return self._ack(message, answer)

    async def on_reject(self, event: Reject, peer: PeerInfo) -> bytes | None:
        """Framing problems are not expected from the hub: answer nothing."""
        return None

    def _ack(self, message: Message, answer: str) -> bytes | None:
        if answer == "silent":
            return None
        code = _ENHANCED[answer] if message.accept_ack_type else answer
        text = "" if answer == "AA" else f"the sink was told to answer {answer}"
        return build_ack(message, code, control_id=self._control_id(), timestamp=_timestamp(),
                         text=text, receiving=_RECEIVING)

    def _control_id(self) -> str:
        return f"SINK{next(self._ids):08d}"

    def _record(self, item: Received) -> None:
        with self._lock:
            self._append(item)

    def _append(self, item: Received) -> None:
        """Keep ``item`` (the lock is held) and append it, framed, to the record file."""
        self._received.append(item)
        if self.record_file is not None:
            with self.record_file.open("ab") as handle:
                handle.write(START + item.payload + END)


class SinkThread:
    """An :class:`MllpSink` served by its own event loop in a daemon thread.

    Use it from synchronous code or from fixtures shared across tests (each
    test then has its own loop); the sink's state is read through ``.sink``.
    """

    def __init__(self, **options: Any) -> None:
        self.sink = MllpSink(**options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mllp-sink",
                                        daemon=True)
        self._thread.start()

    def _call(self, factory: Callable[[], Any], timeout_s: float = 10.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(factory(), self._loop)
        return future.result(timeout_s)

    def start(self) -> SinkThread:
        """Start (or restart, on the same port) listening."""
        self._call(self.sink.start)
        return self

    def stop(self) -> None:
        """Stop listening; the port is kept for the next :meth:`start`."""
        self._call(self.sink.stop)

    def close(self) -> None:
        """Stop listening and end the thread."""
        if not self._thread.is_alive():
            return
        try:
            self._call(self.sink.stop)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    @property
    def port(self) -> int:
        """The sink's port."""
        return self.sink.port

    def __enter__(self) -> SinkThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
