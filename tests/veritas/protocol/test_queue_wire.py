"""The parent reads ``multiprocessing.connection``'s frames byte for byte: what
``Connection.send_bytes`` writes, ``FrameDecoder`` cuts into the same messages however the
bytes are split, and what ``frame`` writes, ``Connection.recv_bytes`` reads."""

from __future__ import annotations

import asyncio
import os
import pickle
import random
import socket
import threading
from multiprocessing.connection import Connection

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veritas.protocol.event import ProgressEvent
from veritas.protocol.queue_wire import (
    FrameDecoder,
    FrameError,
    FrameProtocol,
    batch_frame,
    decode_batch,
    encode_batch,
    frame,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="the loop reads sockets on POSIX")
SIZES = [0, 1, 5, 16_384, 16_385, 3 << 20]
MESSAGES = [bytes([i % 251]) * n for i, n in enumerate(SIZES)]


def _wire(messages: list[bytes]) -> bytes:
    """The bytes the running interpreter's ``send_bytes`` puts on a socket for *messages*."""
    ours, theirs = socket.socketpair()
    conn = Connection(theirs.detach())
    received = bytearray()

    def drain() -> None:
        while chunk := ours.recv(1 << 20):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    for message in messages:
        conn.send_bytes(message)
    conn.close()
    reader.join()
    ours.close()
    return bytes(received)


@pytest.mark.parametrize("chunk", [1, 3, 4096, 65_536, None], ids=lambda c: f"chunk-{c}")
def test_the_decoder_cuts_send_bytes_frames_however_they_are_split(chunk: int | None) -> None:
    wire = _wire(MESSAGES if chunk != 1 else MESSAGES[:5])  # one byte at a time: small only
    decoder = FrameDecoder()
    got: list[bytes] = []
    step = chunk or len(wire)
    for at in range(0, len(wire), step):
        got += decoder.feed(wire[at : at + step])
    assert got == (MESSAGES if chunk != 1 else MESSAGES[:5])
    assert decoder.pending == 0


def test_the_decoder_keeps_a_partial_frame_until_it_is_whole() -> None:
    wire = _wire([b"abc", b"defgh"])
    decoder = FrameDecoder()
    assert decoder.feed(wire[:9]) == [b"abc"]  # 4 + 3, then 2 bytes of the next header
    assert decoder.pending == 2
    assert decoder.feed(wire[9:14]) == []
    assert decoder.feed(wire[14:]) == [b"defgh"]
    assert decoder.pending == 0


def test_the_decoder_reads_the_long_form_header() -> None:
    long_form = (-1).to_bytes(4, "big", signed=True) + (6).to_bytes(8, "big") + b"longer"
    assert FrameDecoder().feed(long_form + frame(b"x")) == [b"longer", b"x"]


def test_the_decoder_refuses_a_negative_length_naming_it() -> None:
    with pytest.raises(FrameError, match=r"bad frame length -7 \(accepted: 0 or more, or -1\)"):
        FrameDecoder().feed((-7).to_bytes(4, "big", signed=True) + b"rest")


def test_frames_written_by_frame_are_read_by_recv_bytes() -> None:
    ours, theirs = socket.socketpair()
    conn = Connection(theirs.detach())

    def send_all() -> None:
        for message in MESSAGES:
            ours.sendall(frame(message))

    sender = threading.Thread(target=send_all)
    sender.start()
    got = [conn.recv_bytes() for _ in MESSAGES]
    sender.join()
    ours.close()
    conn.close()
    assert got == MESSAGES


@posix_only
def test_the_protocol_hands_on_what_send_bytes_wrote_and_stops_when_told() -> None:
    ours, theirs = socket.socketpair()
    conn = Connection(theirs.detach())
    got: list[bytes | bytearray] = []
    closed: list[str | None] = []
    stop = b"stop"

    def on_message(message: bytes | bytearray) -> bool:
        got.append(message)
        return message != stop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        protocol = FrameProtocol(on_message, closed.append)
        await loop.connect_accepted_socket(lambda: protocol, ours)

        def child() -> None:
            for message in [*MESSAGES, stop, b"after the end"]:
                conn.send_bytes(message)
            protocol_wrote.append(conn.recv_bytes())  # the protocol can still write back
            conn.close()

        protocol_wrote: list[bytes] = []
        sending = asyncio.create_task(asyncio.to_thread(child))
        while stop not in got:
            await asyncio.sleep(0.01)
        protocol.write(b"ack")
        await sending
        assert protocol_wrote == [b"ack"]
        assert protocol.transport is not None
        protocol.transport.close()

    asyncio.run(main())
    assert got == [*MESSAGES, stop]
    assert closed == []  # stopping on purpose is not a broken stream


@posix_only
def test_the_protocol_reports_a_stream_that_breaks_mid_frame() -> None:
    ours, theirs = socket.socketpair()
    closed: list[str | None] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        protocol = FrameProtocol(lambda m: True, closed.append)
        await loop.connect_accepted_socket(lambda: protocol, ours)
        theirs.sendall(frame(b"whole") + frame(b"cut off")[:6])
        theirs.close()
        for _ in range(200):
            if closed:
                break
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert closed == ["queue closed without end of stream"]


def test_the_decoder_agrees_with_recv_bytes_on_random_streams() -> None:
    rng = random.Random(20261124)
    messages = [rng.randbytes(rng.choice([0, 1, 100, 20_000, 70_000])) for _ in range(60)]
    wire = _wire(messages)
    decoder = FrameDecoder()
    got: list[bytes] = []
    at = 0
    while at < len(wire):
        step = rng.randint(1, 50_000)
        got += decoder.feed(wire[at : at + step])
        at += step
    assert got == messages


@posix_only
def test_a_failed_write_never_stops_the_reading() -> None:
    """A child killed with data unread and an acknowledgement on its way: the write fails,
    and every frame it wrote is still read, then the end is reported with the write error."""
    ours, theirs = socket.socketpair()
    messages = [bytes([i]) * 1000 for i in range(100)]
    theirs.sendall(b"".join(frame(m) for m in messages))
    theirs.close()  # as a killed child's socket: gone both ways, its data still to be read
    got: list[bytes | bytearray] = []
    closed: list[str | None] = []

    def on_message(message: bytes | bytearray) -> bool:
        got.append(message)
        if len(got) == 1:
            protocol.write(b"ack")  # the peer is gone: this write fails
        return True

    protocol = FrameProtocol(on_message, closed.append, scratch=4096)  # many reads, not one

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.connect_accepted_socket(lambda: protocol, ours)
        for _ in range(500):
            if closed:
                break
            await asyncio.sleep(0.01)
        assert protocol.transport is not None
        protocol.transport.close()

    asyncio.run(main())
    assert got == messages
    assert protocol.write_error is not None and "BrokenPipeError" in protocol.write_error
    assert closed == [
        f"queue closed without end of stream (acknowledgements stopped: {protocol.write_error})"
    ]


def test_a_frame_larger_than_the_scratch_is_read_straight_into_its_own_buffer() -> None:
    decoder = FrameDecoder(scratch=64)
    big, small = bytes(range(256)) * 4, b"after"
    wire = memoryview(frame(big) + frame(small))
    got: list[bytes | bytearray] = []
    sizes: list[int] = []
    while wire:
        buffer = decoder.get_buffer()
        sizes.append(len(buffer))
        n = min(len(buffer), len(wire))
        buffer[:n] = wire[:n]
        got += decoder.buffer_updated(n)
        wire = wire[n:]
    assert got == [big, small]
    assert isinstance(got[0], bytearray)  # handed on as read, not copied into bytes
    # After the first 64 bytes (header and 60 of the frame), one read takes the rest of it.
    assert sizes[:2] == [64, len(big) - 60]
    assert decoder.pending == 0


events_st = st.lists(
    st.builds(
        ProgressEvent,
        audit_id=st.text(),
        seq=st.integers(min_value=0),
        type=st.just("log"),
        phase=st.just("scout"),
        step=st.text(),
        pct=st.floats(0, 100) | st.just(-0.0),
        detail=st.text() | st.sampled_from(["\ud83d\ude00", "\x00", "\ud800"]),
        summary=st.dictionaries(st.text(), st.integers() | st.floats(allow_nan=False)),
        data=st.none() | st.binary() | st.binary(min_size=70_000, max_size=300_000),
        timestamp=st.floats(allow_nan=False),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=40, deadline=None)
@given(events_st)
def test_a_batch_decodes_the_same_from_bytes_and_from_a_frame_buffer(
    events: list[ProgressEvent],
) -> None:
    message = encode_batch(events)
    for received in (message, bytearray(message)):
        decoded = decode_batch(received)
        assert [pickle.dumps(e.as_tuple()) for e in decoded] == [
            pickle.dumps(e.as_tuple()) for e in events
        ]
        assert all(type(e.data) is bytes for e in decoded if e.data is not None)
    parts = batch_frame(events)
    assert b"".join(parts) == frame(message)
    assert len(parts) == (1 if len(message) <= 0xFFFF else 2)  # a large body is not copied
