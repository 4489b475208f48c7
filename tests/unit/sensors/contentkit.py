"""Fast builders of TCP/UDP captures for content-inspection tests: raw bytes, not scapy, so that
adversarial tests can make hundreds of thousands of packets in a second."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from sensors.content import ContentSettings
from sensors.engine import BatchResult, SensorEngine, SensorSettings
from sensors.events import ContentFacts

ETH = bytes(6) + bytes.fromhex("020000000001") + b"\x08\x00"


def tcp_frame(src: str, dst: str, sport: int, dport: int, seq: int, flags: str,
              payload: bytes = b"", ack: int = 0) -> bytes:  # fmt: skip
    bits = sum({"F": 1, "S": 2, "R": 4, "P": 8, "A": 16}[c] for c in flags)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq % (1 << 32), ack, 5 << 4, bits, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    return ETH + ip + tcp + payload


def udp_frame(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    total = 20 + 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    return ETH + ip + udp + payload


def write_pcap(path: Path, frames: Iterable[tuple[float, bytes]]) -> Path:
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for t, frame in frames:
            sec, usec = int(t), round((t - int(t)) * 1e6)
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    return path


class Conversation:
    """A TCP connection between a client and a server, written segment by segment."""

    def __init__(self, client: str, server: str, sport: int, dport: int, t: float = 1000.0):
        self.c, self.s, self.sport, self.dport = client, server, sport, dport
        self.cseq, self.sseq = 1000, 500_000
        self.t = t
        self.frames: list[tuple[float, bytes]] = []

    def _tick(self) -> float:
        self.t += 0.001
        return self.t

    def handshake(self) -> Conversation:
        self.frames += [
            (self._tick(), tcp_frame(self.c, self.s, self.sport, self.dport, self.cseq, "S")),
            (self._tick(), tcp_frame(self.s, self.c, self.dport, self.sport, self.sseq, "SA",
                                     ack=self.cseq + 1)),
            (self._tick(), tcp_frame(self.c, self.s, self.sport, self.dport, self.cseq + 1, "A",
                                     ack=self.sseq + 1)),
        ]  # fmt: skip
        self.cseq += 1
        self.sseq += 1
        return self

    def segments(self, side: str, data: bytes, size: int = 1460) -> list[tuple[int, bytes]]:
        """(sequence number, bytes) of ``data`` cut in segments, advancing the side's sequence."""
        seq = self.cseq if side == "c" else self.sseq
        out = [(seq + i, data[i : i + size]) for i in range(0, len(data), size)]
        if side == "c":
            self.cseq += len(data)
        else:
            self.sseq += len(data)
        return out

    def send(self, side: str, segs: Iterable[tuple[int, bytes]]) -> Conversation:
        for seq, piece in segs:
            if side == "c":
                frame = tcp_frame(self.c, self.s, self.sport, self.dport, seq, "PA", piece)
            else:
                frame = tcp_frame(self.s, self.c, self.dport, self.sport, seq, "PA", piece)
            self.frames.append((self._tick(), frame))
        return self

    def say(self, side: str, data: bytes, size: int = 1460) -> Conversation:
        return self.send(side, self.segments(side, data, size))

    def close(self) -> Conversation:
        self.frames += [
            (self._tick(), tcp_frame(self.c, self.s, self.sport, self.dport, self.cseq, "FA")),
            (self._tick(), tcp_frame(self.s, self.c, self.dport, self.sport, self.sseq, "FA")),
        ]
        return self


def run(path: Path, **content: object) -> tuple[list[BatchResult], SensorEngine]:
    settings = SensorSettings(content=ContentSettings.model_validate(content))
    engine = SensorEngine(settings, seed=5)
    results = list(engine.read(path))
    results.append(engine.finish())
    return results, engine


def facts(results: Iterable[BatchResult]) -> ContentFacts:
    out = ContentFacts()
    for r in results:
        out.extend(r.content)
    return out


def streams(f: ContentFacts) -> Iterator[tuple[str, str, bytes]]:
    """(flow id, direction, reassembled bytes) of each direction, from its chunks."""
    by: dict[tuple[str, str], list[tuple[int, bytes, int]]] = {}
    for c in f.stream_chunks:
        by.setdefault((c.flow.flow_id, c.direction), []).append((c.offset, c.data, c.overlap))
    for (fid, direction), chunks in by.items():
        data = b"".join(d[o:] for _, d, o in sorted(chunks))
        yield fid, direction, data
