"""The ground-truth manifest of the demo capture: the stored format, version 1.

Field names follow Zeek's ``conn.log`` where one exists (``orig_h``, ``resp_ip_bytes``,
``conn_state``...), so a flow table can be compared with it column by column. Byte counts:
``*_ip_bytes`` sum the IPv4 total length of the side's packets; ``*_bytes`` sum their transport
payload (TCP or UDP data, the ICMP data after the 8-byte header). No retransmissions exist, so the
payload sums equal Zeek's sequence-space counts. An ICMP echo flow has ports 8 and 0.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, PlainSerializer

VERSION = 1


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: A UTC time, always written with microseconds (``2026-03-02T08:00:00.000000Z``).
Timestamp = Annotated[datetime, PlainSerializer(_iso, return_type=str)]

AttackKind = Literal[
    "port_scan_vertical", "port_scan_horizontal", "brute_force_ssh", "brute_force_rdp"
]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConnectionEntry(_Record):
    transport: Literal["tcp", "udp", "icmp"]
    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    #: The application protocol spoken, by Zeek's service names; None when no payload was sent.
    service: str | None
    orig_pkts: int
    orig_ip_bytes: int
    orig_bytes: int
    resp_pkts: int
    resp_ip_bytes: int
    resp_bytes: int
    conn_state: str
    first_ts: Timestamp
    last_ts: Timestamp
    community_id: str
    #: "benign" or the id of the attack the connection belongs to.
    label: str


class MitreTechnique(_Record):
    technique_id: str
    technique: str
    tactic: str


class AttackEntry(_Record):
    id: str
    kind: AttackKind
    description: str
    source: str
    targets: list[str]
    #: Inclusive range of destination ports probed or attacked.
    ports: tuple[int, int]
    #: The one service attacked; None for a scan over many ports.
    service_port: int | None
    start: Timestamp
    end: Timestamp
    connections: int
    conn_states: dict[str, int]
    mitre: MitreTechnique


class CaptureInfo(_Record):
    file: str
    sha256: str
    format: Literal["pcap"] = "pcap"
    linktype: Literal["ethernet"] = "ethernet"
    timestamp_resolution: Literal["us"] = "us"


class NetworkInfo(_Record):
    dmz: str
    admin_lan: str
    #: What the well-known addresses are.
    hosts: dict[str, str]


class Totals(_Record):
    packets: int
    #: Sum of captured frame lengths (Ethernet header and padding included).
    bytes: int
    start: Timestamp
    end: Timestamp
    connections: int


class Manifest(_Record):
    version: int = VERSION
    generator: str
    seed: int
    capture: CaptureInfo
    network: NetworkInfo
    totals: Totals
    attacks: list[AttackEntry]
    connections: list[ConnectionEntry]

    def to_json(self) -> str:
        """Indented JSON with one connection per line, so that diffs stay readable."""
        data = self.model_dump(mode="json")
        connections = data.pop("connections")
        head = json.dumps(data, indent=2)
        rows = ",\n".join("    " + json.dumps(c) for c in connections)
        return head[:-2] + ',\n  "connections": [\n' + rows + "\n  ]\n}\n"
