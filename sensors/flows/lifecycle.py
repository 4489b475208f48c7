"""When a TCP connection ends and the next one on the same key begins, as Zeek decides it.

Works on the packets of many keys at once (see ``tcp_segments``); the flow table calls it for the
TCP keys of each batch and carries each connection's state (``TcpCarry``) between batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sensors.flows.arrays import NEVER
from sensors.flows.state import ACK, FIN, RST, SYN

B = npt.NDArray[np.bool_]

# -- when Zeek ends a TCP connection ------------------------------------------------------------
#
# Zeek removes a TCP connection, so that the key's next packet starts a new one, when
#  * the attempt timer fires: ``tcp_attempt_delay`` (5 s) after the originator's first packet, if
#    that was a SYN (or SYN-ACK), it has not closed since and the responder is still INACTIVE
#    (silent, or only bare ACKs to a SYN) - ``TCPSessionAdapter::AttemptTimer``;
#  * ``tcp_close_delay`` (5 s) after the close completed - a RST, a FIN whose peer is INACTIVE, or
#    the second side's first FIN - ``ConnectionClosed`` scheduling ``ConnDeleteTimer``;
#  * a SYN arrives after either side closed, or with another sequence number than the one the
#    connection started with (``TCPSessionAdapter::IsReuse``);
#  * it was idle too long (``tcp_inactivity_timeout``, applied by the table for every protocol).
# A connection that begins with a SYN-ACK the ports did not flip is flipped when an ACK or data
# segment follows (zeek/zeek#2191: stealth scans answer with RSTs or nothing).
#
# The rules depend on where the current connection began, and that on the previous boundary, so
# boundaries are found in rounds: each round finds the first boundary of every key that still has
# packets left, all keys at once. Keys with no SYN, FIN or RST and nothing pending never enter.

END_IDLE = 1
END_CLOSED = 2
_BIG = np.iinfo(np.int64).max
_SEQ = np.int64(1 << 32)

I64 = npt.NDArray[np.int64]


@dataclass(slots=True)
class TcpPackets:
    """The packets of the keys to segment: grouped by key, in capture order within a key."""

    ts: I64
    flags: npt.NDArray[np.uint8]
    seq: I64
    ack: I64
    payload: I64
    src_is_a: B
    idle: B  # an idle timeout ends the connection before this packet
    first: I64  # per key: index of its first packet
    end: I64  # per key: index after its last packet


@dataclass(slots=True)
class TcpCarry:
    """What the table knows of each key's connection from earlier batches (orig, resp columns)."""

    cont: B
    orig_is_a: B
    start_ns: I64
    sent: B  # (k, 2)
    resp_active: B  # the responder left INACTIVE (sent a SYN, FIN, RST or data)
    closed: B  # (k, 2)
    delete_ns: I64
    attempt_ns: I64  # when the attempt timer fires (NEVER: not armed)
    attempt_synack: B  # the originator opened with a SYN-ACK
    flip_pending: B  # the connection is one SYN-ACK the ports did not flip
    start_seq: I64  # (k, 2): each endpoint's start sequence number (-1: unknown)
    last_ack: I64  # (k, 2): the acknowledgement number each side sent last (-1: none)

    @staticmethod
    def fresh(k: int) -> TcpCarry:
        """New connections: nothing known (every field its own array, to be filled in)."""

        def no() -> B:
            return np.zeros(k, dtype=bool)

        def never() -> I64:
            return np.full(k, NEVER, dtype=np.int64)

        pair = (k, 2)
        return TcpCarry(no(), no(), never(), np.zeros(pair, bool), no(), np.zeros(pair, bool),
                        never(), never(), no(), no(), np.full(pair, -1),
                        np.full(pair, -1))  # fmt: skip


@dataclass(slots=True)
class TcpSegments:
    start: B  # per packet: it begins a new connection
    reason: npt.NDArray[np.uint8]  # at starts: why the previous connection ended (END_*, 0: none)
    orig_is_a: B  # at starts: whether endpoint a originates the new connection
    cont_ended: B  # per key: the connection from earlier batches ended before this batch's packets
    cont_flip: B  # per key: that connection is flipped by its second packet
    delete_ns: I64  # per key: when the key's last connection is deleted after its close
    budget_exceeded: int  # keys left unsplit because ``max_rounds`` was reached


def tcp_segments(
    p: TcpPackets,
    carry: TcpCarry,
    originator: Callable[[I64], B],
    *,
    attempt_ns: int,
    close_ns: int,
    max_rounds: int,
) -> TcpSegments:
    """Where Zeek would end and start TCP connections among ``p`` (see the notes above)."""
    m, k = len(p.ts), len(p.first)
    out = TcpSegments(np.zeros(m, bool), np.zeros(m, np.uint8), np.zeros(m, bool),
                      np.zeros(k, bool), np.zeros(k, bool), np.full(k, NEVER, np.int64),
                      0)  # fmt: skip
    out.start[p.first[~carry.cont]] = True
    cur, cont = p.first.copy(), carry.cont.copy()
    active = np.flatnonzero(cur < p.end)
    for round_no in range(max_rounds):
        if len(active) == 0:
            return out
        # Keys still active after a first round are the ones that reconnect: try the fast paths.
        fresh = active[~cont[active]] if round_no else active[:0]
        if len(fresh):
            cur[fresh] = _timer_runs(p, fresh, cur[fresh], originator, attempt_ns, close_ns, out)
            cur[fresh] = _syn_runs(p, fresh, cur[fresh], min(attempt_ns, close_ns), out)
        cut = _round(p, carry, active, cur[active], cont[active], originator, out,
                     attempt_ns, close_ns)  # fmt: skip
        has = cut >= 0
        active, at = active[has], cut[has]
        cur[active] = at
        cont[active] = False
    out.budget_exceeded = len(active)
    if len(active):
        out.orig_is_a[cur[active]] = originator(cur[active])
    return out


def _timer_runs(
    p: TcpPackets,
    groups: I64,
    s: I64,
    originator: Callable[[I64], B],
    attempt_ns: int,
    close_ns: int,
    out: TcpSegments,
) -> I64:
    """Fast path for keys whose connections are single packets further apart than their timers
    (a RST a minute, a SYN probe every few seconds: one round per connection otherwise).

    A connection made of one packet ends at the next packet if that packet's timer fired first:
    a RST or FIN closes it (no peer spoke) and it is deleted ``close_ns`` later; a SYN, or a
    SYN-ACK the ports leave unflipped, arms the attempt timer. Returns where each key's first
    connection that is not such a packet begins, for the other passes to go on from.
    """
    length = p.end[groups] - s
    ok = length >= 2
    if not ok.any():
        return s
    g, s0, n = groups[ok], s[ok], length[ok]
    rs = np.concatenate(([0], np.cumsum(n)[:-1]))
    kk = np.repeat(np.arange(len(g)), n)
    r = np.arange(len(kk))
    pos = s0[kk] + (r - rs[kk])
    fl, ts = p.flags[pos], p.ts[pos]
    closing = (fl & (FIN | RST)) != 0
    syn, ack = (fl & SYN) != 0, (fl & ACK) != 0
    armed = closing | (syn & ~ack)
    synack = syn & ack & ~closing
    if synack.any():
        at = pos[synack]
        armed[synack] = originator(at) == p.src_is_a[at]
    last = r == rs[kk] + n[kk] - 1
    after = ts[np.minimum(r + 1, len(r) - 1)]
    fires = armed & ~last & (after > ts + np.where(closing, close_ns, attempt_ns))
    stop = np.minimum.reduceat(np.where(fires, _BIG, r), rs)
    run = (r > rs[kk]) & (r <= stop[kk])
    if not run.any():
        return s
    hit = pos[run]
    out.start[hit] = True
    out.reason[hit] = np.where(closing[r[run] - 1], END_CLOSED, END_IDLE)
    heads = pos[(r >= rs[kk]) & (r < stop[kk])]
    out.orig_is_a[heads] = originator(heads)
    s = s.copy()
    s[np.flatnonzero(ok)] = pos[stop]
    return s


def _syn_runs(p: TcpPackets, groups: I64, s: I64, window: int, out: TcpSegments) -> I64:
    """Fast path for keys that reconnect over and over (one round per connection otherwise).

    While a key's remaining packets span no more than ``window`` (the shorter of the attempt and
    close delays), no timer can fire among them, so the only boundaries are reused SYNs; and
    while every connection begins with a plain SYN, a SYN starts a new one exactly when a FIN or
    RST came since the previous SYN or its sequence number differs from that SYN's (by induction:
    a SYN that starts nothing repeats the start's number). Returns where each key's last such
    connection begins, for ``_round`` to finish.
    """
    d = SYN | ACK
    length = p.end[groups] - s
    starts_syn = (p.flags[s] & d) == SYN
    ok = starts_syn & (length >= 2)
    if not ok.any():
        return s
    g, s0, n = groups[ok], s[ok], length[ok]
    rs = np.concatenate(([0], np.cumsum(n)[:-1]))
    kk = np.repeat(np.arange(len(g)), n)
    pos = s0[kk] + (np.arange(len(kk)) - rs[kk])
    ts = p.ts[pos]
    quiet = (np.maximum.reduceat(ts, rs) - np.minimum.reduceat(ts, rs)) <= window
    quiet &= ~np.logical_or.reduceat(p.idle[pos] & (pos != s0[kk]), rs)
    if not quiet.any():
        return s
    fl = p.flags[pos]
    syn = ((fl & d) == SYN) & quiet[kk]
    r = np.arange(len(pos))
    last_syn = np.maximum.accumulate(np.where(syn, r, -1))
    prev_syn = np.concatenate(([-1], last_syn[:-1]))
    closes = np.cumsum((fl & (FIN | RST)) != 0) - ((fl & (FIN | RST)) != 0)
    ps = np.maximum(prev_syn, 0)
    new = syn & (prev_syn >= rs[kk]) & ((closes - closes[ps] > 0) | (p.seq[pos] != p.seq[pos[ps]]))
    # Every connection here begins with a plain SYN, whose sender originates it.
    heads = pos[new | ((r == rs[kk]) & quiet[kk])]
    out.orig_is_a[heads] = p.src_is_a[heads]
    hit = pos[new]
    out.start[hit] = True
    out.reason[hit] = END_CLOSED
    last = np.maximum.reduceat(np.where(new, pos, -1), rs)
    s = s.copy()
    s[np.flatnonzero(ok)] = np.where(last >= 0, last, s0)
    return s


def _round(
    p: TcpPackets,
    carry: TcpCarry,
    groups: I64,
    s: I64,
    cn: B,
    originator: Callable[[I64], B],
    out: TcpSegments,
    attempt_ns: int,
    close_ns: int,
) -> I64:
    """Segment every key in ``groups`` from its current start ``s`` up to its first boundary;
    returns the boundary (absolute index, -1 if none) for each, and records the segment in ``out``.
    """
    n_k = len(groups)
    length = p.end[groups] - s
    rs = np.concatenate(([0], np.cumsum(length)[:-1]))
    kk = np.repeat(np.arange(n_k), length)
    r = np.arange(len(kk))
    if len(r) == len(p.ts):  # every packet (a first round): the round is the packets' order
        pos = r
        ts, fl, pay = p.ts, p.flags, p.payload
    else:
        pos = s[kk] + (r - rs[kk])
        ts, fl, pay = p.ts[pos], p.flags[pos], p.payload[pos]
    first_fresh = (r == rs[kk]) & ~cn[kk]
    syn, ack = (fl & SYN) != 0, (fl & ACK) != 0
    closing = (fl & (FIN | RST)) != 0

    re = rs + length

    def first(x: B) -> I64:
        """Per key: the round index of the first packet where ``x`` holds (``_BIG``: none)."""
        hits = np.append(np.flatnonzero(x), _BIG)
        at = hits[np.searchsorted(hits, rs)]
        return np.asarray(np.where(at < re, at, _BIG), dtype=np.int64)

    def carried(values: npt.NDArray[Any], default: Any) -> npt.NDArray[Any]:
        if not cn.any():
            return np.full(n_k, default, dtype=values.dtype)
        return np.where(cn, values[groups], default)

    # Who originates: the ports decide for a new connection, its second packet may flip it.
    any_cont = bool(cn.any())
    fresh = np.flatnonzero(~cn)
    o_a = np.where(cn, carry.orig_is_a[groups], False) if any_cont else np.zeros(n_k, bool)
    o_a[fresh] = originator(s[fresh])
    f1 = p.flags[s]
    synack_first = ~cn & ((f1 & (SYN | ACK)) == (SYN | ACK)) & (length >= 2)
    if synack_first.any():
        second = np.minimum(s + 1, len(p.ts) - 1)
        f2 = p.flags[second]
        follows = ((f2 & (SYN | RST)) == 0) & (((f2 & ACK) != 0) | (p.payload[second] > 0))
        in_time = p.ts[second] - p.ts[s] <= attempt_ns
        o_a ^= synack_first & (o_a == p.src_is_a[s]) & follows & in_time
    flip_old = np.zeros(n_k, dtype=bool)
    if any_cont:
        first_follows = ((f1 & (SYN | RST)) == 0) & (((f1 & ACK) != 0) | (p.payload[s] > 0))
        flip_old = (cn & carry.flip_pending[groups] & first_follows
                    & (p.ts[s] - carry.start_ns[groups] <= attempt_ns))  # fmt: skip
        o_a ^= flip_old
        out.cont_flip[groups[flip_old]] = True
    out.orig_is_a[s[fresh]] = o_a[fresh]

    # Carried state, by originator (0) and responder (1); a flipped carry swaps its sides.
    if any_cont:
        swap = flip_old[:, None]
        keep = cn[:, None]
        sent = np.where(swap, carry.sent[groups][:, ::-1], carry.sent[groups]) & keep
        closed = np.where(swap, carry.closed[groups][:, ::-1], carry.closed[groups]) & keep
        start_seq = np.where(swap, carry.start_seq[groups][:, ::-1], carry.start_seq[groups])
        last_ack = np.where(swap, carry.last_ack[groups][:, ::-1], carry.last_ack[groups])
        start_seq = np.where(keep, start_seq, -1)
        last_ack = np.where(keep, last_ack, -1)
        resp_active = carried(carry.resp_active, False) | flip_old
    else:
        sent = closed = np.zeros((n_k, 2), dtype=bool)
        start_seq = last_ack = np.full((n_k, 2), -1, dtype=np.int64)
        resp_active = np.zeros(n_k, dtype=bool)

    from_o = p.src_is_a[pos] == o_a[kk]
    from_r = ~from_o
    none = np.full(n_k, _BIG, dtype=np.int64)
    # What each connection had done before each packet (carried in, or earlier in this round),
    # and where it first did it; computed when a rule needs it (one array pass each).
    memo: dict[str, B] = {}

    def before(name: str) -> B:
        if name not in memo:
            event, had = {
                "sent_o": lambda: (from_o, sent[:, 0]),
                "sent_r": lambda: (from_r, sent[:, 1]),
                "active_r": lambda: (from_r & (((fl & (SYN | FIN | RST)) != 0) | (pay > 0)),
                                     resp_active),
                "closed_o": lambda: (from_o & closing, closed[:, 0]),
                "closed_r": lambda: (from_r & closing, closed[:, 1]),
            }[name]()  # fmt: skip
            c = np.cumsum(event, dtype=np.int32) - event
            memo[name] = ((c - c[rs][kk]) > 0) | had[kk]
        return memo[name]

    # The close: deleted tcp_close_delay after it completed (see ConnectionClosed).
    delete = carried(carry.delete_ns, NEVER)
    fo = fr = none
    if closing.any():
        fo, fr = first(from_o), first(from_r)
        ko = np.where(closed[:, 0], -1, first(from_o & closing))
        kr = np.where(closed[:, 1], -1, first(from_r & closing))
        x_is_o = ko <= kr
        kx, ky = np.minimum(ko, kr), np.maximum(ko, kr)
        x_in = (kx >= 0) & (kx < _BIG)
        xi = np.where(x_in, kx, 0)
        peer_sent = np.where(x_is_o, sent[:, 1] | (fr < kx), sent[:, 0] | (fo < kx))
        complete = ((fl[xi] & RST) != 0) | ~peer_sent
        delete_x = np.where(x_in & complete, ts[xi] + close_ns, NEVER)
        delete_x = np.where(kx == -1, delete, delete_x)
        y_in = (ky >= 0) & (ky < _BIG)
        t_y = ts[np.where(y_in, ky, 0)]
        delete = np.where(y_in & (t_y < delete_x), t_y + close_ns, delete_x)
    at_d = (ts > delete[kk]) & ~first_fresh
    b_d = first(at_d) if (delete < NEVER).any() else none

    # The attempt timer, armed by the originator's opening SYN (or SYN-ACK).
    opens = ~cn & from_o[rs] & syn[rs]
    attempt = np.where(opens, ts[rs] + attempt_ns, carried(carry.attempt_ns, NEVER))
    attempt = np.where(flip_old, NEVER, attempt)
    b_a = none
    if (attempt < NEVER).any():
        by_synack = np.where(opens, ack[rs], carried(carry.attempt_synack, False))
        ia = first((ts > attempt[kk]) & ~first_fresh)
        ia_ok = ia < _BIG
        ai = np.where(ia_ok, ia, 0)
        silent = np.where(by_synack, ~before("sent_r")[ai], ~before("active_r")[ai])
        b_a = np.where(ia_ok & ~before("closed_o")[ai] & silent, ia, _BIG)

    # Reuse: a SYN after a close, or with another sequence number than the connection's start.
    b_s = none
    late_syn = syn & ~first_fresh
    if late_syn.any():
        if fo is none:
            fo, fr = first(from_o), first(from_r)
        sent_o, sent_r = before("sent_o"), before("sent_r")
        own_o = np.where(fo < _BIG, _start_seq(p, pos, fo), start_seq[:, 0])
        own_r = np.where(fr < _BIG, _start_seq(p, pos, fr), start_seq[:, 1])
        own_o = np.where(sent[:, 0], start_seq[:, 0], own_o)
        own_r = np.where(sent[:, 1], start_seq[:, 1], own_r)
        # An endpoint not heard from yet starts where its peer's ACKs say (``init_peer``).
        start_o, start_r = own_o[kk], own_r[kk]
        if (late_syn & ~sent_o).any():
            peer_o = _peer_start(p, pos, from_r & ack, rs, kk, last_ack[:, 1])
            peer_r = _peer_start(p, pos, from_o & ack, rs, kk, last_ack[:, 0])
            start_o = np.where(sent_o, start_o, peer_o)
            start_r = np.where(sent_r, start_r, peer_r)
        any_closed = before("closed_o") | before("closed_r")
        seq = p.seq[pos]
        reuse = (~ack & (any_closed | (seq != start_o))) | (
            ack & ~sent_o & (any_closed | (seq != start_r))
        )
        b_s = first(late_syn & reuse)

    idle = p.idle[pos] & ~first_fresh
    b_i = first(idle) if idle.any() else none
    b = np.minimum(np.minimum(b_i, b_d), np.minimum(b_a, b_s))
    has = b < _BIG
    bi = np.where(has, b, 0)
    why = np.where(at_d[bi], END_CLOSED, np.where((b == b_i) | (b == b_a), END_IDLE, END_CLOSED))
    at = np.where(has, pos[bi], -1)
    hit = at[has]
    out.start[hit] = True
    out.reason[hit] = why[has]
    out.cont_ended[groups[has & cn & (b == rs)]] = True
    done = ~has
    out.delete_ns[groups[done]] = delete[done]
    return np.asarray(at, dtype=np.int64)


def _start_seq(p: TcpPackets, pos: I64, at: I64) -> I64:
    """An endpoint's start sequence number from its first packet (``init_endpoint``): the SYN's
    own, else one before the segment's, as though a SYN had been seen."""
    i = pos[np.minimum(at, len(pos) - 1)]
    return np.asarray(np.where((p.flags[i] & SYN) != 0, p.seq[i], (p.seq[i] - 1) % _SEQ))


def _peer_start(p: TcpPackets, pos: I64, acks: B, rs: I64, kk: I64, carried: I64) -> I64:
    """Per packet: the start sequence number that the peer's latest ACK before it implies."""
    r = np.arange(len(pos))
    last = np.maximum.accumulate(np.where(acks, r, -1))
    before = np.concatenate(([-1], last[:-1]))
    ok = before >= rs[kk]
    value = (p.ack[pos[np.maximum(before, 0)]] - 1) % _SEQ
    fallback = np.where(carried[kk] >= 0, (carried[kk] - 1) % _SEQ, -1)
    return np.asarray(np.where(ok, value, fallback), dtype=np.int64)
