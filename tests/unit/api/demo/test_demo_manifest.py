"""The manifest agrees with the pcap as dpkt reads it: totals, and every connection by direction."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dpkt

from api.demo.manifest import Manifest
from cityshield.ids import PROTO_ICMP, PROTO_TCP, PROTO_UDP, community_id

if TYPE_CHECKING:  # fixtures' types only; the fixtures themselves come from conftest
    from .conftest import Observed, Packet

_START = datetime(2026, 3, 2, 8, 0, 0, tzinfo=UTC)
_PROTO = {"tcp": PROTO_TCP, "udp": PROTO_UDP, "icmp": PROTO_ICMP}
SYN, FIN, RST, ACK = dpkt.tcp.TH_SYN, dpkt.tcp.TH_FIN, dpkt.tcp.TH_RST, dpkt.tcp.TH_ACK


def _us(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def test_totals(manifest: Manifest, packets: list[Packet]) -> None:
    totals = manifest.totals
    assert totals.packets == len(packets)
    assert totals.bytes == sum(len(p.frame) for p in packets)
    assert _us(totals.start) == packets[0].ts_us == _us(_START)
    assert _us(totals.end) == packets[-1].ts_us
    assert 25 * 60 <= (totals.end - totals.start).total_seconds() <= 31 * 60
    assert totals.connections == len(manifest.connections)


def test_time_never_runs_backwards(packets: list[Packet]) -> None:
    assert all(a.ts_us <= b.ts_us for a, b in itertools.pairwise(packets))


def test_every_connection_counted_from_the_pcap(observed: list[Observed]) -> None:
    for o in observed:
        c = o.entry
        assert (c.orig_pkts, c.resp_pkts) == (len(o.orig.packets), len(o.resp.packets)), c
        assert (c.orig_ip_bytes, c.resp_ip_bytes) == (o.orig.ip_bytes, o.resp.ip_bytes), c
        assert (c.orig_bytes, c.resp_bytes) == (len(o.orig.payload), len(o.resp.payload)), c
        assert _us(c.first_ts) == o.packets[0].ts_us, c
        assert _us(c.last_ts) == o.packets[-1].ts_us, c


def test_every_packet_belongs_to_exactly_one_connection(
    manifest: Manifest, packets: list[Packet], observed: list[Observed]
) -> None:
    assigned = [p.index for o in observed for p in o.packets]
    assert sorted(assigned) == list(range(len(packets)))
    assert sum(c.orig_pkts + c.resp_pkts for c in manifest.connections) == len(packets)


def test_community_ids(manifest: Manifest) -> None:
    for c in manifest.connections:
        proto = _PROTO[c.transport]
        assert c.community_id == community_id(c.orig_h, c.resp_h, proto, c.orig_p, c.resp_p)


def test_conn_state_matches_what_the_packets_show(observed: list[Observed]) -> None:
    for o in observed:
        c, state = o.entry, o.entry.conn_state
        if c.transport == "icmp":
            assert state == "OTH"
            assert {p.ip.data.type for p in o.orig.packets} == {8}
            assert {p.ip.data.type for p in o.resp.packets} == {0}
            continue
        if c.transport == "udp":
            assert state == ("SF" if o.resp.packets else "S0")
            continue
        orig, resp = o.orig.flags(), o.resp.flags()
        assert orig[0] & (SYN | ACK) == SYN, c  # every connection starts with the client's SYN
        sent_rst = (any(f & RST for f in orig), any(f & RST for f in resp))
        if state == "S0":
            assert not resp and all(f == SYN for f in orig), c
        elif state == "REJ":
            assert orig == [SYN] and resp == [RST | ACK], c
        elif state == "RSTO":
            assert resp[0] == SYN | ACK and sent_rst == (True, False), c
        elif state == "RSTR":
            assert resp[0] == SYN | ACK and sent_rst == (False, True), c
        else:
            assert state == "SF", c
            assert resp[0] == SYN | ACK and sent_rst == (False, False), c
            assert any(f & FIN for f in orig) and any(f & FIN for f in resp), c


def test_five_tuples_are_never_reused(manifest: Manifest) -> None:
    # Stronger than the five minutes a flow table needs: no 5-tuple appears twice at all.
    # Either way round: a flow's packets carry its 5-tuple in both directions.
    tuples = {
        (c.transport, *sorted([(c.orig_h, c.orig_p), (c.resp_h, c.resp_p)]))
        for c in manifest.connections
    }
    assert len(tuples) == len(manifest.connections)


def test_labels_are_benign_or_an_attack(manifest: Manifest) -> None:
    ids = {a.id for a in manifest.attacks}
    assert {c.label for c in manifest.connections} == ids | {"benign"}
