"""Deterministic synthetic captures, written as raw pcap records with ``struct`` and numpy.

Two generators:

* ``write_mixed``: a realistic mix for the throughput benchmark when the corpus is absent: TCP
  sessions (handshake, request, response segments with ACKs, FIN/FIN/ACK) over IPv4 and IPv6, UDP
  DNS query/answer pairs, ICMP and ICMPv6 echo; frame sizes from 54 to 1514 bytes; a few thousand
  sessions interleaved at once.
* ``write_uniform``: one frame size and a chosen number of distinct 5-tuples, packets dealt to
  flows round-robin (every flow concurrent), for the scaling sweeps. Built a block of rows at a
  time with numpy, so a million packets take well under a second.

IPv4 header checksums are correct; TCP/UDP/ICMP checksums are zero (no tool measured here checks
them, and computing them would dominate generation time). Same arguments, same bytes.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

#: Bump when the bytes a generator writes change, so cached files are rebuilt.
VERSION = 1

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
_RECORD = struct.Struct("<IIII")
_ETH4 = bytes.fromhex("020000000002 020000000001 0800")  # dst MAC, src MAC, EtherType
_ETH6 = bytes.fromhex("020000000002 020000000001 86dd")
_IP4 = struct.Struct("!BBHHHBBH4s4s")
_IP6 = struct.Struct("!IHBB16s16s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")
_ICMP = struct.Struct("!BBHHH")
_DNS = struct.Struct("!HHHHHH")
_DNS_A = struct.Struct("!HHHIH")
_ZONES = ("city.gov", "example.org", "cdn.example.net", "mail.city.gov", "tax.city.gov")
_BLOB = random.Random(7).randbytes(2048)
START_S = 1_700_000_000
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MSS = 1460

Packet = tuple[int, bytes]  # (direction 0 = client to server, 1 = back), L3 payload + headers


def _ip4_checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class _Endpoints:
    """Addresses and ports of one session; builds its frames in either direction."""

    def __init__(self, rng: random.Random, v6: bool, proto: int, dport: int) -> None:
        self.v6 = v6
        self.proto = proto
        if v6:
            self.client = bytes.fromhex("20010db8000000010000000000") + rng.randbytes(3)
            self.server = bytes.fromhex("20010db8000000020000000000") + rng.randbytes(3)
        else:
            self.client = bytes([10, rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)])
            self.server = bytes([192, 0, 2 + rng.randrange(2), rng.randrange(1, 255)])
        self.sport = rng.randrange(1024, 65536)
        self.dport = dport
        self.ident = rng.randrange(65536)

    def frame(self, direction: int, l4: bytes) -> bytes:
        src, dst = (self.client, self.server) if direction == 0 else (self.server, self.client)
        if self.v6:
            return _ETH6 + _IP6.pack(0x60000000, len(l4), self.proto, 64, src, dst) + l4
        self.ident = (self.ident + 1) & 0xFFFF
        head = _IP4.pack(0x45, 0, 20 + len(l4), self.ident, 0x4000, 64, self.proto, 0, src, dst)
        csum = _ip4_checksum(head)
        return _ETH4 + head[:10] + csum.to_bytes(2, "big") + head[12:] + l4

    def ports(self, direction: int) -> tuple[int, int]:
        return (self.sport, self.dport) if direction == 0 else (self.dport, self.sport)


def _tcp_session(rng: random.Random) -> Iterator[bytes]:
    ep = _Endpoints(rng, rng.random() < 0.12, 6, rng.choice((443, 443, 443, 80, 22, 8080)))
    seq = [rng.randrange(1 << 32), rng.randrange(1 << 32)]

    def seg(direction: int, flags: int, size: int) -> bytes:
        sp, dp = ep.ports(direction)
        other = 1 - direction
        ack = seq[other] if flags & ACK else 0
        head = _TCP.pack(sp, dp, seq[direction], ack, 5 << 4, flags, 65535, 0, 0)
        seq[direction] = (seq[direction] + size + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        return ep.frame(direction, head + _BLOB[:size])

    yield seg(0, SYN, 0)
    yield seg(1, SYN | ACK, 0)
    yield seg(0, ACK, 0)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
        yield seg(0, PSH | ACK, rng.randrange(80, 700))
        response = int(rng.paretovariate(1.1) * 600)
        segments = 0
        while response > 0:
            size = min(response, MSS)
            response -= size
            segments += 1
            yield seg(1, (PSH | ACK) if response <= 0 else ACK, size)
            if segments % 2 == 0 or response <= 0:
                yield seg(0, ACK, 0)
            if segments >= 400:
                break
    if rng.random() < 0.05:
        yield seg(0, RST | ACK, 0)
        return
    yield seg(0, FIN | ACK, 0)
    yield seg(1, FIN | ACK, 0)
    yield seg(0, ACK, 0)


def _dns_exchange(rng: random.Random) -> Iterator[bytes]:
    ep = _Endpoints(rng, rng.random() < 0.2, 17, 53)
    name = f"host{rng.randrange(5000)}.{rng.choice(_ZONES)}"
    question = b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0\0\1\0\1"
    ident = rng.randrange(65536)
    answers = rng.choice((1, 1, 1, 2, 4, 8))
    query = _DNS.pack(ident, 0x0100, 1, 0, 0, 0) + question
    answer = b"".join(_DNS_A.pack(0xC00C, 1, 1, 300, 4) + rng.randbytes(4) for _ in range(answers))
    reply = _DNS.pack(ident, 0x8180, 1, answers, 0, 0) + question + answer
    for direction, message in ((0, query), (1, reply)):
        sp, dp = ep.ports(direction)
        yield ep.frame(direction, _UDP.pack(sp, dp, 8 + len(message), 0) + message)


def _echo(rng: random.Random) -> Iterator[bytes]:
    v6 = rng.random() < 0.2
    ep = _Endpoints(rng, v6, 58 if v6 else 1, 0)
    request, reply = (128, 129) if v6 else (8, 0)
    for i in range(rng.randrange(1, 5)):
        for direction, kind in ((0, request), (1, reply)):
            yield ep.frame(direction, _ICMP.pack(kind, 0, 0, ep.sport, i) + _BLOB[:56])


def mixed_frames(packets: int, seed: int = 1) -> Iterator[bytes]:
    """``packets`` Ethernet frames from interleaved sessions (deterministic in ``seed``)."""
    rng = random.Random(seed)
    active: list[Iterator[bytes]] = []
    emitted = 0
    while emitted < packets:
        while len(active) < 3000:
            pick = rng.random()
            kind = _tcp_session if pick < 0.46 else _dns_exchange if pick < 0.93 else _echo
            active.append(kind(random.Random(rng.getrandbits(64))))
        i = rng.randrange(len(active))
        frame = next(active[i], None)
        if frame is None:
            active[i] = active[-1]
            active.pop()
            continue
        emitted += 1
        yield frame


def _write_records(out: BinaryIO, frames: Iterator[bytes]) -> int:
    count = 0
    for count, frame in enumerate(frames, 1):
        usec = count * 7  # ~140k packets per second of capture time
        n = len(frame)
        out.write(_RECORD.pack(START_S + usec // 1_000_000, usec % 1_000_000, n, n))
        out.write(frame)
    return count


def write_mixed(path: Path, packets: int, seed: int = 1) -> int:
    """Write the mixed capture; returns the packet count."""
    tmp = path.with_suffix(".part")
    with tmp.open("wb") as out:
        out.write(PCAP_HEADER)
        count = _write_records(out, mixed_frames(packets, seed))
    tmp.replace(path)
    return count


def write_uniform(
    path: Path, packets: int, flows: int, frame_bytes: int, block: int = 65536
) -> int:
    """``packets`` IPv4/TCP frames of ``frame_bytes`` each over ``flows`` distinct 5-tuples.

    Flow ``f`` is 10.(f >> 14, two bytes).1:(1024 + f & 0x3FFF) -> 192.0.2.1:443; packet ``i``
    belongs to flow ``i % flows``, so every flow stays active to the end. A flow's first packet is
    a SYN, the rest PSH|ACK data. Packets are 1 microsecond apart (no timeouts fire).
    """
    if frame_bytes < 54:
        raise ValueError("an Ethernet/IPv4/TCP frame needs at least 54 bytes")
    if flows > (1 << 30):
        raise ValueError("too many flows for the address plan")
    template = np.frombuffer(_template(frame_bytes), dtype=np.uint8)
    tmp = path.with_suffix(".part")
    with tmp.open("wb") as out:
        out.write(PCAP_HEADER)
        for first in range(0, packets, block):
            n = min(block, packets - first)
            rows = np.tile(template, (n, 1))
            i = np.arange(first, first + n, dtype=np.int64)
            _put(rows, 0, 4, START_S + i // 1_000_000, "<")
            _put(rows, 4, 4, i % 1_000_000, "<")
            f = i % flows
            src = (10 << 24) | ((f >> 14) & 0xFFFF) << 8 | 1
            sport = 1024 + (f & 0x3FFF)
            ip = 16 + 14
            _put(rows, ip + 4, 2, i & 0xFFFF, ">")
            _put(rows, ip + 12, 4, src, ">")
            checksum = _ip4_checksums(rows[:, ip : ip + 20])
            _put(rows, ip + 10, 2, checksum, ">")
            tcp = ip + 20
            _put(rows, tcp, 2, sport, ">")
            _put(rows, tcp + 4, 4, (i // flows) * (frame_bytes - 54) & 0xFFFFFFFF, ">")
            rows[:, tcp + 13] = np.where(i < flows, SYN, PSH | ACK)
            out.write(rows.tobytes())
    tmp.replace(path)
    return packets


def _template(frame_bytes: int) -> bytes:
    payload = frame_bytes - 54
    ip = _IP4.pack(0x45, 0, 20 + 20 + payload, 0, 0x4000, 64, 6, 0, bytes(4), bytes([192, 0, 2, 1]))
    tcp = _TCP.pack(0, 443, 0, 1, 5 << 4, 0, 65535, 0, 0)
    body = _ETH4 + ip + tcp + (_BLOB * (1 + payload // len(_BLOB)))[:payload]
    return _RECORD.pack(0, 0, frame_bytes, frame_bytes) + body


def _put(rows: np.ndarray, col: int, width: int, values: np.ndarray | int, order: str) -> None:
    """Write integers ``values`` as ``width``-byte fields at column ``col`` of every row."""
    v = np.asarray(values, dtype=np.int64)
    shifts = range(width) if order == "<" else range(width - 1, -1, -1)
    for k, shift in enumerate(shifts):
        rows[:, col + k] = (v >> (8 * shift)) & 0xFF


def _ip4_checksums(headers: np.ndarray) -> np.ndarray:
    words = headers.astype(np.int64)
    words[:, 10:12] = 0
    total = (words[:, 0::2] << 8).sum(axis=1) + words[:, 1::2].sum(axis=1)
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
