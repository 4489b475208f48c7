"""Builders for the fuzz tests: batches from raw frames, and valid seeds to mutate."""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

from sensors.decode import DecodedPackets
from sensors.gather import PAD
from sensors.sources.batch import PacketBatch

#: The budget of one fuzz test: bounded (``FUZZ_EXAMPLES`` raises it for a long local run), and no
#: deadline (the first call warms numpy up).
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")), deadline=None)


def batch(
    frames: Sequence[bytes],
    linktypes: Sequence[int],
    ts_ns: Sequence[int] | None = None,
    *,
    wirelen: Sequence[int] | None = None,
    first_frame: int = 1,
) -> PacketBatch:
    sizes = np.array([len(f) for f in frames], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    total = int(sizes.sum())
    data = np.zeros(total + PAD, dtype=np.uint8)
    if total:
        data[:total] = np.frombuffer(b"".join(frames), dtype=np.uint8)
    wire = sizes if wirelen is None else np.maximum(np.array(wirelen, dtype=np.int64), sizes)
    return PacketBatch(
        data=data,
        offset=offsets[: len(frames)],
        caplen=sizes,
        wirelen=wire,
        ts_ns=np.array(ts_ns if ts_ns is not None else range(len(frames)), dtype=np.int64),
        linktype=np.array(linktypes, dtype=np.int32),
        first_frame=first_frame,
        capture="fuzz",
    )


def check_decoded(out: DecodedPackets, b: PacketBatch) -> None:
    """What every decode must satisfy, whatever the input."""
    n = len(out)
    for name, col in out.columns.items():
        assert len(col) == n, name
    rows = out["row"]
    assert ((rows >= 0) & (rows < len(b))).all()
    assert (np.diff(rows) >= 0).all()  # capture order
    assert (out["payload_len"] >= 0).all()
    assert (out["payload_cap"] >= 0).all()
    assert (out["payload_cap"] <= out["payload_len"]).all()
    assert (out["payload_off"] + out["payload_cap"] <= len(out.data)).all()
    assert (out["ip_len"] >= 0).all()
    assert (out["depth"] >= 0).all()
    assert ((out["vlan"] >= 0) & (out["vlan"] <= 0xFFFFFF)).all()


def mutate(seed: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    """``seed`` with bytes overwritten at (position, value) pairs, then perhaps cut short."""
    out = bytearray(seed)
    for pos, value in edits:
        if out:
            out[pos % len(out)] = value
    return bytes(out[:cut] if cut is not None else out)


edits = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=8)


def pcap_bytes(frames: Sequence[bytes], linktype: int, *, endian: str = "<") -> bytes:
    head = struct.pack(endian + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    return head + b"".join(
        struct.pack(endian + "IIII", i, 0, len(f), len(f)) + f for i, f in enumerate(frames)
    )


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def pcapng_bytes(frames: Sequence[bytes], linktypes: Sequence[int]) -> bytes:
    out = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for lt in linktypes:
        opts = struct.pack("<HH", 9, 1) + b"\x09\0\0\0" + struct.pack("<HH", 0, 0)
        out += _block(1, struct.pack("<HHI", lt, 0, 0) + opts)
    for i, f in enumerate(frames):
        head = struct.pack("<IIIII", i % max(len(linktypes), 1), 0, i, len(f), len(f))
        out += _block(6, head + f)
    out += _block(3, struct.pack("<I", 20) + b"\x45" + b"\0" * 19)
    return out
