"""The planted attacks are there, look like what they claim to be, and benign traffic does not."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING

import dpkt
import pytest

from api.demo.manifest import AttackEntry, ConnectionEntry, Manifest

if TYPE_CHECKING:
    from .conftest import Observed

_KINDS = {
    "vertical_scan": ("port_scan_vertical", "T1046"),
    "horizontal_scan": ("port_scan_horizontal", "T1046"),
    "ssh_brute_force": ("brute_force_ssh", "T1110.001"),
    "rdp_brute_force": ("brute_force_rdp", "T1110.001"),
}


def _attack(manifest: Manifest, attack_id: str) -> tuple[AttackEntry, list[ConnectionEntry]]:
    attack = next(a for a in manifest.attacks if a.id == attack_id)
    return attack, [c for c in manifest.connections if c.label == attack_id]


def _duration(c: ConnectionEntry) -> float:
    return (c.last_ts - c.first_ts).total_seconds()


@pytest.mark.parametrize("attack_id", sorted(_KINDS))
def test_attack_summary_matches_its_connections(manifest: Manifest, attack_id: str) -> None:
    attack, conns = _attack(manifest, attack_id)
    assert (attack.kind, attack.mitre.technique_id) == _KINDS[attack_id]
    assert attack.connections == len(conns)
    assert attack.start == min(c.first_ts for c in conns)
    assert attack.end == max(c.last_ts for c in conns)
    assert attack.conn_states == dict(Counter(c.conn_state for c in conns))
    assert {c.orig_h for c in conns} == {attack.source}
    assert {c.resp_h for c in conns} <= set(attack.targets)
    low, high = attack.ports
    assert all(low <= c.resp_p <= high for c in conns)


def test_vertical_scan_probes_each_port_once(manifest: Manifest) -> None:
    attack, conns = _attack(manifest, "vertical_scan")
    assert attack.source == "192.0.2.66" and attack.targets == ["198.51.100.10"]
    assert sorted(c.resp_p for c in conns) == list(range(1, 1025))
    open_ports = sorted(c.resp_p for c in conns if c.conn_state == "RSTO")
    assert open_ports == [22, 25, 80, 443]
    assert all(c.conn_state == "REJ" for c in conns if c.resp_p not in open_ports)


def test_horizontal_scan_sweeps_sixty_hosts_mostly_unanswered(manifest: Manifest) -> None:
    attack, conns = _attack(manifest, "horizontal_scan")
    assert attack.source == "192.0.2.77"
    assert sorted(c.resp_h for c in conns) == sorted(f"198.51.100.{i}" for i in range(1, 61))
    assert {c.resp_p for c in conns} == {3389}
    assert sum(c.conn_state == "S0" for c in conns) > len(conns) * 3 // 4


def test_ssh_brute_force_is_many_short_sessions_closed_by_the_server(
    manifest: Manifest, observed: list[Observed]
) -> None:
    attack, conns = _attack(manifest, "ssh_brute_force")
    assert attack.source == "203.0.113.200" and attack.service_port == 22
    assert len(conns) >= 60
    assert attack.end - attack.start <= timedelta(minutes=5)
    for o in (o for o in observed if o.entry.label == attack.id):
        assert _duration(o.entry) < 15
        client, server = o.orig.payload, o.resp.payload
        assert client.startswith(b"SSH-2.0-") and server.startswith(b"SSH-2.0-OpenSSH_9.6")
        assert 2_000 <= len(client) + len(server) <= 8_000  # a few kilobytes of key exchange
        first_fin = next(p for p in o.packets if p.ip.data.flags & dpkt.tcp.TH_FIN)
        assert first_fin in o.resp.packets  # the server hangs up


def test_benign_ssh_is_few_long_interactive_sessions(manifest: Manifest) -> None:
    admin = [c for c in manifest.connections if c.service == "ssh" and c.label == "benign"]
    assert 1 <= len(admin) <= 5
    for c in admin:
        assert c.orig_h.startswith("10.20.0.")
        assert _duration(c) >= 60
        assert c.orig_pkts + c.resp_pkts >= 200


def test_rdp_brute_force(manifest: Manifest, observed: list[Observed]) -> None:
    attack, conns = _attack(manifest, "rdp_brute_force")
    assert attack.source == "203.0.113.201" and attack.targets == ["198.51.100.30"]
    assert len(conns) >= 40
    assert {(c.resp_h, c.resp_p) for c in conns} == {("198.51.100.30", 3389)}
    for o in (o for o in observed if o.entry.label == attack.id):
        # TPKT and X.224 Connection Request with the mstshash cookie come first.
        assert o.orig.payload.startswith(b"\x03\x00") and b"mstshash=" in o.orig.payload[:64]


def test_benign_traffic_is_not_scanning(manifest: Manifest) -> None:
    benign = [c for c in manifest.connections if c.label == "benign"]
    refused = Counter(c.orig_h for c in benign if c.conn_state in {"REJ", "S0"})
    assert max(refused.values(), default=0) <= 1
