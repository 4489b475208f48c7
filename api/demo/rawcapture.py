"""A fast capture builder for the labelled evaluation set: frames packed with ``struct``.

scapy builds about five thousand packets a second; the labelled set has millions, so frames are
packed by hand here (Ethernet, IPv4 with a correct header checksum, TCP with real sequence and
acknowledgement numbers, UDP). TCP and UDP checksums are left zero, as a sensor behind checksum
offload sees them and as ``bench/synth.py`` writes them; our sensor does not verify them.
Every flow is recorded with its label, so the ground truth comes from what was written.
"""

from __future__ import annotations

import functools
import random
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

_PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
_RECORD = struct.Struct("<IIII")
_ETH = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
_IP = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MSS = 1448
_MASK = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class FlowLabel:
    transport: str
    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    first_us: int
    last_us: int
    label: str


@functools.lru_cache(maxsize=65536)
def _packed(ip: str) -> bytes:
    return IPv4Address(ip).packed


def _checksum(header: bytes) -> int:
    total: int = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class RawCapture:
    """Frames of many flows, written in time order; one 5-tuple is never used twice."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.flows: list[FlowLabel] = []
        self._frames: list[tuple[int, int, bytes]] = []
        self._tuples: set[tuple[str, str, int, str, int]] = set()
        self._blob = rng.randbytes(1 << 16)

    def payload(self, size: int) -> bytes:
        """``size`` bytes that look encrypted (a slice of one random blob, repeated as needed)."""
        start = self.rng.randrange(len(self._blob))
        data = (self._blob[start:] + self._blob) * (size // len(self._blob) + 1)
        return data[:size]

    def port(self, transport: str, orig: str, resp: str, resp_port: int) -> int:
        while True:
            p = self.rng.randint(32768, 60999)
            if (transport, orig, p, resp, resp_port) not in self._tuples:
                return p

    def _open(self, transport: str, orig: str, oport: int, resp: str, rport: int) -> None:
        key = (transport, orig, oport, resp, rport)
        back = (transport, resp, rport, orig, oport)
        if key in self._tuples or back in self._tuples:
            raise ValueError(f"5-tuple used twice: {key}")
        self._tuples.add(key)

    def _frame(self, t: int, src: str, dst: str, proto: int, l4: bytes) -> None:
        ip = _IP.pack(
            0x45,
            0,
            20 + len(l4),
            self.rng.getrandbits(16),
            0x4000,
            64,
            proto,
            0,
            _packed(src),
            _packed(dst),
        )
        csum = _checksum(ip).to_bytes(2, "big")
        frame = _ETH + ip[:10] + csum + ip[12:] + l4
        self._frames.append((t, len(self._frames), frame + bytes(max(0, 60 - len(frame)))))

    def udp(
        self,
        orig: str,
        resp: str,
        rport: int,
        t: int,
        exchanges: list[tuple[bytes, bytes | None]],
        *,
        label: str,
        gap_us: int = 300,
        oport: int | None = None,
    ) -> int:
        """Datagrams under one 5-tuple: each request, then its reply (if any); returns the time."""
        oport = oport or self.port("udp", orig, resp, rport)
        self._open("udp", orig, oport, resp, rport)
        first = t
        for request, reply in exchanges:
            self._frame(t, orig, resp, 17, _UDP.pack(oport, rport, 8 + len(request), 0) + request)
            if reply is not None:
                t += gap_us
                self._frame(t, resp, orig, 17, _UDP.pack(rport, oport, 8 + len(reply), 0) + reply)
            t += gap_us
        self.flows.append(FlowLabel("udp", orig, oport, resp, rport, first, t, label))
        return t

    def tcp(
        self,
        orig: str,
        resp: str,
        rport: int,
        t: int,
        turns: list[tuple[bool, int, int]],
        *,
        label: str,
        rtt_us: int = 20_000,
        close: str = "fin",
        oport: int | None = None,
    ) -> int:
        """A TCP connection. ``turns``: (from originator, payload bytes, think time in µs before
        it); ``close``: "fin", "rst" (originator resets), "rej" (port closed: SYN, RST-ACK),
        "s0" (SYN unanswered), "open_rst" (SYN, SYN-ACK, originator RST). Returns the end time."""
        oport = oport or self.port("tcp", orig, resp, rport)
        self._open("tcp", orig, oport, resp, rport)
        s = _Tcp(self, orig, oport, resp, rport, rtt_us)
        first = t
        t = s.send(t, True, SYN, b"")
        if close == "s0":
            t = s.send(t + 1_000_000, True, SYN, b"", advance=False)  # one retransmission
        elif close == "rej":
            t = s.send(t + 100, False, RST | ACK, b"")
        else:
            t = s.send(t + 100, False, SYN | ACK, b"")
            if close == "open_rst":
                t = s.send(t + rtt_us, True, RST, b"")
            else:
                t = s.send(t + rtt_us, True, ACK, b"")
                for from_orig, size, think in turns:
                    t = s.transfer(t + think, from_orig, size)
                if close == "rst":
                    t = s.send(t + rtt_us, True, RST | ACK, b"")
                else:
                    t = s.send(t + 1000, True, FIN | ACK, b"")
                    t = s.send(t + 100, False, FIN | ACK, b"")
                    t = s.send(t + rtt_us, True, ACK, b"")
        self.flows.append(FlowLabel("tcp", orig, oport, resp, rport, first, t, label))
        return t

    def write(self, path: Path) -> int:
        """Write the pcap (frames by time); returns the number of frames."""
        self._frames.sort(key=lambda f: (f[0], f[1]))
        pack = _RECORD.pack
        with path.open("wb") as out:
            out.write(_PCAP_HEADER)
            for i in range(0, len(self._frames), 65536):
                out.write(
                    b"".join(
                        pack(t // 1_000_000, t % 1_000_000, len(f), len(f)) + f
                        for t, _, f in self._frames[i : i + 65536]
                    )
                )
        return len(self._frames)


class _Tcp:
    def __init__(self, cap: RawCapture, a: str, ap: int, b: str, bp: int, rtt: int) -> None:
        self.cap, self.rtt = cap, rtt
        self.ends = ((a, ap, b, bp), (b, bp, a, ap))
        self.seq = [cap.rng.getrandbits(32), cap.rng.getrandbits(32)]

    def send(self, t: int, from_orig: bool, flags: int, data: bytes, advance: bool = True) -> int:
        i = 0 if from_orig else 1
        src, sport, dst, dport = self.ends[i]
        ack = self.seq[1 - i] if flags & ACK else 0
        l4 = _TCP.pack(sport, dport, self.seq[i], ack, 0x50, flags, 64240, 0, 0) + data
        self.cap._frame(t, src, dst, 6, l4)
        if advance:
            self.seq[i] = (self.seq[i] + len(data) + (1 if flags & (SYN | FIN) else 0)) & _MASK
        return t

    def transfer(self, t: int, from_orig: bool, size: int) -> int:
        """``size`` bytes in MSS segments, the receiver ACKing every second one (RFC 1122)."""
        data = self.cap.payload(size)
        gap = 100 + self.cap.rng.randrange(200)
        for n, off in enumerate(range(0, size, MSS)):
            chunk = data[off : off + MSS]
            t = self.send(t + gap, from_orig, PSH | ACK if off + MSS >= size else ACK, chunk)
            if n % 2 == 1 or off + MSS >= size:
                self.send(t + (self.rtt if from_orig else 80), not from_orig, ACK, b"")
        return t + (self.rtt if from_orig else 80)
