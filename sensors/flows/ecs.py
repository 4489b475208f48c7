"""Ended flows as ECS documents (Elastic Common Schema field names), one dict per flow.

Standard ECS fields carry what ECS defines (``source.bytes`` is IP-level bytes, as in Zeek's
``orig_ip_bytes``); what ECS has no field for lives under ``cityshield.flow``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from sensors.events import FlowEnded
from sensors.flows.ended import TRANSPORT_NAMES, EndReason, FlowBatch

FLOW_SCHEMA_VERSION = 1
_PORT_PROTOS = frozenset((1, 6, 17, 58, 132))


def iso(ns: int) -> str:
    """RFC 3339 with microseconds and ``Z``, as ECS and Elasticsearch expect."""
    sec, rem = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rem // 1000:06d}Z"


def iso_array(ns: npt.NDArray[np.int64]) -> list[str]:
    """``iso`` for a whole array at once (numpy formats the dates in C)."""
    text = np.datetime_as_string(ns.astype("datetime64[ns]").astype("datetime64[us]"), unit="us")
    return [t + "Z" for t in text.tolist()]


def _stats(
    n: npt.NDArray[np.int64],
    total: npt.NDArray[np.int64],
    sq: npt.NDArray[np.float64],
    lo: npt.NDArray[np.int64],
    hi: npt.NDArray[np.int64],
    scale: float = 1.0,
) -> list[dict[str, float]]:
    """min/mean/std/max per flow (empty where there were no values), from sums kept per flow."""
    safe = np.maximum(n, 1)
    mean = total / safe
    std = np.sqrt(np.maximum(sq / safe - mean * mean, 0.0))
    cols = zip(
        n.tolist(), (lo / scale).tolist(), (mean / scale).tolist(), (std / scale).tolist(),
        (hi / scale).tolist(), strict=True,
    )  # fmt: skip
    return [{"min": a, "mean": m, "std": s, "max": b} if k > 0 else {} for k, a, m, s, b in cols]


def flow_documents(batch: FlowBatch) -> list[dict[str, Any]]:
    """One ECS document per flow. Numbers are prepared for the whole batch with numpy; the loop
    only assembles dictionaries."""
    c = batch.cols
    n = len(batch)
    ids, cids = batch.flow_ids(), batch.community_ids()
    states, hist = batch.conn_states(), batch.histories()
    oip, rip = batch.orig_ips(), batch.resp_ips()
    oport, rport = batch.orig_port.tolist(), batch.resp_port.tolist()
    proto, v6, vlan = c["proto"].tolist(), c["v6"].tolist(), c["vlan"].tolist()
    start, end = c["start_ns"], c["last_ns"]
    start_iso, end_iso = iso_array(start), iso_array(end)
    duration = (end - start).tolist()
    pk, by, pay, flags = (c[k].tolist() for k in ("pkts", "ip_bytes", "payload", "flags"))
    size = [
        _stats(c["pkts"][:, d], c["size_sum"][:, d], c["size_sq"][:, d],
               c["size_min"][:, d], c["size_max"][:, d]) for d in (0, 1)
    ]  # fmt: skip
    iat = [
        _stats(c["iat_n"][:, d], c["iat_sum"][:, d], c["iat_sq"][:, d],
               c["iat_min"][:, d], c["iat_max"][:, d], 1e9) for d in (0, 1)
    ]  # fmt: skip
    captures = [batch.captures[i] for i in c["capture"].tolist()]
    first, last, depth = (c[k].tolist() for k in ("first_frame", "last_frame", "depth"))
    reasons = [EndReason(r).label for r in batch.end_reason.tolist()]
    observer = {"name": batch.observer}
    docs = []
    for i in range(n):
        p = proto[i]
        src: dict[str, Any] = {"ip": oip[i], "bytes": by[i][0], "packets": pk[i][0]}
        dst: dict[str, Any] = {"ip": rip[i], "bytes": by[i][1], "packets": pk[i][1]}
        if p in _PORT_PROTOS:
            src["port"], dst["port"] = oport[i], rport[i]
        network: dict[str, Any] = {
            "transport": TRANSPORT_NAMES.get(p, str(p)),
            "iana_number": str(p),
            "type": "ipv6" if v6[i] else "ipv4",
            "community_id": cids[i],
            "bytes": by[i][0] + by[i][1],
            "packets": pk[i][0] + pk[i][1],
        }
        if vlan[i]:
            outer, inner = vlan[i] >> 12, vlan[i] & 0xFFF
            network["vlan"] = {"id": str(outer or inner)}
            if outer:
                network["inner"] = {"vlan": {"id": str(inner)}}
        docs.append(
            {
                "@timestamp": start_iso[i],
                "event": {
                    "id": ids[i],
                    "kind": "event",
                    "category": ["network"],
                    "type": ["connection", "end"],
                    "start": start_iso[i],
                    "end": end_iso[i],
                    "duration": duration[i],
                    "dataset": "cityshield.flow",
                },
                "network": network,
                "source": src,
                "destination": dst,
                "observer": observer,
                "log": {"file": {"path": captures[i]}},
                "cityshield": {
                    "flow": {
                        "schema_version": FLOW_SCHEMA_VERSION,
                        "conn_state": states[i],
                        "history": hist[i],
                        "end_reason": reasons[i],
                        "first_frame": first[i],
                        "last_frame": last[i],
                        "tunnel_depth": depth[i],
                        "orig": {
                            "payload_bytes": pay[i][0],
                            "tcp_flags": flags[i][0],
                            "ip_len": size[0][i],
                            "iat_seconds": iat[0][i],
                        },
                        "resp": {
                            "payload_bytes": pay[i][1],
                            "tcp_flags": flags[i][1],
                            "ip_len": size[1][i],
                            "iat_seconds": iat[1][i],
                        },
                    }
                },
            }
        )
    return docs


def flow_rows(batch: FlowBatch) -> list[FlowEnded]:
    c = batch.cols
    ids, cids = batch.flow_ids(), batch.community_ids()
    states, hist = batch.conn_states(), batch.histories()
    oip, rip = batch.orig_ips(), batch.resp_ips()
    oport, rport = batch.orig_port.tolist(), batch.resp_port.tolist()
    pk, by, pay = c["pkts"].tolist(), c["ip_bytes"].tolist(), c["payload"].tolist()
    proto, vlan = c["proto"].tolist(), c["vlan"].tolist()
    start, end = c["start_ns"].tolist(), c["last_ns"].tolist()
    cap, ff, lf = c["capture"].tolist(), c["first_frame"].tolist(), c["last_frame"].tolist()
    reasons = batch.end_reason.tolist()
    return [
        FlowEnded(
            ids[i],
            cids[i],
            TRANSPORT_NAMES.get(proto[i], str(proto[i])),
            proto[i],
            oip[i],
            oport[i],
            rip[i],
            rport[i],
            vlan[i],
            start[i],
            end[i],
            pk[i][0],
            pk[i][1],
            by[i][0],
            by[i][1],
            pay[i][0],
            pay[i][1],
            states[i],
            hist[i],
            EndReason(reasons[i]).label,
            batch.captures[cap[i]],
            ff[i],
            lf[i],
        )
        for i in range(len(batch))
    ]
