"""The flow table: grouping, originators, timeouts, reuse, close delay, eviction, statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import Dot1Q, Ether
from sensorkit import SEC, make_batch, run_flows

from sensors.decode import Decoder
from sensors.flows import EndReason, FlowBatch, FlowSettings, FlowTable
from sensors.flows.key import KeyHasher

C, S = "10.0.0.1", "10.0.0.2"


def tcp(src: str, sport: int, dst: str, dport: int, flags: str, data: bytes = b"") -> bytes:
    return bytes(IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags) / data)


def udp(src: str, sport: int, dst: str, dport: int, data: bytes = b"x") -> bytes:
    return bytes(IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / data)


def c2s(flags: str, data: bytes = b"") -> bytes:
    return tcp(C, 40000, S, 80, flags, data)


def s2c(flags: str, data: bytes = b"") -> bytes:
    return tcp(S, 80, C, 40000, flags, data)


def _times(n: int, step: float = 0.1) -> list[float]:
    return [step * i for i in range(n)]


# -- grouping and originators -------------------------------------------------------------------


def test_both_directions_make_one_flow_and_other_tuples_others() -> None:
    packets = [
        c2s("S"),
        s2c("SA"),
        tcp(C, 40001, S, 80, "S"),  # another source port: another flow
        c2s("A"),
        udp(C, 40000, S, 80),  # same ports, other protocol
        tcp(C, 40000, "10.0.0.3", 80, "S"),  # another responder
    ]
    flows = run_flows(packets, _times(6)).flows
    assert [(f.transport, f.orig_port, f.resp_ip, f.orig_pkts, f.resp_pkts) for f in flows] == [
        ("tcp", 40000, S, 2, 1),
        ("tcp", 40001, S, 1, 0),
        ("udp", 40000, S, 1, 0),
        ("tcp", 40000, "10.0.0.3", 1, 0),
    ]
    assert [f.first_frame for f in flows] == [1, 3, 5, 6]
    assert [f.last_frame for f in flows] == [4, 3, 5, 6]


@pytest.mark.parametrize(
    ("packet", "orig"),
    [
        (tcp(C, 40000, S, 80, "S"), (C, 40000)),  # a plain SYN decides
        (tcp(S, 80, C, 40000, "S"), (S, 80)),  # even from a server port
        (tcp(S, 80, C, 40000, "A"), (C, 40000)),  # midstream from a server port: flipped
        (tcp(S, 80, C, 40000, "SA"), (C, 40000)),  # SYN-ACK from a server port: flipped
        (tcp(C, 40000, S, 80, "A"), (C, 40000)),
        (tcp(S, 80, C, 443, "A"), (C, 443)),  # both likely servers, no SYN: lower source flips
        (tcp(S, 443, C, 80, "A"), (S, 443)),  # ... but not the higher one
        (tcp(S, 80, C, 443, "SA"), (S, 80)),  # both likely servers and a SYN: never flipped
        (tcp(S, 7777, C, 8888, "A"), (S, 7777)),  # neither: the sender originates
        (udp(S, 53, C, 5353 + 1000), (C, 6353)),  # DNS answer seen first: flipped
        (udp(S, 53, C, 123), (S, 53)),  # both likely servers: UDP never flips then
        (udp(C, 5000, S, 53), (C, 5000)),
        (bytes(IP(src=S, dst=C) / ICMP(type=0)), (S, 0)),  # ICMP is not flipped
    ],
)
def test_originator_selection(packet: bytes, orig: tuple[str, int]) -> None:
    (flow,) = run_flows([packet], [0.0]).flows
    assert (flow.orig_ip, flow.orig_port) == orig


def test_originator_is_kept_for_a_continuing_flow_across_batches() -> None:
    packets = [c2s("S"), s2c("SA"), c2s("A"), s2c("PA", b"data")]
    for cut in range(1, 4):
        (flow,) = run_flows(packets, _times(4), cuts=[cut]).flows
        assert (flow.orig_ip, flow.orig_port, flow.orig_pkts, flow.resp_pkts) == (C, 40000, 2, 2)


def test_icmp_echo_request_and_reply_are_one_flow() -> None:
    packets = [
        bytes(IP(src=C, dst=S) / ICMP(type=8, id=1)),
        bytes(IP(src=S, dst=C) / ICMP(type=0, id=1)),
        bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest()),
        bytes(IPv6(src="2001:db8::2", dst="2001:db8::1") / ICMPv6EchoReply()),
    ]
    flows = run_flows(packets, _times(4)).flows
    assert [(f.transport, f.orig_ip, f.orig_port, f.resp_port, f.orig_pkts, f.resp_pkts)
            for f in flows] == [
        ("icmp", C, 8, 0, 1, 1),
        ("ipv6-icmp", "2001:db8::1", 128, 129, 1, 1),
    ]  # fmt: skip


def test_vlan_is_part_of_the_key() -> None:
    def tagged(vlan: int, flags: str) -> bytes:
        return bytes(Ether() / Dot1Q(vlan=vlan, type=0x0800) / IP(src=C, dst=S)
                     / TCP(sport=40000, dport=80, flags=flags))  # fmt: skip

    packets = [tagged(10, "S"), tagged(20, "S"), tagged(10, "A"), bytes(Ether() / IP(
        src=C, dst=S) / TCP(sport=40000, dport=80, flags="S"))]  # fmt: skip
    flows = run_flows(packets, _times(4), linktype=1).flows
    assert [(f.vlan, f.orig_pkts) for f in flows] == [(10, 2), (20, 1), (0, 1)]
    assert len({f.flow_id for f in flows}) == 3
    assert len({f.community_id for f in flows}) == 1  # Community ID has no VLAN


# -- timeouts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "timeout"),
    [
        (lambda: udp(C, 5000, S, 7000), 60.0),
        (lambda: udp(C, 5000, S, 53), 10.0),  # DNS: Zeek's dns_session_timeout
        (lambda: udp(S, 53, C, 5000), 10.0),  # whichever side has the port
        (lambda: tcp(C, 40000, S, 80, "A"), 300.0),
        (lambda: bytes(IP(src=C, dst=S) / ICMP(type=8)), 60.0),
        (lambda: bytes(IP(src=C, dst=S, proto=50) / (b"\x00" * 8)), 60.0),  # other protocols
    ],
    ids=["udp", "dns", "dns-reply-side", "tcp", "icmp", "other"],
)
@pytest.mark.parametrize("split", [False, True])
def test_idle_timeout_per_protocol(make: object, timeout: float, split: bool) -> None:
    packet = make()  # type: ignore[operator]
    cuts = [1] if split else []
    within = run_flows([packet, packet], [0.0, timeout - 0.001], cuts=cuts).flows
    assert [(f.orig_pkts + f.resp_pkts, f.end_reason) for f in within] == [(2, "end_of_capture")]
    beyond = run_flows([packet, packet], [0.0, timeout + 0.001], cuts=cuts).flows
    assert [(f.orig_pkts + f.resp_pkts, f.end_reason) for f in beyond] == [
        (1, "idle_timeout"),
        (1, "end_of_capture"),
    ]
    assert beyond[1].start_ns == round((timeout + 0.001) * SEC)


def test_idle_timeouts_are_settings() -> None:
    settings = FlowSettings(udp_idle_timeout=5, udp_port_idle_timeouts={5353: 1.0})
    packets = [udp(C, 1000, S, 2000), udp(C, 1000, S, 2000), udp(C, 5353, S, 5353),
               udp(C, 5353, S, 5353)]  # fmt: skip
    flows = run_flows(packets, [0, 4.9, 5, 6.5], settings=settings).flows
    assert [(f.orig_port, f.orig_pkts) for f in flows] == [(1000, 2), (5353, 1), (5353, 1)]


def test_idle_flows_end_when_time_moves_on_in_later_batches() -> None:
    table = FlowTable(FlowSettings(), seed=1)
    dec = Decoder()
    b1 = make_batch([udp(C, 1, S, 2)], 101, [0])
    assert len(table.update(dec.decode(b1), b1)) == 0
    b2 = make_batch([udp(C, 3, S, 4)], 101, [61 * SEC])
    ended = table.update(dec.decode(b2), b2)
    assert [(f.orig_port, f.end_reason) for f in ended.rows()] == [(1, "idle_timeout")]
    assert len(table) == 1


# -- TCP closing, reuse and the close delay ----------------------------------------------------


HANDSHAKE = [c2s("S"), s2c("SA"), c2s("A")]
FIN_CLOSE = [c2s("FA"), s2c("FA"), c2s("A")]


def test_new_syn_after_fins_starts_a_new_connection() -> None:
    packets = [*HANDSHAKE, *FIN_CLOSE, *HANDSHAKE]
    flows = run_flows(packets, _times(9)).flows
    assert [(f.conn_state, f.end_reason, f.orig_pkts + f.resp_pkts) for f in flows] == [
        ("SF", "tcp_closed", 6),
        ("S1", "end_of_capture", 3),
    ]


@pytest.mark.parametrize("who", ["orig", "resp"])
def test_new_syn_after_rst_starts_a_new_connection(who: str) -> None:
    rst = c2s("R") if who == "orig" else s2c("RA")
    packets = [*HANDSHAKE, rst, c2s("S")]
    flows = run_flows(packets, _times(5)).flows
    assert [f.conn_state for f in flows] == ["RSTO" if who == "orig" else "RSTR", "S0"]
    assert flows[0].end_reason == "tcp_closed"


def test_retransmitted_syn_is_not_a_new_connection() -> None:
    flows = run_flows([c2s("S"), c2s("S"), c2s("S")], [0, 1, 3]).flows
    assert [(f.conn_state, f.orig_pkts) for f in flows] == [("S0", 3)]


@pytest.mark.parametrize("split", [None, 3, 4, 5, 6])
def test_close_delay(split: int | None) -> None:
    packets = [*HANDSHAKE, *FIN_CLOSE]
    cuts = [] if split is None else [split]
    late_ack = run_flows(packets, [0, 0.1, 0.2, 0.3, 0.4, 5.3], cuts=cuts).flows
    assert [(f.orig_pkts, f.end_reason) for f in late_ack] == [(4, "end_of_capture")]
    too_late = run_flows(packets, [0, 0.1, 0.2, 0.3, 0.4, 5.5], cuts=cuts).flows
    assert [(f.conn_state, f.orig_pkts, f.end_reason) for f in too_late] == [
        ("SF", 3, "tcp_closed"),
        ("OTH", 1, "end_of_capture"),
    ]


def test_closed_flow_ends_only_after_the_close_delay() -> None:
    table = FlowTable(FlowSettings(tcp_close_delay=5), seed=1)
    dec = Decoder()

    def feed(packets: list[bytes], times: list[float]) -> FlowBatch:
        b = make_batch(packets, 101, [round(t * SEC) for t in times])
        return table.update(dec.decode(b), b)

    assert len(feed([*HANDSHAKE, c2s("R")], [0, 0.1, 0.2, 0.3])) == 0
    assert len(feed([udp("1.1.1.1", 1, "2.2.2.2", 2)], [5.0])) == 0  # 4.7 s after the RST
    ended = feed([udp("1.1.1.1", 1, "2.2.2.2", 2)], [5.4])
    assert [(f.conn_state, f.end_reason) for f in ended.rows()] == [("RSTO", "tcp_closed")]


def test_zero_close_delay() -> None:
    packets = [*HANDSHAKE, c2s("R"), c2s("A")]
    settings = FlowSettings(tcp_close_delay=0)
    flows = run_flows(packets, _times(5), settings=settings).flows
    assert [f.conn_state for f in flows] == ["RSTO", "OTH"]


# -- active timeout ---------------------------------------------------------------------------


def test_active_timeout_ends_long_flows_between_batches() -> None:
    settings = FlowSettings(active_timeout=100)
    packets = [udp(C, 5000, S, 7000)] * 4
    flows = run_flows(packets, [0, 50, 101, 150], settings=settings, cuts=[1, 2, 3]).flows
    assert [(f.orig_pkts, f.end_reason) for f in flows] == [
        (3, "active_timeout"),
        (1, "end_of_capture"),
    ]


def test_active_timeout_zero_disables_it() -> None:
    settings = FlowSettings(active_timeout=0)
    packets = [udp(C, 5000, S, 7000)] * 4
    flows = run_flows(packets, [0, 50, 100, 150], settings=settings, cuts=[1, 2, 3]).flows
    assert [(f.orig_pkts, f.end_reason) for f in flows] == [(4, "end_of_capture")]


# -- bounds -----------------------------------------------------------------------------------


def test_max_flows_evicts_the_least_recently_active() -> None:
    settings = FlowSettings(max_flows=16)
    packets = [udp(C, 1000 + i, S, 7000) for i in range(20)] + [udp(C, 1000, S, 7000)]
    run = run_flows(packets, _times(21), settings=settings, flush=False)
    # Flow 1000 was refreshed by the last packet: flows 1001-1004 were the least recent.
    assert [(f.orig_port, f.end_reason) for f in run.flows] == [
        (p, "evicted") for p in (1001, 1002, 1003, 1004)
    ]
    assert len(run.table) == 16
    assert run.table.stats.evicted == 4
    assert run.table.stats.ended == {"evicted": 4}


def test_table_memory_stays_bounded_under_a_flood_of_new_flows() -> None:
    settings = FlowSettings(max_flows=16)
    table = FlowTable(settings, seed=3)
    dec = Decoder()
    capacities = []
    for b in range(30):
        packets = [udp(f"10.{b}.{i // 250}.{i % 250}", 1, S, 2) for i in range(300)]
        batch = make_batch(packets, 101, [b * SEC + i for i in range(300)])
        table.update(dec.decode(batch), batch)
        assert len(table) <= 16
        capacities.append(table.arrays.capacity)
        assert len(table.index) == len(table)
    assert capacities[-1] == capacities[2]  # no growth once the working set fits
    assert capacities[-1] <= 2 * (300 + 16) + 1024
    assert table.stats.evicted == 30 * 300 - 16


def test_flush_ends_everything_and_empties_the_table() -> None:
    table = FlowTable(seed=1)
    dec = Decoder()
    batch = make_batch([c2s("S"), udp(C, 1, S, 2)], 101, [0, 1])
    table.update(dec.decode(batch), batch)
    assert len(table) == 2
    ended = table.flush()
    assert ended.end_reason.tolist() == [EndReason.END_OF_CAPTURE] * 2
    assert len(table) == 0
    assert table.index == {}
    assert len(table.flush()) == 0


# -- per-direction counters and statistics ----------------------------------------------------


def test_volume_and_statistics_per_direction() -> None:
    # Client: IP lengths 60, 140, 40 at 0.0, 1.0, 3.0 s; server: 52, 1500 at 0.5, 2.5 s.
    packets = [
        c2s("S", b"\x00" * 20),
        s2c("SA", b"\x00" * 12),
        c2s("PA", b"q" * 100),
        s2c("PA", b"r" * 1460),
        c2s("A"),
    ]
    run = run_flows(packets, [0.0, 0.5, 1.0, 2.5, 3.0])
    (f,) = run.flows
    assert (f.orig_pkts, f.resp_pkts) == (3, 2)
    assert (f.orig_bytes, f.resp_bytes) == (60 + 140 + 40, 52 + 1500)
    assert (f.orig_payload, f.resp_payload) == (20 + 100, 12 + 1460)
    assert (f.start_ns, f.end_ns) == (0, 3 * SEC)
    c = run.batch.cols
    assert c["size_min"][0].tolist() == [40, 52]
    assert c["size_max"][0].tolist() == [140, 1500]
    assert c["size_sum"][0].tolist() == [240, 1552]
    assert c["size_sq"][0].tolist() == [60**2 + 140**2 + 40**2, 52**2 + 1500**2]
    assert c["iat_n"][0].tolist() == [2, 1]
    assert c["iat_min"][0].tolist() == [1 * SEC, 2 * SEC]
    assert c["iat_max"][0].tolist() == [2 * SEC, 2 * SEC]
    assert c["iat_sum"][0].tolist() == [3 * SEC, 2 * SEC]
    assert c["iat_sq"][0].tolist() == [float(SEC**2 + (2 * SEC) ** 2), float((2 * SEC) ** 2)]
    assert c["flags"][0].tolist() == [0x02 | 0x18 | 0x10, 0x12 | 0x18]
    assert c["first_flags"][0].tolist() == [0x02, 0x12]


def test_statistics_are_the_same_across_batches() -> None:
    packets = [c2s("S"), s2c("SA"), c2s("A", b"1" * 10), s2c("A", b"2" * 20), c2s("A", b"3" * 30)]
    times = [0.0, 0.25, 0.75, 1.5, 3.0]
    whole = run_flows(packets, times).batch.cols
    for cut in range(1, 5):
        part = run_flows(packets, times, cuts=[cut]).batch.cols
        for name in ("pkts", "ip_bytes", "payload", "size_min", "size_max", "size_sum",
                     "size_sq", "iat_n", "iat_min", "iat_max", "iat_sum", "iat_sq"):  # fmt: skip
            assert part[name].tolist() == whole[name].tolist(), (cut, name)


def test_flow_with_one_packet_has_no_inter_arrival_times() -> None:
    run = run_flows([udp(C, 1, S, 2)], [7.0])
    c = run.batch.cols
    assert c["iat_n"][0].tolist() == [0, 0]
    assert c["size_min"][0, 0] == 29
    assert c["size_max"][0, 1] == -1  # nothing seen in that direction


def test_std_from_the_sums_matches_numpy() -> None:
    sizes = [60, 140, 40]
    mean = sum(sizes) / 3
    std = math.sqrt(sum((s - mean) ** 2 for s in sizes) / 3)
    assert std == pytest.approx(float(np.std(sizes)))


def test_batches_from_two_captures_keep_their_names() -> None:
    table = FlowTable(seed=1)
    dec = Decoder()
    for name, port in (("a.pcap", 1), ("b.pcap", 2)):
        batch = make_batch([udp(C, port, S, 9)], 101, [0], capture=name)
        table.update(dec.decode(batch), batch)
    rows = table.flush().rows()
    assert sorted((r.orig_port, r.capture) for r in rows) == [(1, "a.pcap"), (2, "b.pcap")]


def test_hash_collisions_fall_back_to_exact_grouping(monkeypatch: pytest.MonkeyPatch) -> None:
    packets = [
        c2s("S"),
        s2c("SA"),
        udp(C, 1, S, 2),
        c2s("A"),
        udp(S, 2, C, 1),
        tcp(C, 5, S, 6, "S"),
    ]
    normal = run_flows(packets, _times(6)).flows

    def constant(self: object, keys: object) -> np.ndarray:
        return np.zeros(len(keys.proto), dtype=np.uint64)  # type: ignore[attr-defined]

    monkeypatch.setattr(KeyHasher, "hash", constant)
    collided = run_flows(packets, _times(6))
    assert collided.flows == normal
    assert collided.table.stats.collisions == 1
