"""The capture ring between libpcap's thread and the engine: bounded, ordered, drops counted."""

from __future__ import annotations

import threading

import numpy as np

from sensors.gather import PAD
from sensors.live.batch import chunks_to_batch
from sensors.live.ring import META_SIZE, Chunk, ChunkRing


def chunk(*packets: bytes, sec: int = 1_700_000_000) -> Chunk:
    meta = np.zeros((len(packets), 4), dtype=np.uint32)
    offset = 0
    for i, p in enumerate(packets):
        meta[i] = (sec, i * 10, offset, len(p))
        offset += len(p)
    return Chunk(b"".join(packets), meta.tobytes())


def test_a_full_ring_drops_whole_chunks_and_counts_their_packets() -> None:
    ring = ChunkRing(max_bytes=200)
    assert ring.put(chunk(b"a" * 50, b"b" * 50))  # 100 + 32 bytes
    assert not ring.put(chunk(b"c" * 60, b"d" * 10, b"e" * 10))
    assert ring.dropped_packets == 3 and ring.dropped_chunks == 1
    assert ring.bytes == 100 + 2 * META_SIZE


def test_take_keeps_order_and_the_packet_bound() -> None:
    ring = ChunkRing(max_bytes=10_000)
    for i in range(5):
        ring.put(chunk(bytes([i]) * 3, bytes([i]) * 4))
    first = ring.take(max_packets=4, wait=0)
    assert [c.data[0] for c in first] == [0, 1]
    rest = ring.take(max_packets=100, wait=0)
    assert [c.data[0] for c in rest] == [2, 3, 4]
    assert ring.bytes == 0
    # One chunk larger than the bound still comes out (alone): nothing gets stuck.
    ring.put(chunk(*[b"x"] * 10))
    assert len(ring.take(max_packets=4, wait=0)) == 1


def test_take_wakes_when_a_chunk_arrives_and_ends_after_close() -> None:
    ring = ChunkRing(max_bytes=10_000)
    got: list[list[Chunk]] = []
    reader = threading.Thread(target=lambda: got.append(ring.take(10, wait=30)))
    reader.start()
    ring.put(chunk(b"hello"))
    reader.join(timeout=30)
    assert got and got[0][0].data == b"hello"
    ring.close()
    assert ring.closed and ring.take(10, wait=30) == []


def test_chunks_become_one_batch_with_shifted_offsets_and_timestamps() -> None:
    a = chunk(b"AAAA", b"BB", sec=10)
    b = chunk(b"CCC", sec=11)
    batch = chunks_to_batch([a, b], linktype=1, first_frame=7, name="live:veth0")
    assert len(batch) == 3 and batch.capture == "live:veth0"
    assert [batch.frame_bytes(i) for i in range(3)] == [b"AAAA", b"BB", b"CCC"]
    assert batch.ts_ns.tolist() == [10_000_000_000, 10_000_010_000, 11_000_000_000]
    assert batch.frames.tolist() == [7, 8, 9]
    assert batch.linktype.tolist() == [1, 1, 1]
    # The decoder's contract: spare zero bytes after the last packet.
    assert len(batch.data) == 9 + PAD and not batch.data[9:].any()


def test_no_chunks_make_an_empty_batch_and_a_lying_record_is_refused() -> None:
    assert len(chunks_to_batch([], 1, 1, "x")) == 0
    meta = np.array([[1, 0, 2, 100]], dtype=np.uint32).tobytes()
    try:
        chunks_to_batch([Chunk(b"short", meta)], 1, 1, "x")
    except ValueError as exc:
        assert "past its chunk" in str(exc)
    else:
        raise AssertionError("a record past the chunk's bytes was accepted")
