"""Per-host features over a sliding window: what the flow's originator has been doing lately.

Scans touch many services, brute force repeats one service many times, beacons come back at
regular gaps, exfiltration sends far more than it receives, DNS tunnels ask many long, random
questions. Each of those is a count or a ratio over the originator's recent flows, so each flow
is scored with its originator's window as it stood when the flow started.

Windows are keyed by 64-bit hashes of the originator (address, VLAN), of (originator, responder)
and of (originator, responder, port, transport); each table is bounded (``WindowTable``).
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.anomaly.features import HOST_FEATURES
from detectors.anomaly.windows import U64, WindowTable, mix64
from sensors.events import DnsSeen
from sensors.flows import FlowBatch

F64 = npt.NDArray[np.float64]
_TCP = 6
_V4_MAPPED = 0xFFFF_0000_0000
_MIN_GAPS = 3  # fewer gaps say nothing about regularity


@dataclass(frozen=True, slots=True)
class HostWindowSettings:
    window_seconds: float = 900.0
    max_hosts: int = 200_000
    max_pairs: int = 400_000


def host_keys(hi: U64, lo: U64, v6: npt.NDArray[np.bool_], vlan: npt.NDArray[np.int64]) -> U64:
    return mix64(hi, lo, v6, vlan)


def query_entropy(name: str) -> float:
    """Shannon entropy of a query name's characters, in bits per character."""
    if not name:
        return 0.0
    n = len(name)
    return -sum(c / n * math.log2(c / n) for c in Counter(name).values())


class HostWindows:
    """The ``HOST_FEATURES`` of each flow of a batch, in model space; keeps state between calls."""

    def __init__(self, settings: HostWindowSettings | None = None) -> None:
        s = self.settings = settings or HostWindowSettings()
        width = int(s.window_seconds * 1e9)
        # flows, TCP attempts, failed attempts, new responder, new service, out, in, DNS flows
        self._hosts = WindowTable(width, 8, s.max_hosts)
        self._dsts = WindowTable(width, 1, s.max_pairs)
        self._services = WindowTable(width, 1, s.max_pairs, gaps=True)
        # DNS queries, summed query length, summed query entropy
        self._dns = WindowTable(width, 3, s.max_hosts)

    def stats(self) -> dict[str, int]:
        tables = (self._hosts, self._dsts, self._services, self._dns)
        return {
            "hosts": len(self._hosts),
            "pairs": len(self._services),
            "window_keys_evicted": sum(t.evicted for t in tables),
        }

    def on_dns(self, records: Sequence[DnsSeen]) -> None:
        """Remember the query names each host asked (from the DNS parser's records)."""
        rows = [(r.flow, r.ts_ns, r.query) for r in records if r.query is not None]
        if not rows:
            return
        his, los, v6s, vlans, times, values = [], [], [], [], [], []
        for flow, ts, query in rows:
            addr = ipaddress.ip_address(flow.orig_ip)
            # The decoder keeps IPv4 addresses IPv4-mapped (::ffff:a.b.c.d) in the low word.
            value = int(addr) if addr.version == 6 else _V4_MAPPED | int(addr)
            his.append(value >> 64)
            los.append(value & 0xFFFF_FFFF_FFFF_FFFF)
            v6s.append(addr.version == 6)
            vlans.append(flow.vlan)
            times.append(ts)
            values.append((1.0, float(len(query)), query_entropy(query)))
        keys = host_keys(
            np.array(his, np.uint64),
            np.array(los, np.uint64),
            np.array(v6s, bool),
            np.array(vlans, np.int64),
        )
        order = np.argsort(np.array(times, np.int64), kind="stable")
        self._dns.update(keys[order], np.array(times, np.int64)[order], np.array(values)[order])

    def features(self, flows: FlowBatch, tcp_failed: F64) -> F64:
        n = len(flows)
        out = np.zeros((n, len(HOST_FEATURES)))
        if n == 0:
            return out
        c = flows.cols
        t = c["start_ns"]
        host = host_keys(flows.orig_hi, flows.orig_lo, c["v6"], c["vlan"])
        dst = mix64(host, flows.resp_hi, flows.resp_lo)
        rport = flows.resp_port
        service = mix64(dst, rport, c["proto"])
        ones = np.ones((n, 1))
        svc = self._services.update(service, t, ones)
        new_dst = self._dsts.update(dst, t, ones).current[:, 0] == 1
        new_service = svc.current[:, 0] == 1
        tcp = (c["proto"] == _TCP).astype(np.float64)
        values = np.column_stack(
            [
                np.ones(n),
                tcp,
                tcp_failed,
                new_dst,
                new_service,
                c["payload"][:, 0],
                c["payload"][:, 1],
                rport == 53,
            ]
        )
        h = self._hosts.update(host, t, values).estimate
        out[:, 0] = np.log1p(h[:, 0])
        out[:, 1] = np.log1p(h[:, 3])
        out[:, 2] = np.log1p(h[:, 4])
        out[:, 3] = h[:, 2] / np.maximum(h[:, 1], 1.0)
        out[:, 4] = np.log1p(h[:, 5]) - np.log1p(h[:, 6])
        out[:, 5] = np.log1p(h[:, 7])
        if len(self._dns):
            d = self._dns.peek(host, t)
            asked = np.maximum(d[:, 0], 1e-9)
            out[:, 6] = np.where(d[:, 0] > 0, d[:, 1] / asked, 0.0)
            out[:, 7] = np.where(d[:, 0] > 0, d[:, 2] / asked, 0.0)
        e = svc.estimate
        gaps, total, squares = e[:, 1], e[:, 2], e[:, 3]
        mean = total / np.maximum(gaps, 1e-9)
        var = np.maximum(squares / np.maximum(gaps, 1e-9) - mean * mean, 0.0)
        regular = (gaps >= _MIN_GAPS) & (mean > 0)
        out[:, 8] = np.log1p(e[:, 0])
        out[:, 9] = np.where(regular, np.sqrt(var) / np.where(mean > 0, mean, 1.0), 1.0)
        out[:, 10] = np.where(gaps >= 1, np.log1p(mean), 0.0)
        return out
