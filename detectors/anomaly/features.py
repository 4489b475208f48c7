"""The feature list: one row per ended flow, the same columns in training and in scoring.

Heavy-tailed quantities (bytes, packets, times, counts) enter the model as ``log1p`` of the raw
value in the stated unit: IsolationForest draws split points uniformly between a feature's minimum
and maximum, so on raw bytes almost every split would fall in the empty tail. Explanations turn
values back into the raw unit. Per-host features are about the flow's originator over a sliding
window (``detectors.anomaly.hosts``); ``pair_*`` are about the originator's flows to the same
responder, port and transport.

Changing this list, a unit or a transform changes ``FEATURE_VERSION``: models trained on another
list are refused when loaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from sensors.flows import FlowBatch

FEATURE_VERSION = 1

Transform = Literal["log1p", "none"]


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    unit: str
    transform: Transform
    description: str


def _f(name: str, unit: str, transform: Transform, description: str) -> Feature:
    return Feature(name, unit, transform, description)


FLOW_FEATURES: tuple[Feature, ...] = (
    _f("duration", "ms", "log1p", "last packet time minus first packet time"),
    _f("orig_pkts", "packets", "log1p", "packets sent by the originator"),
    _f("resp_pkts", "packets", "log1p", "packets sent by the responder"),
    _f("orig_bytes", "bytes", "log1p", "IP bytes sent by the originator"),
    _f("resp_bytes", "bytes", "log1p", "IP bytes sent by the responder"),
    _f("orig_payload", "bytes", "log1p", "transport payload bytes sent by the originator"),
    _f("resp_payload", "bytes", "log1p", "transport payload bytes sent by the responder"),
    _f("payload_ratio", "ln ratio", "none", "ln((1 + orig_payload) / (1 + resp_payload))"),
    _f("orig_mean_size", "bytes", "none", "mean IP packet size sent by the originator"),
    _f("resp_mean_size", "bytes", "none", "mean IP packet size sent by the responder"),
    _f("orig_iat_mean", "ms", "log1p", "mean gap between the originator's packets"),
    _f("resp_iat_mean", "ms", "log1p", "mean gap between the responder's packets"),
    _f("proto_class", "class", "none", "0 TCP, 1 UDP, 2 ICMP/ICMPv6, 3 other"),
    _f("port_class", "class", "none", "responder port: see detectors.anomaly.ports"),
    _f("tcp_failed", "flag", "none", "1: the originator's SYN got no SYN-ACK (S0, REJ...)"),
    _f("tcp_reset", "flag", "none", "1: either side sent a RST"),
    _f("payload_entropy", "bits/byte", "none", "originator payload entropy; -1: not seen"),
)

HOST_FEATURES: tuple[Feature, ...] = (
    _f("host_flows", "flows", "log1p", "flows the originator started in the window"),
    _f("host_dsts", "hosts", "log1p", "distinct responders of the originator in the window"),
    _f("host_services", "services", "log1p", "distinct responder/port/transport in the window"),
    _f("host_failed_ratio", "ratio", "none", "share of the originator's TCP attempts that failed"),
    _f("host_out_in", "ln ratio", "none", "ln((1 + bytes out) / (1 + bytes in)) in the window"),
    _f("host_dns_flows", "flows", "log1p", "the originator's flows to port 53 in the window"),
    _f("host_dns_qlen", "chars", "none", "mean DNS query length (DNS records; 0 when none)"),
    _f("host_dns_entropy", "bits/char", "none", "mean DNS query-name entropy (0 when none)"),
    _f("pair_flows", "flows", "log1p", "flows to the same responder/port/transport"),
    _f("pair_interval_cv", "ratio", "none", "std/mean of gaps between pair flows (1: < 3 gaps)"),
    _f("pair_interval_mean", "ms", "log1p", "mean gap between pair flows (0: none)"),
)

FEATURES: tuple[Feature, ...] = FLOW_FEATURES + HOST_FEATURES
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
INDEX: dict[str, int] = {f.name: i for i, f in enumerate(FEATURES)}


def feature_list_digest() -> str:
    """A digest of names, units and transforms: what a model card records and loading checks."""
    text = "\n".join(f"{f.name}\t{f.unit}\t{f.transform}" for f in FEATURES)
    return hashlib.sha256(f"v{FEATURE_VERSION}\n{text}".encode()).hexdigest()


def to_model(raw: npt.NDArray[np.float64], feature: Feature) -> npt.NDArray[np.float64]:
    return np.log1p(np.maximum(raw, 0.0)) if feature.transform == "log1p" else raw


def to_raw(value: npt.NDArray[np.float64] | float, feature: Feature) -> npt.NDArray[np.float64]:
    v = np.asarray(value, dtype=np.float64)
    return np.expm1(v) if feature.transform == "log1p" else v


_TCP, _UDP, _ICMP, _ICMP6 = 6, 17, 1, 58
_PROTO_CLASS = np.full(256, 3, dtype=np.float64)
_PROTO_CLASS[[_TCP, _UDP, _ICMP, _ICMP6]] = [0, 1, 2, 2]


def flow_columns(flows: FlowBatch, port_class: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The per-flow features (``FLOW_FEATURES``, model space) without payload entropy (-1)."""
    c = flows.cols  # per-direction columns: [:, 0] originator, [:, 1] responder

    def side(name: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        col = c[name]
        return col[:, 0].astype(np.float64), col[:, 1].astype(np.float64)

    pkts_o, pkts_r = side("pkts")
    ipb_o, ipb_r = side("ip_bytes")
    pay_o, pay_r = side("payload")
    iat_o, iat_r = side("iat_sum")
    iatn_o, iatn_r = side("iat_n")
    proto = c["proto"]
    syn_o = (c["n_syn"][:, 0] > 0) & (proto == _TCP)
    synack_r = c["n_synack"][:, 1] > 0
    rst = (c["n_rst"][:, 0] + c["n_rst"][:, 1]) > 0

    out = np.empty((len(flows), len(FLOW_FEATURES)), dtype=np.float64)
    out[:, 0] = np.log1p(np.maximum(c["last_ns"] - c["start_ns"], 0) / 1e6)
    out[:, 1], out[:, 2] = np.log1p(pkts_o), np.log1p(pkts_r)
    out[:, 3], out[:, 4] = np.log1p(ipb_o), np.log1p(ipb_r)
    out[:, 5], out[:, 6] = np.log1p(pay_o), np.log1p(pay_r)
    out[:, 7] = out[:, 5] - out[:, 6]
    out[:, 8] = ipb_o / np.maximum(pkts_o, 1)
    out[:, 9] = ipb_r / np.maximum(pkts_r, 1)
    out[:, 10] = np.log1p(iat_o / np.maximum(iatn_o, 1) / 1e6)
    out[:, 11] = np.log1p(iat_r / np.maximum(iatn_r, 1) / 1e6)
    out[:, 12] = _PROTO_CLASS[proto]
    out[:, 13] = port_class
    out[:, 14] = syn_o & ~synack_r
    out[:, 15] = rst & (proto == _TCP)
    out[:, 16] = -1.0
    return out
