"""Zeek conn_state and history from hand-built TCP exchanges (base/protocols/conn/main.zeek)."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP, UDP
from sensorkit import run_flows

CLIENT, SERVER = ("10.0.0.1", 40000), ("10.0.0.2", 80)


def tcp(flags: str, d: int = 0, data: bytes = b"") -> bytes:
    """A TCP segment from the client (``d=0``) or the server (``d=1``)."""
    (sa, sp), (da, dp) = (CLIENT, SERVER) if d == 0 else (SERVER, CLIENT)
    return bytes(IP(src=sa, dst=da) / TCP(sport=sp, dport=dp, flags=flags) / data)


HANDSHAKE = [tcp("S"), tcp("SA", 1), tcp("A")]

# state -> packets, expected history (upper case: originator), orig/resp packets.
EXCHANGES: dict[str, tuple[list[bytes], str, int, int]] = {
    "S0": ([tcp("S"), tcp("S")], "S", 2, 0),
    "S1": ([*HANDSHAKE, tcp("PA", 0, b"GET /"), tcp("PA", 1, b"200")], "ShADd", 3, 2),
    "SF": (
        [*HANDSHAKE, tcp("PA", 0, b"x"), tcp("A", 1), tcp("FA"), tcp("FA", 1), tcp("A")],
        "ShADaFf",
        5,
        3,
    ),
    "REJ": ([tcp("S"), tcp("RA", 1)], "Sr", 1, 1),
    "S2": ([*HANDSHAKE, tcp("FA")], "ShAF", 3, 1),
    "S3": ([*HANDSHAKE, tcp("FA", 1)], "ShAf", 2, 2),
    "RSTO": ([*HANDSHAKE, tcp("PA", 0, b"x"), tcp("R")], "ShADR", 4, 1),
    "RSTR": ([*HANDSHAKE, tcp("PA", 0, b"x"), tcp("RA", 1)], "ShADr", 3, 2),
    "RSTOS0": ([tcp("S"), tcp("R")], "SR", 2, 0),
    "RSTRH": ([tcp("SA", 1), tcp("R", 1)], "hr", 0, 2),
    "SH": ([tcp("S"), tcp("F")], "SF", 2, 0),
    "SHR": ([tcp("SA", 1), tcp("F", 1)], "hf", 0, 2),
    "OTH": ([tcp("A"), tcp("PA", 1, b"mid")], "Ad", 1, 1),
}


@pytest.mark.parametrize("state", sorted(EXCHANGES))
def test_conn_state(state: str) -> None:
    packets, history, orig_pkts, resp_pkts = EXCHANGES[state]
    run = run_flows(packets, [0.01 * i for i in range(len(packets))])
    (flow,) = run.flows
    assert flow.conn_state == state
    assert flow.history == history
    assert (flow.orig_pkts, flow.resp_pkts) == (orig_pkts, resp_pkts)
    # The client is the originator in every exchange (flipped by port when the server spoke first).
    assert (flow.orig_ip, flow.orig_port, flow.resp_ip, flow.resp_port) == (
        "10.0.0.1",
        40000,
        "10.0.0.2",
        80,
    )


def test_conn_state_is_the_same_whichever_batch_each_packet_is_in() -> None:
    for state, (packets, history, _, _) in EXCHANGES.items():
        times = [0.01 * i for i in range(len(packets))]
        for cut in range(1, len(packets)):
            (flow,) = run_flows(packets, times, cuts=[cut]).flows
            assert (state, flow.conn_state, flow.history) == (state, state, history)


@pytest.mark.parametrize(
    ("orig", "resp", "state"),
    [(1, 0, "S0"), (1, 1, "SF"), (0, 1, "SHR")],
)
def test_udp_states(orig: int, resp: int, state: str) -> None:
    # Port 53 is a likely server port: an answer seen alone is flipped to come from the responder.
    a = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5000, dport=53) / b"q")
    b = bytes(IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=53, dport=5000) / b"r")
    packets = [a] * orig + [b] * resp
    (flow,) = run_flows(packets, [0.1 * i for i in range(len(packets))]).flows
    assert flow.conn_state == state
    assert flow.history == "D" * bool(orig) + "d" * bool(resp)
    assert (flow.orig_ip, flow.orig_port, flow.resp_port) == ("10.0.0.1", 5000, 53)


def test_other_protocols_are_oth() -> None:
    esp = bytes(IP(src="10.0.0.1", dst="10.0.0.2", proto=50) / (b"\x00" * 16))
    (flow,) = run_flows([esp], [0.0]).flows
    assert (flow.conn_state, flow.transport, flow.history) == ("OTH", "esp", "D")
