"""Frames in network-time order, and what each flow sent: the generator's single source of truth.

Every frame goes through :meth:`Capture.emit`, which also counts it against its flow, so the
manifest is derived from exactly the bytes that are written and cannot drift from the pcap.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field
from typing import Any, Literal

from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from api.demo.network import Host

Transport = Literal["tcp", "udp", "icmp"]

_ETH_HEADER = 14
# IEEE 802.3 minimum frame without FCS: NICs pad short frames with zeros, and a tap captures the
# padding, so the frame length of a bare TCP ACK is 60 while its IPv4 total length is 40.
_MIN_FRAME = 60
_SYN, _FIN, _RST, _ACK = 0x02, 0x01, 0x04, 0x10


@dataclass
class DirectionStats:
    """What one side of a flow sent."""

    packets: int = 0
    ip_bytes: int = 0
    payload_bytes: int = 0
    syn: bool = False
    synack: bool = False
    fin: bool = False
    rst: bool = False


@dataclass
class Flow:
    """One connection (TCP) or one exchange of datagrams under one 5-tuple (UDP, ICMP echo)."""

    transport: Transport
    orig: Host
    orig_port: int
    resp: Host
    resp_port: int
    label: str
    service: str | None
    ip_ids: list[int]
    orig_stats: DirectionStats = field(default_factory=DirectionStats)
    resp_stats: DirectionStats = field(default_factory=DirectionStats)
    first_us: int = -1
    last_us: int = -1

    def conn_state(self) -> str:
        """Zeek's ``conn_state`` for what was sent (``base/protocols/conn/main.zeek``)."""
        o, r = self.orig_stats, self.resp_stats
        if self.transport == "icmp":
            return "OTH"  # Zeek gives every ICMP "connection" OTH
        if self.transport == "udp":
            if o.packets:
                return "SF" if r.packets else "S0"
            return "SHR" if r.packets else "OTH"
        if r.rst:
            # A RST answering a bare SYN is a rejection, otherwise the responder aborted.
            return "REJ" if o.syn and not r.synack else "RSTR"
        if o.rst:
            return "RSTOS0" if o.syn and not r.packets else "RSTO"
        if o.fin and r.fin:
            return "SF"
        if o.fin or r.fin:
            return "S2" if o.fin else "S3"
        if o.syn and not r.packets:
            return "S0"
        return "S1" if o.syn and r.synack else "OTH"


_Key = tuple[str, tuple[str, int], tuple[str, int]]


def _key(transport: Transport, a: tuple[Host, int], b: tuple[Host, int]) -> _Key:
    """A 5-tuple without direction: a flow's packets carry it both ways round."""
    ends = sorted([(a[0].ip, a[1]), (b[0].ip, b[1])])
    return (transport, ends[0], ends[1])


@dataclass(frozen=True)
class Frame:
    ts_us: int
    order: int
    data: bytes


class Capture:
    """Collects frames and flows; refuses to reuse a 5-tuple, so flow boundaries are unambiguous."""

    def __init__(self) -> None:
        self._frames: list[Frame] = []
        self._flows: list[Flow] = []
        self._tuples: set[_Key] = set()

    @property
    def flows(self) -> list[Flow]:
        return list(self._flows)

    def frames(self) -> list[Frame]:
        """Frames in capture order: by timestamp, then in the order they were made."""
        return sorted(self._frames, key=lambda f: (f.ts_us, f.order))

    def ephemeral_port(
        self, rng: random.Random, host: Host, transport: Transport, resp: Host, resp_port: int
    ) -> int:
        """A source port from the host's ephemeral range that makes an unused 5-tuple."""
        low, high = host.os.ephemeral_ports
        while True:
            port = rng.randint(low, high)
            if _key(transport, (host, port), (resp, resp_port)) not in self._tuples:
                return port

    def open_flow(
        self,
        rng: random.Random,
        transport: Transport,
        orig: tuple[Host, int],
        resp: tuple[Host, int],
        *,
        label: str,
        service: str | None,
    ) -> Flow:
        key = _key(transport, orig, resp)
        if key in self._tuples:
            raise ValueError(f"5-tuple used twice: {key}")
        self._tuples.add(key)
        flow = Flow(
            transport,
            orig[0],
            orig[1],
            resp[0],
            resp[1],
            label,
            service,
            ip_ids=[rng.getrandbits(16), rng.getrandbits(16)],
        )
        self._flows.append(flow)
        return flow

    def emit(self, flow: Flow, *, from_orig: bool, at: int, l4: Any, payload_len: int) -> int:
        """Put ``l4`` (a scapy TCP, UDP or ICMP layer) on the wire; returns the timestamp used.

        Timestamps within a flow strictly increase: capture order is the order of ``emit`` calls.
        """
        if flow.last_us >= at:
            at = flow.last_us + 1
        src, dst = (flow.orig, flow.resp) if from_orig else (flow.resp, flow.orig)
        side = 0 if from_orig else 1
        ip_id = flow.ip_ids[side]
        flow.ip_ids[side] = (ip_id + 1) & 0xFFFF
        ip = IP(
            src=src.ip, dst=dst.ip, ttl=src.ttl, id=ip_id, flags=2 if src.os.dont_fragment else 0
        )
        # add_payload links the layers in place; ``/`` would copy them, which costs more than the
        # rest of the generator together.
        ip.add_payload(l4)
        ether = Ether(src=src.mac, dst=dst.mac, type=0x0800)
        ether.add_payload(ip)
        frame = bytes(ether)
        ip_len = len(frame) - _ETH_HEADER
        frame += bytes(max(0, _MIN_FRAME - len(frame)))
        self._frames.append(Frame(at, len(self._frames), frame))

        stats = flow.orig_stats if from_orig else flow.resp_stats
        stats.packets += 1
        stats.ip_bytes += ip_len
        stats.payload_bytes += payload_len
        if flow.transport == "tcp":
            flags = int(l4.flags)
            stats.syn |= flags & (_SYN | _ACK) == _SYN
            stats.synack |= flags & (_SYN | _ACK) == _SYN | _ACK
            stats.fin |= bool(flags & _FIN)
            stats.rst |= bool(flags & _RST)
        if flow.first_us < 0:
            flow.first_us = at
        flow.last_us = at
        return at


@dataclass(frozen=True)
class Scene:
    """What a part of the scenario works with: the shared capture and the part's own randomness."""

    capture: Capture
    rng: random.Random

    def open_flow(
        self,
        transport: Transport,
        orig: tuple[Host, int],
        resp: tuple[Host, int],
        *,
        label: str,
        service: str | None,
    ) -> Flow:
        return self.capture.open_flow(self.rng, transport, orig, resp, label=label, service=service)

    def ephemeral_port(self, host: Host, transport: Transport, resp: Host, resp_port: int) -> int:
        return self.capture.ephemeral_port(self.rng, host, transport, resp, resp_port)


def pcap_file(frames: list[Frame]) -> bytes:
    """A classic pcap file (microsecond timestamps, Ethernet) of ``frames`` in the given order."""
    # Global header: magic, version 2.4, GMT offset 0, accuracy 0, snaplen 65535, LINKTYPE_ETHERNET.
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for frame in frames:
        sec, usec = divmod(frame.ts_us, 1_000_000)
        out.append(struct.pack("<IIII", sec, usec, len(frame.data), len(frame.data)))
        out.append(frame.data)
    return b"".join(out)
