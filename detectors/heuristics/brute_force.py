"""Password brute force: many short sessions from one source to one login service, and password
spraying: short sessions from one source to the same service on many hosts.

Without decrypting SSH or RDP, a failed login still has a shape: the server answers (banner,
key exchange), the session ends within seconds, and the client sends little. Dozens of those
from one source to one service within minutes is what Zeek's SSH::Password_Guessing and
Suricata's threshold rules look for. Services, ports and thresholds are configurable per service.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.model import Alert, Endpoint, RuleRef, Severity
from detectors.base import Detector, DetectorConfig
from detectors.heuristics.common import Allowlist, BoundedState, Tally, check_cidrs, ns_time
from sensors.events import SshSeen
from sensors.flows import FlowBatch


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    ports: list[int] = Field(min_length=1)
    min_sessions: int = Field(15, ge=2, description="short sessions to one service in the window")
    window_seconds: float = Field(300.0, gt=0)
    max_duration_seconds: float = Field(30.0, gt=0, description="a login attempt is shorter")
    max_client_bytes: int = Field(16_384, ge=0, description="client payload of one attempt")
    severity: Severity = Severity.HIGH
    #: Count one source's short sessions across many hosts too (password spraying). Off for the
    #: web: a browser opening one page talks to a dozen hosts in short connections.
    spray: bool = True

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: list[int]) -> list[int]:
        if any(not 0 < p < 65536 for p in value):
            raise ValueError("ports must be 1-65535")
        return value


DEFAULT_SERVICES: dict[str, ServiceConfig] = {
    "ssh": ServiceConfig(label="SSH", ports=[22]),
    "rdp": ServiceConfig(label="RDP", ports=[3389]),
    "ftp": ServiceConfig(label="FTP", ports=[21]),
    "smb": ServiceConfig(label="SMB", ports=[139, 445], min_sessions=20),
    "mail": ServiceConfig(
        label="mail (SMTP AUTH, POP3, IMAP)",
        ports=[25, 110, 143, 465, 587, 993, 995],
        min_sessions=20,
    ),
    # Browsers open several short connections per page, so web logins need a higher bar; the
    # content-inspection detectors judge login responses themselves.
    "http_login": ServiceConfig(
        label="web login",
        ports=[80, 443, 8080, 8443],
        min_sessions=100,
        max_duration_seconds=10.0,
        severity=Severity.MEDIUM,
        spray=False,
    ),
}


class BruteForceConfig(DetectorConfig):
    services: dict[str, ServiceConfig] = Field(default_factory=lambda: dict(DEFAULT_SERVICES))
    spray_min_hosts: int = Field(10, ge=0, description="hosts of one service (0: off)")
    ignore_sources: list[str] = Field(default_factory=list, description="CIDRs never reported")
    max_keys: int = Field(100_000, ge=16, description="(source, target) pairs tracked at once")

    _cidrs = field_validator("ignore_sources")(classmethod(lambda cls, v: check_cidrs(v)))


@dataclass(slots=True)
class _Key:
    window_start: int = 0
    tally: Tally = field(default_factory=Tally)
    hosts: set[str] = field(default_factory=set)
    #: What the client said it was (SSH banners): guessing tools give themselves away.
    software: Counter[str] = field(default_factory=Counter)


#: ATT&CK: Brute Force: Password Guessing / Password Spraying.
GUESSING, SPRAYING = "T1110.001", "T1110.003"


class BruteForceDetector(Detector[BruteForceConfig]):
    id = "brute_force"
    version = "1"
    description = "Password guessing and spraying against login services, from flows."
    config_model = BruteForceConfig

    def __init__(self, config: BruteForceConfig, *, observer: str) -> None:
        super().__init__(config, observer=observer)
        self._service_of_port: dict[int, str] = {}
        for name, svc in config.services.items():
            for port in svc.ports:
                self._service_of_port[port] = name
        self._port_table = np.zeros(65536, dtype=bool)
        self._port_table[list(self._service_of_port)] = True
        self._keys: BoundedState[tuple[str, str, int], _Key] = BoundedState(config.max_keys, _Key)
        self._sprays: BoundedState[tuple[str, str], _Key] = BoundedState(config.max_keys, _Key)
        self._ignore = Allowlist(config.ignore_sources)
        #: Client banners of SSH connections seen, by flow id, until their flows end (bounded).
        self._banners: OrderedDict[str, str] = OrderedDict()

    def on_ssh_seen(self, records: Sequence[SshSeen]) -> list[Alert]:
        for r in records:
            if r.client_banner:
                self._banners[r.flow.flow_id] = r.client_banner
                if len(self._banners) > self.config.max_keys:
                    self._banners.popitem(last=False)
        return []

    def stats(self) -> dict[str, int]:
        return {
            "keys": len(self._keys),
            "keys_evicted": self._keys.evicted + self._sprays.evicted,
        }

    def on_flow_ended(self, flows: FlowBatch) -> list[Alert]:
        sessions = self._sessions(flows)
        if not len(sessions):
            return []
        touched: dict[tuple[str, str, int], _Key] = {}
        sprayed: dict[tuple[str, str], _Key] = {}
        c = sessions.cols
        rows = zip(
            sessions.orig_ips(), sessions.resp_ips(), sessions.resp_port.tolist(),
            c["start_ns"].tolist(), c["last_ns"].tolist(), sessions.flow_ids(),
            sessions.community_ids(), c["first_frame"].tolist(), c["capture"].tolist(),
            strict=True,
        )  # fmt: skip
        for src, dst, port, start, end, fid, cid, frame, cap_id in rows:
            if src in self._ignore:
                continue
            service = self._service_of_port[port]
            svc = self.config.services[service]
            window = int(svc.window_seconds * 1e9)
            capture = sessions.captures[cap_id]
            key = self._keys.get((src, dst, port))
            if start - key.window_start > window:
                key.window_start, key.tally = start, Tally()
            key.tally.add(start, end, fid, cid, frame, capture)
            banner = self._banners.pop(fid, None)
            if banner is not None and (banner in key.software or len(key.software) < 10):
                key.software[banner] += 1
            touched[(src, dst, port)] = key
            if self.config.spray_min_hosts and svc.spray:
                spray = self._sprays.get((src, service))
                if start - spray.window_start > window:
                    spray.window_start, spray.tally, spray.hosts = start, Tally(), set()
                spray.tally.add(start, end, fid, cid, frame, capture)
                spray.hosts.add(dst)
                sprayed[(src, service)] = spray
        return [*self._guessing(touched), *self._spraying(sprayed)]

    def _sessions(self, flows: FlowBatch) -> FlowBatch:
        """Short TCP sessions to a login port that the server answered."""
        c = flows.cols
        rport = flows.resp_port
        cand = (c["proto"] == 6) & self._port_table[rport] & (c["payload"][:, 1] > 0)
        if not cand.any():
            return flows.take(np.flatnonzero(cand))
        idx = np.flatnonzero(cand)
        duration = c["last_ns"][idx] - c["start_ns"][idx]
        client = c["payload"][idx, 0]
        ports = rport[idx].tolist()
        limits = [self.config.services[self._service_of_port[p]] for p in ports]
        max_dur = np.array([int(s.max_duration_seconds * 1e9) for s in limits], dtype=np.int64)
        max_client = np.array([s.max_client_bytes for s in limits], dtype=np.int64)
        keep = (duration <= max_dur) & (client <= max_client)
        return flows.take(idx[keep])

    def _guessing(self, keys: dict[tuple[str, str, int], _Key]) -> Iterator[Alert]:
        for (src, dst, port), key in keys.items():
            service = self._service_of_port[port]
            svc = self.config.services[service]
            tally = key.tally
            if tally.count >= svc.min_sessions and (new := tally.take_new()):
                yield self._alert(
                    f"brute_force.{service}", f"Password guessing against {svc.label}", svc,
                    tally, new, src, GUESSING,
                    f"{src} made {tally.count} short {svc.label} sessions to {dst}:{port} "
                    f"within {int(svc.window_seconds)} s",
                    destination=Endpoint(ip=dst, port=port),
                    fields=["source.ip", "destination.ip", "destination.port"],
                    data={"sessions": tally.count, "service": service,
                          **({"client_software": dict(key.software.most_common(5))}
                             if key.software else {})},
                )  # fmt: skip

    def _spraying(self, sprays: dict[tuple[str, str], _Key]) -> Iterator[Alert]:
        for (src, service), spray in sprays.items():
            svc = self.config.services[service]
            if len(spray.hosts) >= self.config.spray_min_hosts and (new := spray.tally.take_new()):
                yield self._alert(
                    f"brute_force.spray.{service}", f"Password spraying against {svc.label}", svc,
                    spray.tally, new, src, SPRAYING,
                    f"{src} made short {svc.label} sessions to {len(spray.hosts)} hosts "
                    f"within {int(svc.window_seconds)} s",
                    destination=None,
                    fields=["source.ip", "cityshield.alert.data.service"],
                    data={"hosts": len(spray.hosts), "hosts_sample": sorted(spray.hosts)[:25],
                          "sessions": spray.tally.count, "service": service},
                )  # fmt: skip

    def _alert(
        self, rule_id: str, name: str, svc: ServiceConfig, tally: Tally, new: int, src: str,
        technique: str, message: str, *, destination: Endpoint | None, fields: list[str],
        data: dict[str, Any],
    ) -> Alert:  # fmt: skip
        return Alert.raised(
            rule=RuleRef(id=rule_id, name=name, version=self.version, category="credential-access",
                         description=f"Many short sessions to {svc.label} from one source."),
            severity=svc.severity,
            message=message,
            observer=self.observer,
            first_seen=ns_time(tally.first_ns),
            last_seen=ns_time(tally.last_ns),
            source=Endpoint(ip=src, port=None),
            destination=destination,
            transport="tcp",
            techniques=(technique,),
            count=new,
            aggregation_fields=fields,
            evidence=tally.evidence() if new == tally.count else None,
            data={**data, "window_seconds": int(svc.window_seconds)},
        )  # fmt: skip
