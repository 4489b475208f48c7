"""Fixtures for the demo capture: the bundled files, read back with dpkt (not with our own code)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dpkt
import pytest

import api.demo
from api.demo.generator import MANIFEST_NAME, PCAP_NAME
from api.demo.manifest import ConnectionEntry, Manifest

BUNDLE = Path(api.demo.__file__).parent


@dataclass(frozen=True)
class Packet:
    index: int
    ts_us: int
    frame: bytes
    ip: dpkt.ip.IP


@dataclass
class Side:
    """What one side of a connection sent, counted from the pcap."""

    packets: list[Packet] = field(default_factory=list)

    @property
    def ip_bytes(self) -> int:
        return sum(p.ip.len for p in self.packets)

    @property
    def payload(self) -> bytes:
        return b"".join(_payload(p.ip) for p in self.packets)

    def flags(self) -> list[int]:
        return [p.ip.data.flags for p in self.packets]


@dataclass
class Observed:
    entry: ConnectionEntry
    orig: Side = field(default_factory=Side)
    resp: Side = field(default_factory=Side)

    @property
    def packets(self) -> list[Packet]:
        return sorted(self.orig.packets + self.resp.packets, key=lambda p: p.index)


def _payload(ip: dpkt.ip.IP) -> bytes:
    if ip.p == dpkt.ip.IP_PROTO_ICMP:
        return bytes(ip.data)[8:]  # after type, code, checksum, identifier and sequence
    return bytes(ip.data.data)


def read_packets(path: Path) -> Iterator[Packet]:
    with path.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        assert reader.datalink() == dpkt.pcap.DLT_EN10MB
        for index, (ts, frame) in enumerate(reader):
            eth = dpkt.ethernet.Ethernet(frame)
            # float seconds near 1.77e9 resolve about 0.24 microseconds: rounding is exact.
            yield Packet(index, round(ts * 1_000_000), frame, eth.data)


def tuple_of(entry: ConnectionEntry) -> tuple[str, str, int, str, int]:
    return (entry.transport, entry.orig_h, entry.orig_p, entry.resp_h, entry.resp_p)


def _key(packet: Packet) -> tuple[str, str, int, str, int]:
    ip = packet.ip
    src, dst = dpkt.utils.inet_to_str(ip.src), dpkt.utils.inet_to_str(ip.dst)
    if ip.p == dpkt.ip.IP_PROTO_ICMP:
        return ("icmp", src, ip.data.type, dst, 0 if ip.data.type == 8 else 8)
    transport = "tcp" if ip.p == dpkt.ip.IP_PROTO_TCP else "udp"
    return (transport, src, ip.data.sport, dst, ip.data.dport)


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The folder with the bundled ``egov-demo.pcap`` and ``egov-demo.manifest.json``."""
    return BUNDLE


@pytest.fixture(scope="session")
def manifest() -> Manifest:
    return Manifest.model_validate_json((BUNDLE / MANIFEST_NAME).read_bytes())


@pytest.fixture(scope="session")
def packets() -> list[Packet]:
    return list(read_packets(BUNDLE / PCAP_NAME))


@pytest.fixture(scope="session")
def observed(manifest: Manifest, packets: list[Packet]) -> list[Observed]:
    """Each manifest connection with the packets of the pcap that belong to it, by direction.

    A packet belongs to the connection whose 5-tuple it carries, read forwards (originator) or
    backwards (responder); an echo reply (type 0) belongs to the flow of its request (type 8).
    """
    by_tuple = {tuple_of(c): Observed(c) for c in manifest.connections}
    assert len(by_tuple) == len(manifest.connections), "a 5-tuple is used twice"
    for packet in packets:
        transport, src, sport, dst, dport = _key(packet)
        if (found := by_tuple.get((transport, src, sport, dst, dport))) is not None:
            found.orig.packets.append(packet)
        else:
            found = by_tuple.get((transport, dst, dport, src, sport))
            assert found is not None, f"frame {packet.index + 1} belongs to no connection"
            found.resp.packets.append(packet)
    return list(by_tuple.values())
