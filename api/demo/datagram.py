"""UDP request/response exchanges, ICMP echo (ping) and the NTP packets (RFC 5905) they carry."""

from __future__ import annotations

import struct
from typing import Any

from scapy.layers.inet import ICMP, UDP
from scapy.packet import Raw

from api.demo import dns
from api.demo.capture import Flow, Scene
from api.demo.network import START_US, Host

_NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


def udp_exchange(
    scene: Scene,
    client: tuple[Host, int],
    server: tuple[Host, int],
    request: bytes,
    reply: bytes | None,
    at: int,
    *,
    delay_us: int,
    service: str | None,
) -> int:
    """A request and (unless ``reply`` is None) its answer under one 5-tuple; returns the time."""
    flow = scene.open_flow("udp", client, server, label="benign", service=service)
    sport, dport = client[1], server[1]
    t = _put(scene, flow, True, at, UDP(sport=sport, dport=dport), request)
    if reply is None:
        return t
    return _put(scene, flow, False, t + delay_us, UDP(sport=dport, dport=sport), reply)


def ping(scene: Scene, client: Host, server: Host, count: int, at: int, *, rtt_us: int) -> int:
    """``count`` echo requests a second apart, each answered, as iputils ping sends them.

    The 56 data bytes are a struct timeval of the send time and the bytes 0x10.. that follow it.
    """
    flow = scene.open_flow("icmp", (client, 8), (server, 0), label="benign", service=None)
    ident = scene.rng.getrandbits(16)
    t = at
    for seq in range(1, count + 1):
        sent = at + (seq - 1) * 1_000_000 + scene.rng.randrange(200)
        data = struct.pack("<QQ", sent // 1_000_000, sent % 1_000_000) + bytes(range(0x10, 0x38))
        t = _put(scene, flow, True, sent, ICMP(type=8, id=ident, seq=seq), data)
        t = _put(scene, flow, False, t + rtt_us, ICMP(type=0, id=ident, seq=seq), data)
    return t


def dns_question(
    scene: Scene,
    client: Host,
    server: Host,
    name: str,
    rtype: str,
    at: int,
    *,
    edns: bool = True,
    recursion: bool,
) -> int:
    """One question over UDP from a random port and id (RFC 5452 9.2), and the server's answer."""
    txid = scene.rng.getrandbits(16)
    port = scene.ephemeral_port(client, "udp", server, 53)
    question = dns.query(txid, name, rtype, edns=edns, recursion=recursion)
    answer = dns.answer(txid, name, rtype, edns=edns, recursion=recursion)
    delay = scene.rng.randint(90, 400)
    return udp_exchange(
        scene, (client, port), (server, 53), question, answer, at, delay_us=delay, service="dns"
    )


def _put(scene: Scene, flow: Flow, from_orig: bool, at: int, header: Any, data: bytes) -> int:
    header.add_payload(Raw(data))
    return scene.capture.emit(flow, from_orig=from_orig, at=at, l4=header, payload_len=len(data))


def _ntp_time(at_us: int) -> bytes:
    seconds, micros = divmod(at_us, 1_000_000)
    return struct.pack("!II", seconds + _NTP_EPOCH_OFFSET, (micros << 32) // 1_000_000)


def ntp_request(at_us: int) -> bytes:
    """A client-mode (3) NTPv4 packet; like chrony, it puts a transmit time in and nothing else."""
    return struct.pack("!BBbb", 0x23, 0, 6, -20) + bytes(36) + _ntp_time(at_us)


def ntp_response(request: bytes, received_us: int, sent_us: int) -> bytes:
    """A stratum-2 server's mode-4 answer that echoes the request's transmit time (RFC 5905 7.3)."""
    reference = _ntp_time(START_US - 512 * 1_000_000)
    header = struct.pack("!BBbbII", 0x24, 2, 6, -23, 0x0000_0A3E, 0x0000_1B2C)
    refid = bytes([198, 18, 1, 1])  # its own upstream server
    return header + refid + reference + request[40:48] + _ntp_time(received_us) + _ntp_time(sent_us)
