"""Zeek-style connection state (conn_state) and history, derived from a flow's per-direction
counters and first-event times, for whole arrays of flows at once.

Zeek runs a per-packet state machine for each TCP endpoint (INACTIVE, SYN_SENT, SYN_ACK_SENT,
PARTIAL, ESTABLISHED, CLOSED, RESET; ``TCPSessionAdapter::UpdateStateMachine``) and then maps the
two final states to a conn_state (``conn_state()`` in ``base/protocols/conn/main.zeek``). We keep
what decides the final states: which flags each side sent, in what order they first appeared,
and the flags of each side's first packet.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sensors.flows.arrays import NEVER, Columns

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)

B = npt.NDArray[np.bool_]


def endpoint_states(c: Columns) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Final TCP endpoint states of the originator and responder."""
    sent = c["pkts"] > 0
    first = c["first_flags"]
    rst = c["n_rst"] > 0
    fin = c["n_fin"] > 0
    o_first_syn = ((first[:, 0] & SYN) != 0) & ((first[:, 0] & ACK) == 0)
    r_synack = c["n_synack"][:, 1] > 0
    # Originator: a SYN first, made ESTABLISHED by the responder's SYN-ACK; or joined midstream.
    o_ack_after_synack = (c["flags"][:, 0] & ACK) != 0
    o_open = np.where(
        o_first_syn,
        np.where(r_synack, ESTABLISHED, SYN_SENT),
        np.where(
            r_synack & o_ack_after_synack & (c["t_synack"][:, 1] < c["t_data"][:, 0]),
            ESTABLISHED,
            PARTIAL,
        ),
    )
    o_open = np.where(o_first_syn | (first[:, 0] & SYN == 0), o_open, SYN_ACK_SENT)
    # Responder: a SYN-ACK establishes it; bare ACKs to an unanswered SYN leave it inactive.
    r_only_empty_acks = (c["payload"][:, 1] == 0) & ((c["flags"][:, 1] & (SYN | FIN | RST)) == 0)
    r_open = np.where(
        r_synack,
        ESTABLISHED,
        np.where(
            o_first_syn & r_only_empty_acks,
            INACTIVE,
            np.where(o_open == ESTABLISHED, ESTABLISHED, PARTIAL),
        ),
    )
    o = np.where(sent[:, 0], o_open, INACTIVE)
    r = np.where(sent[:, 1], r_open, INACTIVE)
    # FIN closes an endpoint, RST resets it; a RST after both sides sent FIN was a normal close.
    both_fin = fin[:, 0] & fin[:, 1]
    o = np.where(fin[:, 0], CLOSED, o)
    r = np.where(fin[:, 1], CLOSED, r)
    o = np.where(rst[:, 0] & ~both_fin, RESET, o)
    r = np.where(rst[:, 1] & ~both_fin, RESET, r)
    return o, r


def conn_states(c: Columns, history: list[str] | None = None) -> list[str]:
    """Zeek's conn_state codes (S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH)."""
    proto = c["proto"]
    n = len(proto)
    out = np.full(n, "OTH", dtype=object)
    tcp = proto == 6
    if tcp.any():
        o, r = endpoint_states(c)
        o_inactive = (o == INACTIVE) | (o == PARTIAL)
        r_inactive = (r == INACTIVE) | (r == PARTIAL)
        empty = (c["payload"][:, 0] == 0) & (c["payload"][:, 1] == 0)
        # RSTOS0: the originator sent a SYN, then a RST, and never saw a SYN-ACK or data.
        o_syn_then_rst = (c["t_syn"][:, 0] != NEVER) & (c["n_synack"][:, 1] == 0)
        choices: list[tuple[B, str]] = [
            (
                (r == RESET) & ((o == SYN_SENT) | (o == SYN_ACK_SENT) | ((o == RESET) & empty)),
                "REJ",
            ),
            ((r == RESET) & o_inactive, "RSTRH"),
            (r == RESET, "RSTR"),
            ((o == RESET) & r_inactive & o_syn_then_rst, "RSTOS0"),
            ((o == RESET) & r_inactive, "OTH"),
            (o == RESET, "RSTO"),
            ((o == CLOSED) & (r == CLOSED), "SF"),
            ((o == CLOSED) & r_inactive, "SH"),
            (o == CLOSED, "S2"),
            ((r == CLOSED) & o_inactive, "SHR"),
            (r == CLOSED, "S3"),
            ((o == SYN_SENT) & (r == INACTIVE), "S0"),
            ((o == ESTABLISHED) & (r == ESTABLISHED), "S1"),
        ]
        tcp_state = np.select([m for m, _ in choices], [s for _, s in choices], "OTH")
        out[tcp] = tcp_state[tcp]
    udp = proto == 17
    if udp.any():
        o_act, r_act = c["pkts"][:, 0] > 0, c["pkts"][:, 1] > 0
        udp_state = np.where(o_act, np.where(r_act, "SF", "S0"), np.where(r_act, "SHR", "OTH"))
        out[udp] = udp_state[udp]
    return out.tolist()


_LETTERS = (("t_syn", "S"), ("t_synack", "H"), ("t_ack", "A"), ("t_data", "D"),
            ("t_fin", "F"), ("t_rst", "R"))  # fmt: skip


def histories(c: Columns) -> list[str]:
    """Zeek-like history: each event's letter (upper case for the originator) in order of first
    appearance. Zeek also records repeats and anomalies (retransmissions, zero windows); we do not.
    """
    n = len(c["proto"])
    tcp = c["proto"] == 6
    times = []
    letters = []
    for d in (0, 1):
        for field, letter in _LETTERS:
            times.append(c[field][:, d])
            letters.append(letter if d == 0 else letter.lower())
    when = np.stack(times, axis=1)  # (n, 12)
    order = np.argsort(when, axis=1, kind="stable")
    seen = np.take_along_axis(when, order, axis=1) != NEVER
    out: list[str] = []
    for i in range(n):
        if not tcp[i]:
            out.append("D" * bool(c["pkts"][i, 0]) + "d" * bool(c["pkts"][i, 1]))
            continue
        out.append("".join(letters[j] for j, s in zip(order[i], seen[i], strict=True) if s))
    return out
