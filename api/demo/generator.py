"""Build the demo capture and its manifest; the same seed gives the same bytes.

Every random choice comes from a ``random.Random`` seeded with the seed and the name of the part of
the scenario that makes it, so a change to one part leaves the others' packets as they were.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from api.demo import attacks, citizens, naming, operations
from api.demo.attacks import AttackPlan
from api.demo.capture import Capture, Flow, Scene, pcap_file
from api.demo.manifest import (
    AttackEntry,
    CaptureInfo,
    ConnectionEntry,
    Manifest,
    NetworkInfo,
    Totals,
)
from api.demo.network import ADMIN_LAN, DMZ, MINUTE, ROLES, START_US
from cityshield.ids import PROTO_ICMP, PROTO_TCP, PROTO_UDP, community_id

PCAP_NAME = "egov-demo.pcap"
MANIFEST_NAME = "egov-demo.manifest.json"
DEFAULT_SEED = 2026
_PROTO = {"tcp": PROTO_TCP, "udp": PROTO_UDP, "icmp": PROTO_ICMP}


def build(seed: int = DEFAULT_SEED) -> tuple[bytes, Manifest]:
    """The pcap file's bytes and its manifest, without touching the file system."""
    capture = Capture()
    plans = _play(capture, seed)
    frames = capture.frames()
    pcap = pcap_file(frames)
    flows = sorted(capture.flows, key=lambda f: (f.first_us, f.last_us))
    manifest = Manifest(
        generator="api.demo",
        seed=seed,
        capture=CaptureInfo(file=PCAP_NAME, sha256=hashlib.sha256(pcap).hexdigest()),
        network=NetworkInfo(dmz=str(DMZ), admin_lan=str(ADMIN_LAN), hosts=ROLES),
        totals=Totals(
            packets=len(frames),
            bytes=sum(len(f.data) for f in frames),
            start=_time(frames[0].ts_us),
            end=_time(frames[-1].ts_us),
            connections=len(flows),
        ),
        attacks=[_attack(plan, flows) for plan in plans],
        connections=[_connection(flow) for flow in flows],
    )
    return pcap, manifest


def generate(out_dir: Path, *, seed: int = DEFAULT_SEED) -> Manifest:
    """Write ``egov-demo.pcap`` and ``egov-demo.manifest.json`` into ``out_dir``."""
    pcap, manifest = build(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / PCAP_NAME).write_bytes(pcap)
    # Bytes, not text mode: the file must not gain CRLFs on Windows.
    (out_dir / MANIFEST_NAME).write_bytes(manifest.to_json().encode())
    return manifest


def _play(capture: Capture, seed: int) -> list[AttackPlan]:
    def rng(part: str) -> random.Random:
        # Reproducible on purpose: nothing here is a secret.
        return random.Random(f"{seed}/{part}")  # noqa: S311

    def scene(part: str) -> Scene:
        return Scene(capture, rng(part))

    host_key = rng("bastion host key").randbytes(32)
    citizens.play(scene("citizens"), START_US)
    naming.play(scene("naming"), START_US, admins=operations.ADMINS)
    operations.play(scene("operations"), START_US, host_key=host_key)
    return [
        attacks.vertical_scan(scene("vertical_scan"), START_US + 5 * MINUTE),
        attacks.horizontal_scan(scene("horizontal_scan"), START_US + 10 * MINUTE),
        attacks.ssh_brute_force(
            scene("ssh_brute_force"), START_US + 14 * MINUTE, host_key=host_key
        ),
        attacks.rdp_brute_force(scene("rdp_brute_force"), START_US + 21 * MINUTE),
    ]


def _time(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def _connection(flow: Flow) -> ConnectionEntry:
    o, r = flow.orig_stats, flow.resp_stats
    return ConnectionEntry(
        transport=flow.transport,
        orig_h=flow.orig.ip,
        orig_p=flow.orig_port,
        resp_h=flow.resp.ip,
        resp_p=flow.resp_port,
        service=flow.service,
        orig_pkts=o.packets,
        orig_ip_bytes=o.ip_bytes,
        orig_bytes=o.payload_bytes,
        resp_pkts=r.packets,
        resp_ip_bytes=r.ip_bytes,
        resp_bytes=r.payload_bytes,
        conn_state=flow.conn_state(),
        first_ts=_time(flow.first_us),
        last_ts=_time(flow.last_us),
        community_id=community_id(
            flow.orig.ip, flow.resp.ip, _PROTO[flow.transport], flow.orig_port, flow.resp_port
        ),
        label=flow.label,
    )


def _attack(plan: AttackPlan, flows: list[Flow]) -> AttackEntry:
    mine = [f for f in flows if f.label == plan.id]
    return AttackEntry(
        id=plan.id,
        kind=plan.kind,
        description=plan.description,
        source=plan.source,
        targets=plan.targets,
        ports=plan.ports,
        service_port=plan.service_port,
        start=_time(min(f.first_us for f in mine)),
        end=_time(max(f.last_us for f in mine)),
        connections=len(mine),
        conn_states=dict(sorted(Counter(f.conn_state() for f in mine).items())),
        mitre=plan.mitre,
    )
