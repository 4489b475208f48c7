"""The TCP session builder: handshake, delayed and piggybacked ACKs, slow start, and endings."""

from __future__ import annotations

import random
from collections.abc import Callable

import dpkt
import pytest

from api.demo.capture import Capture, Scene
from api.demo.network import LINUX, MS, START_US, WINDOWS, OsProfile, dmz_host, internet_host
from api.demo.tcp import DELAYED_ACK_US, TcpConnection

S, F, R, A, P = (dpkt.tcp.TH_SYN, dpkt.tcp.TH_FIN, dpkt.tcp.TH_RST, dpkt.tcp.TH_ACK,
                 dpkt.tcp.TH_PUSH)  # fmt: skip
RTT = 30 * MS


def _connection(os: OsProfile = LINUX) -> tuple[Capture, TcpConnection]:
    capture = Capture()
    scene = Scene(capture, random.Random(7))
    client, server = internet_host("203.0.113.5", os), dmz_host("198.51.100.10")
    conn = TcpConnection.start(scene, client, server, 80, label="benign", service=None, rtt_us=RTT)
    return capture, conn


def _segments(capture: Capture) -> list[tuple[int, bool, dpkt.tcp.TCP]]:
    """(time, from client, segment) for every frame."""
    out = []
    for frame in capture.frames():
        ip = dpkt.ethernet.Ethernet(frame.data).data
        out.append((frame.ts_us, ip.src == bytes([203, 0, 113, 5]), ip.data))
    return out


def test_request_response_and_delayed_ack() -> None:
    capture, conn = _connection()
    t = conn.open(START_US)
    t = conn.send(True, b"GET / HTTP/1.1\r\n\r\n", t + 100)
    t = conn.send(False, b"HTTP/1.1 204 No Content\r\n\r\n", t + 500)
    conn.close(True, t + 5_000 * MS)
    segments = _segments(capture)
    flags = [(client, seg.flags) for _, client, seg in segments]
    assert flags == [
        (True, S), (False, S | A), (True, A),
        (True, P | A), (False, P | A),  # the answer carries the ACK of the request
        (True, A),  # the client's delayed ACK of the answer
        (True, F | A), (False, F | A), (True, A),
    ]  # fmt: skip
    answer_at, delayed_at = segments[4][0], segments[5][0]
    assert delayed_at - answer_at >= RTT + DELAYED_ACK_US
    assert segments[5][2].ack == segments[4][2].seq + len(segments[4][2].data)
    assert capture.flows[0].conn_state() == "SF"


def test_slow_start_waits_for_acks() -> None:
    capture, conn = _connection()
    t = conn.open(START_US)
    conn.send(False, bytes(30 * 1448), t + 100)
    data = [(ts, seg) for ts, client, seg in _segments(capture) if not client and seg.data]
    acks = [ts for ts, client, seg in _segments(capture) if client and ts > data[0][0]]
    assert len(data) == 30 and all(len(seg.data) == 1448 for _, seg in data)
    # The initial window is ten segments (RFC 6928); the eleventh waits for the first ACK.
    assert data[9][0] < acks[0] <= data[10][0]


def test_windows_client_has_no_timestamps_and_short_frames_are_padded() -> None:
    capture, conn = _connection(WINDOWS)
    conn.open(START_US)
    frames = capture.frames()
    ack = dpkt.ethernet.Ethernet(frames[2].data)
    assert ack.data.len == 40 and len(frames[2].data) == 60
    assert capture.flows[0].orig_stats.ip_bytes == 52 + 40  # SYN with 12 option bytes, bare ACK


@pytest.mark.parametrize(
    ("act", "state", "packets"),
    [
        (lambda c: c.syn_only(START_US), "S0", (1, 0)),
        (lambda c: c.refused(START_US), "REJ", (1, 1)),
        (lambda c: c.half_open(START_US), "RSTO", (2, 1)),
        (lambda c: c.abort(False, c.open(START_US) + 1), "RSTR", (2, 2)),
        (lambda c: c.abort(True, c.open(START_US) + 1), "RSTO", (3, 1)),
    ],
)
def test_endings(act: Callable[[TcpConnection], int], state: str, packets: tuple[int, int]) -> None:
    capture, conn = _connection()
    act(conn)
    flow = capture.flows[0]
    assert flow.conn_state() == state
    assert (flow.orig_stats.packets, flow.resp_stats.packets) == packets


def test_closed_port_reset_follows_rfc_9293() -> None:
    capture, conn = _connection()
    conn.refused(START_US)
    (_, _, syn), (_, _, rst) = _segments(capture)
    assert rst.flags == R | A and rst.seq == 0 and rst.ack == syn.seq + 1 and rst.win == 0


def test_a_five_tuple_is_used_once() -> None:
    capture, _ = _connection()
    scene = Scene(capture, random.Random(1))
    flow = capture.flows[0]
    with pytest.raises(ValueError, match="5-tuple used twice"):
        TcpConnection.start(
            scene, flow.orig, flow.resp, 80, label="benign", service=None, rtt_us=RTT,
            client_port=flow.orig_port,
        )  # fmt: skip
    with pytest.raises(ValueError, match="5-tuple used twice"):  # the same, the other way round
        TcpConnection.start(
            scene, flow.resp, flow.orig, flow.orig_port, label="benign", service=None, rtt_us=RTT,
            client_port=80,
        )  # fmt: skip
