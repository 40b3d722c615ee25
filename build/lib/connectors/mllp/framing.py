"""MLLP framing: bytes in, frame events out, no sockets.

HL7 v2.5 Appendix C (MLLP release 1, kept by release 2): a message travels as
``<VT> payload <FS><CR>``, that is ``0x0B`` + payload + ``0x1C 0x0D``.

:class:`FrameDecoder` is a small state machine fed with whatever a socket read
returned (any split, several frames at once) and turns it into events:

- :class:`Frame` a complete payload;
- :class:`Garbage` bytes outside any frame, reported once per run;
- :class:`Oversize` a frame passed ``max_size``: reported once, the rest of
  that frame is discarded up to its end block, memory stays bounded;
- :class:`Truncated` (from :meth:`FrameDecoder.eof`) the stream ended inside a
  frame.

Two choices that go beyond the letter of the standard:

- a ``0x0B`` inside a frame is kept as payload (the frame ends only at
  ``0x1C 0x0D``); the parser above rejects such content with a clear answer;
- runs made only of whitespace between frames (the ``\\n`` some senders add
  after each end block) are dropped silently unless ``tolerate_whitespace`` is
  false.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from hub.errors import FramingError

START = b"\x0b"
END = b"\x1c\x0d"
_FS = 0x1C
_CR = 0x0D

#: How many leading bytes of a rejected frame are kept (for the journal).
PREFIX_KEEP = 64 * 1024
#: How many bytes of a run of garbage are kept.
GARBAGE_KEEP = 1024
#: Default read size for :func:`read_frames` and the server.
CHUNK_SIZE = 64 * 1024

_WHITESPACE = b" \t\r\n"


def frame(payload: bytes) -> bytes:
    """Wrap ``payload`` in an MLLP block: ``0x0B`` + payload + ``0x1C 0x0D``."""
    return START + payload + END


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete MLLP frame; ``payload`` is what was between the start and end blocks."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Garbage:
    """A run of bytes received outside any frame.

    ``data`` keeps at most the first :data:`GARBAGE_KEEP` bytes of the run,
    ``size`` is the length of the whole run (``len(data)`` when not given).
    """

    data: bytes
    size: int = -1

    def __post_init__(self) -> None:
        if self.size < 0:
            object.__setattr__(self, "size", len(self.data))

    def to_error(self) -> FramingError:
        """A :class:`FramingError` describing the event, without any of its bytes."""
        return FramingError(f"{self.size} bytes received outside an MLLP frame")


@dataclass(frozen=True, slots=True)
class Oversize:
    """A frame grew past the decoder's ``max_size``; the rest of it is discarded.

    ``prefix`` is the first :data:`PREFIX_KEEP` bytes of the payload, ``size``
    the number of payload bytes seen when the limit was detected (the full
    size when the end block arrived in the same read).
    """

    prefix: bytes
    size: int
    max_size: int = 0

    def to_error(self) -> FramingError:
        """A :class:`FramingError` describing the event, without any of its bytes."""
        return FramingError(
            f"MLLP frame of at least {self.size} bytes exceeds the limit of {self.max_size}"
        )


@dataclass(frozen=True, slots=True)
class Truncated:
    """The stream ended inside a frame (start block seen, no end block).

    ``prefix`` is the first :data:`PREFIX_KEEP` bytes received, ``size`` the
    number of payload bytes received.
    """

    prefix: bytes
    size: int

    def to_error(self) -> FramingError:
        """A :class:`FramingError` describing the event, without any of its bytes."""
        return FramingError(f"connection ended inside an MLLP frame after {self.size} bytes")


Reject = Oversize | Truncated | Garbage
FrameEvent = Frame | Oversize | Truncated | Garbage


class _State(enum.Enum):
    OUTSIDE = "outside"  # between frames, looking for a start block
    INSIDE = "inside"  # in a frame, collecting the payload
    DISCARDING = "discarding"  # in an oversize frame, skipping to its end block


class FrameDecoder:
    """Incremental MLLP decoder; see the module docstring for the events.

    Memory is bounded: the payload buffer never holds more than
    ``max_size + 1`` bytes (the extra byte being a ``0x1C`` that may start the
    end block), plus at most :data:`GARBAGE_KEEP` bytes of garbage.
    :attr:`buffered` and :attr:`peak_buffered` report what is held.
    """

    def __init__(self, max_size: int = 1_048_576, *, tolerate_whitespace: bool = True) -> None:
        if max_size < 1:
            raise ValueError(f"max_size is {max_size}, expected a positive number of bytes")
        self.max_size = max_size
        self.tolerate_whitespace = tolerate_whitespace
        self._state = _State.OUTSIDE
        self._buf = bytearray()
        self._garbage = bytearray()
        self._garbage_size = 0
        self._garbage_blank = True
        self._discard_after_fs = False
        self.peak_buffered = 0
        self._steps: dict[_State, Callable[[bytes, int, list[FrameEvent]], int]] = {
            _State.OUTSIDE: self._step_outside,
            _State.INSIDE: self._step_inside,
            _State.DISCARDING: self._step_discarding,
        }

    @property
    def buffered(self) -> int:
        """Bytes currently held by the decoder (payload in progress + kept garbage)."""
        return len(self._buf) + len(self._garbage)

    @property
    def in_frame(self) -> bool:
        """True between a start block and its end block (including a discarded frame)."""
        return self._state is not _State.OUTSIDE

    def feed(self, data: bytes) -> list[FrameEvent]:
        """Consume ``data`` (any split of the stream) and return the events it completes."""
        events: list[FrameEvent] = []
        pos, size = 0, len(data)
        while pos < size:
            pos = self._steps[self._state](data, pos, events)
        self.peak_buffered = max(self.peak_buffered, self.buffered)
        return events

    def eof(self) -> list[FrameEvent]:
        """Signal the end of the stream: report an unfinished frame or pending garbage."""
        events: list[FrameEvent] = []
        if self._state is _State.INSIDE:
            events.append(Truncated(bytes(self._buf[:PREFIX_KEEP]), len(self._buf)))
        self._flush_garbage(events)
        self._state = _State.OUTSIDE
        self._buf.clear()
        self._discard_after_fs = False
        return events

    # -- states: each consumes data from pos and returns the next position --

    def _step_outside(self, data: bytes, pos: int, events: list[FrameEvent]) -> int:
        start = data.find(START, pos)
        if start < 0:
            self._add_garbage(data[pos:])
            return len(data)
        if start > pos:
            self._add_garbage(data[pos:start])
        self._flush_garbage(events)
        self._state = _State.INSIDE
        return start + 1

    def _step_inside(self, data: bytes, pos: int, events: list[FrameEvent]) -> int:
        if self._buf and self._buf[-1] == _FS and data[pos] == _CR:
            # End block split across two reads: the 0x1C already buffered closes the frame.
            del self._buf[-1]
            self._finish_frame(events)
            return pos + 1
        end = data.find(END, pos)
        if end >= 0:
            return self._close_in_chunk(data, pos, end, events)
        return self._keep_partial(data, pos, events)

    def _step_discarding(self, data: bytes, pos: int, events: list[FrameEvent]) -> int:
        if self._discard_after_fs and data[pos] == _CR:
            return self._end_discard(pos + 1)
        end = data.find(END, pos)
        if end >= 0:
            return self._end_discard(end + 2)
        self._discard_after_fs = data[-1] == _FS
        return len(data)

    # -- helpers --

    def _close_in_chunk(self, data: bytes, pos: int, end: int, events: list[FrameEvent]) -> int:
        """The end block is at ``end`` in this chunk: emit the frame (or its rejection)."""
        size = len(self._buf) + end - pos
        if size > self.max_size:
            events.append(Oversize(self._prefix(data, pos, end), size, self.max_size))
            self._buf.clear()
            self._state = _State.OUTSIDE
        elif self._buf:
            self._buf += data[pos:end]
            self._finish_frame(events)
        else:
            events.append(Frame(data[pos:end]))
            self._state = _State.OUTSIDE
        return end + 2

    def _keep_partial(self, data: bytes, pos: int, events: list[FrameEvent]) -> int:
        """No end block in this chunk: buffer the rest, or switch to discarding if too large."""
        size = len(self._buf) + len(data) - pos
        # A trailing 0x1C may be the first half of the end block, not payload.
        confirmed = size - 1 if data[-1] == _FS else size
        if confirmed > self.max_size:
            stop = pos + confirmed - len(self._buf)
            events.append(Oversize(self._prefix(data, pos, stop), confirmed, self.max_size))
            self._buf.clear()
            self._state = _State.DISCARDING
            self._discard_after_fs = data[-1] == _FS
        else:
            self._buf += data[pos:] if pos else data
        return len(data)

    def _prefix(self, data: bytes, pos: int, stop: int) -> bytes:
        """The first :data:`PREFIX_KEEP` payload bytes: buffered part, then ``data[pos:stop]``."""
        if len(self._buf) >= PREFIX_KEEP:
            return bytes(self._buf[:PREFIX_KEEP])
        return bytes(self._buf) + data[pos : min(stop, pos + PREFIX_KEEP - len(self._buf))]

    def _finish_frame(self, events: list[FrameEvent]) -> None:
        events.append(Frame(bytes(self._buf)))
        self._buf.clear()
        self._state = _State.OUTSIDE

    def _end_discard(self, pos: int) -> int:
        self._state = _State.OUTSIDE
        self._discard_after_fs = False
        return pos

    def _add_garbage(self, chunk: bytes) -> None:
        room = GARBAGE_KEEP - len(self._garbage)
        if room > 0:
            self._garbage += chunk[:room]
        self._garbage_size += len(chunk)
        if self._garbage_blank and chunk.strip(_WHITESPACE):
            self._garbage_blank = False

    def _flush_garbage(self, events: list[FrameEvent]) -> None:
        if self._garbage_size and not (self.tolerate_whitespace and self._garbage_blank):
            events.append(Garbage(bytes(self._garbage), self._garbage_size))
        self._garbage.clear()
        self._garbage_size = 0
        self._garbage_blank = True


async def read_frames(
    reader: asyncio.StreamReader,
    decoder: FrameDecoder,
    chunk_size: int = CHUNK_SIZE,
) -> AsyncIterator[FrameEvent]:
    """Yield the events decoded from ``reader`` until end of stream, then those of ``eof()``."""
    while data := await reader.read(chunk_size):
        for event in decoder.feed(data):
            yield event
    for event in decoder.eof():
        yield event
