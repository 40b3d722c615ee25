"""MLLP framing fed with bytes: no sockets."""

from __future__ import annotations

import asyncio
import random

import pytest

from connectors.mllp.framing import (
    END,
    GARBAGE_KEEP,
    PREFIX_KEEP,
    START,
    Frame,
    FrameDecoder,
    FrameEvent,
    Garbage,
    Oversize,
    Truncated,
    frame,
    read_frames,
)
from hub.errors import FramingError

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"
MSG = b"MSH|^~\\&|LAB|HOSP|HUB|GRADES|20240101120000||ORU^R01|42|P|2.5\rPID|1||123^^^HOSP"


def feed_all(decoder: FrameDecoder, chunks: list[bytes]) -> list[FrameEvent]:
    events: list[FrameEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events


CASES = [
    pytest.param([frame(MSG)], [Frame(MSG)], id="one-frame"),
    pytest.param([frame(b"A") + frame(b"B")], [Frame(b"A"), Frame(b"B")], id="two-frames-one-feed"),
    pytest.param([VT + b"abc" + FS, CR], [Frame(b"abc")], id="end-split-across-feeds"),
    pytest.param(
        [VT + b"abc", FS, CR + frame(b"d")],
        [Frame(b"abc"), Frame(b"d")],
        id="end-split-three-feeds",
    ),
    pytest.param([frame(b"ab" + FS + b"cd")], [Frame(b"ab\x1ccd")], id="fs-inside-payload"),
    pytest.param([VT + b"ab" + FS, b"cd" + END], [Frame(b"ab\x1ccd")], id="fs-at-feed-end-is-data"),
    pytest.param([frame(b"a" + CR + FS + FS)], [Frame(b"a\r\x1c\x1c")], id="fs-run-before-end"),
    pytest.param([frame(b"a" + VT + b"b")], [Frame(b"a\x0bb")], id="vt-inside-payload-is-data"),
    pytest.param([b"junk" + frame(b"A")], [Garbage(b"junk"), Frame(b"A")], id="garbage-first"),
    pytest.param(
        [b"ju", b"nk", frame(b"A")],
        [Garbage(b"junk", 4), Frame(b"A")],
        id="garbage-run-reported-once",
    ),
    pytest.param(
        [frame(b"A") + b"xx" + frame(b"B")],
        [Frame(b"A"), Garbage(b"xx"), Frame(b"B")],
        id="garbage-between-frames",
    ),
    pytest.param(
        [frame(b"A") + b"\r\n" + frame(b"B")],
        [Frame(b"A"), Frame(b"B")],
        id="newline-between-frames-tolerated",
    ),
    pytest.param([frame(b"")], [Frame(b"")], id="empty-payload"),
    pytest.param(
        [frame(b"123456") + frame(b"ok")],
        [Oversize(b"123456", 6, 4), Frame(b"ok")],
        id="oversize-in-one-feed-then-next-frame",
    ),
    pytest.param(
        [VT + b"12345", b"6789", FS, CR + frame(b"ok")],
        [Oversize(b"12345", 5, 4), Frame(b"ok")],
        id="oversize-discarded-then-next-frame",
    ),
    pytest.param(
        [VT + b"12345" + FS + b"x", END + frame(b"ok")],
        [Oversize(b"12345\x1cx", 7, 4), Frame(b"ok")],
        id="oversize-fs-in-discarded",
    ),
    pytest.param(
        [VT + b"12345", b"x" + FS, b"y" + FS, FS, CR + frame(b"ok")],
        [Oversize(b"12345", 5, 4), Frame(b"ok")],
        id="oversize-fs-alone-while-discarding",
    ),
    pytest.param([VT + b"1234" + FS, CR], [Frame(b"1234")], id="exactly-max-size-with-split-end"),
    pytest.param(
        [VT + b"1234" + FS, b"5" + END],
        [Oversize(b"1234\x1c5", 6, 4)],
        id="trailing-fs-was-payload-after-all",
    ),
]


@pytest.mark.parametrize(("chunks", "expected"), CASES)
def test_feed(chunks: list[bytes], expected: list[FrameEvent]) -> None:
    decoder = FrameDecoder(max_size=4 if any(isinstance(e, Oversize) for e in expected) else 1024)
    assert feed_all(decoder, chunks) == expected
    assert decoder.eof() == []


def test_exactly_max_size_in_one_feed() -> None:
    assert FrameDecoder(max_size=4).feed(frame(b"1234")) == [Frame(b"1234")]


STREAM = frame(MSG) + frame(b"x" + FS + b"y") + frame(b"")
STREAM_FRAMES = [Frame(MSG), Frame(b"x\x1cy"), Frame(b"")]


@pytest.mark.parametrize("split", range(len(STREAM) + 1))
def test_split_at_every_position(split: int) -> None:
    decoder = FrameDecoder()
    assert feed_all(decoder, [STREAM[:split], STREAM[split:]]) == STREAM_FRAMES
    assert decoder.buffered == 0


def test_one_byte_at_a_time() -> None:
    decoder = FrameDecoder()
    chunks = [STREAM[i : i + 1] for i in range(len(STREAM))]
    assert feed_all(decoder, chunks) == STREAM_FRAMES


def test_random_splits_of_many_frames() -> None:
    rng = random.Random(1234)
    payloads = [rng.randbytes(rng.randrange(0, 3000)).replace(FS + CR, b"") for _ in range(200)]
    stream = b"".join(frame(p) for p in payloads)
    cuts = sorted(rng.sample(range(1, len(stream)), 500))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    events = feed_all(FrameDecoder(), chunks)
    assert [e for e in events if isinstance(e, Frame)] == [Frame(p) for p in payloads]


def test_truncated_at_eof() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(frame(b"ok") + VT + b"partial" + FS) == [Frame(b"ok")]
    assert decoder.eof() == [Truncated(b"partial\x1c", 8)]
    assert decoder.buffered == 0
    assert decoder.feed(frame(b"again")) == [Frame(b"again")]


def test_truncated_prefix_is_capped() -> None:
    decoder = FrameDecoder(max_size=200_000)
    decoder.feed(VT + b"p" * 100_000)
    [event] = decoder.eof()
    assert isinstance(event, Truncated)
    assert (len(event.prefix), event.size) == (PREFIX_KEEP, 100_000)


def test_garbage_flushed_at_eof_and_capped() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"g" * 5000) == []
    assert decoder.buffered == GARBAGE_KEEP
    assert decoder.eof() == [Garbage(b"g" * GARBAGE_KEEP, 5000)]


def test_whitespace_reported_when_not_tolerated() -> None:
    decoder = FrameDecoder(tolerate_whitespace=False)
    assert decoder.feed(b"\r\n" + frame(b"A")) == [Garbage(b"\r\n"), Frame(b"A")]


def test_eof_while_discarding_reports_nothing_more() -> None:
    decoder = FrameDecoder(max_size=4)
    assert decoder.feed(VT + b"123456") == [Oversize(b"123456", 6, 4)]
    assert decoder.eof() == []


def test_oversize_memory_stays_bounded() -> None:
    max_size = 1_048_576
    decoder = FrameDecoder(max_size=max_size)
    data = frame(b"z" * 20_000_000) + frame(b"next")
    events = feed_all(decoder, [data[i : i + 65536] for i in range(0, len(data), 65536)])
    assert [type(e) for e in events] == [Oversize, Frame]
    oversize = events[0]
    assert isinstance(oversize, Oversize)
    assert len(oversize.prefix) == PREFIX_KEEP and oversize.size > max_size
    assert events[1] == Frame(b"next")
    assert decoder.peak_buffered <= max_size + 1


def test_events_describe_themselves_without_content() -> None:
    for event in (Oversize(b"secret", 10, 4), Truncated(b"secret", 6), Garbage(b"secret")):
        error = event.to_error()
        assert isinstance(error, FramingError)
        assert "secret" not in str(error)


def test_frame_function() -> None:
    assert frame(b"abc") == START + b"abc" + END == b"\x0babc\x1c\x0d"


def test_rejects_bad_max_size() -> None:
    with pytest.raises(ValueError, match="max_size"):
        FrameDecoder(max_size=0)


async def test_read_frames_from_stream_reader() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"x" + frame(b"one") + VT + b"tw")
    reader.feed_data(b"o" + END + VT + b"cut")
    reader.feed_eof()
    events = [event async for event in read_frames(reader, FrameDecoder())]
    assert events == [Garbage(b"x"), Frame(b"one"), Frame(b"two"), Truncated(b"cut", 3)]
