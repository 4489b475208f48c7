"""Ended flows as ECS documents (Elastic Common Schema field names), one dict per flow.

Standard ECS fields carry what ECS defines (``source.bytes`` is IP-level bytes, as in Zeek's
``orig_ip_bytes``); what ECS has no field for lives under ``cityshield.flow``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sensors.events import FlowEnded
from sensors.flows.ended import TRANSPORT_NAMES, EndReason, FlowBatch

FLOW_SCHEMA_VERSION = 1


def iso(ns: int) -> str:
    """RFC 3339 with microseconds and ``Z``, as ECS and Elasticsearch expect."""
    sec, rem = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rem // 1000:06d}Z"


def _stats(n: int, total: int, sq: float, lo: int, hi: int, scale: float = 1.0) -> dict[str, float]:
    if n <= 0:
        return {}
    mean = total / n
    var = max(sq / n - mean * mean, 0.0)
    return {
        "min": lo / scale,
        "mean": mean / scale,
        "std": var**0.5 / scale,
        "max": hi / scale,
    }


def flow_documents(batch: FlowBatch) -> list[dict[str, Any]]:
    c = batch.cols
    ids, cids = batch.flow_ids(), batch.community_ids()
    states, hist = batch.conn_states(), batch.histories()
    oip, rip = batch.orig_ips(), batch.resp_ips()
    oport, rport = batch.orig_port.tolist(), batch.resp_port.tolist()
    lists = {k: v.tolist() for k, v in c.items() if v.ndim == 1}
    per_dir = {k: v.tolist() for k, v in c.items() if v.ndim == 2}  # [orig, resp] per flow
    reasons = batch.end_reason.tolist()
    docs = []
    for i in range(len(batch)):
        proto = lists["proto"][i]
        start, end = lists["start_ns"][i], lists["last_ns"][i]
        pk, by, pay = per_dir["pkts"][i], per_dir["ip_bytes"][i], per_dir["payload"][i]
        ports = proto in (6, 17, 132, 1, 58)
        src: dict[str, Any] = {"ip": oip[i], "bytes": by[0], "packets": pk[0]}
        dst: dict[str, Any] = {"ip": rip[i], "bytes": by[1], "packets": pk[1]}
        if ports:
            src["port"], dst["port"] = oport[i], rport[i]
        network: dict[str, Any] = {
            "transport": TRANSPORT_NAMES.get(proto, str(proto)),
            "iana_number": str(proto),
            "type": "ipv6" if lists["v6"][i] else "ipv4",
            "community_id": cids[i],
            "bytes": by[0] + by[1],
            "packets": pk[0] + pk[1],
        }
        vlan = lists["vlan"][i]
        if vlan:
            network["vlan"] = {"id": str(vlan & 0xFFF)}
            if vlan >> 12:
                network["vlan"] = {"id": str(vlan >> 12)}
                network["inner"] = {"vlan": {"id": str(vlan & 0xFFF)}}
        direction = {}
        for d, name in ((0, "orig"), (1, "resp")):
            direction[name] = {
                "payload_bytes": pay[d],
                "tcp_flags": per_dir["flags"][i][d],
                "ip_len": _stats(pk[d], per_dir["size_sum"][i][d], per_dir["size_sq"][i][d],
                                 per_dir["size_min"][i][d], per_dir["size_max"][i][d]),
                "iat_seconds": _stats(per_dir["iat_n"][i][d], per_dir["iat_sum"][i][d],
                                      per_dir["iat_sq"][i][d], per_dir["iat_min"][i][d],
                                      per_dir["iat_max"][i][d], 1e9),
            }  # fmt: skip
        docs.append(
            {
                "@timestamp": iso(start),
                "event": {
                    "id": ids[i],
                    "kind": "event",
                    "category": ["network"],
                    "type": ["connection", "end"],
                    "start": iso(start),
                    "end": iso(end),
                    "duration": end - start,
                    "dataset": "cityshield.flow",
                },
                "network": network,
                "source": src,
                "destination": dst,
                "observer": {"name": batch.observer},
                "log": {"file": {"path": batch.captures[lists["capture"][i]]}},
                "cityshield": {
                    "flow": {
                        "schema_version": FLOW_SCHEMA_VERSION,
                        "conn_state": states[i],
                        "history": hist[i],
                        "end_reason": EndReason(reasons[i]).label,
                        "first_frame": lists["first_frame"][i],
                        "last_frame": lists["last_frame"][i],
                        "tunnel_depth": lists["depth"][i],
                        **direction,
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
