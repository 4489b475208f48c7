"""A small TCP session builder with real sequence numbers, ACKs, slow start and teardown.

Times are those seen at the sensor, which sits next to the servers: the server reacts to a client's
packet after ``server_us``, the client to a server's packet after the round trip ``rtt_us``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from scapy.layers.inet import TCP
from scapy.packet import Raw

from api.demo.capture import Flow, Scene
from api.demo.network import MS, Host
from api.demo.tcp_profile import Option, TcpProfile, profile_of, syn_options

_MASK = 0xFFFFFFFF
# Linux's minimum delayed-ACK timeout; RFC 1122 4.2.3.2 allows up to 500 ms.
DELAYED_ACK_US = 40 * MS
# RFC 6928 initial window, and slow start adding one segment per segment acknowledged (RFC 5681).
_INITIAL_WINDOW = 10
_LAN_GAP_US = 15  # a full-sized segment at 1 Gbit/s
_WAN_GAP_US = 300  # ... and through a citizen's 40 Mbit/s uplink

#: TCP options of a segment: SYN options, none at all (RSTs), or timestamps when negotiated.
_Options = Literal["syn", "bare", "data"]


@dataclass(frozen=True)
class Turn:
    """One message of an application dialogue, sent ``delay_us`` after the previous one arrived."""

    from_client: bool
    data: bytes
    delay_us: int = 200


@dataclass
class _Side:
    is_client: bool
    profile: TcpProfile
    port: int
    seq: int
    ts_base: int
    last_tsval: int = 0


@dataclass(frozen=True)
class _OwedAck:
    by: _Side
    due: int
    ack: int
    tsecr: int


class TcpConnection:
    """One TCP connection, from SYN to FIN or RST; methods take and return sensor time (µs)."""

    def __init__(
        self,
        scene: Scene,
        flow: Flow,
        *,
        rtt_us: int,
        server_us: int = 150,
        client_profile: TcpProfile | None = None,
    ) -> None:
        self._cap, self._flow = scene.capture, flow
        rng = self._rng = scene.rng
        client = client_profile or profile_of(flow.orig)
        self._client = _Side(True, client, flow.orig_port, rng.getrandbits(32), rng.getrandbits(32))
        server = profile_of(flow.resp)
        self._server = _Side(
            False, server, flow.resp_port, rng.getrandbits(32), rng.getrandbits(32)
        )
        self._ts = client.timestamps and server.timestamps
        self._sack = client.sack and server.sack
        self._mss = 1460 - (12 if self._ts else 0)
        self.rtt_us, self.server_us = rtt_us, server_us
        self._owed: _OwedAck | None = None

    @classmethod
    def start(
        cls,
        scene: Scene,
        client: Host,
        server: Host,
        port: int,
        *,
        label: str,
        service: str | None,
        rtt_us: int,
        client_port: int | None = None,
        client_profile: TcpProfile | None = None,
    ) -> TcpConnection:
        """Open the flow for a new connection from an ephemeral port (or ``client_port``)."""
        if client_port is None:
            client_port = scene.ephemeral_port(client, "tcp", server, port)
        flow = scene.open_flow(
            "tcp", (client, client_port), (server, port), label=label, service=service
        )
        return cls(scene, flow, rtt_us=rtt_us, client_profile=client_profile)

    @property
    def last_at(self) -> int:
        """When the connection's latest packet was sent."""
        return self._flow.last_us

    # ---------------------------------------------------------------- connection life cycle

    def open(self, at: int) -> int:
        """Three-way handshake; returns when the client has sent its ACK and may send data."""
        c, s = self._client, self._server
        t = self._emit(c, at, "S", options="syn")
        t = self._emit(s, t + self._react(s), "SA", options="syn")
        return self._emit(c, t + self._react(c), "A")

    def send(self, from_client: bool, data: bytes, at: int) -> int:
        """Send ``data`` as full-sized segments; returns when the receiver has all of it.

        The receiver ACKs every second segment at once and the last odd one after the delayed-ACK
        timeout, unless it sends something first that carries the ACK.
        """
        sender, receiver = self._sides(from_client)
        chunks = [data[i : i + self._mss] for i in range(0, len(data), self._mss)]
        gap = _LAN_GAP_US if not from_client or self.rtt_us < 2 * MS else _WAN_GAP_US
        ack_back = 0 if not from_client else self.rtt_us  # ACKs reach a client a round trip later
        react = self._react(receiver)  # one delay per burst, so that ACKs stay in order
        times: list[int] = []
        ack_times: dict[int, int] = {}
        for i in range(len(chunks)):
            t = at if i == 0 else times[-1] + gap
            need = (i - _INITIAL_WINDOW) // 2 + 1  # segments acknowledged before segment i fits
            if need > 0:
                t = max(t, ack_times[need - 1 if need % 2 == 0 else need] + ack_back + gap)
            times.append(t)
            if i % 2 == 1:
                ack_times[i] = t + react
        events = [(t, 0, i) for i, t in enumerate(times)] + [
            (t, 1, i) for i, t in ack_times.items()
        ]
        ends: dict[int, tuple[int, int]] = {}
        last_at = at
        for t, is_ack, i in sorted(events):
            if is_ack:
                self._emit(receiver, t, "A", ack=ends[i][0], tsecr=ends[i][1])
            else:
                flags = "PA" if i == len(chunks) - 1 else "A"
                last_at = self._emit(sender, t, flags, chunks[i])
                ends[i] = (sender.seq, sender.last_tsval)
        done = last_at + react
        if len(chunks) % 2 == 1:
            owed = _OwedAck(receiver, done + DELAYED_ACK_US, sender.seq, sender.last_tsval)
            self._owed = owed
        return done

    def converse(self, turns: list[Turn], at: int) -> int:
        """Play a dialogue; returns when the last message has arrived."""
        for turn in turns:
            at = self.send(turn.from_client, turn.data, at + turn.delay_us)
        return at

    def close(self, from_client: bool, at: int) -> int:
        """Orderly teardown started by one side: FIN, FIN, ACK (RFC 9293 3.6)."""
        closer, other = self._sides(from_client)
        t = self._emit(closer, at, "FA")
        t = self._emit(other, t + self._react(other), "FA")
        return self._emit(closer, t + self._react(closer), "A")

    def abort(self, from_client: bool, at: int) -> int:
        """Reset the connection, as Linux does when an application closes with unread data."""
        side, _ = self._sides(from_client)
        return self._emit(side, at, "RA", options="bare", window=0)

    # ---------------------------------------------------------------- what port scanners provoke

    def syn_only(self, at: int) -> int:
        """A SYN that nobody answers (a filtered or absent host)."""
        return self._emit(self._client, at, "S", options="syn")

    def refused(self, at: int) -> int:
        """SYN answered by RST-ACK from a closed port (RFC 9293 3.10.7.1: SEQ=0, ACK=SEG.SEQ+1)."""
        t = self.syn_only(at)
        s = self._server
        return self._emit(s, t + self._react(s), "RA", seq=0, options="bare", window=0)

    def half_open(self, at: int) -> int:
        """SYN, SYN-ACK, then the scanner's kernel resets the connection it never opened."""
        c, s = self._client, self._server
        t = self.syn_only(at)
        t = self._emit(s, t + self._react(s), "SA", options="syn")
        return self._emit(c, t + self._react(c), "R", options="bare", window=0)

    # ---------------------------------------------------------------- internals

    def _sides(self, from_client: bool) -> tuple[_Side, _Side]:
        return (self._client, self._server) if from_client else (self._server, self._client)

    def _react(self, side: _Side) -> int:
        base = self.rtt_us if side.is_client else self.server_us
        return base + self._rng.randrange(base // 8 + 1)

    def _tsval(self, side: _Side, at: int) -> int:
        return (side.ts_base + at // MS) & _MASK  # a 1 kHz timestamp clock (RFC 7323 5.4)

    def _options(self, side: _Side, mode: _Options, tsval: int, tsecr: int | None) -> list[Option]:
        peer = self._server if side.is_client else self._client
        if mode == "bare":
            return []
        if mode == "syn":
            # A client offers what its stack has; a server only what the client offered too.
            p = side.profile
            if side.is_client:
                return syn_options(
                    p, (tsval, 0), ts=p.timestamps, sack=p.sack, wscale=p.wscale is not None
                )
            both_scale = p.wscale is not None and peer.profile.wscale is not None
            stamp = (tsval, peer.last_tsval)
            return syn_options(p, stamp, ts=self._ts, sack=self._sack, wscale=both_scale)
        if not self._ts:
            return []
        return [
            ("NOP", None),
            ("NOP", None),
            ("Timestamp", (tsval, peer.last_tsval if tsecr is None else tsecr)),
        ]

    def _settle(self, side: _Side, at: int) -> None:
        owed = self._owed
        if owed is None:
            return
        if owed.due <= at:
            self._owed = None
            self._emit(owed.by, owed.due, "A", ack=owed.ack, tsecr=owed.tsecr)
        elif owed.by is side:
            self._owed = None  # this packet carries the ACK

    def _emit(
        self,
        side: _Side,
        at: int,
        flags: str,
        payload: bytes = b"",
        *,
        ack: int | None = None,
        tsecr: int | None = None,
        seq: int | None = None,
        options: _Options = "data",
        window: int | None = None,
    ) -> int:
        self._settle(side, at)
        at = max(at, self._flow.last_us + 1)
        peer = self._server if side.is_client else self._client
        tsval = self._tsval(side, at)
        if window is None:
            window = side.profile.window
            if "S" in flags:
                window = side.profile.synack_window if "A" in flags else side.profile.syn_window
        segment = TCP(
            sport=side.port,
            dport=peer.port,
            seq=side.seq if seq is None else seq,
            ack=(peer.seq if ack is None else ack) if "A" in flags else 0,
            flags=flags,
            window=window,
            options=self._options(side, options, tsval, tsecr),
        )
        if payload:
            segment.add_payload(Raw(payload))  # in place: see Capture.emit
        at = self._cap.emit(
            self._flow, from_orig=side.is_client, at=at, l4=segment, payload_len=len(payload)
        )
        if seq is None:
            side.seq = (side.seq + len(payload) + ("S" in flags) + ("F" in flags)) & _MASK
        side.last_tsval = tsval
        return at
