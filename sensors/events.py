"""Facts the sensors report. Facts, not verdicts: detectors decide what is an attack.

Flows end in batches (``sensors.flows.FlowBatch``, a batch of ``FlowEnded`` facts as columns);
detectors that want one object per flow call ``FlowBatch.rows()``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class WeirdSeen:
    """A packet that could not be decoded as it claims to be (Zeek's weird.log)."""

    name: str
    capture: str
    frame: int


@dataclass(frozen=True, slots=True)
class FlowEnded:
    """One ended bidirectional flow, originator first. Times are nanoseconds since the epoch."""

    flow_id: str
    community_id: str
    transport: str
    proto: int
    orig_ip: str
    orig_port: int
    resp_ip: str
    resp_port: int
    vlan: int
    start_ns: int
    end_ns: int
    orig_pkts: int
    resp_pkts: int
    orig_bytes: int  # IP-level bytes, like Zeek's orig_ip_bytes
    resp_bytes: int
    orig_payload: int  # transport payload bytes
    resp_payload: int
    conn_state: str
    history: str
    end_reason: str
    capture: str
    first_frame: int
    last_frame: int

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(slots=True)
class SensorStats:
    """What a sensor has done so far; published with every heartbeat and at the end of a run."""

    packets: int = 0
    bytes: int = 0
    decoded: int = 0
    flows_created: int = 0
    flows_ended: Counter[str] = field(default_factory=Counter)
    flows_active: int = 0
    flows_peak: int = 0
    flows_evicted: int = 0
    weird: Counter[str] = field(default_factory=Counter)
    other: Counter[str] = field(default_factory=Counter)
    fragments_reassembled: int = 0
    capture_problems: list[str] = field(default_factory=list)
