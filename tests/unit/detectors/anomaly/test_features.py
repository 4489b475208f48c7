"""Features of real flows (scapy packets through the sensor engine), the list's contract, and
host windows over constructed DNS records."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scapy.packet import Packet

from detectors.anomaly.extractor import FeatureExtractor
from detectors.anomaly.features import FEATURES, INDEX, feature_list_digest, to_raw
from detectors.anomaly.hosts import query_entropy
from detectors.anomaly.ports import DNS, REMOTE_ADMIN, WEB
from sensors.events import DnsSeen, FlowRef
from sensors.flows import FlowBatch
from tests.unit.detectors.conftest import T0, session, syn_probe

Flows = Callable[[list[Packet]], FlowBatch]


def raw(rows: np.ndarray, name: str) -> np.ndarray:
    return to_raw(rows[:, INDEX[name]], FEATURES[INDEX[name]])


def test_feature_list_is_documented_and_digest_tracks_it() -> None:
    names = [f.name for f in FEATURES]
    assert len(names) == len(set(names)) == 28
    assert all(f.unit and f.description for f in FEATURES)
    assert len(feature_list_digest()) == 64


def test_session_features_in_raw_units(flows_of: Flows) -> None:
    pkts = session("10.0.0.1", "10.0.0.2", 40000, 443, T0, client=b"c" * 1000, server=b"s" * 30)
    flows = flows_of(pkts)
    rows = FeatureExtractor().transform(flows)
    assert rows.shape == (1, len(FEATURES))
    assert np.isclose(raw(rows, "orig_payload")[0], 1000)
    assert np.isclose(raw(rows, "resp_payload")[0], 30)
    assert np.isclose(raw(rows, "duration")[0], 2000.0)
    assert rows[0, INDEX["port_class"]] == WEB
    assert rows[0, INDEX["proto_class"]] == 0
    assert rows[0, INDEX["tcp_failed"]] == 0
    assert rows[0, INDEX["payload_entropy"]] == -1  # no content facts given
    assert np.isclose(rows[0, INDEX["payload_ratio"]], np.log1p(1000) - np.log1p(30))


def test_scan_grows_host_services_and_failures(flows_of: Flows) -> None:
    pkts: list[Packet] = []
    for port in range(1, 31):
        pkts += syn_probe("192.0.2.9", "198.51.100.10", 40000 + port, port, T0 + port, answer="rst")
    rows = FeatureExtractor().transform(flows_of(pkts))
    assert rows[:, INDEX["tcp_failed"]].tolist() == [1.0] * 30
    assert np.isclose(raw(rows, "host_services").max(), 30)
    assert np.isclose(raw(rows, "host_dsts").max(), 1)
    assert rows[:, INDEX["host_failed_ratio"]].min() == 1.0


def test_regular_repeats_have_low_interval_cv(flows_of: Flows) -> None:
    pkts: list[Packet] = []
    for i in range(10):
        pkts += session(
            "10.0.0.5",
            "203.0.113.7",
            41000 + i,
            22,
            T0 + 30 * i,
            client=b"x",
            server=b"y",
            duration=0.5,
        )
    rows = FeatureExtractor().transform(flows_of(pkts))
    last = rows[-1]
    assert last[INDEX["port_class"]] == REMOTE_ADMIN
    assert round(float(raw(rows, "pair_flows")[-1])) == 10
    assert last[INDEX["pair_interval_cv"]] < 0.01
    assert np.isclose(raw(rows, "pair_interval_mean")[-1], 30_000, rtol=1e-3)
    assert rows[0, INDEX["pair_interval_cv"]] == 1.0  # too few gaps to say


def test_dns_records_feed_host_query_features(flows_of: Flows) -> None:
    ref = FlowRef("f", "c", "udp", "10.0.0.8", 5353, "198.51.100.53", 53, 0, int(T0 * 1e9), "x")
    name = "aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd.t.example"
    fx = FeatureExtractor()
    fx.on_dns_seen([DnsSeen(ref, int(T0 * 1e9), 1, name, "TXT", "IN")] * 4)
    pkts = session("10.0.0.8", "198.51.100.53", 40001, 53, T0 + 1, client=b"q", server=b"a")
    rows = fx.transform(flows_of(pkts))
    assert rows[0, INDEX["port_class"]] == DNS
    assert np.isclose(rows[0, INDEX["host_dns_qlen"]], len(name))
    assert np.isclose(rows[0, INDEX["host_dns_entropy"]], query_entropy(name))
    assert fx.seen.dns_records == 4


def test_query_entropy() -> None:
    assert query_entropy("") == 0.0
    assert query_entropy("aaaa") == 0.0
    assert np.isclose(query_entropy("abcd"), 2.0)
