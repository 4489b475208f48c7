"""Chunks from libpcap's ``next_batch`` as one ``PacketBatch``: joined once, numpy views."""

from __future__ import annotations

import numpy as np

from sensors.gather import PAD
from sensors.live.ring import Chunk
from sensors.sources.batch import PacketBatch


def chunks_to_batch(chunks: list[Chunk], linktype: int, first_frame: int, name: str) -> PacketBatch:
    """One batch of the chunks' packets, in order. A chunk's records are ``(sec, usec, offset,
    caplen)`` as native uint32, its offsets relative to its own bytes."""
    if not chunks:
        chunks = [Chunk(b"", b"")]
    meta = np.frombuffer(b"".join(c.meta for c in chunks), dtype=np.uint32).reshape(-1, 4)
    # The decoder reads fields of every packet at once, also just past a short one: batch
    # buffers end in PAD spare bytes (``sensors.gather``), joined in the same copy.
    data = np.frombuffer(b"".join([*(c.data for c in chunks), bytes(PAD)]), dtype=np.uint8)
    # Offsets are per chunk: shift each chunk's by where its bytes start in the joined buffer.
    starts = np.cumsum([0] + [len(c.data) for c in chunks[:-1]], dtype=np.int64)
    shift = np.repeat(starts, np.array([c.packets for c in chunks], dtype=np.int64))
    offset = meta[:, 2].astype(np.int64) + shift
    caplen = meta[:, 3].astype(np.int64)
    ts_ns = meta[:, 0].astype(np.int64) * 1_000_000_000 + meta[:, 1].astype(np.int64) * 1000
    if len(caplen) and int((offset + caplen).max()) > len(data) - PAD:
        raise ValueError("a capture record points past its chunk's bytes")
    return PacketBatch(
        data=data,
        offset=offset,
        caplen=caplen,
        # next_batch gives no wire length: with the default snap length nothing is cut.
        wirelen=caplen,
        ts_ns=ts_ns,
        linktype=np.full(len(offset), linktype, dtype=np.int32),
        first_frame=first_frame,
        capture=name,
    )
