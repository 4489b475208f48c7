"""Builders shared by the sensor tests: capture files as bytes, packet batches, decoding, flows.

Imported by name (``from sensorkit import ...``): pytest puts this directory on ``sys.path`` when it
loads the ``conftest.py`` next to it.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import numpy as np

from sensors.decode import DecodedPackets, Decoder, DecodeSettings
from sensors.events import FlowEnded
from sensors.flows import FlowBatch, FlowSettings, FlowTable
from sensors.gather import PAD
from sensors.sources import CaptureSettings, open_capture
from sensors.sources.batch import PacketBatch

SEC = 1_000_000_000

#: The ``write_capture`` fixture: bytes and a file name in, the path written out.
WriteCapture = Callable[..., Path]

# -- classic pcap ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    sec: int
    frac: int  # micro- or nanoseconds, as the file says
    data: bytes
    wirelen: int | None = None


def pcap_header(
    *, endian: str = "<", nano: bool = False, linktype: int = 1, snaplen: int = 65535
) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    return struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(rec: Record, *, endian: str = "<") -> bytes:
    wire = len(rec.data) if rec.wirelen is None else rec.wirelen
    return struct.pack(endian + "IIII", rec.sec, rec.frac, len(rec.data), wire) + rec.data


def pcap_file(
    records: Sequence[Record],
    *,
    endian: str = "<",
    nano: bool = False,
    linktype: int = 1,
    snaplen: int = 65535,
) -> bytes:
    head = pcap_header(endian=endian, nano=nano, linktype=linktype, snaplen=snaplen)
    return head + b"".join(pcap_record(r, endian=endian) for r in records)


# -- pcapng ------------------------------------------------------------------------------------


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def ng_block(btype: int, body: bytes, *, endian: str = "<") -> bytes:
    body = _pad4(body)
    total = len(body) + 12
    return struct.pack(endian + "II", btype, total) + body + struct.pack(endian + "I", total)


def ng_option(code: int, value: bytes, *, endian: str = "<") -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + _pad4(value)


def ng_options(opts: Sequence[tuple[int, bytes]], *, endian: str = "<") -> bytes:
    if not opts:
        return b""
    raw = b"".join(ng_option(c, v, endian=endian) for c, v in opts)
    return raw + struct.pack(endian + "HH", 0, 0)


def ng_shb(*, endian: str = "<") -> bytes:
    body = struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    return ng_block(0x0A0D0D0A, body, endian=endian)


def ng_idb(
    linktype: int,
    *,
    snaplen: int = 0,
    tsresol: int | None = None,
    tsoffset: int | None = None,
    endian: str = "<",
) -> bytes:
    opts: list[tuple[int, bytes]] = []
    if tsresol is not None:
        opts.append((9, bytes([tsresol])))
    if tsoffset is not None:
        opts.append((14, struct.pack(endian + "q", tsoffset)))
    body = struct.pack(endian + "HHI", linktype, 0, snaplen) + ng_options(opts, endian=endian)
    return ng_block(1, body, endian=endian)


def ng_epb(
    iface: int, ticks: int, data: bytes, *, wirelen: int | None = None, endian: str = "<"
) -> bytes:
    wire = len(data) if wirelen is None else wirelen
    head = struct.pack(endian + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), wire)
    return ng_block(6, head + data, endian=endian)


def ng_spb(data: bytes, *, wirelen: int | None = None, endian: str = "<") -> bytes:
    wire = len(data) if wirelen is None else wirelen
    return ng_block(3, struct.pack(endian + "I", wire) + data, endian=endian)


def ng_pb(iface: int, ticks: int, data: bytes, *, endian: str = "<") -> bytes:
    head = struct.pack(
        endian + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return ng_block(2, head + data, endian=endian)


# -- batches, decoding, flows ------------------------------------------------------------------


def ns(seconds: float) -> int:
    """Seconds (as written in a test) to integer nanoseconds, without float rounding errors."""
    return int(Decimal(repr(seconds)) * SEC)


def make_batch(
    frames: Sequence[bytes],
    linktype: int | Sequence[int] = 1,
    ts_ns: Sequence[int] | None = None,
    *,
    wirelen: Sequence[int] | None = None,
    first_frame: int = 1,
    capture: str = "test.pcap",
) -> PacketBatch:
    """One ``PacketBatch`` holding ``frames`` back to back, with the reader's zero padding."""
    raw = [bytes(f) for f in frames]
    n = len(raw)
    sizes = np.array([len(f) for f in raw], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64) if n else sizes
    total = int(sizes.sum())
    data = np.zeros(total + PAD, dtype=np.uint8)
    if total:
        data[:total] = np.frombuffer(b"".join(raw), dtype=np.uint8)
    links = [linktype] * n if isinstance(linktype, int) else list(linktype)
    times = list(ts_ns) if ts_ns is not None else [i * 1000 for i in range(n)]
    return PacketBatch(
        data=data,
        offset=offsets,
        caplen=sizes.copy(),
        wirelen=np.array(wirelen, dtype=np.int64) if wirelen is not None else sizes.copy(),
        ts_ns=np.array(times, dtype=np.int64),
        linktype=np.array(links, dtype=np.int32),
        first_frame=first_frame,
        capture=capture,
    )


def decode(
    frames: Sequence[bytes],
    linktype: int | Sequence[int] = 1,
    *,
    decoder: Decoder | None = None,
    settings: DecodeSettings | None = None,
    ts_ns: Sequence[int] | None = None,
) -> tuple[DecodedPackets, Decoder]:
    dec = decoder or Decoder(settings)
    return dec.decode(make_batch(frames, linktype, ts_ns)), dec


def row(out: DecodedPackets, i: int = 0) -> dict[str, int]:
    """One decoded row as plain Python values."""
    return {k: v[i].item() for k, v in out.columns.items()}


def mapped(addr: str) -> int:
    """The 64-bit low half of an IPv4-mapped address, as the decoder stores IPv4 addresses."""
    return 0xFFFF00000000 | int(ipaddress.IPv4Address(addr))


def v6_halves(addr: str) -> tuple[int, int]:
    value = int(ipaddress.IPv6Address(addr))
    return value >> 64, value & 0xFFFFFFFFFFFFFFFF


@dataclass
class FlowRun:
    flows: list[FlowEnded]
    batch: FlowBatch
    table: FlowTable
    decoder: Decoder


def run_flows(
    packets: Sequence[bytes],
    times_s: Sequence[float],
    *,
    settings: FlowSettings | None = None,
    cuts: Sequence[int] = (),
    linktype: int = 101,  # raw IP
    flush: bool = True,
    seed: int = 7,
) -> FlowRun:
    """Packets (with timestamps in seconds) through a decoder and a flow table.

    ``cuts`` are indices where a new batch starts. Returns every ended flow (including the
    flush), ordered by start time.
    """
    dec = Decoder()
    table = FlowTable(settings, observer="test-sensor", seed=seed)
    ts = [ns(t) for t in times_s]
    bounds = [0, *sorted(set(cuts) - {0, len(packets)}), len(packets)]
    parts: list[FlowBatch] = []
    for lo, hi in pairwise(bounds):
        b = make_batch(packets[lo:hi], linktype, ts[lo:hi], first_frame=lo + 1)
        parts.append(table.update(dec.decode(b), b))
    if flush:
        parts.append(table.flush())
    fb = FlowBatch.concat(parts)
    return FlowRun(fb.rows(), fb, table, dec)


def read_capture(
    path: object, settings: CaptureSettings | None = None
) -> tuple[list[PacketBatch], list[str]]:
    """Every batch of a capture, and the reader's problems; the reader is closed afterwards."""
    with closing(open_capture(str(path), settings)) as reader:
        batches = list(reader.batches())
    return batches, reader.problems


def frames_of(batches: Sequence[PacketBatch]) -> list[bytes]:
    return [b.frame_bytes(i) for b in batches for i in range(len(b))]


def column(batches: Sequence[PacketBatch], name: str) -> list[int]:
    return [int(v) for b in batches for v in getattr(b, name).tolist()]
